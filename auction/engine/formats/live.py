"""Live (auctioneer-led) sales: the rostrum runs each lot, one at a time (DOMAIN.md "Live sales").

- The auctioneer opens a lot at an asking price; the absentee book executes at once, like maximum bids, the
  first received winning a tie, so the lot may open with the book's second-best plus an increment.
- Bids are bids at the ask (an `AskSet` after every bid says what the next one is): a floor or phone bid the
  clerk takes for a paddle, an online bid (taken at once, or waiting for the clerk: a setting of the sale), or
  a house bid (where the sale allows them, below the reserve only). A leading absentee bid answers each,
  never above its maximum. After each bid the ask moves up one increment: the ladder's, or the lot's own once
  the auctioneer changes it; the auctioneer may also set or jump the ask.
- Two online bids at one ask: the first committed wins; the second is told another bid was taken, with the
  new ask. A floor bid taken while an online bid waits for the clerk at that ask stands, and the online bidder is
  told another bid was taken (docs/RULES.md "Live sales").
- Fair warning, then the hammer: sold to the leading paddle at the price (the reserve met), or passed. The lot
  may be reopened until the next lot opens. An online bid that waited at the hammer, or comes within the
  sale's missed-bid window after it, is refused as too late and noted for the auctioneer.
- The clerk may take back the newest bid only (with the answer an absentee bid made to it); the lot stands
  again where it stood before it.
- The lot may be paused and resumed, and withdrawn.

What every format shares (standing and limits, the lifecycle's word on the status) is decided before this
module is asked (auction.engine.lot.decide); so is the proxy rule (auction.engine.bidding).
"""

from __future__ import annotations

from typing import Literal

from auction.engine.bidding import amount_refusal, place, reach_of
from auction.engine.cancel import cancel_bids
from auction.engine.emit import Emitter
from auction.engine.messages import (
    AbsenteeBidLeft,
    AcceptOnlineBid,
    AnyCommand,
    AnyEvent,
    AskSet,
    BidSource,
    BidUndone,
    CallFairWarning,
    CancelBids,
    DeclineOnlineBid,
    FairWarningCalled,
    HammerLot,
    IncrementChanged,
    LateBidNoted,
    LotOpened,
    LotPassed,
    LotPaused,
    LotReopened,
    LotResumed,
    LotSold,
    LotWithdrawn,
    OnlineBidDeclined,
    OnlineBidPending,
    OpenLot,
    PassLot,
    PauseLot,
    PlaceBid,
    Rejected,
    ReopenLot,
    ResumeLot,
    SetAsk,
    SetIncrement,
    TakeBid,
    UndoBid,
    WithdrawLot,
)
from auction.engine.standing import BidContext, BookContext
from auction.engine.state import HOUSE, LotState, PendingBid, Rostrum

Decision = tuple[AnyEvent, ...] | Rejected
Context = BidContext | BookContext | None


def decide(state: LotState, command: AnyCommand, context: Context, rostrum: Rostrum | None = None) -> Decision:
    match command:
        case OpenLot():
            return _open(state, command, context if isinstance(context, BookContext) else None, rostrum)
        case PlaceBid():
            return _online(state, command, context if isinstance(context, BidContext) else None)
        case TakeBid():
            return _take(state, command, context if isinstance(context, BidContext) else None)
        case AcceptOnlineBid() | DeclineOnlineBid():
            return _answer_pending(state, command, context if isinstance(context, BidContext) else None)
        case SetAsk() | SetIncrement():
            return _ask(state, command)
        case CallFairWarning() | HammerLot() | PassLot():
            return _gavel(state, command)
        case ReopenLot() | PauseLot() | ResumeLot() | WithdrawLot():
            return _rostrum(state, command, rostrum)
        case UndoBid():
            return _undo(state, command)
        case CancelBids():
            return cancel_bids(state, command)
    return Rejected("not_allowed")


def timers(state: LotState) -> tuple[int | None, int | None]:
    """The rostrum, not the clock, opens and closes a live lot."""
    return None, None


# ---- opening, and the absentee book ---------------------------------------------------------------------------


def _open(state: LotState, command: OpenLot, book: BookContext | None, rostrum: Rostrum | None) -> Decision:
    if rostrum is not None and rostrum.on_block not in (None, state.terms.lot):
        return Rejected("another_lot_open")
    ask = command.ask or state.terms.opening
    if ask <= 0:
        return Rejected("bad_amount")
    out = Emitter(state, command.at_ms)
    out.emit(LotOpened, ask=ask)
    for absentee in state.absentees:  # in the order received: the first received leads a tie
        bid = PlaceBid(command.at_ms, absentee.bidder, absentee.paddle, absentee.max_amount, absentee.client_id, "max")
        context = book.of(absentee.bidder) if book is not None else None
        if amount_refusal(out.state, bid) is None and _affordable(out.state, bid, context):
            place(out, bid, _with_leader(out.state, context, book), "absentee")
    _next_ask(out)
    return tuple(out.events)


