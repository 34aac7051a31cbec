"""The live channel: who is calling, what they may do, and the websocket that drives the protocol.

Like websockets' asyncio connection around its protocol object, this is the thin driver: it reads frames,
decodes them (protocol.py), asks the store or the hub, and queues the answers on the connection's outbox.
Answers and events are written straight to the socket while it keeps up; only a socket that falls behind
gets a queue and a task that drains it (fanout.Outbox), so a slow socket never blocks the reader or the fan-out.

Identity is resolved when connecting (by the `authorise` middleware, http.py): a bearer token (header, or
`?token=` for browsers) or the session cookie names an account with a role; no token is an anonymous watcher;
a bad token is refused with HTTP 401 (`token_invalid`, `token_expired`, `token_revoked`) before the upgrade.
Every message is checked against access.MESSAGE_RULES, the one table of who may send what, and the token is
checked again (through a cache of a few seconds), so a revoked token's connection is closed.
Consignors watch only their own lots; operators get the record form of events (`record`, `record_snapshot`).

PostgreSQL down. Bidding needs only Redis once the gateway knows who is calling and their paddle, so an outage
of PostgreSQL must not stop it: every lookup there (Identities, Quotes) keeps the last answer PostgreSQL gave
and, when PostgreSQL can't be reached, answers from it for as long as the outage lasts (a token refused before
the outage stays refused; one that expires during it is refused as expired). What can't be answered that way
raises DatabaseUnavailable, and the edge answers it `unavailable` (HTTP 503): never `internal`, never a close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Generic, NamedTuple, TypeVar

import asyncpg
import msgspec
from aiohttp import WSMessage, WSMsgType, web

from auction import catalog, identity
from auction.engine.messages import BidAccepted, BidKind, MaxBidRaised, PlaceBid, Rejected
from auction.engine.premium import PremiumSchedule, all_in
from auction.gateway.access import message_rule
from auction.gateway.fanout import Audience, Hub, Outbox, Watch, now_ms
from auction.gateway.metrics import Metrics
from auction.gateway.protocol import (
    Ack,
    AnyClientMessage,
    AnyServerMessage,
    Bid,
    BidderInfo,
    BidRejected,
    Error,
    MaxBid,
    Quote,
    QuoteReply,
    Subscribe,
    Time,
    TimeReply,
    Unsubscribe,
    Welcome,
    decode_client,
    encode,
)
from auction.httpkit import ANONYMOUS, CALLER_KEY, Caller, Via
from auction.store import Accepted, LotNotFound, LotStore, Outcome, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

MAX_MSG_BYTES = 64 * 1024  # aiohttp closes the connection past this; PROTOCOL frames are refused at 4 KiB
RATE_PER_S = 20.0
RATE_BURST = 50
MAX_REFUSED_IN_ROW = 200  # a client refused this often in a row is flooding: closed with 1008
MAX_SALES_PER_CONNECTION = 32
MAX_BIDS_IN_FLIGHT = 16  # per connection; past it the reader waits, which slows only this client
IDENTITY_TTL_S = 30.0
TOKEN_TTL_S = 5.0  # how long a token's answer is cached: the longest a revoked token works on another gateway
NO_PADDLE_TTL_S = 5.0  # a bidder registered just now should not wait long to be let in
CACHE_ENTRIES = 100_000
PG_LOOKUP_TIMEOUT_S = 2.0  # a lookup slower than this counts as PostgreSQL unreachable (a black-holed network)
OUTAGE_RECHECK_S = 1.0  # while PostgreSQL is unreachable, a last answer is reused this long before asking again
CLOSE_TIMEOUT_S = 2.0
HEARTBEAT_S = 20.0
RATE_LIMITED = Error("rate_limited", None, f"at most {RATE_PER_S:.0f} messages a second")

K = TypeVar("K")
V = TypeVar("V")


# ---- identity ---------------------------------------------------------------------------------------------------


class TtlCache(Generic[K, V]):
    """A small in-process cache: entries expire, and it is emptied when it grows past `entries`."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._items: dict[K, tuple[float, V]] = {}
        self._entries = entries

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def entry(self, key: K) -> tuple[float, V] | None:
        """(expiry on the monotonic clock, value), expired or not: an entry stays until it is replaced or the
        cache is emptied, so an expired one is still the last answer given, for when none can be had."""
        return self._items.get(key)

    def put(self, key: K, value: V, ttl_s: float) -> None:
        if len(self._items) >= self._entries:
            self._items.clear()  # crude, and enough: a miss only costs one query
        self._items[key] = (time.monotonic() + ttl_s, value)

    def clear(self) -> None:
        self._items.clear()


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached and no earlier answer stands in: what needed it was not done. The edge
    answers it `unavailable` (HTTP 503), never `internal`."""


# PostgreSQL unreachable, as asyncpg reports it: the socket refused, reset, missing or timed out (OSError, which
# TimeoutError is), a connection that is closed or lost (InterfaceError; class 08, PostgresConnectionError), the
# server shutting down or starting up (class 57). A query PostgreSQL answered with an error of another kind is a
# fault of ours, not an outage, and stays `internal`.
PG_UNREACHABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)


# What the edge answers `unavailable` for PostgreSQL: translated already, or straight from asyncpg.
PG_OUT_OF_REACH: tuple[type[Exception], ...] = (DatabaseUnavailable, *PG_UNREACHABLE)


@contextlib.contextmanager
def pg_unreachable_as_unavailable(doing: str) -> Iterator[None]:
    try:
        yield
    except PG_UNREACHABLE as exc:
        raise DatabaseUnavailable(f"{doing}: PostgreSQL unreachable: {type(exc).__name__}: {exc}") from exc


async def ask_pg(
    cache: TtlCache[K, V],
    key: K,
    lookup: Callable[[], Awaitable[V]],
    ttl_s: Callable[[V], float],
    doing: str,
    stands_in: Callable[[V], bool] = lambda _answer: True,
) -> V:
    """PostgreSQL's answer for `key`, cached for ttl_s(answer). When PostgreSQL can't be reached, the last
    answer it gave for `key` however old, if `stands_in` says it may, reused for OUTAGE_RECHECK_S before asking
    again; else DatabaseUnavailable."""
    entry = cache.entry(key)
    if entry is not None and entry[0] >= time.monotonic():
        return entry[1]
    try:
        with pg_unreachable_as_unavailable(doing):
            answer = await asyncio.wait_for(lookup(), PG_LOOKUP_TIMEOUT_S)
    except DatabaseUnavailable:
        entry = cache.entry(key)
        if entry is None or not stands_in(entry[1]):
            raise
        log.debug("%s: PostgreSQL unreachable, answering from its last answer", doing, exc_info=True)
        cache.put(key, entry[1], OUTAGE_RECHECK_S)
        return entry[1]
    cache.put(key, answer, ttl_s(answer))
    return answer


SESSION_COOKIE = "auction_session"


class BadToken(Exception):
    """An Authorization header that is not `Bearer <token>`."""


def credentials_of(request: web.Request) -> tuple[str | None, Via]:
    """The token a request carries: `Authorization: Bearer`, else `?token=` (websockets from browsers), else the
    session cookie."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BadToken("Authorization must be 'Bearer <token>'")
        return token.strip(), "bearer"
    query = request.query.get("token") or None
    if query is not None:
        return query, "bearer"
    cookie = request.cookies.get(SESSION_COOKIE) or None
    return cookie, "cookie" if cookie else "none"


