"""The executor: runs the pure core against Redis, one atomic commit per batch of commands.

How a command is executed. `execute` queues it; one committer task per store takes everything pending (up to
BATCH_CAP), decides each command in order with `auction.engine.lot.decide` against a process-local cache of
lot states, and commits the batch in one EVALSHA per sale. The script is an optimistic compare-and-set: it
writes only if every touched lot's version `v` (its last event seq) is still what the decision was based on.
Otherwise it writes nothing and returns the current state of the stale lots; the committer refreshes its
cache from that reply (no extra round trip) and decides the batch again, at most MAX_CONFLICTS times, then
answers "busy". Rejected commands go through the commit too: their verdict was reached against a version that
must still be current, and their answers are stored for dedupe. Batching is adaptive: an idle store sends a
lone command at once; commands that arrive while a commit is in flight form the next batch.

Idempotence. A command with a dedupe key ("<bidder>:<client_id>", scoped to the sale) has its answer stored in
the same atomic step. The script checks the keys first; if one is already answered it writes nothing and
returns the stored answers, which the committer hands back verbatim before committing the rest. Two commands
with one key in the same batch are merged in Python: the second gets the first's answer.

Durability: what an acknowledged outcome survives. An outcome is resolved only after the commit returned.
- durability="redis", server `appendfsync always`: Redis fsyncs the AOF before replying, so nothing is lost on
  a process crash or a power loss of a single node. Replication is asynchronous, though: a failover to a
  replica that had not yet received the write loses acknowledged bids.
- durability="redis", `appendfsync everysec`: a power loss or kill -9 of Redis can lose about the last second.
- durability="postgres": the committer also inserts the batch's events into `lot_events` and resolves only
  once PostgreSQL committed them; nothing acknowledged is lost once PostgreSQL has it, whatever happens to
  Redis. The price is a PostgreSQL round trip per batch (batching amortises it). The persister still runs and
  finds these rows already there (ON CONFLICT DO NOTHING).
If a commit's reply is lost (connection dropped), the outcome is unknown: the caller gets StoreUnavailable and
may resend with the same client id, which returns the first answer if the commit happened.

Exceptions of this package (the persister and scheduler raise the same tree):

    StoreError                  anything the store could not do; callers may catch just this
     +-- LotNotFound            the command or read names a lot that was never created
     +-- StoreUnavailable       Redis or PostgreSQL failed or is unreachable (translated from their errors)
     +-- StoreClosed            execute() after close()

Rejections by the rules (too low, too late, busy, ...) are outcomes, never exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, Literal, NamedTuple

import asyncpg
import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from auction import keys
from auction.engine import lifecycle
from auction.engine.lot import LotState, LotTerms, decide, evolve, new_lot
from auction.engine.messages import EVENT_DECODER, EVENT_ENCODER, AnyCommand, AnyEvent, Rejected

log = logging.getLogger(__name__)

BATCH_CAP = 512  # commands per commit: bounds the script's run time (Redis is single-threaded) and reply size
MAX_CONFLICTS = 10  # CAS failures tolerated for one batch before its commands are answered "busy"
MAX_CACHED_LOTS = 100_000  # lot states kept in memory; an evicted lot is simply loaded again

Durability = Literal["redis", "postgres"]


class StoreError(Exception):
    """Base of every error the store raises."""


class LotNotFound(StoreError):
    """A command or read named a lot that was never created."""


class StoreUnavailable(StoreError):
    """Redis or PostgreSQL failed. For a command the outcome is unknown: resend it with the same client id."""


class StoreClosed(StoreError):
    """The store was closed; it takes no more commands."""


# Foreign exceptions, translated once at the edge (httpx style). OSError covers refused and reset sockets.
FOREIGN_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)


@contextlib.contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    try:
        yield
    except FOREIGN_ERRORS as exc:
        raise StoreUnavailable(f"{doing}: {type(exc).__name__}: {exc}") from exc


class Accepted(msgspec.Struct, frozen=True):
    """A command committed: the events it caused and the lot's state after them."""

    events: tuple[AnyEvent, ...]
    state: LotState


