"""The Jinja2 sandbox every template renders in: allowed filters, no internals, bounded work.

Templates are written by workspace members (and by the AI assistant), so rendering
treats them as untrusted code. On top of Jinja's ImmutableSandboxedEnvironment:

- only the filters in ALLOWED_FILTERS exist, and the only global is a bounded `range`;
- an attribute the sandbox refuses raises SecurityError instead of rendering empty,
  so an attack is reported, not silently swallowed;
- callable attributes are limited to a few harmless string and mapping methods
  (no `str.format`, whose width specs can allocate gigabytes);
- `*`, `**` and `%` are checked before they run, so `'x' * 10**9` or `10**10**10`
  fail at once instead of exhausting memory or CPU;
- every `{% for %}` iterates through a guard that checks the render deadline, and the
  output is counted as it streams, so a render ends with RenderLimitExceeded instead
  of hanging or filling memory.

Missing data renders empty (ChainableUndefined): a contact without a custom field must
not fail a send, and `| default("there")` supplies the fallback."""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import (
    ChainableUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_eval_context,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import Context, LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

__all__ = [
    "ALLOWED_FILTERS",
    "RenderLimitExceeded",
    "RenderLimits",
    "SandboxedTemplate",
    "SecurityError",
    "TemplateEnvironment",
]

# Filters a template may use. Left out on purpose: `safe` (would let contact data
# inject HTML), `attr`, `map`/`select*` (reach by name), `format` and width-taking
# filters such as `center`, `indent`, `wordwrap` (unbounded output from one call),
# `tojson`, `pprint`, `xmlattr`, `filesizeformat`.
ALLOWED_FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "count",
        "d",
        "default",
        "e",
        "escape",
        "first",
        "float",
        "int",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "replace",
        "reverse",
        "round",
        "sort",
        "string",
        "striptags",
        "title",
        "trim",
        "truncate",
        "unique",
        "upper",
        "urlencode",
        "wordcount",
    }
)

# Methods a template may call, by the type they belong to.
_STR_METHODS = frozenset(
    {
        "capitalize",
        "endswith",
        "lower",
        "lstrip",
        "rstrip",
        "split",
        "startswith",
        "strip",
        "title",
        "upper",
    }
)
_MAPPING_METHODS = frozenset({"get", "items", "keys", "values"})
_LOOP_METHODS = frozenset({"cycle", "changed"})

MAX_RANGE = 10_000
MAX_EXPONENT = 100
_DEADLINE_EVERY = 64  # loop items between clock reads


class RenderLimitExceeded(Exception):
    """A render took too long or produced too much output."""


@dataclass(frozen=True, slots=True)
class RenderLimits:
    timeout_seconds: float = 1.0
    max_output_chars: int = 2_000_000


_deadline: ContextVar[float] = ContextVar("maily_template_deadline", default=math.inf)
_timeout: ContextVar[float] = ContextVar("maily_template_timeout", default=math.inf)


def _check_deadline() -> None:
    if time.perf_counter() > _deadline.get():
        raise RenderLimitExceeded(
            f"the template took longer than {_timeout.get():g} s to render; "
            "look for loops that run too often"
        )


@contextmanager
def render_deadline(seconds: float) -> Iterator[None]:
    """Bound every render inside the block by one deadline (per message: subject, HTML
    and text together)."""
    deadline = _deadline.set(time.perf_counter() + seconds)
    timeout = _timeout.set(seconds)
    try:
        yield
    finally:
        _deadline.reset(deadline)
        _timeout.reset(timeout)


