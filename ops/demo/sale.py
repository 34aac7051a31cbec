"""A realistic timed sale of diamonds for the demo: consignors, graded stones, estimates and hidden reserves.

Prices come from a crude per-carat model in integer cents (no floats in money, even here). Every sixth lot
gets its reserve at the low estimate and bidders who value it below that, so the demo always shows passes.
"""

from __future__ import annotations

import random
from typing import get_args

from auction.catalog import NewLot, NewSale, SaleSettings
from auction.diamonds import Diamond, Fluorescence, Lab, Shape
from auction.engine.ladder import DIAMOND_LADDER_USD
from auction.engine.lot import SoftClose
from auction.measurements import Measurements, typical_measurements

# A 1 ct G VS2 round of excellent cut, per carat, in cents; everything else is a multiplier in basis points.
BASE_PER_CARAT = 650_000
COLOUR_BP = dict(zip("DEFGHIJK", [16_000, 14_000, 12_500, 10_000, 8_800, 7_600, 6_400, 5_500], strict=True))
CLARITY_BP = {"IF": 15_000, "VVS1": 13_500, "VVS2": 12_500, "VS1": 11_000, "VS2": 10_000, "SI1": 8_500, "SI2": 7_000}
CUT_BP = {"Excellent": 10_000, "Very Good": 9_000, "Good": 8_000}
SHAPES: list[Shape] = ["Round", "Round", "Round", "Oval", "Cushion", "Emerald", "Pear", "Princess", "Radiant"]
FLUORESCENCE: list[Fluorescence] = ["None", "None", "None", "Faint", "Medium", "Strong"]
PASSING_EVERY = 6  # lots 6, 12, 18, ... are set to pass


def _carat_bp(points: int) -> int:
    """Bigger stones are rarer: the price per carat rises with weight."""
    return 7_000 + min(points, 500) * 40


def _round_to(amount: int, unit: int) -> int:
    return max(unit, (amount + unit // 2) // unit * unit)


def _stone(rng: random.Random) -> Diamond:
    points = rng.choice([30, 50, 70, 90, 101, 120, 150, 175, 201, 250, 302, 350, 401, 502])
    shape = rng.choice(SHAPES)
    lab: Lab = rng.choice(list(get_args(Lab)))
    return Diamond(
        carat_points=points,
        shape=shape,
        colour=rng.choice(list(COLOUR_BP)),  # type: ignore[arg-type]
        clarity=rng.choice(list(CLARITY_BP)),  # type: ignore[arg-type]
        cut=rng.choice(list(CUT_BP)) if shape == "Round" else None,  # type: ignore[arg-type]
        polish=rng.choice(["Excellent", "Very Good"]),
        symmetry=rng.choice(["Excellent", "Very Good"]),
        fluorescence=rng.choice(FLUORESCENCE),
        measurements=_measurements(shape, points, rng),
        lab=lab,
        report_number=f"{rng.randint(10**9, 10**10 - 1)}",
    )


def _measurements(shape: Shape, points: int, rng: random.Random) -> str:
    """What a well-made stone of the shape and weight measures, give or take a few hundredths of a millimetre: they
    must fit its weight to be taken in (auction/measurements.py)."""
    size = typical_measurements(shape, points)
    assert size is not None  # the demo sells no rough
    length, width = size.length + rng.randint(10, 99) % 4, size.width + rng.randint(10, 99) % 4
    return Measurements(length, width, size.depth).text()


def fair_value(stone: Diamond) -> int:
    """What the trade might pay, in cents."""
    value = BASE_PER_CARAT * stone.carat_points // 100
    for bp in (
        COLOUR_BP[stone.colour or "H"],
        CLARITY_BP[stone.clarity or "SI1"],
        CUT_BP.get(stone.cut or "", 9_500),
        _carat_bp(stone.carat_points),
    ):
        value = value * bp // 10_000
    return value


def _title(stone: Diamond) -> str:
    weight = f"{stone.carat_points // 100}.{stone.carat_points % 100:02d}"
    return f"{weight} ct {stone.shape} {stone.colour} {stone.clarity}"


def demo_lot(rng: random.Random, number: int, consignor_id: int) -> NewLot:
    stone = _stone(rng)
    value = fair_value(stone)
    low = _round_to(value * 85 // 100, 10_000)
    high = _round_to(value * 120 // 100, 10_000)
    reserve = low if number % PASSING_EVERY == 0 else _round_to(low * 80 // 100, 5_000)
    return NewLot(
        lot=number,
        title=_title(stone),
        consignor_id=consignor_id,
        diamond=stone,
        low_estimate=low,
        high_estimate=high,
        reserve=reserve,
        opening=_round_to(low * 40 // 100, 5_000),
        details={"origin": rng.choice(["Botswana", "Canada", "Namibia", "South Africa", "Russia"])},
    )


def demo_sale(
    rng: random.Random, sale_id: int, consignors: list[int], lots: int, now_ms: int, duration_s: int
) -> NewSale:
    """Lots open together a moment from now; the first closes halfway through, the last at `duration_s`."""
    starts = now_ms + 1_500
    half_ms = duration_s * 500
    stagger = half_ms // max(lots - 1, 1)
    window = max(2_000, min(120_000, stagger * 3))
    return NewSale(
        id=sale_id,
        name="Important Diamonds: Online Demo Sale",
        currency="USD",
        starts_at_ms=starts,
        first_close_ms=starts + half_ms,
        lots=[demo_lot(rng, n, consignors[n % len(consignors)]) for n in range(1, lots + 1)],
        settings=SaleSettings(
            ladder=DIAMOND_LADDER_USD,
            soft_close=SoftClose(window_ms=window, extension_ms=window, cap_ms=window * 4),
            stagger_ms=stagger,
        ),
    )


def valuation(rng: random.Random, lot: NewLot) -> int:
    """A bot's private value for a lot: around the estimates, below the reserve for the lots meant to pass."""
    if lot.lot % PASSING_EVERY == 0:
        return _round_to(lot.reserve * rng.randint(6_000, 9_000) // 10_000, 10_000)
    mid = (lot.low_estimate + lot.high_estimate) // 2
    return _round_to(mid * rng.randint(6_000, 13_000) // 10_000, 10_000)  # traders think in round figures