Outcome = Accepted | Rejected


class _StoredAnswer(msgspec.Struct, frozen=True, array_like=True):
    """An Outcome as kept in the answers hash (Accepted and Rejected are untagged, so wrap them)."""

    rejected: Rejected | None = None
    events: tuple[AnyEvent, ...] = ()
    state: LotState | None = None


_STATE_ENCODER = msgspec.msgpack.Encoder()
_STATE_DECODER = msgspec.msgpack.Decoder(LotState)
_ANSWER_DECODER = msgspec.msgpack.Decoder(_StoredAnswer)


def encode_state(state: LotState) -> bytes:
    return _STATE_ENCODER.encode(state)


def decode_state(data: bytes) -> LotState:
    return _STATE_DECODER.decode(data)


def encode_answer(outcome: Outcome) -> bytes:
    if isinstance(outcome, Rejected):
        return _STATE_ENCODER.encode(_StoredAnswer(rejected=outcome))
    return _STATE_ENCODER.encode(_StoredAnswer(events=outcome.events, state=outcome.state))


def decode_answer(data: bytes) -> Outcome:
    stored = _ANSWER_DECODER.decode(data)
    if stored.rejected is not None:
        return stored.rejected
    if stored.state is None:
        raise StoreError("a stored answer holds neither a rejection nor a state")
    return Accepted(stored.events, stored.state)


# ---- the record (PostgreSQL lot_events), written by the persister and by durability="postgres" ----------


class EventRow(NamedTuple):
    """One row of lot_events; `data` is the event's tagged JSON."""

    sale: int
    lot: int
    seq: int
    type: str
    at_ms: int
    data: str


def event_row(sale: int, lot: int, event: AnyEvent, data: str | None = None) -> EventRow:
    """`data` is the event's JSON when the caller already has it (as read from a stream)."""
    tag = str(type(event).__struct_config__.tag)
    json = data if data is not None else EVENT_ENCODER.encode(event).decode()
    return EventRow(sale, lot, event.seq, tag, event.at_ms, json)


# One statement for a whole batch: arrays in, rows out; a (sale, lot, seq) already recorded is skipped.
_INSERT_EVENTS = """
INSERT INTO lot_events (sale_id, lot_no, seq, type, at_ms, data)
SELECT sale_id, lot_no, seq, type, at_ms, data::jsonb
FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::bigint[], $6::text[])
    AS batch(sale_id, lot_no, seq, type, at_ms, data)
ON CONFLICT (sale_id, lot_no, seq) DO NOTHING
"""


async def write_events(pg: asyncpg.Pool, rows: Sequence[EventRow]) -> int:
    """Insert the rows not yet recorded; returns how many were new."""
    if not rows:
        return 0
    columns = [list(column) for column in zip(*rows, strict=True)]
    status: str = await pg.execute(_INSERT_EVENTS, *columns)
    return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <rows>"


