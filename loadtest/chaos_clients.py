"""The chaos run's clients: bidder programs that log every bid and every answer, and watchers that log every event.

Both speak the real protocol over real websockets (the lean client of loadtest/wire.py) to either gateway, and
behave as docs/PROTOCOL.md tells a client to:
- A bidder program is one buyer's program on one connection, to its home gateway or, when that one is down,
  the other. It bids at its share of the run's rate, one bid in flight at a time, so that an error frame
  (which may not name the bid) is always about the bid in flight. A bid answered `unavailable`, `busy` or
  `rate_limited`, or whose connection dropped or went silent, is sent again with the same client_id after
  reconnecting if need be: the protocol promises that a resent client_id returns the first answer and never
  bids twice. Every answer is logged against its client_id, so the checks can see two different ones.
- A watcher subscribes to the whole sale and keeps the last seq of each lot. After any reconnect it
  subscribes again with `resume` set to those seqs, and logs every event it gets, so the checks can see a
  gap, a repeat, or an event that differs from the record.

Bidders choose their bids from a `Market` pooled from the watchers' public feed and their own answers: the
least a rival may bid, who leads, which lots are still open. It only makes the bids sensible (mostly
accepted, some refused, hidden maximums raised); the checks never trust it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from auction.engine.lot import LotTerms
from loadtest import wire
from loadtest.chaos_sale import Buyer, now_ms
from loadtest.wire import WireError, WireSocket
from ops.demo.sale import PASSING_EVERY

CONNECT_TIMEOUT_S = 3.0
ANSWER_TIMEOUT_S = 5.0  # no answer this long on a live connection: it is treated as dropped, and the bid resent
MAX_SENDS = 60  # sends of one bid before it is given up as unresolved (a bounded run never loops for ever)
PAUSE_BEFORE_RESEND_S = {"unavailable": 0.2, "busy": 0.1, "rate_limited": 1.0, "dropped": 0.1, "timeout": 0.1}
LATE_BID_MS = 500  # bidders keep bidding on a lot this long past its known end, so some bids come `too_late`
EARLY_BID_MS = 200  # and start this long before the lots open, so a few come `lot_not_open`
FINAL_STATUSES = frozenset({"sold", "passed", "withdrawn"})
PROBLEMS_KEPT = 50  # per watcher: enough to show a fault, not enough to bury the report

BidKind = Literal["bid", "max_bid"]
CONNECT_ERRORS = (OSError, WireError, TimeoutError, ValueError)

_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()


def decode(payload: bytes) -> dict[str, Any]:
    message = _DECODER.decode(payload)
    return message if isinstance(message, dict) else {}


# ---- the market the bidders share --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedBid:
    lot: int
    kind: BidKind
    amount: int


class Market:
    """What the bidder programs know of each lot, pooled. Only for choosing bids: never used by the checks."""

    OPEN_LOTS_TTL_S = 0.1

    def __init__(self, terms: Sequence[LotTerms], companies_by_paddle: dict[int, int]) -> None:
        self.ladder = terms[0].ladder
        self.opens_ms = min(t.start_ms for t in terms) - EARLY_BID_MS
        self.next_minimum = {t.lot: t.opening for t in terms}
        self.end_ms = {t.lot: t.end_ms for t in terms}
        # Every PASSING_EVERY-th lot is bid on only below its reserve, so that some lots pass (and settlement
        # offers them to their top bidder) while the others sell.
        self.ceiling = {t.lot: t.reserve - 1 for t in terms if t.lot % PASSING_EVERY == 0 and t.reserve > t.opening}
        self.leader: dict[int, int | None] = {}
        self.own_max: dict[tuple[int, int], int] = {}  # (lot, company) -> that company's maximum, from its acks
        self.closed: set[int] = set()
        self._companies = companies_by_paddle
        self._open: list[int] = []
        self._open_at = 0.0

    def open_lots(self) -> list[int]:
        """Lots not known to be closed whose end (as last heard) is not long past; recomputed every 100 ms."""
        if time.monotonic() - self._open_at > self.OPEN_LOTS_TTL_S:
            now = now_ms()
            ended = [lot for lot, end in self.end_ms.items() if lot in self.closed or now >= end + LATE_BID_MS]
            self._open = [] if now < self.opens_ms else sorted(set(self.end_ms) - set(ended))
            self._open_at = time.monotonic()
        return self._open

    def on_snapshot(self, lot: int, view: dict[str, Any]) -> None:
        self._raise_minimum(lot, view["next_minimum"])
        self.leader[lot] = self._companies.get(view["leader_paddle"] or 0)
        self.end_ms[lot] = view["end_ms"]
        if view["status"] in FINAL_STATUSES:
            self.closed.add(lot)

    def on_event(self, lot: int, event: dict[str, Any]) -> None:
        match event["type"]:
            case "bid" | "revised":
                self._raise_minimum(lot, event["next_minimum"])
                self.leader[lot] = self._companies.get(event["paddle"] or 0)
            case "extended":
                self.end_ms[lot] = event["end_ms"]
            case "sold" | "passed" | "withdrawn":
                self.closed.add(lot)

    def on_ack(self, lot: int, company: int, answer: Answer) -> None:
        if answer.leading:
            self.leader[lot] = company
        if answer.your_max is not None:
            self.own_max[(lot, company)] = answer.your_max
        if answer.price:
            self._raise_minimum(lot, self.ladder.next_bid(answer.price))

    def on_too_low(self, lot: int, next_amount: int) -> None:
        self._raise_minimum(lot, next_amount)

    def _raise_minimum(self, lot: int, amount: int) -> None:
        # Answers and events arrive from several connections in no common order: keep the highest heard.
        self.next_minimum[lot] = max(self.next_minimum.get(lot, 0), amount)


def choose_bid(rng: random.Random, market: Market, company: int) -> PlannedBid | None:
    """Mostly the least acceptable bid; a quarter hidden maximums a few steps up; a few stale amounts (refused
    too_low); and, on a lot the company leads, a raise of its own maximum (a hidden event in the public feed).
    On a lot meant to pass, only plain bids below its reserve. None when there is nothing to bid on."""
    lots = market.open_lots()
    if not lots:
        return None
    lot = rng.choice(lots)
    minimum = market.next_minimum[lot]
    step = market.ladder.increment_at(minimum)
    ceiling = market.ceiling.get(lot)
    if ceiling is not None:
        return PlannedBid(lot, "bid", minimum) if minimum <= ceiling and market.leader.get(lot) != company else None
    if market.leader.get(lot) == company:
        current = market.own_max.get((lot, company), minimum)
        return PlannedBid(lot, "max_bid", max(current, minimum) + rng.randint(1, 4) * step)
    roll = rng.random()
    if roll < 0.25:
        return PlannedBid(lot, "max_bid", minimum + rng.randint(1, 6) * step)
    if roll < 0.30:
        return PlannedBid(lot, "bid", max(1, minimum - step))
    return PlannedBid(lot, "bid", minimum)


# ---- connections ------------------------------------------------------------------------------------------------


@dataclass
class Dialer:
    """Opens a connection to the home gateway, or to the other one while home is down."""

    urls: list[str]
    names: list[str]
    home: int
    query: str = ""
    failures: int = 0
    connects: int = 0

    async def dial(self, give_up: Callable[[], bool]) -> tuple[WireSocket, str] | None:
        """A connection past its welcome, and the gateway's name; None once `give_up()` says so."""
        attempt = 0
        while not give_up():
            index = (self.home + attempt) % len(self.urls)
            try:
                socket = await open_socket(self.urls[index] + self.query, CONNECT_TIMEOUT_S)
            except CONNECT_ERRORS:
                attempt += 1
                self.failures += 1
                await asyncio.sleep(min(1.0, 0.05 * attempt))
                continue
            self.connects += 1
            return socket, self.names[index]
        return None


