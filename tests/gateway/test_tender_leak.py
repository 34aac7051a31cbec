"""The seal, tested as a property of the whole system (issue 16): bids with distinctive amounts, in total and per
carat, and then a search of everything the house keeps or says, in every encoding the code uses
(tests/gateway/leak_search.py): every Redis key and stream, every row of every PostgreSQL table, every log line of
the gateway and the worker's loops (captured), every GET route walked as each role, and every websocket frame sent
to an anonymous watcher, a buyer, the consignor and an operator. Before the reveal none of the amounts, nor the
salts of their commitments, is anywhere. After it the counting bids' amounts are in the store, the record and the
answers; a replaced bid's amount is still nowhere (it is never opened); and the tender's private key, rebuilt here
from two shares, and the shares themselves were never anywhere, before or after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import asyncpg
import websockets
from redis.asyncio import Redis

from auction.engine.formats.tender import total_of
from auction.persister import Persister
from auction.tender.shamir import Share, combine
from tests.gateway.conftest import BidderMaker, PeopleMaker, Running
from tests.gateway.leak_search import Captured, hits, postgres_blobs, redis_blobs
from tests.gateway.tender_setup import TenderLot, call, create, scheduled, share_of, until_status

# Distinctive amounts, drawn afresh each run: a Redis shared between runs holds earlier runs' revealed tenders.
_RUN = secrets.randbelow(10**6)
AMOUNT = 7_319_000_000 + _RUN  # buyer A's total on lot 1, e.g. 7,319,457,113
PER_CARAT = 5_342_000_000 + _RUN  # buyer B's per-carat bid on lot 2, a parcel of 1.37 ct
TOTAL = total_of(PER_CARAT, 137)  # about 7,318,5xx,xxx: what B's bid counts at
REPLACED = 6_180_000_000 + _RUN  # buyer C's first bid on lot 1, replaced before the close: never opened
LATEST = 6_181_000_000 + _RUN  # ... by this one
LOTS = [TenderLot(1, 100_000, 250, "ZA-KP-2026-7001"), TenderLot(2, 100_000, 137, "BW-KP-2026-7002")]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def captured_logs() -> Any:
    handler, root = Captured(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@contextlib.asynccontextmanager
async def watching(gateway: Running, sale: int, who: dict[str, dict[str, str]]) -> AsyncIterator[dict[str, list[str]]]:
    """A websocket per party subscribed to the sale, every frame they are sent kept as text."""
    frames: dict[str, list[str]] = {name: [] for name in who}

    async def watch(name: str, headers: dict[str, str]) -> None:
        async with websockets.connect(gateway.ws, additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "subscribe", "sale": sale}))
            async for frame in ws:
                frames[name].append(frame if isinstance(frame, str) else frame.decode())

    tasks = [asyncio.create_task(watch(name, headers)) for name, headers in who.items()]
    try:
        yield frames
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def answers(http: aiohttp.ClientSession, app: Any, sale: int, ids: dict[str, int],
                  parties: dict[str, dict[str, str]]) -> list[tuple[str, bytes]]:  # fmt: skip
    """Every GET route of the API walked as each party: the sale's ids where a route names them."""
    paths = sorted({r.resource.canonical for r in app.router.routes() if r.method == "GET"})
    got = []
    for path in paths:
        if not path.startswith("/api/") and path != "/metrics":
            continue  # the pages and their assets are files: what they show comes through these routes
        for lot in (1, 2) if "{lot}" in path else (0,):
            known = {**ids, "sale": sale, "lot": lot}
            url = re.sub(r"\{(\w+)\}", lambda m, known=known: str(known.get(m[1], 1)), path)
            for party, headers in parties.items():
                async with http.get(url, headers=headers) as answer:
                    got.append((f"GET {url} as {party} ({answer.status})", await answer.read()))
    return got


