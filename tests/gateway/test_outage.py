"""The gateway while PostgreSQL or Redis is down, for real: this module's gateway runs on a Redis and a
PostgreSQL of its own (the `redis` and `pg` fixtures are overridden), which the tests stop and start again.

What must hold: bidding that needs only Redis goes on while PostgreSQL is down (tokens and paddles the gateway
knew answer from the last answer PostgreSQL gave, a token refused before stays refused); what truly needs
PostgreSQL is answered `unavailable`, naming the bid, on a connection that stays open (HTTP: 503); and every
error that answers a bid names it (client_id, sale, lot).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from redis.asyncio import Redis

from auction import identity
from auction.gateway.identities import TOKEN_TTL_S, Identities
from auction.gateway.lookups import DatabaseUnavailable
from auction.httpkit import Caller
from ops.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.gateway.conftest import BidderMaker, Running, SaleMaker

PgFactory = Callable[[], Awaitable[EmbeddedPostgres]]


@pytest.fixture
async def private_pg(embedded_postgres_factory: PgFactory) -> EmbeddedPostgres:
    return await embedded_postgres_factory()


@pytest.fixture
async def pg(private_pg: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """The gateway's pool, as run_gateway makes it (min_size=0), on the PostgreSQL these tests stop."""
    pool = await asyncpg.create_pool(private_pg.url, min_size=0, max_size=4)
    try:
        yield pool
    finally:
        await asyncio.wait_for(pool.close(), 10)


@pytest.fixture
def private_redis(embedded_redis_factory: Callable[..., EmbeddedRedis]) -> EmbeddedRedis:
    return embedded_redis_factory()


@pytest.fixture
async def redis(private_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(private_redis.url)
    try:
        yield client
    finally:
        await client.aclose()


async def recv(ws: websockets.ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return message


async def connect(gateway: Running, token: str) -> websockets.ClientConnection:
    ws = await websockets.connect(f"{gateway.ws}?token={token}")
    assert (await recv(ws))["type"] == "welcome"
    return ws


async def bid(ws: websockets.ClientConnection, sale: int, lot: int, amount: int, client_id: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "bid", "sale": sale, "lot": lot, "amount": amount, "client_id": client_id}))
    return await recv(ws)


async def account_of(pg: asyncpg.Pool, company: int) -> int:
    account: int = await pg.fetchval("SELECT id FROM accounts WHERE company_id = $1", company)
    return account


