"""A company's standing in a sale (auction.engine.standing.BidderStanding): computed from PostgreSQL and
published where the engine reads it, so that the engine decides a bid against it in the same atomic step.

What the engine needs (approved? suspended? registered? deposit in? limit? the consignors on whose lots the
company may not bid, auction.vetting.relations?) is computed by `standing_of` and written by `publish_standing`,
which every change to any of those inputs calls (`publish_company` for every sale of a company; `resync`, which
`auction vetting resync` runs, for everything at once). Publishing holds a PostgreSQL advisory lock per (sale,
company) from the read to the write, so two publishers can't leave an older standing on top of a newer one.
"""

from __future__ import annotations

from typing import Protocol

import asyncpg

from auction.engine.standing import BidderStanding, Refusal
from auction.vetting.relations import barred_consignors
from auction.vetting.times import epoch_ms

NO_LIMIT = 10**15  # a registration made by fiat (catalog.register) with no limit: far above any sale
STANDING_LOCK = 0x76657474  # "vett": the advisory-lock class of publish_standing


class StandingStore(Protocol):
    """What publishing needs of the store (auction.store.LotStore)."""

    async def set_standing(self, sale: int, standing: BidderStanding) -> None: ...


async def standing_of(db: asyncpg.Pool | asyncpg.Connection, sale_id: int, company_id: int) -> BidderStanding:
    row = await db.fetchrow(
        "SELECT c.status, c.approved_until, r.status AS reg, r.paddle, r.bid_limit, r.deposit_required, "
        "r.deposit_received "
        "FROM companies c LEFT JOIN registrations r ON r.company_id = c.id AND r.sale_id = $1 WHERE c.id = $2",
        sale_id,
        company_id,
    )
    if row is None:
        return BidderStanding(company_id, 0, 0, "not_approved", 0, ())
    approved = row["reg"] == "approved"
    return BidderStanding(
        bidder=company_id,
        paddle=row["paddle"] if approved else 0,
        limit=(row["bid_limit"] or NO_LIMIT) if approved else 0,
        refusal=_refusal(row),
        approved_until_ms=epoch_ms(row["approved_until"]) or 0,
        consignor_ids=await barred_consignors(db, company_id),
    )


def _refusal(row: asyncpg.Record) -> Refusal | None:
    """Why the engine must refuse the company's bids in the sale, the weightiest reason first; None: it may bid."""
    if row["status"] == "suspended":
        return "suspended"
    if row["status"] != "approved":
        return "not_approved"
    if row["reg"] != "approved":
        return "not_registered"
    if row["deposit_received"] < row["deposit_required"]:
        return "deposit_missing"
    return None


async def publish_standing(pg: asyncpg.Pool, store: StandingStore, sale_id: int, company_id: int) -> BidderStanding:
    """Recompute a company's standing in a sale from PostgreSQL and write it where the engine reads it.

    Called after every change to its inputs. The advisory lock makes read-then-write one step among
    publishers: the standing left in Redis is always computed from the latest committed record."""
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", STANDING_LOCK, f"{sale_id}:{company_id}")
        standing = await standing_of(conn, sale_id, company_id)
        await store.set_standing(sale_id, standing)
    return standing


async def publish_company(pg: asyncpg.Pool, store: StandingStore, company_id: int) -> int:
    """Publish a company's standing in every sale it has asked to register for; how many that was."""
    sales = await pg.fetch("SELECT sale_id FROM registrations WHERE company_id = $1", company_id)
    for row in sales:
        await publish_standing(pg, store, row["sale_id"], company_id)
    return len(sales)


async def resync(pg: asyncpg.Pool, store: StandingStore, sale_id: int | None = None) -> int:
    """Publish every registration's standing (of one sale, or all): after a Redis loss, or to be sure."""
    rows = await pg.fetch(
        "SELECT sale_id, company_id FROM registrations WHERE $1::bigint IS NULL OR sale_id = $1", sale_id
    )
    for row in rows:
        await publish_standing(pg, store, row["sale_id"], row["company_id"])
    return len(rows)
