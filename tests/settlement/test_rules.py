"""Settlement arithmetic and rules, table-driven, with properties for the invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.engine.lot import LotTerms, decide, evolve
from auction.engine.messages import AnyEvent, CancelBids, LotSold
from auction.engine.premium import BASIS_POINTS, CHRISTIES_2023_USD, flat, premium, premium_slices
from settlement.rules import (
    DAY_MS,
    MONTH_MS,
    SettlementTerms,
    forfeit,
    in_default,
    late_interest,
    lot_charges,
    payout_release_ms,
    reaward,
    reminders_due,
    should_suspend,
    split_parcels,
    underbidders,
    unsold_charges,
)
from tests.engine._lots import END, bid, close, max_bid, run, terms

A, B, C = 1, 2, 3

D = 100  # cents per dollar
M1, M6 = 1_000_000 * D, 6_000_000 * D


@pytest.mark.parametrize(
    ("hammer", "expected"),
    [
        (0, 0),
        (1, 0),  # 0.26 cents rounds down
        (2, 1),  # 0.52 rounds up
        (M1 - 1, M1 * 26 // 100 - 0),  # 26,000,000.00 - 0.26 cents rounds back to 26,000,000.00
        (M1, M1 * 26 // 100),
        (M1 + 1, M1 * 26 // 100 + 0),  # + 0.21 cent rounds down
        (M1 + 3, M1 * 26 // 100 + 1),  # + 0.63 rounds up
        (M6, M1 * 26 // 100 + 5 * M1 * 21 // 100),
        (M6 + 100, M1 * 26 // 100 + 5 * M1 * 21 // 100 + 15),
        (10 * M6, M1 * 26 // 100 + 5 * M1 * 21 // 100 + 54 * M1 * 15 // 100),
    ],
)
def test_banded_premium_at_band_edges(hammer: int, expected: int) -> None:
    exact = sum(a * r for a, r in premium_slices(hammer, CHRISTIES_2023_USD))
    assert premium(hammer, CHRISTIES_2023_USD) == (2 * exact + BASIS_POINTS) // (2 * BASIS_POINTS)
    assert premium(hammer, CHRISTIES_2023_USD) == expected


@given(st.integers(min_value=0, max_value=10**13))
def test_banded_premium_is_the_sum_of_its_slices_rounded_once(hammer: int) -> None:
    slices = premium_slices(hammer, CHRISTIES_2023_USD)
    assert sum(a for a, _ in slices) == hammer
    exact_times_10000 = sum(a * r for a, r in slices)
    got = premium(hammer, CHRISTIES_2023_USD)
    assert abs(got * BASIS_POINTS - exact_times_10000) * 2 <= BASIS_POINTS  # within half a cent of exact


@pytest.mark.parametrize(
    ("terms", "buyer", "hammer", "charges"),
    [
        # hammer, premium, shipping, insurance, tax, commission, fees
        (SettlementTerms(), 1, 10_000 * D, (10_000 * D, 2_600 * D, 0, 0, 0, 1_000 * D, 0)),
        (SettlementTerms(trade_buyers=(1,)), 1, 10_000 * D, (10_000 * D, 0, 0, 0, 0, 1_000 * D, 0)),
        (SettlementTerms(trade_buyers=(2,)), 1, 10_000 * D, (10_000 * D, 2_600 * D, 0, 0, 0, 1_000 * D, 0)),
        (
            SettlementTerms(shipping_per_lot=150 * D, insurance_bp=50, tax_bp=800, consignor_lot_fee=75 * D),
            1,
            10_000 * D,
            # tax 8 % of 10,000 + 2,600 + 150 + 50 = 12,800 -> 1,024
            (10_000 * D, 2_600 * D, 150 * D, 50 * D, 1_024 * D, 1_000 * D, 75 * D),
        ),
        (SettlementTerms(commission_bp=1500), 1, 333, (333, 87, 0, 0, 0, 50, 0)),  # 86.58 -> 87; 49.95 -> 50
    ],
)
def test_lot_charges(terms: SettlementTerms, buyer: int, hammer: int, charges: tuple[int, ...]) -> None:
    c = lot_charges(hammer, buyer, CHRISTIES_2023_USD, terms)
    assert (c.hammer, c.premium, c.shipping, c.insurance, c.tax, c.commission, c.consignor_fees) == charges
    assert c.total == sum(charges[:5])
    assert c.consignor_net == hammer - charges[5] - charges[6]


def test_flat_premium_schedule_is_used_as_given() -> None:
    assert lot_charges(1000 * D, 9, flat(2000), SettlementTerms()).premium == 200 * D


DUE = 10 * DAY_MS


@pytest.mark.parametrize(
    ("principal", "payments", "now", "rate", "expected"),
    [
        (100_000, [], DUE, 100, 0),  # not late yet
        (100_000, [], DUE - DAY_MS, 100, 0),
        (100_000, [], DUE + MONTH_MS, 100, 1_000),  # 1 % of 1,000.00 for a month
        (100_000, [], DUE + DAY_MS, 100, 33),  # 33.33 cents
        (100_050, [], DUE + MONTH_MS, 100, 1_001),  # 1000.5 -> rounds half up, once
        (100_000, [(DUE - 1, 100_000)], DUE + MONTH_MS, 100, 0),  # paid before due
        (100_000, [(DUE + MONTH_MS // 2, 50_000)], DUE + MONTH_MS, 100, 750),  # half the month on half the sum
        (100_000, [(DUE + MONTH_MS // 2, 100_000)], DUE + 3 * MONTH_MS, 100, 500),  # stops once paid
        (100_000, [], DUE + MONTH_MS, 0, 0),
    ],
)
def test_late_interest(principal: int, payments: list[tuple[int, int]], now: int, rate: int, expected: int) -> None:
    assert late_interest(principal, payments, DUE, now, rate) == expected


@given(st.integers(1, 10**12), st.integers(0, 10 * MONTH_MS))
def test_interest_is_rounded_once_from_the_exact_value(principal: int, late: int) -> None:
    got = late_interest(principal, [], DUE, DUE + late, 100)
    exact_num = principal * late * 100
    den = BASIS_POINTS * MONTH_MS
    assert abs(got * den - exact_num) * 2 <= den


def test_timeline_rules() -> None:
    t = SettlementTerms()
    assert reminders_due(DUE, DUE, t) == 0
    assert reminders_due(DUE, DUE + DAY_MS, t) == 1
    assert reminders_due(DUE, DUE + 7 * DAY_MS, t) == 2
    assert not in_default(DUE, DUE + 14 * DAY_MS - 1, t)
    assert in_default(DUE, DUE + 14 * DAY_MS, t)
    assert payout_release_ms(DUE, t) == DUE + 5 * DAY_MS


@pytest.mark.parametrize(
    ("strikes", "now", "suspended"),
    [
        ([], 400 * DAY_MS, False),
        ([399 * DAY_MS], 400 * DAY_MS, False),
        ([100 * DAY_MS, 399 * DAY_MS], 400 * DAY_MS, True),
        ([35 * DAY_MS + 1, 399 * DAY_MS], 400 * DAY_MS, True),  # just inside twelve months
        ([35 * DAY_MS, 399 * DAY_MS], 400 * DAY_MS, False),  # exactly twelve months ago: out
        ([30 * DAY_MS, 399 * DAY_MS], 400 * DAY_MS, False),
    ],
)
def test_two_strikes_in_twelve_months_suspend(strikes: list[int], now: int, suspended: bool) -> None:
    assert should_suspend(strikes, now, SettlementTerms()) is suspended


@pytest.mark.parametrize(("held", "loss", "applied"), [(0, 500, 0), (1000, 500, 500), (300, 500, 300), (1000, 0, 0)])
def test_deposit_pays_the_loss_first(held: int, loss: int, applied: int) -> None:
    assert forfeit(held, loss) == applied


@pytest.mark.parametrize(
    ("value", "cap", "parcels"),
    [(0, 100, []), (100, 100, [100]), (101, 100, [51, 50]), (250, 100, [84, 83, 83]), (300, 100, [100, 100, 100])],
)
def test_split_parcels(value: int, cap: int, parcels: list[int]) -> None:
    assert split_parcels(value, cap) == parcels


@given(st.integers(1, 10**9), st.integers(1, 1000))
def test_parcels_sum_and_respect_the_cap(cap: int, times: int) -> None:
    value = cap * times - times // 2
    parcels = split_parcels(value, cap)
    assert sum(parcels) == value and max(parcels) <= cap


def test_unsold_charges() -> None:
    assert unsold_charges(10_000 * D, SettlementTerms(unsold_fee_bp=250, return_shipping=80 * D)) == (250 * D, 80 * D)


def _lot_with_a_struck_underbidder() -> tuple[LotTerms, list[AnyEvent]]:
    """A leads on a maximum of 5,000 over C's plain 1,500 and B's maximum of 3,000; then B is suspended and their
    bids struck (BidsCancelled), and the lot closes sold to A at 1,550."""
    lot = terms()
    built = run(lot, [max_bid(A, 5000, 2000), bid(C, 1500, 3000), max_bid(B, 3000, 4000)])
    struck = decide(built.state, CancelBids(at_ms=5000, bidder=B, reason="suspended", record=tuple(built.events)))
    assert isinstance(struck, tuple)
    state, events = built.state, [*built.events, *struck]
    for event in struck:
        state = evolve(state, event)
    closed = decide(state, close(END))
    assert isinstance(closed, tuple) and isinstance(closed[-1], LotSold) and closed[-1].hammer == 1550
    return lot, [*events, *closed]


def test_a_struck_bidder_is_no_underbidder() -> None:
    _, events = _lot_with_a_struck_underbidder()
    assert [u.bidder for u in underbidders(events, excluding=A)] == [C]


def test_reaward_keeps_struck_bids_struck() -> None:
    lot, events = _lot_with_a_struck_underbidder()
    result = reaward(lot, events, striking=A)
    assert isinstance(result, LotSold)
    assert (result.bidder, result.hammer) == (C, 1500), "B's struck maximum must not be folded back in"
