"""The executor: runs the pure core against Redis, one atomic commit per batch of commands.

How a command is executed. `execute` queues it; one committer task per store takes everything pending (up to
BATCH_CAP), decides each command in order with `auction.engine.lot.decide` against a process-local cache of lot
states, and commits the batch in one run of the commit script per sale. The script is an optimistic
compare-and-set: it writes only if every touched lot's version `v` (its last event seq) is still what the decision
was based on. Otherwise it writes nothing and returns the current state of the stale lots; the committer refreshes
its cache from that reply (no extra round trip) and decides the batch again, at most MAX_CONFLICTS times, then
answers "busy". Rejected commands go through the commit too: their verdict was reached against a version that must
still be current, and their answers are stored for dedupe. Batching is adaptive: an idle store sends a lone
command at once; commands that arrive while a commit is in flight form the next batch.

Pipelining. A commit does not wait for the one before it to come back: up to PIPELINE_DEPTH commits are in
flight on one connection of their own (`_CommitPipe`), and Redis runs them in the order sent. The next batch is
decided as if the commits in flight succeed (their outcomes are in the cache), so the committer decides while
Redis runs, writes and fsyncs the previous commit: measured, a serial committer left both the gateway and
Redis idle a third of the time at saturation. Two things keep this as safe as waiting:
- A commit decided on one still in flight names that commit's token, and the script refuses it ('chain')
  unless that commit was applied (the store's field in `sale_commits`). Without this, a commit decided on a
  failed one could pass its version check by coincidence: another process's write can reach the same seq.
- Replies are settled in order (`_settle_forever`). A failed commit (stale, chain, dup, or a broken
  connection) is forgotten from the cache before anything else is decided, and its commands are decided
  again before anything newer; those that fail MAX_CONFLICTS times are answered "busy".

Standings and limits (enforce_standing=True). A buyer company's record in a sale is one hash,
`sale:{S}:bidder:B` (keys.bidder): `v` its version, `s` its BidderStanding (written by identity through
`set_standing`), and one field `x:<lot>` -> all-in per lot it leads or has bought: its exposure, stored per lot.
Deciding a bid needs, besides the lot, the bidder's standing and exposure on the other lots, and the same for
the lot's current leader (their proxy may answer, and must stop at their limit). The committer loads those
records (cache, else HGETALL), gives each bid a BidContext built from them and from what earlier commands of
the batch changed, and notes every record it read. The same script run that CAS-checks the lots then:
- checks `v` of every bidder record the batch read (the bidder of each bid and the leader of its lot), whether
  the bid was accepted or refused: a refusal read the record too;
- writes the exposure fields that changed, per lot, comparing each lot's holder before and after the batch:
  HSET `x:<lot>` for the new holder, HDEL it from the old one; and bumps `v` of every record it wrote.
On a stale record the script writes nothing and returns the current records with the stale lots; the batch
is decided again against them.
Why this holds across gateway processes:
- Only increases of exposure can break a limit, and an increase only comes from a bid whose decision read that
  buyer's record (as bidder, or as leader whose proxy answers). The record's version moves with every write,
  so two decisions that read the same version can't both commit: one is decided again, seeing the other's
  lot. Hence the sum of a buyer's fields never exceeds their limit, unless the limit itself was lowered.
- Exposure is exact because each field belongs to one lot and is written only in the commit of that lot,
  which the lot's own version serialises. Two commits for different lots of one buyer touch different
  fields, so neither clobbers the other; a total kept in one field could not promise that.
- A write that only lowers an exposure needs no check: a close (passed, withdrawn) HDELs its own lot's field
  without reading the buyer. It can only make room. It still bumps `v`, so that no process goes on refusing
  the buyer from a cached, higher exposure: its next decision about them is refused at commit and redone.
- `set_standing` bumps `v` too: a bid decided on the old standing anywhere fails its CAS and is decided again,
  so a suspension holds for the next bid in every process.
Without enforcement no record is read or checked, but exposure fields are still written (blindly, bumping `v`)
so that the records stay exact whichever way any process runs. After a commit a record that was checked is
known exactly (v + 1 if written) and stays cached; one written blind is dropped from the cache.

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
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, Literal, NamedTuple

import asyncpg
import msgspec
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError, ResponseError

from auction import keys
from auction.engine import lifecycle
from auction.engine.lot import LotState, LotTerms, decide, evolve, exposure_of, new_lot
from auction.engine.messages import EVENT_DECODER, EVENT_ENCODER, AnyCommand, AnyEvent, PlaceBid, Rejected
from auction.engine.standing import BidContext, BidderStanding

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
_STANDING_DECODER = msgspec.msgpack.Decoder(BidderStanding)
_ANSWER_DECODER = msgspec.msgpack.Decoder(_StoredAnswer)


def encode_state(state: LotState) -> bytes:
    return _STATE_ENCODER.encode(state)


def decode_state(data: bytes) -> LotState:
    return _STATE_DECODER.decode(data)


def encode_answer(outcome: Outcome) -> bytes:
    if isinstance(outcome, Rejected):
        return _STATE_ENCODER.encode(_StoredAnswer(rejected=outcome))
    return _STATE_ENCODER.encode(_StoredAnswer(events=outcome.events, state=outcome.state))


@dataclass(frozen=True, slots=True)
class _Bidder:
    """A buyer's record in one sale as last read: the key's version, their standing, exposure per lot."""

    version: int = 0
    standing: BidderStanding | None = None
    exposure: dict[int, int] = field(default_factory=dict)


def decode_bidder(fields: dict[bytes, bytes]) -> _Bidder:
    """A bidder hash as HGETALL returns it."""
    version, standing, exposure = 0, None, {}
    prefix = keys.EXPOSURE_PREFIX.encode()
    for name, value in fields.items():
        if name == keys.VERSION_FIELD.encode():
            version = int(value)
        elif name == keys.STANDING_FIELD.encode():
            standing = _STANDING_DECODER.decode(value)
        elif name.startswith(prefix):
            exposure[int(name[len(prefix) :])] = int(value)
    return _Bidder(version, standing, exposure)


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


# One commit per sale. Checks every dedupe key, then every lot's version and the version of every bidder key the
# decisions read; only if all pass does it write.
# KEYS: answers, sale events, opens, closes, commits, then (lot state, lot events) per lot, then one key per bidder.
# ARGV[1]: one msgpack array of strings (`_pack_args`), read in order by `nextarg`. One string instead of a few
# thousand arguments: redis-py packs each argument in Python (pack_command was 12-16 % of the gateway at
# saturation), msgspec packs the array in C, and Redis unpacks it in C (cmsgpack).
# The array: store id, this commit's token, the token of the commit it was decided on ('' = none in flight);
#       n, dedupe keys...;
#       n lots; per lot: lot, expected v, changed (0/1) [, new v, new s, open score, close score, n events,
#       (seq, json)...];
#       n bidders; per bidder: bidder, expected v ('' = not read: write without checking), n set, (field, value)...,
#       n del, field...;
#       then n answers, (dedupe key, answer)...
# An empty open/close score removes the lot from that sorted set. A bidder key that is written gets v + 1.
# Reply: {'ok'} | {'chain'} (the commit it was decided on was not applied) | {'dup', {key, answer, ...}}
#      | {'stale', {{lot, v, s}...}, {{bidder, {HGETALL}}...}}. On 'ok' the store's field in `commits` is the token.
_COMMIT_LUA = """
local args = cmsgpack.unpack(ARGV[1])
local pos = 0
local function nextarg() pos = pos + 1; return args[pos] end

