"""The catalogue file: a sale's lots as the spreadsheet a house keeps, in CSV, imported in one call and exported
the same way (docs/CATALOGUE.md; an example in docs/catalogue-example.csv).

One row per lot. A row either names a stone already taken in (`stone`), whose columns may then be left blank
(any that are filled must say what the stone says), or describes a stone handed in now (`consignor` and the
stone's columns), which the import takes in. Importing is all or nothing: the file is read and every row checked,
each cell by its column and each stone by the intake's rules (auction/consignments.py), then against the
database (consignors, stones, the sale's currency); if anything is wrong nothing is written and the refusal names
every bad cell by its line and column, all of them. Otherwise, in one transaction, the new stones are taken in
and the file becomes the draft's lots (replacing those it had). What `export_catalogue` writes imports again.

Amounts are whole minor units of the sale's currency (cents for USD), as everywhere in the house; the weight is
in carats with two decimals ("1.52"), the measurements in millimetres ("6.50 x 6.52 x 4.01").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from auction import vetting
from auction.consignments import StoneIntake, StoneRow, insert_stone, stone_problems, stone_row
from auction.consignors import agreement_of
from auction.house_errors import HouseError, HouseMissing, Problem
from auction.identity import Account
from auction.measurements import millimetres
from auction.sale_builder import MAX_LOTS, available_stone, draft_lots, insert_lot, locked_draft, lot_problems

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_CELL_CHARS = 2_000
LOT_COLUMNS = ("lot", "stone", "consignor", "title", "opening")
STONE_COLUMNS = (
    "carat", "shape", "setting", "colour", "colour_range", "fancy_colour", "clarity", "clarity_range", "cut",
    "polish", "symmetry", "fluorescence", "measurements", "lab", "report_number", "report_override_reason",
    "kp_certificate", "treatments", "origin", "provenance", "low_estimate", "high_estimate", "reserve",
)  # fmt: skip
COLUMNS = (*LOT_COLUMNS, *STONE_COLUMNS)
REQUIRED_COLUMNS = ("lot", "opening")
_FIELD_OF_COLUMN = {"carat": "carat_points"}  # every other stone column is the intake's field of its name
_COLUMN_OF_FIELD = {"carat_points": "carat"}


class CellProblem(msgspec.Struct, frozen=True):
    line: int  # the file's line the row starts on (the header is line 1)
    column: str  # the column's name; "" when the whole row or file is meant
    message: str


class CatalogueRefused(HouseError):
    """The file as a whole is refused; `cells` names every bad cell."""

    def __init__(self, cells: list[CellProblem]) -> None:
        first = cells[0]
        super().__init__("invalid", first.column or None, f"{len(cells)} problem(s), the first on line {first.line}")
        self.cells = cells


class Imported(msgspec.Struct, frozen=True):
    sale: int
    lots: int
    stones_taken_in: list[int]


@dataclass(frozen=True)
class Row:
    """A row read: its lot's fields, and the stone it names or describes."""

    line: int
    lot: int
    opening: int
    title: str | None
    stone_id: int | None
    consignor: int | None
    stone: StoneIntake | None  # a stone taken in now, as the row describes it
    given: dict[str, Any]  # the stone columns filled in, read


# ---- cells --------------------------------------------------------------------------------------------------

_CARAT = re.compile(r"^(\d{1,4})(?:\.(\d{1,2}))?$")
_MM = r"(\d{1,4}(?:\.\d{1,2})?)"
_TIMES = "[x*\u00d7]"  # x, * or the multiplication sign
_MEASUREMENTS = re.compile(rf"^{_MM}\s*{_TIMES}\s*{_MM}\s*{_TIMES}\s*{_MM}\s*(?:mm)?$", re.IGNORECASE)
_INT_COLUMNS = {"lot": (1, 100_000), "stone": (1, 2**53), "consignor": (1, 2**53), "opening": (1, 10**13)}


