"""Reading the Terraform code with python-hcl2: modules, their inputs and outputs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"
MODULES = TERRAFORM / "modules"
EXAMPLE = TERRAFORM / "environments" / "example"


def unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def parse_dir(folder: Path) -> dict[str, list[Any]]:
    """Every top-level block type of a folder's .tf files, merged."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(folder.glob("*.tf")):
        with path.open() as handle:
            for block_type, blocks in hcl2.load(handle).items():
                merged.setdefault(block_type, []).extend(blocks)
    return merged


def named(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`variable "x" {...}` blocks as {"x": {...}}."""
    return {unquote(name): body for block in blocks for name, body in block.items()}


@dataclass
class Module:
    folder: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> Module:
        parsed = parse_dir(folder)
        return cls(folder, named(parsed.get("variable", [])), named(parsed.get("output", [])))

    @property
    def required(self) -> set[str]:
        return {name for name, body in self.variables.items() if "default" not in body}


def wiring_problems(environment: Path) -> list[str]:
    """Module calls of an environment that do not fit the modules they call: missing
    folders, unknown or missing inputs, references to outputs that do not exist."""
    parsed = parse_dir(environment)
    calls = named(parsed.get("module", []))
    problems: list[str] = []
    loaded: dict[str, Module] = {}
    for name, call in calls.items():
        folder = (environment / unquote(call["source"])).resolve()
        if not folder.is_dir():
            problems.append(f"module {name}: no folder {folder}")
            continue
        module = loaded[name] = Module.load(folder)
        inputs = {
            k
            for k in call
            if k not in {"source", "version", "__is_block__", "depends_on", "providers"}
        }
        problems.extend(
            f"module {name}: {k} is not a variable of {folder.name}"
            for k in sorted(inputs - set(module.variables))
        )
        problems.extend(
            f"module {name}: required {k} is not given" for k in sorted(module.required - inputs)
        )
    environment_variables = set(named(parsed.get("variable", [])))
    text = "\n".join(path.read_text() for path in sorted(environment.glob("*.tf")))
    for module_name, output in sorted(
        set(re.findall(r"\bmodule\.([a-z0-9_]+)\.([a-z0-9_]+)", text))
    ):
        if module_name not in loaded:
            problems.append(f"module.{module_name} is used but not called")
        elif output not in loaded[module_name].outputs:
            problems.append(
                f"module.{module_name}.{output} is not an output of {loaded[module_name].folder.name}"
            )
    for variable in sorted(set(re.findall(r"\bvar\.([a-z0-9_]+)", text)) - environment_variables):
        problems.append(f"var.{variable} is not declared")
    return problems


def helm_values_of(environment: Path) -> dict[str, Any]:
    """The object the environment's `helm_values` output encodes, with every reference
    to a module output or variable replaced by a placeholder string."""
    outputs = named(parse_dir(environment)["output"])
    expression = outputs["helm_values"]["value"]
    match = re.fullmatch(r"\$\{yamlencode\((.*)\)\}", expression, flags=re.DOTALL)
    if match is None:
        raise ValueError("helm_values is not a yamlencode() of an object")
    body = re.sub(r"\b(?:module|var)\.[a-z0-9_.]+", lambda m: f'"<{m.group(0)}>"', match.group(1))
    parsed = hcl2.loads(f"values = {body}\n")["values"]
    return _strip(parsed)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {unquote(k): _strip(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, str):
        return unquote(value)
    return value