async def test_no_amount_is_anywhere_before_the_reveal_and_each_counting_one_is_after(
    gateway: Running, pg: asyncpg.Pool, redis: Redis, make_bidder: BidderMaker, make_people: PeopleMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    sale = new_sale_id()
    with captured_logs() as logs:
        async with aiohttp.ClientSession(gateway.http) as http:
            tender = await create(pg, http, sale, LOTS)
            (a, a_token), (_, b_token), (_, c_token) = [await make_bidder(sale, 20 + n) for n in range(3)]
            people = await make_people(consignor_id=tender.consignor)
            operators = {role: await people[role].headers(pg) for role in ("auctioneer", "clerk", "admin")}
            parties = {
                "anonymous": {},
                "buyer A": bearer(a_token),
                "buyer B": bearer(b_token),
                "consignor": tender.consignor_headers,
                "officer": tender.officers[0].headers,
                **operators,
            }
            ids = {"buyer": a.id, "company": a.id, "consignor": tender.consignor}
            persister = Persister(redis, pg, only_sales=frozenset({sale}))
            watchers = {name: parties[name] for name in ("anonymous", "buyer A", "consignor", "officer")}
            async with watching(gateway, sale, watchers) as frames, scheduled(gateway, redis, sale):
                await until_status(gateway, sale, "open")
                receipts = [
                    await call(http, "POST", f"/api/sales/{sale}/lots/1/tender-bids", bearer(a_token),
                               {"client_id": "a1", "amount": AMOUNT}),
                    await call(http, "POST", f"/api/sales/{sale}/lots/2/tender-bids", bearer(b_token),
                               {"client_id": "b1", "per_carat": PER_CARAT}),
                    await call(http, "POST", f"/api/sales/{sale}/lots/1/tender-bids", bearer(c_token),
                               {"client_id": "c1", "amount": REPLACED}),
                    await call(http, "POST", f"/api/sales/{sale}/lots/1/tender-bids", bearer(c_token),
                               {"client_id": "c2", "amount": LATEST}),
                ]  # fmt: skip
                await until_status(gateway, sale, "awaiting_reveal")
                await persister.drain_once()
                shares = [await share_of(http, officer, sale) for officer in tender.officers[:2]]
                hidden: dict[str, int | bytes | str] = {
                    "amount": AMOUNT, "per_carat": PER_CARAT, "total": TOTAL, "replaced": REPLACED, "latest": LATEST,
                    **{f"salt {r['client_id']}": r["salt"] for r in receipts},
                }  # fmt: skip
                before = [*await redis_blobs(redis), *await postgres_blobs(pg), *logs.blobs(),
                          *await answers(http, gateway.app, sale, ids, parties),
                          *((f"frame to {n}", "\n".join(f).encode()) for n, f in frames.items())]  # fmt: skip
                assert len(before) > 100 and any("record" in frame for frame in frames["officer"])
                assert hits(before, hidden) == []

                for officer, share in zip(tender.officers, shares, strict=False):
                    await call(http, "POST", f"/api/sales/{sale}/tender/shares", officer.headers,
                               {"shares": [share]}, status=None)  # fmt: skip
                await until_status(gateway, sale, "sold")
                await persister.drain_once()
                await asyncio.sleep(0.2)  # the watchers' last frames
                after = {
                    "redis": await redis_blobs(redis), "postgres": await postgres_blobs(pg),
                    "answers": await answers(http, gateway.app, sale, ids, parties),
                    "frames": [(f"frame to {n}", "\n".join(f).encode()) for n, f in frames.items()],
                }  # fmt: skip
            key = combine([Share.decode(share) for share in shares], 2)
    counting = {"amount": AMOUNT, "per_carat": PER_CARAT, "total": TOTAL, "latest": LATEST}
    for where in ("redis", "postgres", "answers", "frames"):
        found = {hit.split(" as ")[0] for hit in hits(after[where], counting)}
        assert found == set(counting), f"after the reveal, {where} holds only {found}"
    everything = [*before, *(blob for blobs in after.values() for blob in blobs), *logs.blobs()]
    assert hits(everything, {"replaced": REPLACED, "salt c1": receipts[2]["salt"]}) == []  # never opened
    never = {"private key": key, **{f"share {i}": share for i, share in enumerate(shares)}}
    assert hits(everything, never) == []
