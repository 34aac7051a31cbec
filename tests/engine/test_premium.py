"""Buyer's premium (DOMAIN.md "Buyer's premium" and "Money"): marginal bands in basis points, computed exactly
and rounded once, half up, to the cent. Amounts are cents; Christie's 2023 bands are at $1,000,000 and
$6,000,000, i.e. 100,000,000 and 600,000,000 cents."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.engine.premium import (
    BASIS_POINTS,
    CHRISTIES_2023_USD,
    SOTHEBYS_2025_USD,
    TRADE_RATE,
    PremiumBand,
    PremiumSchedule,
    all_in,
    flat,
    premium,
    premium_slices,
    round_half_up,
)

M = 100_000_000  # $1,000,000 in cents

CHRISTIES_CASES = [
    # (hammer, premium) worked by hand: 26 % to M, 21 % from M to 6 M, 15 % above.
    (0, 0),
    (1, 0),  # 0.26
    (2, 1),  # 0.52
    (50, 13),  # 13.00
    (100, 26),
    (1_000_000, 260_000),  # $10,000 -> $2,600
    (M - 2, 25_999_999),  # 25,999,999.48
    (M - 1, 26_000_000),  # 25,999,999.74
    (M, 26_000_000),
    (M + 1, 26_000_000),  # + 0.21
    (M + 2, 26_000_000),  # + 0.42
    (M + 3, 26_000_001),  # + 0.63
    (M + 50, 26_000_011),  # + 10.50: half up
    (M + 150, 26_000_032),  # + 31.50: half up (half-even would give 26,000,032 too)
    (M + 250, 26_000_053),  # + 52.50: half up (half-even would give 26,000,052)
    (2 * M, 47_000_000),  # 26 M + 21 M
    (6 * M - 1, 131_000_000),  # 26 M + 104,999,999.79
    (6 * M, 131_000_000),  # 26 M + 105 M
    (6 * M + 1, 131_000_000),  # + 0.15
    (6 * M + 3, 131_000_000),  # + 0.45
    (6 * M + 4, 131_000_001),  # + 0.60
    (6 * M + 10, 131_000_002),  # + 1.50: half up
    (6 * M + 30, 131_000_005),  # + 4.50: half up (half-even would give 131,000,004)
    (10 * M, 191_000_000),  # 131 M + 60 M
    (100 * M, 1_541_000_000),  # 131 M + 1,410 M
]


@pytest.mark.parametrize(("hammer", "expected"), CHRISTIES_CASES)
def test_christies_2023(hammer: int, expected: int) -> None:
    assert premium(hammer, CHRISTIES_2023_USD) == expected
    assert all_in(hammer, CHRISTIES_2023_USD) == hammer + expected


def test_christies_2023_bands() -> None:
    assert CHRISTIES_2023_USD.bands == (PremiumBand(0, 2600), PremiumBand(M, 2100), PremiumBand(6 * M, 1500))


@pytest.mark.parametrize(
    ("hammer", "expected"),
    [
        (0, 0),
        (100, 27),
        (M, 27_000_000),
        (M + 50, 27_000_011),  # + 11.00
        (8 * M, 27_000_000 + 154_000_000),
        (8 * M + 10, 181_000_002),  # + 1.50: half up
        (10 * M, 181_000_000 + 30_000_000),
    ],
)
def test_sothebys_2025(hammer: int, expected: int) -> None:
    assert premium(hammer, SOTHEBYS_2025_USD) == expected


@pytest.mark.parametrize(
    ("rate_bp", "hammer", "expected"),
    [
        (2500, 0, 0),
        (2500, 1, 0),  # 0.25
        (2500, 2, 1),  # 0.50: half up
        (2500, 3, 1),  # 0.75
        (2500, 6, 2),  # 1.50: half up
        (2500, 10, 3),  # 2.50: half up, where half-even would give 2
        (2500, 14, 4),  # 3.50
        (2500, 400_000, 100_000),
        (1, 5_000, 1),  # 0.5: half up
        (1, 4_999, 0),  # 0.4999
        (1, 15_000, 2),  # 1.5
        (10_000, 123_456, 123_456),  # 100 %
        (0, 10**12, 0),
        (1250, 3 * M + 7, 37_500_001),  # 37,500,000.875
    ],
)
def test_flat_rate(rate_bp: int, hammer: int, expected: int) -> None:
    assert premium(hammer, flat(rate_bp)) == expected


@pytest.mark.parametrize("hammer", [0, 1, 99, 100_000, M, 10**13])
def test_trade_rate_is_zero(hammer: int) -> None:
    assert premium(hammer, TRADE_RATE) == 0
    assert all_in(hammer, TRADE_RATE) == hammer


@pytest.mark.parametrize(
    ("schedule", "hammer", "once", "per_slice"),
    [
        # 10 x 15 % = 1.50 and 2 x 25 % = 0.50: once 2.00 -> 2; per slice 2 + 1 = 3.
        (PremiumSchedule((PremiumBand(0, 1500), PremiumBand(10, 2500))), 12, 2, 3),
        # 10 x 14 % = 1.40 and 20 x 7 % = 1.40: once 2.80 -> 3; per slice 1 + 1 = 2.
        (PremiumSchedule((PremiumBand(0, 1400), PremiumBand(10, 700))), 30, 3, 2),
        # Three slices of 0.50 each: once 1.50 -> 2; per slice 1 + 1 + 1 = 3.
        (PremiumSchedule((PremiumBand(0, 5000), PremiumBand(1, 2500), PremiumBand(3, 1000))), 8, 2, 3),
    ],
)
def test_rounded_once_not_per_slice(schedule: PremiumSchedule, hammer: int, once: int, per_slice: int) -> None:
    slices = premium_slices(hammer, schedule)
    assert sum(round_half_up(amount * rate, BASIS_POINTS) for amount, rate in slices) == per_slice
    assert premium(hammer, schedule) == once


@pytest.mark.parametrize(
    ("hammer", "slices"),
    [
        (0, []),
        (1, [(1, 2600)]),
        (M, [(M, 2600)]),
        (M + 1, [(M, 2600), (1, 2100)]),
        (6 * M, [(M, 2600), (5 * M, 2100)]),
        (6 * M + 1, [(M, 2600), (5 * M, 2100), (1, 1500)]),
    ],
)
def test_slices_at_band_edges(hammer: int, slices: list[tuple[int, int]]) -> None:
    assert premium_slices(hammer, CHRISTIES_2023_USD) == slices


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (0, 10_000, 0),
        (4_999, 10_000, 0),
        (5_000, 10_000, 1),
        (15_000, 10_000, 2),
        (25_000, 10_000, 3),
        (1, 3, 0),
        (2, 3, 1),
    ],
)
def test_round_half_up(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_up(numerator, denominator) == expected


@pytest.mark.parametrize(
    "bands",
    [
        (),
        (PremiumBand(1, 2600),),
        (PremiumBand(0, -1),),
        (PremiumBand(0, 10_001),),
        (PremiumBand(0, 2600), PremiumBand(0, 2100)),
        (PremiumBand(0, 2600), PremiumBand(M, 2100), PremiumBand(M - 1, 1500)),
    ],
)
def test_bad_schedules_are_refused(bands: tuple[PremiumBand, ...]) -> None:
    with pytest.raises(ValueError):
        PremiumSchedule(bands)


def _exact_premium(hammer: int, bands: tuple[PremiumBand, ...]) -> int:
    """The reference: each slice as an exact Fraction, summed, then rounded half up once."""
    exact = Fraction(0)
    for i, band in enumerate(bands):
        upper = bands[i + 1].starts_at if i + 1 < len(bands) else hammer
        amount = min(hammer, upper) - band.starts_at
        if amount > 0:
            exact += Fraction(amount * band.rate_bp, 10_000)
    whole = exact.numerator // exact.denominator
    return whole + (1 if exact - whole >= Fraction(1, 2) else 0)


@st.composite
def schedules(draw: st.DrawFn) -> PremiumSchedule:
    starts = draw(st.lists(st.integers(1, 10**12), max_size=4, unique=True))
    rates = draw(st.lists(st.integers(0, 10_000), min_size=len(starts) + 1, max_size=len(starts) + 1))
    return PremiumSchedule(tuple(PremiumBand(s, r) for s, r in zip([0, *sorted(starts)], rates, strict=True)))


HAMMERS = st.one_of(st.integers(0, 10**13), st.sampled_from([0, M - 1, M, M + 1, 6 * M - 1, 6 * M, 6 * M + 1]))


@settings(max_examples=300, deadline=None)
@given(HAMMERS)
def test_christies_premium_is_the_exact_sum_rounded_once(hammer: int) -> None:
    assert premium(hammer, CHRISTIES_2023_USD) == _exact_premium(hammer, CHRISTIES_2023_USD.bands)
    assert all_in(hammer, CHRISTIES_2023_USD) == hammer + premium(hammer, CHRISTIES_2023_USD)


@settings(max_examples=300, deadline=None)
@given(HAMMERS, schedules())
def test_any_schedule_premium_is_the_exact_sum_rounded_once(hammer: int, schedule: PremiumSchedule) -> None:
    assert premium(hammer, schedule) == _exact_premium(hammer, schedule.bands)
    assert all_in(hammer, schedule) == hammer + premium(hammer, schedule)
    assert sum(amount for amount, _ in premium_slices(hammer, schedule)) == hammer


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**13), st.integers(0, 10**13))
def test_premium_never_falls_as_the_hammer_rises(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert premium(low, CHRISTIES_2023_USD) <= premium(high, CHRISTIES_2023_USD)
    assert all_in(low, CHRISTIES_2023_USD) <= all_in(high, CHRISTIES_2023_USD)
