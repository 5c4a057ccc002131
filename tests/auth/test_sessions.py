"""Sign-up, sign-in, token rotation, password changes and sign-in rate limits."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from maily.kit.db import AsyncSession
from maily.models import User
from tests.conftest import Account, sign_up


async def password_grant(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
    )


async def test_sign_up_creates_owner_workspace_and_stores_argon2_hash(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await sign_up(client, "Founder@Example.com")
    me = (await client.get("/api/v1/me", headers=account.headers)).json()
    assert me["user"]["email"] == "founder@example.com"
    assert [w["role"] for w in me["workspaces"]] == ["owner"]
    user = (await session.execute(select(User).where(User.email == account.email))).scalar_one()
    assert user.password_hash.startswith("$argon2id$")
    assert account.password not in user.password_hash


async def test_duplicate_sign_up_is_a_conflict(client: httpx.AsyncClient) -> None:
    account = await sign_up(client)
    again = await client.post(
        "/api/v1/auth/signup", json={"email": account.email, "password": "another password 1"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


async def test_password_grant(client: httpx.AsyncClient, account: Account) -> None:
    ok = await password_grant(client, account.email.upper(), account.password)
    assert ok.status_code == 200
    body = ok.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200

    wrong = await password_grant(client, account.email, "not the password")
    unknown = await password_grant(client, "nobody@example.com", account.password)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]


async def test_bad_tokens_are_refused(client: httpx.AsyncClient, account: Account) -> None:
    for header in ("Bearer nonsense", "Bearer " + account.access_token[:-3] + "abc", ""):
        response = await client.get(
            "/api/v1/me", headers={"Authorization": header} if header else {}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, account: Account
) -> None:
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != account.refresh_token

    # The old token comes back: someone copied it. The whole family ends.
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_reused"
    after = await client.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": rotated}
    )
    assert after.status_code == 401


async def test_refresh_grant_on_token_endpoint(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": account.refresh_token},
    )
    assert response.status_code == 200
    assert response.json()["refresh_token"] != account.refresh_token


async def test_logout_ends_the_session(client: httpx.AsyncClient, account: Account) -> None:
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": account.refresh_token})
    assert out.status_code == 204
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert again.status_code == 401


async def test_password_change_revokes_every_session(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = (await password_grant(client, account.email, account.password)).json()
    changed = await client.post(
        "/api/v1/me/password",
        headers=account.headers,
        json={"current_password": account.password, "new_password": "a brand new password"},
    )
    assert changed.status_code == 200
    new_headers = {"Authorization": f"Bearer {changed.json()['access_token']}"}

    assert (await client.get("/api/v1/me", headers=account.headers)).status_code == 401
    old_other = {"Authorization": f"Bearer {other['access_token']}"}
    assert (await client.get("/api/v1/me", headers=old_other)).status_code == 401
    for token in (account.refresh_token, other["refresh_token"]):
        refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
        assert refreshed.status_code == 401
    assert (await client.get("/api/v1/me", headers=new_headers)).status_code == 200
    assert (await password_grant(client, account.email, account.password)).status_code == 401
    assert (await password_grant(client, account.email, "a brand new password")).status_code == 200


async def test_password_change_needs_the_current_password(
    client: httpx.AsyncClient, account: Account
) -> None:
    response = await client.post(
        "/api/v1/me/password",
        headers=account.headers,
        json={"current_password": "wrong", "new_password": "a brand new password"},
    )
    assert response.status_code == 400
    assert (await client.get("/api/v1/me", headers=account.headers)).status_code == 200


async def test_sign_out_everywhere(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post("/api/v1/me/sign-out-everywhere", headers=account.headers)
    assert response.status_code == 204
    assert (await client.get("/api/v1/me", headers=account.headers)).status_code == 401


async def test_sign_in_is_rate_limited(client: httpx.AsyncClient, account: Account) -> None:
    statuses = [
        (await password_grant(client, account.email, "wrong password")).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    limited = await password_grant(client, account.email, account.password)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-address", "password": "long enough password"},
        {"email": "a@example.com", "password": "short"},
        {"email": "a@example.com"},
    ],
)
async def test_sign_up_validation(client: httpx.AsyncClient, payload: dict[str, str]) -> None:
    response = await client.post("/api/v1/auth/signup", json=payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]
