"""A stone's measurements, and whether they fit its carat weight: the plausibility check at intake.

The trade estimates a polished stone's weight from its measurements: length x width x depth (mm) x a factor for
its shape (the figures gemmologists use to estimate a mounted stone's weight; docs/CATALOGUE.md lists them). A
stone whose stated weight is more than TOLERANCE_PCT per cent away from that estimate has a typo in its weight or
its measurements (a 6.5 mm round of "2.00 ct" is a 1 ct stone, or a misread report), and is refused at intake.

The tolerance is wide because the factors are averages: a thick girdle, a bulging pavilion or a long outline
(an emerald cut of 2:1 weighs about 8 % more than the factor says) move the real weight by up to about 15 %;
20 % leaves room for those and still catches a weight off by a tenth of a carat in the second digit or worse.

Rough has no shape to estimate from, and a stone in its setting can't be measured whole: neither is checked.
Everything is integer: dimensions in hundredths of a millimetre, factors in hundred-thousandths, weight in points.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from auction.diamonds import Shape

Hundredths = Annotated[int, msgspec.Meta(ge=1, le=100_000)]  # hundredths of a millimetre, up to a metre

TOLERANCE_PCT = 20

# Estimated carats = length x width x depth (mm) x factor; the factor in hundred-thousandths (610 = 0.00610).
SHAPE_FACTORS_E5: dict[Shape, int] = {
    "Round": 610,  # 0.0061 x diameter squared x depth: length x width is the diameter squared
    "Oval": 620,
    "Princess": 830,
    "Cushion": 850,  # 0.0080 (square) to 0.0092 (long): the middle
    "Emerald": 860,  # likewise
    "Asscher": 800,
    "Radiant": 810,
    "Pear": 615,
    "Marquise": 565,
    "Heart": 590,
}


class Measurements(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Length, width and depth in hundredths of a millimetre (650 = 6.50 mm), as a grading report gives them."""

    length: Hundredths
    width: Hundredths
    depth: Hundredths

    def text(self) -> str:
        """As a catalogue prints them: '6.50 x 6.52 x 4.01 mm'."""
        return " x ".join(millimetres(v) for v in (self.length, self.width, self.depth)) + " mm"


def millimetres(hundredths: int) -> str:
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def points_text(points: int) -> str:
    return f"{points // 100}.{points % 100:02d} ct"


def estimated_points(shape: Shape, size: Measurements) -> int | None:
    """The weight in points that the measurements suggest for the shape; None for a shape without a factor."""
    factor = SHAPE_FACTORS_E5.get(shape)
    if factor is None:
        return None
    # volume in (0.01 mm)^3 = 1e-6 mm^3; x factor e-5 = carats e-11; points = carats x 100 -> divide by 1e9
    return size.length * size.width * size.depth * factor // 10**9


def misfit(shape: Shape, carat_points: int, size: Measurements) -> str | None:
    """Why the measurements don't fit the weight, or None when they do (or the shape can't be estimated)."""
    factor = SHAPE_FACTORS_E5.get(shape)
    if factor is None:
        return None
    exact = size.length * size.width * size.depth * factor  # the estimate in points, times 1e9
    stated = carat_points * 10**9 * 100
    if (100 - TOLERANCE_PCT) * exact <= stated <= (100 + TOLERANCE_PCT) * exact:
        return None
    estimate = exact // 10**9
    low, high = (100 - TOLERANCE_PCT) * exact // 10**11, (100 + TOLERANCE_PCT) * exact // 10**11
    return (
        f"{size.text()} fit a {shape} of about {points_text(estimate)} ({points_text(low)} to {points_text(high)}, "
        f"within {TOLERANCE_PCT} %), not {points_text(carat_points)}: check the weight and the measurements"
    )


# Length to width of a well-made stone of each shape (a round is as long as it is wide), as (length, width).
TYPICAL_OUTLINE: dict[Shape, tuple[int, int]] = {
    "Round": (1, 1), "Oval": (7, 5), "Princess": (1, 1), "Cushion": (11, 10), "Emerald": (7, 5), "Asscher": (1, 1),
    "Radiant": (13, 10), "Pear": (8, 5), "Marquise": (2, 1), "Heart": (1, 1),
}  # fmt: skip


def typical_measurements(shape: Shape, carat_points: int) -> Measurements | None:
    """Measurements a well-made stone of this shape and weight has (its depth 60 % of its width), for examples
    and demonstrations; None for rough. The smallest width whose estimate reaches the weight."""
    if shape not in SHAPE_FACTORS_E5:
        return None
    length, width = TYPICAL_OUTLINE[shape]

    def sized(w: int) -> Measurements:
        return Measurements(length=w * length // width, width=w, depth=w * 3 // 5)

    low, high = 1, 100_000
    while low < high:
        middle = (low + high) // 2
        estimate = estimated_points(shape, sized(middle))
        if estimate is not None and estimate >= carat_points:
            high = middle
        else:
            low = middle + 1
    return sized(low)
