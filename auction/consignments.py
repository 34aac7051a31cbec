"""Consignment intake: the stones a consignor hands the house, described as DOMAIN.md "A lot" asks, checked, and
taken into the house's custody.

A stone is described once, at intake (`StoneIntake`): weight in points, shape, loose or still in its setting,
colour (or a fancy colour), clarity, cut, polish, symmetry, fluorescence, measurements, the grading report,
treatments, origin and provenance, the Kimberley Process certificate of rough, and the consignor's estimates and
reserve. `stone_problems` finds everything wrong with a description at once; the rules, as written down in
docs/CATALOGUE.md:

- the reserve is at most the low estimate, the low estimate at most the high one, and above 0;
- lab and report number go together; a stone over 1 ct without a report is refused unless an operator overrides
  the rule with a reason, which goes on the audit log with who gave it (`report_overridden`);
- a stone in its setting is graded in ranges ("G-H", "VS"), because labs grade only loose stones: colour and
  clarity ranges, not grades; ranges run from the better grade to the lesser;
- a loose polished stone has a colour (a grade, a range or a fancy colour, one of them), a clarity (a grade or a
  range) and measurements that fit its weight for its shape (auction/measurements.py, within 20 %);
- a cut grade is for round brilliants only; rough has no cut, polish or symmetry, and needs its Kimberley Process
  certificate.

The house's custody of the stone starts when it is taken in (`received_ms`, `received_by`). Each stone's
amounts are in its consignor's agreement currency, so a consignor needs an agreement before handing stones in.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import asyncpg
import msgspec

from auction.consignors import agreement_of
from auction.diamonds import (
    REPORT_REQUIRED_ABOVE_POINTS,
    Clarity,
    Colour,
    Diamond,
    Fluorescence,
    Grade,
    Lab,
    Money,
    Points,
    Shape,
)
from auction.house_errors import HouseConflict, HouseMissing, Problem, refuse_if
from auction.identity import Account
from auction.measurements import Measurements, misfit, points_text
from auction.photos import PhotoInfo, photos_of
from auction.vetting import audit

Setting = Literal["loose", "set"]
Treatment = Literal["HPHT", "Irradiation", "Laser drilling", "Fracture filling", "Coating", "Annealing"]
_CLARITY_WORD = r"(FL|IF|VVS[12]?|VS[12]?|SI[12]?|I[123]?)"
ColourRange = Annotated[str, msgspec.Meta(pattern=r"^[D-Z](-[D-Z])?$")]  # "G-H"
ClarityRange = Annotated[str, msgspec.Meta(pattern=rf"^{_CLARITY_WORD}(-{_CLARITY_WORD})?$")]  # "VS", "VS1-VS2"
ReportNumber = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")]
KpCertificate = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ./-]{2,59}$")]  # "BW 0123456"
OverrideReason = Annotated[str, msgspec.Meta(min_length=10, max_length=200)]  # a sentence, kept on the lot too
Words = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Story = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]

_CLARITY_ORDER = ("FL", "IF", "VVS", "VVS1", "VVS2", "VS", "VS1", "VS2", "SI", "SI1", "SI2", "I", "I1", "I2", "I3")


class StoneIntake(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A stone as its consignor hands it in. Estimates and reserve in minor units of the agreement's currency."""

    carat_points: Points
    shape: Shape
    low_estimate: Money
    high_estimate: Money
    reserve: Money = 0
    setting: Setting = "loose"
    colour: Colour | None = None
    colour_range: ColourRange | None = None
    fancy_colour: Words | None = None  # "Fancy Intense Yellow", instead of a D-Z colour
    clarity: Clarity | None = None
    clarity_range: ClarityRange | None = None
    cut: Grade | None = None
    polish: Grade | None = None
    symmetry: Grade | None = None
    fluorescence: Fluorescence | None = None
    measurements: Measurements | None = None
    lab: Lab | None = None
    report_number: ReportNumber | None = None
    report_override_reason: OverrideReason | None = None
    kp_certificate: KpCertificate | None = None
    treatments: Annotated[list[Treatment], msgspec.Meta(max_length=6)] = []
    origin: Words | None = None  # a country or a mine
    provenance: Story | None = None