local store, token, previous = nextarg(), nextarg(), nextarg()
if previous ~= '' and redis.call('HGET', KEYS[5], store) ~= previous then return {'chain'} end

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

local nlots = tonumber(nextarg())
local lots, stale = {}, {}
for i = 1, nlots do
  local lot = {state_key = KEYS[4 + 2 * i], events_key = KEYS[5 + 2 * i]}
  lot.no, lot.expected, lot.changed = nextarg(), nextarg(), nextarg() == '1'
  if lot.changed then
    lot.v, lot.s, lot.open, lot.close = nextarg(), nextarg(), nextarg(), nextarg()
    lot.events = {}
    for j = 1, tonumber(nextarg()) do lot.events[j] = {nextarg(), nextarg()} end
  end
  local current = redis.call('HGET', lot.state_key, 'v')
  if current ~= lot.expected then
    table.insert(stale, {lot.no, current or '', redis.call('HGET', lot.state_key, 's') or ''})
  end
  lots[i] = lot
end

local nbidders = tonumber(nextarg())
local bidders, stale_bidders = {}, {}
for i = 1, nbidders do
  local bidder = {key = KEYS[5 + 2 * nlots + i], set = {}, del = {}}
  bidder.no, bidder.expected = nextarg(), nextarg()
  for j = 1, 2 * tonumber(nextarg()) do bidder.set[j] = nextarg() end
  for j = 1, tonumber(nextarg()) do bidder.del[j] = nextarg() end
  if bidder.expected ~= '' and (redis.call('HGET', bidder.key, 'v') or '0') ~= bidder.expected then
    table.insert(stale_bidders, {bidder.no, redis.call('HGETALL', bidder.key)})
  end
  bidders[i] = bidder