class SignedIn(NamedTuple):
    """A token PostgreSQL accepted: whose it is, and until when (epoch seconds) it may be used."""

    caller: Caller
    expires_s: float


TokenAnswer = SignedIn | identity.TokenRefused


class Identities:
    """Tokens to callers, and callers' paddles and own lots per sale, looked up in PostgreSQL, cached briefly.

    A token's answer (caller or refusal) is cached for `token_ttl_s` (TOKEN_TTL_S): a revoked token stops
    working at once on the gateway that revoked it, and within TOKEN_TTL_S on every other one. While PostgreSQL
    is unreachable each lookup answers from the last answer PostgreSQL gave (ask_pg), so the callers and bidders
    this gateway knows go on bidding; a lookup with no such answer raises DatabaseUnavailable."""

    def __init__(self, pg: asyncpg.Pool, ttl_s: float = IDENTITY_TTL_S, token_ttl_s: float = TOKEN_TTL_S) -> None:
        self._pg = pg
        self._ttl_s = ttl_s
        self._token_ttl_s = token_ttl_s
        self._callers: TtlCache[str, TokenAnswer] = TtlCache()
        self._paddles: TtlCache[tuple[int, int], int | None] = TtlCache()
        self._own_lots: TtlCache[tuple[int, int], frozenset[int]] = TtlCache()

    async def caller(self, token: str | None, via: Via = "bearer") -> Caller:
        """The caller a token names; ANONYMOUS without one. Raises identity.TokenRefused, DatabaseUnavailable."""
        if token is None:
            return ANONYMOUS
        answer = await ask_pg(
            self._callers, token, lambda: self._authenticate(token), lambda _: self._token_ttl_s, "checking a token"
        )
        if isinstance(answer, identity.TokenRefused):
            raise answer
        if answer.expires_s <= time.time():  # PostgreSQL would say so too; while it is down, nobody else does
            raise identity.TokenRefused("token_expired", "this token has expired: log in again or issue a new one")
        caller = answer.caller
        return caller if caller.via == via else msgspec.structs.replace(caller, via=via)

    async def _authenticate(self, token: str) -> TokenAnswer:
        try:
            credential = await identity.authenticate(self._pg, token)
        except identity.TokenRefused as exc:
            return exc
        a = credential.account
        caller = Caller(a.role, a.id, a.name, a.company_id, a.consignor_id, credential.token_id, "bearer")
        return SignedIn(caller, credential.expires_at.timestamp())

    async def from_request(self, request: web.Request) -> Caller:
        """Raises BadToken, identity.TokenRefused or DatabaseUnavailable."""
        token, via = credentials_of(request)
        return await self.caller(token, via)

    def forget_tokens(self) -> None:
        """After a revocation on this gateway: no cached answer outlives it here."""
        self._callers.clear()

    def cached_paddle(self, caller: Caller, sale: int) -> tuple[bool, int | None]:
        """(True, paddle) when known without asking PostgreSQL; (False, None) when `paddle` must look it up."""
        if caller.role != "buyer" or caller.company is None:
            return True, None
        return self._paddles.get((sale, caller.company))

    async def paddle(self, caller: Caller, sale: int) -> int | None:
        """The caller's paddle in the sale; None if they have none. Raises DatabaseUnavailable.

        While PostgreSQL is down only a paddle stands in for an answer, not the lack of one: "no paddle" is
        kept briefly on purpose (NO_PADDLE_TTL_S), and one from before a registration would refuse a bidder
        the engine, which reads the standing in Redis, would let bid."""
        company = caller.company
        if caller.role != "buyer" or company is None:
            return None
        return await ask_pg(
            self._paddles,
            (sale, company),
            lambda: catalog.paddle_of(self._pg, sale, company),
            lambda paddle: self._ttl_s if paddle else min(self._ttl_s, NO_PADDLE_TTL_S),
            "looking up a paddle",
            stands_in=lambda paddle: paddle is not None,
        )

    async def own_lots(self, caller: Caller, sale: int) -> frozenset[int]:
        """The lots of `sale` that a consignor caller consigned (empty for anyone else). Raises
        DatabaseUnavailable."""
        consignor = caller.consignor
        if caller.role != "consignor" or consignor is None:
            return frozenset()
        return await ask_pg(
            self._own_lots,
            (sale, consignor),
            lambda: self._consigned(sale, consignor),
            lambda _: self._ttl_s,
            "looking up a consignor's lots",
        )

    async def _consigned(self, sale: int, consignor: int) -> frozenset[int]:
        rows = await self._pg.fetch("SELECT lot_no FROM lots WHERE sale_id = $1 AND consignor_id = $2", sale, consignor)
        return frozenset(row["lot_no"] for row in rows)


