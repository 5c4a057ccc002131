"""What goes wrong with a template: problems found while compiling, and render failures."""

from __future__ import annotations

from typing import Any


class TemplateProblem(Exception):
    """A template that cannot be compiled or rendered, located where possible.

    `part` names the field the problem is in (source, subject, preheader, layout, or a
    block's name); `line` is 1-based within that part."""

    def __init__(
        self, message: str, *, line: int | None = None, part: str = "source", kind: str = "syntax"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.part = part
        self.kind = kind

    def located(self, part: str) -> TemplateProblem:
        self.part = part
        return self

    def detail(self) -> dict[str, Any]:
        where = f"line {self.line}: " if self.line else ""
        detail: dict[str, Any] = {
            "loc": ["body", self.part],
            "message": f"{self.part} {where}{self.message}",
            "type": f"template_{self.kind}",
        }
        if self.line:
            detail["line"] = self.line
        return detail

    def __str__(self) -> str:
        return str(self.detail()["message"])


class RenderError(TemplateProblem):
    """A compiled template failed for one message: a sandbox violation, a limit, a
    type error in an expression. The sender fails that message, not the campaign."""

    def __init__(self, message: str, *, line: int | None = None, part: str = "source") -> None:
        super().__init__(message, line=line, part=part, kind="render")
