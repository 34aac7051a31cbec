"""`evolve(state, event) -> state`: what an event does to a lot, whatever its format. Replay is a fold of it.

The status an event leads to comes from the lifecycle table (which treats an event it doesn't allow as a bug,
never as input); the rest of what an event changes depends only on the event, so one function serves every
format.
"""

from __future__ import annotations

from functools import reduce

import msgspec

from auction.engine import lifecycle
from auction.engine.messages import AnyEvent, BidAccepted, BidsCancelled, LotExtended, MaxBidRaised, ProxyBidPlaced
from auction.engine.state import LotState, LotTerms, SequenceGap, new_lot


def evolve(state: LotState, event: AnyEvent) -> LotState:
    """The state after one event."""
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


def replay(terms: LotTerms, events: list[AnyEvent]) -> LotState:
    return reduce(evolve, events, new_lot(terms))


__all__ = ["evolve", "replay"]