def _guarded(iterable: Iterable[Any]) -> Iterator[Any]:
    for count, item in enumerate(iterable):
        if count % _DEADLINE_EVERY == 0:
            _check_deadline()
        yield item


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderLimitExceeded(f"range() is limited to {MAX_RANGE} numbers")
    return numbers


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """The sandboxed environment; one for HTML (autoescaped) and one for text parts."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, *, autoescape: bool, max_output_chars: int = 2_000_000) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=ChainableUndefined,
            auto_reload=False,
            cache_size=0,
            keep_trailing_newline=True,
        )
        self.filters = {name: FILTERS[name] for name in ALLOWED_FILTERS}
        self.filters["replace"] = self._replace
        self.filters["join"] = self._join
        self.tests = dict(self.tests)
        self.globals = {"range": _bounded_range}
        self.max_output_chars = max_output_chars
        self.parses = 0  # how many sources this environment has parsed (tests read it)

    # -- no reach into Python --------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if not callable(value) or isinstance(value, Undefined):
            return True
        if isinstance(obj, str):
            return attr in _STR_METHODS
        if isinstance(obj, Mapping):
            return attr in _MAPPING_METHODS
        if isinstance(obj, LoopContext):
            return attr in _LOOP_METHODS
        return False

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Merge data is plain dicts: `contact.first_name` is looked up as a key first,
        skipping the failed attribute lookup (an exception per tag) Jinja tries first."""
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to {attribute!r} of {type(obj).__name__!r} is not allowed in templates"
        )

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format and format_map stay refused by is_safe_attribute

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        return super().call(__context, __obj, *args, **kwargs)

    # -- bounded work ----------------------------------------------------------------

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        _check_deadline()
        if operator_ == "**":
            if _is_number(right) and abs(right) > MAX_EXPONENT:
                raise RenderLimitExceeded(f"exponents are limited to {MAX_EXPONENT}")
            return _BINOPS[operator_](left, right)
        if operator_ == "%":
            if isinstance(left, str):
                raise SecurityError("printf-style formatting with % is not allowed in templates")
            return _BINOPS[operator_](left, right)
        if operator_ == "+":
            return self._limited(_BINOPS[operator_](left, right))
        # "*": repeating a string or list must stay within the output limit.
        for sized, times in ((left, right), (right, left)):
            if (
                _sized(sized)
                and isinstance(times, int)
                and len(sized) * max(times, 0) > self.max_output_chars
            ):
                raise RenderLimitExceeded("a repeated value would exceed the output limit")
        return _BINOPS[operator_](left, right)

    def _limited(self, value: Any) -> Any:
        """Values built from bounded parts (`+`, `~`) are bounded after the fact: each
        operand is within the limit, so the result is at most twice it."""
        if _sized(value) and len(value) > self.max_output_chars:
            raise RenderLimitExceeded("a value in the template exceeds the output limit")
        return value

    def concat_limited(self, parts: list[Any]) -> Any:
        """`a ~ b`: Jinja's own join (Markup-aware when autoescaping), then the limit."""
        return self._limited(markup_join(parts) if self.autoescape else str_join(parts))

    @pass_eval_context
    def _replace(
        self, eval_ctx: Any, value: Any, old: Any, new: Any, count: int | None = None
    ) -> Any:
        text, old_s, new_s = str(value), str(old), str(new)
        growth = (text.count(old_s) if old_s else len(text) + 1) * (len(new_s) - len(old_s))
        if len(text) + max(growth, 0) > self.max_output_chars:
            raise RenderLimitExceeded("replace() would exceed the output limit")
        return FILTERS["replace"](eval_ctx, value, old, new, count)

    @pass_eval_context
    def _join(self, eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        if sum(len(str(v)) + len(d) for v in items) > self.max_output_chars:
            raise RenderLimitExceeded("join() would exceed the output limit")
        return FILTERS["join"](eval_ctx, items, d, attribute)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, refuse what a sandboxed email template has no business doing, and
        route loops and `~` through the limits."""
        self.parses += 1
        tree = super()._parse(source, name, filename)
        for node in tree.find_all((nodes.Extends, nodes.Import, nodes.FromImport)):
            raise TemplateSyntaxError(
                "extends and import are not available; a template names its layout, "
                'and includes blocks with {% include "block name" %}',
                node.lineno,
            )
        for include in tree.find_all(nodes.Include):
            if not isinstance(include.template, nodes.Const):
                raise TemplateSyntaxError(
                    'include takes a block name in quotes: {% include "footer" %}',
                    include.lineno,
                )
        for modifier in tree.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier)):
            raise TemplateSyntaxError(
                "autoescape blocks are not allowed: merge data is always escaped",
                modifier.lineno,
            )
        for loop in list(tree.find_all(nodes.For)):
            loop.iter = self._call("guard_loop", [cast(nodes.Expr, loop.iter)], loop.lineno)
        for concat in list(tree.find_all(nodes.Concat)):
            # A Concat node cannot be swapped for a Call in place (nodes are typed
            # fields), so its operands become one List argument of concat_limited.
            parts = nodes.List(concat.nodes, lineno=concat.lineno)
            concat.nodes = [self._call("concat_limited", [parts], concat.lineno)]
        return tree

    @staticmethod
    def _call(attribute: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        return nodes.Call(
            nodes.EnvironmentAttribute(attribute, lineno=lineno),
            args,
            [],
            None,
            None,
            lineno=lineno,
        )

    def prepare(self, source: str, *, direct: bool = True) -> SandboxedTemplate:
        """Compile `source` (TemplateSyntaxError with its line if it does not). With
        `direct`, a template that only outputs values (see `_DirectPlan`) also gets a
        plan that renders it without Jinja's per-render machinery."""
        tree = self.parse(source)
        repeats = any(True for _ in tree.find_all((nodes.For, nodes.Macro, nodes.CallBlock)))
        code = self.compile(tree)
        return SandboxedTemplate(
            self.template_class.from_code(self, code, self.make_globals(None)),
            repeats,
            _plan(self, tree.body) if direct else None,
        )

    @staticmethod
    def guard_loop(iterable: Iterable[Any]) -> Iterator[Any]:
        return _guarded(iterable)


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "*": operator.mul,
    "**": operator.pow,
    "%": operator.mod,
}