def _affordable(state: LotState, bid: PlaceBid, context: BidContext | None) -> bool:
    """An absentee bid executes only while its buyer may still bid, and as far as their limit reaches."""
    return context is None or reach_of(context.standing, context.exposure, state, bid.at_ms) >= state.next_minimum


def _with_leader(state: LotState, context: BidContext | None, book: BookContext | None) -> BidContext | None:
    """The bidder's context with the current leader's (another absentee of the book) beside it."""
    if context is None or book is None or state.leader is None:
        return context
    leader = book.of(state.leader)
    return BidContext(context.standing, context.exposure, leader.standing, leader.exposure)


def _leave_absentee(state: LotState, bid: PlaceBid) -> Decision:
    """A maximum left before the lot opens joins the book; a plain bid can't be left."""
    if bid.kind != "max":
        return Rejected("lot_not_open", state.terms.opening)
    if bid.amount < state.terms.opening:
        return Rejected("too_low", state.terms.opening)
    out = Emitter(state, bid.at_ms)
    out.emit(AbsenteeBidLeft, bidder=bid.bidder, paddle=bid.paddle, max_amount=bid.amount, client_id=bid.client_id)
    return tuple(out.events)


# ---- bids at the ask ------------------------------------------------------------------------------------------


def _online(state: LotState, bid: PlaceBid, context: BidContext | None) -> Decision:
    if state.status == "scheduled":
        return _leave_absentee(state, bid)
    if state.status in ("sold", "passed"):
        return _late(state, bid)
    refused = _at_the_ask(state, bid)
    if refused is not None:
        return refused
    if state.pending is not None:
        return Rejected("another_bid_taken", state.ask)  # the first online bid at this ask waits for the clerk
    if not state.terms.live.auto_accept:
        out = Emitter(state, bid.at_ms)
        out.emit(OnlineBidPending, bidder=bid.bidder, paddle=bid.paddle, amount=bid.amount, client_id=bid.client_id)
        return tuple(out.events)
    return _bid(state, bid, context, "online")


def _at_the_ask(state: LotState, bid: PlaceBid) -> Rejected | None:
    if bid.kind != "bid" or bid.amount > state.ask:
        return Rejected("not_the_ask", state.ask)
    if bid.amount < state.ask:
        return Rejected("another_bid_taken", state.ask)
    if bid.bidder == state.leader:
        return Rejected("already_leading", state.ask)
    return None


def _take(state: LotState, command: TakeBid, context: BidContext | None) -> Decision:
    """A bid from the room, at the ask. A house bid only where the sale allows it, and only below the reserve."""
    if command.source == "house":
        if not state.terms.live.house_bids:
            return Rejected("house_bids_not_allowed")
        if state.ask >= state.terms.reserve:
            return Rejected("reserve_reached")
    bidder = HOUSE if command.source == "house" else command.bidder
    bid = PlaceBid(command.at_ms, bidder, command.paddle, state.ask, command.client_id, "bid")
    if bid.bidder == state.leader:
        return Rejected("already_leading", state.ask)
    return _bid(state, bid, context, command.source)


def _bid(state: LotState, bid: PlaceBid, context: BidContext | None, source: BidSource) -> Decision:
    """Take the bid at the ask; a waiting online bid at the same ask is told another bid was taken."""
    out = Emitter(state, bid.at_ms)
    pending = state.pending
    if pending is not None and pending.client_id != bid.client_id:
        out.emit(
            OnlineBidDeclined,
            bidder=pending.bidder, paddle=pending.paddle, client_id=pending.client_id, reason="another_bid_taken",
        )  # fmt: skip
    refused = amount_refusal(out.state, bid) or place(out, bid, context, source)
    if refused is not None:
        return refused
    _next_ask(out)
    return tuple(out.events)


def _next_ask(out: Emitter) -> None:
    """After bids, the auctioneer asks one increment more (the lot's own increment, if it was changed)."""
    state = out.state
    if state.leader is not None and state.ask != state.next_bid(state.price):
        out.emit(AskSet, ask=state.next_bid(state.price))


def _answer_pending(
    state: LotState, command: AcceptOnlineBid | DeclineOnlineBid, context: BidContext | None
) -> Decision:
    pending = state.pending
    if pending is None:
        return Rejected("no_pending_bid")
    if isinstance(command, AcceptOnlineBid):
        if pending.amount != state.ask:
            return Rejected("another_bid_taken", state.ask)
        bid = PlaceBid(command.at_ms, pending.bidder, pending.paddle, pending.amount, pending.client_id, "bid")
        return _bid(state, bid, context, "online")
    out = Emitter(state, command.at_ms)
    out.emit(
        OnlineBidDeclined, bidder=pending.bidder, paddle=pending.paddle, client_id=pending.client_id, reason="declined"
    )
    return tuple(out.events)


