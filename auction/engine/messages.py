"""Commands (imperative) that the engine decides on, and events (past tense) that it records.

Every event of a lot carries the lot's next sequence number and the server time it happened at. Events are
the record: they hold private facts (a bidder's maximum, their identity) that the gateway projects away before
anything reaches a buyer or a consignor.
"""

from __future__ import annotations

from typing import Literal

import msgspec

BidKind = Literal["bid", "max"]


class Command(msgspec.Struct, frozen=True, tag_field="type"):
    """Base of every command. `at_ms` is the server's clock, stamped by the edge that received it."""

    at_ms: int


class OpenLot(Command, frozen=True, tag="open_lot"):
    pass


class PlaceBid(Command, frozen=True, tag="place_bid"):
    """A bid of exactly `amount`, or (kind "max") a hidden maximum the engine bids up to for the buyer."""

    bidder: int
    paddle: int
    amount: int
    client_id: str
    kind: BidKind = "bid"


class CloseLot(Command, frozen=True, tag="close_lot"):
    pass


class WithdrawLot(Command, frozen=True, tag="withdraw_lot"):
    reason: str


class CancelBids(Command, frozen=True, tag="cancel_bids"):
    """Take `bidder` out of an open lot: the house's decision (a suspension, or cancellation for cause), never a
    buyer's, so no client may send it. `record` is the lot's events as the caller read them (from its stream or
    from PostgreSQL); the engine recomputes the lot from it, and refuses the command `stale` unless the record is
    exactly the history of the lot as it stands, so a lot that moved on meanwhile is re-read and retried."""

    bidder: int
    reason: str
    record: tuple[AnyEvent, ...]


class Event(msgspec.Struct, frozen=True, tag_field="type"):
    seq: int
    at_ms: int


class LotOpened(Event, frozen=True, tag="LotOpened"):
    pass


class BidAccepted(Event, frozen=True, tag="BidAccepted"):
    """A buyer's bid, shown at `amount`; `max_amount` is their hidden maximum (equal to amount for a plain bid)."""

    bidder: int
    paddle: int
    amount: int
    max_amount: int
    client_id: str
    kind: BidKind


class ProxyBidPlaced(Event, frozen=True, tag="ProxyBidPlaced"):
    """The engine bid for a buyer out of their hidden maximum: to answer a rival or to meet the reserve."""

    bidder: int
    paddle: int
    amount: int
    max_amount: int
    reason: Literal["answer", "reserve"]


class MaxBidRaised(Event, frozen=True, tag="MaxBidRaised"):
    """The leader raised their own maximum. The price does not move: no bidding against yourself."""

    bidder: int
    paddle: int
    max_amount: int
    client_id: str


class LotExtended(Event, frozen=True, tag="LotExtended"):
    """Soft close: a bid late in the lot moved its end."""

    end_ms: int


class LotSold(Event, frozen=True, tag="LotSold"):
    hammer: int
    bidder: int
    paddle: int


class LotPassed(Event, frozen=True, tag="LotPassed"):
    """Closed without a sale: no bids, or the reserve was not met. `highest_bid` is 0 when nobody bid."""

    highest_bid: int


class LotWithdrawn(Event, frozen=True, tag="LotWithdrawn"):
    reason: str


class BidsCancelled(Event, frozen=True, tag="BidsCancelled"):
    """Every bid `bidder` had made on an open lot was struck, and the lot now stands where the recorded bids of
    everyone else put it: `price`, `leader`, `leader_paddle`, `leader_max` and `bid_count` are that position
    (leader None and price 0 when nobody is left). The end time does not move."""

    bidder: int
    reason: str
    price: int
    leader: int | None
    leader_paddle: int | None
    leader_max: int
    bid_count: int


AnyEvent = (
    LotOpened
    | BidAccepted
    | ProxyBidPlaced
    | MaxBidRaised
    | LotExtended
    | LotSold
    | LotPassed
    | LotWithdrawn
    | BidsCancelled
)
AnyCommand = OpenLot | PlaceBid | CloseLot | WithdrawLot | CancelBids

RejectReason = Literal[
    "too_low",
    "lot_not_open",
    "too_late",
    "lot_closed",
    "already_leading",
    "max_not_raised",
    "not_due",
    "duplicate",
    "not_allowed",
    "busy",
    # a cancellation of bids (CancelBids): the record given is not the lot's history as it stands / the bidder
    # has no bids on the lot that were not struck already (so repeating a cancellation changes nothing)
    "stale",
    "no_bids",
    # the buyer's standing in the sale (auction.engine.standing), checked in the same atomic step as the bid
    "not_registered",
    "not_approved",
    "approval_expired",
    "suspended",
    "deposit_missing",
    "own_lot",
    "over_limit",
]


class Rejected(msgspec.Struct, frozen=True):
    """A command the engine declined. An outcome, never an exception: the client gets the code and the next
    amount it would accept (0 where no bid is possible)."""

    reason: RejectReason
    next_amount: int = 0


EVENT_DECODER = msgspec.json.Decoder(AnyEvent)
EVENT_ENCODER = msgspec.json.Encoder()
