"""The sale formats, each behind one interface: how a lot of that format decides commands and when it needs
the clock.

    timed.py    lots open and close on the clock, with a soft close
    live.py     the auctioneer runs each lot from the rostrum, one at a time; online, floor, phone and absentee
                bids at the ask
    tender.py   sealed bids in a bid window, opened by the tender's officers after the close

Every format calls the shared rules (auction.engine.bidding: maximum bids, increments, the reserve, standing
and limits; auction.engine.cancel: taking a bidder out). What every format has in common is done once, in
auction.engine.lot.decide, before the format is asked: the buyer's standing, and the lifecycle table's word on
whether the lot's status takes the command at all.
"""

from __future__ import annotations

from typing import Protocol

from auction.engine import lifecycle
from auction.engine.messages import AnyCommand, AnyEvent, Rejected
from auction.engine.standing import BidContext, BookContext
from auction.engine.state import LotState, Rostrum

from . import live, tender, timed

Decision = tuple[AnyEvent, ...] | Rejected


class SaleFormat(Protocol):
    def decide(
        self, state: LotState, command: AnyCommand, context: BidContext | BookContext | None, rostrum: Rostrum | None
    ) -> Decision:
        """The events a command causes in this format, or why it is refused (the lifecycle allowed it).
        `context`: a bid's (the bidder's and leader's standing and exposure) or, opening a live lot, its absentee
        book's; `rostrum`: a live sale's, which lot is on the block."""
        ...

    def timers(self, state: LotState) -> tuple[int | None, int | None]:
        """(open at, close at), in ms: when the scheduler must open and close the lot; None: not by the clock."""
        ...


FORMATS: dict[lifecycle.Format, SaleFormat] = {"timed": timed, "live": live, "tender": tender}

__all__ = ["FORMATS", "Decision", "SaleFormat"]
