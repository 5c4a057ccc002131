"""The built web app served at `/` by the API, behind every API and tracking route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from maily.api.app import create_app
from maily.api.state import AppState
from maily.api.web import default_web_dir


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    """A stand-in for web/out: what `next build` exports, and pages whose paths collide
    with API and tracking paths (they must never be served)."""
    out = tmp_path / "out"
    for page, body in {
        "index.html": "<html>maily home</html>",
        "signin/index.html": "<html>sign in page</html>",
        "404.html": "<html>no such page</html>",
        "api/v1/me/index.html": "<html>shadow of the API</html>",
        "u/garbage/index.html": "<html>shadow of tracking</html>",
        "t/o/garbage.gif": "GIF89a shadow of the pixel",
        "healthz/index.html": "<html>shadow of health</html>",
    }.items():
        (out / page).parent.mkdir(parents=True, exist_ok=True)
        (out / page).write_text(body)
    return out


async def _client(state: AppState, web: Path | None) -> httpx.AsyncClient:
    settings = state.settings.model_copy(deep=True)
    settings.api.web_dir = web
    app = create_app(settings, state=state)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def web_client(app_state: AppState, web_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(app_state, web_dir) as client:
        yield client


async def test_root_serves_index_html(web_client: httpx.AsyncClient) -> None:
    response = await web_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == "<html>maily home</html>"


async def test_pages_are_folders_with_trailing_slash(web_client: httpx.AsyncClient) -> None:
    page = await web_client.get("/signin/")
    assert page.status_code == 200
    assert page.text == "<html>sign in page</html>"
    # Without the slash: redirected to it, query string kept (invitation links).
    bare = await web_client.get("/signin?next=/contacts/")
    assert bare.status_code in (307, 308)
    assert bare.headers["location"].endswith("/signin/?next=/contacts/")


async def test_unknown_page_gets_the_apps_404(web_client: httpx.AsyncClient) -> None:
    response = await web_client.get("/no/such/page/")
    assert response.status_code == 404
    assert response.text == "<html>no such page</html>"


async def test_api_paths_are_unaffected(web_client: httpx.AsyncClient) -> None:
    me = await web_client.get("/api/v1/me")
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "not_authenticated"
    unknown = await web_client.get("/api/v1/nowhere")
    assert unknown.status_code == 404
    # The same answer as without the web app.
    assert unknown.json()["error"] | {"request_id": None} == {
        "code": "not_found",
        "message": "Not Found",
        "request_id": None,
    }
    assert (await web_client.get("/api")).json()["error"]["code"] == "not_found"
    assert (await web_client.get("/healthz")).json() == {"status": "ok"}
    spec = await web_client.get("/api/v1/openapi.json")
    assert spec.json()["info"]["title"] == "Maily API"


async def test_tracking_paths_are_unaffected(web_client: httpx.AsyncClient) -> None:
    unsubscribe = await web_client.get("/u/garbage/")
    assert unsubscribe.status_code == 404
    assert unsubscribe.text == "not found: this link is not valid\n"
    pixel = await web_client.get("/t/o/garbage.gif")
    assert pixel.status_code == 404
    assert pixel.text == "not found: this link is not valid\n"


async def test_without_a_build_the_api_is_served_alone(app_state: AppState, tmp_path: Path) -> None:
    async with await _client(app_state, tmp_path / "missing") as client:
        root = await client.get("/")
        assert root.status_code == 404
        assert root.json()["error"]["code"] == "not_found"
        assert (await client.get("/healthz")).status_code == 200


def test_default_web_dir_is_the_checkouts_web_out() -> None:
    assert default_web_dir() == Path(__file__).resolve().parents[2] / "web" / "out"
