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

With a `BidContext` (the store passes one for every bid of a vetted sale; see auction.engine.standing) a bid is
also held to the buyer's standing and limit:
- an ineligible buyer is refused (not_registered, not_approved, approval_expired, suspended, deposit_missing,
  own_lot) before anything else;
- each party may go only as far as its reach, the highest hammer whose all-in fits its headroom: a plain bid
  beyond the bidder's reach, or a maximum whose reach is below the next minimum, is refused `over_limit`; a
  maximum beyond it is accepted but the engine bids for it only up to the reach (it counts at its price);
- the leader's proxy answers only up to min(their maximum, their reach), and not at all for a leader who is
  no longer eligible. Stopped there, they are outbid. The recorded maximum stays what the buyer asked: the
  reach is worked out afresh for every bid, so room freed on another lot is used.
Without a context the rules are exactly the unlimited ones above.

Cancelling a bidder's bids (`CancelBids`, the house's decision: a suspension, or cancellation for cause) takes
them out of an open lot: the lot's price, leader, leader's maximum and bid count become what the recorded bids
of everyone else make them, folded through this same `decide` (auction.engine.record). The command carries the
lot's record; it must be exactly the history of the state it is decided against, or it is refused `stale`.
The end time does not move; a bidder with no standing bid on the lot gets `no_bids`; a closed lot is refused.
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
    BidsCancelled,
    CancelBids,
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
from auction.engine.premium import CHRISTIES_2023_USD, PremiumSchedule, affordable, all_in
from auction.engine.record import live_bids
from auction.engine.standing import BidContext, BidderStanding, headroom, refusal


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
    premium: PremiumSchedule = CHRISTIES_2023_USD  # what exposure and limits count on top of the price


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


_UNCOUNTED: frozenset[lifecycle.Status] = frozenset({"passed", "withdrawn"})


def exposure_of(state: LotState) -> tuple[int, int] | None:
    """(buyer, all-in) that this lot adds to a buyer's exposure: its leader owes all_in(price) while it runs and
    once sold (until settlement takes over); a passed or withdrawn lot adds nothing."""
    if state.leader is None or state.status in _UNCOUNTED:
        return None
    return state.leader, all_in(state.price, state.terms.premium)


Decision = tuple[AnyEvent, ...] | Rejected


def decide(state: LotState, command: AnyCommand, context: BidContext | None = None) -> Decision:
    """The events a command causes, or why it is refused. Never raises for bad input.

    `context` (bids only) holds the bidder's and the leader's standing and exposure elsewhere in the sale;
    without it no buyer is held to a standing or a limit."""
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
            return _cancel_bids(state, command)


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


NO_LIMIT = 2**63 - 1  # the reach of a buyer held to no limit


def _place_bid(state: LotState, bid: PlaceBid, context: BidContext | None) -> Decision:
    if context is not None:
        who = refusal(context.standing, state.terms.consignor, bid.at_ms)
        if who is not None:
            return Rejected(who)
    out = _Emitter(state, bid.at_ms)
    if state.status == "scheduled" and state.terms.start_ms <= bid.at_ms < state.end_ms:
        out.emit(LotOpened)
    refused = _bid_refusal(out.state, bid)
    if refused is not None:
        return refused
    state = out.state
    reach = NO_LIMIT if context is None else _reach(context.standing, context.exposure, state, bid.at_ms)
    if bid.bidder == state.leader:
        _raise_own_max(out, bid, min(bid.amount, reach))
    else:
        if bid.amount > reach and (bid.kind == "bid" or reach < state.next_minimum):
            return Rejected("over_limit", state.next_minimum)
        _challenge(out, bid, min(bid.amount, reach), _leader_reach(state, context, bid.at_ms))
    if any(isinstance(e, BidAccepted | ProxyBidPlaced) for e in out.events):
        _extend_if_late(out)
    return tuple(out.events)


def _reach(standing: BidderStanding | None, exposure: int, state: LotState, at_ms: int) -> int:
    """The highest price the engine may make this buyer lead this lot at: -1 for a buyer who may not bid."""
    if standing is None or refusal(standing, state.terms.consignor, at_ms) is not None:
        return -1
    return affordable(headroom(standing, exposure), state.terms.premium)


def _leader_reach(state: LotState, context: BidContext | None, at_ms: int) -> int:
    """How far the leader's proxy may answer: their maximum, cut to their reach, never below the price they
    already hold (a leader who can't go on keeps their standing bid and is outbid)."""
    if context is None:
        return state.leader_max
    standing = context.leader_standing
    if standing is not None and standing.bidder != state.leader:
        standing = None  # facts about someone else: trust none of them
    reach = _reach(standing, context.leader_exposure, state, at_ms)
    return max(state.price, min(state.leader_max, reach))