# ---- bids and quotes (shared with the HTTP API) --------------------------------------------------------------------

BidAnswer = Ack | BidRejected | Error


@dataclass(frozen=True, slots=True)
class BidTicket:
    """A bid as received: `received_ms` (server clock) becomes the command's time; `received_perf` times the ack."""

    sale: int
    lot: int
    amount: int
    client_id: str
    kind: BidKind
    received_ms: int
    received_perf: float


UNKNOWN_OUTCOME = Error("unavailable", None, "the outcome is unknown: send the bid again with the same client_id")
INTERNAL = Error("internal", None, "the message could not be handled")


def naming(error: Error, message: AnyClientMessage | BidTicket | Error) -> Error:
    """`error` as the answer to `message`: when that is a bid it names it (client_id, sale, lot), so that a
    client with several bids in flight knows which one failed. (An Error stands for a frame that could not be
    decoded: decode_client named the bid in it if it could.)"""
    if not isinstance(message, Bid | MaxBid | BidTicket | Error):
        return error
    return msgspec.structs.replace(error, client_id=message.client_id, sale=message.sale, lot=message.lot)


def failure(exc: Exception) -> Error:
    """What went wrong handling a message, as the error frame that answers it (the edge's one mapping)."""
    if isinstance(exc, StoreError):
        log.warning("a message failed on the store", exc_info=exc)
        return Error("unavailable", None, "the store is unavailable; try again")
    if isinstance(exc, PG_OUT_OF_REACH):
        log.warning("a message failed on PostgreSQL", exc_info=exc)
        return Error("unavailable", None, "the database is unavailable; try again")
    log.error("a message failed", exc_info=exc)
    return INTERNAL


