"""The open-loop load generator: bids due on a precomputed schedule, latencies from when each bid was DUE.

Coordinated omission is what a closed loop hides: a client that waits for an answer before sending the next
bid sends fewer bids exactly when the server stalls, and the stall never shows in its latencies. Here every bid
has a due time fixed before the run (`Schedule`); one sender walks the schedule and writes each bid as soon
as it is due (late bids are sent at once, in a burst), and each answer's latency is `answer time - due time`.
A stall of the gateway, of the network or of this process itself therefore shows up in the histogram.

Bidders are vetted buyers (a token and a paddle each) spread over many websocket connections, one buyer per
connection; watchers are anonymous connections, optionally in several child processes (`WatcherFleet`),
because one Python process cannot read 10,000 sockets' frames as fast as the gateway writes them.

All clocks are `time.monotonic_ns()`: CLOCK_MONOTONIC is system-wide on Linux, so times taken in watcher
processes can be compared with the ack times taken here.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import resource
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection as Pipe
from typing import Any

import msgspec
from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from auction.engine.ladder import Ladder
from loadtest import wire

HIST_MAX_US = 120_000_000  # two minutes: anything slower is recorded as two minutes
HIST_DIGITS = 3
CONNECT_CONCURRENCY = 200  # websocket handshakes in flight at once
CONNECT_ATTEMPTS = 6  # a watcher's tries at connecting (busy answers, resets, timeouts) before it counts as failed
CONNECT_BACKOFF_S = 0.5  # the first pause after a reset or a timeout, doubled at each further one
DRAIN_TIMEOUT_S = 15.0  # how long to wait for answers to bids already sent
SLEEP_FLOOR_NS = 1_000_000  # the shortest sleep of the sender (the event loop's timers count milliseconds)


def raise_nofile(wanted: int = 65_536) -> int:
    """Raise the soft limit on open files (10,000 sockets need it); children started later inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HIST_MAX_US, HIST_DIGITS)


