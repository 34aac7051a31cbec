"""What each audience may see of a lot: pure projections of state and events.

Buyers, consignors and anonymous watchers see bidders only as paddle numbers and never a maximum, a bidder's
identity or the reserve amount (only whether it is met). Operators see the record itself. Every event of the
record has a public form, so that the sequence a watcher receives has no gaps: an event with nothing public
in it (a leader raising their own maximum) is shown as `Hidden`.

A bidder taken out of a lot (`BidsCancelled`) is shown as `revised`: the lot's new price, leading paddle and
bid count, which may all be lower than before. Neither whose bids were struck nor why is shown.
"""

from __future__ import annotations

import msgspec

from auction.engine.lifecycle import Status
from auction.engine.lot import LotState, LotTerms
from auction.engine.messages import (
    AnyEvent,
    BidAccepted,
    BidsCancelled,
    LotExtended,
    LotOpened,
    LotPassed,
    LotSold,
    LotWithdrawn,
    MaxBidRaised,
    ProxyBidPlaced,
)


class LotView(msgspec.Struct, frozen=True):
    """A lot as any watcher may see it, at sequence `seq`."""

    sale: int
    lot: int
    seq: int
    status: Status
    opening: int
    price: int
    leader_paddle: int | None
    reserve_met: bool
    next_minimum: int
    start_ms: int
    end_ms: int
    bid_count: int
    extensions: int


class PublicEvent(msgspec.Struct, frozen=True, tag_field="type"):
    seq: int
    at_ms: int


class BidShown(PublicEvent, frozen=True, tag="bid"):
    """A bid as watchers see it. `auto` marks a bid the engine made out of a maximum."""

    paddle: int
    amount: int
    auto: bool
    reserve_met: bool
    next_minimum: int


class OpenedShown(PublicEvent, frozen=True, tag="opened"):
    end_ms: int


class ExtendedShown(PublicEvent, frozen=True, tag="extended"):
    end_ms: int


class SoldShown(PublicEvent, frozen=True, tag="sold"):
    hammer: int
    paddle: int


class PassedShown(PublicEvent, frozen=True, tag="passed"):
    pass


class WithdrawnShown(PublicEvent, frozen=True, tag="withdrawn"):
    pass


class RevisedShown(PublicEvent, frozen=True, tag="revised"):
    """The house struck someone's bids: the lot now stands at `price` (it can go down), led by `paddle` (None:
    nobody leads, and `price` is 0), after `bid_count` bids."""

    price: int
    paddle: int | None
    bid_count: int
    reserve_met: bool
    next_minimum: int


class Hidden(PublicEvent, frozen=True, tag="hidden"):
    """Something happened that nobody but an operator may see; it keeps the sequence whole."""


AnyPublicEvent = (
    BidShown | OpenedShown | ExtendedShown | SoldShown | PassedShown | WithdrawnShown | RevisedShown | Hidden
)


def lot_view(state: LotState) -> LotView:
    terms = state.terms
    return LotView(
        sale=terms.sale,
        lot=terms.lot,
        seq=state.seq,
        status=state.status,
        opening=terms.opening,
        price=state.price,
        leader_paddle=state.leader_paddle,
        reserve_met=state.reserve_met,
        next_minimum=state.next_minimum,
        start_ms=terms.start_ms,
        end_ms=state.end_ms,
        bid_count=state.bid_count,
        extensions=state.extensions,
    )


def public_event(terms: LotTerms, event: AnyEvent) -> AnyPublicEvent:
    """The public form of one recorded event. The hidden reserve is compared here, never sent."""
    seq, at = event.seq, event.at_ms
    match event:
        case BidAccepted() | ProxyBidPlaced():
            return BidShown(
                seq,
                at,
                paddle=event.paddle,
                amount=event.amount,
                auto=isinstance(event, ProxyBidPlaced) or event.amount < event.max_amount,
                reserve_met=event.amount >= terms.reserve,
                next_minimum=terms.ladder.next_bid(event.amount),
            )
        case LotOpened():
            return OpenedShown(seq, at, end_ms=terms.end_ms)
        case LotExtended():
            return ExtendedShown(seq, at, end_ms=event.end_ms)
        case LotSold():
            return SoldShown(seq, at, hammer=event.hammer, paddle=event.paddle)
        case LotPassed():
            return PassedShown(seq, at)
        case LotWithdrawn():
            return WithdrawnShown(seq, at)
        case BidsCancelled():
            leads = event.leader is not None
            return RevisedShown(
                seq,
                at,
                price=event.price,
                paddle=event.leader_paddle,
                bid_count=event.bid_count,
                reserve_met=leads and event.price >= terms.reserve,
                next_minimum=terms.ladder.next_bid(event.price) if leads else terms.opening,
            )
        case MaxBidRaised():
            return Hidden(seq, at)