end
if #stale > 0 or #stale_bidders > 0 then return {'stale', stale, stale_bidders} end

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
for _, bidder in ipairs(bidders) do
  if #bidder.set > 0 then redis.call('HSET', bidder.key, unpack(bidder.set)) end
  if #bidder.del > 0 then redis.call('HDEL', bidder.key, unpack(bidder.del)) end
  if #bidder.set + #bidder.del > 0 then redis.call('HINCRBY', bidder.key, 'v', 1) end
end
local nanswers = tonumber(nextarg())
for _ = 1, nanswers do redis.call('HSET', KEYS[1], nextarg(), nextarg()) end
redis.call('HSET', KEYS[5], store, token)
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
class _Plan:
    """A batch decided against known states: one outcome per command, per lot what to write, and which bidder
    records the decisions read (their versions are checked) and what exposure they change."""

    outcomes: list[Outcome] = field(default_factory=list)
    before: dict[int, LotState] = field(default_factory=dict)
    after: dict[int, LotState] = field(default_factory=dict)
    events: dict[int, list[AnyEvent]] = field(default_factory=dict)
    read: set[int] = field(default_factory=set)
    exposure: dict[int, dict[int, int]] = field(default_factory=dict)  # working copy: bidder -> lot -> all-in

    def exposure_writes(self) -> dict[int, tuple[dict[int, int], list[int]]]:
        """Per bidder, the exposure fields to set and to delete: each lot's holder before the batch against
        its holder after it (who held it in between never reached Redis)."""
        writes: dict[int, tuple[dict[int, int], list[int]]] = {}
        for lot, before in self.before.items():
            held, holds = exposure_of(before), exposure_of(self.after[lot])
            if held == holds:
                continue
            if held is not None and (holds is None or holds[0] != held[0]):
                writes.setdefault(held[0], ({}, []))[1].append(lot)
            if holds is not None:
                writes.setdefault(holds[0], ({}, []))[0][lot] = holds[1]
        return writes


@dataclass(slots=True)
class _Commit:
    """A sale's batch, decided and sent; settled when its reply comes back, in the order commits were sent."""

    sale: int
    items: list[_Pending]
    plan: _Plan
    writes: Writes
    reply: asyncio.Future[Any]
    sent_ns: int
    token: str


class _CommitPipe:
    """Commit scripts on a Redis connection of their own, several in flight, replies read in order.

    Redis runs the commands of one connection in the order they arrive, so commits sent one after another run
    one after another, exactly as if each had waited for the reply of the one before: the order (and so the
    compare-and-set reasoning above) is unchanged, only the waiting is gone. The script goes as EVAL with its
    source: Redis keeps it compiled by its hash, and there is no NOSCRIPT to recover from after a restart."""

    def __init__(self, redis: Redis) -> None:
        self._pool = redis.connection_pool
        self._connection: AbstractConnection | None = None
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._reader: asyncio.Task[None] | None = None

    async def send(self, commit_keys: list[str], args: list[bytes]) -> asyncio.Future[Any]:
        """Write one commit; returns the future of its reply (which fails with the error if the connection
        breaks, in which case whether it ran is unknown). Raises what writing raises."""
        connection = self._connection
        if connection is None:
            connection = self._connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(reply)
        try:
            await connection.send_command(
                "EVAL", _COMMIT_LUA, len(commit_keys), *commit_keys, *args, check_health=False
            )
        except BaseException as exc:
            await self._broken(connection, exc)
            raise
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(connection), name="lot-store-replies")
        return reply

    async def _read(self, connection: AbstractConnection) -> None:
        try:
            while self._waiting and self._connection is connection:
                try:
                    reply = await connection.read_response()
                except ResponseError as exc:  # the script failed: that commit's reply, the connection is fine
                    _settle_future(self._waiting.popleft(), None, exc)
                    continue
                _settle_future(self._waiting.popleft(), reply, None)
        except (RedisError, OSError) as exc:
            await self._broken(connection, exc)
        finally:
            if self._reader is asyncio.current_task():
                self._reader = None

    async def _broken(self, connection: AbstractConnection, error: BaseException) -> None:
        """Every commit in flight on `connection` fails with `error`; the next send opens a new connection."""
        if self._connection is not connection:
            return
        self._connection = None
        waiting, self._waiting = self._waiting, deque()
        for reply in waiting:
            _settle_future(reply, None, error if isinstance(error, Exception) else RedisError(repr(error)))
        with contextlib.suppress(Exception):
            await connection.disconnect()
            await self._pool.release(connection)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(connection)