def record_us(hist: HdrHistogram, nanos: int) -> None:
    hist.record_value(min(HIST_MAX_US, max(1, nanos // 1000)))


def percentiles_ms(hist: HdrHistogram) -> dict[str, float]:
    """p50/p90/p99/p99.9/max in milliseconds (0 when empty)."""
    if hist.get_total_count() == 0:
        return {"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0}
    at = hist.get_value_at_percentile
    return {
        "count": hist.get_total_count(),
        "p50": at(50) / 1000,
        "p90": at(90) / 1000,
        "p99": at(99) / 1000,
        "p999": at(99.9) / 1000,
        "max": hist.get_max_value() / 1000,
    }


# ---- the schedule -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedBid:
    due_ns: int  # offset from the start of the run
    conn: int  # which bidder connection sends it
    lot: int
    amount: int
    client_id: str


class AmountCursor:
    """Per lot, the next amount to offer and the connection that bid last (a leader may not bid again).

    Amounts climb two increments at a time, so a bid overtaken by a later one on the way is `too_low`, and a
    schedule that continues where the previous one stopped (the ramp) keeps being accepted.
    """

    def __init__(self, ladder: Ladder, openings: dict[int, int]) -> None:
        self._ladder = ladder
        self._next = dict(openings)
        self._last_conn: dict[int, int] = {}

    def take(self, lot: int) -> int:
        amount = self._next[lot]
        self._next[lot] = amount + 2 * self._ladder.increment_at(amount)
        return amount

    def bidder(self, lot: int, candidate: int, conns: int) -> int:
        conn = candidate % conns
        if self._last_conn.get(lot) == conn and conns > 1:
            conn = (conn + 1) % conns
        self._last_conn[lot] = conn
        return conn


def steady_schedule(
    rate: float, duration_s: float, lots: Sequence[int], conns: int, cursor: AmountCursor, tag: str
) -> list[PlannedBid]:
    """`rate` bids a second for `duration_s`, evenly spaced, lots and connections taken in turn."""
    count = int(rate * duration_s)
    gap_ns = 1e9 / rate
    plan = []
    for i in range(count):
        lot = lots[i % len(lots)]
        conn = cursor.bidder(lot, i, conns)
        plan.append(PlannedBid(int(i * gap_ns), conn, lot, cursor.take(lot), f"{tag}-{i}"))
    return plan


# ---- results ----------------------------------------------------------------------------------------------------


@dataclass
class AckRecord:
    lot: int
    seq: int
    price: int
    client_id: str
    at_ns: int
    due_ns: int = 0  # when the bid was due: the start of the end-to-end (bid -> every watcher) latency


@dataclass
class StepResult:
    """Counts and latencies of one run of a schedule. Invariant: sent == acked + rejected + errors."""

    offered_per_s: float
    duration_s: float
    sent: int = 0
    acked: int = 0
    rejected: int = 0
    errors: int = 0
    unanswered: int = 0  # counted in errors too
    duplicates: int = 0  # answers to a bid already answered in this run (a store must answer each bid once)
    misrouted: int = 0  # answers read on another connection than the one that sent the bid
    reasons: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)
    ack_hist: HdrHistogram = field(default_factory=new_histogram)  # due -> ack
    reject_hist: HdrHistogram = field(default_factory=new_histogram)  # due -> rejected (any reason)
    busy_hist: HdrHistogram = field(default_factory=new_histogram)  # due -> rejected "busy"
    acks: list[AckRecord] = field(default_factory=list)
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (client_id, reason) of every rejected bid
    send_lag_hist: HdrHistogram = field(default_factory=new_histogram)  # due -> written: the generator's own lag
    elapsed_s: float = 0.0  # first due to last answer

    @property
    def acked_per_s(self) -> float:
        return self.acked / self.duration_s if self.duration_s else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "offered_per_s": self.offered_per_s,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "acked": self.acked,
            "rejected": self.rejected,
            "errors": self.errors,
            "unanswered": self.unanswered,
            "duplicates": self.duplicates,
            "misrouted": self.misrouted,
            "acked_per_s": round(self.acked_per_s, 1),
            "answered_not_busy_per_s": round((self.acked + self.rejected - self.reasons["busy"]) / self.duration_s, 1),
            "reasons": dict(self.reasons),
            "error_codes": dict(self.error_codes),
            "ack_ms": percentiles_ms(self.ack_hist),
            "rejected_ms": percentiles_ms(self.reject_hist),
            "busy_ms": percentiles_ms(self.busy_hist),
            "send_lag_ms": percentiles_ms(self.send_lag_hist),
        }


# ---- frames -----------------------------------------------------------------------------------------------------


class _Answer(msgspec.Struct):
    """What a bidder reads: only the fields it uses (msgspec skips the rest without building them)."""

    type: str
    client_id: str = ""
    lot: int = 0
    seq: int = 0
    price: int = 0
    reason: str = ""
    code: str = ""


class _ShownEvent(msgspec.Struct):
    type: str
    amount: int = 0


class _WatchFrame(msgspec.Struct):
    type: str
    lot: int = 0
    event: _ShownEvent | None = None


_ANSWER = msgspec.json.Decoder(_Answer)
_WATCH = msgspec.json.Decoder(_WatchFrame)
_JSON = msgspec.json.Encoder()


def bid_frame(sale: int, bid: PlannedBid) -> bytes:
    return _JSON.encode({"type": "bid", "sale": sale, "lot": bid.lot, "amount": bid.amount, "client_id": bid.client_id})


def subscribe_frame(sale: int, lots: Sequence[int] | None) -> bytes:
    return _JSON.encode({"type": "subscribe", "sale": sale, "lots": list(lots) if lots else None, "resume": None})


# ---- bidders ----------------------------------------------------------------------------------------------------


class BidderPool:
    """One websocket per registered buyer; reads every answer and matches it to the bid's due time.

    `ws_url` may be several gateways' addresses: connection i then goes to gateway i modulo their number, so a
    schedule that takes connections in turn spreads its bids evenly over the gateways."""

    def __init__(self, ws_url: str | Sequence[str], tokens: Sequence[str]) -> None:
        self._ws_urls = [ws_url] if isinstance(ws_url, str) else list(ws_url)
        self._tokens = list(tokens)
        self.sockets: list[wire.WireSocket] = []
        self._due: dict[str, int] = {}  # client_id -> absolute due time (ns), while unanswered
        self._sent_on: dict[str, int] = {}  # client_id -> the connection that sent it, for this run
        self._answered: set[str] = set()  # client_ids answered in this run
        self._result: StepResult | None = None
        self._idle = asyncio.Event()
        self._order: list[deque[str]] = []  # per connection, client_ids in the order sent

    async def __aenter__(self) -> BidderPool:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def connect(index: int, token: str) -> wire.WireSocket:
            async with gate:
                ws = await wire.connect(f"{self.url_of(index)}?token={token}")
            first = await ws.receive(30)
            if _ANSWER.decode(first).type != "welcome":
                raise RuntimeError(f"expected welcome, got {first[:200]!r}")
            return ws

        self.sockets = list(await asyncio.gather(*(connect(i, t) for i, t in enumerate(self._tokens))))
        self._order = [deque[str]() for _ in self.sockets]
        for index, ws in enumerate(self.sockets):
            ws.listen(partial(self._on_text, index))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in self.sockets:
            ws.close()

    def url_of(self, conn: int) -> str:
        """The gateway that connection `conn` talks to."""
        return self._ws_urls[conn % len(self._ws_urls)]

    def _on_text(self, index: int, data: bytes) -> None:
        self._on_answer(_ANSWER.decode(data), time.monotonic_ns(), index)

    def _oldest_unanswered(self, index: int) -> int | None:
        order = self._order[index]
        while order:
            due = self._due.pop(order.popleft(), None)
            if due is not None:
                return due
        return None

    def _on_answer(self, answer: _Answer, now: int, index: int) -> None:
        result = self._result
        if result is None or answer.type not in ("ack", "rejected", "error"):
            return
        due = self._due.pop(answer.client_id, None) if answer.client_id else None
        if answer.client_id and answer.type != "error":
            if answer.client_id in self._answered:
                result.duplicates += 1
            self._answered.add(answer.client_id)
            if self._sent_on.get(answer.client_id, index) != index:
                result.misrouted += 1
        if answer.type == "error":
            result.error_codes[answer.code] += 1
            if due is None:  # an error frame names no client_id: charge it to this connection's oldest bid
                due = self._oldest_unanswered(index)
            if due is not None:
                result.errors += 1
        elif due is None:
            return  # an answer to a bid of an earlier run
        elif answer.type == "ack":
            result.acked += 1
            record_us(result.ack_hist, now - due)
            result.acks.append(AckRecord(answer.lot, answer.seq, answer.price, answer.client_id, now, due))
        else:
            result.rejected += 1
            result.reasons[answer.reason] += 1
            result.refusals.append((answer.client_id, answer.reason))
            record_us(result.reject_hist, now - due)
            if answer.reason == "busy":
                record_us(result.busy_hist, now - due)
        if not self._due:
            self._idle.set()

    async def run(self, sale: int, plan: Sequence[PlannedBid], rate: float, duration_s: float) -> StepResult:
        """Send every planned bid when it is due, then wait (bounded) for the answers."""
        result = StepResult(rate, duration_s)
        self._result = result
        self._due.clear()
        self._sent_on.clear()
        self._answered.clear()
        self._idle.clear()
        frames = [wire.client_frame(bid_frame(sale, bid)) for bid in plan]  # encoded and masked before the clock
        start = time.monotonic_ns() + 50_000_000
        i = 0
        while i < len(plan):
            now = time.monotonic_ns()
            wait = start + plan[i].due_ns - now
            if wait > 0:
                # Never less than the loop's timer resolution: uvloop rounds a shorter sleep to 0 ms, and the
                # sender spun, using more CPU than the gateway it measures. A bid sent up to 1 ms after it was
                # due is charged to the server (latency runs from the due time), never hidden.
                await asyncio.sleep(max(wait, SLEEP_FLOOR_NS) / 1e9)
                now = time.monotonic_ns()
            while i < len(plan) and start + plan[i].due_ns <= now:
                bid = plan[i]
                due = start + bid.due_ns
                self._due[bid.client_id] = due
                self._sent_on[bid.client_id] = bid.conn
                self._order[bid.conn].append(bid.client_id)
                result.sent += 1
                if not self.sockets[bid.conn].send_frame(frames[i]):
                    self._due.pop(bid.client_id, None)
                    result.errors += 1
                    result.error_codes["send_failed"] += 1
                record_us(result.send_lag_hist, time.monotonic_ns() - due)
                i += 1
        if self._due:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), DRAIN_TIMEOUT_S)
        result.unanswered = len(self._due)
        result.errors += result.unanswered
        self._due.clear()
        for order in self._order:
            order.clear()
        self._result = None
        result.elapsed_s = (time.monotonic_ns() - start) / 1e9
        return result


