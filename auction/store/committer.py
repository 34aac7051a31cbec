"""The committer: decides queued commands with the pure core and commits them, a batch per sale, atomically.

How a command is executed. `submit` queues it; one committer task takes everything pending (up to BATCH_CAP),
decides each command in order (planner.plan_batch) against a process-local cache of lot states and bidder
records, and commits each sale's batch in one run of the commit script (commit.lua). The script is a
compare-and-set: it writes only if every lot and bidder record the decisions read is still at the version they
were read at. Otherwise it writes nothing and returns the current states, from which the batch is decided
again, at most MAX_CONFLICTS times, then answered "busy". Refused commands go through the commit too: their
verdict was reached against versions that must still be current, their answers are stored for dedupe, and the
journal records them. An idle store sends a lone command at once; commands that arrive while a commit is in
flight form the next batch.

One writer per sale (auction.store.lease), in the normal mode: every commit also names the fencing token its
store holds the sale with, and is refused ('fenced') if the sale has changed hands; its commands are then
handed back to be routed to the new owner. The compare-and-set stays all the same: it is what makes a commit
safe whoever else writes (the optimistic mode, `fence_of` answering ''), and what catches a standing changed
by identity meanwhile.

Pipelining. A commit does not wait for the one before it to come back: up to PIPELINE_DEPTH are in flight on a
connection of their own (pipe.py), and Redis runs them in the order sent. The next batch is decided as if the
commits in flight succeed (their outcomes are in the cache). Three rules keep this exactly as safe as waiting:
- A batch is decided on a snapshot taken at one instant: the lot states, the bidder records and the token of
  the newest commit in flight are read from the cache together, with no await in between (loading what is
  missing comes first, and the snapshot is retaken after every load). A commit that fails while a batch waits
  on a load can't leave the batch deciding on its assumed outcome.
- A batch decided while commits are in flight names the newest one ('previous'), and the script refuses it
  ('chain') unless that commit was applied. Each commit chains to the one before it, so its being applied
  means every earlier one it may have read from was too.
- Replies are settled in order. A failed commit (stale, chain, dup, fenced, or a broken connection) is
  forgotten from the cache (every lot and record it touched) before anything else is decided, and its commands
  are decided again before anything newer.

Standings and limits (enforce_standing). A buyer company's record in a sale is one hash, `sale:{S}:bidder:B`:
`v` its version, `s` its standing, and `x:<lot>` -> all-in for each lot it leads or has bought: its exposure,
one field per lot. A bid's decision reads the bidder's record and the lot's leader's (whose proxy may answer);
the commit checks `v` of every record read, and writes the exposure fields that changed, per lot. Only a bid
that read a buyer's record can raise their exposure, and the record's version moves with every write, so two
decisions that read the same version can't both commit: a buyer's exposure never passes their limit. A close
HDELs its own lot's field without reading the buyer (it only makes room), bumping `v` so that nobody refuses
the buyer from a cached, higher exposure.

Durability. An outcome is resolved only after its commit returned: with `appendfsync always`, once Redis has
written and fsynced it. In `postgres` durability the commit's events and journal entry are also inserted into
PostgreSQL first, and a resent command answered from the answers hash has its events written there too before
it is answered: an acknowledgement in that mode means the record has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from redis.asyncio import Redis

from auction import keys
from auction.config import Durability
from auction.engine.lot import LotState
from auction.engine.messages import AnyCommand, Rejected
from auction.record import event_row, journal_row, write_events, write_journal
from auction.redis_adapter import REDIS_ERRORS

from .codec import (
    Accepted,
    BidderRecord,
    Outcome,
    RostrumRecord,
    decode_bidder,
    decode_rostrum,
    decode_state,
    decode_stored_answer,
)
from .errors import LotNotFound, StoreError, StoreUnavailable, translate_errors
from .pipe import CommitPipe
from .planner import (
    Chain,
    Plan,
    Writes,
    bidders_needed,
    commit_args,
    commit_keys,
    journal_entry,
    needs_rostrum,
    plan_batch,
    touched_bidders,
)

log = logging.getLogger(__name__)

# Past capacity, say "busy" at once rather than queue for seconds: once the oldest waiting command has waited
# this long, new commands are turned away, so the latency of what is accepted stays bounded. A quarter second,
# because with appendfsync always a single fsync on a slow disk was seen to stall a commit for 100-400 ms, and a
# hiccup of the disk is not a reason to refuse bids.
MAX_QUEUE_AGE_NS = 250_000_000
BATCH_CAP = 512  # commands per commit: bounds the script's run time (Redis is single-threaded) and reply size
MAX_CONFLICTS = 10  # failed commits of one command (a lot or buyer had moved) before it is answered "busy"
PIPELINE_DEPTH = 2  # commits in flight at once: Redis runs one while the next is decided
MAX_CACHED_LOTS = 100_000  # lot states kept in memory; an evicted lot is simply loaded again
MAX_CACHED_BIDDERS = 100_000  # bidder records (standing, exposure) kept in memory, likewise
# The answer to a dedupe key (a bidder's client id, scoped to the sale) sent again for another lot than the one it
# was first used on: neither a resend (whose answer would be about the other lot) nor a new command.
REUSED = Rejected("client_id_reused")
SNAPSHOT_ROUNDS = 8  # loads before a batch gives up on a consistent snapshot (a bound, never reached in practice)


@dataclass(slots=True)
class Pending:
    """A queued command, and the futures waiting for its answer (followers: same dedupe key, same batch)."""

    sale: int
    lot: int
    command: AnyCommand
    dedupe: str | None
    future: asyncio.Future[Outcome]
    followers: list[asyncio.Future[Outcome]] = field(default_factory=list)
    queued_ns: int = field(default_factory=time.monotonic_ns)
    attempts: int = 0  # commits of it that failed (a lot or a buyer had moved): past MAX_CONFLICTS, "busy"

    def futures(self) -> Iterator[asyncio.Future[Outcome]]:
        yield self.future
        yield from self.followers

    def resolve(self, outcome: Outcome) -> None:
        for future in self.futures():
            if not future.done():  # the caller may have given up (cancelled) meanwhile
                future.set_result(outcome)

    def fail(self, error: BaseException) -> None:
        for future in self.futures():
            if not future.done():
                future.set_exception(error)


@dataclass(slots=True)
class _Commit:
    """A sale's batch, decided and sent; settled when its reply comes back, in the order commits were sent."""

    sale: int
    items: list[Pending]
    plan: Plan
    writes: Writes
    reply: asyncio.Future[Any]
    sent_ns: int
    token: str
    journal: bytes  # its journal entry, as the script appends it


