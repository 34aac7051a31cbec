"""The live-sale scenario: how fast the room hears what happens at the rostrum (issue 13's target: 50 ms p99).

One live sale, run by an auctioneer and a clerk over their own websockets, with online bidders and anonymous
watchers connected to the same gateway. Lot after lot, the auctioneer opens it, then bids alternate: an online
bidder bids at the ask (the sale takes online bids at once), and the clerk takes a floor bid for another paddle.
Each bid is timed from the moment its frame is sent to:
- the clerk's console receiving its record (online bids: what the clerk must see to run the room);
- every watcher receiving its public event (online bids: 200 watchers, the room at large);
- every online bidder receiving its public event (the clerk's floor bids: a bidder must know they were outbid).
The next bid is sent only once everyone has heard the last one (or after a timeout, counted as missing), so the
figures are delivery times, not queueing behind our own load. Each run is a few lots; the report takes medians.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import websockets

from auction import catalog, identity, vetting
from auction.catalog import NewSale, SaleSettings
from auction.engine.ladder import DIAMOND_LADDER_USD
from auction.engine.state import LiveTerms
from loadtest.generator import new_histogram, percentiles_ms, record_us
from loadtest.scenarios import Bench, now_ms
from ops.demo.sale import demo_lot

HEARD_TIMEOUT_S = 5.0  # a bid nobody heard of within this is counted missing, and the run goes on
PADDLE_BASE = 5000
_SALE_IDS = itertools.count(int(time.time() * 1000) * 10 + 7_000_000)

Key = tuple[int, int]  # (lot, amount): a live lot's bids rise, so the amount names the bid


@dataclass
class Listener:
    """One websocket that notes when each bid reached it: `record` frames for operators, public `bid` events
    for everyone else."""

    ws: Any
    operator: bool
    heard: dict[Key, int] = field(default_factory=dict)  # bid -> perf_counter_ns at receipt
    answers: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    ask: dict[int, int] = field(default_factory=dict)  # lot -> the ask last announced
    waiters: dict[Key, asyncio.Event] = field(default_factory=dict)

    async def read(self) -> None:
        async for frame in self.ws:
            received = time.perf_counter_ns()
            message = json.loads(frame)
            kind = message["type"]
            if kind in ("event", "record"):
                self._on_event(message["lot"], message["event"], received)
            else:
                key = message.get("request_id") or message.get("client_id")
                future = self.answers.pop(key, None) if key is not None else None
                if future is not None and not future.done():
                    future.set_result(message)

    def _on_event(self, lot: int, event: dict[str, Any], received: int) -> None:
        if event.get("ask") is not None:
            self.ask[lot] = event["ask"]
        if event["type"] == ("BidAccepted" if self.operator else "bid"):
            key = (lot, event["amount"])
            self.heard.setdefault(key, received)
            waiter = self.waiters.pop(key, None)
            if waiter is not None:
                waiter.set()

    async def until_heard(self, key: Key) -> None:
        if key in self.heard:
            return
        waiter = self.waiters.setdefault(key, asyncio.Event())
        await waiter.wait()

    async def ask_for(self, message: dict[str, Any], key_field: str, key: str) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.answers[key] = future
        await self.ws.send(json.dumps({**message, key_field: key}))
        return await asyncio.wait_for(future, HEARD_TIMEOUT_S)


@dataclass
class Room:
    auctioneer: Listener
    clerk: Listener
    bidders: list[Listener]
    watchers: list[Listener]
    tasks: list[asyncio.Task[None]]

    def everyone(self) -> list[Listener]:
        return [self.auctioneer, self.clerk, *self.bidders, *self.watchers]


@dataclass
class Timings:
    online_to_clerk: Any = field(default_factory=new_histogram)
    online_to_watchers: Any = field(default_factory=new_histogram)
    floor_to_bidders: Any = field(default_factory=new_histogram)
    online_ack: Any = field(default_factory=new_histogram)
    missing: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # reason -> count

    def refuse(self, answer: dict[str, Any]) -> None:
        reason = str(answer.get("reason") or answer.get("code") or answer["type"])
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            "online_to_clerk_ms": percentiles_ms(self.online_to_clerk),
            "online_to_watchers_ms": percentiles_ms(self.online_to_watchers),
            "floor_to_bidders_ms": percentiles_ms(self.floor_to_bidders),
            "online_ack_ms": percentiles_ms(self.online_ack),
            "missing_deliveries": self.missing,
            "refused": self.refused,
        }


async def live_sale(
    bench: Bench, runs: int, lots: int = 4, rounds: int = 20, watchers: int = 200, bidders: int = 20
) -> dict[str, Any]:
    """`runs` runs, each a live sale of `lots` lots with `rounds` bids each; p50/p99 per run and their medians."""
    results = []
    for run in range(runs):
        result = await _one_sale(bench, lots, rounds, watchers, min(bidders, len(bench.tokens)))
        results.append(result)
        print(f"  live run {run + 1}: {_line(result)}", flush=True)
    return {"runs": results, **_medians(results)}


def _medians(results: Sequence[dict[str, Any]]) -> dict[str, float]:
    def median(name: str, point: str) -> float:
        values = sorted(result[name][point] for result in results)
        return values[len(values) // 2] if values else 0.0

    return {
        f"{name}_{point}_median": median(f"{name}_ms", point)
        for name in ("online_to_clerk", "online_to_watchers", "floor_to_bidders", "online_ack")
        for point in ("p50", "p99")
    }


def _line(result: dict[str, Any]) -> str:
    return (
        f"online->clerk p99 {result['online_to_clerk_ms']['p99']:.1f} ms, "
        f"online->{result['watchers']} watchers p99 {result['online_to_watchers_ms']['p99']:.1f} ms, "
        f"floor->{result['bidders']} bidders p99 {result['floor_to_bidders_ms']['p99']:.1f} ms, "
        f"missing {result['missing_deliveries']}, refused {result['refused']}"
    )


async def _one_sale(bench: Bench, lots: int, rounds: int, watchers: int, bidders: int) -> dict[str, Any]:
    sale = await _build(bench, lots, bidders)
    ws_url = bench.ws_url
    operators = {role: await _operator_token(bench, role, sale.id) for role in ("auctioneer", "clerk")}
    room = await _connect(ws_url, sale.id, operators, bench.tokens[:bidders], watchers)
    timings = Timings()
    try:
        for lot in sale.lots:
            await _sell(room, sale.id, lot.lot, lot.opening, rounds, timings)
    finally:
        for listener in room.everyone():
            await listener.ws.close()
        for task in room.tasks:
            task.cancel()
    return {**timings.summary(), "watchers": watchers, "bidders": bidders, "lots": lots, "rounds": rounds}


async def _build(bench: Bench, lots: int, bidders: int) -> NewSale:
    sale_id = next(_SALE_IDS)
    rng = random.Random(sale_id)
    sale = NewSale(
        id=sale_id,
        name="Load test live sale",
        currency="USD",
        starts_at_ms=now_ms(),
        first_close_ms=now_ms() + 3_600_000,
        lots=[demo_lot(rng, n, bench.consignor) for n in range(1, lots + 1)],
        format="live",
        settings=SaleSettings(ladder=DIAMOND_LADDER_USD, live=LiveTerms(auto_accept=True)),
    )
    await catalog.insert_sale(bench.pg, sale)
    await bench.store.create_lots(catalog.terms_for(sale))
    for index, bidder in enumerate(bench.bidder_ids[:bidders]):
        await catalog.register(bench.pg, sale_id, bidder, PADDLE_BASE + index)
        await vetting.publish_standing(bench.pg, bench.store, sale_id, bidder)
    bench.sales.append(sale_id)
    return sale


async def _operator_token(bench: Bench, role: identity.Role, sale: int) -> str:
    email = f"bench-{role}-{sale}@bench.invalid"
    account = await identity.create_account(bench.pg, email, f"Bench {role}", "bench password, not secret", role)
    return (await identity.issue_token(bench.pg, account.id, "api", name=f"bench {role}")).token


async def _connect(
    ws_url: str, sale: int, operators: dict[str, str], bidder_tokens: Sequence[str], watchers: int
) -> Room:
    async def listener(token: str | None, operator: bool) -> Listener:
        url = f"{ws_url}?token={token}" if token else ws_url
        ws = await websockets.connect(url, max_size=2**22, open_timeout=30)
        await ws.recv()  # welcome
        await ws.send(json.dumps({"type": "subscribe", "sale": sale, "lots": None, "resume": None}))
        return Listener(ws, operator)

    auctioneer = await listener(operators["auctioneer"], True)
    clerk = await listener(operators["clerk"], True)
    online = [await listener(token, False) for token in bidder_tokens]
    gate = asyncio.Semaphore(50)

    async def watcher() -> Listener:
        async with gate:
            return await listener(None, False)

    crowd = list(await asyncio.gather(*(watcher() for _ in range(watchers))))
    room = Room(auctioneer, clerk, online, crowd, [])
    room.tasks = [asyncio.create_task(each.read()) for each in room.everyone()]
    await asyncio.sleep(0.5)  # every subscription's snapshot in
    return room


async def _sell(room: Room, sale: int, lot: int, opening: int, rounds: int, timings: Timings) -> None:
    ids = itertools.count(1)
    opened = await _rostrum(room.auctioneer, "open_lot", sale, lot, f"open-{sale}-{lot}")
    if opened["type"] != "rostrum_ack":
        raise RuntimeError(f"open_lot {lot} refused: {opened}")
    ask = opening
    for round_no in range(rounds):
        if round_no % 2 == 0:
            bidder = room.bidders[(round_no // 2) % len(room.bidders)]
            ask = await _online_bid(room, bidder, sale, lot, ask, f"b-{sale}-{lot}-{next(ids)}", timings)
        else:
            # a paddle other than the online bidder's before and after: a leader may not bid against themselves
            paddle = PADDLE_BASE + ((round_no // 2) + len(room.bidders) // 2) % len(room.bidders)
            ask = await _floor_bid(room, sale, lot, ask, paddle, f"f-{sale}-{lot}-{next(ids)}", timings)
    hammer = await _rostrum(room.auctioneer, "hammer", sale, lot, f"hammer-{sale}-{lot}")
    if hammer["type"] != "rostrum_ack":  # below the reserve: the lot is passed, and the next one can open
        await _rostrum(room.auctioneer, "pass_lot", sale, lot, f"pass-{sale}-{lot}")


async def _online_bid(
    room: Room, bidder: Listener, sale: int, lot: int, ask: int, client_id: str, timings: Timings
) -> int:
    sent = time.perf_counter_ns()
    answer = await bidder.ask_for({"type": "bid", "sale": sale, "lot": lot, "amount": ask}, "client_id", client_id)
    if answer["type"] != "ack":
        timings.refuse(answer)
        return int(answer.get("next_amount") or ask)
    record_us(timings.online_ack, time.perf_counter_ns() - sent)
    key = (lot, ask)
    await _until_everyone_heard(room, key, timings)
    _note(timings.online_to_clerk, [room.clerk], key, sent)
    _note(timings.online_to_watchers, room.watchers, key, sent)
    return room.clerk.ask.get(lot, ask)


async def _floor_bid(room: Room, sale: int, lot: int, ask: int, paddle: int, request_id: str, timings: Timings) -> int:
    sent = time.perf_counter_ns()
    answer = await _rostrum(room.clerk, "take_bid", sale, lot, request_id, paddle=paddle, source="floor")
    if answer["type"] != "rostrum_ack":
        timings.refuse(answer)
        return ask
    key = (lot, ask)
    await _until_everyone_heard(room, key, timings)
    _note(timings.floor_to_bidders, room.bidders, key, sent)
    return room.clerk.ask.get(lot, ask)


async def _rostrum(desk: Listener, kind: str, sale: int, lot: int, request_id: str, **fields: Any) -> dict[str, Any]:
    return await desk.ask_for({"type": kind, "sale": sale, "lot": lot, **fields}, "request_id", request_id)


async def _until_everyone_heard(room: Room, key: Key, timings: Timings) -> None:
    waits = [asyncio.create_task(listener.until_heard(key)) for listener in room.everyone()]
    _done, pending = await asyncio.wait(waits, timeout=HEARD_TIMEOUT_S)
    for task in pending:
        task.cancel()
    timings.missing += len(pending)
    # the ask that follows the bid comes in its own event, right behind it
    await asyncio.sleep(0.005)


def _note(hist: Any, listeners: Sequence[Listener], key: Key, sent: int) -> None:
    for listener in listeners:
        received = listener.heard.get(key)
        if received is not None:
            record_us(hist, max(0, received - sent))
