"""Response models of the live endpoint's HTTP side."""

from __future__ import annotations

from pydantic import Field

from maily.kit.schemas import Schema


class LiveTicketOut(Schema):
    ticket: str = Field(description="Pass as ?ticket= when opening the WebSocket; works once")
    expires_in_seconds: int
    path: str = Field(description="The WebSocket path to open with the ticket")