async def refused_upgrade(gateway: Running, token: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{gateway.ws}?token={token}"):
            pass
    body: dict[str, Any] = json.loads(refused.value.response.body)
    return refused.value.response.status_code, body["error"]


async def test_bidding_goes_on_while_postgres_is_down(
    gateway: Running, pg: asyncpg.Pool, private_pg: EmbeddedPostgres, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    sale, elsewhere = await make_sale(lots=4), await make_sale(lots=1)  # one lot per bid: none refused leading
    bidder, token = await make_bidder(sale.id, 7)
    _, never_used = await make_bidder(sale.id, 8)
    revoked = await identity.issue_token(pg, await account_of(pg, bidder.id), "api")
    await identity.revoke_token(pg, revoked.id, None)
    assert (await refused_upgrade(gateway, revoked.token))[1]["code"] == "token_revoked"  # PostgreSQL said so
    ws = await connect(gateway, token)
    assert (await bid(ws, sale.id, 1, 10_000, "before"))["type"] == "ack"

    await private_pg.astop()
    await asyncio.sleep(TOKEN_TTL_S + 0.5)  # every cached answer about the token has expired

    after = await bid(ws, sale.id, 2, 10_000, "after")  # the token is checked again: the last answer serves
    assert (after["type"], after["client_id"], after["leading"]) == ("ack", "after", True)
    refused = await bid(ws, elsewhere.id, 1, 10_000, "elsewhere")  # a paddle never looked up: needs PostgreSQL
    assert (refused["type"], refused["code"]) == ("error", "unavailable")
    assert (refused["client_id"], refused["sale"], refused["lot"]) == ("elsewhere", elsewhere.id, 1)
    await ws.send('{"type":"time"}')
    assert (await recv(ws))["type"] == "time"  # still open

    again = await connect(gateway, token)  # a new connection with a token this gateway knew
    assert (await bid(again, sale.id, 3, 10_000, "reconnected"))["type"] == "ack"
    assert (await refused_upgrade(gateway, revoked.token))[1]["code"] == "token_revoked"  # still refused
    status, error = await refused_upgrade(gateway, never_used)
    assert (status, error["code"], error["field"]) == (503, "unavailable", "token")
    async with aiohttp.ClientSession(gateway.http) as http:
        async with http.get("/api/sales") as reply:
            assert reply.status == 503 and (await reply.json())["error"]["code"] == "unavailable"
        headers = {"Authorization": f"Bearer {token}"}
        body = {"amount": 10_000, "client_id": "over-http"}
        async with http.post(f"/api/sales/{sale.id}/lots/4/bids", json=body, headers=headers) as reply:
            assert reply.status == 200 and (await reply.json())["client_id"] == "over-http"

        await private_pg.astart()
        async with http.get("/api/sales") as reply:
            assert reply.status == 200
    await (await connect(gateway, never_used)).close()  # PostgreSQL is back: the unknown token is checked
    await ws.close()
    await again.close()


async def test_identities_answer_from_what_postgres_last_said(
    pg: asyncpg.Pool, private_pg: EmbeddedPostgres, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=1)
    bidder, token = await make_bidder(sale.id, 7)
    account = await account_of(pg, bidder.id)
    brief = await identity.issue_token(pg, account, "api", ttl=timedelta(seconds=2))
    revoked = await identity.issue_token(pg, account, "api")
    await identity.revoke_token(pg, revoked.id, None)
    other = await make_sale(lots=1)
    identities = Identities(pg, ttl_s=0.05, token_ttl_s=0.05)
    caller = await identities.caller(token)
    assert await identities.paddle(caller, sale.id) == 7
    assert await identities.paddle(caller, other.id) is None  # not registered there
    await identities.caller(brief.token)
    with pytest.raises(identity.TokenRefused):
        await identities.caller(revoked.token)

    await private_pg.astop()
    await asyncio.sleep(0.1)  # past every TTL: each lookup asks PostgreSQL, which is not there
    assert await identities.caller(token) == caller
    assert await identities.paddle(caller, sale.id) == 7
    with pytest.raises(identity.TokenRefused) as refused:
        await identities.caller(revoked.token)
    assert refused.value.code == "token_revoked"
    with pytest.raises(DatabaseUnavailable):  # "no paddle" doesn't stand in: they may have registered since
        await identities.paddle(caller, other.id)
    with pytest.raises(DatabaseUnavailable):  # never asked
        await identities.caller("dat_never_seen")
    with pytest.raises(DatabaseUnavailable):
        await identities.paddle(Caller("buyer", account, "x", company=bidder.id + 10**6), sale.id)
    await asyncio.sleep(2)
    with pytest.raises(identity.TokenRefused) as expired:  # it expired during the outage
        await identities.caller(brief.token)
    assert expired.value.code == "token_expired"
    await private_pg.astart()


async def test_a_redis_outage_answers_each_bid_by_name(
    gateway: Running, private_redis: EmbeddedRedis, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=3)
    _, token = await make_bidder(sale.id, 7)
    ws = await connect(gateway, token)
    assert (await bid(ws, sale.id, 1, 10_000, "first"))["type"] == "ack"  # the paddle is cached from now on

    await private_redis.astop()
    await asyncio.gather(*(ws.send(json.dumps(
        {"type": "bid", "sale": sale.id, "lot": lot, "amount": 10_000, "client_id": f"lost-{lot}"}))
        for lot in (2, 3)))  # fmt: skip
    answers = [await recv(ws), await recv(ws)]
    assert {a["type"] for a in answers} == {"error"} and {a["code"] for a in answers} == {"unavailable"}
    assert sorted((a["client_id"], a["sale"], a["lot"]) for a in answers) == [
        ("lost-2", sale.id, 2),
        ("lost-3", sale.id, 3),
    ]

    await private_redis.astart()
    for lot in (2, 3):  # resent with the same client_id, as a client does, until Redis answers
        resent = await resend_until_answered(ws, sale.id, lot, f"lost-{lot}")
        assert (resent["type"], resent["client_id"]) == ("ack", f"lost-{lot}")
    await ws.close()


async def resend_until_answered(
    ws: websockets.ClientConnection, sale: int, lot: int, client_id: str, within_s: float = 10
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        answer = await bid(ws, sale, lot, 10_000, client_id)
        if answer.get("code") != "unavailable" or asyncio.get_running_loop().time() > deadline:
            return answer
        assert answer["client_id"] == client_id
        await asyncio.sleep(0.2)