def _settle_future(future: asyncio.Future[Any], result: Any, error: Exception | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@dataclass(slots=True)
class StoreStats:
    """Counters for metrics and for judging the batching."""

    batches: int = 0
    commands: int = 0
    largest_batch: int = 0
    conflicts: int = 0  # commits refused because a lot had moved (another process committed first)
    busy: int = 0  # commands answered "busy": queue full or too many conflicts
    commits: int = 0  # commit scripts run (one per sale per batch, plus one per retry after a conflict or repeat)
    deciding_ns: int = 0  # time spent deciding batches with the pure core (the event loop is held meanwhile)
    committing_ns: int = 0  # time from sending a commit script to its reply (Redis's run, its fsync, the wire)


class LotStore:
    def __init__(
        self,
        redis: Redis,
        *,
        durability: Durability = "redis",
        pg: asyncpg.Pool | None = None,
        max_pending: int = 10_000,
        enforce_standing: bool = False,
    ) -> None:
        if durability == "postgres" and pg is None:
            raise ValueError("durability='postgres' needs a PostgreSQL pool")
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("LotStore needs a Redis client with decode_responses=False (state is binary)")
        self._redis = redis
        self._durability = durability
        self._pg = pg
        self._max_pending = max_pending
        self._create_script = redis.register_script(_CREATE_LUA)
        self._pipe = _CommitPipe(redis)
        self._queue: deque[_Pending] = deque()
        self._retry: deque[_Pending] = deque()  # commands of failed commits, decided again before the queue
        self._in_flight: deque[_Commit] = deque()  # sent, in order, not yet settled
        self._sending_since_ns: int | None = None  # when the oldest command of the batch being sent was queued
        self._id = secrets.token_hex(6)  # this store among the sale's committers (its field in `sale_commits`)
        self._tokens = itertools.count(1)
        self._slots = asyncio.Semaphore(PIPELINE_DEPTH)
        self._wakeup = asyncio.Event()
        self._has_in_flight = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._settler: asyncio.Task[None] | None = None
        self._closed = False
        self._cache: dict[tuple[int, int], LotState] = {}
        self._enforce = enforce_standing
        self._bidders: dict[tuple[int, int], _Bidder] = {}  # (sale, bidder) -> record, checked at commit
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
        return await self.submit(sale, lot, command, dedupe=dedupe)

    def submit(self, sale: int, lot: int, command: AnyCommand, *, dedupe: str | None = None) -> asyncio.Future[Outcome]:
        """`execute` without a coroutine: queue the command and return the future of its outcome (already done
        when the store is too busy). For callers that answer from a done-callback instead of a task per command.
        The future fails with a StoreError as `execute` would raise it; raises StoreClosed after close()."""
        if self._closed:
            raise StoreClosed("the store is closed")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        if self._overloaded():
            self.stats.busy += 1
            future.set_result(Rejected("busy"))
            return future
        self._queue.append(_Pending(sale, lot, command, dedupe, future))
        self._start_committer()
        self._wakeup.set()
        return future

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

    async def set_standing(self, sale: int, standing: BidderStanding) -> None:
        """Identity calls this whenever a buyer's eligibility in the sale changes. Bumping the version makes
        every decision already read against the old standing fail its commit and be decided again, in every
        gateway process: the change holds for the next bid, wherever it is decided."""
        key = keys.bidder(sale, standing.bidder)
        with translate_errors("setting a standing"):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, keys.STANDING_FIELD, _STATE_ENCODER.encode(standing))
                pipe.hincrby(key, keys.VERSION_FIELD, 1)
                await pipe.execute()
        self._bidders.pop((sale, standing.bidder), None)

    async def standing(self, sale: int, bidder: int) -> BidderStanding | None:
        """The buyer's standing in the sale as last set, or None (not registered: their bids are refused)."""
        with translate_errors("reading a standing"):
            data: bytes | None = await self._redis.hget(keys.bidder(sale, bidder), keys.STANDING_FIELD)  # type: ignore[assignment]
        return None if data is None else _STANDING_DECODER.decode(data)

    async def exposure(self, sale: int, bidder: int) -> dict[int, int]:
        """Lot -> what the buyer would owe on it, premium included, for every lot of the sale they lead or have
        bought. Its sum is what their limit is held against."""
        with translate_errors("reading an exposure"):
            fields: dict[bytes, bytes] = await self._redis.hgetall(keys.bidder(sale, bidder))  # type: ignore[assignment]
        return decode_bidder(fields).exposure

    async def close(self) -> None:
        """Stop taking commands, finish those already queued and in flight, stop the committer."""
        self._closed = True
        self._wakeup.set()
        if self._committer is not None:
            await self._committer
        if self._settler is not None:
            self._settler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._settler
        await self._pipe.close()

    # ---- the committer ----------------------------------------------------------------------------------

    def _start_committer(self) -> None:
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_forever(), name="lot-store-committer")
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle_forever(), name="lot-store-settler")

    async def _commit_forever(self) -> None:
        """Decide and send what is waiting (retries first), without waiting for the commits before it to come
        back; at most PIPELINE_DEPTH commits are in flight. Ends once closed and everything is settled."""
        while self._queue or self._retry or self._in_flight or not self._closed:
            if not (self._queue or self._retry):
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            await self._slots.acquire()  # before taking the batch: what arrives meanwhile joins it
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

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        for waiting in (self._retry, self._queue):
            while waiting and len(batch) < BATCH_CAP:
                batch.append(waiting.popleft())
        return batch

    def _count_batch(self, size: int) -> None:
        self.stats.batches += 1
        self.stats.commands += size
        self.stats.largest_batch = max(self.stats.largest_batch, size)

    async def _send_sale(self, sale: int, items: list[_Pending]) -> None:
        """Decide one sale's commands and send their commit, holding a pipeline slot until it is settled. Never
        raises: a command that can't be sent gets its answer or its exception here, and the committer lives on."""
        sent = False
        try:
            known = await self._known_states(sale, items)
            items = _merge_same_dedupe_key([item for item in items if item.lot in known])
            if items:
                await self._send(sale, items, known)
                sent = True
        except StoreError as exc:
            _fail_all(items, exc)
        except Exception as exc:  # a bug must not hang callers or kill the committer
            log.exception("committing a batch of sale %s failed", sale)
            _fail_all(items, StoreError(f"internal error: {exc!r}"))
        finally:
            if not sent:
                self._slots.release()

    async def _known_states(self, sale: int, items: list[_Pending]) -> dict[int, LotState]:
        """The states to decide against: cached (commits in flight included), else loaded; commands for
        unknown lots fail here."""
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

    async def _send(self, sale: int, items: list[_Pending], known: dict[int, LotState]) -> None:
        bidders: dict[int, _Bidder] | None = {} if self._enforce else None
        if bidders is not None:
            await self._load_bidders(sale, _bidders_needed(items, known), bidders)
        started = time.monotonic_ns()
        plan = _decide_batch(items, known, bidders)
        writes = plan.exposure_writes()
        token, previous = str(next(self._tokens)), self._last_in_flight(sale)
        commit_keys = _commit_keys(sale, plan, writes)
        commit_args = _commit_args(items, plan, writes, bidders, (self._id, token, previous))
        sent = time.monotonic_ns()
        self.stats.deciding_ns += sent - started
        with translate_errors("committing"):
            reply = await self._pipe.send(commit_keys, commit_args)
        # As if it succeeds: the next batch is decided on this one's outcome. If it fails, `_undo` forgets it,
        # and a commit decided on it fails its own check in Redis (the versions it expects were never written).
        self._remember(sale, plan.after)
        self._remember_bidders(sale, plan, writes, bidders)
        self._in_flight.append(_Commit(sale, items, plan, writes, reply, sent, token))
        self._has_in_flight.set()

    def _last_in_flight(self, sale: int) -> str:
        """The token of the newest commit of `sale` still in flight ('' if none): a batch decided now was
        decided on its outcome, and must not be applied unless it was."""
        return next((commit.token for commit in reversed(self._in_flight) if commit.sale == sale), "")

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
            except (RedisError, OSError) as exc:
                reply, error = None, exc
            self._in_flight.popleft()
            self.stats.commits += 1
            self.stats.committing_ns += time.monotonic_ns() - commit.sent_ns
            try:
                await self._settle(commit, reply, error)
            except Exception as exc:  # a bug must not hang callers or kill the settler
                log.exception("settling a commit of sale %s failed", commit.sale)
                _fail_all(commit.items, StoreError(f"internal error: {exc!r}"))
            self._wakeup.set()  # the committer may be waiting for the last commits to settle

    async def _settle(self, commit: _Commit, reply: Any, error: BaseException | None) -> None:
        verdict = None if error is not None else reply[0]
        if verdict == b"ok":
            self._slots.release()
            try:
                if self._durability == "postgres":
                    await self._record(commit.sale, commit.plan)
            except StoreError as exc:
                _fail_all(commit.items, exc)
                return
            for item, outcome in zip(commit.items, commit.plan.outcomes, strict=True):
                item.resolve(outcome)
            return
        self._undo(commit)  # before the slot is free: nothing is decided on a commit that failed
        self._slots.release()
        if error is not None:
            _fail_all(commit.items, StoreUnavailable(f"committing: {error!r}"))
        elif verdict == b"dup":
            self._retry_later(_answer_repeats(commit.items, reply[1]))
        elif verdict == b"chain":
            self.stats.conflicts += 1
            self._retry_later(commit.items)
        else:
            self.stats.conflicts += 1
            self._refresh_bidders(commit.sale, reply[2])
            self._retry_later(self._take_stale(commit, reply[1]))

    def _undo(self, commit: _Commit) -> None:
        """Forget what a failed commit made us assume (its lots and the buyers it touched): they are read again,
        or taken from the script's reply."""
        for lot in commit.plan.before:
            self._cache.pop((commit.sale, lot), None)
        for bidder in _touched_bidders(commit.plan, commit.writes):
            self._bidders.pop((commit.sale, bidder), None)

    def _take_stale(self, commit: _Commit, stale: list[list[bytes]]) -> list[_Pending]:
        """Take the current states the script sent back; a lot that vanished fails its commands. Returns the
        commands to decide again."""
        vanished: set[int] = set()
        for lot_no, _version, data in stale:
            if data:
                self._remember(commit.sale, {int(lot_no): decode_state(data)})
            else:
                vanished.add(int(lot_no))
        for item in commit.items:
            if item.lot in vanished:
                item.fail(LotNotFound(f"sale {commit.sale} has no lot {item.lot}"))
        return [item for item in commit.items if item.lot not in vanished]

    def _retry_later(self, items: list[_Pending]) -> None:
        """Decide these again, before anything newer; a command that failed MAX_CONFLICTS times is "busy"."""
        for item in items:
            item.attempts += 1
            if item.attempts >= MAX_CONFLICTS:
                self.stats.busy += 1
                item.resolve(Rejected("busy"))
            else:
                self._retry.append(item)

    async def _record(self, sale: int, plan: _Plan) -> None:
        rows = [event_row(sale, lot, event) for lot, events in plan.events.items() for event in events]
        if rows and self._pg is not None:
            with translate_errors("recording events in PostgreSQL"):
                await write_events(self._pg, rows)

    async def _load_bidders(self, sale: int, wanted: set[int], bidders: dict[int, _Bidder]) -> None:
        """The records the batch's decisions will read: already known, cached, else read from Redis."""
        missing = []
        for bidder in wanted - bidders.keys():
            cached = self._bidders.get((sale, bidder))
            if cached is None:
                missing.append(bidder)
            else:
                bidders[bidder] = cached
        if not missing:
            return
        with translate_errors("loading bidders"):
            async with self._redis.pipeline(transaction=False) as pipe:
                for bidder in missing:
                    pipe.hgetall(keys.bidder(sale, bidder))
                found: list[dict[bytes, bytes]] = await pipe.execute()
        for bidder, fields in zip(missing, found, strict=True):
            bidders[bidder] = self._cache_bidder(sale, bidder, decode_bidder(fields))

    def _refresh_bidders(self, sale: int, stale: list[list[Any]]) -> None:
        """Take the current records of the bidders whose version had moved, as the script sent them back."""
        for bidder_no, flat in stale:
            fields = {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}
            self._cache_bidder(sale, int(bidder_no), decode_bidder(fields))

    def _remember_bidders(
        self,
        sale: int,
        plan: _Plan,
        writes: dict[int, tuple[dict[int, int], list[int]]],
        bidders: dict[int, _Bidder] | None,
    ) -> None:
        """After a commit: a record that was checked is known exactly (its version moved by one if written); a
        record written without being read may have moved in other ways meanwhile, so it is forgotten."""
        for bidder, (set_fields, del_fields) in writes.items():
            if bidders is None or bidder not in plan.read:
                self._bidders.pop((sale, bidder), None)
                if bidders is not None:
                    bidders.pop(bidder, None)
                continue
            old = bidders[bidder]
            exposure = {lot: owed for lot, owed in old.exposure.items() if lot not in del_fields} | set_fields
            bidders[bidder] = self._cache_bidder(sale, bidder, _Bidder(old.version + 1, old.standing, exposure))

    def _cache_bidder(self, sale: int, bidder: int, record: _Bidder) -> _Bidder:
        self._bidders[(sale, bidder)] = record
        while len(self._bidders) > MAX_CACHED_BIDDERS:
            del self._bidders[next(iter(self._bidders))]
        return record

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


