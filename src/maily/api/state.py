"""What the API process holds for its lifetime: settings and connections to the stores."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.requests import HTTPConnection

from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.ratelimit import RateLimiter
from maily.kit.storage import ObjectStorage


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    rate_limiter: RateLimiter
    storage: ObjectStorage


def app_state(conn: HTTPConnection) -> AppState:
    state: AppState = conn.app.state.maily
    return state
