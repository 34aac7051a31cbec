"""Commands (imperative) that the engine decides on, and events (past tense) that it records.

Every event of a lot carries the lot's next sequence number and the server time it happened at. Events are
the record: they hold private facts (a bidder's maximum, their identity) that the gateway projects away before
anything reaches a buyer or a consignor.
"""

from __future__ import annotations

from typing import Literal

import msgspec

BidKind = Literal["bid", "max"]
# Where a bid came from: online (a buyer's program or browser), the floor or a phone (taken by the clerk), an
# absentee (commission) bid executed by the engine, or the house (a live sale's house bid, below the reserve).
BidSource = Literal["online", "floor", "phone", "absentee", "house"]
RoomSource = Literal["floor", "phone", "house"]


class Command(msgspec.Struct, frozen=True, tag_field="type"):
    """Base of every command. `at_ms` is the server's clock, stamped by the edge that received it."""

    at_ms: int


class OpenLot(Command, frozen=True, tag="open_lot"):
    """Open the lot. A live lot opens at `ask` (0: its opening price), the absentee book executed against it."""

    ask: int = 0


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


# ---- the rostrum of a live sale (auction.engine.formats.live): the auctioneer's and the clerk's commands ------


class TakeBid(Command, frozen=True, tag="take_bid"):
    """The clerk takes a bid at the ask from the room: a paddle on the floor, a phone bidder, or the house."""

    bidder: int
    paddle: int
    source: RoomSource
    client_id: str


class SetAsk(Command, frozen=True, tag="set_ask"):
    """The auctioneer sets (or jumps) the asking price."""

    amount: int


class SetIncrement(Command, frozen=True, tag="set_increment"):
    """The increment for this lot from now on, instead of the ladder's."""

    amount: int


class AcceptOnlineBid(Command, frozen=True, tag="accept_online_bid"):
    """The clerk takes the online bid that is waiting (a sale whose online bids are not taken automatically)."""


class DeclineOnlineBid(Command, frozen=True, tag="decline_online_bid"):
    reason: str = ""


class CallFairWarning(Command, frozen=True, tag="call_fair_warning"):
    pass


class HammerLot(Command, frozen=True, tag="hammer_lot"):
    """Sold to the leading paddle at the price: the hammer."""


class PassLot(Command, frozen=True, tag="pass_lot"):
    """Passed: no sale (no bid, or the reserve not met)."""


class ReopenLot(Command, frozen=True, tag="reopen_lot"):
    """Bidding again on the lot just hammered or passed (a missed bid, a dispute), before the next lot opens."""

    reason: str


class PauseLot(Command, frozen=True, tag="pause_lot"):
    reason: str = ""


class ResumeLot(Command, frozen=True, tag="resume_lot"):
    pass


class UndoBid(Command, frozen=True, tag="undo_bid"):
    """Take back the newest bid, and only that (with any bid the engine made in answer to it)."""


# ---- a sealed-bid tender (auction.engine.formats.tender) ----------------------------------------------------------


class SubmitTenderBid(Command, frozen=True, tag="submit_tender_bid"):
    """A buyer's sealed bid on a tender lot: the amount is in `sealed` (encrypted to the tender's key, unreadable
    before the reveal) and bound by `commitment` (auction.engine.formats.tender.commitment). The latest bid of a
    buyer replaces their earlier ones. `priority` orders the buyer's bids across lots (1 first) for the limit."""

    bidder: int
    paddle: int
    client_id: str
    sealed: str
    commitment: str
    priority: int = 1


class RevealedBid(msgspec.Struct, frozen=True, array_like=True):
    """A sealed bid opened: the total in minor units, the per-carat figure when the buyer bid per carat, the salt
    of its commitment."""

    bidder: int
    client_id: str
    amount: int
    per_carat: int | None
    salt: str


class RevealTender(Command, frozen=True, tag="reveal_tender"):
    """The tender's officers rebuilt its key and opened every bid: the latest bid of each buyer, opened.
    `excluded`: buyers who win this lot no more because their winning bids together pass their limit and the
    lot comes after the ones they keep (auction.engine.tender_award.award)."""

    bids: tuple[RevealedBid, ...]
    excluded: tuple[int, ...] = ()


class AcceptTenderOffer(Command, frozen=True, tag="accept_tender_offer"):
    """The consignor accepts the top bid below the reserve, within the acceptance window."""


class DeclineTenderOffer(Command, frozen=True, tag="decline_tender_offer"):
    pass


class Event(msgspec.Struct, frozen=True, tag_field="type"):
    seq: int
    at_ms: int


class LotOpened(Event, frozen=True, tag="LotOpened"):
    """The lot takes bids. A live lot opens at `ask`; a timed lot has none (0)."""

    ask: int = 0


class BidAccepted(Event, frozen=True, tag="BidAccepted"):
    """A buyer's bid, shown at `amount`; `max_amount` is their hidden maximum (equal to amount for a plain bid)."""

    bidder: int
    paddle: int
    amount: int
    max_amount: int
    client_id: str
    kind: BidKind
    source: BidSource = "online"


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


# ---- a live lot's events ------------------------------------------------------------------------------------


class AbsenteeBidLeft(Event, frozen=True, tag="AbsenteeBidLeft"):
    """A commission bid left before the lot opens: executed like a maximum against the room, never above it."""

    bidder: int
    paddle: int
    max_amount: int
    client_id: str


class AskSet(Event, frozen=True, tag="AskSet"):
    ask: int


