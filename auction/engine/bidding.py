"""The bidding rules every format shares: maximum (proxy) bids, increments, the reserve, standing and limits.

The rules (DOMAIN.md "Maximum (proxy) bids", as eBay, Catawiki and Auctionet apply them):
- a bid must reach the opening price, or the current price plus one increment;
- against a leader's hidden maximum M, a rival's bid A is answered by the leader's proxy at
  min(M, A + increment(A)); a rival maximum above M takes the lead at min(A, M + increment(M));
- equal maximums: the earlier leads, at that amount;
- the leader raising their maximum never raises the price, except to meet the reserve; a raise must be worth
  recording: at least one increment above their current maximum;
- a maximum that reaches the reserve while the price is below it lifts the price to the reserve.

With a `BidContext` (auction.engine.standing) a bid is also held to the buyer's standing and limit: each party
may go only as far as its reach, the highest hammer whose all-in fits its headroom. A plain bid beyond the
bidder's reach, or a maximum whose reach is below the next minimum, is refused `over_limit`; a maximum beyond
it is accepted but the engine bids for it only up to the reach. The leader's proxy answers only up to
min(their maximum, their reach), and not at all for a leader who is no longer eligible.

A format decides whether a bid may be made at all (the lot's status, the clock); `place` does the rest.
"""

from __future__ import annotations

from auction.engine.emit import Emitter
from auction.engine.messages import BidAccepted, BidSource, MaxBidRaised, PlaceBid, ProxyBidPlaced, Rejected
from auction.engine.premium import affordable
from auction.engine.standing import BidContext, BidderStanding, headroom, refusal
from auction.engine.state import LotState

NO_LIMIT = 2**63 - 1  # the reach of a buyer held to no limit


def amount_refusal(state: LotState, bid: PlaceBid) -> Rejected | None:
    """Why this bid can't be made on an open lot whatever the buyer's standing, or None."""
    if bid.bidder == state.leader:
        # A leader's only move is a higher maximum, by at least one increment: a raise by a cent would be a
        # record, a stream entry and a frame to every watcher for nothing (docs/RULES.md).
        raise_to = state.next_bid(state.leader_max)
        if bid.kind == "bid":
            return Rejected("already_leading", raise_to)
        if bid.amount < raise_to:
            return Rejected("max_not_raised", raise_to)
        return None
    if bid.amount < state.next_minimum:
        return Rejected("too_low", state.next_minimum)
    return None


def place(out: Emitter, bid: PlaceBid, context: BidContext | None, source: BidSource = "online") -> Rejected | None:
    """The bid on the lot `out` holds (open, the bid acceptable as to its amount): a raise of the leader's own
    maximum, or a challenge the leader's proxy may answer. A refusal (over_limit) emits nothing."""
    state = out.state
    reach = NO_LIMIT if context is None else reach_of(context.standing, context.exposure, state, bid.at_ms)
    if bid.bidder == state.leader:
        raise_own_max(out, bid, min(bid.amount, reach))
        return None
    if bid.amount > reach and (bid.kind == "bid" or reach < state.next_minimum):
        return Rejected("over_limit", state.next_minimum)
    challenge(out, bid, min(bid.amount, reach), leader_reach(state, context, bid.at_ms), source)
    return None


def reach_of(standing: BidderStanding | None, exposure: int, state: LotState, at_ms: int) -> int:
    """The highest price the engine may make this buyer lead this lot at: -1 for a buyer who may not bid."""
    if standing is None or refusal(standing, state.terms.consignor, at_ms) is not None:
        return -1
    return affordable(headroom(standing, exposure), state.terms.premium)


def leader_reach(state: LotState, context: BidContext | None, at_ms: int) -> int:
    """How far the leader's proxy may answer: their maximum, cut to their reach, never below the price they
    already hold (a leader who can't go on keeps their standing bid and is outbid)."""
    if context is None:
        return state.leader_max
    standing = context.leader_standing
    if standing is not None and standing.bidder != state.leader:
        standing = None  # facts about someone else: trust none of them
    reach = reach_of(standing, context.leader_exposure, state, at_ms)
    return max(state.price, min(state.leader_max, reach))


def lift_to_reserve(amount: int, maximum: int, reserve: int) -> int:
    """A maximum that reaches the reserve takes the price at least to it."""
    return reserve if amount < reserve <= maximum else amount


def challenge(out: Emitter, bid: PlaceBid, reach: int, leader_reach: int, source: BidSource = "online") -> None:
    """A rival of the leader bids. `reach` is how far the bidder may go now (the amount, or less when their
    limit stops a maximum); `leader_reach` how far the leader's proxy may answer (their maximum, or less)."""
    state, reserve = out.state, out.state.terms.reserve
    fields = {
        "bidder": bid.bidder,
        "paddle": bid.paddle,
        "client_id": bid.client_id,
        "kind": bid.kind,
        "source": source,
    }
    if state.leader is None:
        shown = bid.amount if bid.kind == "bid" else state.next_minimum  # the opening price, or a live lot's ask
        out.emit(BidAccepted, amount=lift_to_reserve(shown, reach, reserve), max_amount=bid.amount, **fields)
        return
    if reach > leader_reach:
        if leader_reach > state.price:
            proxy(out, state, leader_reach, state.leader_max, "answer")
        shown = bid.amount if bid.kind == "bid" else min(reach, state.next_bid(leader_reach))
        out.emit(BidAccepted, amount=lift_to_reserve(shown, reach, reserve), max_amount=bid.amount, **fields)
        return
    out.emit(BidAccepted, amount=reach, max_amount=bid.amount, **fields)
    answer = leader_reach if reach == leader_reach else min(leader_reach, state.next_bid(reach))
    proxy(out, state, lift_to_reserve(answer, leader_reach, reserve), state.leader_max, "answer")


def proxy(out: Emitter, leader_state: LotState, amount: int, maximum: int, reason: str) -> None:
    """A bid the engine makes for the buyer who led in `leader_state`, out of their maximum."""
    out.emit(
        ProxyBidPlaced,
        bidder=leader_state.leader,
        paddle=leader_state.leader_paddle,
        amount=amount,
        max_amount=maximum,
        reason=reason,
    )


def raise_own_max(out: Emitter, bid: PlaceBid, reach: int) -> None:
    """Never moves the price, except to meet the reserve, and then only within the leader's reach."""
    out.emit(MaxBidRaised, bidder=bid.bidder, paddle=bid.paddle, max_amount=bid.amount, client_id=bid.client_id)
    state = out.state
    if state.price < state.terms.reserve <= reach:
        proxy(out, state, state.terms.reserve, bid.amount, "reserve")


__all__ = [
    "NO_LIMIT",
    "amount_refusal",
    "challenge",
    "leader_reach",
    "lift_to_reserve",
    "place",
    "proxy",
    "raise_own_max",
    "reach_of",
]