@dataclass(slots=True)
class StoreStats:
    """Counters for metrics and for judging the batching."""

    batches: int = 0
    commands: int = 0
    largest_batch: int = 0
    conflicts: int = 0  # commits refused because a lot or a buyer had moved (or the one before had failed)
    busy: int = 0  # commands answered "busy": queue full or too many conflicts
    commits: int = 0  # commit scripts run (one per sale per batch, plus one per retry)
    fenced: int = 0  # commits refused because the sale had changed hands
    forwarded: int = 0  # commands sent to the store that owns their sale
    served: int = 0  # commands taken from other stores, for sales this store owns
    deciding_ns: int = 0  # time spent deciding batches with the pure core (the event loop is held meanwhile)
    committing_ns: int = 0  # time from sending a commit script to its reply (Redis's run, its fsync, the wire)


# The sale's fencing token while this store may write it ('' in the optimistic mode), or None: route it again.
FenceOf = Callable[[int], str | None]


class Committer:
    def __init__(
        self,
        redis: Redis,
        store_id: str,
        stats: StoreStats,
        *,
        durability: Durability,
        pg: asyncpg.Pool | None,
        max_pending: int,
        enforce_standing: bool,
        monotonic_time: bool,
        fence_of: FenceOf,
        on_fenced: Callable[[int], None],
        reroute: Callable[[Pending], None],
        idempotency_window_ms: int,
    ) -> None:
        self._redis = redis
        self._window_ms = idempotency_window_ms
        self._id = store_id
        self.stats = stats
        self._durability = durability
        self._pg = pg
        self._max_pending = max_pending
        self._enforce = enforce_standing
        self._monotonic = monotonic_time
        self._last_stamp: dict[int, int] = {}  # sale -> the latest time a command of it was decided at
        self._fence_of = fence_of
        self._on_fenced = on_fenced
        self._reroute = reroute
        self._pipe = CommitPipe(redis)
        self._queue: deque[Pending] = deque()
        self._retry: deque[Pending] = deque()  # commands of failed commits, decided again before the queue
        self._in_flight: deque[_Commit] = deque()  # sent, in order, not yet settled
        self._sending_since_ns: int | None = None  # when the oldest command of the batch being sent was queued
        self._tokens = itertools.count(1)
        self._slots = asyncio.Semaphore(PIPELINE_DEPTH)
        self._wakeup = asyncio.Event()
        self._has_in_flight = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._settler: asyncio.Task[None] | None = None
        self._closed = False
        # After a failed commit, nothing new is sent until the commits in flight behind it have settled: they
        # fail too (chained), and their commands must be decided again before anything submitted after them.
        self._draining = False
        self._failures = 0  # commits that failed so far: a batch that saw this move while it waited goes back
        self._lots: dict[tuple[int, int], LotState] = {}
        self._bidders: dict[tuple[int, int], BidderRecord] = {}  # (sale, bidder) -> record, checked at commit
        self._rostrums: dict[int, RostrumRecord] = {}  # a live sale's, checked at commit

    # ---- taking commands ----------------------------------------------------------------------------------

    def submit(self, sale: int, lot: int, command: AnyCommand, dedupe: str | None) -> asyncio.Future[Outcome]:
        """Queue the command; the future of its outcome (already done when the store is too busy)."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        if self._overloaded():
            self.stats.busy += 1
            future.set_result(Rejected("busy"))
            return future
        self.enqueue(Pending(sale, lot, command, dedupe, future))
        return future

    def enqueue(self, item: Pending) -> None:
        self._queue.append(item)
        self._start()
        self._wakeup.set()

    def _overloaded(self) -> bool:
        """Past capacity: the queue is full, or the oldest command still unanswered (in flight, waiting for a
        retry or queued) has waited longer than MAX_QUEUE_AGE_NS. A stalled commit counts as waiting too."""
        if len(self._queue) >= self._max_pending:
            return True
        heads = [waiting[0] for waiting in (self._retry, self._queue) if waiting]
        if self._in_flight:
            heads.append(self._in_flight[0].items[0])
        oldest = min([item.queued_ns for item in heads] + [self._sending_since_ns or time.monotonic_ns()])
        return time.monotonic_ns() - oldest > MAX_QUEUE_AGE_NS

    def in_flight(self) -> int:
        return len(self._in_flight)

    async def close(self) -> None:
        """Stop, once everything queued and in flight is settled."""
        self._closed = True
        self._wakeup.set()
        if self._committer is not None:
            await self._committer
        if self._settler is not None:
            self._settler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._settler
        await self._pipe.close()

    def forget(self, sale: int, lot: int | None = None, bidder: int | None = None) -> None:
        """Drop a cached lot or bidder record (someone else wrote it): it is read again when next needed."""
        if lot is not None:
            self._lots.pop((sale, lot), None)
        if bidder is not None:
            self._bidders.pop((sale, bidder), None)

    # ---- the committer task -------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_forever(), name="lot-store-committer")
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle_forever(), name="lot-store-settler")

    async def _commit_forever(self) -> None:
        """Decide and send what is waiting (retries first), without waiting for the commits before it to come
        back; at most PIPELINE_DEPTH commits are in flight. Ends once closed and everything is settled."""
        while self._queue or self._retry or self._in_flight or not self._closed:
            if not (self._queue or self._retry) or self._draining:
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            await self._slots.acquire()  # before taking the batch: what arrives meanwhile joins it
            if self._draining:  # a commit failed while we waited for the slot
                self._slots.release()
                continue
            batch = self._take_batch()
            self._count_batch(len(batch))
            self._sending_since_ns = batch[0].queued_ns
            try:
                for index, (sale, items) in enumerate(_by_sale(batch).items()):
                    if index > 0:
                        await self._slots.acquire()
                    await self._send_sale(sale, items)
            finally:
                self._sending_since_ns = None

    def _take_batch(self) -> list[Pending]:
        batch: list[Pending] = []
        for waiting in (self._retry, self._queue):
            while waiting and len(batch) < BATCH_CAP:
                batch.append(waiting.popleft())
        return batch

    def _count_batch(self, size: int) -> None:
        self.stats.batches += 1
        self.stats.commands += size
        self.stats.largest_batch = max(self.stats.largest_batch, size)

    async def _send_sale(self, sale: int, items: list[Pending]) -> None:
        """Decide one sale's commands and send their commit, holding a pipeline slot until it is settled. Never
        raises: a command that can't be sent gets its answer or its exception here, and the committer lives on."""
        sent = False
        try:
            fence = self._fence_of(sale)
            if fence is None:  # we no longer hold the sale: its owner decides these
                for item in items:
                    self._reroute(item)
                return
            failures = self._failures
            snapshot = await self._snapshot(sale, items)
            if snapshot is not None and self._failures != failures:
                # A commit failed while this batch waited for a load: its commands, older than these, are
                # decided first; these take their place among them, oldest first.
                self._wait_for_retry(items)
                return
            if snapshot is not None:
                items = _merge_same_dedupe_key([item for item in items if item.lot in snapshot.lots])
                if items:
                    await self._send(sale, items, snapshot, fence)  # no await before it decides
                    sent = True
        except StoreError as exc:
            _fail_all(items, exc)
        except Exception as exc:  # a bug must not hang callers or kill the committer
            log.exception("committing a batch of sale %s failed", sale)
            _fail_all(items, StoreError(f"internal error: {exc!r}"))
        finally:
            if not sent:
                self._slots.release()

    async def _snapshot(self, sale: int, items: list[Pending]) -> _Snapshot | None:
        """What the batch is decided on, all read from the cache at one instant (after loading what is
        missing): the caller decides before its next await. Commands for lots that don't exist fail here."""
        lots = {item.lot for item in items}
        absent: set[int] = set()
        for _round in range(SNAPSHOT_ROUNDS):
            missing = sorted(lot for lot in lots - absent if (sale, lot) not in self._lots)
            if missing:
                absent |= await self._load_lots(sale, missing)
                continue  # a commit may have failed while we waited: look again
            known = {lot: self._lots[(sale, lot)] for lot in lots - absent}
            _fail_unknown(sale, items, absent)
            present = [item for item in items if item.lot in known]
            if needs_rostrum(present, known) and sale not in self._rostrums:
                await self._load_rostrum(sale)
                continue
            bidders = None
            if self._enforce:
                wanted = bidders_needed(present, known)
                missing_bidders = sorted(bidder for bidder in wanted if (sale, bidder) not in self._bidders)
                if missing_bidders:
                    await self._load_bidders(sale, missing_bidders)
                    continue
                bidders = {bidder: self._bidders[(sale, bidder)] for bidder in wanted}
            rostrum = self._rostrums[sale] if needs_rostrum(present, known) else None
            return _Snapshot(known, bidders, rostrum)
        self._retry_later(items)
        return None

    async def _send(self, sale: int, items: list[Pending], snapshot: _Snapshot, fence: str) -> None:
        """Decide, assume the outcome (cache), put the commit in flight, and only then write it."""
        started = time.monotonic_ns()
        self._stamp(sale, items)
        bidders = snapshot.bidders
        plan = plan_batch(items, snapshot.lots, bidders, snapshot.rostrum)
        writes = plan.exposure_writes()
        token = str(next(self._tokens))
        chain = Chain(self._id, token, self._newest_in_flight(sale), fence)
        journal = journal_entry(self._id, plan)
        keys_ = commit_keys(sale, plan, writes)
        args = commit_args(items, plan, writes, bidders, chain, journal, answer_ttl_ms=self._window_ms)
        self._assume(sale, plan, writes, bidders)
        reply = asyncio.get_running_loop().create_future()
        commit = _Commit(sale, items, plan, writes, reply, 0, token, journal)
        self._in_flight.append(commit)
        self._has_in_flight.set()
        commit.sent_ns = time.monotonic_ns()
        self.stats.deciding_ns += commit.sent_ns - started
        await self._pipe.send(keys_, args, commit.reply)

    def _stamp(self, sale: int, items: list[Pending]) -> None:
        """A sale's time never goes backwards: a command stamped earlier than one already decided (by a gateway
        whose clock lags a little) is decided at that later time. A command keeps the time it was received at
        otherwise, so a bid that waited while its sale changed hands is not made late by the wait."""
        if not self._monotonic:
            return
        last = self._last_stamp.get(sale, 0)
        for item in items:
            if item.command.at_ms < last:
                item.command = msgspec.structs.replace(item.command, at_ms=last)
            last = item.command.at_ms
        self._last_stamp[sale] = last

    def _newest_in_flight(self, sale: int) -> str:
        """The token of the newest commit of `sale` still in flight ('' if none): a batch decided now may have
        read its assumed outcome, and must not be applied unless it was."""
        return next((commit.token for commit in reversed(self._in_flight) if commit.sale == sale), "")

    def _assume(self, sale: int, plan: Plan, writes: Writes, bidders: dict[int, BidderRecord] | None) -> None:
        """The next batch is decided as if this commit succeeds. A record that was read is then known exactly (v
        + 1 if written); one written without being read may have moved in other ways meanwhile: forgotten."""
        for lot in plan.changed_lots():
            self._cache_lot(sale, lot, plan.after[lot])
        for bidder, (set_fields, del_fields) in writes.items():
            if bidders is None or bidder not in plan.read:
                self._bidders.pop((sale, bidder), None)
                continue
            old = bidders[bidder]
            exposure = {lot: owed for lot, owed in old.exposure.items() if lot not in del_fields} | set_fields
            self._cache_bidder(sale, bidder, BidderRecord(old.version + 1, old.standing, exposure))
        before, after = plan.rostrum_before, plan.rostrum
        if before is not None and after is not None and plan.rostrum_changed():
            self._rostrums[sale] = RostrumRecord(before.version + 1, after.on_block, after.last_opened)

    # ---- the settler: replies, in the order the commits were sent -------------------------------------------

    async def _settle_forever(self) -> None:
        while True:
            if not self._in_flight:
                self._has_in_flight.clear()
                await self._has_in_flight.wait()
                continue
            commit = self._in_flight[0]
            try:
                reply, error = await asyncio.shield(commit.reply), None
            except Exception as exc:  # the connection broke (or the script failed): whether it ran is unknown
                reply, error = None, exc
            self._in_flight.popleft()
            self.stats.commits += 1
            self.stats.committing_ns += time.monotonic_ns() - commit.sent_ns
            try:
                await self._settle(commit, reply, error)
            except Exception as exc:  # a bug must not hang callers or kill the settler
                log.exception("settling a commit of sale %s failed", commit.sale)
                _fail_all(commit.items, StoreError(f"internal error: {exc!r}"))
            if not self._in_flight:
                self._draining = False
            self._wakeup.set()  # the committer may be waiting for the last commits to settle

    async def _settle(self, commit: _Commit, reply: Any, error: BaseException | None) -> None:
        verdict = None if error is not None else reply[0]
        if verdict == b"ok":
            self._slots.release()
            if reply[2]:
                await self._revive(commit.sale)
            await self._answer(commit, reply[1])
            return
        self._undo(commit)  # before the slot is free: nothing is decided on a commit that failed
        self._failures += 1
        self._draining = True  # until this one's commands and those of the commits behind it wait for retry
        self._slots.release()
        if error is not None:
            _fail_all(commit.items, StoreUnavailable(f"committing: {error!r}"))
        elif verdict == b"dup":
            rest = await self._answer_repeats(commit.sale, commit.items, reply[1])
            self._retry_later(rest)
        elif verdict == b"fenced":
            self.stats.fenced += 1
            self._on_fenced(commit.sale)
            for item in commit.items:
                self._reroute(item)
        elif verdict == b"chain":
            self.stats.conflicts += 1
            self._retry_later(commit.items)
        else:
            self.stats.conflicts += 1
            self._refresh_bidders(commit.sale, reply[2])
            if reply[3]:
                self._rostrums[commit.sale] = decode_rostrum(_fields(reply[3][0]))
            self._retry_later(self._take_stale(commit, reply[1]))

    async def _revive(self, sale: int) -> None:
        """The commit took a retired sale out of retirement: back among the active sales, so that the persister
        records its journal entry. Best effort: if Redis fails here, the janitor notices and does it."""
        try:
            await revive_sale(self._redis, sale)
        except REDIS_ERRORS:
            log.warning("sale %s: putting it back among the active sales failed; the janitor will", sale)

    async def _answer(self, commit: _Commit, journal_id: bytes) -> None:
        if self._durability == "postgres":
            try:
                await self._record(commit, journal_id)
            except StoreError as exc:
                _fail_all(commit.items, exc)
                return
        for item, outcome in zip(commit.items, commit.plan.outcomes, strict=True):
            item.resolve(outcome)

    async def _record(self, commit: _Commit, journal_id: bytes) -> None:
        """`postgres` durability: the commit's events and journal entry in PostgreSQL before any answer."""
        assert self._pg is not None
        sale, plan = commit.sale, commit.plan
        rows = [event_row(sale, lot, event) for lot, events in plan.events.items() for event in events]
        journal = journal_row(sale, journal_id, commit.journal)
        with translate_errors("recording a commit in PostgreSQL"):
            async with self._pg.acquire() as connection, connection.transaction():
                await write_events(connection, rows)
                await write_journal(connection, [journal])

    async def _answer_repeats(self, sale: int, items: list[Pending], answered: list[bytes]) -> list[Pending]:
        """Hand stored first answers to the commands that repeat them; return the commands still to commit. In
        `postgres` durability a repeated acceptance is answered only once its events are in PostgreSQL."""
        stored = {answered[i].decode(): decode_stored_answer(answered[i + 1]) for i in range(0, len(answered), 2)}
        if self._durability == "postgres":
            await self._record_answers(sale, items, stored)
        rest: list[Pending] = []
        for item in items:
            if item.dedupe is not None and item.dedupe in stored:
                lot, outcome = stored[item.dedupe]
                item.resolve(outcome if lot in (0, item.lot) else REUSED)
            else:
                rest.append(item)
        return rest

    async def record_outcome(self, sale: int, lot: int, outcome: Outcome) -> None:
        """`postgres` durability for an answer another store decided: its events in PostgreSQL."""
        if isinstance(outcome, Accepted) and self._pg is not None:
            with translate_errors("recording a forwarded answer in PostgreSQL"):
                await write_events(self._pg, [event_row(sale, lot, event) for event in outcome.events])

    async def _record_answers(self, sale: int, items: list[Pending], stored: dict[str, tuple[int, Outcome]]) -> None:
        assert self._pg is not None
        lot_of = {item.dedupe: item.lot for item in items}
        rows = [
            event_row(sale, lot or lot_of[dedupe], event)  # the lot it was for, not the one a reuse names
            for dedupe, (lot, outcome) in stored.items()
            if isinstance(outcome, Accepted)
            for event in outcome.events
        ]
        with translate_errors("recording repeated answers in PostgreSQL"):
            await write_events(self._pg, rows)

    def _undo(self, commit: _Commit) -> None:
        """Forget every lot and buyer record a failed commit touched: they are read again, or taken from the
        script's reply. Later commits that read its assumed outcome fail their chain check in Redis."""
        for lot in commit.plan.before:
            self._lots.pop((commit.sale, lot), None)
        for bidder in touched_bidders(commit.plan, commit.writes):
            self._bidders.pop((commit.sale, bidder), None)
        if commit.plan.rostrum_before is not None:
            self._rostrums.pop(commit.sale, None)

    def _take_stale(self, commit: _Commit, stale: list[list[bytes]]) -> list[Pending]:
        """Take the current states the script sent back; a lot that vanished fails its commands. Returns the
        commands to decide again."""
        vanished: set[int] = set()
        for lot_no, _version, data in stale:
            if data:
                self._cache_lot(commit.sale, int(lot_no), decode_state(data))
            else:
                vanished.add(int(lot_no))
        _fail_unknown(commit.sale, commit.items, vanished)
        return [item for item in commit.items if item.lot not in vanished]

    def _retry_later(self, items: list[Pending]) -> None:
        """Decide these again, before anything newer; a command that failed MAX_CONFLICTS times is "busy"."""
        again = []
        for item in items:
            item.attempts += 1
            if item.attempts >= MAX_CONFLICTS:
                self.stats.busy += 1
                item.resolve(Rejected("busy"))
            else:
                again.append(item)
        self._wait_for_retry(again)

    def _wait_for_retry(self, items: list[Pending]) -> None:
        """Put commands among those waiting to be decided again, oldest first: the order they were submitted
        in is the order they are decided in, whichever commit failed first."""
        if items:
            self._retry = deque(sorted([*self._retry, *items], key=lambda item: item.queued_ns))

    # ---- the cache ----------------------------------------------------------------------------------------------

    async def _load_lots(self, sale: int, lots: list[int]) -> set[int]:
        """Read lots from Redis into the cache; returns those that don't exist."""
        with translate_errors("loading lots"):
            async with self._redis.pipeline(transaction=False) as pipe:
                for lot in lots:
                    pipe.hget(keys.lot_state(sale, lot), keys.STATE_FIELD)
                found: list[bytes | None] = await pipe.execute()
        for lot, data in zip(lots, found, strict=True):
            if data is not None and (sale, lot) not in self._lots:
                self._cache_lot(sale, lot, decode_state(data))
        return {lot for lot, data in zip(lots, found, strict=True) if data is None}

    async def _load_bidders(self, sale: int, bidders: list[int]) -> None:
        with translate_errors("loading bidders"):
            async with self._redis.pipeline(transaction=False) as pipe:
                for bidder in bidders:
                    pipe.hgetall(keys.bidder(sale, bidder))
                found: list[dict[bytes, bytes]] = await pipe.execute()
        for bidder, fields in zip(bidders, found, strict=True):
            if (sale, bidder) not in self._bidders:
                self._cache_bidder(sale, bidder, decode_bidder(fields))

    async def _load_rostrum(self, sale: int) -> None:
        with translate_errors("loading the rostrum"):
            fields: dict[bytes, bytes] = await self._redis.hgetall(keys.sale_rostrum(sale))  # type: ignore[assignment]
        self._rostrums.setdefault(sale, decode_rostrum(fields))

    def _refresh_bidders(self, sale: int, stale: list[list[Any]]) -> None:
        """Take the current records of the bidders whose version had moved, as the script sent them back."""
        for bidder_no, flat in stale:
            self._cache_bidder(sale, int(bidder_no), decode_bidder(_fields(flat)))

    def _cache_lot(self, sale: int, lot: int, state: LotState) -> None:
        self._lots[(sale, lot)] = state
        while len(self._lots) > MAX_CACHED_LOTS:  # evict the oldest entry; it is reloaded when needed
            del self._lots[next(iter(self._lots))]

    def _cache_bidder(self, sale: int, bidder: int, record: BidderRecord) -> None:
        self._bidders[(sale, bidder)] = record
        while len(self._bidders) > MAX_CACHED_BIDDERS:
            del self._bidders[next(iter(self._bidders))]


