"""Sales, lots, consignors and bidders: the catalogue kept in PostgreSQL.

A sale is validated as a whole before anything is written (`sale_problems`), then inserted in one
transaction; `terms_for` derives each lot's bidding terms, which the store loads into Redis. The hidden
reserve never leaves this module in a listing meant for buyers.

A sale is created only in a format the house runs end to end (`RUNNABLE_FORMATS`): one the engine decides
and the store, the scheduler and the gateway drive. Any other is refused where the sale is created, naming the
field, instead of failing inside `decide` on every tick of the scheduler once its lots are loaded. A tender is
created with its key, which only auction.tender.creation makes (its sale settings name the officers who hold
the key's shares); `insert_sale_in` refuses one made any other way, which could take no bid.

    SaleRefused              a sale the catalogue won't create as given: `field` names what (HTTP: 422, that field)
     +-- UnsupportedFormat   its format is not one the house runs yet (field `format`)
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import asyncpg
import msgspec

from auction import identity
from auction.diamonds import Diamond, Money, ShortText, diamond_problem
from auction.engine.ladder import DIAMOND_LADDER_USD, Ladder
from auction.engine.lifecycle import Format
from auction.engine.lot import LotTerms, SoftClose
from auction.engine.premium import CHRISTIES_2023_USD, PremiumSchedule
from auction.engine.state import LiveTerms, TenderTerms

Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]

# The formats a sale may be created in: those run end to end. A live sale's lots are run from the rostrum (the
# gateway takes the auctioneer's and the clerk's commands, auction/gateway/rostrum.py; the store holds the rostrum).
# Only a format the engine decides may be listed (tests/test_catalog.py holds it so).
# A tender's lots are opened and closed by the scheduler, its bids sealed by the gateway, revealed by its officers
# (auction/tender/).
RUNNABLE_FORMATS: frozenset[Format] = frozenset({"timed", "live", "tender"})
MAX_MISSED_BID_WINDOW_MS = 60_000  # a "possible missed bid" a minute after the hammer would be a new bid
MAX_OFFICERS = 20  # a tender's key holders: a board of a few in practice
DAY_MS = 86_400_000
# What a sale's creator sends is bounded (issue 12, finding 19): ids as JavaScript keeps them, instants before
# the year 10000, a lot's free-form details a few dozen short fields.
RowId = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
Instant = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799_999)]
DetailName = Annotated[str, msgspec.Meta(max_length=64)]
DetailText = Annotated[str, msgspec.Meta(max_length=2_000)]


class SaleRefused(Exception):
    """A sale the catalogue won't create as given; `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedFormat(SaleRefused):
    """The sale's format is one the house does not run yet."""

    def __init__(self, sale_format: str) -> None:
        super().__init__("format", _format_problem(sale_format))


class TenderSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How a sealed-bid tender runs (DOMAIN.md "Sealed-bid tenders"): the viewing period from the sale's start to
    `bids_from_ms`, the bid window from then to each lot's close; below the reserve, the consignor may accept the
    top bid for `acceptance_window_ms` (default 24 h). The tender's key is split among `officers` (operator
    accounts, each with an officer key registered), any `threshold` of whom rebuild it after the close."""

    bids_from_ms: Annotated[int, msgspec.Meta(ge=0, le=2**53)] = 0
    acceptance_window_ms: Annotated[int, msgspec.Meta(ge=60_000, le=30 * DAY_MS)] = DAY_MS
    threshold: Annotated[int, msgspec.Meta(ge=2, le=MAX_OFFICERS)] = 2
    officers: Annotated[tuple[RowId, ...], msgspec.Meta(max_length=MAX_OFFICERS)] = ()


class SaleSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-sale rules; every default is DOMAIN.md's. `live` is how a live sale runs (online bids taken at once or
    by the clerk, the missed-bid window, house bids); `tender` how a tender does; other formats ignore them."""

    ladder: Ladder = DIAMOND_LADDER_USD
    soft_close: SoftClose = SoftClose()
    premium: PremiumSchedule = CHRISTIES_2023_USD
    stagger_ms: Annotated[int, msgspec.Meta(ge=0, le=DAY_MS)] = 60_000  # lots close one after another, this far apart
    live: LiveTerms = LiveTerms()
    tender: TenderSettings = TenderSettings()


