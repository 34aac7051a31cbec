"""LotStore: the engine run against Redis. Commands in, outcomes out; reads of lots, events and standings.

    submit / execute ──> this store holds the sale? ──yes──> Committer (decide, commit atomically)
                                   │ no
                                   v
                         take the lease (lease.py)? ──yes──> Committer
                                   │ no: another store owns it
                                   v
                         Forwarder ──> the owner's Committer ──> the answer comes back

Writers. In the normal mode ("single") one store writes each sale: whoever holds its lease; every other store
forwards to it. That gives every sale one sequencer and one clock (the owner stamps each command's time as it
decides it), and no two processes fight over a hot lot. In the "optimistic" mode every store commits directly
and the compare-and-set alone keeps the record right; it is kept because it needs no lease, and it was measured
against the other (README, "One writer per sale").

Durability: what an acknowledged outcome survives. An outcome is resolved only after the commit returned.
- durability="redis", server `appendfsync always`: Redis fsyncs the AOF before replying, so nothing is lost on
  a process crash or a power loss of a single node. Replication is asynchronous, though: a failover to a
  replica that had not yet received the write loses acknowledged bids.
- durability="redis", `appendfsync everysec`: a power loss or kill -9 of Redis can lose about the last second.
- durability="postgres": the commit's events and journal entry are also in PostgreSQL before the answer, and a
  resend answered from Redis is re-recorded there first; nothing acknowledged is lost once PostgreSQL has it,
  whatever happens to Redis.
If a commit's reply is lost (connection dropped, owner gone), the outcome is unknown: the caller gets
StoreUnavailable and may resend with the same client id, which returns the first answer if the commit happened.

Idempotence. A command with a dedupe key ("<bidder>:<client_id>", scoped to the sale) has its answer stored in
the same atomic step, for the idempotency window (planner.IDEMPOTENCY_WINDOW_MS); the commit script answers a
repeat within it with the first answer, wherever the repeat is sent. After it, a repeat is decided afresh.

Retired sales (auction.janitor). A write to a retired sale's journal (a commit, a lot created, a standing set)
takes it out of retirement in the same atomic step, and the store puts it back among the active sales, so that
the persister records the entry; the janitor retires it again once it has. Once the janitor has purged a sale's
keys, its lots and events are read from the record (purged.py), for a store with a PostgreSQL pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
from redis.asyncio import Redis

from auction import keys
from auction.config import Durability, Writers
from auction.engine.journal import JOURNAL_ENCODER, LotCreated, StandingSet
from auction.engine.lot import LotState, LotTerms, new_lot, timers
from auction.engine.messages import EVENT_DECODER, AnyCommand, AnyEvent, Rejected
from auction.engine.standing import BidderStanding
from auction.record import load_lot_events_between
from auction.redis_adapter import decodes_responses

from .codec import Outcome, decode_bidder, decode_standing, decode_state, encode_standing, encode_state
from .committer import MAX_QUEUE_AGE_NS, Committer, Pending, StoreStats, revive_sale
from .errors import EventsTrimmed, StoreClosed, StoreError, StoreUnavailable, translate_errors
from .forward import Forwarder
from .lease import GATEWAY_PRIORITY, LEASE_MS, SaleLeases
from .planner import IDEMPOTENCY_WINDOW_MS
from .purged import PurgedSales
from .scripts import CREATE_LUA, STANDING_LUA

ROUTE_TIMEOUT_NS = 8_000_000_000  # a command waits for a sale's owner past a dead owner's lease, not forever
ROUTE_PAUSE_S = 0.05  # between attempts while a sale's lease is held by a store that doesn't answer
ROUTE_IDLE_S = 1.0  # a sale's route with nothing to forward lingers this long, then goes


@dataclass(slots=True)
class _Route:
    """A sale this store doesn't hold: its commands, in the order submitted, waiting to be forwarded."""

    queue: deque[Pending] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    owner: str = ""  # the store that holds the sale, as the lease said last
    owner_answers: bool = False  # the last batch reached the owner: forward the next without asking for the lease