def _by_sale(batch: list[_Pending]) -> dict[int, list[_Pending]]:
    """Sales are independent (one slot each in a cluster): one commit each."""
    by_sale: dict[int, list[_Pending]] = {}
    for item in batch:
        by_sale.setdefault(item.sale, []).append(item)
    return by_sale


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


def _bidders_needed(items: list[_Pending], known: dict[int, LotState]) -> set[int]:
    """Whose records the bids of a batch may read: the bidders, and the leaders of the lots they bid on. A lot's
    leader later in the batch is one of these two, so nobody else is ever needed."""
    wanted: set[int] = set()
    for item in items:
        if isinstance(item.command, PlaceBid):
            wanted.add(item.command.bidder)
            leader = known[item.lot].leader
            if leader is not None:
                wanted.add(leader)
    return wanted


def _decide_batch(
    items: list[_Pending], known: dict[int, LotState], bidders: dict[int, _Bidder] | None = None
) -> _Plan:
    """Decide every command in order, each against the state (and exposures) the previous ones left. With
    `bidders` (enforcing standings), each bid gets its context from them, and the plan notes whom it read."""
    plan = _Plan()
    for item in items:
        state = plan.after.get(item.lot) or known[item.lot]
        plan.before.setdefault(item.lot, state)
        context = None
        if bidders is not None and isinstance(item.command, PlaceBid):
            context = _context(plan, bidders, item.lot, state, item.command.bidder)
        decision = decide(state, item.command, context)
        if isinstance(decision, Rejected):
            plan.outcomes.append(decision)
            plan.after[item.lot] = state
            continue
        after = reduce(evolve, decision, state)
        plan.after[item.lot] = after
        plan.events.setdefault(item.lot, []).extend(decision)
        plan.outcomes.append(Accepted(decision, after))
        if bidders is not None:
            _move_exposure(plan, bidders, item.lot, state, after)
    return plan