class BidDesk:
    """Turns a caller's bid into a command, executes it, and answers as the protocol says.

    `place` is the whole of it in one coroutine (the HTTP API). The live channel uses its two halves instead,
    `start` and `finish`, so that a bid needs no task of its own: the answer is sent from the store future's
    done-callback."""

    def __init__(self, store: LotStore, identities: Identities, metrics: Metrics) -> None:
        self._store = store
        self._identities = identities
        self._metrics = metrics

    async def place(self, caller: Caller, ticket: BidTicket) -> BidAnswer:
        try:
            paddle = await self._identities.paddle(caller, ticket.sale) if may_bid(caller, ticket) else None
        except DatabaseUnavailable:
            log.warning("bid %s.%s:%s: no paddle", caller.company, caller.account, ticket.client_id, exc_info=True)
            return naming(Error("unavailable", None, "the bid was not placed: send it again shortly"), ticket)
        started = self.start(caller, ticket, paddle)
        if isinstance(started, asyncio.Future):
            with contextlib.suppress(StoreError):  # finish() turns it into the answer
                await started
            return self.finish(caller, ticket, started)
        return started

    def start(self, caller: Caller, t: BidTicket, paddle: int | None) -> BidAnswer | asyncio.Future[Outcome]:
        """The answer at once (a refusal before the store), or the store's future for the bid. `paddle` is the
        caller's in the sale (Identities.paddle). Raises StoreClosed."""
        if not may_bid(caller, t):
            return self._answered(BidRejected(t.client_id, t.sale, t.lot, "not_allowed", 0), t)
        if paddle is None:  # the engine would say not_registered too; this spares it the round trip
            return self._answered(BidRejected(t.client_id, t.sale, t.lot, "not_registered", 0), t)
        assert caller.company is not None  # may_bid
        command = PlaceBid(t.received_ms, caller.company, paddle, t.amount, t.client_id, t.kind)
        # Two representatives of one company are one bidder, but each has their own client ids.
        dedupe = f"{caller.company}.{caller.account}:{t.client_id}"
        return self._store.submit(t.sale, t.lot, command, dedupe=dedupe)

    def finish(self, caller: Caller, t: BidTicket, done: asyncio.Future[Outcome]) -> BidAnswer:
        """The answer to a bid whose store future is done. Raises a StoreError other than these two."""
        try:
            outcome = done.result()
        except LotNotFound:
            return naming(Error("not_found", "lot", f"sale {t.sale} has no lot {t.lot}"), t)
        except StoreUnavailable:
            log.warning("bid %s.%s:%s: outcome unknown", caller.company, caller.account, t.client_id, exc_info=True)
            return naming(UNKNOWN_OUTCOME, t)
        if isinstance(outcome, Rejected):
            return self._answered(BidRejected(t.client_id, t.sale, t.lot, outcome.reason, outcome.next_amount), t)
        return self._answered(_ack(caller, t, outcome), t)

    def _answered(self, answer: Ack | BidRejected, t: BidTicket) -> Ack | BidRejected:
        reason = answer.reason if isinstance(answer, BidRejected) else None
        self._metrics.bid_answered(reason, time.perf_counter() - t.received_perf)
        return answer


def may_bid(caller: Caller, t: BidTicket) -> bool:
    """Whether the caller's role may place this kind of bid at all (access.MESSAGE_RULES), as a company."""
    return "buyer" in message_rule(t.kind if t.kind == "bid" else "max_bid") and caller.company is not None


