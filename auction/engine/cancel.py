"""Cancelling a bidder's bids (`CancelBids`, the house's decision: a suspension, or cancellation for cause).

It takes them out of an open lot: the lot's price, leader, leader's maximum and bid count become what the
recorded bids of everyone else make them, folded through the same bidding rules (auction.engine.record reads
the bids back). The command carries the lot's record; it must be exactly the history of the state it is
decided against, or it is refused `stale`. The end time does not move; a bidder with no standing bid on the lot
gets `no_bids`. Every format with open bidding shares this.
"""

from __future__ import annotations

from auction.engine import lifecycle
from auction.engine.bidding import amount_refusal, place
from auction.engine.emit import Emitter
from auction.engine.evolve import replay
from auction.engine.messages import AnyEvent, BidsCancelled, CancelBids, PlaceBid, Rejected
from auction.engine.record import live_bids
from auction.engine.state import LotState, SequenceGap


def cancel_bids(state: LotState, command: CancelBids) -> tuple[AnyEvent, ...] | Rejected:
    if not _is_history_of(state, command.record):
        return Rejected("stale")
    bids = live_bids(command.record)
    if not any(bid.bidder == command.bidder for bid in bids):
        return Rejected("no_bids")
    kept = position_of(state, [bid for bid in bids if bid.bidder != command.bidder])
    out = Emitter(state, command.at_ms)
    out.emit(
        BidsCancelled,
        bidder=command.bidder,
        reason=command.reason,
        price=kept.price,
        leader=kept.leader,
        leader_paddle=kept.leader_paddle,
        leader_max=kept.leader_max,
        bid_count=kept.bid_count,
    )
    return tuple(out.events)


def _is_history_of(state: LotState, record: tuple[AnyEvent, ...]) -> bool:
    """Whether `record` is exactly the events that made `state`: a record read before the lot moved on is not."""
    if len(record) != state.seq:
        return False
    try:
        return replay(state.terms, list(record)) == state
    except (SequenceGap, lifecycle.IllegalTransition):
        return False


def position_of(state: LotState, bids: list[PlaceBid]) -> LotState:
    """Where `bids` alone put an open lot: folded through the bidding rules from nobody leading, with no
    standings (each was within its buyer's limit when it was made). A bid the rules now refuse (a plain bid from
    who has come to lead) is dropped, as it would have been refused then. Only the bidding position of the
    result counts: none of the bids is late, and nothing is extended."""
    position = LotState(terms=state.terms, end_ms=state.end_ms, status="open")
    for bid in bids:
        if amount_refusal(position, bid) is not None:
            continue
        out = Emitter(position, bid.at_ms)
        if place(out, bid, None) is None:
            position = out.state
    return position


__all__ = ["cancel_bids", "position_of"]
