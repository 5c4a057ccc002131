"""web/openapi.json (the web client is generated from it) matches the app's document."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from maily.api.app import create_app
from maily.cli import app as cli
from maily.config import Settings

WEB_DOCUMENT = Path(__file__).resolve().parents[2] / "web" / "openapi.json"


def test_web_openapi_json_is_current(settings: Settings) -> None:
    current = create_app(settings).openapi()
    committed = json.loads(WEB_DOCUMENT.read_text())
    assert committed == current, (
        "web/openapi.json is stale: run `maily openapi > web/openapi.json` "
        "and `npm run gen:api` in web/"
    )


def test_maily_openapi_prints_the_document(settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["openapi"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document == create_app(settings).openapi()
    assert document["openapi"].startswith("3.")
