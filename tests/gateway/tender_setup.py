"""A tender built through the gateway as the house builds one, for the tender tests: officers with keys of their
own registered over HTTP, the sale created over HTTP with its key, buyers registered, the scheduler running its
windows, and the officers' sealed shares fetched and opened as their consoles would."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from auction import catalog, identity
from auction.scheduler import Scheduler
from auction.tender import records
from auction.tender.sealing import new_key_pair, open_browser_seal
from tests.gateway.conftest import Running

DAY_MS = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Officer:
    account: identity.Account
    private: bytes
    public: bytes
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class TenderLot:
    lot: int
    reserve: int
    carat_points: int
    kp: str  # the Kimberley Process certificate the parcel travels under


@dataclass
class Tender:
    sale: int
    officers: list[Officer]
    consignor: int
    consignor_headers: dict[str, str]
    lots: list[TenderLot]
    bids_from_ms: int
    closes_ms: int
    auctioneer_headers: dict[str, str]
    created: dict[str, Any] = field(default_factory=dict)


async def token(pg: asyncpg.Pool, account: identity.Account) -> str:
    return (await identity.issue_token(pg, account.id, "api")).token


async def call(http: aiohttp.ClientSession, method: str, path: str, headers: dict[str, str] | None = None,
               body: Any = None, status: int | None = 200) -> Any:  # fmt: skip
    async with http.request(method, path, headers=headers or {}, json=body) as answer:
        data = await answer.json(content_type=None)
        assert status is None or answer.status == status, (method, path, answer.status, data)
        return data


async def officers(pg: asyncpg.Pool, http: aiohttp.ClientSession, n: int = 3) -> list[Officer]:
    """n operators (of different roles), each with an officer key registered over HTTP."""
    made = []
    for index, role in enumerate(("vetting_officer", "settlement_officer", "admin", "clerk")[:n]):
        account = await identity.create_account(pg, f"officer{index}-{secrets.token_hex(4)}@x.test", f"Officer {index}",
                                                None, role)  # type: ignore[arg-type]  # fmt: skip
        private, public = new_key_pair()
        officer = Officer(account, private, public, await token(pg, account))
        kept = await call(http, "PUT", "/api/tender/officer-key", officer.headers,
                          {"public_key": base64.b64encode(public).decode()})  # fmt: skip
        assert kept["account"] == account.id
        made.append(officer)
    return made


def rough(points: int) -> dict[str, Any]:
    return {"carat_points": points, "shape": "Rough", "report_override_reason": "rough parcel: viewed, not graded"}


async def create(
    pg: asyncpg.Pool, http: aiohttp.ClientSession, sale: int, lots: list[TenderLot], *, window_s: float = 3.0,
    threshold: int = 2, n: int = 3,
) -> Tender:  # fmt: skip
    """A tender of rough parcels: viewing now, bids from in a moment, closing `window_s` later."""
    crew = await officers(pg, http, n)
    consignor = await catalog.add_consignor(pg, "Okavango Rough", "Okavango Rough Ltd")
    consignor_account = await identity.create_account(pg, f"c-{secrets.token_hex(4)}@x.test", "Consignor", None,
                                                      "consignor", consignor_id=consignor)  # fmt: skip
    auctioneer = await identity.create_account(pg, f"a-{secrets.token_hex(4)}@x.test", "Auctioneer", None,
                                               "auctioneer")  # fmt: skip
    start = now_ms() - 1_000
    bids_from, closes = now_ms() + 300, now_ms() + int(window_s * 1000)
    body = {
        "id": sale, "name": "Rough tender", "currency": "USD", "format": "tender", "starts_at_ms": start,
        "first_close_ms": closes,
        "settings": {"stagger_ms": 0, "tender": {"bids_from_ms": bids_from, "acceptance_window_ms": DAY_MS,
                                                 "threshold": threshold,
                                                 "officers": [o.account.id for o in crew]}},
        "lots": [{"lot": lot.lot, "title": f"Parcel {lot.lot}", "consignor_id": consignor,
                  "diamond": rough(lot.carat_points), "low_estimate": lot.reserve * 2,
                  "high_estimate": lot.reserve * 3, "reserve": lot.reserve,
                  "opening": 1, "details": {"kp_certificate": lot.kp}} for lot in lots],
    }  # fmt: skip
    auctioneer_headers = {"Authorization": f"Bearer {await token(pg, auctioneer)}"}
    created = await call(http, "POST", "/api/tenders", auctioneer_headers, body, status=201)
    return Tender(sale, crew, consignor, {"Authorization": f"Bearer {await token(pg, consignor_account)}"}, lots,
                  bids_from, closes, auctioneer_headers, created)  # fmt: skip


@contextlib.asynccontextmanager
async def scheduled(gateway: Running, redis: Redis, sale: int) -> AsyncIterator[None]:
    """The scheduler opening and closing the tender's windows, as `auction worker` runs it."""
    stop = asyncio.Event()
    task = asyncio.create_task(Scheduler(gateway.store, redis, tick_ms=50, only_sales=frozenset({sale})).run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def until_status(gateway: Running, sale: int, status: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(state.status == status for state in await gateway.store.states(sale)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"sale {sale}: not every lot reached {status}: "
                         f"{[s.status for s in await gateway.store.states(sale)]}")  # fmt: skip


async def share_of(http: aiohttp.ClientSession, officer: Officer, sale: int) -> str:
    """The officer's share, fetched sealed and opened with their own key, as their console does."""
    mine = await call(http, "GET", f"/api/sales/{sale}/tender/shares/mine", officer.headers)
    return open_browser_seal(mine["sealed"], officer.private, records.share_place(sale, mine["x"], mine["officer"]))