def _working_exposure(plan: _Plan, bidders: dict[int, _Bidder], bidder: int) -> dict[int, int]:
    if bidder not in plan.exposure:
        plan.exposure[bidder] = dict(bidders[bidder].exposure)
    return plan.exposure[bidder]


def _context(plan: _Plan, bidders: dict[int, _Bidder], lot: int, state: LotState, bidder: int) -> BidContext:
    """The facts a bid is decided on besides the lot; every record read here is checked at commit."""
    plan.read.add(bidder)
    mine = _working_exposure(plan, bidders, bidder)
    exposure = sum(owed for other, owed in mine.items() if other != lot)
    if state.leader is None:
        return BidContext(bidders[bidder].standing, exposure)
    plan.read.add(state.leader)
    theirs = _working_exposure(plan, bidders, state.leader)
    leader_exposure = sum(owed for other, owed in theirs.items() if other != lot)
    return BidContext(bidders[bidder].standing, exposure, bidders[state.leader].standing, leader_exposure)


def _move_exposure(plan: _Plan, bidders: dict[int, _Bidder], lot: int, before: LotState, after: LotState) -> None:
    """Keep the batch's working exposures in step with the lot, so the next bid in the batch sees them."""
    held, holds = exposure_of(before), exposure_of(after)
    if held is not None and held[0] in bidders:
        _working_exposure(plan, bidders, held[0]).pop(lot, None)
    if holds is not None and holds[0] in bidders:
        _working_exposure(plan, bidders, holds[0])[lot] = holds[1]


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