def _pass_on(item: Pending, future: asyncio.Future[Outcome]) -> None:
    """The owner's answer (or the failure to get one) is the answer to the caller's command."""
    error = future.exception()
    if error is None:
        item.resolve(future.result())
    else:
        item.fail(error)


def _waited_too_long(item: Pending) -> bool:
    return time.monotonic_ns() - item.queued_ns > ROUTE_TIMEOUT_NS


def _fail_all(items: Iterable[Pending], error: StoreError) -> None:
    for item in items:
        item.fail(error)


class LotStore:
    def __init__(
        self,
        redis: Redis,
        *,
        durability: Durability = "redis",
        pg: asyncpg.Pool | None = None,
        max_pending: int = 10_000,
        enforce_standing: bool = False,
        writers: Writers = "single",
        priority: int = GATEWAY_PRIORITY,
        monotonic_time: bool = False,
        lease_ms: int = LEASE_MS,
        idempotency_window_ms: int = IDEMPOTENCY_WINDOW_MS,
    ) -> None:
        if durability == "postgres" and pg is None:
            raise ValueError("durability='postgres' needs a PostgreSQL pool")
        if decodes_responses(redis):
            raise ValueError("LotStore needs a Redis client with decode_responses=False (state is binary)")
        self.id = secrets.token_hex(6)  # this store among the sale's writers (commits, leases, replies)
        self._redis = redis
        self._pg = pg  # where trimmed events are read from (events_after)
        self._purged = PurgedSales(redis, pg)  # sales the janitor purged, read from the record
        self._closed = False
        self.stats = StoreStats()
        self._leases = SaleLeases(redis, self.id, priority, lease_ms=lease_ms) if writers == "single" else None
        self._committer = Committer(
            redis, self.id, self.stats, durability=durability, pg=pg, max_pending=max_pending,
            enforce_standing=enforce_standing, monotonic_time=monotonic_time, fence_of=self._fence_of,
            on_fenced=self._fenced, reroute=self._reroute, idempotency_window_ms=idempotency_window_ms,
        )  # fmt: skip
        self._forwarder = Forwarder(redis, self.id, self.submit, self.stats)
        self._create_script = redis.register_script(CREATE_LUA)
        self._standing_script = redis.register_script(STANDING_LUA)
        self._max_pending = max_pending
        self._durability = durability
        self._tasks: set[asyncio.Task[None]] = set()
        self._routes: dict[int, _Route] = {}  # sales whose commands wait to be forwarded or for the lease

    # ---- commands -------------------------------------------------------------------------------------------

    async def execute(self, sale: int, lot: int, command: AnyCommand, *, dedupe: str | None = None) -> Outcome:
        """Decide and commit one command; resolves once the commit is as durable as the mode promises."""
        return await self.submit(sale, lot, command, dedupe=dedupe)

    def submit(self, sale: int, lot: int, command: AnyCommand, dedupe: str | None = None) -> asyncio.Future[Outcome]:
        """`execute` without a coroutine: the future of the command's outcome (already done when the store is
        too busy), for callers that answer from a done-callback. The future fails with a StoreError as
        `execute` would raise it; raises StoreClosed after close()."""
        if self._closed:
            raise StoreClosed("the store is closed")
        if sale not in self._routes and self._fence_of(sale) is not None:
            return self._committer.submit(sale, lot, command, dedupe)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        item = Pending(sale, lot, command, dedupe, future)
        if self._route_full(sale):
            self.stats.busy += 1
            future.set_result(Rejected("busy"))
        else:
            self._reroute(item)
        return future

    def _fence_of(self, sale: int) -> str | None:
        return "" if self._leases is None else self._leases.fence(sale)

    def _route_full(self, sale: int) -> bool:
        """Past capacity for a sale whose commands wait to be routed: as many as the committer may queue, or
        the oldest has waited as long as the committer lets a command wait."""
        route = self._routes.get(sale)
        if route is None or not route.queue:
            return False
        too_old = time.monotonic_ns() - route.queue[0].queued_ns > MAX_QUEUE_AGE_NS
        return too_old or len(route.queue) >= self._max_pending

    def _reroute(self, item: Pending) -> None:
        """Route a command (again): its sale's route takes the lease or forwards, keeping submission order."""
        route = self._routes.get(item.sale)
        if route is None:
            route = self._routes[item.sale] = _Route()
            route.task = asyncio.create_task(self._run_route(item.sale, route), name=f"lot-store-route-{item.sale}")
        route.queue.append(item)
        route.wakeup.set()

    async def _run_route(self, sale: int, route: _Route) -> None:
        """While this store doesn't hold `sale`: forward its commands, in order, batch by batch, to the owner;
        or take the lease and hand them all to the committer, in order, and stop."""
        try:
            while route.queue:
                if await self._route_once(sale, route):
                    return
                if not route.queue:
                    route.wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(route.wakeup.wait(), ROUTE_IDLE_S)
        except Exception as exc:  # a bug or an unreachable Redis must not leave callers waiting
            error = exc if isinstance(exc, StoreError) else StoreError(f"internal error: {exc!r}")
            _fail_all(route.queue, error)
        finally:
            if self._routes.get(sale) is route:
                del self._routes[sale]
            _fail_all(route.queue, StoreUnavailable(f"routing sale {sale} stopped"))

    async def _route_once(self, sale: int, route: _Route) -> bool:
        """One step: True once the sale is ours (everything waiting went to the committer)."""
        assert self._leases is not None
        if not route.owner_answers:
            await self._forwarder.listen()  # others forward to us as soon as we hold the lease
            fence, owner = await self._leases.acquire(sale)
            if fence is not None:
                del self._routes[sale]  # from now on commands go straight to the committer, after these
                for item in route.queue:
                    self._committer.enqueue(item)
                route.queue.clear()
                return True
            route.owner = owner or ""
        batch = list(route.queue)
        route.queue.clear()
        try:
            futures = await self._forwarder.publish(sale, route.owner, batch)
        except StoreError as exc:  # not sent, or sent and not confirmed: unknown either way, the caller resends
            route.owner_answers = False
            _fail_all(batch, exc)
            return False
        if futures is None:  # nobody listens: the owner is gone or leaving; its lease will lapse
            route.owner_answers = False
            route.queue.extendleft(reversed(batch))
            if _waited_too_long(batch[0]):
                _fail_all(route.queue, StoreUnavailable(f"no store answers for sale {sale}: its owner is gone"))
                route.queue.clear()
            else:
                await asyncio.sleep(ROUTE_PAUSE_S)
            return False
        route.owner_answers = True
        for item, future in zip(batch, futures, strict=True):
            if self._durability == "postgres":
                self._spawn(self._record_then_pass_on(item, future))
            else:
                future.add_done_callback(partial(_pass_on, item))
        return False

    async def _record_then_pass_on(self, item: Pending, future: asyncio.Future[Outcome]) -> None:
        """`postgres` durability holds whoever decided: the owner's answer is passed on once PostgreSQL has its
        events, or not at all (StoreUnavailable: resend)."""
        try:
            outcome = await future
            await self._committer.record_outcome(item.sale, item.lot, outcome)
        except StoreError as exc:
            item.fail(exc)
            return
        item.resolve(outcome)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fenced(self, sale: int) -> None:
        if self._leases is not None:
            self._leases.drop(sale)

    # ---- what identity and the catalogue write --------------------------------------------------------------

    async def create_lots(self, terms: Sequence[LotTerms]) -> None:
        """Load lots into Redis. Idempotent: a lot that already exists is left untouched."""
        by_sale: dict[int, list[LotTerms]] = {}
        for lot_terms in terms:
            by_sale.setdefault(lot_terms.sale, []).append(lot_terms)
        with translate_errors("creating lots"):
            for sale, sale_terms in by_sale.items():
                await self._create_script(keys=_create_keys(sale, sale_terms), args=_create_args(sale_terms))
                await revive_sale(self._redis, sale)

    async def set_standing(self, sale: int, standing: BidderStanding) -> None:
        """Identity calls this whenever a buyer's eligibility in the sale changes. Bumping the version makes
        every decision already read against the old standing fail its commit and be decided again, in every
        process: the change holds for the next bid, wherever it is decided. The journal records it."""
        script_keys = [keys.bidder(sale, standing.bidder), keys.sale_journal(sale), keys.sale_retired(sale)]
        entry = JOURNAL_ENCODER.encode(StandingSet(standing))
        with translate_errors("setting a standing"):
            revived = await self._standing_script(keys=script_keys, args=[encode_standing(standing), entry])
            if revived:
                await revive_sale(self._redis, sale)
        self._committer.forget(sale, bidder=standing.bidder)

    # ---- reads ----------------------------------------------------------------------------------------------

    async def state(self, sale: int, lot: int) -> LotState | None:
        """The lot's committed state, read from Redis (not the cache); a purged sale's, from the record."""
        with translate_errors("reading a lot"):
            data: bytes | None = await self._redis.hget(keys.lot_state(sale, lot), keys.STATE_FIELD)  # type: ignore[assignment]
        if data is not None:
            return decode_state(data)
        if await self._purged.is_purged(sale):
            return (await self._purged.states(sale)).get(lot)
        return None

    async def states(self, sale: int) -> list[LotState]:
        """Every lot of the sale, in lot order; a purged sale's, rebuilt from the record."""
        with translate_errors("reading a sale"):
            members: list[bytes] = await self._redis.zrange(keys.sale_lots(sale), 0, -1)  # type: ignore[assignment]
            lots = [int(lot) for lot in members]
            async with self._redis.pipeline(transaction=False) as pipe:
                for lot in lots:
                    pipe.hget(keys.lot_state(sale, lot), keys.STATE_FIELD)
                found: list[bytes | None] = await pipe.execute()
        if not lots and await self._purged.is_purged(sale):
            return [state for _lot, state in sorted((await self._purged.states(sale)).items())]
        return [decode_state(data) for data in found if data is not None]

    async def events_after(self, sale: int, lot: int, after_seq: int, limit: int = 1000) -> list[AnyEvent]:
        """The lot's events with seq > after_seq, in order, at most `limit`: what a reconnecting watcher missed,
        or a lot's whole record. The janitor keeps only a lot's last events in its stream, and only once the
        record in PostgreSQL has the older ones: those are read from there (EventsTrimmed without a pool)."""
        try:
            events = await self.stream_events_after(sale, lot, after_seq, limit)
        except EventsTrimmed as trimmed:
            if self._pg is None:
                raise
            return await self._events_from_record(sale, lot, after_seq, trimmed.first_seq, limit)
        if not events and await self._purged.is_purged(sale):  # no stream left: the record is all there is
            return await self._purged.events_after(sale, lot, after_seq, limit)
        return events

    async def stream_events_after(self, sale: int, lot: int, after_seq: int, limit: int = 1000) -> list[AnyEvent]:
        """`events_after` from the lot's stream in Redis alone: raises EventsTrimmed when the stream no longer
        holds the event after `after_seq` (the live feed then sends a snapshot instead, never a gap)."""
        with translate_errors("reading events"):
            stream = keys.lot_events(sale, lot)
            entries: list[tuple[bytes, dict[bytes, bytes]]]
            entries = await self._redis.xrange(stream, min=f"{after_seq + 1}-0", count=limit)  # type: ignore[assignment]
        events = [EVENT_DECODER.decode(fields[keys.EVENT_FIELD.encode()]) for _id, fields in entries]
        if events and events[0].seq != after_seq + 1:
            raise EventsTrimmed(sale, lot, after_seq, events[0].seq)
        return events

    async def _events_from_record(
        self, sale: int, lot: int, after_seq: int, first_in_stream: int, limit: int
    ) -> list[AnyEvent]:
        """The events the stream no longer holds, from PostgreSQL, then the stream's own up to `limit`."""
        assert self._pg is not None
        wanted = min(limit, first_in_stream - 1 - after_seq)
        with translate_errors("reading trimmed events from the record"):
            older = await load_lot_events_between(self._pg, sale, lot, after_seq, first_in_stream, wanted)
        if len(older) < wanted:  # never expected: the janitor trims only what the record has
            raise EventsTrimmed(sale, lot, after_seq, first_in_stream)
        if len(older) == limit:
            return older
        return older + await self.stream_events_after(sale, lot, first_in_stream - 1, limit - len(older))

    async def standing(self, sale: int, bidder: int) -> BidderStanding | None:
        """The buyer's standing in the sale as last set, or None (not registered: their bids are refused)."""
        with translate_errors("reading a standing"):
            data: bytes | None = await self._redis.hget(keys.bidder(sale, bidder), keys.STANDING_FIELD)  # type: ignore[assignment]
        return None if data is None else decode_standing(data)

    async def exposure(self, sale: int, bidder: int) -> dict[int, int]:
        """Lot -> what the buyer would owe on it, premium included, for every lot of the sale they lead or have
        bought. Its sum is what their limit is held against."""
        with translate_errors("reading an exposure"):
            fields: dict[bytes, bytes] = await self._redis.hgetall(keys.bidder(sale, bidder))  # type: ignore[assignment]
        return decode_bidder(fields).exposure

    async def journal_length(self, sale: int) -> int:
        """Entries the sale's journal has had: those in Redis, and those the janitor trimmed once recorded. The
        persister has copied it all once PostgreSQL has as many."""
        with translate_errors("reading the journal"):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xlen(keys.sale_journal(sale))
                pipe.hget(keys.sale_trimmed(sale), keys.TRIMMED_JOURNAL_FIELD)
                held, trimmed = await pipe.execute()
        return int(held) + int(trimmed or 0)

    def in_flight(self) -> int:
        """Commits sent and not yet answered."""
        return self._committer.in_flight()

    # ---- closing --------------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop taking commands, finish those queued and in flight, give back the sales this store held."""
        self._closed = True
        for route in list(self._routes.values()):
            if route.task is not None:
                with contextlib.suppress(Exception):
                    await route.task
        await self._committer.close()
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        for route in list(self._routes.values()):  # commands the committer handed back while closing
            if route.task is not None:
                with contextlib.suppress(Exception):
                    await route.task
        if self._leases is not None:
            await self._leases.release_all()
        await self._forwarder.close()


