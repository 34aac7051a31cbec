"""Buyer's premium: marginal bands in basis points, computed exactly and rounded once, half up.

The bidding core shows bidders the premium-inclusive total before they confirm; settlement invoices with the
same function, so the two can never disagree.
"""

from __future__ import annotations

import bisect
import functools
from itertools import pairwise
from typing import Annotated

import msgspec

BASIS_POINTS = 10_000


class PremiumBand(msgspec.Struct, frozen=True, array_like=True):
    """The slice of the hammer price from `starts_at` up to the next band is charged `rate_bp`."""

    starts_at: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    rate_bp: Annotated[int, msgspec.Meta(ge=0, le=100_000)]


class PremiumSchedule(msgspec.Struct, frozen=True):
    bands: Annotated[tuple[PremiumBand, ...], msgspec.Meta(max_length=1_000)]

    def __post_init__(self) -> None:
        if not self.bands or self.bands[0].starts_at != 0:
            raise ValueError("a premium schedule starts with a band at 0")
        if any(b.rate_bp < 0 or b.rate_bp > BASIS_POINTS for b in self.bands):
            raise ValueError("rates are basis points between 0 and 10000")
        if any(a.starts_at >= b.starts_at for a, b in pairwise(self.bands)):
            raise ValueError("bands must start at strictly ascending amounts")


def premium_slices(hammer: int, schedule: PremiumSchedule) -> list[tuple[int, int]]:
    """The hammer price cut into (amount, rate_bp) slices, one per band it reaches."""
    bounds = [b.starts_at for b in schedule.bands[1:]] + [max(hammer, schedule.bands[-1].starts_at)]
    slices = []
    for band, upper in zip(schedule.bands, bounds, strict=True):
        amount = min(hammer, upper) - band.starts_at
        if amount > 0:
            slices.append((amount, band.rate_bp))
    return slices


def round_half_up(numerator: int, denominator: int) -> int:
    """Exact integer division rounded half up (for non-negative amounts)."""
    return (2 * numerator + denominator) // (2 * denominator)


@functools.lru_cache(maxsize=64)
def _table(schedule: PremiumSchedule) -> tuple[list[int], list[int], list[int]]:
    """(band starts, rates, exact premium charged below each band start): a schedule is fixed, and the premium
    is asked for on every bid (exposure counts all-in), so the sum of the lower bands is made once."""
    starts = [band.starts_at for band in schedule.bands]
    rates = [band.rate_bp for band in schedule.bands]
    below = [0]
    for (start, rate), upper in zip(zip(starts, rates, strict=True), starts[1:], strict=False):
        below.append(below[-1] + (upper - start) * rate)
    return starts, rates, below


def premium(hammer: int, schedule: PremiumSchedule) -> int:
    """Premium on a hammer price: the exact sum of its slices (`premium_slices`), rounded once."""
    if hammer <= 0:
        return 0
    starts, rates, below = _table(schedule)
    band = bisect.bisect_left(starts, hammer) - 1  # the band holding the hammer's last unit
    return round_half_up(below[band] + (hammer - starts[band]) * rates[band], BASIS_POINTS)


def all_in(amount: int, schedule: PremiumSchedule) -> int:
    """What a buyer would owe for a lot knocked down at `amount`, premium included (before tax and shipping)."""
    return amount + premium(amount, schedule)


def affordable(budget: int, schedule: PremiumSchedule) -> int:
    """The highest hammer price whose all-in total fits in `budget`; -1 when not even 0 fits.

    all_in is strictly increasing, so the answer is well defined. Solved band by band on the exact (unrounded)
    total, then corrected for the single rounding, which moves the total by at most half a unit: at most one
    step each way. Cheap enough to run for every bid, unlike a bisection of all_in."""
    if budget < 0:
        return -1
    uppers = [b.starts_at for b in schedule.bands[1:]] + [None]
    base = 0  # exact premium, in units x basis points, charged below the current band
    guess = 0
    for band, upper in zip(schedule.bands, uppers, strict=True):
        # within the band: h * BP + base + (h - starts_at) * rate <= budget * BP
        guess = (budget * BASIS_POINTS - base + band.starts_at * band.rate_bp) // (BASIS_POINTS + band.rate_bp)
        if upper is None or guess < upper:
            break
        base += (upper - band.starts_at) * band.rate_bp
    guess = max(guess, 0)
    while all_in(guess + 1, schedule) <= budget:
        guess += 1
    while guess >= 0 and all_in(guess, schedule) > budget:
        guess -= 1
    return guess


def flat(rate_bp: int) -> PremiumSchedule:
    return PremiumSchedule((PremiumBand(0, rate_bp),))


def _usd(rows: list[tuple[int, int]]) -> PremiumSchedule:
    return PremiumSchedule(tuple(PremiumBand(start * 100, rate) for start, rate in rows))


# Christie's 2023 schedule (DOMAIN.md default), Sotheby's 2025, and the trade rate Rapaport charges.
CHRISTIES_2023_USD = _usd([(0, 2600), (1_000_000, 2100), (6_000_000, 1500)])
SOTHEBYS_2025_USD = _usd([(0, 2700), (1_000_000, 2200), (8_000_000, 1500)])
TRADE_RATE = flat(0)