async def open_socket(url: str, timeout_s: float) -> WireSocket:
    socket = await wire.connect(url, timeout_s)
    try:
        welcome = decode(await socket.receive(timeout_s))  # the server speaks first
    except BaseException:
        socket.close()
        raise
    if welcome.get("type") != "welcome":
        socket.close()
        raise WireError(f"expected a welcome, got {welcome.get('type')!r}")
    return socket


class Link:
    """A bidder's connection to one gateway, and the messages that arrived on it."""

    def __init__(self, socket: WireSocket, gateway: str) -> None:
        self.socket = socket
        self.gateway = gateway
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.lost = asyncio.Event()
        socket.on_close = self.lost.set
        socket.listen(self._arrived)
        if socket.closed:
            self.lost.set()

    def _arrived(self, payload: bytes) -> None:
        with contextlib.suppress(msgspec.DecodeError):
            self.inbox.put_nowait(decode(payload))

    async def next(self, timeout_s: float) -> dict[str, Any] | None:
        """The next message; None if the connection is lost first. TimeoutError if neither comes in time."""
        if not self.inbox.empty():
            return self.inbox.get_nowait()
        if self.lost.is_set():
            return None
        getting = asyncio.ensure_future(self.inbox.get())
        losing = asyncio.ensure_future(self.lost.wait())
        try:
            done, _ = await asyncio.wait({getting, losing}, timeout=max(timeout_s, 0.0), return_when="FIRST_COMPLETED")
        finally:
            for waiter in (getting, losing):
                waiter.cancel()
        if getting in done:
            return getting.result()
        if losing in done:
            return None
        raise TimeoutError

    def close(self) -> None:
        self.socket.close()