Writes = dict[int, tuple[dict[int, int], list[int]]]


def _touched_bidders(plan: _Plan, writes: Writes) -> list[int]:
    return sorted(plan.read | writes.keys())


# `writes` defaults to what the plan implies; loadtest.baseline calls these two as the store does.
def _commit_keys(sale: int, plan: _Plan, writes: Writes | None = None) -> list[str]:
    writes = plan.exposure_writes() if writes is None else writes
    lot_keys = [key for lot in plan.before for key in (keys.lot_state(sale, lot), keys.lot_events(sale, lot))]
    bidder_keys = [keys.bidder(sale, bidder) for bidder in _touched_bidders(plan, writes)]
    fixed = [
        keys.sale_answers(sale), keys.sale_events(sale), keys.sale_opens(sale), keys.sale_closes(sale),
        keys.sale_commits(sale),
    ]  # fmt: skip
    return [*fixed, *lot_keys, *bidder_keys]


def _commit_args(
    items: list[_Pending],
    plan: _Plan,
    writes: Writes | None = None,
    bidders: dict[int, _Bidder] | None = None,
    chain: tuple[str, str, str] = ("", "", ""),
) -> list[bytes]:
    """The script's ARGV: its arguments packed into one msgpack array. `chain`: the store's id, this commit's
    token and the token of the commit it was decided on ('' for none)."""
    return [_pack_args([*chain, *_commit_arg_list(items, plan, writes, bidders)])]


