"""HTTP metrics labelled by route template, and the /metrics endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY

from maily.kit.metrics import (
    ROLE_UP,
    UNMATCHED_ROUTE,
    HTTPMetricsMiddleware,
    make_metrics_app,
    metrics_endpoint,
)


def make_app() -> FastAPI:
    app = FastAPI()
    campaigns = APIRouter(prefix="/campaigns")

    @campaigns.get("/{campaign_id}")
    async def campaign(campaign_id: int) -> dict[str, int]:
        return {"id": campaign_id}

    @campaigns.post("/{campaign_id}/fail")
    async def fail(campaign_id: int) -> None:
        raise RuntimeError("send pipeline down")

    app.include_router(campaigns, prefix="/api/v1")

    # One router included under two prefixes: the request decides which template.
    pings = APIRouter()

    @pings.get("/ping/{n}")
    async def ping(n: int) -> int:
        return n

    app.include_router(pings, prefix="/a")
    app.include_router(pings, prefix="/b")

    mounted = FastAPI()

    @mounted.get("/files/{name}")
    async def file(name: str) -> str:
        return name

    app.mount("/uploads", mounted)

    @app.get("/status")
    async def status() -> dict[str, str]:
        return {"status": "ok"}

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.add_middleware(HTTPMetricsMiddleware)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def requests_total(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("maily_http_requests_total", labels) or 0.0


def duration_count(method: str, route: str) -> float:
    labels = {"method": method, "route": route}
    return REGISTRY.get_sample_value("maily_http_request_duration_seconds_count", labels) or 0.0


async def test_requests_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    route = "/api/v1/campaigns/{campaign_id}"
    before = requests_total("GET", route, "200"), duration_count("GET", route)

    for campaign_id in (1, 2, 3):
        assert (await client.get(f"/api/v1/campaigns/{campaign_id}")).status_code == 200

    assert requests_total("GET", route, "200") == before[0] + 3
    assert duration_count("GET", route) == before[1] + 3
    assert (
        REGISTRY.get_sample_value(
            "maily_http_requests_total",
            {"method": "GET", "route": "/api/v1/campaigns/1", "status": "200"},
        )
        is None
    )


async def test_top_level_routes_keep_their_path(client: httpx.AsyncClient) -> None:
    before = requests_total("GET", "/status", "200")

    await client.get("/status")

    assert requests_total("GET", "/status", "200") == before + 1


async def test_router_included_twice_keeps_each_prefix(client: httpx.AsyncClient) -> None:
    before = (
        requests_total("GET", "/a/ping/{n}", "200"),
        requests_total("GET", "/b/ping/{n}", "200"),
    )

    await client.get("/a/ping/1")
    await client.get("/b/ping/2")
    await client.get("/b/ping/3")

    assert requests_total("GET", "/a/ping/{n}", "200") == before[0] + 1
    assert requests_total("GET", "/b/ping/{n}", "200") == before[1] + 2


async def test_mounted_apps_count_under_the_mount(client: httpx.AsyncClient) -> None:
    before = requests_total("GET", "/uploads/{path}", "200")

    assert (await client.get("/uploads/files/logo.png")).status_code == 200

    assert requests_total("GET", "/uploads/{path}", "200") == before + 1


async def test_unknown_paths_share_one_label(client: httpx.AsyncClient) -> None:
    before = requests_total("GET", UNMATCHED_ROUTE, "404")

    await client.get("/wp-admin/setup.php")
    await client.get("/random/123")

    assert requests_total("GET", UNMATCHED_ROUTE, "404") == before + 2


async def test_wrong_method_counts_under_the_template(client: httpx.AsyncClient) -> None:
    route = "/api/v1/campaigns/{campaign_id}"
    before = requests_total("DELETE", route, "405")

    assert (await client.delete("/api/v1/campaigns/5")).status_code == 405

    assert requests_total("DELETE", route, "405") == before + 1


async def test_invented_methods_are_folded(client: httpx.AsyncClient) -> None:
    before = requests_total("other", "/status", "405")

    await client.request("BREW", "/status")

    assert requests_total("other", "/status", "405") == before + 1


async def test_unhandled_errors_count_as_500(client: httpx.AsyncClient) -> None:
    route = "/api/v1/campaigns/{campaign_id}/fail"
    before = requests_total("POST", route, "500")

    assert (await client.post("/api/v1/campaigns/9/fail")).status_code == 500

    assert requests_total("POST", route, "500") == before + 1


async def test_metrics_endpoint_serves_the_default_registry(client: httpx.AsyncClient) -> None:
    ROLE_UP.labels(role="test-role").set(1)

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'maily_role_up{role="test-role"} 1.0' in response.text
    assert "# TYPE maily_http_requests_total counter" in response.text
    assert "maily_build_info{" in response.text


async def test_openmetrics_when_the_scraper_asks(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})

    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


async def test_standalone_metrics_app() -> None:
    transport = httpx.ASGITransport(app=make_metrics_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
        response = await client.get("/")

    assert response.status_code == 200
    assert "# TYPE maily_role_up gauge" in response.text
