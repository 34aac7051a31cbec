"""The tender scenario (issue 16): how fast the gateway takes sealed bids, and how long the reveal of 10,000 takes.

Each run is one tender of `lots` lots, its key split 2 of 3 among three officers (made as the house makes it,
auction.tender.creation). Once its bid window opens, `bidders` buyers, each on a websocket of its own, send one
sealed bid (`tender_bid`, a total) per lot, one at a time, as fast as the answers come: every bid is sealed by the
gateway on receipt, submitted to the engine and answered with a receipt. The submission rate is the receipts over
the time from the first send to the last receipt. Then the window closes (on time, by the scheduler), and one
officer gives k shares in one request (POST /api/sales/{sale}/tender/shares): the gateway rebuilds the key, opens
every bid, applies the limits, decides each lot through the engine, and answers. The reveal time is that request's,
from send to answer; `recorded_s` adds the wait until PostgreSQL holds every event of the tender (the persister's
copy). The window is sized from the rate seen so far, so a run waits little for its close.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import websockets

from auction import catalog, identity, vetting
from auction.catalog import NewLot, NewSale, SaleSettings, TenderSettings
from auction.diamonds import Diamond
from auction.tender import records
from auction.tender.creation import create_tender
from auction.tender.officers import register_key
from auction.tender.sealing import new_key_pair, open_browser_seal
from loadtest.scenarios import Bench, now_ms

PADDLE_BASE = 7000
THRESHOLD, OFFICERS = 2, 3
FIRST_RATE_GUESS = 400.0  # sealed bids/s assumed before the first run has measured one
ANSWER_TIMEOUT_S = 30.0
BUSY_RETRIES = 50
_SALE_IDS = itertools.count(int(time.time() * 1000) * 10 + 8_000_000)


@dataclass
class Officer:
    account: int
    private: bytes


async def tender_runs(bench: Bench, runs: int, bids: int = 10_000, bidders: int = 100) -> dict[str, Any]:
    """`runs` tenders of `bids` sealed bids from `bidders` buyers (one bid per lot each); each run's figures and
    their medians."""
    bidders = min(bidders, len(bench.tokens))
    lots = -(-bids // bidders)
    rate = FIRST_RATE_GUESS
    results = []
    for run in range(runs):
        result = await one_tender(bench, lots, bidders, window_s=3 * lots * bidders / rate + 5)
        rate = min(rate, result["bids_per_s"]) if run else result["bids_per_s"]  # the slowest seen: no bid too late
        results.append(result)
        print(f"  tender run {run + 1}: {result['receipts']} sealed bids at {result['bids_per_s']:.0f}/s; reveal "
              f"{result['reveal_s']:.2f} s, recorded {result['recorded_s']:.2f} s; refused {result['refused']}",
              flush=True)  # fmt: skip
    return {"runs": results, **{f"{name}_median": _median(results, name) for name in
                                ("bids_per_s", "reveal_s", "recorded_s")}}  # fmt: skip


def _median(results: Sequence[dict[str, Any]], name: str) -> float:
    return float(statistics.median(result[name] for result in results)) if results else 0.0


async def one_tender(bench: Bench, lots: int, bidders: int, window_s: float) -> dict[str, Any]:
    officers = await _officers(bench)
    sale = await _create(bench, lots, bidders, officers, window_s)
    await _until(bench, sale.id, {"open"}, timeout_s=60)
    tokens = bench.tokens[:bidders]
    started = time.perf_counter()
    answers = await asyncio.gather(*(_bidder(bench.ws_url, token, sale.id, lots, index)
                                     for index, token in enumerate(tokens)))  # fmt: skip
    elapsed = time.perf_counter() - started
    receipts = sum(kept for kept, _ in answers)
    refused: dict[str, int] = {}
    for _, reasons in answers:
        for reason, count in reasons.items():
            refused[reason] = refused.get(reason, 0) + count
    await _until(bench, sale.id, {"awaiting_reveal"}, timeout_s=window_s + 60)
    reveal_s, report = await _reveal(bench, sale.id, officers)
    revealed = time.perf_counter()
    await _recorded(bench, sale.id)
    sold = sum(1 for lot in report["lots"] if lot["status"] == "sold")
    return {"sale": sale.id, "lots": lots, "bidders": bidders, "receipts": receipts, "refused": refused,
            "send_s": round(elapsed, 3), "bids_per_s": round(receipts / elapsed, 1), "reveal_s": round(reveal_s, 3),
            "recorded_s": round(reveal_s + time.perf_counter() - revealed, 3), "sold": sold,
            "window_s": round(window_s, 1)}  # fmt: skip


async def _officers(bench: Bench) -> list[Officer]:
    """Three operators, each with an officer key of their own (its private half kept here, as their file)."""
    made = []
    tag = next(_SALE_IDS)
    for index, role in enumerate(("vetting_officer", "settlement_officer", "admin")):
        account = await identity.create_account(bench.pg, f"bench-officer{index}-{tag}@bench.invalid",
                                                f"Bench officer {index}", None, role)  # type: ignore[arg-type]  # fmt: skip
        private, public = new_key_pair()
        await register_key(bench.pg, account.id, base64.b64encode(public).decode())
        made.append(Officer(account.id, private))
    return made


async def _create(bench: Bench, lots: int, bidders: int, officers: list[Officer], window_s: float) -> NewSale:
    """The tender, viewing now, its window opening once its buyers are registered; every bidder registered."""
    sale_id = next(_SALE_IDS)
    start = now_ms()
    bids_from = start + 2_000 + 20 * bidders
    rng = random.Random(sale_id)
    sale = NewSale(
        id=sale_id, name="Load test tender", currency="USD", starts_at_ms=start,
        first_close_ms=bids_from + int(window_s * 1000), format="tender",
        lots=[_parcel(rng, n, bench.consignor) for n in range(1, lots + 1)],
        settings=SaleSettings(stagger_ms=0, tender=TenderSettings(bids_from_ms=bids_from, threshold=THRESHOLD,
                                                                  officers=tuple(o.account for o in officers))),
    )  # fmt: skip
    await create_tender(bench.pg, bench.store, sale, None)
    gate = asyncio.Semaphore(8)

    async def register(index: int, bidder: int) -> None:
        async with gate:
            await catalog.register(bench.pg, sale_id, bidder, PADDLE_BASE + index)
            await vetting.publish_standing(bench.pg, bench.store, sale_id, bidder)

    await asyncio.gather(*(register(i, b) for i, b in enumerate(bench.bidder_ids[:bidders])))
    bench.sales.append(sale_id)
    return sale


def _parcel(rng: random.Random, number: int, consignor: int) -> NewLot:
    points = rng.randrange(300, 3_000)
    diamond = Diamond(carat_points=points, shape="Rough", report_override_reason="rough parcel: viewed, not graded")
    return NewLot(number, f"Rough parcel {number}", consignor, diamond, 100_000, 200_000, 1, 1,
                  {"kp_certificate": f"BW-KP-2026-{number:06d}"})  # fmt: skip


async def _bidder(ws_url: str, token: str, sale: int, lots: int, index: int) -> tuple[int, dict[str, int]]:
    """One buyer's sealed bid on every lot, one at a time: (receipts, refusals by reason)."""
    rng = random.Random(index)
    kept, refused = 0, dict[str, int]()
    async with websockets.connect(f"{ws_url}?token={token}", max_size=2**20, open_timeout=30) as ws:
        await ws.recv()  # welcome
        for lot in rng.sample(range(1, lots + 1), lots):
            bid = {"type": "tender_bid", "sale": sale, "lot": lot, "client_id": f"t{index}-{lot}",
                   "amount": rng.randrange(100_000, 10_000_000)}  # fmt: skip
            answer = await _sent(ws, bid)
            if answer["type"] == "tender_receipt":
                kept += 1
            else:
                reason = str(answer.get("reason") or answer.get("code") or answer["type"])
                refused[reason] = refused.get(reason, 0) + 1
    return kept, refused


