"""Sealed-bid tenders: the way rough and large stones are mostly sold (DOMAIN.md "Sealed-bid tenders").

- A viewing period (from the lot's start), then a bid window (from `tender.bids_from_ms` to the lot's end). The
  scheduler opens both and closes the window.
- A buyer submits one bid per lot and may replace it until the close: the latest counts. The engine never sees
  an amount before the reveal: a bid is sealed (encrypted to the tender's key) and bound by a commitment to its
  amount (`commitment`), and that is all the record holds until then.
- After the close the tender's officers rebuild its key and reveal every lot's bids (RevealTender): the opened
  bids must be exactly the lot's latest sealed bids, each matching its commitment, or the reveal is refused.
  The highest bid at or above the reserve wins (equal bids: the earliest submitted); a bid given per carat
  counts at its total, the per-carat figure times the lot's weight, rounded half up to the minor unit.
- Below the reserve, the top bid is offered to the consignor for the acceptance window; they accept (sold) or
  decline, or the window passes (passed).
- Limits are applied at the reveal, because nobody can read amounts before it: a buyer whose winning bids
  together pass their limit wins them in their priority order while within it, and each lot beyond goes to its
  next bid (auction.engine.tender_award); the reveal of a lot names the buyers it excludes so.
"""

from __future__ import annotations

import hashlib

from auction.engine.emit import Emitter
from auction.engine.lifecycle import FINAL
from auction.engine.messages import (
    AcceptanceOffered,
    AcceptTenderOffer,
    AnyCommand,
    AnyEvent,
    BidsClosed,
    CloseLot,
    DeclineTenderOffer,
    LotOpened,
    LotPassed,
    LotSold,
    LotWithdrawn,
    OpenLot,
    Rejected,
    RevealedBid,
    RevealTender,
    SubmitTenderBid,
    TenderBidSubmitted,
    TenderRevealed,
    ViewingOpened,
    WithdrawLot,
)
from auction.engine.premium import round_half_up
from auction.engine.standing import BidContext, BookContext
from auction.engine.state import LotState, Rostrum, SealedBid

Decision = tuple[AnyEvent, ...] | Rejected


def decide(
    state: LotState, command: AnyCommand, context: BidContext | BookContext | None, rostrum: Rostrum | None = None
) -> Decision:
    match command:
        case OpenLot():
            return _open(state, command)
        case SubmitTenderBid():
            return _submit(state, command)
        case CloseLot():
            return _close(state, command)
        case RevealTender():
            return _reveal(state, command)
        case AcceptTenderOffer() | DeclineTenderOffer():
            return _answer_offer(state, command)
        case WithdrawLot():
            out = Emitter(state, command.at_ms)
            out.emit(LotWithdrawn, reason=command.reason)
            return tuple(out.events)
    return Rejected("not_allowed")


def timers(state: LotState) -> tuple[int | None, int | None]:
    """Viewing from the start, bids from the window's opening, the window's close; the consignor's window."""
    match state.status:
        case "scheduled":
            return state.terms.start_ms, None
        case "viewing":
            return state.terms.tender.bids_from_ms, None
        case "open":
            return None, state.end_ms
        case "awaiting_acceptance":
            return None, state.offer.until_ms if state.offer is not None else None
    return None, None


def total_of(per_carat: int, carat_points: int) -> int:
    """A per-carat bid's total: the figure times the weight (points are hundredths of a carat), rounded once,
    half up, to the minor unit."""
    return round_half_up(per_carat * carat_points, 100)


def commitment(sale: int, lot: int, bidder: int, client_id: str, amount: int, per_carat: int | None, salt: str) -> str:
    """The receipt's commitment to a bid: SHA-256 over everything that makes it, the salt keeping the amount
    from being guessed by trying amounts."""
    text = f"tender-bid:v1|{sale}|{lot}|{bidder}|{client_id}|{amount}|{'' if per_carat is None else per_carat}|{salt}"
    return hashlib.sha256(text.encode()).hexdigest()


def ranked(bids: tuple[RevealedBid, ...], sealed: tuple[SealedBid, ...]) -> tuple[RevealedBid, ...]:
    """Highest first; equal amounts, the earliest submitted first."""
    submitted = {bid.bidder: bid.seq for bid in sealed}
    return tuple(sorted(bids, key=lambda bid: (-bid.amount, submitted.get(bid.bidder, 0))))


