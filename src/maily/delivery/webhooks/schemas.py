"""What a provider webhook is answered with."""

from __future__ import annotations

from pydantic import BaseModel


class WebhookAccepted(BaseModel):
    # Reports the notification carried (one per recipient and event).
    reports: int
    # Newly recorded bounces and complaints; repeats and unknown messages are not.
    recorded: int
    duplicates: int
    unmatched: int
    # An SNS subscription confirmation was confirmed.
    confirmed: bool = False
