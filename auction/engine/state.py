"""A lot's data: the terms fixed when the sale is built, and its state as events have left it. Nothing here
decides anything: the formats (auction.engine.formats) decide, `evolve` applies, and these are what they read."""

from __future__ import annotations

from typing import Annotated

import msgspec

from auction.engine import lifecycle
from auction.engine.ladder import Ladder
from auction.engine.messages import BidSource, RevealedBid
from auction.engine.premium import CHRISTIES_2023_USD, PremiumSchedule

HOUSE = 0  # the bidder id of the house's own bids in a live sale (no company has id 0)


# A span of time a sale's terms name, in ms: at most a year (bounds what an outside request may set; decoding
# checks it, the rules never need it).
Duration = Annotated[int, msgspec.Meta(ge=0, le=366 * 86_400_000)]


class SoftClose(msgspec.Struct, frozen=True):
    """A visible bid with less than `window_ms` left moves the end to `extension_ms` after it.
    `cap_ms` (optional) limits how far past the scheduled end the lot may run in total."""

    window_ms: Duration = 120_000
    extension_ms: Duration = 120_000
    cap_ms: Duration | None = None


class LiveTerms(msgspec.Struct, frozen=True):
    """How a live sale runs (DOMAIN.md "Live sales"), a setting of the sale.

    `auto_accept`: online bids at the ask are taken at once (suits an online-only sale); otherwise each waits
    for the clerk. `missed_bid_window_ms`: an online bid this soon after the hammer is shown to the auctioneer
    as a possible missed bid. `house_bids`: the clerk may take house bids, below the reserve only."""

    auto_accept: bool = True
    missed_bid_window_ms: Duration = 1_500
    house_bids: bool = False


class TenderTerms(msgspec.Struct, frozen=True):
    """How a sealed-bid tender runs (DOMAIN.md "Sealed-bid tenders"): the viewing period runs from the lot's
    start to `bids_from_ms`, the bid window from then to its end; below the reserve, the consignor may accept the
    top bid for `acceptance_window_ms`. `carat_points` is the lot's weight, for bids given per carat."""

    bids_from_ms: int = 0
    acceptance_window_ms: int = 86_400_000
    carat_points: int = 0


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
    live: LiveTerms = LiveTerms()
    tender: TenderTerms = TenderTerms()


class Position(msgspec.Struct, frozen=True, array_like=True):
    """Where a live lot stood before a bid: what taking that bid back restores."""

    price: int
    leader: int | None
    leader_paddle: int | None
    leader_max: int
    leader_source: BidSource | None
    bid_count: int
    ask: int


class PendingBid(msgspec.Struct, frozen=True, array_like=True):
    """An online bid at the ask in a live lot, waiting for the clerk."""

    bidder: int
    paddle: int
    amount: int
    client_id: str


class Absentee(msgspec.Struct, frozen=True, array_like=True):
    """A commission bid in a live lot's book, in the order received (the first received wins a tie)."""

    bidder: int
    paddle: int
    max_amount: int
    client_id: str


class SealedBid(msgspec.Struct, frozen=True, array_like=True):
    """A buyer's latest bid on a tender lot, as sealed: `seq` is when it was submitted (the earlier wins a tie)."""

    bidder: int
    paddle: int
    client_id: str
    commitment: str
    priority: int
    seq: int


class TenderOffer(msgspec.Struct, frozen=True, array_like=True):
    """The top bid below the reserve, offered to the consignor until `until_ms`."""

    bidder: int
    paddle: int
    amount: int
    until_ms: int


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
    # A live lot's own (auction.engine.formats.live); timed lots leave them as they are.
    leader_source: BidSource | None = None
    ask: int = 0  # the price the auctioneer asks for next
    increment: int | None = None  # this lot's increment, when the auctioneer changed it from the ladder's
    pending: PendingBid | None = None
    absentees: tuple[Absentee, ...] = ()
    history: tuple[Position, ...] = ()  # before each bid action, newest last: what an undo goes back to
    hammered_at_ms: int = 0
    # A tender lot's own (auction.engine.formats.tender).
    sealed: tuple[SealedBid, ...] = ()  # the latest bid of each buyer, sealed, in the order submitted
    revealed: tuple[RevealedBid, ...] = ()  # every bid opened, highest first, once the officers revealed them
    excluded: tuple[int, ...] = ()  # buyers the reveal kept from winning it (their limit, their priorities)
    revealed_at_ms: int = 0
    offer: TenderOffer | None = None

    @property
    def reserve_met(self) -> bool:
        return self.leader is not None and self.price >= self.terms.reserve

    @property
    def next_minimum(self) -> int:
        """The lowest bid a rival of the leader may make now (in a live lot: the ask)."""
        if self.terms.format == "live" and self.ask:
            return self.ask
        if self.leader is None:
            return self.terms.opening
        return self.next_bid(self.price)

    def next_bid(self, price: int) -> int:
        """The price one increment above `price`: the lot's own increment if the auctioneer set one."""
        return price + self.increment if self.increment is not None else self.terms.ladder.next_bid(price)


class Rostrum(msgspec.Struct, frozen=True):
    """A live sale's rostrum, as the store read it in the same atomic step: the lot on the block (one at a
    time) and the lot that was on it last (the only one that may be reopened)."""

    on_block: int | None = None
    last_opened: int | None = None


class SequenceGap(Exception):
    """An event was applied out of order: the record is corrupt or a writer skipped a number."""


def new_lot(terms: LotTerms) -> LotState:
    return LotState(terms=terms, end_ms=terms.end_ms)


__all__ = [
    "HOUSE",
    "Absentee",
    "LiveTerms",
    "LotState",
    "LotTerms",
    "PendingBid",
    "Position",
    "Rostrum",
    "SealedBid",
    "SequenceGap",
    "SoftClose",
    "TenderOffer",
    "TenderTerms",
    "new_lot",
]
