"""The API's own health, readiness, metrics, request ids and error shape."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from tests.conftest import Account


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": {"status": "ok"}, "redis": {"status": "ok"}}


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient, account: Account) -> None:
    await client.get(f"/api/v1/workspaces/{account.workspace_id}", headers=account.headers)
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'route="/api/v1/workspaces/{workspace_id}"' in metrics.text
    assert str(account.workspace_id) not in metrics.text


async def test_request_id_is_echoed_and_in_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me", headers={"X-Request-ID": "trace-me-123"})
    assert response.headers["X-Request-ID"] == "trace-me-123"
    assert response.json()["error"]["request_id"] == "trace-me-123"
    generated = await client.get("/api/v1/nowhere")
    assert generated.status_code == 404
    assert generated.json()["error"] == {
        "code": "not_found",
        "message": "Not Found",
        "request_id": generated.headers["X-Request-ID"],
    }


async def test_openapi_operation_ids_are_stable(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert {"auth_token", "auth_sign_up", "workspaces_get", "api_keys_create"} <= set(ids)
    # Every id is chosen, not generated (FastAPI's generated ids embed the path).
    assert not [i for i in ids if "_api_v1_" in i]


async def test_api_rate_limit_answers_429_with_retry_after(
    client: httpx.AsyncClient, account: Account, app: object, redis: Redis
) -> None:
    state = app.state.maily  # type: ignore[attr-defined]
    # The account fixture's requests were counted under the usual limit; start afresh,
    # so what they left behind (or how long ago they were made) cannot matter.
    for key in await redis.keys("maily:rl:api:*"):
        await redis.delete(key)
    state.settings.rate_limit.api_requests = 3
    try:
        responses = [await client.get("/api/v1/me", headers=account.headers) for _ in range(4)]
    finally:
        state.settings.rate_limit.api_requests = 1200
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert int(responses[3].headers["Retry-After"]) >= 1
    assert responses[3].json()["error"]["code"] == "rate_limited"


async def test_cors_is_off_unless_configured(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers
