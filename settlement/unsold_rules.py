"""The rules of unsold stones, as pure functions: no database, no clock (times come in as epoch ms).

A passed lot has a post-sale window (`SettlementTerms.post_sale_window_ms`, 72 h by default, from the close).
While it is open the top bidder may take the lot at its reserve, registered buyers may make offers, and the
consignor answers them; the first accepted offer sells the lot. When it has passed, the stone goes into a later
sale if its consignor consented (with a lower reserve), or else back to its consignor, insured, charged as the
consignment agreement says (`settlement.rules.unsold_charges`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from auction.engine.messages import AcceptanceOffered, AnyEvent, BidAccepted, BidsCancelled, BidUndone, ProxyBidPlaced
from auction.engine.state import HOUSE

OfferKind = Literal["reserve", "buyer"]
# withdrawn: the lot was reopened after the hammer (an accepted offer too: that sale is undone)
OfferStatus = Literal["open", "accepted", "declined", "closed", "expired", "replaced", "withdrawn"]

# The largest amount anyone may offer or be billed, in minor units: the live protocol's bound on every amount
# (auction.gateway.protocol.MAX_AMOUNT, which settlement may not import; a test holds the two equal).
MAX_AMOUNT = 10**13

# Why an offer, an answer or a consent is refused: the reason code the caller gets, with the field at fault.
Refusal = Literal[
    "window_closed",  # the post-sale window has passed (or the offer expired with it)
    "lot_sold",  # the lot was sold (in the window, to someone) and takes no more offers
    "lot_not_open",  # the lot is relisted, on its way back, or reopened (back on the block, or sold at it)
    "bad_amount",  # not a positive whole number of minor units, or above MAX_AMOUNT
    "bad_reserve",  # a relist reserve that isn't lower than the old one
    "offer_closed",  # the offer was answered already, replaced, closed or expired
    "bad_client_id",  # the buyer's id for their offer is missing or too long
    "sale_started",  # stones are relisted only into a sale that has not started
    "not_yours",  # a consignor acting on another's lot, a buyer on an offer made to someone else
    "own_lot",  # the lot's consignor, or a company linked to them
    "not_registered",
    "not_approved",
    "approval_expired",
    "suspended",
    "deposit_missing",
    "over_limit",  # all-in, on top of what the buyer owes and leads in the sale, it passes their limit
]
# Refusals of a malformed input (a 400 over HTTP).
BAD_INPUT: frozenset[str] = frozenset({"bad_amount", "bad_reserve", "bad_client_id"})


def window_open(window_ms: int, now_ms: int) -> bool:
    """The window ends at `window_ms`, exclusive: an offer made or answered at that instant is too late."""
    return now_ms < window_ms


def top_bidder(events: Sequence[AnyEvent]) -> int | None:
    """Who led the lot when it closed, if a buyer did: the bidder of the last bid or proxy bid the engine made,
    as a taken-back bid or struck bids left it; in a tender, the bidder whose top bid the consignor was offered."""
    leader: int | None = None
    for event in events:
        if isinstance(event, BidAccepted | ProxyBidPlaced | AcceptanceOffered):
            leader = event.bidder
        elif isinstance(event, BidsCancelled | BidUndone):  # struck, or taken back: whoever the record left
            leader = event.leader
    return None if leader == HOUSE else leader  # the house's own bid (a live sale's) stands for no buyer


def lot_refusal(status: str, window_ms: int, now_ms: int) -> Refusal | None:
    """Whether the passed lot takes offers (and answers to them) at `now_ms`."""
    if status == "sold":
        return "lot_sold"
    if status != "post_sale":
        return "lot_not_open"
    if not window_open(window_ms, now_ms):
        return "window_closed"
    return None


def amount_refusal(amount: object) -> Refusal | None:
    """An offer is a positive whole number of minor units, at most MAX_AMOUNT (a bool is not a number here)."""
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        return "bad_amount"
    return None


def relist_reserve_refusal(old_reserve: int, new_reserve: object) -> Refusal | None:
    """The relist reserve must be lower than the reserve the stone failed to reach (DOMAIN.md: "a later sale
    with a lower reserve"); a stone that had no reserve may go again without one."""
    if type(new_reserve) is not int or new_reserve < 0:
        return "bad_reserve"
    if old_reserve == 0:
        return None if new_reserve == 0 else "bad_reserve"
    return None if new_reserve < old_reserve else "bad_reserve"


def answered_status(accept: bool) -> OfferStatus:
    return "accepted" if accept else "declined"


def return_declared_value(reserve: int, low_estimate: int) -> int:
    """What a return shipment is insured for: the low estimate, the house's own published valuation of the
    stone, never below the reserve the consignor set (the catalogue keeps reserve <= low estimate anyway)."""
    return max(reserve, low_estimate)


def relist_opening(opening: int, new_reserve: int) -> int:
    """A relisted lot opens where it opened before, but never above its new, lower reserve (when it has one)."""
    return min(opening, new_reserve) if new_reserve > 0 else opening
