"""Live events to watchers: one reader per sale, each event encoded once, never a slow watcher holding others up.

A `SaleFeed` runs while a sale has watchers in this process. It reads the sale's event stream with XREAD BLOCK
from the entry that was last when it started, projects each event to its public form, encodes the `event`
frame once and puts the same bytes on the bounded `Outbox` of every watcher that wants that lot. An outbox
that is full marks its connection as lagged; the connection closes it (1013) and the client resumes.

Subscribing without missing or repeating an event (PROTOCOL.md "Subscribe, snapshot, resume"):
1. the `Watch` joins the feed first, in priming mode: live events for it are buffered;
2. once the feed's start position is fixed, the watch is primed with a snapshot per lot (or, for a lot in
   `resume`, the events after the client's seq, from the lot's own stream), which sets its `last_seq`;
3. the buffer is flushed and the watch goes live. From then on an event is delivered only if its seq is
   `last_seq + 1`; an older one is skipped, and a gap (a newer one) is filled from the lot's stream first.

The janitor keeps only a lot's last events in its stream (auction.janitor). A resume from further back than the
stream holds gets a snapshot of the lot instead of the events; a gap that the stream can no longer fill drops
the watcher as lagged (it reconnects, resumes, and gets a snapshot). Never a silent gap. Only Redis is read
here, never the record: a reconnecting crowd must not land on PostgreSQL, nor wait for it during an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

from redis.asyncio import Redis

from auction import keys
from auction.engine.lot import LotState, LotTerms
from auction.engine.messages import EVENT_DECODER, AnyEvent
from auction.engine.views import lot_view, public_event
from auction.gateway.console import console_of
from auction.gateway.protocol import Error, EventFrame, RecordFrame, RecordSnapshot, Snapshot, encode, text_frame
from auction.redis_adapter import REDIS_ERRORS
from auction.store import EventsTrimmed, LotStore

log = logging.getLogger(__name__)

OUTBOX_FRAMES = 1024  # frames a connection may have queued (its socket's buffer full) before it is dropped as lagged
WRITE_BUFFER_BYTES = 64 * 1024  # past this much unsent in a socket's own buffer, frames queue instead
YIELD_EVERY = 256  # watchers served per event before the feed lets the loop run (acks are not held behind it)
READ_COUNT = 500  # stream entries per XREAD
BLOCK_MS = 2_000  # how long one XREAD waits; short enough that a cancelled reader is noticed promptly
RETRY_S = 0.5  # pause after a failed read before trying again from the same position
TERMS_CACHED = 100_000  # lots whose terms are kept in memory
PAGE = 1000  # events per read of a lot's stream when priming or filling a gap


Audience = Literal["public", "operator"]  # buyers, consignors and anonymous watchers: public; operators: the record


def now_ms() -> int:
    return int(time.time() * 1000)


class Outbox:
    """A connection's way out: frames written straight to the socket, or a bounded queue while it is slow.

    The fast path is synchronous: with nothing queued and the socket's own buffer under WRITE_BUFFER_BYTES, a
    frame is written to the transport at once, already framed (`protocol.text_frame`): no task switch, no
    writer task per connection. Only a socket that has fallen behind gets a queue and a drain task, which
    sends through `send` (aiohttp's `send_frame`, which waits while the socket is paused) and ends once the
    queue is empty. Putting never waits: a full queue flips to `lagged` and refuses everything after, so the
    feed moves on at once and the connection closes itself (`on_lag`).

    Without a transport (before the websocket is prepared, and in tests) frames wait in the queue for `take`.
    Idle, an outbox holds no queue, event or task: 10,000 idle watchers cost only their sockets.
    """

    __slots__ = (
        "_corked",
        "_drained",
        "_drainer",
        "_frames",
        "_limit",
        "_on_lag",
        "_send",
        "_transport",
        "_wake",
        "lagged",
    )

    def __init__(
        self,
        limit: int | None = None,
        on_lag: Callable[[], None] | None = None,
        transport: asyncio.WriteTransport | None = None,
        send: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> None:
        self._frames: deque[bytes] | None = None
        self._corked: list[bytes] | None = None  # held back to be written together (cork/uncork)
        self._limit = limit or OUTBOX_FRAMES
        self._on_lag = on_lag
        self._transport = transport if send is not None else None
        self._send = send
        self._drainer: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None  # take() waits on it (no transport)
        self._drained: asyncio.Event | None = None  # room() waits on it
        self.lagged = False

    def put(self, frame: bytes) -> bool:
        """Send `frame` (an encoded message) or queue it; False once the outbox has lagged or the socket is gone."""
        if self.lagged:
            return False
        if self._corked is not None:
            if len(self._corked) >= self._limit:
                self.give_up()
                return False
            self._corked.append(frame)
            return True
        transport = self._transport
        if transport is not None and not self._frames:
            if transport.is_closing():
                return False
            if transport.get_write_buffer_size() < WRITE_BUFFER_BYTES:
                transport.write(text_frame(frame))
                return True
        frames = self._frames
        if frames is None:
            frames = self._frames = deque()
        if len(frames) >= self._limit:
            self.give_up()
            return False
        frames.append(frame)
        if transport is None:
            if self._wake is not None:
                self._wake.set()
        elif self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return True

    def cork(self) -> None:
        """Hold frames back until `uncork`, which writes them in one go: one syscall for several events."""
        if self._transport is not None and self._corked is None:
            self._corked = []

    def uncork(self) -> None:
        frames, self._corked = self._corked, None
        if not frames or self.lagged:
            return
        transport = self._transport
        if (
            len(frames) > 1
            and transport is not None
            and not self._frames
            and not transport.is_closing()
            and transport.get_write_buffer_size() < WRITE_BUFFER_BYTES
        ):
            transport.write(b"".join([text_frame(frame) for frame in frames]))
            return
        for frame in frames:
            self.put(frame)

    def give_up(self) -> None:
        """Drop what is queued and refuse the rest; `on_lag` closes the connection (once)."""
        if self.lagged:
            return
        self.lagged = True
        self._corked = None
        if self._frames is not None:
            self._frames.clear()
        for event in (self._wake, self._drained):
            if event is not None:
                event.set()
        if self._drainer is not None and self._drainer is not asyncio.current_task():
            self._drainer.cancel()
        if self._on_lag is not None:
            self._on_lag()

    def stop(self) -> None:
        """The connection is over: stop a drain in progress."""
        if self._drainer is not None:
            self._drainer.cancel()

    async def _drain(self) -> None:
        """Send the queue in order through the slow path, then hand back to the fast path."""
        assert self._send is not None and self._frames is not None
        try:
            with contextlib.suppress(ConnectionError, RuntimeError):  # the peer went away: the reader cleans up
                while self._frames and not self.lagged:
                    await self._send(self._frames.popleft())
                    if self._drained is not None and len(self._frames) < self._limit // 2:
                        self._drained.set()
        finally:
            self._drainer = None
            if self._drained is not None:
                self._drained.set()

    async def take(self) -> list[bytes]:
        """Every frame queued so far (waiting for one); empty once the outbox has lagged. Only without a
        transport: with one, frames are sent, not taken."""
        while not self._frames and not self.lagged:
            if self._wake is None:
                self._wake = asyncio.Event()
            self._wake.clear()
            await self._wake.wait()
        frames = list(self._frames or ())
        if self._frames is not None:
            self._frames.clear()
        if self._drained is not None:
            self._drained.set()
        return frames

    async def room(self) -> None:
        """Wait until the outbox is at most half full. Only priming waits here (a big sale's snapshots, a long
        resume), and only for its own connection's drain; the live feed never waits."""
        while self._frames is not None and len(self._frames) >= self._limit // 2 and not self.lagged:
            if self._drained is None:
                self._drained = asyncio.Event()
            self._drained.clear()
            await self._drained.wait()


class Watch:
    """One connection watching one sale: the lots it wants, and the last seq it was sent of each."""

    __slots__ = ("audience", "buffer", "last_seq", "lots", "outbox", "priming", "sale")

    def __init__(self, sale: int, lots: Iterable[int] | None, outbox: Outbox, audience: Audience = "public") -> None:
        self.sale = sale
        self.audience = audience
        self.lots = None if lots is None else frozenset(lots)
        self.outbox = outbox
        self.last_seq: dict[int, int] = {}
        self.priming = True
        self.buffer: list[tuple[int, int, bytes]] = []  # live events that arrive while priming

    def wants(self, lot: int) -> bool:
        return self.lots is None or lot in self.lots


class TermsCache:
    """Each lot's terms, read once: they are fixed when the sale is built."""

    def __init__(self, store: LotStore) -> None:
        self._store = store
        self._terms: dict[tuple[int, int], LotTerms] = {}

    def remember(self, state: LotState) -> None:
        if len(self._terms) >= TERMS_CACHED:
            self._terms.clear()  # crude, and enough: a miss costs one read
        self._terms[(state.terms.sale, state.terms.lot)] = state.terms

    async def get(self, sale: int, lot: int) -> LotTerms | None:
        terms = self._terms.get((sale, lot))
        if terms is None:
            state = await self._store.state(sale, lot)
            if state is None:
                return None
            self.remember(state)
            terms = state.terms
        return terms


class SaleFeed:
    """The reader of one sale's stream, and the watches it delivers to."""

    def __init__(self, hub: Hub, sale: int) -> None:
        self.hub = hub
        self.sale = sale
        self.watches: set[Watch] = set()
        self.started = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"feed-{sale}")

    async def _run(self) -> None:
        position = await self._start_position()
        self.started.set()
        while True:
            try:
                reply: Any = await self.hub.redis.xread({keys.sale_events(self.sale): position}, READ_COUNT, BLOCK_MS)
            except REDIS_ERRORS as exc:
                log.warning("sale %s: reading the event stream failed (%s); retrying", self.sale, exc)
                await asyncio.sleep(RETRY_S)
                continue
            for _stream, entries in reply or ():
                if entries:
                    position = entries[-1][0]
                    await self._on_entries([fields for _id, fields in entries])

    async def _start_position(self) -> bytes | str:
        """The id of the newest entry now: the reader delivers what comes after it."""
        while True:
            try:
                newest: Any = await self.hub.redis.xrevrange(keys.sale_events(self.sale), count=1)
                position: bytes | str = newest[0][0] if newest else "0-0"
                return position
            except REDIS_ERRORS as exc:
                log.warning("sale %s: finding the stream's end failed (%s); retrying", self.sale, exc)
                await asyncio.sleep(RETRY_S)

    async def _on_entries(self, entries: list[dict[bytes, bytes]]) -> None:
        """Deliver what one read brought, watcher by watcher: each watcher's share of a burst (a hot lot's
        many bids) goes out in one write."""
        parsed = [one for one in [await self._parse(fields) for fields in entries] if one is not None]
        several = len(parsed) > 1
        for served, watch in enumerate(list(self.watches), 1):
            if several:
                watch.outbox.cork()
            for lot, seq, frames in parsed:
                frame = frames.get(watch.audience) if watch.wants(lot) else None
                if frame is not None and not self.hub.offer_now(watch, lot, seq, frame):
                    await self._fill_gap(watch, lot, seq, frame)
            if several:
                watch.outbox.uncork()
            if served % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let acks and reads run between slices of a big audience

    async def _parse(self, fields: dict[bytes, bytes]) -> tuple[int, int, dict[Audience, bytes | None]] | None:
        """(lot, seq, the event's frame per audience that wants it), encoded once; None for a bad entry."""
        try:
            lot = int(fields[keys.LOT_FIELD.encode()])
            event = EVENT_DECODER.decode(fields[keys.EVENT_FIELD.encode()])
            frames: dict[Audience, bytes | None] = {}
            for watch in self.watches:
                if watch.audience not in frames and watch.wants(lot):
                    frames[watch.audience] = await self.hub.event_frame(self.sale, lot, event, watch.audience)
                    if len(frames) == 2:
                        break
        except Exception:  # one bad entry must not stop the sale's feed
            log.exception("sale %s: skipping an unreadable stream entry", self.sale)
            return None
        return lot, event.seq, frames

    async def _fill_gap(self, watch: Watch, lot: int, seq: int, frame: bytes) -> None:
        try:
            await self.hub.offer(watch, lot, seq, frame)
        except Exception:  # e.g. filling a gap failed: that watcher reconnects and resumes; the rest go on
            log.warning("sale %s: dropping a watcher that could not be brought up to date", self.sale, exc_info=True)
            watch.outbox.give_up()


