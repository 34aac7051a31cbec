"""`evolve(state, event) -> state`: what an event does to a lot, whatever its format. Replay is a fold of it.

The status an event leads to comes from the lifecycle table (which treats an event it doesn't allow as a bug,
never as input); the rest of what an event changes depends only on the event, so one function serves every
format.
"""

from __future__ import annotations

from functools import reduce

import msgspec

from auction.engine import lifecycle
from auction.engine.messages import (
    AbsenteeBidLeft,
    AcceptanceOffered,
    AnyEvent,
    AskSet,
    BidAccepted,
    BidsCancelled,
    BidUndone,
    IncrementChanged,
    LotExtended,
    LotOpened,
    LotPassed,
    LotSold,
    MaxBidRaised,
    OnlineBidDeclined,
    OnlineBidPending,
    ProxyBidPlaced,
    TenderBidSubmitted,
    TenderRevealed,
)
from auction.engine.state import (
    Absentee,
    LotState,
    LotTerms,
    PendingBid,
    Position,
    SealedBid,
    SequenceGap,
    TenderOffer,
    new_lot,
)


def evolve(state: LotState, event: AnyEvent) -> LotState:
    """The state after one event."""
    if event.seq != state.seq + 1:
        raise SequenceGap(f"lot {state.terms.lot}: event {event.seq} after {state.seq}")
    status = lifecycle.next_status(state.terms.format, state.status, type(event).__name__)
    moved = msgspec.structs.replace(state, seq=event.seq, status=status)
    if state.terms.format == "live":
        return _live(state, moved, event)
    if state.terms.format == "tender":
        return _tender(moved, event)
    return _bidding(state, moved, event)


def _bidding(state: LotState, moved: LotState, event: AnyEvent) -> LotState:
    """What an event does to a lot's bidding, in every format."""
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
        case BidsCancelled():
            return msgspec.structs.replace(
                moved,
                price=event.price,
                leader=event.leader,
                leader_paddle=event.leader_paddle,
                leader_max=event.leader_max,
                bid_count=event.bid_count,
            )
    return moved


def _live(state: LotState, moved: LotState, event: AnyEvent) -> LotState:
    """A live lot also keeps its ask, who leads from where, the clerk's waiting bid, the absentee book, and
    the positions an undo goes back to."""
    after = _bidding(state, moved, event)
    match event:
        case BidAccepted() | ProxyBidPlaced():
            source = event.source if isinstance(event, BidAccepted) else "absentee"
            history = (*state.history, _position(state)) if isinstance(event, BidAccepted) else state.history
            pending = None if state.pending and _is_pending(state, event) else state.pending
            return msgspec.structs.replace(after, leader_source=source, history=history, pending=pending)
        case LotOpened():
            return msgspec.structs.replace(after, ask=event.ask or state.terms.opening)
        case BidsCancelled():
            ask = after.next_bid(event.price) if event.leader is not None else state.terms.opening
            leading = None if event.leader is None else state.leader_source
            return msgspec.structs.replace(after, ask=ask, history=(), leader_source=leading)
        case _:
            return _live_only(after, event)


def _live_only(after: LotState, event: AnyEvent) -> LotState:
    match event:
        case AbsenteeBidLeft():
            book = tuple(a for a in after.absentees if a.bidder != event.bidder)  # a raise is a new entry
            entry = Absentee(event.bidder, event.paddle, event.max_amount, event.client_id)
            return msgspec.structs.replace(after, absentees=(*book, entry))
        case AskSet():
            return msgspec.structs.replace(after, ask=event.ask)
        case IncrementChanged():
            return msgspec.structs.replace(after, increment=event.increment, ask=event.ask)
        case OnlineBidPending():
            pending = PendingBid(event.bidder, event.paddle, event.amount, event.client_id)
            return msgspec.structs.replace(after, pending=pending)
        case OnlineBidDeclined():
            return msgspec.structs.replace(after, pending=None)
        case LotSold() | LotPassed():
            return msgspec.structs.replace(after, hammered_at_ms=event.at_ms)
        case BidUndone():
            return msgspec.structs.replace(
                after,
                price=event.price,
                leader=event.leader,
                leader_paddle=event.leader_paddle,
                leader_max=event.leader_max,
                leader_source=event.leader_source,
                bid_count=event.bid_count,
                ask=event.ask,
                history=after.history[:-1],
            )
    return after


def _tender(moved: LotState, event: AnyEvent) -> LotState:
    """A tender lot keeps the latest sealed bid of each buyer, the bids once revealed, the consignor's offer,
    and, once sold, its buyer and hammer as any lot does."""
    match event:
        case TenderBidSubmitted():
            sealed = SealedBid(event.bidder, event.paddle, event.client_id, event.commitment, event.priority, event.seq)
            kept = tuple(bid for bid in moved.sealed if bid.bidder != event.bidder)  # the latest replaces
            return msgspec.structs.replace(moved, sealed=(*kept, sealed))
        case TenderRevealed():
            return msgspec.structs.replace(
                moved, revealed=event.bids, excluded=event.excluded, revealed_at_ms=event.at_ms
            )
        case AcceptanceOffered():
            offer = TenderOffer(event.bidder, event.paddle, event.amount, event.until_ms)
            return msgspec.structs.replace(moved, offer=offer)
        case LotSold():
            return msgspec.structs.replace(
                moved, price=event.hammer, leader=event.bidder, leader_paddle=event.paddle, bid_count=len(moved.sealed)
            )
    return moved


def _position(state: LotState) -> Position:
    return Position(
        state.price, state.leader, state.leader_paddle, state.leader_max, state.leader_source, state.bid_count,
        state.ask,
    )  # fmt: skip


def _is_pending(state: LotState, event: BidAccepted | ProxyBidPlaced) -> bool:
    return isinstance(event, BidAccepted) and state.pending is not None and event.client_id == state.pending.client_id


def replay(terms: LotTerms, events: list[AnyEvent]) -> LotState:
    return reduce(evolve, events, new_lot(terms))


__all__ = ["evolve", "replay"]