class StoneView(msgspec.Struct, frozen=True):
    id: int
    consignor_id: int
    currency: str
    received_ms: int  # the house's custody starts here
    title: str  # what a lot of it is called unless its sale says otherwise
    stone: StoneIntake
    photos: list[PhotoInfo]
    placed: list[str]  # where it is catalogued: "draft 12 lot 3", "sale 12 lot 3"


# ---- the rules ----------------------------------------------------------------------------------------------


def stone_problems(stone: StoneIntake) -> list[Problem]:
    """Everything wrong with a stone's description, each naming its field."""
    return [
        *_money_problems(stone),
        *_report_problems(stone),
        *_grade_problems(stone),
        *(_set_problems(stone) if stone.setting == "set" else _loose_problems(stone)),
        *(_rough_problems(stone) if stone.shape == "Rough" else _polished_problems(stone)),
    ]


def _money_problems(s: StoneIntake) -> list[Problem]:
    problems = []
    if s.low_estimate < 1:
        problems.append(Problem("low_estimate", "a stone is estimated above 0"))
    if s.low_estimate > s.high_estimate:
        problems.append(Problem("high_estimate", "the high estimate is below the low one"))
    if s.reserve > s.low_estimate:
        problems.append(Problem("reserve", "the reserve may not exceed the low estimate"))
    return problems


def _report_problems(s: StoneIntake) -> list[Problem]:
    if (s.lab is None) != (s.report_number is None):
        missing = "lab" if s.lab is None else "report_number"
        return [Problem(missing, "a grading report is a laboratory and a report number, both")]
    has_report = s.lab is not None
    if has_report and s.report_override_reason is not None:
        return [Problem("report_override_reason", "an override is for a stone without a grading report")]
    if s.carat_points > REPORT_REQUIRED_ABOVE_POINTS and not has_report and s.report_override_reason is None:
        return [
            Problem(
                "report_number",
                "a stone over 1 ct needs a grading report (lab and report_number), or an operator's override "
                "with a reason (report_override_reason)",
            )
        ]
    return []


def _grade_problems(s: StoneIntake) -> list[Problem]:
    problems = []
    if s.fancy_colour is not None and (s.colour is not None or s.colour_range is not None):
        problems.append(Problem("fancy_colour", "a fancy colour replaces the D-Z colour: give one or the other"))
    if s.colour is not None and s.colour_range is not None:
        problems.append(Problem("colour_range", "a colour grade or a range, not both"))
    if s.clarity is not None and s.clarity_range is not None:
        problems.append(Problem("clarity_range", "a clarity grade or a range, not both"))
    if s.colour_range is not None and not _ascending(s.colour_range, lambda grade: grade):
        problems.append(Problem("colour_range", "a range runs from the better grade to the lesser: G-H"))
    if s.clarity_range is not None and not _ascending(s.clarity_range, _CLARITY_ORDER.index):
        problems.append(Problem("clarity_range", "a range runs from the better grade to the lesser: VS1-VS2"))
    return problems


def _ascending(grade_range: str, rank: Any) -> bool:
    better, _, lesser = grade_range.partition("-")
    return not lesser or bool(rank(better) < rank(lesser))


def _set_problems(s: StoneIntake) -> list[Problem]:
    """Labs grade only loose stones: a stone in its setting is described in ranges."""
    problems = []
    if s.colour is not None or s.clarity is not None:
        field = "colour" if s.colour is not None else "clarity"
        problems.append(Problem(field, "a stone in its setting is graded in ranges: colour_range, clarity_range"))
    if s.colour_range is None and s.fancy_colour is None:
        problems.append(Problem("colour_range", "a stone in its setting needs its colour range (or fancy colour)"))
    if s.clarity_range is None:
        problems.append(Problem("clarity_range", "a stone in its setting needs its clarity range"))
    if s.shape == "Rough":
        problems.append(Problem("setting", "rough is loose"))
    return problems


