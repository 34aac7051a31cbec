"""Passwords, the login throttle, and tokens: expiry, revocation, tampering, over HTTP and on the websocket."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

import aiohttp
import asyncpg
import pytest
import websockets

from auction import catalog, identity
from auction.identity import AccountProblem, LoginRefused, LoginThrottled, TokenRefused
from tests.gateway.conftest import Running


def email() -> str:
    return f"{secrets.token_hex(6)}@example.test"


async def test_passwords_are_argon2id_and_verify(pg: asyncpg.Pool) -> None:
    made = await identity.create_account(pg, email(), "Op", "correct horse battery", "admin")
    stored = await pg.fetchval("SELECT password_hash FROM accounts WHERE id = $1", made.id)
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert await identity.verify_password(stored, "correct horse battery")
    assert not await identity.verify_password(stored, "correct horse batterz")
    assert not await identity.verify_password(None, "anything")
    with pytest.raises(AccountProblem) as short:
        await identity.create_account(pg, email(), "Op", "short", "admin")
    assert short.value.field == "password"


async def test_login_is_throttled_per_account_with_a_doubling_lockout(pg: asyncpg.Pool) -> None:
    who = email()
    await identity.create_account(pg, who, "Op", "the right password", "auctioneer")
    at = identity.now()
    for attempt in range(identity.ACCOUNT_FAILURES):
        with pytest.raises(LoginRefused):
            await identity.login(pg, who, f"wrong {attempt}", "10.0.0.1", at)
    with pytest.raises(LoginThrottled) as locked:  # even the right password, while locked out
        await identity.login(pg, who, "the right password", "10.0.0.2", at)
    assert locked.value.retry_after_s == identity.LOCKOUT_BASE_S
    later = at + timedelta(seconds=identity.LOCKOUT_BASE_S + 1)
    with pytest.raises(LoginRefused):
        await identity.login(pg, who, "wrong again", "10.0.0.2", later)
    with pytest.raises(LoginThrottled) as longer:
        await identity.login(pg, who, "the right password", "10.0.0.2", later)
    assert longer.value.retry_after_s == 2 * identity.LOCKOUT_BASE_S
    after = later + timedelta(seconds=2 * identity.LOCKOUT_BASE_S + 1)
    assert (await identity.login(pg, who, "the right password", "10.0.0.2", after)).email == who
    cleared = await pg.fetchrow("SELECT failures, locked_until, in_flight FROM login_throttle WHERE key = $1",
                                f"account:{who}")  # fmt: skip
    assert tuple(cleared) == (0, None, 0)


async def test_login_is_throttled_per_address_and_unknown_accounts_count(pg: asyncpg.Pool) -> None:
    address = f"192.0.2.{secrets.randbelow(250)}-{secrets.token_hex(3)}"
    at = identity.now()
    for _ in range(identity.ADDRESS_FAILURES):
        with pytest.raises(LoginRefused):
            await identity.login(pg, email(), "guess", address, at)
    with pytest.raises(LoginThrottled):
        await identity.login(pg, email(), "guess", address, at)


async def test_tokens_expire_are_revoked_and_tampering_is_named(pg: asyncpg.Pool) -> None:
    made = await identity.create_account(pg, email(), "Op", None, "admin")
    issued = await identity.issue_token(pg, made.id, "api", timedelta(days=1), "robot")
    assert (await identity.authenticate(pg, issued.token)).account.id == made.id
    tampered = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    with pytest.raises(TokenRefused) as bad:
        await identity.authenticate(pg, tampered)
    assert bad.value.code == "token_invalid"
    with pytest.raises(TokenRefused) as old:
        await identity.authenticate(pg, issued.token, identity.now() + timedelta(days=2))
    assert old.value.code == "token_expired"
    assert await identity.revoke_token(pg, issued.id, made.id)
    with pytest.raises(TokenRefused) as gone:
        await identity.authenticate(pg, issued.token)
    assert gone.value.code == "token_revoked"
    assert await pg.fetchval("SELECT count(*) FROM auth_tokens WHERE token_sha256 = $1", issued.token.encode()) == 0


async def test_a_company_has_at_most_two_representatives(pg: asyncpg.Pool) -> None:
    bidder, _ = await catalog.add_bidder(pg, "First", "Two Reps Ltd")
    await identity.create_account(pg, email(), "Second", None, "buyer", company_id=bidder.id)
    with pytest.raises(AccountProblem) as third:
        await identity.create_account(pg, email(), "Third", None, "buyer", company_id=bidder.id)
    assert third.value.field == "representatives"


async def test_login_logout_tokens_over_http(gateway: Running, pg: asyncpg.Pool) -> None:
    who = email()
    await identity.create_account(pg, who, "Vera Vetting", "a long enough password", "vetting_officer")
    async with aiohttp.ClientSession(gateway.http, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post("/api/login", json={"email": who, "password": "nope"}) as reply:
            assert reply.status == 401 and (await reply.json())["error"]["code"] == "login_failed"
        async with http.post("/api/login", json={"email": who, "password": "a long enough password"}) as reply:
            assert reply.status == 200
            cookie = reply.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.get("/api/me") as reply:  # the session cookie, kept by the client
            assert (await reply.json())["role"] == "vetting_officer"
        async with http.post("/api/tokens", json={"name": "script", "days": 30}) as reply:
            assert reply.status == 201
            issued = await reply.json()
        async with http.post("/api/tokens", json={"name": "x"}, headers={"Origin": "https://evil.example"}) as reply:
            assert reply.status == 403 and (await reply.json())["error"]["field"] == "origin"
        async with http.post("/api/logout") as reply:
            assert reply.status == 204
        async with http.get("/api/me") as reply:
            assert reply.status == 401
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    async with aiohttp.ClientSession(gateway.http, headers=bearer) as api:
        async with api.get("/api/tokens") as reply:
            listed = await reply.json()
            assert {t["kind"] for t in listed} == {"session", "api"} and "token" not in listed[0]
        async with api.get("/api/me") as reply:
            assert reply.status == 200
        async with websockets.connect(gateway.ws, additional_headers=bearer) as ws:
            assert json.loads(await ws.recv())["role"] == "vetting_officer"
            async with api.delete(f"/api/tokens/{issued['id']}") as reply:
                assert reply.status == 204
            await ws.send(json.dumps({"type": "time"}))
            error = json.loads(await ws.recv())
            assert (error["type"], error["code"]) == ("error", "token_revoked")
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
        async with api.get("/api/me") as reply:
            assert reply.status == 401 and (await reply.json())["error"]["code"] == "token_revoked"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(gateway.ws, additional_headers=bearer):
            pass
    assert json.loads(refused.value.response.body)["error"]["code"] == "token_revoked"


async def test_failed_logins_over_http_get_429_with_retry_after(gateway: Running, pg: asyncpg.Pool) -> None:
    who = email()
    await identity.create_account(pg, who, "Op", "a long enough password", "admin")
    async with aiohttp.ClientSession(gateway.http) as http:
        for _ in range(identity.ACCOUNT_FAILURES):
            async with http.post("/api/login", json={"email": who, "password": "guess"}) as reply:
                assert reply.status == 401
        async with http.post("/api/login", json={"email": who, "password": "a long enough password"}) as reply:
            assert reply.status == 429
            assert int(reply.headers["Retry-After"]) == (await reply.json())["error"]["retry_after"] > 0