# One commit per sale. Checks every dedupe key, then every lot's version; only if all pass does it write.
# KEYS: answers, sale events, opens, closes, then (lot state, lot events) per lot.
# ARGV: n, dedupe keys...; per lot: lot, expected v, changed (0/1) [, new v, new s, open score, close score,
#       n events, (seq, json)...]; then n answers, (dedupe key, answer)...
# An empty open/close score removes the lot from that sorted set.
_COMMIT_LUA = """
local pos = 0
local function nextarg() pos = pos + 1; return ARGV[pos] end

local ndedupe = tonumber(nextarg())
if ndedupe > 0 then
  local wanted = {}
  for i = 1, ndedupe do wanted[i] = nextarg() end
  local found = redis.call('HMGET', KEYS[1], unpack(wanted))
  local answered = {}
  for i = 1, ndedupe do
    if found[i] then table.insert(answered, wanted[i]); table.insert(answered, found[i]) end
  end
  if #answered > 0 then return {'dup', answered} end
end

local lots, stale = {}, {}
for i = 1, (#KEYS - 4) / 2 do
  local lot = {state_key = KEYS[3 + 2 * i], events_key = KEYS[4 + 2 * i]}
  lot.no, lot.expected, lot.changed = nextarg(), nextarg(), nextarg() == '1'
  if lot.changed then
    lot.v, lot.s, lot.open, lot.close = nextarg(), nextarg(), nextarg(), nextarg()
    lot.events = {}
    for j = 1, tonumber(nextarg()) do lot.events[j] = {nextarg(), nextarg()} end
  end
  local current = redis.call('HGET', KEYS[3 + 2 * i], 'v')
  if current ~= lot.expected then
    table.insert(stale, {lot.no, current or '', redis.call('HGET', lot.state_key, 's') or ''})
  end
  lots[i] = lot
end
if #stale > 0 then return {'stale', stale} end

local function place(zset, score, member)
  if score == '' then redis.call('ZREM', zset, member) else redis.call('ZADD', zset, score, member) end
end
for _, lot in ipairs(lots) do
  if lot.changed then
    redis.call('HSET', lot.state_key, 'v', lot.v, 's', lot.s)
    for _, event in ipairs(lot.events) do
      redis.call('XADD', lot.events_key, event[1] .. '-0', 'e', event[2])
      redis.call('XADD', KEYS[2], '*', 'lot', lot.no, 'seq', event[1], 'e', event[2])
    end
    place(KEYS[3], lot.open, lot.no)
    place(KEYS[4], lot.close, lot.no)
  end
end
local nanswers = tonumber(nextarg())
for _ = 1, nanswers do redis.call('HSET', KEYS[1], nextarg(), nextarg()) end
return {'ok'}
"""

# Creates the lots of one sale that don't exist yet; an existing lot is left exactly as it is.
# KEYS: lots, opens, closes, then one lot state key per lot. ARGV: (lot, encoded state, start, end) per lot.
_CREATE_LUA = """
local created = 0
for i = 4, #KEYS do
  local at = (i - 4) * 4
  local lot, state, start_ms, end_ms = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  if redis.call('HSETNX', KEYS[i], 'v', '0') == 1 then
    redis.call('HSET', KEYS[i], 's', state)
    redis.call('ZADD', KEYS[1], lot, lot)
    redis.call('ZADD', KEYS[2], start_ms, lot)
    redis.call('ZADD', KEYS[3], end_ms, lot)
    created = created + 1
  end
end
return created
"""


@dataclass(slots=True)
class _Pending:
    """A queued command, and the futures waiting for its answer (followers: same dedupe key, same batch)."""

    sale: int
    lot: int
    command: AnyCommand
    dedupe: str | None
    future: asyncio.Future[Outcome]
    followers: list[asyncio.Future[Outcome]] = field(default_factory=list)

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
class _Plan:
    """A batch decided against known states: one outcome per command, and per lot what to write."""

    outcomes: list[Outcome] = field(default_factory=list)
    before: dict[int, LotState] = field(default_factory=dict)
    after: dict[int, LotState] = field(default_factory=dict)
    events: dict[int, list[AnyEvent]] = field(default_factory=dict)


@dataclass(slots=True)
class StoreStats:
    """Counters for metrics and for judging the batching."""

    batches: int = 0
    commands: int = 0
    largest_batch: int = 0
    conflicts: int = 0  # commits refused because a lot had moved (another process committed first)
    busy: int = 0  # commands answered "busy": queue full or too many conflicts