@dataclass(frozen=True, slots=True)
class SandboxedTemplate:
    """A compiled template and whether its output can repeat (loops, macros, call
    blocks). Output that cannot repeat is bounded by its expressions, each of which the
    environment bounds, so it is joined at C speed and measured once; output that can
    repeat is measured as it streams and stopped at the limit."""

    template: Template
    repeats: bool
    direct: _DirectPlan | None = None

    def render(self, variables: Mapping[str, Any], max_output_chars: int) -> str:
        """Render inside a `render_deadline()`; RenderLimitExceeded past the limit."""
        if self.direct is not None:
            # No loops, so no deadline to watch: each value is bounded on its own.
            output = self.direct.render(variables)
            if len(output) > max_output_chars:
                raise RenderLimitExceeded(_too_large(max_output_chars))
            return output
        template = self.template
        # new_context copies the mapping into its own dict; any Mapping does.
        context = template.new_context(cast(dict[str, Any], variables))
        try:
            if self.repeats:
                parts: list[str] = []
                size = 0
                for chunk in template.root_render_func(context):
                    size += len(chunk)
                    if size > max_output_chars:
                        raise RenderLimitExceeded(_too_large(max_output_chars))
                    parts.append(chunk)
                output = "".join(parts)
            else:
                output = "".join(template.root_render_func(context))
                if len(output) > max_output_chars:
                    raise RenderLimitExceeded(_too_large(max_output_chars))
        except Exception:
            # Re-raised with the traceback on template lines, as Template.render does.
            template.environment.handle_exception()
        _check_deadline()
        return output


def _too_large(limit: int) -> str:
    return f"the rendered message is larger than {limit} characters"


# -- direct rendering ------------------------------------------------------------------
#
# Most mail templates are text with values in it: `{{ contact.first_name | default("there")
# }}`, `{{ workspace.name }}`, link slots, and `{% if %}` around a part. For those, Jinja's
# per-render work (a context, a generator, one call per value) costs more than the values
# themselves. A _DirectPlan renders such a template as its static pieces with the values
# put in, and gets each value exactly as Jinja's compiled code would: names from the
# variables then the globals, else `environment.undefined`; attributes and items through
# the sandbox's own `getattr`/`getitem`; filters from the environment's allow-list with
# constant arguments; escaped with markupsafe's `escape` when autoescaping, else `str`.
# Anything else (loops, macros, calls, operators, assignments, includes) is left to Jinja.

Getter = Callable[[Mapping[str, Any]], Any]
_LINKS = "_mly_links"


def _plan(environment: TemplateEnvironment, body: list[nodes.Node]) -> _DirectPlan | None:
    pieces: list[str] = []
    values: list[tuple[int, Getter]] = []
    links: list[tuple[int, int]] = []
    convert: Callable[[Any], str] = escape if environment.autoescape else str
    for statement in body:
        if isinstance(statement, nodes.Output):
            for child in statement.nodes:
                if isinstance(child, nodes.TemplateData):
                    pieces.append(child.data)
                    continue
                link = _link_slot(child)
                if link is not None:
                    links.append((len(pieces), link))
                    pieces.append("")
                    continue
                getter = _expression(environment, child)
                if getter is None:
                    return None
                values.append((len(pieces), _converted(getter, convert)))
                pieces.append("")
        elif isinstance(statement, nodes.If):
            branch = _branch(environment, statement)
            if branch is None:
                return None
            values.append((len(pieces), branch))
            pieces.append("")
        else:
            return None
    return _DirectPlan(
        tuple(pieces),
        tuple(values),
        tuple(links),
        max((i for _, i in links), default=-1) + 1,
        environment,
        bool(environment.autoescape),
    )


def _converted(getter: Getter, convert: Callable[[Any], str]) -> Getter:
    return lambda variables: convert(getter(variables))


def _branch(environment: TemplateEnvironment, node: nodes.If) -> Getter | None:
    """`{% if %}…{% elif %}…{% else %}…{% endif %}`: the first branch whose test holds."""
    test = _expression(environment, node.test)
    then = _plan(environment, node.body)
    if test is None or then is None:
        return None
    otherwise: Getter | None
    if node.elif_:
        rest = nodes.If(node.elif_[0].test, node.elif_[0].body, node.elif_[1:], node.else_)
        otherwise = _branch(environment, rest)
        if otherwise is None:
            return None
    elif node.else_:
        plan = _plan(environment, node.else_)
        if plan is None:
            return None
        otherwise = plan.render
    else:
        otherwise = None
    render_then = then.render
    if otherwise is None:
        return lambda variables: render_then(variables) if test(variables) else ""
    render_else = otherwise
    return lambda variables: render_then(variables) if test(variables) else render_else(variables)