async def revive_sale(redis: Redis, sale: int) -> None:
    """A retired sale that was just written to is active again: the pollers look at it until the janitor has
    seen the write recorded and retires it once more."""
    await redis.sadd(keys.ACTIVE_SALES, sale)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What a batch is decided on: the lots, the bidder records (enforcing standings), a live sale's rostrum."""

    lots: dict[int, LotState]
    bidders: dict[int, BidderRecord] | None
    rostrum: RostrumRecord | None


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    """A hash as a flat list of field, value (HGETALL in a script's reply) as a dict."""
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def _by_sale(batch: list[Pending]) -> dict[int, list[Pending]]:
    """Sales are independent (one slot each in a cluster): one commit each."""
    by_sale: dict[int, list[Pending]] = {}
    for item in batch:
        by_sale.setdefault(item.sale, []).append(item)
    return by_sale


def _merge_same_dedupe_key(items: list[Pending]) -> list[Pending]:
    """A command repeated within one batch waits for the first one's answer instead of being decided; one with
    the first's dedupe key on another lot is refused `client_id_reused`."""
    first: dict[str, Pending] = {}
    kept: list[Pending] = []
    for item in items:
        if item.dedupe is not None and item.dedupe in first:
            if first[item.dedupe].lot == item.lot:
                first[item.dedupe].followers.append(item.future)
            else:
                item.resolve(REUSED)
            continue
        if item.dedupe is not None:
            first[item.dedupe] = item
        kept.append(item)
    return kept


def _fail_unknown(sale: int, items: Iterable[Pending], lots: set[int]) -> None:
    for item in items:
        if item.lot in lots:
            item.fail(LotNotFound(f"sale {sale} has no lot {item.lot}"))


def _fail_all(items: Iterable[Pending], error: StoreError) -> None:
    for item in items:
        item.fail(error)