_ARGS_ENCODER = msgspec.msgpack.Encoder()


def _pack_args(args: list[str | bytes | int]) -> bytes:
    """A msgpack array of strings, as the script's `nextarg` reads them: numbers as their decimal text (the
    script compares them with what HGET returns), bytes as msgpack str, not bin, which Redis's cmsgpack can't
    read (a Lua string holds any bytes)."""
    return _ARGS_ENCODER.encode(
        [str(arg) if type(arg) is int else _lua_string(arg) if type(arg) is bytes else arg for arg in args]
    )


def _lua_string(data: bytes) -> msgspec.Raw:
    size = len(data)
    if size < 32:
        head = bytes((0xA0 | size,))
    elif size < 1 << 8:
        head = bytes((0xD9, size))
    elif size < 1 << 16:
        head = b"\xda" + size.to_bytes(2, "big")
    else:
        head = b"\xdb" + size.to_bytes(4, "big")
    return msgspec.Raw(head + data)


def _commit_arg_list(
    items: list[_Pending], plan: _Plan, writes: Writes | None = None, bidders: dict[int, _Bidder] | None = None
) -> list[str | bytes | int]:
    writes = plan.exposure_writes() if writes is None else writes
    dedupe_keys = [item.dedupe for item in items if item.dedupe is not None]
    args: list[str | bytes | int] = [len(dedupe_keys), *dedupe_keys, len(plan.before)]
    for lot, before in plan.before.items():
        args += _lot_args(lot, before, plan.after[lot], plan.events.get(lot, []))
    touched = _touched_bidders(plan, writes)
    args.append(len(touched))
    for bidder in touched:
        read = bidders is not None and bidder in plan.read
        args += [bidder, bidders[bidder].version if bidders is not None and read else ""]
        set_fields, del_fields = writes.get(bidder, ({}, []))
        args.append(len(set_fields))
        for lot, owed in set_fields.items():
            args += [keys.exposure_field(lot), owed]
        args += [len(del_fields), *(keys.exposure_field(lot) for lot in del_fields)]
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