def _late(state: LotState, bid: PlaceBid) -> Decision:
    """After the hammer: within the missed-bid window, noted for the auctioneer (and refused to the bidder as
    too late); past it, the lot is simply closed."""
    after = bid.at_ms - state.hammered_at_ms
    if bid.kind != "bid" or not 0 <= after <= state.terms.live.missed_bid_window_ms:
        return Rejected("lot_closed")
    out = Emitter(state, bid.at_ms)
    out.emit(
        LateBidNoted,
        bidder=bid.bidder, paddle=bid.paddle, amount=bid.amount, client_id=bid.client_id, after_hammer_ms=after,
    )  # fmt: skip
    return tuple(out.events)


# ---- the auctioneer -------------------------------------------------------------------------------------------


def _ask(state: LotState, command: SetAsk | SetIncrement) -> Decision:
    out = Emitter(state, command.at_ms)
    if isinstance(command, SetIncrement):
        if command.amount <= 0:
            return Rejected("bad_amount")
        ask = state.price + command.amount if state.leader is not None else state.ask
        out.emit(IncrementChanged, increment=command.amount, ask=ask)
        return tuple(out.events)
    if command.amount <= (state.price if state.leader is not None else 0):
        return Rejected("bad_amount", state.next_bid(state.price) if state.leader is not None else 1)
    out.emit(AskSet, ask=command.amount)
    return tuple(out.events)


def _gavel(state: LotState, command: CallFairWarning | HammerLot | PassLot) -> Decision:
    out = Emitter(state, command.at_ms)
    if isinstance(command, CallFairWarning):
        out.emit(FairWarningCalled)
        return tuple(out.events)
    if isinstance(command, HammerLot) and not (state.reserve_met and state.leader not in (None, HOUSE)):
        return Rejected("reserve_not_met")
    missed = _decline_waiting(out, "too_late")
    if isinstance(command, HammerLot) and state.leader is not None and state.leader_paddle is not None:
        out.emit(LotSold, hammer=state.price, bidder=state.leader, paddle=state.leader_paddle)
    else:
        out.emit(LotPassed, highest_bid=0 if state.leader == HOUSE else state.price)
    if missed is not None:  # it waited for the clerk while the hammer fell: a possible missed bid
        out.emit(LateBidNoted, bidder=missed.bidder, paddle=missed.paddle, amount=missed.amount,
                 client_id=missed.client_id, after_hammer_ms=0)  # fmt: skip
    return tuple(out.events)


def _decline_waiting(out: Emitter, reason: Literal["too_late", "declined"]) -> PendingBid | None:
    """The online bid waiting for the clerk, if any, is not taken; returns it."""
    pending = out.state.pending
    if pending is not None:
        out.emit(OnlineBidDeclined, bidder=pending.bidder, paddle=pending.paddle, client_id=pending.client_id,
                 reason=reason)  # fmt: skip
    return pending


def _rostrum(
    state: LotState, command: ReopenLot | PauseLot | ResumeLot | WithdrawLot, rostrum: Rostrum | None
) -> Decision:
    out = Emitter(state, command.at_ms)
    match command:
        case ReopenLot():
            if rostrum is not None and rostrum.on_block not in (None, state.terms.lot):
                return Rejected("another_lot_open")
            if rostrum is not None and rostrum.last_opened not in (None, state.terms.lot):
                return Rejected("not_last_lot")
            out.emit(LotReopened, reason=command.reason)
        case PauseLot():
            _decline_waiting(out, "declined")
            out.emit(LotPaused, reason=command.reason)
        case ResumeLot():
            out.emit(LotResumed)
        case WithdrawLot():
            out.emit(LotWithdrawn, reason=command.reason)
    return tuple(out.events)


def _undo(state: LotState, command: UndoBid) -> Decision:
    if not state.history or state.leader is None or state.leader_paddle is None:
        return Rejected("nothing_to_undo")
    before = state.history[-1]
    out = Emitter(state, command.at_ms)
    out.emit(
        BidUndone,
        bidder=state.leader, paddle=state.leader_paddle, amount=state.price, price=before.price,
        leader=before.leader, leader_paddle=before.leader_paddle, leader_max=before.leader_max,
        leader_source=before.leader_source, bid_count=before.bid_count, ask=before.ask,
    )  # fmt: skip
    return tuple(out.events)


__all__ = ["decide", "timers"]
