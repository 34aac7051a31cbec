"""Timed sales: each lot opens and closes on the clock, with a soft close.

- A lot opens at its start (the scheduler sends OpenLot; a bid in the window opens it too) and closes at its
  end: sold to the leader at the price if the reserve is met, else passed.
- A bid that reaches the engine at or after the end is late, whatever the client showed.
- Soft close: a visible bid with less than `window_ms` left moves the end to `extension_ms` after it, never
  past the cap. Bids the engine makes from a maximum count too.
The bidding itself is auction.engine.bidding's; a cancellation, auction.engine.cancel's.
"""

from __future__ import annotations

from auction.engine import lifecycle
from auction.engine.bidding import amount_refusal, place
from auction.engine.cancel import cancel_bids
from auction.engine.emit import Emitter
from auction.engine.messages import (
    AnyCommand,
    AnyEvent,
    BidAccepted,
    CancelBids,
    CloseLot,
    LotExtended,
    LotOpened,
    LotPassed,
    LotSold,
    LotWithdrawn,
    OpenLot,
    PlaceBid,
    ProxyBidPlaced,
    Rejected,
    WithdrawLot,
)
from auction.engine.standing import BidContext, BookContext
from auction.engine.state import LotState, Rostrum

Decision = tuple[AnyEvent, ...] | Rejected


def decide(
    state: LotState, command: AnyCommand, context: BidContext | BookContext | None, rostrum: Rostrum | None = None
) -> Decision:
    """A timed lot has no rostrum, and no absentee book."""
    context = context if isinstance(context, BidContext) else None
    match command:
        case PlaceBid():
            return _place_bid(state, command, context)
        case CloseLot():
            return _close(state, command)
        case OpenLot():
            return _open(state, command)
        case WithdrawLot():
            return _withdraw(state, command)
        case CancelBids():
            return cancel_bids(state, command)
    return Rejected("not_allowed")


def timers(state: LotState) -> tuple[int | None, int | None]:
    """(open at, close at): a scheduled lot waits for its start; a lot not yet final for its current end."""
    opens = state.terms.start_ms if state.status == "scheduled" else None
    closes = None if state.status in lifecycle.FINAL else state.end_ms
    return opens, closes


def _place_bid(state: LotState, bid: PlaceBid, context: BidContext | None) -> Decision:
    out = Emitter(state, bid.at_ms)
    if state.status == "scheduled" and state.terms.start_ms <= bid.at_ms < state.end_ms:
        out.emit(LotOpened)
    refused = _time_refusal(out.state, bid) or amount_refusal(out.state, bid) or place(out, bid, context)
    if refused is not None:
        return refused
    if any(isinstance(e, BidAccepted | ProxyBidPlaced) for e in out.events):
        _extend_if_late(out)
    return tuple(out.events)


def _time_refusal(state: LotState, bid: PlaceBid) -> Rejected | None:
    if bid.at_ms >= state.end_ms:
        return Rejected("too_late")
    if state.status != "open":
        return Rejected("lot_not_open", state.next_minimum)
    return None


def _extend_if_late(out: Emitter) -> None:
    state, rule = out.state, out.state.terms.soft_close
    if state.end_ms - out.at_ms >= rule.window_ms:
        return
    new_end = out.at_ms + rule.extension_ms
    if rule.cap_ms is not None:
        new_end = min(new_end, state.terms.end_ms + rule.cap_ms)
    if new_end > state.end_ms:
        out.emit(LotExtended, end_ms=new_end)


def _close(state: LotState, close: CloseLot) -> Decision:
    if close.at_ms < state.end_ms:
        return Rejected("not_due")
    out = Emitter(state, close.at_ms)
    if state.reserve_met and state.leader is not None and state.leader_paddle is not None:
        out.emit(LotSold, hammer=state.price, bidder=state.leader, paddle=state.leader_paddle)
    else:
        out.emit(LotPassed, highest_bid=state.price)
    return tuple(out.events)


def _open(state: LotState, command: OpenLot) -> Decision:
    if not state.terms.start_ms <= command.at_ms < state.end_ms:
        return Rejected("not_due")
    out = Emitter(state, command.at_ms)
    out.emit(LotOpened)
    return tuple(out.events)


def _withdraw(state: LotState, command: WithdrawLot) -> Decision:
    out = Emitter(state, command.at_ms)
    out.emit(LotWithdrawn, reason=command.reason)
    return tuple(out.events)


__all__ = ["decide", "timers"]