def service_store(
    redis: Redis,
    pg: asyncpg.Pool | None,
    *,
    durability: Durability = "redis",
    writers: Writers = "single",
    priority: int = GATEWAY_PRIORITY,
) -> LotStore:
    """How a service builds its store. Whichever store holds a sale decides every bid of it, so every service's
    store holds bids to standings and limits, and keeps each sale's time from going backwards."""
    return LotStore(
        redis, durability=durability, pg=pg, enforce_standing=True, writers=writers, priority=priority,
        monotonic_time=True,
    )  # fmt: skip


def _create_keys(sale: int, terms: list[LotTerms]) -> list[str]:
    fixed = [keys.sale_lots(sale), keys.sale_opens(sale), keys.sale_closes(sale), keys.sale_journal(sale)]
    return [*fixed, keys.sale_retired(sale), *(keys.lot_state(sale, t.lot) for t in terms)]


def _create_args(terms: list[LotTerms]) -> list[bytes | int | str]:
    """Each lot's timers are its format's (a timed lot: its start and end; a live lot: none, since the rostrum
    opens and closes it, so the scheduler never does), "" for none, as the commit script writes them."""
    args: list[bytes | int | str] = []
    for t in terms:
        state = new_lot(t)
        opens, closes = timers(state)
        args += [t.lot, encode_state(state), _score(opens), _score(closes), JOURNAL_ENCODER.encode(LotCreated(t))]
    return args


def _score(at_ms: int | None) -> int | str:
    return "" if at_ms is None else at_ms
