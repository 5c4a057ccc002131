"""SpamAssassin's score of a whole message, asked of spamd over its own protocol.

One TCP connection per message speaking SPAMC/1.5 `REPORT` (what spamc does, without
a process per message): the answer's `Spam:` header carries the verdict, score and
threshold, and the report's table the rules hit, each with its points and
description."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import uuid

from maily.ai.contracts import SpamCheckUnavailable, SpamReport, SpamRule
from maily.config import SpamdSettings
from maily.delivery.message import build_message
from maily.delivery.verp import Verp

PROTOCOL = "SPAMC/1.5"
# The answer's status line ("SPAMD/1.1 0 EX_OK") and its `Spam:` header
# ("True ; 1002.3 / 5.0").
_STATUS = re.compile(rb"^SPAMD/(\d+\.\d+)\s+(\d+)\s+(.*)$")
_SPAM = re.compile(r"^\s*(True|False|Yes|No)\s*;\s*(-?[\d.]+)\s*/\s*(-?[\d.]+)\s*$", re.I)
# One rule of the report's table: points, name, description (which may wrap onto
# the following, indented lines).
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*?)\s*$")
_TABLE_RULE = re.compile(r"^-{3,}\s+-{3,}")


class SpamdClient:
    """A `SpamChecker` (maily.ai.contracts) over spamd at `host:port`."""

    def __init__(
        self, host: str, port: int, *, timeout_seconds: float = 10.0, user: str | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_seconds = timeout_seconds
        self.user = user

    @classmethod
    def from_settings(cls, settings: SpamdSettings) -> SpamdClient:
        return cls(settings.host, settings.port, timeout_seconds=settings.timeout_seconds)

    async def check(self, message: bytes) -> SpamReport:
        """Score `message` (RFC 5322 bytes). Raises SpamCheckUnavailable when spamd
        cannot be reached, does not answer within the timeout, or answers an error."""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                head, body = await self._exchange(message)
        except TimeoutError as exc:
            raise SpamCheckUnavailable(
                f"SpamAssassin (spamd at {self.host}:{self.port}) did not answer within "
                f"{self.timeout_seconds:g} s"
            ) from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise SpamCheckUnavailable(
                f"SpamAssassin (spamd at {self.host}:{self.port}) cannot be reached: {exc}"
            ) from exc
        return parse_answer(head, body)

    async def _exchange(self, message: bytes) -> tuple[bytes, bytes]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            lines = [f"REPORT {PROTOCOL}", f"Content-length: {len(message)}"]
            if self.user:
                lines.append(f"User: {self.user}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + message)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return head, body


def parse_answer(head: bytes, body: bytes) -> SpamReport:
    """spamd's answer to REPORT as a SpamReport; SpamCheckUnavailable for an error."""
    lines = head.split(b"\r\n")
    status = _STATUS.match(lines[0])
    if status is None:
        raise SpamCheckUnavailable(f"spamd answered something else than SPAMD: {lines[0]!r}")
    if status.group(2) != b"0":
        reason = status.group(3).decode("latin-1").strip()
        raise SpamCheckUnavailable(
            f"spamd refused the message: {status.group(2).decode()} {reason}"
        )
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    verdict = _SPAM.match(headers.get("spam", ""))
    if verdict is None:
        raise SpamCheckUnavailable("spamd's answer has no Spam: header")
    return SpamReport(
        score=float(verdict.group(2)),
        threshold=float(verdict.group(3)),
        is_spam=verdict.group(1).lower() in ("true", "yes"),
        rules=parse_report(body.decode("utf-8", errors="replace")),
    )


def parse_report(report: str) -> list[SpamRule]:
    """The rules of a SpamAssassin report's table ("pts rule name description"),
    highest score first."""
    rules: list[tuple[float, str, list[str]]] = []
    in_table = False
    for line in report.splitlines():
        if not in_table:
            in_table = bool(_TABLE_RULE.match(line))
            continue
        if not line.strip():
            break  # the table ends at the first empty line
        rule = _RULE.match(line)
        if rule is not None:
            rules.append((float(rule.group(1)), rule.group(2), [rule.group(3)]))
        elif rules:
            rules[-1][2].append(line.strip())
    ordered = sorted(rules, key=lambda r: -r[0])
    return [
        SpamRule(name=name, score=score + 0.0, description=" ".join(filter(None, words)))
        for score, name, words in ordered
    ]


def message_to_check(
    *,
    subject: str,
    html: str | None,
    text: str | None,
    from_email: str,
    workspace_id: uuid.UUID,
    public_url: str = "https://example.com",
    recipient: str = "recipient@example.com",
    from_name: str | None = None,
) -> bytes:
    """A rendered campaign as the whole message a receiver would score: the same MIME
    build and headers as a real send (List-Unsubscribe included), unsigned."""
    domain = from_email.rpartition("@")[2] or "example.com"
    return build_message(
        from_email=from_email,
        from_name=from_name,
        sending_domain=domain,
        return_path_domain=domain,
        workspace_id=workspace_id,
        # The return path of a message nobody sends; its key only has to exist.
        verp=Verp(secrets.token_bytes(16)),
        recipient=recipient,
        subject=subject,
        html=html,
        text=text,
        unsubscribe_url=f"{public_url.rstrip('/')}/u/{{token}}",
        unsubscribe_token="preview",  # noqa: S106 - a placeholder, not a secret
    )
