"""A buyer's standing in one sale, and the pure rules that decide whether they may bid and how far.

Identity (vetting, registration) computes a `BidderStanding` whenever a buyer's eligibility changes and hands
it to the store (`LotStore.set_standing`), which keeps it next to the buyer's exposure in Redis. The bidder of
a bid is the buyer COMPANY: its representatives share one standing, one limit and one exposure.

When the store decides a bid it reads, in the same atomic step as the lot, the facts a `BidContext` carries:
the bidder's standing and their exposure on the sale's other lots, and the same for the lot's current leader,
because a proxy that answers bids for the leader and must not take them past their limit either.

- Exposure: for every lot a buyer leads (or has bought, until settlement), what they would owe at the current
  price, premium included: `all_in(price)`. A maximum counts at its price, never at the maximum.
- Headroom: limit - exposure on the other lots. A buyer may lead this lot at a hammer h only while
  all_in(h) <= headroom; `premium.affordable(headroom)` is the highest such h, the buyer's reach.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Refusal = Literal["not_approved", "approval_expired", "suspended", "not_registered", "deposit_missing"]
"""Why identity says a buyer may not bid in a sale (None in `BidderStanding.refusal` when they may)."""

StandingRefusal = Literal[
    "not_approved", "approval_expired", "suspended", "not_registered", "deposit_missing", "own_lot"
]
"""Every refusal that comes from who bids rather than from the lot or the amount."""


class BidderStanding(msgspec.Struct, frozen=True):
    """A buyer company's standing in one sale, as identity last set it.

    `limit` is in minor units and all-in (premium included). `approved_until_ms` is when the company's approval
    lapses: a bid stamped at or after it is refused `approval_expired`, even before identity notices. A buyer
    may not bid on lots of the consignors in `consignor_ids` (consignors linked to the buyer's company)."""

    bidder: int
    paddle: int
    limit: int
    refusal: Refusal | None
    approved_until_ms: int
    consignor_ids: tuple[int, ...] = ()


class BidContext(msgspec.Struct, frozen=True, tag="bid"):
    """What a bid's decision needs besides the lot, read by the store in the same atomic step.

    `exposure` is the bidder's exposure on the sale's lots other than this one; `leader_standing` and
    `leader_exposure` are the same for the lot's current leader (None / 0 while nobody leads). A missing
    standing means the buyer is not registered for the sale."""

    standing: BidderStanding | None
    exposure: int = 0
    leader_standing: BidderStanding | None = None
    leader_exposure: int = 0


class BookContext(msgspec.Struct, frozen=True, tag="book"):
    """What opening a live lot needs besides the lot: the standing of each buyer in its absentee book and
    their exposure on the sale's other lots, read by the store in the same atomic step (bidder -> facts)."""

    standings: dict[int, BidderStanding | None] = {}
    exposures: dict[int, int] = {}

    def of(self, bidder: int) -> BidContext:
        return BidContext(self.standings.get(bidder), self.exposures.get(bidder, 0))


def refusal(standing: BidderStanding | None, consignor: int, at_ms: int) -> StandingRefusal | None:
    """Why this buyer may not bid at `at_ms` on a lot of `consignor`, or None when they may."""
    if standing is None:
        return "not_registered"
    if standing.refusal is not None:
        return standing.refusal
    if at_ms >= standing.approved_until_ms:
        return "approval_expired"
    if consignor in standing.consignor_ids:
        return "own_lot"
    return None


def headroom(standing: BidderStanding, exposure: int) -> int:
    """What the buyer may still commit, all-in, to one more lot. Negative if a lowered limit left them over."""
    return standing.limit - exposure


__all__ = ["BidContext", "BidderStanding", "BookContext", "Refusal", "StandingRefusal", "headroom", "refusal"]
