"""`maily inbound` as its own process: it serves SMTP on its configured port, applies a
bounce, and stops cleanly (exit 0) on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import smtplib
import sys
from pathlib import Path

import pytest

from maily.delivery.verp import Verp
from tests.campaigns.support import World
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_SECRET_KEY, _worker_index
from tests.delivery.bounces.corpus import RETURN_PATH_DOMAIN, render
from tests.delivery.bounces.support import contact_status, sent_campaign


@pytest.mark.slow
async def test_inbound_role_process(
    world: World, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    sent = await sent_campaign(world, ["ann"])
    # Ports of this test slot (20000 + 100 * slot), so side-by-side suites do not collide.
    port = 20000 + 100 * _worker_index() + 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILY_")}
    env.update(
        {
            "MAILY_ENVIRONMENT": "test",
            "MAILY_DATABASE_URL": database_url,
            "MAILY_REDIS_URL": redis_url,
            "MAILY_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
            "MAILY_SECURITY__ENCRYPTION_KEYS": json.dumps([TEST_ENCRYPTION_KEY]),
            "MAILY_ROLES__HEALTH_BASE_PORT": "0",
            "MAILY_INBOUND__HOST": "127.0.0.1",
            "MAILY_INBOUND__PORT": str(port),
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "maily",
        "inbound",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[bytes] = []
    try:

        async def listening() -> None:
            assert process.stdout is not None
            while True:
                line = await process.stdout.readline()
                assert line, b"".join(output).decode()[-3000:]
                output.append(line)
                if b"inbound SMTP listening" in line:
                    return

        await asyncio.wait_for(listening(), timeout=60)
        drain = asyncio.create_task(process.stdout.read())

        verp = Verp(TEST_SECRET_KEY)
        raw = render(
            "gmail_user_unknown", verp=verp, delivery_id=sent["ann"].id, recipient="ann@example.com"
        )

        def deliver() -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail("", [verp.address(sent["ann"].id, RETURN_PATH_DOMAIN)], raw)

        await asyncio.to_thread(deliver)
        assert await contact_status(world, "ann") == "bounced"

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
        rest = await drain
        assert b"role stopped" in rest, rest.decode()[-3000:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