async def _sent(ws: Any, bid: dict[str, Any]) -> dict[str, Any]:
    """The answer to a bid, resent with its client id while the store says `busy` (past its capacity it sheds
    load at once rather than queue; a client resends, as PROTOCOL.md says), so every bid gets in."""
    for attempt in range(BUSY_RETRIES):
        await ws.send(json.dumps(bid))
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT_S))
        if answer.get("reason") != "busy":
            return answer
        await asyncio.sleep(0.01 * (attempt + 1))
    return answer


async def _until(bench: Bench, sale: int, statuses: set[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(state.status in statuses for state in await bench.store.states(sale)):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"tender {sale}: its lots did not reach {sorted(statuses)} in {timeout_s:.0f} s")


async def _reveal(bench: Bench, sale: int, officers: list[Officer]) -> tuple[float, dict[str, Any]]:
    """k shares, opened with their officers' keys, given in one request; (its seconds, the report)."""
    kept = {row.officer: row for row in await records.shares_of(bench.pg, sale)}
    shares = [_opened(sale, kept[o.account], o) for o in officers[:THRESHOLD]]
    token = (await identity.issue_token(bench.pg, officers[0].account, "api", name="bench officer")).token
    base = bench.ws_url.replace("ws://", "http://").removesuffix("/ws")
    async with aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=600)) as http:
        started = time.perf_counter()
        async with http.post(f"/api/sales/{sale}/tender/shares", json={"shares": shares},
                             headers={"Authorization": f"Bearer {token}"}) as answer:  # fmt: skip
            report: dict[str, Any] = await answer.json()
        seconds = time.perf_counter() - started
    if answer.status != 200 or report["refused"]:
        raise RuntimeError(f"tender {sale}: the reveal was answered {answer.status}: {str(report)[:500]}")
    return seconds, report


def _opened(sale: int, row: records.SealedShare, officer: Officer) -> str:
    """An officer's share, opened with their own key, as their console does."""
    return open_browser_seal(row.sealed, officer.private, records.share_place(sale, row.x, officer.account))


async def _recorded(bench: Bench, sale: int, timeout_s: float = 120.0) -> None:
    """Until PostgreSQL holds every event of the tender that Redis has."""
    events = sum(state.seq for state in await bench.store.states(sale))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await bench.pg.fetchval("SELECT count(*) FROM lot_events WHERE sale_id = $1", sale) >= events:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"tender {sale}: PostgreSQL did not catch up in {timeout_s:.0f} s")


__all__ = ["one_tender", "tender_runs"]
