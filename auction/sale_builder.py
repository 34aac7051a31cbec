"""Building a sale: a draft the house edits freely (its terms, and its lots made of consigned stones), then
publishes, which writes it into the catalogue (auction.catalog) and loads it into the engine.

    create_draft -> set_terms / put_lot / remove_lot / order_lots / (catalogue_file.import_catalogue) -> publish

A draft is the house's alone: the public catalogue, registrations and the engine know a sale only once it is
published. Its terms (`SaleTerms`) are every setting a sale has, each bounded: the format (timed, live or tender:
catalog.RUNNABLE_FORMATS), the schedule, the increment ladder, the premium schedule, soft close and stagger for a
timed sale, the live settings for a live one, and a tender's (catalog.TenderSettings: when bids open after the
viewing, the consignor's acceptance window, the officers who will hold its key's shares and how many of them open
it). A lot is a consigned stone
(auction/consignments.py) at a number, with an opening price no higher than its low estimate; its estimates and
reserve are the stone's, as its consignor agreed them. A stone is in at most one sale at a time: not in another
draft, nor a lot of a published sale unless that lot was withdrawn.

Publishing checks the whole sale again (catalog.sale_problems, and that its first lot closes in the future),
writes the sale and its lots with the draft marked published in one transaction, then loads the lots into the
engine (`LotStore.create_lots`) and publishes the standings of the sale's registrations, as vetting does. Both are
idempotent, so publishing a published sale again only loads it again (after a crash between the two, say).
Every change is on the audit log.

A tender is published through auction.tender.creation, in the same transaction: its key is made in memory then,
split k of n among its officers and each share sealed to the officer's own key; the private key is never stored.
Every officer must be an active operator with an officer key registered, which the draft's problems say before
publishing is tried. A tender's lot is bid on per carat or in total, so its stone's weight is part of the lot;
rough travels with its Kimberley Process certificate, which intake requires (auction/consignments.py).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

import asyncpg
import msgspec

from auction import catalog, vetting
from auction.catalog import (
    MAX_MISSED_BID_WINDOW_MS,
    RUNNABLE_FORMATS,
    Currency,
    NewLot,
    NewSale,
    SaleSettings,
    TenderSettings,
)
from auction.consignments import StoneRow, default_title, details_of, diamond_of, stone_row
from auction.diamonds import Money
from auction.engine.ladder import DIAMOND_LADDER_USD, Band, Ladder, ladder_problem
from auction.engine.lifecycle import Format
from auction.engine.premium import BASIS_POINTS, CHRISTIES_2023_USD, PremiumBand, PremiumSchedule
from auction.engine.state import LiveTerms, SoftClose
from auction.house_errors import HouseConflict, HouseInvalid, HouseMissing, Problem, refuse_if
from auction.identity import OPERATOR_ROLES, Account
from auction.store import LotStore
from auction.tender import records
from auction.tender.creation import create_tender_in
from auction.tender.errors import TenderRefused

# The formats a draft may be built in: every one the catalogue runs (a tender gets its key as it is published).
BUILT_FORMATS: frozenset[Format] = RUNNABLE_FORMATS
MAX_LOTS = 5_000  # a sale's lots; the biggest house catalogues run to a few thousand
HOUR_MS = 3_600_000
Epoch = Annotated[int, msgspec.Meta(ge=0, le=2**53)]  # milliseconds since the epoch
SaleId = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
LotNo = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Opening = Annotated[int, msgspec.Meta(ge=1, le=10**13)]
Note = Annotated[str, msgspec.Meta(max_length=2000)]


class LadderBand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    starts_at: Money
    increment: Annotated[int, msgspec.Meta(ge=1, le=10**12)]


class PremiumRate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    starts_at: Money
    rate_bp: Annotated[int, msgspec.Meta(ge=0, le=BASIS_POINTS)]


class SoftCloseTerms(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """DOMAIN.md's default: a bid in the last 2 minutes moves the end to 2 minutes after it; no cap."""

    window_ms: Annotated[int, msgspec.Meta(ge=0, le=HOUR_MS)] = 120_000
    extension_ms: Annotated[int, msgspec.Meta(ge=0, le=HOUR_MS)] = 120_000
    cap_ms: Annotated[int, msgspec.Meta(ge=0, le=24 * HOUR_MS)] | None = None


class LiveSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    auto_accept: bool = True
    missed_bid_window_ms: Annotated[int, msgspec.Meta(ge=0, le=MAX_MISSED_BID_WINDOW_MS)] = 1_500
    house_bids: bool = False


class SaleTerms(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything about a sale but its lots. A timed sale's lots open at `starts_at_ms`; the first (by number)
    closes at `first_close_ms` and each next one `stagger_ms` later. No ladder: DOMAIN.md's; no premium:
    Christie's 2023 schedule. A tender's viewing runs from `starts_at_ms` to `tender.bids_from_ms`, its bid window
    from then to each lot's close."""

    name: Name
    currency: Currency
    starts_at_ms: Epoch
    first_close_ms: Epoch
    format: Format = "timed"
    ladder: Annotated[list[LadderBand], msgspec.Meta(max_length=40)] | None = None
    premium: Annotated[list[PremiumRate], msgspec.Meta(max_length=10)] | None = None
    soft_close: SoftCloseTerms = SoftCloseTerms()
    stagger_ms: Annotated[int, msgspec.Meta(ge=0, le=HOUR_MS)] = 60_000
    live: LiveSettings = LiveSettings()
    tender: TenderSettings | None = None  # a tender's, and only a tender's


class NewDraft(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    terms: SaleTerms
    id: SaleId | None = None  # the house's own number for the sale; else the next free one
    reason: Note = ""


class LotBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    stone: Annotated[int, msgspec.Meta(ge=1, le=2**53)]
    opening: Opening
    title: Title | None = None  # default: the stone's (consignments.default_title)


class LotOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The draft's lot numbers in their new order; they are numbered 1, 2, 3, ... in it."""

    lots: Annotated[list[LotNo], msgspec.Meta(max_length=MAX_LOTS)]


class DraftLot(msgspec.Struct, frozen=True):
    lot: int
    stone_id: int
    consignor_id: int
    title: str
    opening: int
    low_estimate: int
    high_estimate: int
    reserve: int


class DraftView(msgspec.Struct, frozen=True):
    id: int
    status: str  # draft or published
    terms: SaleTerms
    lots: list[DraftLot]
    published_ms: int | None
    problems: list[Problem]  # what publishing it now would refuse (empty once published)


# ---- the terms ----------------------------------------------------------------------------------------------


def terms_problems(terms: SaleTerms) -> list[Problem]:
    problems = []
    if terms.format not in BUILT_FORMATS:
        built = ", ".join(sorted(BUILT_FORMATS))
        problems.append(Problem("format", f"a {terms.format} sale is not built here (the formats that are: {built})"))
    if terms.first_close_ms <= terms.starts_at_ms:
        problems.append(Problem("first_close_ms", "the first lot closes after the sale starts"))
    if terms.ladder is not None:
        wrong = ladder_problem(tuple(Band(b.starts_at, b.increment) for b in terms.ladder))
        if wrong:
            problems.append(Problem("ladder", wrong))
    if terms.premium is not None:
        problems.extend(_premium_problems(terms.premium))
    problems.extend(_tender_problems(terms))
    return problems


def _premium_problems(rates: list[PremiumRate]) -> list[Problem]:
    if not rates or rates[0].starts_at != 0:
        return [Problem("premium", "a premium schedule starts with a band at 0")]
    if any(a.starts_at >= b.starts_at for a, b in pairwise(rates)):
        return [Problem("premium", "bands start at strictly ascending amounts")]
    return []


def _tender_problems(terms: SaleTerms) -> list[Problem]:
    tender = terms.tender
    if terms.format != "tender":
        return [] if tender is None else [Problem("tender", "a tender's settings are for a tender sale only")]
    if tender is None:
        return [Problem("tender", "a tender names when bids open, its officers and how many of them open it")]
    problems = []
    if not terms.starts_at_ms <= tender.bids_from_ms < terms.first_close_ms:
        problems.append(Problem("tender.bids_from_ms", "bids open after the viewing starts and before the close"))
    if len(set(tender.officers)) != len(tender.officers):
        problems.append(Problem("tender.officers", "each officer holds one share: name each once"))
    if tender.threshold > len(tender.officers):
        problems.append(Problem("tender.threshold", f"{tender.threshold} of {len(tender.officers)} officers: "
                                "the threshold can't exceed the officers who hold shares"))  # fmt: skip
    return problems


def settings_of(terms: SaleTerms) -> SaleSettings:
    """The catalogue's settings for the terms (which terms_problems found nothing wrong with)."""
    ladder = Ladder(tuple(Band(b.starts_at, b.increment) for b in terms.ladder)) if terms.ladder else None
    premium = (
        PremiumSchedule(tuple(PremiumBand(r.starts_at, r.rate_bp) for r in terms.premium)) if terms.premium else None
    )
    soft = terms.soft_close
    return SaleSettings(
        ladder=ladder or DIAMOND_LADDER_USD,
        soft_close=SoftClose(soft.window_ms, soft.extension_ms, soft.cap_ms),
        premium=premium or CHRISTIES_2023_USD,
        stagger_ms=terms.stagger_ms,
        live=LiveTerms(terms.live.auto_accept, terms.live.missed_bid_window_ms, terms.live.house_bids),
        tender=terms.tender or TenderSettings(),
    )


# ---- drafts -------------------------------------------------------------------------------------------------

_TERMS = msgspec.json.Encoder()


async def create_draft(pg: asyncpg.Pool, new: NewDraft, by: Account) -> DraftView:
    refuse_if(terms_problems(new.terms))
    async with pg.acquire() as conn, conn.transaction():
        sale_id = new.id or await conn.fetchval("SELECT nextval('sale_draft_ids')")
        taken = await conn.fetchval(
            "SELECT 1 FROM sale_drafts WHERE id = $1 UNION ALL SELECT 1 FROM sales WHERE id = $1", sale_id
        )
        if taken:
            raise HouseConflict("id", f"sale {sale_id} exists already")
        await conn.execute(
            "INSERT INTO sale_drafts (id, terms, created_by) VALUES ($1, $2::jsonb, $3)",
            sale_id,
            _TERMS.encode(new.terms).decode(),
            by.id,
        )
        await vetting.audit(conn, by, "sale_drafted", f"sale:{sale_id}", new.reason, {"name": new.terms.name})
        return await draft_view(conn, sale_id)


async def set_terms(pg: asyncpg.Pool, sale_id: int, terms: SaleTerms, by: Account) -> DraftView:
    """Replace a draft's terms. Its lots stay; a currency change must suit their stones."""
    refuse_if(terms_problems(terms))
    async with pg.acquire() as conn, conn.transaction():
        await locked_draft(conn, sale_id)
        other = await conn.fetchval(
            "SELECT d.lot_no FROM draft_lots d JOIN consigned_stones s ON s.id = d.stone_id "
            "WHERE d.sale_id = $1 AND s.currency <> $2 ORDER BY 1 LIMIT 1",
            sale_id,
            terms.currency,
        )
        if other is not None:
            raise HouseConflict("currency", f"lot {other}'s stone is estimated in another currency")
        await conn.execute(
            "UPDATE sale_drafts SET terms = $2::jsonb WHERE id = $1", sale_id, _TERMS.encode(terms).decode()
        )
        await vetting.audit(conn, by, "sale_edited", f"sale:{sale_id}", "", {"terms": msgspec.to_builtins(terms)})
        return await draft_view(conn, sale_id)


async def locked_draft(conn: asyncpg.Connection, sale_id: int) -> SaleTerms:
    """The draft's terms, its row locked for the caller's transaction; refused once it is published."""
    row = await conn.fetchrow("SELECT status, terms::text AS terms FROM sale_drafts WHERE id = $1 FOR UPDATE", sale_id)
    if row is None:
        raise HouseMissing("sale", f"no sale {sale_id} is being built")
    if row["status"] != "draft":
        raise HouseConflict("sale", f"sale {sale_id} is published: its lots can only be withdrawn")
    return msgspec.json.decode(row["terms"], type=SaleTerms)


# ---- lots ---------------------------------------------------------------------------------------------------


async def put_lot(pg: asyncpg.Pool, sale_id: int, lot_no: int, body: LotBody, by: Account) -> DraftView:
    """Make `lot_no` of the draft the stone `body.stone` (replacing what was there)."""
    async with pg.acquire() as conn, conn.transaction():
        terms = await locked_draft(conn, sale_id)
        stone = await available_stone(conn, body.stone, sale_id, terms.currency)
        elsewhere = await conn.fetchval(
            "SELECT lot_no FROM draft_lots WHERE sale_id = $1 AND stone_id = $2 AND lot_no <> $3",
            sale_id,
            body.stone,
            lot_no,
        )
        if elsewhere is not None:
            raise HouseConflict("stone", f"stone {body.stone} is lot {elsewhere} of this sale already")
        refuse_if(lot_problems(stone, body.opening, "opening"))
        await conn.execute("DELETE FROM draft_lots WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no)
        await insert_lot(conn, sale_id, lot_no, stone, body.opening, body.title)
        await vetting.audit(conn, by, "lot_put", f"sale:{sale_id}", "",
                            {"lot": lot_no, "stone": body.stone, "opening": body.opening})  # fmt: skip
        return await draft_view(conn, sale_id)


async def remove_lot(pg: asyncpg.Pool, sale_id: int, lot_no: int, by: Account) -> DraftView:
    async with pg.acquire() as conn, conn.transaction():
        await locked_draft(conn, sale_id)
        stone = await conn.fetchval(
            "DELETE FROM draft_lots WHERE sale_id = $1 AND lot_no = $2 RETURNING stone_id", sale_id, lot_no
        )
        if stone is None:
            raise HouseMissing("lot", f"sale {sale_id} has no lot {lot_no}")
        await vetting.audit(conn, by, "lot_removed", f"sale:{sale_id}", "", {"lot": lot_no, "stone": stone})
        return await draft_view(conn, sale_id)


async def order_lots(pg: asyncpg.Pool, sale_id: int, order: LotOrder, by: Account) -> DraftView:
    """Number the draft's lots 1, 2, 3, ... in the order given, which names each of them once."""
    async with pg.acquire() as conn, conn.transaction():
        await locked_draft(conn, sale_id)
        rows = await conn.fetch("SELECT lot_no, stone_id, title, opening FROM draft_lots WHERE sale_id = $1", sale_id)
        by_number = {row["lot_no"]: row for row in rows}
        if sorted(order.lots) != sorted(by_number):
            raise HouseConflict("lots", f"name each of the sale's lots once: {sorted(by_number)}")
        await conn.execute("DELETE FROM draft_lots WHERE sale_id = $1", sale_id)
        await conn.executemany(
            "INSERT INTO draft_lots (sale_id, lot_no, stone_id, title, opening) VALUES ($1, $2, $3, $4, $5)",
            [(sale_id, new, by_number[old]["stone_id"], by_number[old]["title"], by_number[old]["opening"])
             for new, old in enumerate(order.lots, start=1)],
        )  # fmt: skip
        await vetting.audit(conn, by, "lots_ordered", f"sale:{sale_id}", "", {"order": order.lots})
        return await draft_view(conn, sale_id)


def lot_problems(stone: StoneRow, opening: int, field: str) -> list[Problem]:
    if opening > stone.stone.low_estimate:
        return [Problem(field, f"the opening price may not exceed the low estimate ({stone.stone.low_estimate})")]
    return []


async def available_stone(conn: asyncpg.Connection, stone_id: int, sale_id: int, currency: str) -> StoneRow:
    """The stone, locked, if it may be a lot of the draft `sale_id`: it exists, is estimated in the sale's
    currency, and is in no other sale (a draft, or a published lot not withdrawn)."""
    stone = await stone_row(conn, stone_id, lock=True)
    if stone is None:
        raise HouseMissing("stone", f"no stone {stone_id}")
    if stone.currency != currency:
        raise HouseConflict("stone", f"stone {stone_id} is estimated in {stone.currency}, the sale is in {currency}")
    place = await conn.fetchval(_ELSEWHERE, stone_id, sale_id)
    if place is not None:
        raise HouseConflict("stone", f"stone {stone_id} is in {place} already")
    return stone


_ELSEWHERE = (
    "SELECT 'draft ' || d.sale_id || ' lot ' || d.lot_no FROM draft_lots d JOIN sale_drafts s ON s.id = d.sale_id "
    "WHERE d.stone_id = $1 AND s.status = 'draft' AND d.sale_id <> $2 "
    "UNION ALL SELECT 'sale ' || l.sale_id || ' lot ' || l.lot_no FROM lots l WHERE l.stone_id = $1 "
    "AND NOT EXISTS (SELECT 1 FROM lot_withdrawals w WHERE w.sale_id = l.sale_id AND w.lot_no = l.lot_no) LIMIT 1"
)


async def insert_lot(
    conn: asyncpg.Connection, sale_id: int, lot_no: int, stone: StoneRow, opening: int, title: str | None
) -> None:
    await conn.execute(
        "INSERT INTO draft_lots (sale_id, lot_no, stone_id, title, opening) VALUES ($1, $2, $3, $4, $5)",
        sale_id,
        lot_no,
        stone.id,
        title or default_title(stone.stone),
        opening,
    )


# ---- reading a draft ----------------------------------------------------------------------------------------


async def draft_view(db: asyncpg.Connection | asyncpg.Pool, sale_id: int) -> DraftView:
    row = await db.fetchrow("SELECT status, terms::text AS terms, published_ms FROM sale_drafts WHERE id = $1", sale_id)
    if row is None:
        raise HouseMissing("sale", f"no sale {sale_id} is being built")
    terms = msgspec.json.decode(row["terms"], type=SaleTerms)
    lots = await draft_lots(db, sale_id)
    problems = [] if row["status"] == "published" else publish_problems(terms, lots, None)
    if row["status"] == "draft" and terms.tender is not None:
        problems += await officer_problems(db, terms.tender.officers)
    return DraftView(sale_id, row["status"], terms, lots, row["published_ms"], problems)


async def draft_lots(db: asyncpg.Connection | asyncpg.Pool, sale_id: int) -> list[DraftLot]:
    rows = await db.fetch(
        "SELECT d.lot_no, d.stone_id, s.consignor_id, d.title, d.opening, s.low_estimate, s.high_estimate, "
        "s.reserve FROM draft_lots d JOIN consigned_stones s ON s.id = d.stone_id WHERE d.sale_id = $1 "
        "ORDER BY d.lot_no",
        sale_id,
    )
    return [DraftLot(*row.values()) for row in rows]


async def list_drafts(pg: asyncpg.Pool, status: str | None = None) -> list[DraftView]:
    rows = await pg.fetch(
        "SELECT id FROM sale_drafts WHERE $1::text IS NULL OR status = $1 ORDER BY id DESC LIMIT 500", status
    )
    return [await draft_view(pg, row["id"]) for row in rows]


# ---- publishing ---------------------------------------------------------------------------------------------


def publish_problems(terms: SaleTerms, lots: list[DraftLot], now_ms: int | None) -> list[Problem]:
    """What stops the draft being published (as of `now_ms`, when given): its terms, no lots, a first close
    already past for a timed sale."""
    problems = terms_problems(terms)
    if not lots:
        problems.append(Problem("lots", "a sale has at least one lot"))
    if len(lots) > MAX_LOTS:
        problems.append(Problem("lots", f"a sale has at most {MAX_LOTS} lots"))
    if now_ms is not None and terms.format in ("timed", "tender") and terms.first_close_ms <= now_ms:
        problems.append(Problem("first_close_ms", "the first lot would close before the sale is published"))
    return problems


async def publish(pg: asyncpg.Pool, store: LotStore, sale_id: int, by: Account, now_ms: int) -> DraftView:
    """Publish the draft: the sale and its lots into the catalogue, then into the engine, with the standings of
    its registrations. Publishing a published sale loads it again and changes nothing else."""
    async with pg.acquire() as conn, conn.transaction():
        status = await conn.fetchval("SELECT status FROM sale_drafts WHERE id = $1 FOR UPDATE", sale_id)
        if status is None:
            raise HouseMissing("sale", f"no sale {sale_id} is being built")
        if status == "draft":
            await _write_sale(conn, sale_id, by, now_ms)
    await store.create_lots(await catalog.stored_terms(pg, sale_id))
    await vetting.resync(pg, store, sale_id)
    return await draft_view(pg, sale_id)


async def _write_sale(conn: asyncpg.Connection, sale_id: int, by: Account, now_ms: int) -> None:
    terms = msgspec.json.decode(
        await conn.fetchval("SELECT terms::text FROM sale_drafts WHERE id = $1", sale_id), type=SaleTerms
    )
    lots = await draft_lots(conn, sale_id)
    refuse_if(publish_problems(terms, lots, now_ms))
    sale = NewSale(
        id=sale_id, name=terms.name, currency=terms.currency, starts_at_ms=terms.starts_at_ms,
        first_close_ms=terms.first_close_ms, lots=[await _new_lot(conn, lot) for lot in lots], format=terms.format,
        settings=settings_of(terms),
    )  # fmt: skip
    refuse_if([Problem(*problem.split(": ", 1)) for problem in catalog.sale_problems(sale)])
    if await conn.fetchval("SELECT 1 FROM sales WHERE id = $1", sale_id):
        raise HouseConflict("sale", f"a sale {sale_id} is in the catalogue already")
    if sale.format == "tender":
        await _create_tender(conn, sale, by)
    else:
        await catalog.insert_sale_in(conn, sale)
    await conn.execute("UPDATE sale_drafts SET status = 'published', published_ms = $2 WHERE id = $1", sale_id, now_ms)
    await vetting.audit(conn, by, "sale_published", f"sale:{sale_id}", "", {"lots": len(lots)})


async def _new_lot(conn: asyncpg.Connection, lot: DraftLot) -> NewLot:
    stone = await stone_row(conn, lot.stone_id)
    assert stone is not None  # a foreign key
    return NewLot(
        lot=lot.lot, title=lot.title, consignor_id=stone.consignor_id, diamond=diamond_of(stone.stone),
        low_estimate=lot.low_estimate, high_estimate=lot.high_estimate, reserve=lot.reserve, opening=lot.opening,
        details=details_of(stone.stone), stone_id=stone.id,
    )  # fmt: skip


# ---- tenders ------------------------------------------------------------------------------------------------


async def officer_problems(db: asyncpg.Connection | asyncpg.Pool, officers: tuple[int, ...]) -> list[Problem]:
    """Each named officer who can't hold a share: not an active operator, or no officer key registered (the key
    their share is sealed to)."""
    rows = await db.fetch("SELECT id, role FROM accounts WHERE id = ANY($1::bigint[]) AND NOT disabled", list(officers))
    roles = {row["id"]: row["role"] for row in rows}
    keys = await records.officer_keys(db, officers)
    problems = []
    for index, officer in enumerate(officers):
        if roles.get(officer) not in OPERATOR_ROLES:
            problems.append(Problem(f"tender.officers[{index}]", f"account {officer} is not an active operator"))
        elif officer not in keys:
            problems.append(Problem(f"tender.officers[{index}]", f"account {officer} has no officer key registered "
                                    "(PUT /api/tender/officer-key or `auction tender keygen`)"))  # fmt: skip
    return problems


async def _create_tender(conn: asyncpg.Connection, sale: NewSale, by: Account) -> None:
    """The tender, its key made, split and sealed to its officers, in the publishing transaction; its refusals as
    the house's, naming the draft's field (`tender.officers[1]` for the sale's `settings.tender.officers[1]`)."""
    refuse_if(await officer_problems(conn, sale.settings.tender.officers))
    try:
        await create_tender_in(conn, sale, by)
    except TenderRefused as exc:
        field = (exc.field or "tender").removeprefix("settings.")
        if exc.code == "conflict":
            raise HouseConflict(field, str(exc)) from None
        raise HouseInvalid([Problem(field, str(exc))]) from None
