"""A lot's data: the terms fixed when the sale is built, and its state as events have left it. Nothing here
decides anything: the formats (auction.engine.formats) decide, `evolve` applies, and these are what they read."""

from __future__ import annotations

import msgspec

from auction.engine import lifecycle
from auction.engine.ladder import Ladder
from auction.engine.premium import CHRISTIES_2023_USD, PremiumSchedule


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


__all__ = ["LotState", "LotTerms", "SequenceGap", "SoftClose", "new_lot"]
