"""Increment ladders: every band edge of the diamond ladder (DOMAIN.md, in dollars, stored in cents) and of
eBay's published US ladder, checked one cent either side; refusing bad ladders; scaling to another currency."""

from __future__ import annotations

import pytest

from auction.engine.ladder import DIAMOND_LADDER_USD, EBAY_LADDER_USD, Band, Ladder, ladder_problem

# DOMAIN.md "Increments", in dollars: (band starts at, increment).
DOMAIN_TABLE_DOLLARS = [
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

# eBay's published US increments, in cents: $0.01-$0.99 -> $0.05, $1.00-$4.99 -> $0.25, $5.00-$24.99 -> $0.50,
# $25.00-$99.99 -> $1.00, $100.00-$249.99 -> $2.50, $250.00-$499.99 -> $5.00, $500.00-$999.99 -> $10.00,
# $1,000.00-$2,499.99 -> $25.00, $2,500.00-$4,999.99 -> $50.00, $5,000.00 and up -> $100.00.
EBAY_TABLE_CENTS = [
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


def _edge_cases(table: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(price, expected increment) at every band start, one unit below it and one unit above it."""
    cases: list[tuple[int, int]] = []
    for i, (start, inc) in enumerate(table):
        cases.append((start, inc))
        cases.append((start + 1, inc))
        if i > 0:
            cases.append((start - 1, table[i - 1][1]))
    return cases


DIAMOND_CASES = [
    *_edge_cases([(start * 100, inc * 100) for start, inc in DOMAIN_TABLE_DOLLARS]),
    # Spot values read straight off DOMAIN.md's table, in cents.
    (0, 5_000),
    (99_900, 5_000),  # $999 -> $50
    (100_000, 10_000),  # $1,000 -> $100
    (199_999, 10_000),  # $1,999.99 -> $100
    (499_999, 20_000),  # $4,999.99 -> $200
    (999_999, 50_000),
    (1_999_999, 100_000),
    (4_999_999, 200_000),
    (9_999_999, 500_000),
    (19_999_999, 1_000_000),
    (49_999_999, 2_000_000),
    (99_999_999, 5_000_000),
    (100_000_000, 10_000_000),  # $1,000,000 and over -> $100,000
    (10**13, 10_000_000),
]

EBAY_CASES = [
    *_edge_cases(EBAY_TABLE_CENTS),
    (1, 5),
    (99, 5),
    (499, 25),
    (2_499, 50),
    (9_999, 100),
    (24_999, 250),
    (49_999, 500),
    (99_999, 1_000),
    (249_999, 2_500),
    (499_999, 5_000),
    (10**9, 10_000),
]


@pytest.mark.parametrize(("price", "increment"), DIAMOND_CASES)
def test_diamond_ladder_increment(price: int, increment: int) -> None:
    assert DIAMOND_LADDER_USD.increment_at(price) == increment
    assert DIAMOND_LADDER_USD.next_bid(price) == price + increment


@pytest.mark.parametrize(("price", "increment"), EBAY_CASES)
def test_ebay_ladder_increment(price: int, increment: int) -> None:
    assert EBAY_LADDER_USD.increment_at(price) == increment
    assert EBAY_LADDER_USD.next_bid(price) == price + increment


def test_diamond_ladder_is_domain_table_in_cents() -> None:
    assert [(b.starts_at, b.increment) for b in DIAMOND_LADDER_USD.bands] == [
        (start * 100, inc * 100) for start, inc in DOMAIN_TABLE_DOLLARS
    ]


def test_ebay_ladder_is_published_table() -> None:
    assert [(b.starts_at, b.increment) for b in EBAY_LADDER_USD.bands] == EBAY_TABLE_CENTS


@pytest.mark.parametrize("ladder", [DIAMOND_LADDER_USD, EBAY_LADDER_USD], ids=["diamond", "ebay"])
def test_next_bid_never_falls_as_price_rises(ladder: Ladder) -> None:
    """Around every edge, a higher price never gives a lower next bid (the increments only grow)."""
    prices = sorted({p for b in ladder.bands for p in (b.starts_at - 1, b.starts_at, b.starts_at + 1) if p >= 0})
    nexts = [ladder.next_bid(p) for p in prices]
    assert nexts == sorted(nexts)


@pytest.mark.parametrize(
    ("bands", "problem"),
    [
        ((), "a ladder needs at least one band"),
        ((Band(1, 5),), "the first band must start at 0"),
        ((Band(100, 5), Band(0, 5)), "the first band must start at 0"),
        ((Band(0, 0),), "every increment must be positive"),
        ((Band(0, -5),), "every increment must be positive"),
        ((Band(0, 5), Band(100, 0)), "every increment must be positive"),
        ((Band(0, 5), Band(100, 25), Band(100, 50)), "bands must start at strictly ascending prices"),
        ((Band(0, 5), Band(500, 25), Band(100, 50)), "bands must start at strictly ascending prices"),
        ((Band(0, 100), Band(150, 10)), "increments may not shrink as the price rises"),
    ],
)
def test_ladder_problem_refuses_bad_ladders(bands: tuple[Band, ...], problem: str) -> None:
    assert ladder_problem(bands) == problem
    with pytest.raises(ValueError, match=problem):
        Ladder(bands)


@pytest.mark.parametrize(
    "bands",
    [
        (Band(0, 1),),
        (Band(0, 5), Band(100, 25)),
        DIAMOND_LADDER_USD.bands,
        EBAY_LADDER_USD.bands,
    ],
)
def test_ladder_problem_accepts_good_ladders(bands: tuple[Band, ...]) -> None:
    assert ladder_problem(bands) is None
    assert Ladder(bands).bands == bands


def test_a_negative_price_has_no_increment() -> None:
    with pytest.raises(ValueError, match="negative"):
        EBAY_LADDER_USD.increment_at(-1)


def test_single_band_ladder() -> None:
    ladder = Ladder((Band(0, 7),))
    assert [ladder.next_bid(p) for p in (0, 1, 10**12)] == [7, 8, 10**12 + 7]


@pytest.mark.parametrize("factor", [1, 10, 100, 1_000])
def test_scaled_multiplies_every_edge_and_increment(factor: int) -> None:
    scaled = DIAMOND_LADDER_USD.scaled(factor)
    assert [(b.starts_at, b.increment) for b in scaled.bands] == [
        (b.starts_at * factor, b.increment * factor) for b in DIAMOND_LADDER_USD.bands
    ]
    for price, increment in DIAMOND_CASES:
        assert scaled.increment_at(price * factor) == increment * factor


def test_scaled_ebay_to_a_zero_decimal_currency() -> None:
    """Scaling by 100 keeps every edge and increment in proportion: the edge at 100 moves to 10,000."""
    scaled = EBAY_LADDER_USD.scaled(100)
    assert scaled.increment_at(9_999) == 500  # below the 100-unit edge (was 99 cents)
    assert scaled.increment_at(10_000) == 2_500
    assert scaled.next_bid(50_000_000) == 50_000_000 + 1_000_000


def test_scaled_returns_a_new_valid_ladder() -> None:
    scaled = EBAY_LADDER_USD.scaled(3)
    assert ladder_problem(scaled.bands) is None
    assert scaled is not EBAY_LADDER_USD
    assert EBAY_LADDER_USD.increment_at(100) == 25  # the original is untouched


@pytest.mark.parametrize("factor", [0, -1])
def test_scaled_by_a_non_positive_factor_is_refused(factor: int) -> None:
    with pytest.raises(ValueError):
        DIAMOND_LADDER_USD.scaled(factor)
