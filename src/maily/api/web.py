"""The web app: the static export of web/ served at `/`, after every API and tracking
route, so it never shadows them."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from maily.config import Settings


def default_web_dir() -> Path:
    # src/maily/api/web.py -> the checkout's web/out
    return Path(__file__).resolve().parents[3] / "web" / "out"


def web_dir(settings: Settings) -> Path:
    return settings.api.web_dir or default_web_dir()


class WebFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        # An unknown API path answers the API's JSON 404, not a page.
        if path == "api" or path.startswith("api/"):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def mount_web(app: FastAPI, settings: Settings) -> bool:
    """Serve the built web app at `/` when it has been built (`make up` builds it);
    without it the API is served alone."""
    folder = web_dir(settings)
    if not (folder / "index.html").is_file():
        return False
    app.mount("/", WebFiles(directory=folder, html=True), name="web")
    return True