class IncrementChanged(Event, frozen=True, tag="IncrementChanged"):
    increment: int
    ask: int


class OnlineBidPending(Event, frozen=True, tag="OnlineBidPending"):
    """An online bid at the ask, waiting for the clerk to take it."""

    bidder: int
    paddle: int
    amount: int
    client_id: str


class OnlineBidDeclined(Event, frozen=True, tag="OnlineBidDeclined"):
    """The waiting online bid was not taken: the clerk declined it, another bid was taken at that ask, or the
    hammer fell first."""

    bidder: int
    paddle: int
    client_id: str
    reason: Literal["declined", "another_bid_taken", "too_late"]


class FairWarningCalled(Event, frozen=True, tag="FairWarningCalled"):
    pass


class LotReopened(Event, frozen=True, tag="LotReopened"):
    reason: str


class LotPaused(Event, frozen=True, tag="LotPaused"):
    reason: str


class LotResumed(Event, frozen=True, tag="LotResumed"):
    pass


class BidUndone(Event, frozen=True, tag="BidUndone"):
    """The newest bid (`bidder`'s, at `amount`) was taken back; the lot stands again where it stood before it."""

    bidder: int
    paddle: int
    amount: int
    price: int
    leader: int | None
    leader_paddle: int | None
    leader_max: int
    leader_source: BidSource | None
    bid_count: int
    ask: int


class LateBidNoted(Event, frozen=True, tag="LateBidNoted"):
    """An online bid that came too late for the hammer, within the sale's missed-bid window: refused to the
    bidder as too late, and shown to the auctioneer, who may reopen the lot."""

    bidder: int
    paddle: int
    amount: int
    client_id: str
    after_hammer_ms: int


# ---- a tender lot's events --------------------------------------------------------------------------------------


class ViewingOpened(Event, frozen=True, tag="ViewingOpened"):
    """The stones may be viewed; bids are taken from the bid window's opening."""


class TenderBidSubmitted(Event, frozen=True, tag="TenderBidSubmitted"):
    """A sealed bid: no amount, only what the reveal will open and the commitment it must match."""

    bidder: int
    paddle: int
    client_id: str
    sealed: str
    commitment: str
    priority: int


class BidsClosed(Event, frozen=True, tag="BidsClosed"):
    """The bid window closed: the bids wait, sealed, for the officers to reveal them."""


class TenderRevealed(Event, frozen=True, tag="TenderRevealed"):
    """Every bid of the lot opened, and matched to its commitment, highest first (equal: earliest first)."""

    bids: tuple[RevealedBid, ...]
    excluded: tuple[int, ...]


class AcceptanceOffered(Event, frozen=True, tag="AcceptanceOffered"):
    """The top bid was below the reserve: the consignor may accept it until `until_ms`."""

    bidder: int
    paddle: int
    amount: int
    until_ms: int


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
    | AbsenteeBidLeft
    | AskSet
    | IncrementChanged
    | OnlineBidPending
    | OnlineBidDeclined
    | FairWarningCalled
    | LotReopened
    | LotPaused
    | LotResumed
    | BidUndone
    | LateBidNoted
    | ViewingOpened
    | TenderBidSubmitted
    | BidsClosed
    | TenderRevealed
    | AcceptanceOffered
)
RostrumCommand = (
    TakeBid
    | SetAsk
    | SetIncrement
    | AcceptOnlineBid
    | DeclineOnlineBid
    | CallFairWarning
    | HammerLot
    | PassLot
    | ReopenLot
    | PauseLot
    | ResumeLot
    | UndoBid
)
TenderCommand = SubmitTenderBid | RevealTender | AcceptTenderOffer | DeclineTenderOffer
AnyCommand = OpenLot | PlaceBid | CloseLot | WithdrawLot | CancelBids | RostrumCommand | TenderCommand

RejectReason = Literal[
    "too_low",
    "lot_not_open",
    "too_late",
    "lot_closed",
    "already_leading",
    "max_not_raised",
    "not_due",
    "duplicate",
    "client_id_reused",  # a client id already used on another lot of the sale (within the idempotency window)
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
    # a live lot (auction.engine.formats.live)
    "another_bid_taken",  # the ask was taken by another bid first; `next_amount` is the new ask
    "not_the_ask",  # an online bid in a live lot is a bid at the ask, no more
    "bid_pending",  # an online bid waits for the clerk: take or decline it first
    "no_pending_bid",
    "nothing_to_undo",
    "reserve_not_met",  # the hammer needs a leader at or above the reserve: pass the lot instead
    "another_lot_open",  # one lot at a time: hammer, pass or withdraw the lot on the block first
    "not_last_lot",  # only the lot that was on the block last can be reopened
    "house_bids_not_allowed",
    "reserve_reached",  # a house bid stops below the reserve
    "bad_amount",  # an ask or increment that can't be: not above the price, or not positive
    # a sealed-bid tender (auction.engine.formats.tender)
    "reveal_mismatch",  # the bids opened are not exactly the lot's latest sealed bids, or don't match a commitment
    "window_closed",  # the consignor's acceptance window has passed
]


class Rejected(msgspec.Struct, frozen=True):
    """A command the engine declined. An outcome, never an exception: the client gets the code and the next
    amount it would accept (0 where no bid is possible)."""

    reason: RejectReason
    next_amount: int = 0


EVENT_DECODER = msgspec.json.Decoder(AnyEvent)
EVENT_ENCODER = msgspec.json.Encoder()
