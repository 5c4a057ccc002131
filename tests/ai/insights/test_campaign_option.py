"""The campaign option `send_time_optimisation` over HTTP: kept, copied, and refused
with a local-time schedule (which fixes the hour itself)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.campaigns.support import StandInComposer
from tests.campaigns.test_api import Api, composer, transport, wired
from tests.conftest import Account

__all__ = ["composer", "transport", "wired"]  # fixtures of the campaign API tests


async def test_the_option_is_kept_copied_and_changed(
    client: httpx.AsyncClient, account: Account, wired: None, composer: StandInComposer
) -> None:
    api = Api(client, account)
    created = await api.ready_campaign(composer, send_time_optimisation=True)
    assert created["send_time_optimisation"] is True
    path = f"/campaigns/{created['id']}"
    copy = await api.ok("POST", f"{path}/duplicate", 201)
    assert copy["send_time_optimisation"] is True
    changed = await api.ok("PATCH", path, json={"send_time_optimisation": False})
    assert changed["send_time_optimisation"] is False
    plain = await api.ok("POST", "/campaigns", 201, json={"name": "Plain"})
    assert plain["send_time_optimisation"] is False


async def test_it_cannot_start_with_a_local_time_schedule(
    client: httpx.AsyncClient, account: Account, wired: None, composer: StandInComposer
) -> None:
    api = Api(client, account)
    created = await api.ready_campaign(composer, send_time_optimisation=True)
    wall = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    schedule = {"send_mode": "local_time", "local_send_at": wall.isoformat()}
    response = await api.call(
        "POST", f"/campaigns/{created['id']}/start", json={"schedule": schedule}
    )
    assert response.status_code == 422, response.text
    assert "local_time" in response.json()["error"]["message"]
    assert (await api.ok("GET", f"/campaigns/{created['id']}"))["status"] == "draft"

    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    started = await api.ok(
        "POST",
        f"/campaigns/{created['id']}/start",
        json={"schedule": {"send_mode": "at", "send_at": later}},
    )
    assert started["status"] == "scheduled"
    assert started["send_time_optimisation"] is True