class Hub:
    """Every sale feed of this process."""

    def __init__(self, redis: Redis, store: LotStore, on_watchers: Callable[[int], None] | None = None) -> None:
        self.redis = redis
        self.store = store
        self.terms = TermsCache(store)
        self._feeds: dict[int, SaleFeed] = {}
        self._on_watchers = on_watchers or (lambda delta: None)

    async def event_frame(self, sale: int, lot: int, event: AnyEvent, audience: Audience = "public") -> bytes | None:
        if audience == "operator":
            return encode(RecordFrame(sale, lot, event.seq, event))
        terms = await self.terms.get(sale, lot)
        if terms is None:
            log.warning("sale %s lot %s: an event for a lot the store doesn't know", sale, lot)
            return None
        return encode(EventFrame(sale, lot, event.seq, public_event(terms, event)))

    # ---- joining and leaving ------------------------------------------------------------------------------

    async def subscribe(self, watch: Watch, resume: dict[int, int] | None) -> Error | None:
        """Join the watch to its sale's feed, prime it and let it go live; or say why it can't watch."""
        feed = self._feeds.get(watch.sale) or self._new_feed(watch.sale)
        feed.watches.add(watch)
        self._on_watchers(1)
        try:
            await feed.started.wait()
            problem = await self._prime(watch, resume or {})
            if problem is None:
                await self._go_live(watch)
        except BaseException:
            self.unsubscribe(watch)
            raise
        if problem is not None:
            self.unsubscribe(watch)
        return problem

    def unsubscribe(self, watch: Watch) -> None:
        feed = self._feeds.get(watch.sale)
        if feed is None or watch not in feed.watches:
            return
        feed.watches.discard(watch)
        self._on_watchers(-1)
        if not feed.watches:
            feed.task.cancel()
            del self._feeds[watch.sale]

    def _new_feed(self, sale: int) -> SaleFeed:
        feed = SaleFeed(self, sale)
        self._feeds[sale] = feed
        return feed

    async def close(self) -> None:
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            feed.task.cancel()
        for feed in feeds:
            with contextlib.suppress(asyncio.CancelledError):
                await feed.task

    @property
    def sales(self) -> list[int]:
        return list(self._feeds)

    def watching(self, sale: int) -> int:
        """How many watch the sale through this process (operators included)."""
        feed = self._feeds.get(sale)
        return 0 if feed is None else len(feed.watches)

    # ---- priming ------------------------------------------------------------------------------------------

    async def _prime(self, watch: Watch, resume: dict[int, int]) -> Error | None:
        states = {state.terms.lot: state for state in await self.store.states(watch.sale)}
        if not states:
            return Error("not_found", "sale", f"no sale {watch.sale}")
        missing = sorted(set(watch.lots or ()) - set(states))
        if missing:
            return Error("not_found", "lots", f"sale {watch.sale} has no lot {missing[0]}")
        for lot, state in states.items():
            self.terms.remember(state)
            if not watch.wants(lot):
                continue
            await watch.outbox.room()
            if lot in resume:
                await self._resume(watch, state, resume[lot])
            else:
                await self._send_snapshot(watch, state)
        return None

    async def _resume(self, watch: Watch, state: LotState, after: int) -> None:
        """The events after the client's seq; a snapshot instead when the lot's stream no longer holds them all
        (trimmed, or gone with its purged sale: `state` is newer than the stream's last). The snapshot is read
        again now, so that it is never older than events already sent."""
        lot = state.terms.lot
        with contextlib.suppress(EventsTrimmed):
            await self._send_after(watch, lot, after)
            if watch.last_seq[lot] >= state.seq:
                return
        now = await self.store.state(watch.sale, lot)
        if now is not None:
            await self._send_snapshot(watch, now)

    async def _send_snapshot(self, watch: Watch, state: LotState) -> None:
        """A lot's snapshot; an operator's is the record's, with a live lot's console fields as of the same seq."""
        sale, lot = state.terms.sale, state.terms.lot
        if watch.audience == "operator":
            record = RecordSnapshot(
                sale, lot, now_ms(), lot_view(state), state.terms.reserve, state.leader, state.leader_max,
                state.terms.consignor, await console_of(self.store, state),
            )  # fmt: skip
            watch.outbox.put(encode(record))
        else:
            watch.outbox.put(encode(Snapshot(sale, lot, now_ms(), lot_view(state))))
        watch.last_seq[lot] = state.seq

    async def _send_after(self, watch: Watch, lot: int, after: int, upto: int | None = None) -> None:
        """The lot's events after `after` (up to `upto`), read from its own stream; moves `last_seq`."""
        watch.last_seq[lot] = after
        while upto is None or watch.last_seq[lot] < upto:
            events = await self.store.stream_events_after(watch.sale, lot, watch.last_seq[lot], PAGE)
            for event in events:
                if upto is not None and event.seq > upto:
                    return
                if watch.priming:
                    await watch.outbox.room()
                frame = await self.event_frame(watch.sale, lot, event, watch.audience)
                if frame is not None:
                    watch.outbox.put(frame)
                watch.last_seq[lot] = event.seq
            if len(events) < PAGE:
                return

    async def _go_live(self, watch: Watch) -> None:
        """Deliver what arrived while priming; no await stands between the last of it and going live."""
        while watch.buffer:
            lot, seq, frame = watch.buffer.pop(0)
            await self._deliver(watch, lot, seq, frame)
        watch.priming = False

    # ---- delivering ---------------------------------------------------------------------------------------

    def offer_now(self, watch: Watch, lot: int, seq: int, frame: bytes) -> bool:
        """Deliver (or buffer while priming, or skip a repeat) without waiting; False when the watch first needs
        a gap filled from the lot's stream: then `offer` does it."""
        if watch.priming:
            if len(watch.buffer) >= OUTBOX_FRAMES:
                watch.outbox.give_up()  # priming that can't keep up with the live feed
                return True
            watch.buffer.append((lot, seq, frame))
            return True
        return self._deliver_now(watch, lot, seq, frame)

    async def offer(self, watch: Watch, lot: int, seq: int, frame: bytes) -> None:
        if not self.offer_now(watch, lot, seq, frame):
            await self._deliver(watch, lot, seq, frame)

    def _deliver_now(self, watch: Watch, lot: int, seq: int, frame: bytes) -> bool:
        """Send the event at `seq` if it is the next one; skip it if it was sent; False if there is a gap."""
        last = watch.last_seq.get(lot, 0)
        if seq <= last or watch.outbox.lagged:
            return True
        if seq > last + 1:
            return False
        watch.outbox.put(frame)
        watch.last_seq[lot] = seq
        return True

    async def _deliver(self, watch: Watch, lot: int, seq: int, frame: bytes) -> None:
        """Send the event at `seq` exactly once and in order, filling a gap from the lot's stream first. A gap
        the stream can't fill (trimmed, or lost with Redis) drops the watcher as lagged: it resumes and gets a
        snapshot, rather than silently missing events."""
        if self._deliver_now(watch, lot, seq, frame):
            return
        try:
            await self._send_after(watch, lot, watch.last_seq.get(lot, 0), upto=seq - 1)
        except EventsTrimmed:
            watch.outbox.give_up()
            return
        if not self._deliver_now(watch, lot, seq, frame):
            watch.outbox.give_up()
