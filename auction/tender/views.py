"""What each party may read of a tender, as pure projections of its lots (auction.engine.state.LotState), their
sealed submissions and the buyers' copies. Before the reveal nothing here holds an amount: only commitments,
sealed text and who submitted when.

- Anyone: the commitments of the bids that count, per lot, once its window closed (`commitments`), fixed by the
  record, with a digest to keep; and each lot's result (`lot_result`): sold at what (total and per carat), passed,
  or waiting for its consignor; never a bidder.
- A buyer: their own bids (`buyer_bids`): every submission with its commitment and their sealed copy, which one
  counts, and once revealed what each counted at, its rank and whether it won.
- A consignor: the offer on their own lots below the reserve (`offers`), the amount offered, never the bidder.
- Operators: every opened bid of every lot, named (`opened_bids`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from auction.engine.formats.tender import ranked
from auction.engine.lifecycle import Status
from auction.engine.lot import LotState
from auction.engine.messages import TenderBidSubmitted
from auction.engine.premium import round_half_up
from auction.tender.records import BidCopy

CLOSED: frozenset[str] = frozenset({"awaiting_reveal", "awaiting_acceptance", "sold", "passed", "withdrawn"})


class LotCommitments(msgspec.Struct, frozen=True):
    """The commitments of a lot's bids that count (each buyer's latest), sorted, once its window closed (none
    while it is open); `digest` is the SHA-256 of them joined by newlines, for anyone to keep and compare."""

    lot: int
    status: Status
    closed: bool
    commitments: list[str]
    digest: str


class LotResult(msgspec.Struct, frozen=True):
    """A lot's result as anyone sees it: `amount` the price it sold at (0 otherwise), with its per-carat figure."""

    lot: int
    status: Status
    amount: int
    per_carat: int | None
    bids: int


class MyBid(msgspec.Struct, frozen=True):
    """One of a buyer's own submissions. `counts`: the latest on its lot, the one the reveal opens. `copy`: their
    copy sealed to their own key (null if they gave none). Once revealed, the counting bid's `amount` and
    `per_carat`, its `rank` among the lot's bids (1 is the highest), whether it `won`, and whether the limit rule
    `excluded` it."""

    lot: int
    client_id: str
    commitment: str
    priority: int
    submitted_ms: int
    counts: bool
    copy: str | None = None
    amount: int | None = None
    per_carat: int | None = None
    rank: int | None = None
    won: bool | None = None
    excluded: bool | None = None


class Offer(msgspec.Struct, frozen=True):
    """The top bid below a lot's reserve, offered to its consignor until `until_ms`."""

    lot: int
    amount: int
    per_carat: int | None
    reserve: int
    until_ms: int


class OpenedBid(msgspec.Struct, frozen=True):
    """An opened bid as operators see it, named, ranked, and whether the limit rule excluded it."""

    lot: int
    rank: int
    bidder: int
    paddle: int
    client_id: str
    amount: int
    per_carat: int | None
    excluded: bool


def per_carat_of(total: int, carat_points: int) -> int | None:
    """A total's per-carat figure, rounded half up to the minor unit (None for a lot of no recorded weight)."""
    return round_half_up(total * 100, carat_points) if carat_points else None


def commitments(states: Iterable[LotState]) -> list[LotCommitments]:
    shown = []
    for state in states:
        closed = state.status in CLOSED
        made = sorted(bid.commitment for bid in state.sealed) if closed else []
        digest = hashlib.sha256("\n".join(made).encode()).hexdigest()
        shown.append(LotCommitments(state.terms.lot, state.status, closed, made, digest))
    return shown


def lot_result(state: LotState) -> LotResult:
    amount = state.price if state.status == "sold" else 0
    per_carat = per_carat_of(amount, state.terms.tender.carat_points) if amount else None
    return LotResult(state.terms.lot, state.status, amount, per_carat, len(state.sealed))


def offers(states: Iterable[LotState]) -> list[Offer]:
    return [
        Offer(s.terms.lot, s.offer.amount, per_carat_of(s.offer.amount, s.terms.tender.carat_points), s.terms.reserve,
              s.offer.until_ms)
        for s in states if s.offer is not None and s.status == "awaiting_acceptance"
    ]  # fmt: skip


def buyer_bids(
    company: int, state: LotState, submitted: Sequence[TenderBidSubmitted], copies: Mapping[str, BidCopy]
) -> list[MyBid]:
    """The buyer's submissions on one lot (`submitted`: the lot's, anyone's), oldest first."""
    latest = next((bid for bid in state.sealed if bid.bidder == company), None)
    order = ranked(state.revealed, state.sealed)
    mine = next((i for i, bid in enumerate(order) if bid.bidder == company), None)
    shown = []
    for event in submitted:
        if event.bidder != company:
            continue
        counts = latest is not None and latest.seq == event.seq
        copy = copies.get(event.client_id)
        bid = MyBid(state.terms.lot, event.client_id, event.commitment, event.priority, event.at_ms, counts,
                    copy.sealed if copy is not None else None)  # fmt: skip
        if counts and mine is not None:
            opened = order[mine]
            bid = msgspec.structs.replace(
                bid, amount=opened.amount, per_carat=opened.per_carat, rank=mine + 1,
                won=state.status == "sold" and state.leader == company, excluded=company in state.excluded,
            )  # fmt: skip
        shown.append(bid)
    return shown


def opened_bids(state: LotState) -> list[OpenedBid]:
    paddles = {bid.bidder: bid.paddle for bid in state.sealed}
    return [
        OpenedBid(state.terms.lot, rank, bid.bidder, paddles.get(bid.bidder, 0), bid.client_id, bid.amount,
                  bid.per_carat, bid.bidder in state.excluded)
        for rank, bid in enumerate(ranked(state.revealed, state.sealed), start=1)
    ]  # fmt: skip


__all__ = [
    "CLOSED",
    "LotCommitments",
    "LotResult",
    "MyBid",
    "Offer",
    "OpenedBid",
    "buyer_bids",
    "commitments",
    "lot_result",
    "offers",
    "opened_bids",
    "per_carat_of",
]
