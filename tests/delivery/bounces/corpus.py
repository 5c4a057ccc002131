"""The corpus of bounce and complaint messages, written in the shapes real MTAs and
feedback loops send, with placeholders for the parts that name our message."""

from __future__ import annotations

import uuid
from pathlib import Path

from maily.delivery.verp import Verp

CORPUS = Path(__file__).parent / "corpus"
RETURN_PATH_DOMAIN = "bounces.shop.example"


def corpus_names() -> list[str]:
    return sorted(p.stem for p in CORPUS.glob("*.eml"))


def render(
    name: str,
    *,
    verp: Verp,
    delivery_id: uuid.UUID,
    recipient: str,
    message_id: str | None = None,
) -> bytes:
    """The corpus message `name` about `delivery_id`, with CRLF line ends as on the wire."""
    text = (CORPUS / f"{name}.eml").read_text()
    text = (
        text.replace("{{VERP}}", verp.address(delivery_id, RETURN_PATH_DOMAIN))
        .replace("{{RECIPIENT}}", recipient)
        .replace("{{MESSAGE_ID}}", message_id or f"<{delivery_id}@shop.example>")
    )
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def envelope_recipient(name: str, verp: Verp, delivery_id: uuid.UUID) -> str:
    """Where the message is sent: feedback loops mail a fixed address, bounces the VERP."""
    if name.startswith("arf_"):
        local = "abuse" if "microsoft" in name else "fbl"
        return f"{local}@{RETURN_PATH_DOMAIN}"
    return verp.address(delivery_id, RETURN_PATH_DOMAIN)
