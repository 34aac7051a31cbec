"""The live channel: GET /ws, the websocket that drives the protocol for every connection of this process.

Like websockets' asyncio connection around its protocol object, this is the thin driver: it reads frames,
decodes them (protocol.py), asks the bid desk (desk.py), the rostrum desk (rostrum.py: a live sale's operators'
messages, each awaited in turn so the rostrum acts in the order it was told) or the hub (fanout.py), and queues
the answers on the connection's outbox. Answers and events are written straight to the socket while it keeps up;
only a socket that falls behind gets a queue and a task that drains it (fanout.Outbox), so a slow socket never
blocks the reader or the fan-out. Each connection is bounded: messages a second (TokenBucket), refusals in a row,
sales watched, bids in flight.

Who is calling is resolved when connecting, by the `authorise` middleware (http.py) through identities.py; a
bad token is refused with HTTP 401 before the upgrade. Every message is checked against
access.MESSAGE_RULES, the one table of who may send what, and the token is checked again (through a cache of
a few seconds). A connection made with a token lives no longer than the token: a timer closes it at the token's
expiry, and a revocation published by any gateway (revocations.py) closes it at once (`close_token`), whether or
not the client speaks; either way the client is told why (`token_expired`, `token_revoked`) before the close
(1008). Each client address may hold at most `websockets_per_address` connections on this process; past that an
upgrade is refused 429 `rate_limited` (field `address`). Consignors watch only their own lots; operators get
the record form of events (`record`, `record_snapshot`). While PostgreSQL is out of reach a message that needs
an answer it can't give is answered `unavailable` (lookups.py), and the connection stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import WSMessage, WSMsgType, web

from auction import identity
from auction.engine.messages import BidKind
from auction.gateway.access import message_rule
from auction.gateway.desk import BidDesk, BidTicket, Quotes, failure, naming
from auction.gateway.edge import WEBSOCKETS_PER_ADDRESS, AddressCounts
from auction.gateway.fanout import Audience, Hub, Outbox, Watch, now_ms
from auction.gateway.identities import Identities, credentials_of
from auction.gateway.lookups import DatabaseUnavailable
from auction.gateway.protocol import (
    AnyClientMessage,
    AnyServerMessage,
    Bid,
    BidderInfo,
    BidRejected,
    Error,
    MaxBid,
    Quote,
    RostrumMessage,
    Subscribe,
    TenderBid,
    Time,
    TimeReply,
    Unsubscribe,
    WatchShillScores,
    Welcome,
    decode_client,
    encode,
)
from auction.gateway.rostrum import RostrumDesk
from auction.gateway.shills import ShillMonitor
from auction.gateway.tender_desk import TenderDesk, TenderTicket
from auction.httpkit import ANONYMOUS, CALLER_KEY, ApiError, Caller
from auction.store import Outcome

log = logging.getLogger(__name__)

MAX_MSG_BYTES = 64 * 1024  # aiohttp closes the connection past this; PROTOCOL frames are refused at 4 KiB
RATE_PER_S = 20.0
RATE_BURST = 50
MAX_REFUSED_IN_ROW = 200  # a client refused this often in a row is flooding: closed with 1008
MAX_SALES_PER_CONNECTION = 32
MAX_BIDS_IN_FLIGHT = 16  # per connection; past it the reader waits, which slows only this client
CLOSE_TIMEOUT_S = 2.0
HEARTBEAT_S = 20.0
RATE_LIMITED = Error("rate_limited", None, f"at most {RATE_PER_S:.0f} messages a second")
ADDRESS_RETRY_S = 5  # the retry hint of an upgrade refused for its address's connections


class TokenBucket:
    """A connection's allowance of messages: RATE_PER_S on average, bursts of up to RATE_BURST."""

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

    def __init__(
        self,
        hub: Hub,
        identities: Identities,
        desk: BidDesk,
        quotes: Quotes,
        rostrum: RostrumDesk,
        websockets_per_address: int = WEBSOCKETS_PER_ADDRESS,
        shills: ShillMonitor | None = None,
    ) -> None:
        self.hub = hub
        self.identities = identities
        self.desk = desk
        self.quotes = quotes
        self.rostrum = rostrum
        self.tender: TenderDesk | None = None  # sealed tender bids (tender_desk.py), set by the gateway
        self.shills = shills  # the shill monitor's scores, for operators
        self.connections: set[Connection] = set()
        self.bid_tasks: set[asyncio.Task[None]] = set()  # bids waiting for a paddle lookup (held against GC)
        self.addresses = AddressCounts(websockets_per_address)
        self.checks: set[asyncio.Task[None]] = set()  # re-checks of every connection's token (held against GC)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The caller was resolved (and a bad token refused with 401) by the `authorise` middleware."""
        caller = request.get(CALLER_KEY, ANONYMOUS)
        token, _ = credentials_of(request)
        expires_s = await self.identities.expires_s(token) if token is not None else None
        address = request.remote or "unknown"
        if not self.addresses.open(address):
            raise ApiError("rate_limited", "address", f"at most {self.addresses.limit} live connections from one "
                           "address", retry_after=ADDRESS_RETRY_S)  # fmt: skip
        try:
            # No permessage-deflate: frames are small JSON, written pre-framed to many sockets (fanout.Outbox), and
            # a compressor per connection would cost memory and CPU for every watcher.
            ws = web.WebSocketResponse(max_msg_size=MAX_MSG_BYTES, heartbeat=HEARTBEAT_S, compress=False)
            await ws.prepare(request)
            connection = Connection(self, ws, caller, request, token)
            self.connections.add(connection)
            try:
                await connection.run(expires_s)
            finally:
                self.connections.discard(connection)
        finally:
            self.addresses.close(address)
        return ws

    def close_token(self, token_id: int) -> None:
        """A token was revoked (on any gateway): its connections here are told and closed now."""
        for connection in list(self.connections):
            if connection.token is not None and connection.caller.token_id == token_id:
                connection.end_session("token_revoked", "this token was revoked")

    def check_every_token(self) -> None:
        """Revocations may have been missed (the subscription broke): ask PostgreSQL about every open
        connection's token again, and close those it refuses."""
        task = asyncio.create_task(self._check_every_token())
        self.checks.add(task)
        task.add_done_callback(self.checks.discard)

    async def _check_every_token(self) -> None:
        self.identities.forget_tokens()
        for connection in list(self.connections):
            if connection.token is None:
                continue
            try:
                await self.identities.caller(connection.token, connection.caller.via)
            except identity.TokenRefused as exc:
                connection.end_session(exc.code, str(exc))
            except DatabaseUnavailable:
                log.warning("tokens could not be checked again after the revocations subscription broke")
                return

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
        "expiry",
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
        self.expiry: asyncio.TimerHandle | None = None

    def send(self, message: AnyServerMessage) -> None:
        self.outbox.put(encode(message))

    async def run(self, expires_s: float | None = None) -> None:
        """Serve the connection until it ends; with a token, no longer than `expires_s` (epoch seconds)."""
        info = BidderInfo(self.caller.company, self.caller.name) if self.caller.company is not None else None
        self.send(Welcome(now_ms(), info, self.caller.role))
        if expires_s is not None:
            loop = asyncio.get_running_loop()
            expired = partial(self.end_session, "token_expired", "this token has expired: log in again, or a new one")
            self.expiry = loop.call_at(loop.time() + max(0.0, expires_s - time.time()), expired)
        try:
            async for frame in self.ws:
                if not await self._on_frame(frame):
                    break
        finally:
            if self.expiry is not None:
                self.expiry.cancel()
            for watch in self.watches.values():
                self.channel.hub.unsubscribe(watch)
            if self.channel.shills is not None:
                self.channel.shills.forget(self.outbox)
            self.outbox.stop()
            if not self.ws.closed:
                await self.close(1000, "")

    def end_session(self, code: identity.TokenCode, message: str) -> None:
        """The token is no longer good (revoked, expired): say why, stop the feed at once, and close (1008) from a
        task of its own, since the reader may be waiting for a frame that never comes."""
        if self.closing is not None:
            return
        self.send(Error(code, "token", message))
        for watch in self.watches.values():
            self.channel.hub.unsubscribe(watch)
        self.watches.clear()
        self.closing = asyncio.create_task(self.close(1008, code))

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
            refused = Error("not_allowed", "type", f"a {self.caller.role} may not send {tag!r}")
            return await self._refuse(naming(refused, message))
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
                if self.channel.shills is not None:
                    self.channel.shills.unwatch(sale, self.outbox)
            case Bid() | MaxBid():
                await self._start_bid(message, received_ms, received_perf)
            case Quote(sale=sale, lot=lot, amount=amount):
                self.send(await self.channel.quotes.quote(sale, lot, amount))
            case Time():
                self.send(TimeReply(now_ms()))
            case TenderBid():
                await self._tender_bid(message, received_ms)
            case RostrumMessage():
                self.send(await self.channel.rostrum.handle(self.caller, message, received_ms))
            case WatchShillScores(sale=sale):
                await self._watch_shills(sale)

    async def _tender_bid(self, message: TenderBid, received_ms: int) -> None:
        """A sealed bid, answered in turn (sealing it is quick; a program bidding on many lots sends many)."""
        ticket = TenderTicket.of(message, received_ms)
        if self.channel.tender is None:
            self.send(ticket.error("unavailable", None, "this process takes no tender bids"))
            return
        self.send(await self.channel.tender.submit(self.caller, ticket))

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

    async def _watch_shills(self, sale: int) -> None:
        """An operator's: the sale's shill scores now (`shill_scores`), and again whenever they change."""
        if self.channel.shills is None:
            self.send(Error("unavailable", None, "the shill monitor does not run in this process"))
            return
        problem = await self.channel.shills.watch(sale, self.outbox)
        if problem is not None:
            self.send(problem)

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
