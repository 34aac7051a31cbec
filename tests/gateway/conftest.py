"""Fixtures for the gateway tests: a real gateway on a free port over the session's Redis and PostgreSQL, and
helpers that build a sale and register bidders in it."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp import web
from redis.asyncio import Redis

from auction import catalog, identity, vetting
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.diamonds import Diamond
from auction.engine.ladder import Band, Ladder
from auction.engine.state import LiveTerms
from auction.store import LotStore
from ops.app import make_app


@dataclass
class Running:
    http: str  # http://127.0.0.1:port
    ws: str  # ws://127.0.0.1:port/ws
    app: web.Application
    store: LotStore


@pytest.fixture
async def gateway(redis: Redis, pg: asyncpg.Pool) -> AsyncIterator[Running]:
    store = LotStore(redis, pg=pg, enforce_standing=True)  # as run_gateway builds it
    app = make_app(redis, pg, store)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Running(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", app, store)
    finally:
        await runner.cleanup()
        await store.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def stone(points: int = 152) -> Diamond:
    return Diamond(carat_points=points, shape="Round", colour="G", clarity="VS2", cut="Excellent", lab="GIA",
                   report_number=f"22{points}0001")  # fmt: skip


SaleMaker = Callable[..., Awaitable[NewSale]]


FLAT_1000 = Ladder((Band(0, 1_000),))  # a live sale's ladder in the tests: after a bid at P the ask is P + 1,000


@pytest.fixture
def make_sale(pg: asyncpg.Pool, gateway: Running, new_sale_id: Callable[[], int]) -> SaleMaker:
    """A timed sale open now, its lots closing `closes_in_s` from now; reserve below opening unless given. With
    `live` (the sale's LiveTerms), a live sale instead, on the FLAT_1000 ladder, its lots waiting for the rostrum."""

    async def make(
        lots: int = 3,
        closes_in_s: int = 120,
        reserve: int = 50_000,
        opening: int = 10_000,
        live: LiveTerms | None = None,
    ) -> NewSale:
        consignor = await catalog.add_consignor(pg, "Consignor", "Stones Ltd")
        settings = SaleSettings(ladder=FLAT_1000, live=live) if live is not None else SaleSettings()
        sale = NewSale(
            id=new_sale_id(),
            name="Test sale",
            currency="USD",
            format="live" if live is not None else "timed",
            settings=settings,
            starts_at_ms=now_ms() - 1_000,
            first_close_ms=now_ms() + closes_in_s * 1000,
            lots=[
                NewLot(
                    lot=n,
                    title=f"Lot {n}",
                    consignor_id=consignor,
                    diamond=stone(100 + n),
                    low_estimate=max(reserve, 100_000),
                    high_estimate=max(reserve, 100_000) * 2,
                    reserve=reserve,
                    opening=opening,
                )
                for n in range(1, lots + 1)
            ],
        )
        assert catalog.sale_problems(sale) == []
        await catalog.insert_sale(pg, sale)
        await gateway.store.create_lots(catalog.terms_for(sale))
        return sale

    return make


BidderMaker = Callable[..., Awaitable[tuple[catalog.Bidder, str]]]


@pytest.fixture
def make_bidder(pg: asyncpg.Pool, gateway: Running) -> BidderMaker:
    """A bidder (an approved company, by fiat) registered in `sale` with `paddle` (and a bidding `limit`, all-in,
    if given), its standing published to the engine; returns (bidder, token)."""

    async def make(sale: int, paddle: int, limit: int | None = None) -> tuple[catalog.Bidder, str]:
        bidder, token = await catalog.add_bidder(pg, f"Bidder {paddle}", f"Company {paddle}")
        await catalog.register(pg, sale, bidder.id, paddle, limit)
        await vetting.publish_standing(pg, gateway.store, sale, bidder.id)
        return bidder, token

    return make


# ---- people with roles ------------------------------------------------------------------------------------------

PRINCIPALS = (
    "anonymous",
    "buyer",
    "consignor",
    "vetting_officer",
    "auctioneer",
    "clerk",
    "settlement_officer",
    "admin",
)


@dataclass
class Person:
    role: str
    account: identity.Account | None  # None: anonymous

    async def token(self, pg: asyncpg.Pool) -> str | None:
        """A fresh API token (so a test may revoke or log out with it without touching anyone else's)."""
        if self.account is None:
            return None
        return (await identity.issue_token(pg, self.account.id, "api")).token

    async def headers(self, pg: asyncpg.Pool) -> dict[str, str]:
        token = await self.token(pg)
        return {"Authorization": f"Bearer {token}"} if token else {}


PeopleMaker = Callable[..., Awaitable[dict[str, Person]]]


@pytest.fixture
def make_people(pg: asyncpg.Pool) -> PeopleMaker:
    """One person per principal: a buyer of an approved company (by fiat), a consignor (of `consignor_id`, or a
    new consignor), and one account of each operator role. Accounts have no password: tokens only."""

    async def make(consignor_id: int | None = None) -> dict[str, Person]:
        tag = secrets.token_hex(5)
        bidder, _ = await catalog.add_bidder(pg, f"Buyer {tag}", f"Buyer Co {tag}")
        buyer = await pg.fetchrow("SELECT id FROM accounts WHERE company_id = $1", bidder.id)
        people = {"anonymous": Person("anonymous", None)}
        people["buyer"] = Person("buyer", await identity.account(pg, buyer["id"]))
        consignor = consignor_id or await catalog.add_consignor(pg, f"Consignor {tag}", "Stones Ltd")
        made = await identity.create_account(pg, f"c-{tag}@x.test", "Consignor", None, "consignor",
                                             consignor_id=consignor)  # fmt: skip
        people["consignor"] = Person("consignor", made)
        for role in ("vetting_officer", "auctioneer", "clerk", "settlement_officer", "admin"):
            account = await identity.create_account(pg, f"{role}-{tag}@x.test", role.title(), None, role)  # type: ignore[arg-type]
            people[role] = Person(role, account)
        return people

    return make
