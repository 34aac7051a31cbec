"""The live channel under load and across reconnects: every acknowledged bid is on the record, the sequence has
no gaps, the rules decide the result, a watcher resumes without missing or repeating anything, and no buyer
ever sees another's maximum or identity."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from typing import Any

import asyncpg
import pytest
import websockets
from redis.asyncio import Redis

from auction.engine.lot import LotState, replay
from auction.engine.messages import AnyEvent, BidAccepted, MaxBidRaised, PlaceBid, ProxyBidPlaced
from auction.engine.views import public_event
from auction.gateway import fanout
from auction.gateway.fanout import Hub, Outbox, Watch
from auction.persister import Persister
from auction.record import load_lot_events
from tests.gateway.conftest import BidderMaker, Running, SaleMaker

BIDDERS = 50
BIDS_EACH = 4
WAVES = 3
PRIVATE_KEYS = {"bidder", "max_amount", "client_id", "reserve", "leader", "leader_max"}


async def recv(ws: websockets.ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return message


async def must_state(gateway: Running, sale: int, lot: int) -> LotState:
    state = await gateway.store.state(sale, lot)
    assert state is not None
    return state


def keys_in(value: Any) -> set[str]:
    """Every object key anywhere in a decoded JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_in(v) for v in value))
    return set()


def assert_public(frame: dict[str, Any]) -> None:
    """What a buyer may see: no maximum, no bidder identity, never the reserve amount."""
    own = {"ack": {"client_id"}, "rejected": {"client_id"}, "welcome": {"bidder"}}  # the caller's own, only
    allowed = own.get(frame["type"], set())
    assert not (keys_in(frame) & PRIVATE_KEYS) - allowed, frame


