"""Links between buyer companies and consignors: a company can't bid on the lots of a consignor linked to it, nor
on those of a consignor linked to a company tied to it (auction.vetting.relations); the engine refuses such a bid
`own_lot`, reading the consignors in the company's standing."""

from __future__ import annotations

import asyncpg

from auction.identity import Account
from auction.vetting.audit_log import audit
from auction.vetting.errors import VettingError
from auction.vetting.relations import ties_of
from auction.vetting.standings import StandingStore, publish_company


async def link_consignor(
    pg: asyncpg.Pool, store: StandingStore | None, company_id: int, consignor_id: int, reason: str, by: Account
) -> None:
    """Record that a consignor belongs to a buyer company: the company, and every company tied to it, can't bid
    on that consignor's lots from now on. Their standings are published again at once."""
    async with pg.acquire() as conn, conn.transaction():
        try:
            await conn.execute(
                "INSERT INTO consignor_links (consignor_id, company_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                consignor_id,
                company_id,
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise VettingError("not_found", "consignor_id", "no such company or consignor") from exc
        await audit(conn, by, "consignor_linked", f"company:{company_id}", reason, {"consignor": consignor_id})
    if store is not None:
        await publish_with_ties(pg, store, company_id)


async def publish_with_ties(pg: asyncpg.Pool, store: StandingStore, company_id: int) -> int:
    """Publish the standing of a company and of every company tied to it, in every sale each is registered in:
    what one of them is linked to bars them all. Returns how many standings were published."""
    published = await publish_company(pg, store, company_id)
    for tie in await ties_of(pg, company_id):
        published += await publish_company(pg, store, tie.company)
    return published


async def publish_consignor_companies(pg: asyncpg.Pool, store: StandingStore, consignor_id: int) -> int:
    """Publish the standing of every company linked to the consignor, and of their ties: after vetting linked a
    consignor just entered (consignor_overlap). Returns how many standings were published."""
    rows = await pg.fetch("SELECT company_id FROM consignor_links WHERE consignor_id = $1", consignor_id)
    return sum([await publish_with_ties(pg, store, row["company_id"]) for row in rows])