def _bid_refusal(state: LotState, bid: PlaceBid) -> Rejected | None:
    if state.status in lifecycle.FINAL:
        return Rejected("lot_closed")
    if bid.at_ms >= state.end_ms:
        return Rejected("too_late")
    if state.status != "open":
        return Rejected("lot_not_open", state.next_minimum)
    if bid.bidder == state.leader:
        if bid.kind == "bid":
            return Rejected("already_leading", state.leader_max + 1)  # only a higher maximum is accepted
        if bid.amount <= state.leader_max:
            return Rejected("max_not_raised", state.leader_max + 1)
        return None
    if bid.amount < state.next_minimum:
        return Rejected("too_low", state.next_minimum)
    return None


def _lift_to_reserve(amount: int, maximum: int, reserve: int) -> int:
    """A maximum that reaches the reserve takes the price at least to it."""
    return reserve if amount < reserve <= maximum else amount


def _challenge(out: _Emitter, bid: PlaceBid, reach: int, leader_reach: int) -> None:
    """A rival of the leader bids. `reach` is how far the bidder may go now (the amount, or less when their
    limit stops a maximum); `leader_reach` how far the leader's proxy may answer (their maximum, or less)."""
    state, ladder, reserve = out.state, out.state.terms.ladder, out.state.terms.reserve
    fields = {"bidder": bid.bidder, "paddle": bid.paddle, "client_id": bid.client_id, "kind": bid.kind}
    if state.leader is None:
        shown = bid.amount if bid.kind == "bid" else state.terms.opening
        out.emit(BidAccepted, amount=_lift_to_reserve(shown, reach, reserve), max_amount=bid.amount, **fields)
        return
    if reach > leader_reach:
        if leader_reach > state.price:
            _proxy(out, state, leader_reach, state.leader_max, "answer")
        shown = bid.amount if bid.kind == "bid" else min(reach, ladder.next_bid(leader_reach))
        out.emit(BidAccepted, amount=_lift_to_reserve(shown, reach, reserve), max_amount=bid.amount, **fields)
        return
    out.emit(BidAccepted, amount=reach, max_amount=bid.amount, **fields)
    answer = leader_reach if reach == leader_reach else min(leader_reach, ladder.next_bid(reach))
    _proxy(out, state, _lift_to_reserve(answer, leader_reach, reserve), state.leader_max, "answer")


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


def _raise_own_max(out: _Emitter, bid: PlaceBid, reach: int) -> None:
    """Never moves the price, except to meet the reserve, and then only within the leader's reach."""
    out.emit(MaxBidRaised, bidder=bid.bidder, paddle=bid.paddle, max_amount=bid.amount, client_id=bid.client_id)
    state = out.state
    if state.price < state.terms.reserve <= reach:
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
        return Rejected("lot_closed" if state.status in lifecycle.FINAL else "not_due")
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


def _cancel_bids(state: LotState, command: CancelBids) -> Decision:
    if state.status in lifecycle.FINAL:
        return Rejected("lot_closed")  # a closed lot is settlement's to re-award, not the live engine's
    if state.status != "open":
        return Rejected("lot_not_open")
    if not _is_history_of(state, command.record):
        return Rejected("stale")
    bids = live_bids(command.record)
    if not any(bid.bidder == command.bidder for bid in bids):
        return Rejected("no_bids")
    kept = position_of(state, [bid for bid in bids if bid.bidder != command.bidder])
    out = _Emitter(state, command.at_ms)
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
    """Where `bids` alone put an open lot: folded through `decide` from nobody leading, with no standings
    (each was within its buyer's limit when it was made). A bid the engine now refuses (a plain bid from who
    has come to lead) is dropped, as it would have been refused then. Only the bidding position of the result
    counts: the fold runs against the lot's present end, so none of the bids is late."""
    position = LotState(terms=state.terms, end_ms=state.end_ms, status="open")
    for bid in bids:
        decision = decide(position, bid)
        if not isinstance(decision, Rejected):
            position = reduce(evolve, decision, position)
    return position


__all__ = [
    "Decision",
    "Event",
    "LotState",
    "LotTerms",
    "SoftClose",
    "decide",
    "evolve",
    "exposure_of",
    "new_lot",
    "position_of",
    "replay",
]
