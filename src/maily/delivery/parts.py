"""Where the send engine gets its composer and transport: the one place to plug them in.

`build_delivery_parts()` is called once by the `sender` role and once per API process
(test sends and the content check at start): the composer renders stored templates as
the campaign's sender, DKIM-signed; the transport is the configured one (the outbox
when none is), see `maily.delivery.transports.factory`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import async_sessionmaker

from maily.config import Settings
from maily.delivery.composer import Composer
from maily.delivery.composing import CampaignComposer
from maily.delivery.transports.base import Transport
from maily.delivery.transports.factory import transport_from_settings
from maily.kit.db import AsyncSession


@dataclass(frozen=True, slots=True)
class DeliveryParts:
    composer: Composer
    transport: Transport


async def build_delivery_parts(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> DeliveryParts | None:
    """The composer and transport this deployment sends with."""
    composer = CampaignComposer(settings, sessionmaker)
    return DeliveryParts(composer, transport_from_settings(settings, sessionmaker=sessionmaker))


_UNSET = object()


async def get_delivery_parts(request: Request) -> DeliveryParts | None:
    """FastAPI dependency: the API process's parts, built on first use. It never
    fails on its own, so authentication errors still come first."""
    state = request.app.state
    parts = getattr(state, "delivery_parts", _UNSET)
    if parts is _UNSET:
        maily = state.maily
        parts = await build_delivery_parts(maily.settings, maily.sessionmaker)
        state.delivery_parts = parts
    assert parts is None or isinstance(parts, DeliveryParts)
    return parts


DeliveryPartsDep = Annotated[DeliveryParts | None, Depends(get_delivery_parts)]