def _loose_problems(s: StoneIntake) -> list[Problem]:
    if s.shape == "Rough":
        return []
    problems = []
    if s.colour is None and s.colour_range is None and s.fancy_colour is None:
        problems.append(Problem("colour", "a polished stone has a colour: a grade, a range or a fancy colour"))
    if s.clarity is None and s.clarity_range is None:
        problems.append(Problem("clarity", "a polished stone has a clarity: a grade or a range"))
    if s.measurements is None:
        problems.append(Problem("measurements", "a loose polished stone has its length, width and depth"))
    else:
        wrong = misfit(s.shape, s.carat_points, s.measurements)
        if wrong:
            problems.append(Problem("measurements", wrong))
    return problems


def _rough_problems(s: StoneIntake) -> list[Problem]:
    problems = [Problem(f, "rough is not cut") for f in ("cut", "polish", "symmetry") if getattr(s, f) is not None]
    if s.kp_certificate is None:
        problems.append(Problem("kp_certificate", "rough travels with its Kimberley Process certificate"))
    return problems


def _polished_problems(s: StoneIntake) -> list[Problem]:
    if s.cut is not None and s.shape != "Round":
        return [Problem("cut", "a cut grade is given for round brilliants only")]
    return []


# ---- what a lot of it shows ---------------------------------------------------------------------------------


def default_title(s: StoneIntake) -> str:
    """'1.52 ct Round G VS2'; '1.52 ct Round G-H VS, set'; '10.25 ct Rough'."""
    colour = s.fancy_colour or s.colour or s.colour_range
    clarity = s.clarity or s.clarity_range
    words = [points_text(s.carat_points), s.shape, *(w for w in (colour, clarity) if w)]
    return " ".join(words) + (", set" if s.setting == "set" else "")


def diamond_of(s: StoneIntake) -> Diamond:
    """The stone as the catalogue's lot carries it (auction.catalog)."""
    return Diamond(
        carat_points=s.carat_points, shape=s.shape, colour=s.colour, colour_range=s.colour_range,
        fancy_colour=s.fancy_colour, clarity=s.clarity, clarity_range=s.clarity_range, cut=s.cut, polish=s.polish,
        symmetry=s.symmetry, fluorescence=s.fluorescence,
        measurements=s.measurements.text() if s.measurements else None, lab=s.lab, report_number=s.report_number,
        report_override_reason=s.report_override_reason,
    )  # fmt: skip


def details_of(s: StoneIntake) -> dict[str, str]:
    """What a buyer prices on beyond the grades, shown with the lot: treatments (or that none were declared),
    origin, provenance, the Kimberley Process certificate, and whether the stone is in its setting."""
    details = {"treatments": "; ".join(s.treatments) if s.treatments else "none declared", "setting": s.setting}
    optional = {"origin": s.origin, "provenance": s.provenance, "kp_certificate": s.kp_certificate}
    return details | {key: value for key, value in optional.items() if value is not None}


# ---- the database -------------------------------------------------------------------------------------------

_DESCRIPTION = msgspec.json.Encoder()


async def take_in(pg: asyncpg.Pool, consignor_id: int, stone: StoneIntake, by: Account, now_ms: int) -> StoneView:
    """Take a consignor's stone into the house's custody, from `now_ms`. Refused, naming every problem, if the
    description breaks a rule; an override of the report rule goes on the audit log with its reason."""
    async with pg.acquire() as conn, conn.transaction():
        stone_id = await insert_stone(conn, consignor_id, stone, by, now_ms)
        view = await stone_view(conn, stone_id)
    assert view is not None
    return view