class LotStore:
    def __init__(
        self,
        redis: Redis,
        *,
        durability: Durability = "redis",
        pg: asyncpg.Pool | None = None,
        max_pending: int = 10_000,
    ) -> None:
        if durability == "postgres" and pg is None:
            raise ValueError("durability='postgres' needs a PostgreSQL pool")
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("LotStore needs a Redis client with decode_responses=False (state is binary)")
        self._redis = redis
        self._durability = durability
        self._pg = pg
        self._max_pending = max_pending
        self._commit_script = redis.register_script(_COMMIT_LUA)
        self._create_script = redis.register_script(_CREATE_LUA)
        self._queue: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._closed = False
        self._cache: dict[tuple[int, int], LotState] = {}
        self.stats = StoreStats()

    # ---- public API -------------------------------------------------------------------------------------

    async def create_lots(self, terms: Sequence[LotTerms]) -> None:
        """Load lots into Redis. Idempotent: a lot that already exists is left untouched."""
        by_sale: dict[int, list[LotTerms]] = {}
        for lot_terms in terms:
            by_sale.setdefault(lot_terms.sale, []).append(lot_terms)
        with translate_errors("creating lots"):
            for sale, sale_terms in by_sale.items():
                await self._create_script(keys=_create_keys(sale, sale_terms), args=_create_args(sale_terms))
                await self._redis.sadd(keys.ACTIVE_SALES, sale)

    async def execute(self, sale: int, lot: int, command: AnyCommand, *, dedupe: str | None = None) -> Outcome:
        """Decide and commit one command; resolves once the commit is as durable as the mode promises."""
        if self._closed:
            raise StoreClosed("the store is closed")
        if len(self._queue) >= self._max_pending:
            self.stats.busy += 1
            return Rejected("busy")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(sale, lot, command, dedupe, future))
        self._start_committer()
        self._wakeup.set()
        return await future

    async def state(self, sale: int, lot: int) -> LotState | None:
        """The lot's committed state, read from Redis (not the cache)."""
        with translate_errors("reading a lot"):
            data: bytes | None = await self._redis.hget(keys.lot_state(sale, lot), keys.STATE_FIELD)  # type: ignore[assignment]
        return None if data is None else decode_state(data)

    async def states(self, sale: int) -> list[LotState]:
        """Every lot of the sale, in lot order."""
        with translate_errors("reading a sale"):
            members: list[bytes] = await self._redis.zrange(keys.sale_lots(sale), 0, -1)  # type: ignore[assignment]
            lots = [int(lot) for lot in members]
            found = await self._read_states(sale, lots)
        return [found[lot] for lot in lots if lot in found]

    async def events_after(self, sale: int, lot: int, after_seq: int, limit: int = 1000) -> list[AnyEvent]:
        """The lot's events with seq > after_seq, in order: what a reconnecting watcher missed."""
        with translate_errors("reading events"):
            stream = keys.lot_events(sale, lot)
            entries: list[tuple[bytes, dict[bytes, bytes]]]
            entries = await self._redis.xrange(stream, min=f"{after_seq + 1}-0", count=limit)  # type: ignore[assignment]
        return [EVENT_DECODER.decode(fields[keys.EVENT_FIELD.encode()]) for _id, fields in entries]

    async def close(self) -> None:
        """Stop taking commands, finish those already queued, stop the committer."""
        self._closed = True
        self._wakeup.set()
        if self._committer is not None:
            await self._committer

    # ---- the committer ----------------------------------------------------------------------------------

    def _start_committer(self) -> None:
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_forever(), name="lot-store-committer")

    async def _commit_forever(self) -> None:
        while self._queue or not self._closed:
            if not self._queue:
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            batch = [self._queue.popleft() for _ in range(min(BATCH_CAP, len(self._queue)))]
            self._count_batch(len(batch))
            await self._commit_batch(batch)

    def _count_batch(self, size: int) -> None:
        self.stats.batches += 1
        self.stats.commands += size
        self.stats.largest_batch = max(self.stats.largest_batch, size)

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        """Sales are independent (one slot each in a cluster): commit them side by side."""
        by_sale: dict[int, list[_Pending]] = {}
        for item in batch:
            by_sale.setdefault(item.sale, []).append(item)
        await asyncio.gather(*(self._commit_sale(sale, items) for sale, items in by_sale.items()))

    async def _commit_sale(self, sale: int, items: list[_Pending]) -> None:
        """Never raises: every command gets an answer or an exception, and the committer lives on."""
        try:
            known = await self._known_states(sale, items)
            items = _merge_same_dedupe_key([item for item in items if item.lot in known])
            await self._commit_with_retries(sale, items, known)
        except StoreError as exc:
            _fail_all(items, exc)
        except Exception as exc:  # a bug must not hang callers or kill the committer
            log.exception("committing a batch of sale %s failed", sale)
            _fail_all(items, StoreError(f"internal error: {exc!r}"))

    async def _known_states(self, sale: int, items: list[_Pending]) -> dict[int, LotState]:
        """The states to decide against: cached, else loaded; commands for unknown lots fail here."""
        lots = {item.lot for item in items}
        known = {lot: self._cache[(sale, lot)] for lot in lots if (sale, lot) in self._cache}
        missing = sorted(lots - known.keys())
        if missing:
            with translate_errors("loading lots"):
                loaded = await self._read_states(sale, missing)
            self._remember(sale, loaded)
            known.update(loaded)
        for item in items:
            if item.lot not in known:
                item.fail(LotNotFound(f"sale {sale} has no lot {item.lot}"))
        return known

    async def _commit_with_retries(self, sale: int, items: list[_Pending], known: dict[int, LotState]) -> None:
        conflicts = 0
        while items:
            plan = _decide_batch(items, known)
            with translate_errors("committing"):
                reply = await self._commit_script(keys=_commit_keys(sale, plan), args=_commit_args(items, plan))
            verdict, detail = reply[0], reply[1:]
            if verdict == b"ok":
                await self._finish(sale, items, plan, known)
                return
            if verdict == b"dup":
                items = _answer_repeats(items, detail[0])
                continue
            self.stats.conflicts += 1
            conflicts += 1
            items = self._refresh_stale(sale, items, known, detail[0])
            if conflicts >= MAX_CONFLICTS:
                break
        self.stats.busy += len(items)
        for item in items:
            item.resolve(Rejected("busy"))

    async def _finish(self, sale: int, items: list[_Pending], plan: _Plan, known: dict[int, LotState]) -> None:
        known.update(plan.after)
        self._remember(sale, plan.after)
        if self._durability == "postgres":
            await self._record(sale, plan)
        for item, outcome in zip(items, plan.outcomes, strict=True):
            item.resolve(outcome)

    async def _record(self, sale: int, plan: _Plan) -> None:
        rows = [event_row(sale, lot, event) for lot, events in plan.events.items() for event in events]
        if rows and self._pg is not None:
            with translate_errors("recording events in PostgreSQL"):
                await write_events(self._pg, rows)

    def _refresh_stale(
        self, sale: int, items: list[_Pending], known: dict[int, LotState], stale: list[list[bytes]]
    ) -> list[_Pending]:
        """Take the current states the script sent back; a lot that vanished fails its commands."""
        vanished: set[int] = set()
        for lot_no, _version, data in stale:
            lot = int(lot_no)
            if data:
                known[lot] = decode_state(data)
                self._remember(sale, {lot: known[lot]})
            else:
                vanished.add(lot)
                known.pop(lot, None)
                self._cache.pop((sale, lot), None)
        for item in items:
            if item.lot in vanished:
                item.fail(LotNotFound(f"sale {sale} has no lot {item.lot}"))
        return [item for item in items if item.lot not in vanished]

    def _remember(self, sale: int, states: dict[int, LotState]) -> None:
        for lot, state in states.items():
            self._cache[(sale, lot)] = state
        while len(self._cache) > MAX_CACHED_LOTS:  # evict the oldest entry; it is reloaded when needed
            del self._cache[next(iter(self._cache))]

    async def _read_states(self, sale: int, lots: Sequence[int]) -> dict[int, LotState]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for lot in lots:
                pipe.hget(keys.lot_state(sale, lot), keys.STATE_FIELD)
            found: list[bytes | None] = await pipe.execute()
        return {lot: decode_state(data) for lot, data in zip(lots, found, strict=True) if data is not None}


