"""The bid desk: a caller's bid turned into a command for the store and answered as the protocol says, and the
premium-inclusive quotes a buyer asks for. Shared by the live channel (channel.py) and the HTTP API (http.py).

In a live sale an online bid may be received without being taken yet: it waits for the clerk (`bid_waiting`, never
an `ack`), or came just after the hammer and is noted for the auctioneer (`rejected too_late`).

`failure` and `naming` are the edge's one mapping from what went wrong handling a message to the error that
answers it, naming the bid it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from functools import partial

import asyncpg
import msgspec

from auction import catalog
from auction.engine.messages import (
    BidAccepted,
    BidKind,
    LateBidNoted,
    MaxBidRaised,
    OnlineBidPending,
    PlaceBid,
    Rejected,
)
from auction.engine.premium import PremiumSchedule, all_in
from auction.gateway.access import message_rule
from auction.gateway.bid_limits import BidLimits
from auction.gateway.fanout import Hub
from auction.gateway.identities import IDENTITY_TTL_S, Identities
from auction.gateway.lookups import PG_OUT_OF_REACH, DatabaseUnavailable, TtlCache, ask_pg
from auction.gateway.metrics import Metrics
from auction.gateway.protocol import (
    Ack,
    AnyClientMessage,
    Bid,
    BidRejected,
    BidWaiting,
    Error,
    MaxBid,
    QuoteReply,
    RostrumMessage,
    TenderBid,
)
from auction.httpkit import Caller
from auction.store import Accepted, LotNotFound, LotStore, Outcome, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

SCHEDULE_TTL_S = IDENTITY_TTL_S  # a sale's premium schedule is cached as long as who is calling

BidAnswer = Ack | BidRejected | BidWaiting | Error


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


class BidRateLimited(Exception):
    """The bidding company is over its bid rate (bid_limits.py): the bid was not placed."""

    def __init__(self, wait_s: int) -> None:
        super().__init__(f"over the bid rate: try again in {wait_s} s")
        self.wait_s = wait_s


UNKNOWN_OUTCOME = Error("unavailable", None, "the outcome is unknown: send the bid again with the same client_id")
INTERNAL = Error("internal", None, "the message could not be handled")


def naming(error: Error, message: AnyClientMessage | BidTicket | Error) -> Error:
    """`error` as the answer to `message`: when that is a bid it names it (client_id, sale, lot), a rostrum
    message likewise (request_id, sale, lot), so that a client with several in flight knows which one failed. (An
    Error stands for a frame that could not be decoded: decode_client named the bid or message in it if it could.)"""
    if isinstance(message, RostrumMessage):
        return msgspec.structs.replace(error, request_id=message.request_id, sale=message.sale, lot=message.lot)
    if isinstance(message, Error):
        return msgspec.structs.replace(error, client_id=message.client_id, sale=message.sale, lot=message.lot,
                                       request_id=message.request_id)  # fmt: skip
    if not isinstance(message, Bid | MaxBid | BidTicket | TenderBid):
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

    def __init__(
        self, store: LotStore, identities: Identities, metrics: Metrics, limits: BidLimits | None = None
    ) -> None:
        self._store = store
        self._identities = identities
        self._metrics = metrics
        self._limits = limits  # the company's bid rate, whatever the transport; None: no limit

    async def place(self, caller: Caller, ticket: BidTicket) -> BidAnswer:
        try:
            paddle = await self._identities.paddle(caller, ticket.sale) if may_bid(caller, ticket) else None
        except DatabaseUnavailable:
            log.warning("bid %s.%s:%s: no paddle", caller.company, caller.account, ticket.client_id, exc_info=True)
            return naming(Error("unavailable", None, "the bid was not placed: send it again shortly"), ticket)
        started = self.start(caller, ticket, paddle)
        if isinstance(started, asyncio.Future):
            with contextlib.suppress(StoreError, BidRateLimited):  # finish() turns it into the answer
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
        if self._limits is None:
            return self._store.submit(t.sale, t.lot, command, dedupe=dedupe)
        return self._submit_within_rate(self._limits.take(caller.company), t, command, dedupe)

    def _submit_within_rate(
        self, allowance: asyncio.Future[int], t: BidTicket, command: PlaceBid, dedupe: str
    ) -> asyncio.Future[Outcome]:
        """The store's future for the bid once the company's allowance says it may go (in the order the bids
        came: allowances are answered in order); failed with BidRateLimited if it may not. No task per bid."""
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def allowed(done: asyncio.Future[int]) -> None:
            wait_s = done.result()
            if wait_s:
                outcome.set_exception(BidRateLimited(wait_s))
                return
            try:
                committed = self._store.submit(t.sale, t.lot, command, dedupe=dedupe)
            except StoreError as exc:  # closed meanwhile
                outcome.set_exception(exc)
                return
            committed.add_done_callback(partial(_copy_into, outcome))

        allowance.add_done_callback(allowed)
        return outcome

    def finish(self, caller: Caller, t: BidTicket, done: asyncio.Future[Outcome]) -> BidAnswer:
        """The answer to a bid whose store future is done. Raises a StoreError other than these two."""
        try:
            outcome = done.result()
        except LotNotFound:
            return naming(Error("not_found", "lot", f"sale {t.sale} has no lot {t.lot}"), t)
        except BidRateLimited as exc:
            self._metrics.bid_answered("rate_limited", time.perf_counter() - t.received_perf)
            return naming(Error("rate_limited", "company", f"your company is bidding faster than "
                                f"{self._rate_per_s()} bids a second: {exc}", retry_after=exc.wait_s), t)  # fmt: skip
        except StoreUnavailable:
            log.warning("bid %s.%s:%s: outcome unknown", caller.company, caller.account, t.client_id, exc_info=True)
            return naming(UNKNOWN_OUTCOME, t)
        if isinstance(outcome, Rejected):
            return self._answered(BidRejected(t.client_id, t.sale, t.lot, outcome.reason, outcome.next_amount), t)
        return self._answered(_received(caller, t, outcome), t)

    def _rate_per_s(self) -> int:
        return self._limits.rate_per_s if self._limits is not None else 0

    def _answered(self, answer: Ack | BidRejected | BidWaiting, t: BidTicket) -> Ack | BidRejected | BidWaiting:
        seconds = time.perf_counter() - t.received_perf
        if isinstance(answer, BidWaiting):
            self._metrics.bid_waiting(seconds)
        else:
            self._metrics.bid_answered(answer.reason if isinstance(answer, BidRejected) else None, seconds)
        return answer


def _copy_into(outcome: asyncio.Future[Outcome], committed: asyncio.Future[Outcome]) -> None:
    if outcome.done():
        return
    if committed.cancelled():
        outcome.cancel()
    elif (error := committed.exception()) is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(committed.result())


def may_bid(caller: Caller, t: BidTicket) -> bool:
    """Whether the caller's role may place this kind of bid at all (access.MESSAGE_RULES), as a company."""
    return "buyer" in message_rule(t.kind if t.kind == "bid" else "max_bid") and caller.company is not None


def _received(caller: Caller, t: BidTicket, outcome: Accepted) -> Ack | BidRejected | BidWaiting:
    """A bid the store committed something for: kept (`ack`), or in a live sale waiting for the clerk, or noted as
    just too late for the hammer, which to the bidder is a refusal like any bid after the end."""
    for event in outcome.events:
        if isinstance(event, OnlineBidPending) and event.client_id == t.client_id:
            return BidWaiting(t.client_id, t.sale, t.lot, event.amount)
        if isinstance(event, LateBidNoted) and event.client_id == t.client_id:
            return BidRejected(t.client_id, t.sale, t.lot, "too_late", 0)
    return _ack(caller, t, outcome)


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
            lambda _: SCHEDULE_TTL_S,
            "reading a sale's premium schedule",
            stands_in=lambda schedule: schedule is not None,  # a sale not found then may exist now
        )

    async def _read_schedule(self, sale: int) -> PremiumSchedule | None:
        settings = await catalog.sale_settings(self._pg, sale)
        return settings.premium if settings else None