async def insert_stone(
    conn: asyncpg.Connection, consignor_id: int, stone: StoneIntake, by: Account, now_ms: int
) -> int:
    """`take_in` in the caller's transaction (the catalogue file takes many stones in at once); the stone's id."""
    agreement = await agreement_of(conn, consignor_id)
    if agreement is None:
        exists = await conn.fetchval("SELECT 1 FROM consignors WHERE id = $1", consignor_id)
        if not exists:
            raise HouseMissing("consignor", f"no consignor {consignor_id}")
        raise HouseConflict("consignor", f"consignor {consignor_id} has no consignment agreement: set one first")
    refuse_if(stone_problems(stone))
    stone_id: int = await conn.fetchval(
        "INSERT INTO consigned_stones (consignor_id, currency, description, carat_points, low_estimate, "
        "high_estimate, reserve, received_ms, received_by) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9) "
        "RETURNING id",
        consignor_id, agreement.currency, _DESCRIPTION.encode(stone).decode(), stone.carat_points,
        stone.low_estimate, stone.high_estimate, stone.reserve, now_ms, by.id,
    )  # fmt: skip
    target = f"stone:{stone_id}"
    await audit(conn, by, "stone_taken_in", target, "",
                {"consignor": consignor_id, "carat_points": stone.carat_points, "shape": stone.shape})  # fmt: skip
    if stone.report_override_reason is not None:
        await audit(conn, by, "report_overridden", target, stone.report_override_reason,
                    {"carat_points": stone.carat_points})  # fmt: skip
    return stone_id


class StoneRow(msgspec.Struct, frozen=True):
    """A stone as the sale builder needs it."""

    id: int
    consignor_id: int
    currency: str
    stone: StoneIntake


async def stone_row(db: asyncpg.Connection | asyncpg.Pool, stone_id: int, lock: bool = False) -> StoneRow | None:
    row = await db.fetchrow(
        "SELECT id, consignor_id, currency, description::text AS description FROM consigned_stones WHERE id = $1"
        + (" FOR UPDATE" if lock else ""),
        stone_id,
    )
    if row is None:
        return None
    intake = msgspec.json.decode(row["description"], type=StoneIntake)
    return StoneRow(row["id"], row["consignor_id"], row["currency"].strip(), intake)


async def stone_view(db: asyncpg.Connection | asyncpg.Pool, stone_id: int) -> StoneView | None:
    row = await db.fetchrow(
        "SELECT id, consignor_id, currency, received_ms, description::text AS description FROM consigned_stones "
        "WHERE id = $1",
        stone_id,
    )
    if row is None:
        return None
    intake = msgspec.json.decode(row["description"], type=StoneIntake)
    return StoneView(
        row["id"], row["consignor_id"], row["currency"].strip(), row["received_ms"], default_title(intake), intake,
        await photos_of(db, stone_id), await _placed(db, stone_id),
    )  # fmt: skip


async def stones_of(pg: asyncpg.Pool, consignor_id: int) -> list[StoneView]:
    ids = await pg.fetch("SELECT id FROM consigned_stones WHERE consignor_id = $1 ORDER BY id", consignor_id)
    views = [await stone_view(pg, row["id"]) for row in ids]
    return [view for view in views if view is not None]


async def _placed(db: asyncpg.Connection | asyncpg.Pool, stone_id: int) -> list[str]:
    rows = await db.fetch(
        "SELECT 'draft ' || d.sale_id || ' lot ' || d.lot_no AS place FROM draft_lots d JOIN sale_drafts s "
        "ON s.id = d.sale_id WHERE d.stone_id = $1 AND s.status = 'draft' "
        "UNION ALL SELECT 'sale ' || sale_id || ' lot ' || lot_no FROM lots WHERE stone_id = $1 ORDER BY 1",
        stone_id,
    )
    return [row["place"] for row in rows]
