"""What a trade buyer prices a stone on, as validated types (DOMAIN.md "A lot").

Carat weight is stored as integer points (1 ct = 100 points). The grading vocabularies are Literal types, so
msgspec refuses a misspelt grade at the edge with a message naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Colour = Literal[
    "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z"
]
Clarity = Literal["FL", "IF", "VVS1", "VVS2", "VS1", "VS2", "SI1", "SI2", "I1", "I2", "I3"]
Grade = Literal["Excellent", "Very Good", "Good", "Fair", "Poor"]
Fluorescence = Literal["None", "Faint", "Medium", "Strong", "Very Strong"]
Lab = Literal["GIA", "HRD", "IGI", "AGS"]
Shape = Literal[
    "Round", "Princess", "Cushion", "Oval", "Emerald", "Pear", "Marquise", "Radiant", "Asscher", "Heart", "Rough"
]

Money = Annotated[int, msgspec.Meta(ge=0, le=10**13)]
Points = Annotated[int, msgspec.Meta(gt=0, le=1_000_000)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]

# A stone over one carat is not offered without a grading report unless an operator overrides it, with a reason.
REPORT_REQUIRED_ABOVE_POINTS = 100


class Diamond(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    carat_points: Points
    shape: Shape
    colour: Colour | None = None
    colour_range: ShortText | None = None  # a stone still in its setting: "G-H"
    fancy_colour: ShortText | None = None
    clarity: Clarity | None = None
    clarity_range: ShortText | None = None  # a stone still in its setting: "VS"
    cut: Grade | None = None
    polish: Grade | None = None
    symmetry: Grade | None = None
    fluorescence: Fluorescence | None = None
    measurements: ShortText | None = None
    lab: Lab | None = None
    report_number: ShortText | None = None
    report_override_reason: ShortText | None = None


def diamond_problem(stone: Diamond) -> str | None:
    """Why this stone can't be offered as described, or None."""
    has_report = stone.lab is not None and stone.report_number is not None
    if (stone.lab is None) != (stone.report_number is None):
        return "lab and report_number go together"
    if stone.carat_points > REPORT_REQUIRED_ABOVE_POINTS and not has_report and not stone.report_override_reason:
        return "a stone over 1 ct needs a grading report, or an operator's override with a reason"
    return None


def carats(points: int) -> str:
    """A weight in points as the trade writes it: 152 -> "1.52 ct"."""
    return f"{points // 100}.{points % 100:02d} ct"


def description(stone: Diamond) -> str:
    """The stone in one line, as an invoice or a statement names it: weight and shape, the grades it has (a
    mounted stone's ranges), and its grading report."""
    grades = [
        stone.colour or stone.colour_range,
        f"fancy {stone.fancy_colour}" if stone.fancy_colour else None,
        stone.clarity or stone.clarity_range,
        f"cut {stone.cut}" if stone.cut else None,
        f"polish {stone.polish}" if stone.polish else None,
        f"symmetry {stone.symmetry}" if stone.symmetry else None,
        f"fluorescence {stone.fluorescence}" if stone.fluorescence else None,
    ]
    text = ", ".join([f"{carats(stone.carat_points)} {stone.shape}", *(g for g in grades if g)])
    if stone.lab and stone.report_number:
        text += f"; {stone.lab} report {stone.report_number}"
    return text
