"""What each audience may see of a lot: pure projections of state and events.

Buyers, consignors and anonymous watchers see bidders only as paddle numbers and never a maximum, a bidder's
identity or the reserve amount (only whether it is met). Operators see the record itself. Every event of the
record has a public form, so that the sequence a watcher receives has no gaps: an event with nothing public
in it (a leader raising their own maximum) is shown as `Hidden`.

A bidder taken out of a lot (`BidsCancelled`) is shown as `revised`: the lot's new price, leading paddle and
bid count, which may all be lower than before. Neither whose bids were struck nor why is shown.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from auction.engine.lifecycle import Status
from auction.engine.lot import LotState, LotTerms
from auction.engine.messages import (
    AcceptanceOffered,
    AnyEvent,
    AskSet,
    BidAccepted,
    BidsCancelled,
    BidsClosed,
    BidSource,
    BidUndone,
    FairWarningCalled,
    IncrementChanged,
    LateBidNoted,
    LotExtended,
    LotOpened,
    LotPassed,
    LotPaused,
    LotReopened,
    LotResumed,
    LotSold,
    LotWithdrawn,
    OnlineBidDeclined,
    ProxyBidPlaced,
    ViewingOpened,
)
from auction.engine.premium import round_half_up
from auction.engine.state import Absentee


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
    """A bid as watchers see it. `auto` marks a bid the engine made out of a maximum; `source` where it came
    from (online, floor, phone, absentee, house: a live sale's room shows its bids too)."""

    paddle: int
    amount: int
    auto: bool
    reserve_met: bool
    next_minimum: int
    source: BidSource = "online"


class OpenedShown(PublicEvent, frozen=True, tag="opened"):
    end_ms: int
    ask: int = 0  # a live lot's opening ask


class AskShown(PublicEvent, frozen=True, tag="ask"):
    """A live lot's asking price: the next bid the auctioneer takes (and the increment, when they changed it)."""

    ask: int
    increment: int | None = None


class FairWarningShown(PublicEvent, frozen=True, tag="fair_warning"):
    pass


class PausedShown(PublicEvent, frozen=True, tag="paused"):
    pass


class ResumedShown(PublicEvent, frozen=True, tag="resumed"):
    pass


class ReopenedShown(PublicEvent, frozen=True, tag="reopened"):
    pass


class DeclinedShown(PublicEvent, frozen=True, tag="declined"):
    """An online bid that was not taken: `another_bid_taken`, the hammer came first (`too_late`), or the clerk
    declined it."""

    paddle: int
    why: Literal["declined", "another_bid_taken", "too_late"]


class UndoneShown(PublicEvent, frozen=True, tag="undone"):
    """The clerk took back the newest bid (paddle `undone`'s); the lot stands again at `price`, led by `paddle`."""

    undone: int
    price: int
    paddle: int | None
    bid_count: int
    ask: int


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


class ViewingShown(PublicEvent, frozen=True, tag="viewing"):
    """A tender lot's viewing period began; bids are taken from the bid window's opening."""


class BidsClosedShown(PublicEvent, frozen=True, tag="bids_closed"):
    """A tender lot's bid window closed: the sealed bids wait for the reveal."""


class TenderResultShown(PublicEvent, frozen=True, tag="tender_result"):
    """A tender lot's result, published without naming anyone: the winning amount, in total and per carat
    (sold), or that it was passed, or that the top bid is offered to the consignor (below the reserve)."""

    outcome: Literal["sold", "passed", "awaiting_acceptance"]
    amount: int
    per_carat: int | None


class Hidden(PublicEvent, frozen=True, tag="hidden"):
    """Something happened that nobody but an operator may see; it keeps the sequence whole."""


AnyPublicEvent = (
    BidShown
    | OpenedShown
    | ExtendedShown
    | SoldShown
    | PassedShown
    | WithdrawnShown
    | RevisedShown
    | AskShown
    | FairWarningShown
    | PausedShown
    | ResumedShown
    | ReopenedShown
    | DeclinedShown
    | UndoneShown
    | ViewingShown
    | BidsClosedShown
    | TenderResultShown
    | Hidden
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
    if terms.format == "tender":
        return _tender_event(terms, event)
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
                source=_source(terms, event),
            )
        case LotOpened():
            return OpenedShown(seq, at, end_ms=terms.end_ms, ask=event.ask)
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
        case _:
            return _live_event(event)


def _live_event(event: AnyEvent) -> AnyPublicEvent:
    seq, at = event.seq, event.at_ms
    match event:
        case AskSet():
            return AskShown(seq, at, ask=event.ask)
        case IncrementChanged():
            return AskShown(seq, at, ask=event.ask, increment=event.increment)
        case FairWarningCalled():
            return FairWarningShown(seq, at)
        case LotPaused():
            return PausedShown(seq, at)
        case LotResumed():
            return ResumedShown(seq, at)
        case LotReopened():
            return ReopenedShown(seq, at)
        case OnlineBidDeclined():
            return DeclinedShown(seq, at, paddle=event.paddle, why=event.reason)
        case BidUndone():
            return UndoneShown(seq, at, undone=event.paddle, price=event.price, paddle=event.leader_paddle,
                               bid_count=event.bid_count, ask=event.ask)  # fmt: skip
    # A raised maximum, an absentee bid left, an online bid waiting for the clerk, a bid noted as late: only
    # operators see these.
    return Hidden(seq, at)


def _tender_event(terms: LotTerms, event: AnyEvent) -> AnyPublicEvent:
    """A tender shows its periods and, after the reveal, each lot's result; never a bid, a bidder or a paddle."""
    seq, at = event.seq, event.at_ms
    match event:
        case ViewingOpened():
            return ViewingShown(seq, at)
        case LotOpened():
            return OpenedShown(seq, at, end_ms=terms.end_ms)
        case BidsClosed():
            return BidsClosedShown(seq, at)
        case LotSold():
            return TenderResultShown(seq, at, "sold", event.hammer, _per_carat(terms, event.hammer))
        case LotPassed():
            return TenderResultShown(seq, at, "passed", 0, None)
        case AcceptanceOffered():
            return TenderResultShown(seq, at, "awaiting_acceptance", 0, None)
        case LotWithdrawn():
            return WithdrawnShown(seq, at)
    return Hidden(seq, at)


def _per_carat(terms: LotTerms, total: int) -> int | None:
    points = terms.tender.carat_points
    return round_half_up(total * 100, points) if points else None


def _source(terms: LotTerms, event: BidAccepted | ProxyBidPlaced) -> BidSource:
    """A bid the engine makes from a maximum is an absentee's in a live lot (online bids there are at the ask)."""
    if isinstance(event, BidAccepted):
        return event.source
    return "absentee" if terms.format == "live" else "online"


# ---- the rostrum's console: a live lot as operators see it (DOMAIN.md "Live sales") ------------------------------


class Commission(msgspec.Struct, frozen=True):
    """An absentee (commission) bid of a live lot's book: whose, at which paddle, up to what."""

    bidder: int
    paddle: int
    max_amount: int


class Waiting(msgspec.Struct, frozen=True):
    """The online bid at the ask that waits for the clerk."""

    bidder: int
    paddle: int
    amount: int
    client_id: str


class LiveConsole(msgspec.Struct, frozen=True):
    """What the console shows of a live lot beside its record: the ask and the step after it, where the lead came
    from (so nobody hammers past an online winner), the online bid waiting, the commission bar, the absentee book
    in the order received, and the online bids noted as just too late for the last hammer (possible missed bids)."""

    ask: int
    increment: int
    lead_source: BidSource | None
    waiting: Waiting | None
    commission_bar: Commission | None
    absentees: list[Commission]
    missed: list[LateBidNoted]


def commission_bar(state: LotState) -> Absentee | None:
    """The highest absentee bid that is not winning and is at or above the ask: what the book still holds that
    the room must beat. Equal maximums: the first received, as the book decides a tie."""
    bar: Absentee | None = None
    for absentee in state.absentees:
        if absentee.bidder == state.leader or absentee.max_amount < state.next_minimum:
            continue
        if bar is None or absentee.max_amount > bar.max_amount:
            bar = absentee
    return bar


def missed_bids(state: LotState, events: list[AnyEvent]) -> list[LateBidNoted]:
    """The online bids noted as too late for the lot's last hammer, among `events` (the lot's, in order): none once
    the lot is reopened, since bidding goes on and a late bidder may bid again."""
    if state.status not in ("sold", "passed"):
        return []
    missed: list[LateBidNoted] = []
    for event in events:
        if isinstance(event, LotSold | LotPassed):
            missed = []  # only what came after the last hammer
        elif isinstance(event, LateBidNoted):
            missed.append(event)
    return missed


def live_console(state: LotState, events: list[AnyEvent]) -> LiveConsole:
    """The console's view of a live lot; `events` are the lot's (since its last hammer is enough)."""
    ask = state.next_minimum
    pending = state.pending
    return LiveConsole(
        ask=ask,
        increment=state.next_bid(ask) - ask,
        lead_source=state.leader_source if state.leader is not None else None,
        waiting=Waiting(pending.bidder, pending.paddle, pending.amount, pending.client_id) if pending else None,
        commission_bar=_commission(commission_bar(state)),
        absentees=[Commission(a.bidder, a.paddle, a.max_amount) for a in state.absentees],
        missed=missed_bids(state, events),
    )


def _commission(absentee: Absentee | None) -> Commission | None:
    return None if absentee is None else Commission(absentee.bidder, absentee.paddle, absentee.max_amount)