# ---- watchers (in child processes) ------------------------------------------------------------------------------

# Per watcher process: (lot, amount) of each bid event -> the monotonic ns at which each watcher received it.
Receipts = dict[tuple[int, int], list[int]]


@dataclass
class Connecting:
    """How a watcher process's connections went: retries by cause (`busy` answers included), and failures, by
    cause, of watchers that never connected. Reported as figures: a storm that the gateway refuses is a result."""

    retried: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    async def connect(
        self, open_one: Callable[[], Awaitable[wire.WireSocket]], gate: asyncio.Semaphore
    ) -> wire.WireSocket | None:
        """A connection made by `open_one`, retrying as the gateway asks (busy: after its Retry-After) or, after a
        reset or a timeout, after a doubling pause; None once CONNECT_ATTEMPTS are spent."""
        cause = "none"
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                async with gate:
                    return await open_one()
            except wire.HandshakeRefused as exc:
                if exc.status != 503:
                    self.failed[f"http_{exc.status}"] += 1
                    return None
                cause, pause = "busy", exc.retry_after_s or CONNECT_BACKOFF_S
            except (OSError, TimeoutError, wire.WireError) as exc:
                cause, pause = type(exc).__name__, CONNECT_BACKOFF_S * 2**attempt
            self.retried[cause] += 1
            await asyncio.sleep(pause)
        self.failed[cause] += 1
        return None