def _ack(caller: Caller, t: BidTicket, outcome: Accepted) -> Ack:
    state = outcome.state
    leading = state.leader == caller.company
    return Ack(t.client_id, t.sale, t.lot, state.seq, state.price, leading, _own_max(outcome, t.client_id, t.amount))


def _own_max(outcome: Accepted, client_id: str, amount: int) -> int:
    """The maximum the bid recorded (from its own event: a resent bid gets the first answer's figures)."""
    for event in outcome.events:
        if isinstance(event, BidAccepted | MaxBidRaised) and event.client_id == client_id:
            return event.max_amount
    return amount


class Quotes:
    """The premium-inclusive total a buyer would owe at an amount, with the sale's own premium schedule."""

    def __init__(self, pg: asyncpg.Pool, hub: Hub) -> None:
        self._pg = pg
        self._hub = hub
        self._schedules: TtlCache[int, PremiumSchedule | None] = TtlCache()

    async def quote(self, sale: int, lot: int, amount: int) -> QuoteReply | Error:
        schedule = await self._schedule(sale)
        if schedule is None:
            return Error("not_found", "sale", f"no sale {sale}")
        if await self._hub.terms.get(sale, lot) is None:
            return Error("not_found", "lot", f"sale {sale} has no lot {lot}")
        total = all_in(amount, schedule)
        return QuoteReply(sale, lot, amount, total - amount, total)

    async def _schedule(self, sale: int) -> PremiumSchedule | None:
        """Raises DatabaseUnavailable."""
        return await ask_pg(
            self._schedules,
            sale,
            lambda: self._read_schedule(sale),
            lambda _: IDENTITY_TTL_S,
            "reading a sale's premium schedule",
            stands_in=lambda schedule: schedule is not None,  # a sale not found then may exist now
        )

    async def _read_schedule(self, sale: int) -> PremiumSchedule | None:
        settings = await catalog.sale_settings(self._pg, sale)
        return settings.premium if settings else None


# ---- the websocket ----------------------------------------------------------------------------------------------


class TokenBucket:
    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, rate: float = RATE_PER_S, burst: int = RATE_BURST) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class LiveChannel:
    """GET /ws: every connection of this process."""

    def __init__(self, hub: Hub, identities: Identities, desk: BidDesk, quotes: Quotes) -> None:
        self.hub = hub
        self.identities = identities
        self.desk = desk
        self.quotes = quotes
        self.connections: set[Connection] = set()
        self.bid_tasks: set[asyncio.Task[None]] = set()  # bids waiting for a paddle lookup (held against GC)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The caller was resolved (and a bad token refused with 401) by the `authorise` middleware."""
        caller = request.get(CALLER_KEY, ANONYMOUS)
        token, _ = credentials_of(request)
        # No permessage-deflate: frames are small JSON, written pre-framed to many sockets (fanout.Outbox), and a
        # compressor per connection would cost memory and CPU for every watcher.
        ws = web.WebSocketResponse(max_msg_size=MAX_MSG_BYTES, heartbeat=HEARTBEAT_S, compress=False)
        await ws.prepare(request)
        connection = Connection(self, ws, caller, request, token)
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)
        return ws

    async def close_all(self) -> None:
        """On shutdown: 1001 Going Away to everyone, so clients reconnect elsewhere."""
        await asyncio.gather(*(c.close(1001, "server shutting down") for c in list(self.connections)))