class Collector:
    """Reads a websocket in the background, keeping every frame."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
                self.changed.set()

    async def until(self, done: Any, within_s: float = 20) -> None:
        async def wait() -> None:
            while not done(self.frames):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), within_s)

    def events(self, lot: int) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "event" and f["lot"] == lot]


def volley(rng: random.Random, bidder: int, wave: int, floor: int) -> list[dict[str, Any]]:
    """Several increasing bids and maximums from `floor` (the last next amount this bidder was told)."""
    amount = floor + rng.randrange(0, 20_000, 5_000)
    bids = []
    for n in range(BIDS_EACH):
        kind = "max_bid" if rng.random() < 0.3 else "bid"
        bids.append({"type": kind, "amount": amount, "client_id": f"p{bidder}-{wave}-{n}"})
        amount += rng.randrange(5_000, 40_000, 5_000)
    return bids


async def bid_hard(url: str, sale: int, bidder: int, seed: int) -> list[dict[str, Any]]:
    """WAVES times: send BIDS_EACH bids at once, read until each has its answer. Returns every frame seen."""
    rng = random.Random(seed)
    async with websockets.connect(url) as ws:
        collector = Collector(ws)
        await collector.until(lambda fs: any(f["type"] == "welcome" for f in fs))
        floor = 10_000
        for wave in range(WAVES):
            plan = volley(rng, bidder, wave, floor)
            await asyncio.gather(*(ws.send(json.dumps({**bid, "sale": sale, "lot": 1})) for bid in plan))
            wanted = {bid["client_id"] for bid in plan}

            def answered(frames: list[dict[str, Any]], wanted: set[str] = wanted) -> bool:
                return wanted <= {f.get("client_id") for f in frames if f["type"] in ("ack", "rejected")}

            await collector.until(answered, within_s=30)
            floor = max([floor] + [f["next_amount"] for f in collector.frames if f["type"] == "rejected"])
        collector.task.cancel()
        return collector.frames


def leader_by_rules(events: list[AnyEvent]) -> tuple[int, int, int]:
    """(leader, leader's max, runner-up's max) from the record: the highest maximum leads, the earliest on ties
    (raising your own maximum counts from when it was raised)."""
    best: dict[int, tuple[int, int]] = {}  # bidder -> (max, seq it was set at)
    for event in events:
        if isinstance(event, BidAccepted | MaxBidRaised):
            best[event.bidder] = (event.max_amount, event.seq)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1]))
    runner_up = ranked[1][1][0] if len(ranked) > 1 else 0
    return ranked[0][0], ranked[0][1][0], runner_up


async def test_fifty_bidders_hammering_one_lot(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker, redis: Redis, pg: asyncpg.Pool
) -> None:
    sale = await make_sale(lots=1, closes_in_s=3600, reserve=100_000)
    bidders = [await make_bidder(sale.id, paddle) for paddle in range(1, BIDDERS + 1)]
    async with websockets.connect(gateway.ws) as watcher_ws:
        watcher = Collector(watcher_ws)
        await watcher_ws.send(json.dumps({"type": "subscribe", "sale": sale.id}))
        await watcher.until(lambda fs: any(f["type"] == "snapshot" for f in fs))

        seen = await asyncio.gather(
            *(
                bid_hard(f"{gateway.ws}?token={token}", sale.id, bidder.id, n)
                for n, (bidder, token) in enumerate(bidders)
            )
        )
        final = await gateway.store.state(sale.id, 1)
        assert final is not None
        await watcher.until(lambda fs: len(watcher.events(1)) >= final.seq)

    await Persister(redis, pg).drain_once()
    record = await load_lot_events(pg, sale.id, 1)
    assert [e.seq for e in record] == list(range(1, final.seq + 1))  # no gaps, nothing missing
    assert replay(final.terms, record) == final  # the result is the rules applied to the record

    by_client = {(e.bidder, e.client_id): e for e in record if isinstance(e, BidAccepted | MaxBidRaised)}
    acks = [
        (bidder.id, f) for (bidder, _), frames in zip(bidders, seen, strict=True) for f in frames if f["type"] == "ack"
    ]
    rejected = [
        (bidder.id, f)
        for (bidder, _), frames in zip(bidders, seen, strict=True)
        for f in frames
        if f["type"] == "rejected"
    ]
    assert len(acks) + len(rejected) == BIDDERS * BIDS_EACH * WAVES
    assert len(acks) >= 20, "many bids must have been accepted"
    print(f"{len(acks)} acknowledged, {len(rejected)} refused, {final.seq} events, price {final.price}")
    assert len(rejected) > BIDDERS, "and many refused: they raced"
    for bidder_id, ack in acks:
        assert (bidder_id, ack["client_id"]) in by_client, ack  # every acknowledged bid is on the record
        assert ack["seq"] <= final.seq
    for bidder_id, rej in rejected:
        assert (bidder_id, rej["client_id"]) not in by_client, rej
    assert set(by_client) == {(b, a["client_id"]) for b, a in acks}  # and nothing else is

    leader, leader_max, runner_up = leader_by_rules(record)
    assert (final.leader, final.leader_max) == (leader, leader_max)
    assert runner_up <= final.price <= leader_max
    # The price was set by the last visible bid, against the leader's maximum as it stood then: a maximum the
    # leader raised afterwards never moves the price (no bidding against yourself).
    price_setter = [e for e in record if isinstance(e, BidAccepted | ProxyBidPlaced)][-1]
    max_then = price_setter.max_amount
    assert final.price >= min(max_then, final.terms.ladder.next_bid(runner_up)) or max_then == runner_up
    if final.price < final.terms.reserve:
        assert leader_max < final.terms.reserve  # a maximum that reaches the reserve lifts the price to it

    assert [f["seq"] for f in watcher.events(1)] == list(range(1, final.seq + 1))  # the watcher saw it all, once
    expected = [json.loads(json.dumps(_public(final.terms, e))) for e in record]
    assert [f["event"] for f in watcher.events(1)] == expected
    for frame in watcher.frames + [f for frames in seen for f in frames]:
        assert_public(frame)
    for (bidder, _), frames in zip(bidders, seen, strict=True):
        welcome = next(f for f in frames if f["type"] == "welcome")
        assert welcome["bidder"]["id"] == bidder.id  # a buyer is told who they are, and nobody else is


def _public(terms: Any, event: AnyEvent) -> dict[str, Any]:
    import msgspec

    result: dict[str, Any] = msgspec.to_builtins(public_event(terms, event))
    return result


async def place(ws: websockets.ClientConnection, sale: int, lot: int, amount: int, client_id: str) -> None:
    await ws.send(json.dumps({"type": "bid", "sale": sale, "lot": lot, "amount": amount, "client_id": client_id}))


async def test_a_watcher_resumes_after_a_reconnect_with_nothing_missed_or_repeated(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=2, closes_in_s=3600)
    _, token_a = await make_bidder(sale.id, 1)
    _, token_b = await make_bidder(sale.id, 2)
    async with (
        websockets.connect(f"{gateway.ws}?token={token_a}") as a_ws,
        websockets.connect(f"{gateway.ws}?token={token_b}") as b_ws,
    ):
        a, b = Collector(a_ws), Collector(b_ws)
        amounts = iter(range(10_000, 10_000_000, 50_000))

        async def rally(rounds: int) -> None:
            for n in range(rounds):
                for lot in (1, 2):
                    bidder = (a_ws, a) if n % 2 == 0 else (b_ws, b)
                    cid = f"{lot}-{n}-{len(bidder[1].frames)}"
                    await place(bidder[0], sale.id, lot, next(amounts), cid)
                    await bidder[1].until(lambda fs, c=cid: any(f.get("client_id") == c for f in fs))

        last: dict[int, int] = {}
        async with websockets.connect(gateway.ws) as w1:
            watcher = Collector(w1)
            await w1.send(json.dumps({"type": "subscribe", "sale": sale.id}))
            await watcher.until(lambda fs: sum(f["type"] == "snapshot" for f in fs) == 2)
            await rally(3)
            state = {lot: await must_state(gateway, sale.id, lot) for lot in (1, 2)}
            await watcher.until(lambda fs: all(len(watcher.events(lot)) == state[lot].seq for lot in (1, 2)))
            last = {lot: watcher.events(lot)[-1]["seq"] for lot in (1, 2)}
        await rally(4)  # while the watcher is away

        async with websockets.connect(gateway.ws) as w2:
            back = Collector(w2)
            await w2.send(json.dumps({"type": "subscribe", "sale": sale.id, "lots": None, "resume": last}))
            await rally(2)  # and more, live, after it is back
            final = {lot: await must_state(gateway, sale.id, lot) for lot in (1, 2)}
            await back.until(
                lambda fs: all(back.events(lot) and back.events(lot)[-1]["seq"] == final[lot].seq for lot in (1, 2))
            )
            await asyncio.sleep(0.2)  # room for a repeat to show up, if there were one
            for lot in (1, 2):
                seqs = [f["seq"] for f in back.events(lot)]
                assert seqs == list(range(last[lot] + 1, final[lot].seq + 1)), (lot, seqs)
                stored = await gateway.store.events_after(sale.id, lot, last[lot])
                expected = [_public(final[lot].terms, e) for e in stored]
                assert [f["event"] for f in back.events(lot)] == expected
            assert not [f for f in back.frames if f["type"] == "snapshot"]  # resumed lots get events, not snapshots


async def test_resume_for_some_lots_and_snapshots_for_the_rest(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=2, closes_in_s=3600)
    _, token = await make_bidder(sale.id, 1)
    async with websockets.connect(f"{gateway.ws}?token={token}") as ws:
        bidder = Collector(ws)
        for n, lot in enumerate((1, 1, 2)):
            await place(ws, sale.id, lot, 10_000 + n * 100_000, f"c{n}")
            await bidder.until(lambda fs, c=f"c{n}": any(f.get("client_id") == c for f in fs))
    async with websockets.connect(gateway.ws) as w:
        watcher = Collector(w)
        await w.send(json.dumps({"type": "subscribe", "sale": sale.id, "lots": [1, 2], "resume": {"1": 1}}))
        await watcher.until(lambda fs: any(f["type"] == "snapshot" for f in fs) and len(watcher.events(1)) >= 1)
        await asyncio.sleep(0.1)
        state1 = await gateway.store.state(sale.id, 1)
        assert state1 is not None
        assert [f["seq"] for f in watcher.events(1)] == list(range(2, state1.seq + 1))
        snapshots = [f for f in watcher.frames if f["type"] == "snapshot"]
        assert [s["lot"] for s in snapshots] == [2]
        assert "leader" not in snapshots[0]["lot_state"] and "reserve" not in snapshots[0]["lot_state"]


async def test_a_big_subscription_waits_for_room_instead_of_lagging(
    gateway: Running, make_sale: SaleMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    sale = await make_sale(lots=12)
    monkeypatch.setattr(fanout, "OUTBOX_FRAMES", 4)  # twelve snapshots through room for four
    monkeypatch.setattr(fanout, "WRITE_BUFFER_BYTES", 0)  # as if the socket were slow: every frame queues
    async with websockets.connect(gateway.ws) as ws:
        await recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id}))
        assert [(await recv(ws))["lot"] for _ in range(12)] == list(range(1, 13))


async def test_a_watcher_that_cannot_keep_up_is_closed_with_1013(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    sale = await make_sale(lots=8)
    bidder, _ = await make_bidder(sale.id, 1)
    monkeypatch.setattr(fanout, "OUTBOX_FRAMES", 3)
    monkeypatch.setattr(fanout, "WRITE_BUFFER_BYTES", 0)  # every socket counts as slow: frames queue
    async with websockets.connect(gateway.ws) as ws, websockets.connect(gateway.ws) as calm:
        await recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id}))
        await calm.send(json.dumps({"type": "subscribe", "sale": sale.id, "lots": [8]}))
        assert [(await recv(ws))["type"] for _ in range(8)] == ["snapshot"] * 8
        # Bids on every lot at once: the store commits them together, the feed reads them in one burst, and
        # this watcher's queue of three frames overflows before its drain runs.
        now = int(time.time() * 1000)
        bids = [PlaceBid(now, bidder.id, 1, 10_000, f"c{lot}") for lot in range(1, 8)]
        await asyncio.gather(*(gateway.store.execute(sale.id, lot, bid) for lot, bid in enumerate(bids, 1)))
        frames = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                frames.append(await recv(ws))
        assert frames[-1]["code"] == "lagged"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert (await recv(calm))["type"] == "welcome"  # the others are not held up
        assert (await recv(calm))["type"] == "snapshot"


async def test_the_hub_fills_a_gap_and_never_delivers_twice(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker, redis: Redis
) -> None:
    sale = await make_sale(lots=1, closes_in_s=3600)
    _, token = await make_bidder(sale.id, 1)
    async with websockets.connect(f"{gateway.ws}?token={token}") as ws:
        collector = Collector(ws)
        await ws.send(json.dumps({"type": "max_bid", "sale": sale.id, "lot": 1, "amount": 900_000, "client_id": "m"}))
        await collector.until(lambda fs: any(f.get("client_id") == "m" for f in fs))
    events = await gateway.store.events_after(sale.id, 1, 0)
    assert len(events) >= 2
    hub = Hub(redis, gateway.store)
    outbox = Outbox()
    watch = Watch(sale.id, None, outbox)
    watch.priming = False
    watch.last_seq[1] = 0
    last = events[-1]
    frame = await hub.event_frame(sale.id, 1, last)
    assert frame is not None
    await hub.offer(watch, 1, last.seq, frame)  # arrives first: the earlier ones are fetched before it
    await hub.offer(watch, 1, last.seq, frame)  # and again: ignored
    await hub.offer(watch, 1, 1, frame)  # an old one: ignored
    sent = [json.loads(f) for f in await outbox.take()]
    assert [f["seq"] for f in sent] == [e.seq for e in events]
    await hub.close()


async def test_proxy_bids_show_as_auto_without_the_maximum(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=1, closes_in_s=3600, reserve=10_000)
    _, token_a = await make_bidder(sale.id, 1)
    _, token_b = await make_bidder(sale.id, 2)
    async with (
        websockets.connect(f"{gateway.ws}?token={token_a}") as a_ws,
        websockets.connect(f"{gateway.ws}?token={token_b}") as b_ws,
    ):
        a, b = Collector(a_ws), Collector(b_ws)
        await b_ws.send(json.dumps({"type": "subscribe", "sale": sale.id}))
        await b.until(lambda fs: any(f["type"] == "snapshot" for f in fs))
        await a_ws.send(json.dumps({"type": "max_bid", "sale": sale.id, "lot": 1, "amount": 777_000, "client_id": "a"}))
        await a.until(lambda fs: any(f.get("client_id") == "a" for f in fs))
        ack_a = next(f for f in a.frames if f["type"] == "ack")
        assert (ack_a["leading"], ack_a["your_max"], ack_a["price"]) == (True, 777_000, 10_000)
        await place(b_ws, sale.id, 1, 20_000, "b")
        await b.until(lambda fs: any(f.get("client_id") == "b" for f in fs))
        ack_b = next(f for f in b.frames if f.get("client_id") == "b")
        assert (ack_b["type"], ack_b["leading"], ack_b["your_max"]) == ("ack", False, 20_000)
        await b.until(lambda fs: any(f["type"] == "event" and f["event"].get("auto") for f in fs))
        for frame in b.frames:
            assert_public(frame)
            assert "777000" not in json.dumps(frame)  # A's maximum never reaches B
        state = await gateway.store.state(sale.id, 1)
        assert state is not None and state.price == state.terms.ladder.next_bid(20_000)  # answered by one increment


def test_private_event_types_exist_for_the_check() -> None:
    # assert_public relies on these being the private fields of the record
    assert {"bidder", "max_amount"} <= set(ProxyBidPlaced.__struct_fields__)


async def test_shutdown_closes_watchers_with_1001_and_stops_the_feeds(
    redis: Redis, pg: asyncpg.Pool, make_sale: SaleMaker
) -> None:
    from aiohttp.test_utils import TestServer

    from auction.gateway.app import GATEWAY
    from auction.store import LotStore
    from ops.app import make_app

    sale = await make_sale(lots=1)
    store = LotStore(redis)
    app = make_app(redis, pg, store)
    server = TestServer(app)
    await server.start_server()
    async with websockets.connect(str(server.make_url("/ws")).replace("http", "ws", 1)) as ws:
        await recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id}))
        assert (await recv(ws))["type"] == "snapshot"
        assert app[GATEWAY].hub.sales == [sale.id]
        await server.close()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert app[GATEWAY].hub.sales == []
    await store.close()