async def _subscribed(ws_url: str, frame: bytes) -> wire.WireSocket:
    ws = await wire.connect(ws_url, 60)
    try:
        ws.send_text(frame)
        while _WATCH.decode(await ws.receive(60)).type != "snapshot":  # welcome, then a snapshot per lot
            pass
    except BaseException:
        ws.close()
        raise
    return ws


async def _watch_many(ws_url: str, sale: int, lots: list[int] | None, count: int, pipe: Pipe) -> None:
    receipts: Receipts = {}
    lagged = Counter[str]()
    stopping = False
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    frame = subscribe_frame(sale, lots)
    connecting = Connecting()

    def on_text(data: bytes) -> None:
        now = time.monotonic_ns()
        message = _WATCH.decode(data)
        if message.type == "event" and message.event is not None and message.event.type == "bid":
            receipts.setdefault((message.lot, message.event.amount), []).append(now)
        elif message.type == "error":
            lagged["error"] += 1

    def on_close() -> None:
        if not stopping:
            lagged["closed"] += 1

    subscribed = partial(_subscribed, ws_url, frame)
    attempts = await asyncio.gather(*(connecting.connect(subscribed, gate) for _ in range(count)))
    sockets = [ws for ws in attempts if ws is not None]
    for ws in sockets:
        ws.listen(on_text)
        ws.on_close = on_close
    pipe.send(("ready", len(sockets), dict(connecting.retried), dict(connecting.failed)))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    stopping = True
    pipe.send(("receipts", receipts, dict(lagged)))
    for ws in sockets:
        ws.close()