def hundredths(text: str) -> int:
    """'1.52' -> 152, '1.5' -> 150, '2' -> 200: exact, no floats."""
    whole, _, fraction = text.partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])


def _carat(text: str) -> int:
    if not _CARAT.match(text):
        raise ValueError("carats with at most two decimals, such as 1.52")
    return hundredths(text)


def _measurements(text: str) -> dict[str, int]:
    found = _MEASUREMENTS.match(text)
    if not found:
        raise ValueError("length x width x depth in mm, such as 6.50 x 6.52 x 4.01")
    length, width, depth = (hundredths(part) for part in found.groups())
    return {"length": length, "width": width, "depth": depth}


def _treatments(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


_SPECIAL: dict[str, Callable[[str], Any]] = {"carat": _carat, "measurements": _measurements, "treatments": _treatments}
_INTAKE_TYPES = {field.name: field.type for field in msgspec.structs.fields(StoneIntake)}


def cell_value(column: str, text: str) -> Any:
    """A cell as the value its column holds; ValueError saying why it can't be."""
    if column in _INT_COLUMNS:
        low, high = _INT_COLUMNS[column]
        if not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return int(text)
    if column == "title":
        if len(text) > 200:
            raise ValueError("at most 200 characters")
        return text
    raw = _SPECIAL[column](text) if column in _SPECIAL else text
    field = _FIELD_OF_COLUMN.get(column, column)
    try:
        return msgspec.convert(raw, _INTAKE_TYPES[field], strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None


# ---- reading --------------------------------------------------------------------------------------------------


def read_rows(text: str) -> tuple[list[Row], list[CellProblem]]:
    """Every row of the file, and every problem with it that needs no database."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    problems = _header_problems(header)
    if problems or header is None:
        return [], problems
    rows: list[Row] = []
    read: list[tuple[int, dict[str, Any]]] = []
    for line, cells in _records(reader):
        values, wrong = _cells(line, dict(zip(header, cells, strict=False)), len(cells) - len(header))
        read.append((line, values))
        row, more = (None, []) if wrong else _described(line, values)
        problems += [*wrong, *more]
        rows += [row] if row is not None else []
    problems.extend(_duplicates(read))
    if len(read) > MAX_LOTS:
        problems.append(CellProblem(1, "", f"a sale has at most {MAX_LOTS} lots; the file has {len(read)}"))
    return rows, sorted(problems, key=lambda problem: problem.line)


def _header_problems(header: list[str] | None) -> list[CellProblem]:
    if header is None:
        return [CellProblem(1, "", "the file is empty: its first line names the columns")]
    problems = [CellProblem(1, name, "not a column of the catalogue file") for name in header if name not in COLUMNS]
    problems += [CellProblem(1, name, "a column named twice") for name in set(header) if header.count(name) > 1]
    problems += [CellProblem(1, name, "a required column") for name in REQUIRED_COLUMNS if name not in header]
    return problems


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(the line a record starts on, its cells), skipping blank lines."""
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        if any(cell.strip() for cell in cells):
            yield line, cells


def _cells(line: int, cells: dict[str, str], extra: int) -> tuple[dict[str, Any], list[CellProblem]]:
    """The row's cells read (those that read well), and what is wrong with the others."""
    problems = [CellProblem(line, "", f"{extra} cell(s) more than the header has columns")] if extra > 0 else []
    values: dict[str, Any] = {}
    for column, raw in cells.items():
        text = raw.strip()
        if not text:
            continue
        if len(text) > MAX_CELL_CHARS:
            problems.append(CellProblem(line, column, f"at most {MAX_CELL_CHARS} characters"))
            continue
        try:
            values[column] = cell_value(column, text)
        except ValueError as exc:
            problems.append(CellProblem(line, column, str(exc)))
    problems += [CellProblem(line, c, "required") for c in REQUIRED_COLUMNS if c not in values and c in cells]
    return values, problems


def _described(line: int, values: dict[str, Any]) -> tuple[Row | None, list[CellProblem]]:
    given = {column: value for column, value in values.items() if column in STONE_COLUMNS}
    stone, problems = None, []
    if "stone" not in values:
        if "consignor" not in values:
            problems.append(CellProblem(line, "consignor", "a stone taken in now needs its consignor"))
        stone, wrong = _intake(line, values)
        problems += wrong
    if problems:
        return None, problems
    row = Row(line, values["lot"], values["opening"], values.get("title"), values.get("stone"),
              values.get("consignor"), stone, given)  # fmt: skip
    return row, []


def _intake(line: int, values: dict[str, Any]) -> tuple[StoneIntake | None, list[CellProblem]]:
    fields = {_FIELD_OF_COLUMN.get(c, c): v for c, v in values.items() if c in STONE_COLUMNS}
    try:
        stone = msgspec.convert(fields, StoneIntake)
    except msgspec.ValidationError as exc:  # a required column left blank
        missing = re.search(r"`(\w+)`", str(exc))
        column = _COLUMN_OF_FIELD.get(missing.group(1), missing.group(1)) if missing else ""
        return None, [CellProblem(line, column, "required for a stone taken in now")]
    return stone, [CellProblem(line, _column(p), p.message) for p in stone_problems(stone)]


def _column(problem: Problem) -> str:
    return _COLUMN_OF_FIELD.get(problem.field, problem.field)


def _duplicates(read: list[tuple[int, dict[str, Any]]]) -> list[CellProblem]:
    """A lot number, or a stone, on two lines: the second is named (whatever else is wrong with either)."""
    problems: list[CellProblem] = []
    for column in ("lot", "stone"):
        first: dict[int, int] = {}
        for line, values in read:
            value = values.get(column)
            if value is None:
                continue
            if value in first:
                problems.append(CellProblem(line, column, f"{column} {value} is on line {first[value]} too"))
            else:
                first[value] = line
    return problems


# ---- importing ----------------------------------------------------------------------------------------------


def decode(content: bytes) -> str:
    """The file's text: UTF-8, with or without the byte-order mark spreadsheets write."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogueRefused([CellProblem(1, "", f"not UTF-8 text (byte {exc.start})")]) from exc


async def import_catalogue(pg: asyncpg.Pool, sale_id: int, content: bytes, by: Account, now_ms: int) -> Imported:
    """The file becomes the draft's lots, its new stones taken in: all of it, or nothing and every problem. The
    rows that read well are checked against the database even when others did not, so that one refusal names
    everything wrong; whatever that wrote is rolled back with the refusal."""
    rows, problems = read_rows(decode(content))
    async with pg.acquire() as conn, conn.transaction():
        terms = await locked_draft(conn, sale_id)
        await conn.execute("DELETE FROM draft_lots WHERE sale_id = $1", sale_id)
        taken, found = await _write_rows(conn, sale_id, terms.currency, rows, not problems, by, now_ms)
        problems = sorted([*problems, *found], key=lambda problem: problem.line)
        if problems:
            raise CatalogueRefused(problems)  # the transaction is rolled back: nothing was written
        await vetting.audit(conn, by, "catalogue_imported", f"sale:{sale_id}", "",
                            {"lots": len(rows), "stones_taken_in": taken})  # fmt: skip
    return Imported(sale_id, len(rows), taken)


async def _write_rows(
    conn: asyncpg.Connection, sale_id: int, currency: str, rows: list[Row], clean: bool, by: Account, now_ms: int
) -> tuple[list[int], list[CellProblem]]:
    """Each row's stone found or taken in, and while all is `clean` its lot written; the stones taken in, and
    every problem."""
    taken: list[int] = []
    problems: list[CellProblem] = []
    for row in rows:
        stone, wrong = await _stone_of(conn, row, sale_id, currency, by, now_ms)
        if stone is not None:
            wrong += [CellProblem(row.line, "opening", p.message) for p in lot_problems(stone, row.opening, "")]
            wrong += _disagreements(row, stone)
            taken += [stone.id] if row.stone_id is None else []
        problems += wrong
        if stone is not None and clean and not problems:
            await insert_lot(conn, sale_id, row.lot, stone, row.opening, row.title)
    return taken, problems


async def _stone_of(
    conn: asyncpg.Connection, row: Row, sale_id: int, currency: str, by: Account, now_ms: int
) -> tuple[StoneRow | None, list[CellProblem]]:
    """The row's stone: the one it names, if it may go into the sale, or the one it describes, taken in."""
    if row.stone_id is None:
        return await _taken_in(conn, row, currency, by, now_ms)
    try:
        stone = await available_stone(conn, row.stone_id, sale_id, currency)
    except HouseError as exc:
        return None, [CellProblem(row.line, "stone", str(exc))]
    if row.consignor is not None and row.consignor != stone.consignor_id:
        return None, [CellProblem(row.line, "consignor", f"stone {stone.id} is consignor {stone.consignor_id}'s")]
    return stone, []


async def _taken_in(
    conn: asyncpg.Connection, row: Row, currency: str, by: Account, now_ms: int
) -> tuple[StoneRow | None, list[CellProblem]]:
    assert row.stone is not None and row.consignor is not None
    agreement = await agreement_of(conn, row.consignor)
    if agreement is None or agreement.currency != currency:
        why = "has no consignment agreement" if agreement is None else f"agreed in {agreement.currency}"
        exists = await conn.fetchval("SELECT 1 FROM consignors WHERE id = $1", row.consignor)
        message = f"consignor {row.consignor} {why}, the sale is in {currency}" if exists else "no such consignor"
        return None, [CellProblem(row.line, "consignor", message)]
    stone_id = await insert_stone(conn, row.consignor, row.stone, by, now_ms)
    return await stone_row(conn, stone_id), []


def _disagreements(row: Row, stone: StoneRow) -> list[CellProblem]:
    """The stone columns of a row naming a stone that say something else than the stone as taken in."""
    if row.stone_id is None:
        return []
    recorded = stone_cells(stone.stone)
    return [
        CellProblem(row.line, column, f"stone {stone.id} says {recorded[column]!r}: change the stone, not the file")
        for column, value in row.given.items()
        if value != (cell_value(column, recorded[column]) if recorded[column] else None)
    ]


# ---- exporting ----------------------------------------------------------------------------------------------


def stone_cells(stone: StoneIntake) -> dict[str, str]:
    """The stone's columns, as the file writes them ("" for what it lacks)."""
    fields = msgspec.to_builtins(stone)
    cells = {column: _text(fields.get(_FIELD_OF_COLUMN.get(column, column))) for column in STONE_COLUMNS}
    cells["carat"] = millimetres(stone.carat_points)  # two decimals, like a length
    cells["measurements"] = stone.measurements.text().removesuffix(" mm") if stone.measurements else ""
    cells["treatments"] = "; ".join(stone.treatments)
    return cells


def _text(value: Any) -> str:
    return "" if value is None else str(value)


async def export_catalogue(pg: asyncpg.Pool, sale_id: int) -> str:
    """The sale's lots (a draft's, or a published sale's as it was built) as the catalogue file."""
    if not await pg.fetchval("SELECT 1 FROM sale_drafts WHERE id = $1", sale_id):
        raise HouseMissing("sale", f"no sale {sale_id} was built by the house")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for lot in await draft_lots(pg, sale_id):
        stone = await stone_row(pg, lot.stone_id)
        assert stone is not None
        lot_cells = [str(lot.lot), str(lot.stone_id), str(lot.consignor_id), lot.title, str(lot.opening)]
        cells = stone_cells(stone.stone)
        writer.writerow([*lot_cells, *(cells[column] for column in STONE_COLUMNS)])
    return out.getvalue()


def catalogue_text(rows: list[dict[str, str]]) -> str:
    """Rows (column -> cell) as a catalogue file, in the file's column order: for whoever writes one (the demo)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