# ---- bidders ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A final answer to a bid (an ack or a refusal by the rules), as the bidder received it."""

    kind: Literal["ack", "rejected"]
    seq: int | None = None
    price: int | None = None
    leading: bool | None = None
    your_max: int | None = None
    reason: str | None = None
    next_amount: int | None = None
    gateway: str = ""
    at_s: float = 0.0

    def same_as(self, other: Answer) -> bool:
        """The same answer, wherever and whenever it came from."""
        mine = (self.kind, self.seq, self.price, self.leading, self.your_max, self.reason, self.next_amount)
        theirs = (other.kind, other.seq, other.price, other.leading, other.your_max, other.reason, other.next_amount)
        return mine == theirs

    def describe(self) -> str:
        where = f"via {self.gateway} at {self.at_s:.1f} s"
        if self.kind == "ack":
            return f"ack seq {self.seq} price {self.price} leading {self.leading} max {self.your_max} {where}"
        return f"rejected {self.reason} (next {self.next_amount}) {where}"


def answer_of(message: dict[str, Any], gateway: str, at_s: float) -> Answer:
    if message["type"] == "ack":
        return Answer(
            "ack", message["seq"], message["price"], message["leading"], message["your_max"], gateway=gateway, at_s=at_s
        )
    return Answer("rejected", reason=message["reason"], next_amount=message["next_amount"], gateway=gateway, at_s=at_s)


@dataclass
class BidLog:
    """One bid: what was sent, how often, what came back, and what made it be sent again."""

    client_id: str
    buyer: str
    lot: int
    kind: BidKind
    amount: int
    first_sent_s: float
    sends: int = 0
    answers: list[Answer] = field(default_factory=list)
    hitches: Counter[str] = field(default_factory=Counter)
    hitch_log: list[tuple[float, str, str]] = field(default_factory=list)  # (when, what, through which gateway)
    unresolved: bool = False

    @property
    def first_answer(self) -> Answer | None:
        return self.answers[0] if self.answers else None