class Connection:
    """One websocket. Slotted and lean (no task, queue or event of its own while idle): 10,000 watchers are
    10,000 of these."""

    __slots__ = (
        "bid_landed",
        "bucket",
        "caller",
        "channel",
        "closing",
        "in_flight",
        "outbox",
        "refused_in_row",
        "request",
        "token",
        "watches",
        "ws",
    )

    def __init__(
        self, channel: LiveChannel, ws: web.WebSocketResponse, caller: Caller, request: web.Request, token: str | None
    ):
        self.channel = channel
        self.ws = ws
        self.caller = caller
        self.request = request
        self.token = token
        self.outbox = Outbox(on_lag=self._lagged, transport=request.transport, send=self._send_slowly)
        self.watches: dict[int, Watch] = {}
        self.bucket = TokenBucket()
        self.refused_in_row = 0
        self.in_flight = 0  # bids handed to the store and not yet answered
        self.bid_landed: asyncio.Event | None = None  # made only if the reader ever waits for MAX_BIDS_IN_FLIGHT
        self.closing: asyncio.Task[None] | None = None

    def send(self, message: AnyServerMessage) -> None:
        self.outbox.put(encode(message))

    async def run(self) -> None:
        info = BidderInfo(self.caller.company, self.caller.name) if self.caller.company is not None else None
        self.send(Welcome(now_ms(), info, self.caller.role))
        try:
            async for frame in self.ws:
                if not await self._on_frame(frame):
                    break
        finally:
            for watch in self.watches.values():
                self.channel.hub.unsubscribe(watch)
            self.outbox.stop()
            if not self.ws.closed:
                await self.close(1000, "")

    async def _send_slowly(self, frame: bytes) -> None:
        """The outbox's slow path, for a socket that has fallen behind: aiohttp waits while it is paused."""
        await self.ws.send_frame(frame, WSMsgType.TEXT)

    def _lagged(self) -> None:
        """The outbox overflowed (it has stopped its drain, which may be stuck on a socket that doesn't drain).
        Close from a task of its own: closing waits for the reader, which is this connection's task."""
        self.closing = asyncio.create_task(self._close_lagged())

    async def _close_lagged(self) -> None:
        lagged = Error("lagged", None, "too far behind the live feed: reconnect and resume from your last seq")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.send_frame(encode(lagged), WSMsgType.TEXT), CLOSE_TIMEOUT_S)
        await self.close(1013, "lagged")

    async def close(self, code: int, reason: str) -> None:
        """Close, and if the peer won't take even the close frame, drop the connection."""
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), CLOSE_TIMEOUT_S)
        except (TimeoutError, ConnectionError):
            if self.request.transport is not None:
                self.request.transport.abort()

    # ---- reading ------------------------------------------------------------------------------------------------

    async def _on_frame(self, frame: WSMessage) -> bool:
        """Handle one frame; False once the connection should stop reading."""
        received_ms, received_perf = now_ms(), time.perf_counter()
        if frame.type != WSMsgType.TEXT:
            if frame.type == WSMsgType.BINARY:
                return await self._refuse(Error("invalid", None, "frames are JSON text, not binary"))
            return frame.type not in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
        allowed = self.bucket.take()
        message = decode_client(frame.data)  # decoded even past the rate, so that a refused bid is named
        if not allowed:
            return await self._refuse(naming(RATE_LIMITED, message))
        if isinstance(message, Error):
            return await self._refuse(message)
        self.refused_in_row = 0
        try:
            if not await self._still_signed_in():
                return False
        except DatabaseUnavailable:  # and no earlier answer about the token: not acted on, the connection stays
            log.warning("a token could not be checked", exc_info=True)
            self.send(naming(Error("unavailable", "token", "the token can't be checked now; try again"), message))
            return True
        tag = type(message).__struct_config__.tag
        if self.caller.role not in message_rule(str(tag)):
            if isinstance(message, Bid | MaxBid):  # answered like any refused bid, so the client_id comes back
                self.send(BidRejected(message.client_id, message.sale, message.lot, "not_allowed", 0))
                return True
            return await self._refuse(Error("not_allowed", "type", f"a {self.caller.role} may not send {tag!r}"))
        await self._guarded(lambda: self._dispatch(message, received_ms, received_perf), message)
        return True

    async def _still_signed_in(self) -> bool:
        """A connection made with a token lives only as long as the token: revoked or expired, it is closed.
        Raises DatabaseUnavailable."""
        if self.token is None:
            return True
        try:
            await self.channel.identities.caller(self.token, self.caller.via)
        except identity.TokenRefused as exc:
            self.send(Error(exc.code, "token", str(exc)))
            await asyncio.sleep(0)  # let a queued error go out before the close frame
            await self.close(1008, exc.code)
            return False
        return True

    async def _refuse(self, error: Error) -> bool:
        self.send(error)
        self.refused_in_row += 1
        if self.refused_in_row >= MAX_REFUSED_IN_ROW:
            await self.close(1008, "too many refused messages")
            return False
        return True

    async def _guarded(self, handler: Callable[[], Awaitable[None]], message: AnyClientMessage | BidTicket) -> None:
        """The edge: no exception in one message may end the connection or the server; the error that answers
        a bid names it."""
        try:
            await handler()
        except Exception as exc:
            self.send(naming(failure(exc), message))

    async def _dispatch(self, message: AnyClientMessage, received_ms: int, received_perf: float) -> None:
        match message:
            case Subscribe():
                await self._subscribe(message)
            case Unsubscribe(sale=sale):
                watch = self.watches.pop(sale, None)
                if watch is not None:
                    self.channel.hub.unsubscribe(watch)
            case Bid() | MaxBid():
                await self._start_bid(message, received_ms, received_perf)
            case Quote(sale=sale, lot=lot, amount=amount):
                self.send(await self.channel.quotes.quote(sale, lot, amount))
            case Time():
                self.send(TimeReply(now_ms()))

    async def _subscribe(self, message: Subscribe) -> None:
        sale = message.sale
        lots: list[int] | None = message.lots
        if self.caller.role == "consignor":
            lots = await self._own_lots(message)
            if lots is None:
                return
        if sale not in self.watches and len(self.watches) >= MAX_SALES_PER_CONNECTION:
            self.send(Error("invalid", "sale", f"at most {MAX_SALES_PER_CONNECTION} sales per connection"))
            return
        old = self.watches.pop(sale, None)
        if old is not None:
            self.channel.hub.unsubscribe(old)
        audience: Audience = "operator" if self.caller.is_operator else "public"
        watch = Watch(sale, lots, self.outbox, audience)
        problem = await self.channel.hub.subscribe(watch, message.resume)
        if problem is not None:
            self.send(problem)
        else:
            self.watches[sale] = watch

    async def _own_lots(self, message: Subscribe) -> list[int] | None:
        """A consignor's subscription: their own lots of the sale, all of them or those asked for; None (after
        saying why) if they asked for anyone else's, or have none in the sale."""
        own = await self.channel.identities.own_lots(self.caller, message.sale)
        if not own:
            self.send(Error("not_allowed", "sale", f"you have no lots in sale {message.sale}"))
            return None
        asked = [*(message.lots or ()), *(message.resume or {})]
        others = sorted(set(asked) - own)
        if others:
            self.send(Error("not_allowed", "lots", f"lot {others[0]} of sale {message.sale} is not yours"))
            return None
        return sorted(own) if message.lots is None else list(message.lots)

    async def _start_bid(self, message: Bid | MaxBid, received_ms: int, received_perf: float) -> None:
        """Bids run concurrently (a program bids on many lots), at most MAX_BIDS_IN_FLIGHT at once. With the
        paddle cached (the usual case) a bid is handed to the store here and answered from the store future's
        done-callback: no task per bid. Otherwise a task looks the paddle up first."""
        while self.in_flight >= MAX_BIDS_IN_FLIGHT:
            self.bid_landed = self.bid_landed or asyncio.Event()
            self.bid_landed.clear()
            await self.bid_landed.wait()
        kind: BidKind = "max" if isinstance(message, MaxBid) else "bid"
        ticket = BidTicket(
            message.sale, message.lot, message.amount, message.client_id, kind, received_ms, received_perf
        )
        desk = self.channel.desk
        known, paddle = self.channel.identities.cached_paddle(self.caller, ticket.sale)
        if not known:
            self._bid_started()
            task = asyncio.create_task(self._guarded(lambda: self._bid(ticket), ticket))
            self.channel.bid_tasks.add(task)
            task.add_done_callback(self._bid_task_done)
            return
        started = desk.start(self.caller, ticket, paddle)
        if isinstance(started, asyncio.Future):
            self._bid_started()
            started.add_done_callback(partial(self._bid_committed, ticket))
        else:
            self.send(started)

    def _bid_started(self) -> None:
        self.in_flight += 1

    def _bid_ended(self) -> None:
        self.in_flight -= 1
        if self.bid_landed is not None:
            self.bid_landed.set()

    def _bid_committed(self, ticket: BidTicket, done: asyncio.Future[Outcome]) -> None:
        """The store future's done-callback: the edge for a bid without a task (as _guarded is for the rest)."""
        self._bid_ended()
        try:
            answer: AnyServerMessage = self.channel.desk.finish(self.caller, ticket, done)
        except Exception as exc:
            answer = naming(failure(exc), ticket)
        self.send(answer)

    def _bid_task_done(self, task: asyncio.Task[None]) -> None:
        self.channel.bid_tasks.discard(task)
        self._bid_ended()

    async def _bid(self, ticket: BidTicket) -> None:
        self.send(await self.channel.desk.place(self.caller, ticket))