def watcher_main(ws_url: str, sale: int, lots: list[int] | None, count: int, pipe: Pipe) -> None:
    """Entry point of one watcher process: `count` anonymous watchers of `sale` (or some of its lots)."""
    raise_nofile()
    try:
        import uvloop

        uvloop.run(_watch_many(ws_url, sale, lots, count, pipe))
    except ImportError:
        asyncio.run(_watch_many(ws_url, sale, lots, count, pipe))


class WatcherFleet:
    """`total` watchers spread over `processes` child processes; `collect()` returns what each received."""

    def __init__(self, ws_url: str, sale: int, lots: list[int] | None, total: int, processes: int) -> None:
        ctx = mp.get_context("spawn")
        self._pipes: list[Pipe] = []
        self._procs: list[Any] = []
        per, extra = divmod(total, processes)
        self._counts = [per + (1 if i < extra else 0) for i in range(processes)]
        for count in self._counts:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=watcher_main, args=(ws_url, sale, lots, count, theirs), daemon=True)
            self._pipes.append(mine)
            self._procs.append(proc)
        self.total = total
        self.connected = 0
        self.retried: Counter[str] = Counter()  # connection attempts retried, by cause (`busy` answers among them)
        self.failed: Counter[str] = Counter()  # watchers that never connected, by cause
        self.lagged: Counter[str] = Counter()

    async def start(self, timeout_s: float = 120.0) -> None:
        """Every watcher connected, or counted as failed: the fan-out is measured on those that connected."""
        for proc in self._procs:
            proc.start()
        for pipe, count in zip(self._pipes, self._counts, strict=True):
            try:
                _tag, connected, retried, failed = await asyncio.wait_for(asyncio.to_thread(pipe.recv), timeout_s)
            except (TimeoutError, EOFError, OSError) as exc:  # the process died or hung: its watchers failed
                self.failed[f"process_{type(exc).__name__}"] += count
                continue
            self.connected += connected
            self.retried.update(retried)
            self.failed.update(failed)

    async def collect(self) -> Receipts:
        """What every watcher received; a process that died is counted in `lagged` as process_lost."""
        receipts: Receipts = {}
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send("stop")
        for pipe in self._pipes:
            try:
                theirs, lagged = await asyncio.wait_for(asyncio.to_thread(_receipts_from, pipe), 120)
            except (TimeoutError, EOFError, OSError):
                self.lagged["process_lost"] += 1
                continue
            self.lagged.update(lagged)
            for key, times in theirs.items():
                receipts.setdefault(key, []).extend(times)
        for proc in self._procs:
            await asyncio.to_thread(proc.join, 30)
            if proc.is_alive():
                proc.kill()
        return receipts

    def kill(self) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()


def _receipts_from(pipe: Pipe) -> tuple[Receipts, dict[str, int]]:
    """A watcher process's receipts (after its late "ready", if start() had stopped waiting for it)."""
    while True:
        message = pipe.recv()
        if message[0] == "receipts":
            return message[1], message[2]


def fanout_histogram(
    acks: Sequence[AckRecord], receipts: Receipts, watchers: int, end_to_end: HdrHistogram | None = None
) -> tuple[HdrHistogram, int]:
    """Ack -> each watcher's receipt of that bid's event; and how many (bid, watcher) deliveries are missing.

    A watcher can receive the event before the bidder has its ack (both leave the gateway at about the same
    time); that counts as 0 ms. Because the gateway may write the ack *after* the fan-out of the same event
    (when the fan-out holds its event loop), `end_to_end` also gets due time -> receipt, the honest upper bound.
    """
    hist = new_histogram()
    missing = 0
    for ack in acks:
        times = receipts.get((ack.lot, ack.price), [])
        missing += max(0, watchers - len(times))
        for t in times:
            record_us(hist, max(0, t - ack.at_ns))
            if end_to_end is not None and ack.due_ns:
                record_us(end_to_end, t - ack.due_ns)
    return hist, missing


def vm_rss_mib(pid: int) -> float:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, in kB)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
