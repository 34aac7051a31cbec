"""A lot's state, and the two pure functions that drive it: decide(state, command) and evolve(state, event).

Like the websockets protocol object, nothing here touches a socket, a clock or a random source: time arrives on
the command, and the same commands always give the same events. The Redis executor runs `decide` and commits
its events atomically; replaying the record through `evolve` rebuilds the state.

The bidding rules (DOMAIN.md "Maximum (proxy) bids", as eBay, Catawiki and Auctionet apply them):
- a bid must reach the opening price, or the current price plus one increment;
- against a leader's hidden maximum M, a rival's bid A is answered by the leader's proxy at
  min(M, A + increment(A)); a rival maximum above M takes the lead at min(A, M + increment(M));
- equal maximums: the earlier leads, at that amount;
- the leader raising their maximum never raises the price, except to meet the reserve;
- a maximum that reaches the reserve while the price is below it lifts the price to the reserve;
- a visible bid in the soft-close window moves the end to `extension` after it, never past the cap.
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import msgspec

from auction.engine import lifecycle
from auction.engine.ladder import Ladder
from auction.engine.messages import (
    AnyCommand,
    AnyEvent,
    BidAccepted,
    CloseLot,
    Event,
    LotExtended,
    LotOpened,
    LotPassed,
    LotSold,
    LotWithdrawn,
    MaxBidRaised,
    OpenLot,
    PlaceBid,
    ProxyBidPlaced,
    Rejected,
    WithdrawLot,
)


class SoftClose(msgspec.Struct, frozen=True):
    """A visible bid with less than `window_ms` left moves the end to `extension_ms` after it.
    `cap_ms` (optional) limits how far past the scheduled end the lot may run in total."""

    window_ms: int = 120_000
    extension_ms: int = 120_000
    cap_ms: int | None = None


class LotTerms(msgspec.Struct, frozen=True):
    """What is fixed when the sale is built. The reserve is hidden from everyone but operators."""

    sale: int
    lot: int
    opening: int
    reserve: int
    start_ms: int
    end_ms: int
    ladder: Ladder
    soft_close: SoftClose
    consignor: int
    format: lifecycle.Format = "timed"


class LotState(msgspec.Struct, frozen=True):
    terms: LotTerms
    end_ms: int
    seq: int = 0
    status: lifecycle.Status = "scheduled"
    price: int = 0
    leader: int | None = None
    leader_paddle: int | None = None
    leader_max: int = 0
    bid_count: int = 0
    extensions: int = 0

    @property
    def reserve_met(self) -> bool:
        return self.leader is not None and self.price >= self.terms.reserve

    @property
    def next_minimum(self) -> int:
        """The lowest bid a rival of the leader may make now."""
        if self.leader is None:
            return self.terms.opening
        return self.terms.ladder.next_bid(self.price)


class SequenceGap(Exception):
    """An event was applied out of order: the record is corrupt or a writer skipped a number."""


def new_lot(terms: LotTerms) -> LotState:
    return LotState(terms=terms, end_ms=terms.end_ms)


Decision = tuple[AnyEvent, ...] | Rejected


def decide(state: LotState, command: AnyCommand) -> Decision:
    """The events a command causes, or why it is refused. Never raises for bad input."""
    match command:
        case PlaceBid():
            return _place_bid(state, command)
        case CloseLot():
            return _close(state, command)
        case OpenLot():
            return _open(state, command)
        case WithdrawLot():
            return _withdraw(state, command)


def evolve(state: LotState, event: AnyEvent) -> LotState:
    """The state after one event. Replay is a fold of this over the record."""
    if event.seq != state.seq + 1:
        raise SequenceGap(f"lot {state.terms.lot}: event {event.seq} after {state.seq}")
    status = lifecycle.next_status(state.terms.format, state.status, type(event).__name__)
    moved = msgspec.structs.replace(state, seq=event.seq, status=status)
    match event:
        case BidAccepted() | ProxyBidPlaced():
            return msgspec.structs.replace(
                moved,
                price=event.amount,
                leader=event.bidder,
                leader_paddle=event.paddle,
                leader_max=event.max_amount,
                bid_count=state.bid_count + 1,
            )
        case MaxBidRaised():
            return msgspec.structs.replace(moved, leader_max=event.max_amount)
        case LotExtended():
            return msgspec.structs.replace(moved, end_ms=event.end_ms, extensions=state.extensions + 1)
    return moved


def replay(terms: LotTerms, events: list[AnyEvent]) -> LotState:
    return reduce(evolve, events, new_lot(terms))


class _Emitter:
    """Numbers events as they are made and applies each at once, so later rules see the state they left."""

    def __init__(self, state: LotState, at_ms: int) -> None:
        self.state = state
        self.at_ms = at_ms
        self.events: list[AnyEvent] = []

    def emit(self, event_type: type[AnyEvent], /, **fields: Any) -> None:
        event = event_type(seq=self.state.seq + 1, at_ms=self.at_ms, **fields)
        self.state = evolve(self.state, event)
        self.events.append(event)


def _place_bid(state: LotState, bid: PlaceBid) -> Decision:
    out = _Emitter(state, bid.at_ms)
    if state.status == "scheduled" and state.terms.start_ms <= bid.at_ms < state.end_ms:
        out.emit(LotOpened)
    refusal = _bid_refusal(out.state, bid)
    if refusal is not None:
        return refusal
    if bid.bidder == out.state.leader:
        _raise_own_max(out, bid)
    else:
        _challenge(out, bid)
    if any(isinstance(e, BidAccepted | ProxyBidPlaced) for e in out.events):
        _extend_if_late(out)
    return tuple(out.events)


def _bid_refusal(state: LotState, bid: PlaceBid) -> Rejected | None:
    if state.status in lifecycle.FINAL:
        return Rejected("lot_closed")
    if bid.at_ms >= state.end_ms:
        return Rejected("too_late")
    if state.status != "open":
        return Rejected("lot_not_open", state.next_minimum)
    if bid.bidder == state.leader:
        if bid.kind == "bid":
            return Rejected("already_leading", state.next_minimum)
        if bid.amount <= state.leader_max:
            return Rejected("max_not_raised", state.leader_max + 1)
        return None
    if bid.amount < state.next_minimum:
        return Rejected("too_low", state.next_minimum)
    return None


def _lift_to_reserve(amount: int, maximum: int, reserve: int) -> int:
    """A maximum that reaches the reserve takes the price at least to it."""
    return reserve if amount < reserve <= maximum else amount


def _challenge(out: _Emitter, bid: PlaceBid) -> None:
    state, ladder, reserve = out.state, out.state.terms.ladder, out.state.terms.reserve
    fields = {"bidder": bid.bidder, "paddle": bid.paddle, "client_id": bid.client_id, "kind": bid.kind}
    if state.leader is None:
        shown = bid.amount if bid.kind == "bid" else state.terms.opening
        out.emit(BidAccepted, amount=_lift_to_reserve(shown, bid.amount, reserve), max_amount=bid.amount, **fields)
        return
    leader_max = state.leader_max
    if bid.amount > leader_max:
        if leader_max > state.price:
            _proxy(out, state, leader_max, leader_max, "answer")
        shown = bid.amount if bid.kind == "bid" else min(bid.amount, ladder.next_bid(leader_max))
        out.emit(BidAccepted, amount=_lift_to_reserve(shown, bid.amount, reserve), max_amount=bid.amount, **fields)
        return
    out.emit(BidAccepted, amount=bid.amount, max_amount=bid.amount, **fields)
    answer = leader_max if bid.amount == leader_max else min(leader_max, ladder.next_bid(bid.amount))
    _proxy(out, state, _lift_to_reserve(answer, leader_max, reserve), leader_max, "answer")


def _proxy(out: _Emitter, leader_state: LotState, amount: int, maximum: int, reason: str) -> None:
    """A bid the engine makes for the buyer who led in `leader_state`, out of their maximum."""
    out.emit(
        ProxyBidPlaced,
        bidder=leader_state.leader,
        paddle=leader_state.leader_paddle,
        amount=amount,
        max_amount=maximum,
        reason=reason,
    )


def _raise_own_max(out: _Emitter, bid: PlaceBid) -> None:
    out.emit(MaxBidRaised, bidder=bid.bidder, paddle=bid.paddle, max_amount=bid.amount, client_id=bid.client_id)
    state = out.state
    if state.price < state.terms.reserve <= bid.amount:
        _proxy(out, state, state.terms.reserve, bid.amount, "reserve")


def _extend_if_late(out: _Emitter) -> None:
    state, rule = out.state, out.state.terms.soft_close
    if state.end_ms - out.at_ms >= rule.window_ms:
        return
    new_end = out.at_ms + rule.extension_ms
    if rule.cap_ms is not None:
        new_end = min(new_end, state.terms.end_ms + rule.cap_ms)
    if new_end > state.end_ms:
        out.emit(LotExtended, end_ms=new_end)


def _close(state: LotState, close: CloseLot) -> Decision:
    if state.status in lifecycle.FINAL:
        return Rejected("lot_closed")
    if close.at_ms < state.end_ms:
        return Rejected("not_due")
    out = _Emitter(state, close.at_ms)
    if state.reserve_met and state.leader is not None and state.leader_paddle is not None:
        out.emit(LotSold, hammer=state.price, bidder=state.leader, paddle=state.leader_paddle)
    else:
        out.emit(LotPassed, highest_bid=state.price)
    return tuple(out.events)


def _open(state: LotState, command: OpenLot) -> Decision:
    if state.status != "scheduled":
        return Rejected("lot_not_open" if state.status in lifecycle.FINAL else "not_due")
    if not state.terms.start_ms <= command.at_ms < state.end_ms:
        return Rejected("not_due")
    out = _Emitter(state, command.at_ms)
    out.emit(LotOpened)
    return tuple(out.events)


def _withdraw(state: LotState, command: WithdrawLot) -> Decision:
    if state.status in lifecycle.FINAL:
        return Rejected("lot_closed")
    out = _Emitter(state, command.at_ms)
    out.emit(LotWithdrawn, reason=command.reason)
    return tuple(out.events)


__all__ = ["Decision", "Event", "LotState", "LotTerms", "SoftClose", "decide", "evolve", "new_lot", "replay"]