# ---- pure helpers of the committer --------------------------------------------------------------------------


def _merge_same_dedupe_key(items: list[_Pending]) -> list[_Pending]:
    """A command repeated within one batch waits for the first one's answer instead of being decided."""
    first: dict[str, _Pending] = {}
    kept: list[_Pending] = []
    for item in items:
        if item.dedupe is not None and item.dedupe in first:
            first[item.dedupe].followers.append(item.future)
            continue
        if item.dedupe is not None:
            first[item.dedupe] = item
        kept.append(item)
    return kept


def _decide_batch(items: list[_Pending], known: dict[int, LotState]) -> _Plan:
    """Decide every command in order, each against the state the previous ones left."""
    plan = _Plan()
    for item in items:
        state = plan.after.get(item.lot) or known[item.lot]
        plan.before.setdefault(item.lot, state)
        decision = decide(state, item.command)
        if isinstance(decision, Rejected):
            plan.outcomes.append(decision)
            plan.after[item.lot] = state
            continue
        state = reduce(evolve, decision, state)
        plan.after[item.lot] = state
        plan.events.setdefault(item.lot, []).extend(decision)
        plan.outcomes.append(Accepted(decision, state))
    return plan


def _answer_repeats(items: list[_Pending], answered: list[bytes]) -> list[_Pending]:
    """Hand stored first answers to the commands that repeat them; return the commands still to commit."""
    stored = {answered[i].decode(): answered[i + 1] for i in range(0, len(answered), 2)}
    rest: list[_Pending] = []
    for item in items:
        if item.dedupe is not None and item.dedupe in stored:
            item.resolve(decode_answer(stored[item.dedupe]))
        else:
            rest.append(item)
    return rest