class BidderProgram:
    """One buyer's bidding program (see the module docstring)."""

    def __init__(
        self,
        buyer: Buyer,
        sale: int,
        dialer: Dialer,
        market: Market,
        rng: random.Random,
        interval_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.buyer = buyer
        self.sale = sale
        self.dialer = dialer
        self.market = market
        self.rng = rng
        self.interval_s = interval_s
        self.clock = clock
        self.log: dict[str, BidLog] = {}
        self.link: Link | None = None
        self.abandon_at = float("inf")  # monotonic; set when bidding ends: the bid in flight has until then
        self.strays = 0  # answers naming a client_id this program never sent

    async def run(self, stop: asyncio.Event) -> None:
        """Bid at this program's share of the rate until `stop`; then finish the bid in flight."""
        due = time.monotonic() + self.rng.uniform(0, self.interval_s)
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
                if stop.is_set():
                    return
                due = max(due + self.interval_s, time.monotonic())  # behind after an outage: skip, don't burst
                planned = choose_bid(self.rng, self.market, self.buyer.company)
                if planned is not None:
                    await self.place(planned)
        finally:
            self._drop()

    async def place(self, planned: PlannedBid) -> BidLog:
        client_id = f"{self.buyer.name}-{len(self.log) + 1}"
        bid = BidLog(client_id, self.buyer.name, planned.lot, planned.kind, planned.amount, round(self.clock(), 3))
        self.log[client_id] = bid
        message = {"type": planned.kind, "sale": self.sale, "lot": planned.lot, "amount": planned.amount}
        frame = _ENCODER.encode({**message, "client_id": client_id})
        while bid.sends < MAX_SENDS and not self._abandoned():
            link = await self._connected()
            if link is None:
                break
            bid.sends += 1
            hitch = await self._await_answer(link, bid) if link.socket.send_text(frame) else "dropped"
            if hitch is None:
                return bid
            bid.hitches[hitch] += 1
            bid.hitch_log.append((round(self.clock(), 3), hitch, link.gateway))
            if hitch in ("dropped", "timeout"):
                self._drop()
            await asyncio.sleep(PAUSE_BEFORE_RESEND_S.get(hitch, 0.2))
        bid.unresolved = True
        return bid

    def _abandoned(self) -> bool:
        return time.monotonic() > self.abandon_at

    async def _connected(self) -> Link | None:
        if self.link is not None and not self.link.lost.is_set():
            return self.link
        self._drop()
        dialed = await self.dialer.dial(self._abandoned)
        if dialed is None:
            return None
        self.link = Link(*dialed)
        return self.link

    def _drop(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    async def _await_answer(self, link: Link, bid: BidLog) -> str | None:
        """None once `bid` has its final answer; else the hitch that calls for sending it again."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while True:
            try:
                message = await link.next(deadline - time.monotonic())
            except TimeoutError:
                return "timeout"
            if message is None:
                return "dropped"
            mine, hitch = self._take(message, bid, link.gateway)
            if mine:
                return hitch

    def _take(self, message: dict[str, Any], bid: BidLog, gateway: str) -> tuple[bool, str | None]:
        """Log one message. (True, hitch) when it answers `bid` (hitch None: a final answer); (False, None) when
        it is about another bid (a late answer to an earlier one, logged against it) or about nothing."""
        kind, client_id = message.get("type"), message.get("client_id")
        if kind == "error":
            named = self.log.get(client_id) if isinstance(client_id, str) else None
            hitch = _hitch_of(str(message.get("code")))
            if named is not None and named is not bid:
                named.hitches[f"late {hitch}"] += 1
                return False, None
            return True, hitch
        if kind not in ("ack", "rejected"):
            return False, None
        target = self.log.get(client_id) if isinstance(client_id, str) else None
        if target is None:
            self.strays += 1
            return False, None
        answer = answer_of(message, gateway, round(self.clock(), 3))
        if answer.reason == "busy":  # not acted on: the bid is sent again, and `busy` is no answer to compare
            if target is not bid:
                target.hitches["late busy"] += 1
            return target is bid, "busy"
        target.answers.append(answer)
        self._learn(target.lot, answer)
        return target is bid, None

    def _learn(self, lot: int, answer: Answer) -> None:
        if answer.kind == "ack":
            self.market.on_ack(lot, self.buyer.company, answer)
        elif answer.reason == "too_low" and answer.next_amount:
            self.market.on_too_low(lot, answer.next_amount)


def _hitch_of(code: str) -> str:
    return code if code in ("unavailable", "rate_limited") else f"error {code}"


# ---- watchers ------------------------------------------------------------------------------------------------------


class WatcherProgram:
    """An anonymous watcher of the whole sale that resumes after every reconnect (see the module docstring)."""

    def __init__(self, name: str, sale: int, lots: Sequence[int], dialer: Dialer, market: Market) -> None:
        self.name = name
        self.sale = sale
        self.lots = frozenset(lots)
        self.dialer = dialer
        self.market = market
        self.last_seq: dict[int, int] = {}
        self.received: dict[tuple[int, int], dict[str, Any]] = {}  # (lot, seq) -> the public event as received
        self.final: set[int] = set()
        self.problems: list[str] = []
        self.faults: Counter[str] = Counter()  # gap, repeat, conflict, went_back, orphan
        self.errors: Counter[str] = Counter()
        self.events = 0
        self.subscriptions = 0
        self.resumes = 0
        self.done = asyncio.Event()  # every lot seen final

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until every lot is final or `stop`, reconnecting and resuming whenever the connection ends."""
        while not stop.is_set() and not self.done.is_set():
            dialed = await self.dialer.dial(stop.is_set)
            if dialed is None:
                return
            socket, _gateway = dialed
            await self._watch(socket, stop)
            socket.close()
            if not (stop.is_set() or self.done.is_set()):
                await asyncio.sleep(0.1)

    async def _watch(self, socket: WireSocket, stop: asyncio.Event) -> None:
        """Subscribe (resuming every lot seen so far) and take events until the connection ends or must end."""
        ended = asyncio.Event()
        socket.on_close = ended.set
        socket.listen(lambda payload: self._arrived(payload, ended))
        if socket.closed:
            ended.set()
        socket.send_text(_ENCODER.encode(self._subscription()))
        await _first_of(ended, stop, self.done)

    def _subscription(self) -> dict[str, Any]:
        self.subscriptions += 1
        resume = {str(lot): seq for lot, seq in self.last_seq.items()} or None
        if resume:
            self.resumes += 1
        return {"type": "subscribe", "sale": self.sale, "lots": None, "resume": resume}

    def _arrived(self, payload: bytes, ended: asyncio.Event) -> None:
        try:
            message = decode(payload)
        except msgspec.DecodeError:
            self._fault("garbled", f"an undecodable frame: {payload[:80]!r}")
            return
        match message.get("type"):
            case "snapshot":
                self._on_snapshot(message["lot"], message["lot_state"])
            case "event":
                self._on_event(message["lot"], message["seq"], message["event"])
            case "error":
                # lagged, or the subscription failed (unavailable): either way, reconnect and resume
                self.errors[str(message.get("code"))] += 1
                ended.set()

    def _on_snapshot(self, lot: int, view: dict[str, Any]) -> None:
        seq, known = view["seq"], self.last_seq.get(lot)
        if known is not None and seq < known:
            self._fault("went_back", f"lot {lot}: a snapshot at seq {seq} after seq {known} was seen")
        elif known is not None and seq > known:
            self._fault("gap", f"lot {lot}: a snapshot at seq {seq} skipped seqs {known + 1}..{seq}")
        self.last_seq[lot] = max(known or 0, seq)
        if view["status"] in FINAL_STATUSES:
            self._final(lot)
        self.market.on_snapshot(lot, view)

    def _on_event(self, lot: int, seq: int, event: dict[str, Any]) -> None:
        self.events += 1
        known = self.last_seq.get(lot)
        if known is None:
            self._fault("orphan", f"lot {lot}: event seq {seq} before any snapshot of the lot")
        elif seq <= known:
            self._fault("repeat", f"lot {lot}: event seq {seq} again (last seen {known})")
        elif seq > known + 1:
            self._fault("gap", f"lot {lot}: event seq {seq} after seq {known}")
        earlier = self.received.get((lot, seq))
        if earlier is not None and earlier != event:
            self._fault("conflict", f"lot {lot} seq {seq}: {event} after {earlier}")
        self.received[(lot, seq)] = event
        self.last_seq[lot] = max(known or 0, seq)
        if event["type"] in FINAL_STATUSES:
            self._final(lot)
        self.market.on_event(lot, event)

    def _final(self, lot: int) -> None:
        self.final.add(lot)
        if self.final >= self.lots:
            self.done.set()

    def _fault(self, kind: str, text: str) -> None:
        self.faults[kind] += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(f"{self.name}: {text}")


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when="FIRST_COMPLETED")
    finally:
        for waiter in waiters:
            waiter.cancel()
