"""Errors that carry their HTTP status and a stable code; `maily.api.errors` turns
them into the API's JSON answers."""

from __future__ import annotations

from typing import Any


class MailyError(Exception):
    """Base error: subclasses set the status and a stable machine-readable code."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers or {}


class BadRequest(MailyError):
    status_code = 400
    code = "bad_request"


class NotAuthenticated(MailyError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str = "authentication required") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(MailyError):
    status_code = 403
    code = "forbidden"


class NotFound(MailyError):
    status_code = 404
    code = "not_found"


class Conflict(MailyError):
    status_code = 409
    code = "conflict"


class Unprocessable(MailyError):
    status_code = 422
    code = "validation_error"


class TooManyRequests(MailyError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after_seconds: int) -> None:
        retry = max(1, retry_after_seconds)
        super().__init__(
            f"too many requests; retry in {retry} s", headers={"Retry-After": str(retry)}
        )


class ServiceUnavailable(MailyError):
    status_code = 503
    code = "service_unavailable"