def _open(state: LotState, command: OpenLot) -> Decision:
    terms, at = state.terms, command.at_ms
    if not terms.start_ms <= at < state.end_ms:
        return Rejected("not_due")
    out = Emitter(state, at)
    if state.status == "scheduled":
        out.emit(ViewingOpened)
    if at >= terms.tender.bids_from_ms:
        out.emit(LotOpened)
    elif state.status == "viewing":
        return Rejected("not_due")
    return tuple(out.events)


def _submit(state: LotState, bid: SubmitTenderBid) -> Decision:
    if bid.at_ms >= state.end_ms:
        return Rejected("too_late")
    if not bid.sealed or len(bid.commitment) != 64 or bid.priority < 1:
        return Rejected("bad_amount")
    out = Emitter(state, bid.at_ms)
    out.emit(
        TenderBidSubmitted,
        bidder=bid.bidder, paddle=bid.paddle, client_id=bid.client_id, sealed=bid.sealed,
        commitment=bid.commitment, priority=bid.priority,
    )  # fmt: skip
    return tuple(out.events)


def _close(state: LotState, close: CloseLot) -> Decision:
    out = Emitter(state, close.at_ms)
    if state.status == "open":
        if close.at_ms < state.end_ms:
            return Rejected("not_due")
        out.emit(BidsClosed)
        return tuple(out.events)
    offer = state.offer  # awaiting the consignor: the window has passed
    if offer is None or close.at_ms < offer.until_ms:
        return Rejected("not_due")
    out.emit(LotPassed, highest_bid=offer.amount)
    return tuple(out.events)


def _reveal(state: LotState, reveal: RevealTender) -> Decision:
    if not _opens_exactly(state, reveal.bids):
        return Rejected("reveal_mismatch")
    order = ranked(reveal.bids, state.sealed)
    out = Emitter(state, reveal.at_ms)
    out.emit(TenderRevealed, bids=order, excluded=tuple(sorted(reveal.excluded)))
    eligible = [bid for bid in order if bid.bidder not in reveal.excluded]
    paddles = {bid.bidder: bid.paddle for bid in state.sealed}
    if not eligible:
        out.emit(LotPassed, highest_bid=0)
    elif eligible[0].amount >= state.terms.reserve:
        top = eligible[0]
        out.emit(LotSold, hammer=top.amount, bidder=top.bidder, paddle=paddles[top.bidder])
    else:
        top = eligible[0]
        until = reveal.at_ms + state.terms.tender.acceptance_window_ms
        out.emit(AcceptanceOffered, bidder=top.bidder, paddle=paddles[top.bidder], amount=top.amount, until_ms=until)
    return tuple(out.events)


def _opens_exactly(state: LotState, bids: tuple[RevealedBid, ...]) -> bool:
    """The bids opened are the lot's latest sealed bids, one each, every one matching its commitment and, given
    per carat, its total."""
    sealed = {bid.bidder: bid for bid in state.sealed}
    if sorted(bid.bidder for bid in bids) != sorted(sealed):
        return False
    terms = state.terms
    for bid in bids:
        mine = sealed[bid.bidder]
        expected = commitment(terms.sale, terms.lot, bid.bidder, bid.client_id, bid.amount, bid.per_carat, bid.salt)
        if bid.client_id != mine.client_id or expected != mine.commitment or bid.amount <= 0:
            return False
        if bid.per_carat is not None and bid.amount != total_of(bid.per_carat, terms.tender.carat_points):
            return False
    return True


def _answer_offer(state: LotState, command: AcceptTenderOffer | DeclineTenderOffer) -> Decision:
    offer = state.offer
    if offer is None or state.status in FINAL:
        return Rejected("lot_closed")
    if command.at_ms >= offer.until_ms:
        return Rejected("window_closed")
    out = Emitter(state, command.at_ms)
    if isinstance(command, AcceptTenderOffer):
        out.emit(LotSold, hammer=offer.amount, bidder=offer.bidder, paddle=offer.paddle)
    else:
        out.emit(LotPassed, highest_bid=offer.amount)
    return tuple(out.events)


__all__ = ["commitment", "decide", "ranked", "timers", "total_of"]