def _fail_all(items: Iterable[_Pending], error: StoreError) -> None:
    for item in items:
        item.fail(error)


def _commit_keys(sale: int, plan: _Plan) -> list[str]:
    lot_keys = [key for lot in plan.before for key in (keys.lot_state(sale, lot), keys.lot_events(sale, lot))]
    return [keys.sale_answers(sale), keys.sale_events(sale), keys.sale_opens(sale), keys.sale_closes(sale), *lot_keys]


def _commit_args(items: list[_Pending], plan: _Plan) -> list[str | bytes | int]:
    dedupe_keys = [item.dedupe for item in items if item.dedupe is not None]
    args: list[str | bytes | int] = [len(dedupe_keys), *dedupe_keys]
    for lot, before in plan.before.items():
        args += _lot_args(lot, before, plan.after[lot], plan.events.get(lot, []))
    answers = [(item.dedupe, encode_answer(o)) for item, o in zip(items, plan.outcomes, strict=True) if item.dedupe]
    args.append(len(answers))
    for dedupe, answer in answers:
        args += [dedupe, answer]
    return args


def _lot_args(lot: int, before: LotState, after: LotState, events: list[AnyEvent]) -> list[str | bytes | int]:
    if after.seq == before.seq:
        return [lot, before.seq, 0]
    args: list[str | bytes | int] = [lot, before.seq, 1, after.seq, encode_state(after)]
    args += [_open_score(after), _close_score(after), len(events)]
    for event in events:
        args += [event.seq, EVENT_ENCODER.encode(event)]
    return args


def _open_score(state: LotState) -> str | int:
    """Only a scheduled lot waits to be opened; "" takes the lot out of the opens set."""
    return state.terms.start_ms if state.status == "scheduled" else ""


def _close_score(state: LotState) -> str | int:
    """A lot waits to be closed at its current end until it is final."""
    return "" if state.status in lifecycle.FINAL else state.end_ms


def _create_keys(sale: int, terms: list[LotTerms]) -> list[str]:
    fixed = [keys.sale_lots(sale), keys.sale_opens(sale), keys.sale_closes(sale)]
    return fixed + [keys.lot_state(sale, t.lot) for t in terms]


def _create_args(terms: list[LotTerms]) -> list[Any]:
    return [arg for t in terms for arg in (t.lot, encode_state(new_lot(t)), t.start_ms, t.end_ms)]
