"""The live WebSocket across two API replicas: real uvicorn servers on loopback, real
Redis pub/sub, a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from maily.api.app import create_app
from maily.auth.security import issue_access_token
from maily.config import Settings
from maily.kit.db import AsyncSession
from maily.kit.db.migrate import upgrade
from maily.kit.queue import JobContext
from maily.realtime.channels import live_channel
from maily.webhooks.campaign_states import STATE_TASK, state_job_kwargs
from maily.webhooks.tasks import campaign_state_changed
from tests.asgi_server import serving
from tests.conftest import (
    Stores,
    _psycopg_conninfo,
    _worker_index,
    create_database,
    make_settings,
)

RECEIVE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Replicas:
    urls: tuple[str, str]
    settings: Settings

    def ws(self, replica: int, workspace_id: uuid.UUID | str) -> str:
        base = self.urls[replica].replace("http://", "ws://")
        return f"{base}/api/v1/workspaces/{workspace_id}/live"


@pytest.fixture(scope="module")
def replicas(stores: Stores) -> Iterator[Replicas]:
    """Two API servers (two apps, each with its own connections and live hub) on one
    database and one Redis, as two replicas behind a load balancer would be."""
    index = _worker_index()
    database_url = create_database(stores, f"maily_test_{index}_realtime")
    upgrade(database_url)
    redis_url = stores.redis_url.rsplit("/", 1)[0] + f"/{1 + index}"
    settings = make_settings(database_url, redis_url, rate_limit={"enabled": False})
    with serving(create_app(settings)) as first, serving(create_app(settings)) as second:
        yield Replicas((first, second), settings)


@dataclass(frozen=True)
class Member:
    token: str
    workspace_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(replicas: Replicas) -> Member:
    async with httpx.AsyncClient(base_url=replicas.urls[0], timeout=30) as client:
        email = f"live-{uuid.uuid4().hex[:10]}@example.com"
        tokens = await client.post(
            "/api/v1/auth/signup", json={"email": email, "password": "live socket password"}
        )
        assert tokens.status_code == 201, tokens.text
        token = tokens.json()["access_token"]
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        return Member(token, uuid.UUID(me.json()["workspaces"][0]["id"]))


@pytest.fixture
async def publisher(replicas: Replicas) -> AsyncIterator[Redis]:
    assert replicas.settings.redis.url
    client = Redis.from_url(replicas.settings.redis.url)
    yield client
    await client.aclose()


def token_protocols(token: str) -> list[Any]:
    return ["maily.live.v1", f"maily.token.{token}"]


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)
    assert isinstance(message, str)
    decoded: dict[str, Any] = json.loads(message)
    return decoded


async def ready(ws: ClientConnection) -> None:
    assert (await receive(ws))["type"] == "ready"


async def closed_with(uri: str, **kwargs: Any) -> tuple[int, str]:
    async with connect(uri, open_timeout=RECEIVE_TIMEOUT, **kwargs) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_one_publish_reaches_the_sockets_of_both_replicas_and_no_other_workspace(
    replicas: Replicas, publisher: Redis
) -> None:
    ann, bob = await sign_up(replicas), await sign_up(replicas)
    async with (
        connect(replicas.ws(0, ann.workspace_id), subprotocols=token_protocols(ann.token)) as a0,
        connect(replicas.ws(1, ann.workspace_id), subprotocols=token_protocols(ann.token)) as a1,
        connect(replicas.ws(0, bob.workspace_id), subprotocols=token_protocols(bob.token)) as b0,
    ):
        assert a0.subprotocol == "maily.live.v1"  # the token itself is never echoed
        for ws in (a0, a1, b0):
            await ready(ws)
        progress = {
            "type": "campaign.progress",
            "campaign_id": str(uuid.uuid4()),
            "counters": {"sent": 480, "opens": 12},
        }
        # One subscription per replica, whatever the number of sockets on it.
        assert await publisher.publish(live_channel(ann.workspace_id), json.dumps(progress)) == 2
        assert await receive(a0) == progress
        assert await receive(a1) == progress
        # Bob's socket shares replica 0 with Ann's: its next message is Bob's own,
        # so Ann's message (published first, same subscription) never reached it.
        own = {"type": "campaign.state", "campaign_id": str(uuid.uuid4()), "state": "paused"}
        await publisher.publish(live_channel(bob.workspace_id), json.dumps(own))
        assert await receive(b0) == own


async def test_missing_bad_and_foreign_credentials_are_refused(replicas: Replicas) -> None:
    ann, bob = await sign_up(replicas), await sign_up(replicas)
    uri = replicas.ws(0, ann.workspace_id)
    code, reason = await closed_with(uri)
    assert code == 4401
    assert "authentication required" in reason
    code, reason = await closed_with(uri, subprotocols=token_protocols("not-a-jwt"))
    assert code == 4401
    assert "not valid" in reason
    code, _ = await closed_with(uri, subprotocols=token_protocols("mly_forged_key"))
    assert code == 4401
    # Bob is signed in, but not a member of Ann's workspace.
    code, reason = await closed_with(uri, subprotocols=token_protocols(bob.token))
    assert code == 4403
    assert "no access" in reason
    # A member's API key without reports:read.
    async with httpx.AsyncClient(base_url=replicas.urls[1]) as client:
        key = await client.post(
            f"/api/v1/workspaces/{ann.workspace_id}/api-keys",
            headers=ann.headers,
            json={"name": "no reports", "permissions": ["contacts:read"]},
        )
    code, reason = await closed_with(uri, subprotocols=token_protocols(key.json()["key"]))
    assert code == 4403
    assert "reports:read" in reason


async def test_a_ticket_opens_one_socket_once_in_its_own_workspace(
    replicas: Replicas, publisher: Redis
) -> None:
    ann, bob = await sign_up(replicas), await sign_up(replicas)
    async with httpx.AsyncClient(base_url=replicas.urls[0]) as client:
        made = await client.post(
            f"/api/v1/workspaces/{ann.workspace_id}/live/tickets", headers=ann.headers
        )
        foreign = await client.post(
            f"/api/v1/workspaces/{ann.workspace_id}/live/tickets", headers=bob.headers
        )
        other = await client.post(
            f"/api/v1/workspaces/{bob.workspace_id}/live/tickets", headers=bob.headers
        )
    assert made.status_code == 201
    assert foreign.status_code == 404
    ticket = made.json()["ticket"]
    # Issued by replica 0, redeemed on replica 1.
    async with connect(f"{replicas.ws(1, ann.workspace_id)}?ticket={ticket}") as ws:
        await ready(ws)
    code, reason = await closed_with(f"{replicas.ws(1, ann.workspace_id)}?ticket={ticket}")
    assert code == 4401
    assert "used already" in reason
    bobs = other.json()["ticket"]
    code, reason = await closed_with(f"{replicas.ws(0, ann.workspace_id)}?ticket={bobs}")
    assert code == 4401
    assert "another workspace" in reason
    # A non-browser client may send the usual header instead.
    headers = {"Authorization": f"Bearer {ann.token}"}
    async with connect(replicas.ws(0, ann.workspace_id), additional_headers=headers) as ws:
        await ready(ws)


async def test_a_campaign_state_change_reaches_the_workspace_socket(
    replicas: Replicas, session: AsyncSession, settings: Settings
) -> None:
    ann = await sign_up(replicas)
    campaign_id = uuid.uuid4()
    async with connect(
        replicas.ws(1, ann.workspace_id), subprotocols=token_protocols(ann.token)
    ) as ws:
        await ready(ws)
        _, kwargs = state_job_kwargs(
            ann.workspace_id, campaign_id, "paused", previous="sending", reason="complaint rate"
        )
        # The job the campaign service queues after commit, run as a worker would.
        job_settings = settings.model_copy(update={"redis": replicas.settings.redis})
        context = JobContext(
            session=session, settings=job_settings, job_id="t", task=STATE_TASK, attempt=1
        )
        await campaign_state_changed(context, **kwargs)
        assert await receive(ws) == {
            "type": "campaign.state",
            "campaign_id": str(campaign_id),
            "state": "paused",
            "previous": "sending",
            "reason": "complaint rate",
        }


async def test_a_socket_is_closed_when_its_access_token_expires(replicas: Replicas) -> None:
    ann = await sign_up(replicas)
    assert replicas.settings.database.url
    conninfo = _psycopg_conninfo(replicas.settings.database.url)
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        row = await (
            await conn.execute(
                "SELECT user_id FROM memberships WHERE workspace_id = %s", (ann.workspace_id,)
            )
        ).fetchone()
        assert row is not None
        user = await (
            await conn.execute("SELECT session_version FROM users WHERE id = %s", (row[0],))
        ).fetchone()
        assert user is not None
    short = replicas.settings.model_copy(
        update={
            "security": replicas.settings.security.model_copy(
                update={"access_token_ttl_seconds": 2}
            )
        }
    )
    token, _ = issue_access_token(short, row[0], user[0])
    async with connect(replicas.ws(0, ann.workspace_id), subprotocols=token_protocols(token)) as ws:
        await ready(ws)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
    assert "expired" in closed.value.rcvd.reason
