"""Whether a MAILY_* variable names a real setting of maily.config.Settings."""

from __future__ import annotations

from pydantic import BaseModel

from maily.config import Settings

# Variables the deployment files set that are not settings: the role name the container
# health check reads, and the chart's password variables its URLs are assembled from.
NOT_SETTINGS = frozenset({"MAILY_ROLE", "MAILY_PG_PASSWORD", "MAILY_REDIS_PASSWORD"})


def is_setting(variable: str) -> bool:
    """`MAILY_SMTP__HOST` -> Settings.smtp.host exists (nested groups joined by `__`)."""
    if not variable.startswith("MAILY_"):
        return False
    model: type[BaseModel] = Settings
    parts = variable.removeprefix("MAILY_").lower().split("__")
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def unknown(variables: set[str]) -> set[str]:
    return {v for v in variables - NOT_SETTINGS if not is_setting(v)}