def _link_slot(node: nodes.Node) -> int | None:
    """`{{ _mly_links[i] }}`, the slot the compiler puts where a tracked link was."""
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and node.node.name == _LINKS
        and isinstance(node.arg, nodes.Const)
        and type(node.arg.value) is int
    ):
        return int(node.arg.value)
    return None


def _expression(environment: TemplateEnvironment, node: nodes.Node) -> Getter | None:
    if isinstance(node, nodes.Const):
        return _constant(node.value)
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return _name(environment, node.name)
    if isinstance(node, nodes.Filter):
        return _filter(environment, node)
    if not isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Not):
        return None
    inner = _expression(environment, node.node)
    if inner is None:
        return None
    if isinstance(node, nodes.Getattr):
        return _looked_up(inner, environment.getattr, node.attr)
    if isinstance(node, nodes.Getitem):
        if not isinstance(node.arg, nodes.Const):
            return None
        return _looked_up(inner, environment.getitem, node.arg.value)
    return _negated(inner)


def _constant(value: Any) -> Getter:
    return lambda variables: value


def _looked_up(inner: Getter, lookup: Callable[[Any, Any], Any], key: Any) -> Getter:
    return lambda variables: lookup(inner(variables), key)


def _negated(inner: Getter) -> Getter:
    return lambda variables: not inner(variables)


def _name(environment: TemplateEnvironment, name: str) -> Getter:
    globals_, undefined = environment.globals, environment.undefined

    def get(variables: Mapping[str, Any]) -> Any:
        if name in variables:
            return variables[name]
        if name in globals_:
            return globals_[name]
        return undefined(name=name)

    return get


def _filter(environment: TemplateEnvironment, node: nodes.Filter) -> Getter | None:
    function = environment.filters.get(node.name)
    if (
        function is None
        or node.node is None
        or node.dyn_args is not None
        or node.dyn_kwargs is not None
        # Filters that take the context, eval context or environment stay with Jinja.
        or getattr(function, "jinja_pass_arg", None) is not None
        or not all(isinstance(arg, nodes.Const) for arg in node.args)
        or not all(isinstance(kw.value, nodes.Const) for kw in node.kwargs)
    ):
        return None
    inner = _expression(environment, node.node)
    if inner is None:
        return None
    args = tuple(cast(nodes.Const, arg).value for arg in node.args)
    keywords = [cast(nodes.Keyword, kw) for kw in node.kwargs]
    kwargs: dict[str, Any] = {kw.key: cast(nodes.Const, kw.value).value for kw in keywords}
    return _filtered(inner, function, args, kwargs)


def _filtered(
    inner: Getter, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Getter:
    if kwargs:
        return lambda variables: function(inner(variables), *args, **kwargs)
    return lambda variables: function(inner(variables), *args)


@dataclass(frozen=True, slots=True)
class _DirectPlan:
    """A template as static pieces and the positions its values go to."""

    pieces: tuple[str, ...]
    values: tuple[tuple[int, Getter], ...]
    links: tuple[tuple[int, int], ...]  # (position, link index)
    links_needed: int  # the highest link index + 1
    environment: TemplateEnvironment
    autoescape: bool

    def render(self, variables: Mapping[str, Any]) -> str:
        out = list(self.pieces)
        for position, getter in self.values:
            out[position] = getter(variables)
        if self.links:
            self._put_links(out, variables)
        return "".join(out)

    def _put_links(self, out: list[str], variables: Mapping[str, Any]) -> None:
        found = variables.get(_LINKS)
        if type(found) is list and len(found) >= self.links_needed:
            urls = [found[i] for _, i in self.links]
        else:  # what Jinja would make of it: the sandbox's getitem, undefined if absent
            getter = _name(self.environment, _LINKS)
            urls = [self.environment.getitem(getter(variables), i) for _, i in self.links]
        if all(type(url) is str for url in urls):
            if self.autoescape:
                # One escape for all: a NUL joins them (no URL holds one; else one each).
                joined = str(escape("\0".join(urls)))
                escaped = joined.split("\0")
                urls = escaped if len(escaped) == len(urls) else [escape(u) for u in urls]
        else:
            convert: Callable[[Any], str] = escape if self.autoescape else str
            urls = [convert(url) for url in urls]
        for (position, _), url in zip(self.links, urls, strict=True):
            out[position] = url
