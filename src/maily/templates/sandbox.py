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

    def prepare(self, source: str) -> SandboxedTemplate:
        """Compile `source` (TemplateSyntaxError with its line if it does not)."""
        tree = self.parse(source)
        repeats = any(True for _ in tree.find_all((nodes.For, nodes.Macro, nodes.CallBlock)))
        code = self.compile(tree)
        return SandboxedTemplate(
            self.template_class.from_code(self, code, self.make_globals(None)), repeats
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

    def render(self, variables: Mapping[str, Any], max_output_chars: int) -> str:
        """Render inside a `render_deadline()`; RenderLimitExceeded past the limit."""
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
