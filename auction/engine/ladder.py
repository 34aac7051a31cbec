"""Bid increment ladders.

The next acceptable bid is the current price plus the increment of the band the price is in. A ladder is data,
so a sale can carry its own; amounts are integer minor units of the sale currency.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import cache
from itertools import pairwise
from typing import Annotated

import msgspec


class Band(msgspec.Struct, frozen=True, array_like=True):
    """From this price upwards (inclusive) the increment is `increment`, until the next band starts."""

    starts_at: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    increment: Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class Ladder(msgspec.Struct, frozen=True):
    bands: Annotated[tuple[Band, ...], msgspec.Meta(max_length=1_000)]

    def __post_init__(self) -> None:
        problem = ladder_problem(self.bands)
        if problem:
            raise ValueError(problem)

    def increment_at(self, price: int) -> int:
        if price < 0:
            raise ValueError(f"a price can't be negative: {price}")
        return self.bands[bisect_right(_band_starts(self.bands), price) - 1].increment

    def next_bid(self, price: int) -> int:
        return price + self.increment_at(price)

    def scaled(self, factor: int) -> Ladder:
        """The same ladder in a currency whose unit is worth 1/factor of the one it was written in."""
        return Ladder(tuple(Band(b.starts_at * factor, b.increment * factor) for b in self.bands))


def ladder_problem(bands: tuple[Band, ...]) -> str | None:
    """Why these bands don't make a ladder, or None when they do."""
    if not bands:
        return "a ladder needs at least one band"
    if bands[0].starts_at != 0:
        return "the first band must start at 0"
    if any(b.increment <= 0 for b in bands):
        return "every increment must be positive"
    if any(a.starts_at >= b.starts_at for a, b in pairwise(bands)):
        return "bands must start at strictly ascending prices"
    if any(a.increment > b.increment for a, b in pairwise(bands)):
        # A shrinking increment would let a rival's maximum land below the next minimum just announced.
        return "increments may not shrink as the price rises"
    return None


@cache
def _band_starts(bands: tuple[Band, ...]) -> list[int]:
    """Where each band starts, worked out once per ladder: increment_at is on every bid's path."""
    return [band.starts_at for band in bands]


def _dollars(rows: list[tuple[int, int]], minor_per_unit: int = 100) -> Ladder:
    return Ladder(tuple(Band(start * minor_per_unit, inc * minor_per_unit) for start, inc in rows))


# DOMAIN.md's default diamond ladder, written in USD and stored in cents.
DIAMOND_LADDER_USD = _dollars(
    [
        (0, 50),
        (1_000, 100),
        (2_000, 200),
        (5_000, 500),
        (10_000, 1_000),
        (20_000, 2_000),
        (50_000, 5_000),
        (100_000, 10_000),
        (200_000, 20_000),
        (500_000, 50_000),
        (1_000_000, 100_000),
    ]
)

# eBay's published US ladder, in cents: a second, well-documented ladder for tests.
EBAY_LADDER_USD = Ladder(
    tuple(
        Band(start, inc)
        for start, inc in [
            (0, 5),
            (100, 25),
            (500, 50),
            (2_500, 100),
            (10_000, 250),
            (25_000, 500),
            (50_000, 1_000),
            (100_000, 2_500),
            (250_000, 5_000),
            (500_000, 10_000),
        ]
    )
)