class NewLot(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    lot: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    title: ShortText
    consignor_id: RowId
    diamond: Diamond
    low_estimate: Money
    high_estimate: Money
    reserve: Money
    opening: Annotated[int, msgspec.Meta(ge=1, le=10**13)]
    details: Annotated[dict[DetailName, DetailText], msgspec.Meta(max_length=50)] = {}
    stone_id: RowId | None = None  # the consigned stone it is (auction/consignments.py), when the house built it


class NewSale(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: RowId
    name: ShortText
    currency: Currency
    starts_at_ms: Instant
    first_close_ms: Instant  # lot 1 closes here; lot k closes (k-1) * stagger later
    lots: Annotated[list[NewLot], msgspec.Meta(max_length=100_000)]
    format: Format = "timed"
    settings: SaleSettings = SaleSettings()


class LotListing(msgspec.Struct, frozen=True):
    """A lot as the catalogue shows it to anyone: every diamond field, estimates, no reserve; what else a buyer
    prices on (treatments, origin, provenance, ...) in `details`; its photos, as the addresses they are served at."""

    sale: int
    lot: int
    title: str
    consignor_id: int | None  # None where the public reads it (who sells what is the house's): gateway/http.py
    diamond: Diamond
    low_estimate: int
    high_estimate: int
    opening: int
    start_ms: int
    end_ms: int
    details: dict[str, str] = {}
    photos: list[str] = []


class SaleSummary(msgspec.Struct, frozen=True):
    id: int
    name: str
    currency: str
    format: str
    starts_at_ms: int
    lots: int


class Bidder(msgspec.Struct, frozen=True):
    id: int
    name: str
    company: str


def sale_problems(sale: NewSale) -> list[str]:
    """Everything wrong with a sale before it is built, each naming the lot and field."""
    problems = []
    if sale.format not in RUNNABLE_FORMATS:
        problems.append(f"format: {_format_problem(sale.format)}")
    numbers = [lot.lot for lot in sale.lots]
    if len(set(numbers)) != len(numbers):
        problems.append("lots: lot numbers must be unique")
    if sale.first_close_ms <= sale.starts_at_ms:
        problems.append("first_close_ms: must be after starts_at_ms")
    if not 0 <= sale.settings.live.missed_bid_window_ms <= MAX_MISSED_BID_WINDOW_MS:
        problems.append(f"settings.live.missed_bid_window_ms: must be between 0 and {MAX_MISSED_BID_WINDOW_MS}")
    if sale.format == "tender":
        problems += tender_problems(sale)
    for lot in sale.lots:
        if lot.reserve > lot.low_estimate:
            problems.append(f"lots[{lot.lot}].reserve: may not exceed the low estimate")
        if lot.low_estimate > lot.high_estimate:
            problems.append(f"lots[{lot.lot}].low_estimate: above the high estimate")
        stone = diamond_problem(lot.diamond)
        if stone:
            problems.append(f"lots[{lot.lot}].diamond: {stone}")
    return problems


def tender_problems(sale: NewSale) -> list[str]:
    """What is wrong with a tender's own settings; who the officers are is checked where the key is made."""
    tender, problems = sale.settings.tender, []
    if not sale.starts_at_ms <= tender.bids_from_ms < sale.first_close_ms:
        problems.append("settings.tender.bids_from_ms: the bid window opens after the viewing starts "
                        "(starts_at_ms) and before the first lot closes (first_close_ms)")  # fmt: skip
    if len(set(tender.officers)) != len(tender.officers):
        problems.append("settings.tender.officers: each officer holds one share: name each once")
    if tender.threshold > len(tender.officers):
        problems.append(f"settings.tender.threshold: {tender.threshold} of {len(tender.officers)} officers: "
                        "the threshold can't exceed the officers named")  # fmt: skip
    return problems


def lot_window(sale: NewSale, index: int) -> tuple[int, int]:
    """(start, end) of the index-th lot in catalogue order: all open together, closes staggered."""
    return sale.starts_at_ms, sale.first_close_ms + index * sale.settings.stagger_ms


def terms_for(sale: NewSale) -> list[LotTerms]:
    terms = []
    for index, lot in enumerate(sorted(sale.lots, key=lambda lot: lot.lot)):
        start, end = lot_window(sale, index)
        terms.append(
            LotTerms(
                sale=sale.id,
                lot=lot.lot,
                opening=lot.opening,
                reserve=lot.reserve,
                start_ms=start,
                end_ms=end,
                ladder=sale.settings.ladder,
                soft_close=sale.settings.soft_close,
                consignor=lot.consignor_id,
                format=sale.format,
                premium=sale.settings.premium,
                live=sale.settings.live,
                tender=tender_terms(sale.format, sale.settings, lot.diamond.carat_points),
            )
        )
    return terms


def tender_terms(sale_format: str, settings: SaleSettings, carat_points: int) -> TenderTerms:
    """A lot's tender terms: its sale's windows and its own weight (for bids per carat); other formats' lots
    have the engine's defaults, unused."""
    if sale_format != "tender":
        return TenderTerms()
    tender = settings.tender
    return TenderTerms(tender.bids_from_ms, tender.acceptance_window_ms, carat_points)


_SETTINGS_JSON = msgspec.json.Encoder()

_INSERT_LOT = """
INSERT INTO lots (sale_id, lot_no, title, consignor_id, carat_points, colour, fancy_colour, clarity, cut, polish,
    symmetry, fluorescence, shape, measurements, lab, report_number, report_override_reason, low_estimate,
    high_estimate, reserve, opening_price, start_ms, end_ms, details, stone_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
    $24::jsonb, $25)
"""


def _lot_row(sale: NewSale, lot: NewLot, window: tuple[int, int]) -> tuple[Any, ...]:
    d = lot.diamond
    extra = {**lot.details, "colour_range": d.colour_range, "clarity_range": d.clarity_range}
    return (
        sale.id, lot.lot, lot.title, lot.consignor_id, d.carat_points, d.colour, d.fancy_colour, d.clarity, d.cut,
        d.polish, d.symmetry, d.fluorescence, d.shape, d.measurements, d.lab, d.report_number,
        d.report_override_reason, lot.low_estimate, lot.high_estimate, lot.reserve, lot.opening, *window,
        _SETTINGS_JSON.encode({k: v for k, v in extra.items() if v is not None}).decode(), lot.stone_id,
    )  # fmt: skip


def _format_problem(sale_format: str) -> str:
    runnable = ", ".join(sorted(RUNNABLE_FORMATS))
    return f"sales of format {sale_format!r} can't be run yet (the formats that can: {runnable})"


async def insert_sale(pg: asyncpg.Pool, sale: NewSale) -> None:
    """Writes the sale and its lots in one transaction. Call sale_problems first. Raises UnsupportedFormat, and
    writes nothing, for a sale whose format the house does not run."""
    async with pg.acquire() as conn, conn.transaction():
        await insert_sale_in(conn, sale)


async def insert_sale_in(conn: asyncpg.Connection, sale: NewSale, *, tender_keyed: bool = False) -> None:
    """`insert_sale` in the caller's transaction (publishing a sale the house built writes more with it). A tender
    only with `tender_keyed`, which auction.tender.creation sets as it writes the tender's key in the transaction."""
    if sale.format not in RUNNABLE_FORMATS:
        raise UnsupportedFormat(sale.format)
    if sale.format == "tender" and not tender_keyed:
        raise SaleRefused("format", "a tender is created with its key: POST /api/tenders or `auction tender create`")
    ordered = sorted(sale.lots, key=lambda lot: lot.lot)
    await conn.execute(
        "INSERT INTO sales (id, name, currency, format, starts_at_ms, settings) VALUES ($1,$2,$3,$4,$5,$6::jsonb)",
        sale.id,
        sale.name,
        sale.currency,
        sale.format,
        sale.starts_at_ms,
        _SETTINGS_JSON.encode(sale.settings).decode(),
    )
    rows = [_lot_row(sale, lot, lot_window(sale, i)) for i, lot in enumerate(ordered)]
    await conn.executemany(_INSERT_LOT, rows)


_SALE_SUMMARIES = (
    "SELECT s.id, s.name, s.currency, s.format, s.starts_at_ms, count(l.lot_no) AS lots "
    "FROM sales s LEFT JOIN lots l ON l.sale_id = s.id WHERE $1::bigint IS NULL OR s.id = $1 "
    "GROUP BY s.id ORDER BY s.starts_at_ms DESC, s.id"
)


async def list_sales(pg: asyncpg.Pool) -> list[SaleSummary]:
    return [SaleSummary(**dict(row)) for row in await pg.fetch(_SALE_SUMMARIES, None)]


async def sale_summary(pg: asyncpg.Pool, sale_id: int) -> SaleSummary | None:
    row = await pg.fetchrow(_SALE_SUMMARIES, sale_id)
    return SaleSummary(**dict(row)) if row else None


async def sale_settings(pg: asyncpg.Pool, sale_id: int) -> SaleSettings | None:
    raw = await pg.fetchval("SELECT settings::text FROM sales WHERE id = $1", sale_id)
    return msgspec.json.decode(raw, type=SaleSettings) if raw else None


_DIAMOND_COLUMNS = (
    "carat_points, shape, colour, fancy_colour, clarity, cut, polish, symmetry, fluorescence, measurements, lab, "
    "report_number, report_override_reason"
)


def _listing(row: asyncpg.Record) -> LotListing:
    extra: dict[str, str] = msgspec.json.decode(row["details"])
    fields = {name.strip(): row[name.strip()] for name in _DIAMOND_COLUMNS.split(",")}
    diamond = Diamond(
        **{k: v for k, v in fields.items() if v is not None},
        colour_range=extra.get("colour_range"),
        clarity_range=extra.get("clarity_range"),
    )
    return LotListing(
        sale=row["sale_id"],
        lot=row["lot_no"],
        title=row["title"],
        consignor_id=row["consignor_id"],
        diamond=diamond,
        low_estimate=row["low_estimate"],
        high_estimate=row["high_estimate"],
        opening=row["opening_price"],
        start_ms=row["start_ms"],
        end_ms=row["end_ms"],
        details={k: v for k, v in extra.items() if k not in ("colour_range", "clarity_range")},
        photos=[f"/api/sales/{row['sale_id']}/lots/{row['lot_no']}/photos/{photo}" for photo in row["photos"]],
    )


async def lot_listings(pg: asyncpg.Pool, sale_id: int, lot_no: int | None = None) -> list[LotListing]:
    rows = await pg.fetch(
        f"SELECT sale_id, lot_no, title, consignor_id, {_DIAMOND_COLUMNS}, low_estimate, high_estimate, "
        "opening_price, start_ms, end_ms, details::text AS details, "
        "array(SELECT p.id FROM stone_photos p WHERE p.stone_id = lots.stone_id ORDER BY p.id) AS photos FROM lots "
        "WHERE sale_id = $1 AND ($2::int IS NULL OR lot_no = $2) ORDER BY lot_no",
        sale_id,
        lot_no,
    )
    return [_listing(row) for row in rows]


async def stored_terms(pg: asyncpg.Pool, sale_id: int) -> list[LotTerms]:
    """Each lot's bidding terms as the record holds them: enough to rebuild the lots from PostgreSQL alone."""
    sale = await pg.fetchrow("SELECT settings::text, format FROM sales WHERE id = $1", sale_id)
    if sale is None:
        return []
    settings, fmt = msgspec.json.decode(sale["settings"], type=SaleSettings), sale["format"]
    rows = await pg.fetch(
        "SELECT lot_no, opening_price, reserve, start_ms, end_ms, consignor_id, carat_points FROM lots "
        "WHERE sale_id = $1 ORDER BY lot_no",
        sale_id,
    )
    return [
        LotTerms(
            sale=sale_id,
            lot=r["lot_no"],
            opening=r["opening_price"],
            reserve=r["reserve"],
            start_ms=r["start_ms"],
            end_ms=r["end_ms"],
            ladder=settings.ladder,
            soft_close=settings.soft_close,
            consignor=r["consignor_id"],
            format=fmt,
            premium=settings.premium,
            live=settings.live,
            tender=tender_terms(fmt, settings, r["carat_points"]),
        )
        for r in rows
    ]


async def add_consignor(pg: asyncpg.Pool, name: str, company: str) -> int:
    consignor_id: int = await pg.fetchval(
        "INSERT INTO consignors (name, company) VALUES ($1, $2) RETURNING id", name, company
    )
    return consignor_id


async def add_bidder(pg: asyncpg.Pool, name: str, company: str) -> tuple[Bidder, str]:
    """An approved buyer company by fiat, without vetting, with one representative and an API token for them:
    for tests, fixtures and the load generator. Real buyers go through auction.vetting. `Bidder.id` is the
    company's id, which is the bidder the engine knows."""
    async with pg.acquire() as conn, conn.transaction():
        company_id = await conn.fetchval(
            "INSERT INTO companies (legal_name, registration_number, country, trade_licence, bank_reference, "
            "kp_declaration, aml_declaration, status, approved_until) "
            # a bank reference of its own: a shared one would tie every company made by fiat to the others
            "VALUES ($1, 'fiat-' || gen_random_uuid(), 'GB', 'fiat', 'fiat-' || gen_random_uuid(), true, true, "
            "'approved', now() + interval '365 days') RETURNING id",
            company,
        )
        email = f"{secrets.token_hex(8)}@fiat.invalid"
        account = await identity.create_account(conn, email, name, None, "buyer", company_id=company_id)
        issued = await identity.issue_token(conn, account.id, "api", name="fiat")
    return Bidder(company_id, name, company), issued.token


async def register(pg: asyncpg.Pool, sale_id: int, bidder_id: int, paddle: int, limit: int | None = None) -> None:
    """An approved registration of company `bidder_id` by fiat (no deposit; no limit unless given). The engine
    learns of it only when the caller then runs auction.vetting.publish_standing, as vetting does itself."""
    await pg.execute(
        "INSERT INTO registrations (sale_id, company_id, paddle, status, bid_limit, decided_at) "
        "VALUES ($1, $2, $3, 'approved', $4, now())",
        sale_id,
        bidder_id,
        paddle,
        limit,
    )


async def company_with_paddle(pg: asyncpg.Pool, sale_id: int, paddle: int) -> int | None:
    """The company an approved registration gave `paddle` in the sale (the bidder a clerk's floor, phone or
    commission bid is for); None if nobody holds it."""
    company: int | None = await pg.fetchval(
        "SELECT company_id FROM registrations WHERE sale_id = $1 AND paddle = $2 AND status = 'approved'",
        sale_id,
        paddle,
    )
    return company


async def paddle_of(pg: asyncpg.Pool, sale_id: int, company_id: int) -> int | None:
    """The paddle of a company in a sale, once its registration is approved."""
    paddle: int | None = await pg.fetchval(
        "SELECT paddle FROM registrations WHERE sale_id = $1 AND company_id = $2 AND status = 'approved'",
        sale_id,
        company_id,
    )
    return paddle


async def relist_lot(
    conn: asyncpg.Connection, *, from_sale: int, from_lot: int, to_sale: int, reserve: int, opening: int
) -> int:
    """Offer a stone of an earlier sale again, as a new lot of `to_sale`: the same diamond, consignor, title,
    estimates and details (noting where it came from), with a new reserve and opening. It is numbered after the
    sale's last lot, opens with the sale and closes one stagger after its last lot. Returns the new lot number.

    Call inside a transaction: the sale's row is locked, so two relistings never take the same number. Load the
    new lot into a running store with `stored_terms` (it is not in any `NewSale`)."""
    sale = await conn.fetchrow(
        "SELECT starts_at_ms, settings::text AS settings FROM sales WHERE id = $1 FOR UPDATE", to_sale
    )
    if sale is None:
        raise LookupError(f"no sale {to_sale}")
    stagger = msgspec.json.decode(sale["settings"], type=SaleSettings).stagger_ms
    last = await conn.fetchrow(
        "SELECT coalesce(max(lot_no), 0) AS lot_no, max(end_ms) AS end_ms FROM lots WHERE sale_id = $1", to_sale
    )
    lot_no: int = last["lot_no"] + 1
    end_ms = (last["end_ms"] or sale["starts_at_ms"]) + max(stagger, 1)
    inserted: int | None = await conn.fetchval(
        f"INSERT INTO lots (sale_id, lot_no, title, consignor_id, {_DIAMOND_COLUMNS}, low_estimate, high_estimate, "
        "reserve, opening_price, start_ms, end_ms, details, stone_id) "
        f"SELECT $3, $4, title, consignor_id, {_DIAMOND_COLUMNS}, low_estimate, high_estimate, $5, $6, $7, $8, "
        "details || jsonb_build_object('relisted_from', concat(sale_id, '/', lot_no)), stone_id "
        "FROM lots WHERE sale_id = $1 AND lot_no = $2 RETURNING lot_no",
        from_sale,
        from_lot,
        to_sale,
        lot_no,
        reserve,
        opening,
        sale["starts_at_ms"],
        end_ms,
    )
    if inserted is None:
        raise LookupError(f"sale {from_sale} has no lot {from_lot}")
    return inserted
