"""Relisting an unsold stone in a later sale: the consignor's consent (given, changed, withdrawn), a defaulted
lot the operator relists, and `relist_into`, which makes every stone waiting for it a lot of a later sale.

The consent names a reserve lower than the one the stone failed to reach (`unsold_rules.relist_reserve_refusal`);
it takes effect when the window ends unsold (the sweep) and may be changed or withdrawn until the stone is
relisted. `relist_into(pg, sale, now, store)` lists each waiting stone of the sale's currency as a new lot of a
sale that has not started (`catalog.relist_lot`), and creates it in the engine too when the sale is loaded.
"""

from __future__ import annotations

import asyncpg

from auction import catalog
from auction.store import LotStore
from settlement import unsold_views
from settlement.agreements import apply_standing_consent
from settlement.errors import NotFound, PostSaleRefused, translate_errors
from settlement.unsold_lots import locked_lot, must_be_own
from settlement.unsold_rules import Refusal, relist_opening, relist_reserve_refusal
from settlement.unsold_views import RelistConsent, Relisting


async def consent_relist(
    pg: asyncpg.Pool, sale_id: int, lot_no: int, reserve: int, now_ms: int, *, consignor_id: int | None = None
) -> RelistConsent:
    """The consignor agrees that the stone goes into a later sale at `reserve` (lower than the one it failed
    to reach) instead of coming back. Effective when the window passes unsold; may be changed or withdrawn
    until the stone is relisted. Giving the same consent again changes nothing."""
    async with pg.acquire() as conn, conn.transaction():
        lot = await locked_lot(conn, sale_id, lot_no)
        must_be_own(lot, consignor_id)
        await _refuse_relist_change(conn, lot)
        reason = relist_reserve_refusal(lot["reserve"], reserve)
        if reason is not None:
            raise PostSaleRefused(
                "reserve", reason, f"the new reserve must be lower than the reserve of {lot['reserve']}"
            )
        await conn.execute(
            "INSERT INTO relist_consents (sale_id, lot_no, reserve, source, consented_ms) "
            "VALUES ($1, $2, $3, 'consignor', $4) ON CONFLICT (sale_id, lot_no) DO UPDATE SET "
            "reserve = EXCLUDED.reserve, source = EXCLUDED.source, consented_ms = EXCLUDED.consented_ms, "
            "withdrawn_ms = NULL WHERE relist_consents.reserve <> EXCLUDED.reserve "
            "OR relist_consents.source <> EXCLUDED.source OR relist_consents.withdrawn_ms IS NOT NULL",
            sale_id,
            lot_no,
            reserve,
            now_ms,
        )
        consent = await unsold_views.consent(conn, sale_id, lot_no)
        assert consent is not None
        return consent


async def withdraw_relist(
    pg: asyncpg.Pool, sale_id: int, lot_no: int, now_ms: int, *, consignor_id: int | None = None
) -> RelistConsent:
    """The consignor takes their consent back: when the window has passed, the stone comes back to them."""
    async with pg.acquire() as conn, conn.transaction():
        lot = await locked_lot(conn, sale_id, lot_no)
        must_be_own(lot, consignor_id)
        await _refuse_relist_change(conn, lot)
        await apply_standing_consent(conn, sale_id, lot_no, now_ms)  # so that the agreement's may be withdrawn too
        await conn.execute(
            "UPDATE relist_consents SET withdrawn_ms = $3 WHERE sale_id = $1 AND lot_no = $2 AND withdrawn_ms IS NULL",
            sale_id,
            lot_no,
            now_ms,
        )
        consent = await unsold_views.consent(conn, sale_id, lot_no)
        if consent is None:
            raise NotFound(f"lot {lot_no} of sale {sale_id} has no consent to relist")
        return consent


async def _refuse_relist_change(conn: asyncpg.Connection, lot: asyncpg.Record) -> None:
    relisted = await conn.fetchval(
        "SELECT 1 FROM relistings WHERE from_sale_id = $1 AND from_lot_no = $2", lot["sale_id"], lot["lot_no"]
    )
    if lot["status"] not in ("post_sale", "relist") or relisted:
        reason: Refusal = "lot_sold" if lot["status"] == "sold" else "lot_not_open"
        raise PostSaleRefused("lot", reason, f"lot {lot['lot_no']} of sale {lot['sale_id']} is {lot['status']}")


async def queue_relist(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> None:
    """A defaulted lot the operator chose to relist (settlement.defaults): it waits for a later sale at its own
    reserve, like a consigned stone whose window passed with consent. Call inside the caller's transaction,
    once the lot is in passed_lots with status 'relist'."""
    await conn.execute(
        "INSERT INTO relist_consents (sale_id, lot_no, reserve, source, consented_ms) "
        "SELECT sale_id, lot_no, reserve, 'default', $3 FROM lots WHERE sale_id = $1 AND lot_no = $2 "
        "ON CONFLICT (sale_id, lot_no) DO NOTHING",
        sale_id,
        lot_no,
        now_ms,
    )


_AWAITING_RELIST = (
    "SELECT p.sale_id, p.lot_no, c.reserve, l.opening_price FROM passed_lots p "
    "JOIN relist_consents c ON c.sale_id = p.sale_id AND c.lot_no = p.lot_no AND c.withdrawn_ms IS NULL "
    "JOIN lots l ON l.sale_id = p.sale_id AND l.lot_no = p.lot_no JOIN sales s ON s.id = p.sale_id "
    "WHERE p.status = 'relist' AND s.currency = $1 AND p.sale_id <> $2 AND NOT EXISTS (SELECT 1 FROM relistings r "
    "WHERE r.from_sale_id = p.sale_id AND r.from_lot_no = p.lot_no) ORDER BY p.sale_id, p.lot_no "
    "FOR UPDATE OF p SKIP LOCKED"
)


async def relist_into(pg: asyncpg.Pool, to_sale: int, now_ms: int, store: LotStore | None = None) -> list[Relisting]:
    """Put every stone waiting to be relisted (in the sale's currency) into `to_sale`, a later sale that has not
    started: each becomes a new lot of it with its diamond, consignor and new reserve. When the sale is already
    loaded in `store`, its relisted lots are created there too (idempotent: a retry after a crash between the
    two creates what is missing). Returns the stones relisted by this call."""
    made: list[Relisting] = []
    async with pg.acquire() as conn, conn.transaction():
        sale = await conn.fetchrow("SELECT currency, starts_at_ms FROM sales WHERE id = $1", to_sale)
        if sale is None:
            raise NotFound(f"no sale {to_sale} in the catalogue")
        if sale["starts_at_ms"] <= now_ms:
            raise PostSaleRefused("sale", "sale_started", f"sale {to_sale} has started: relist into a later sale")
        for row in await conn.fetch(_AWAITING_RELIST, sale["currency"], to_sale):
            new_lot = await catalog.relist_lot(
                conn,
                from_sale=row["sale_id"],
                from_lot=row["lot_no"],
                to_sale=to_sale,
                reserve=row["reserve"],
                opening=relist_opening(row["opening_price"], row["reserve"]),
            )
            await conn.execute(
                "INSERT INTO relistings (from_sale_id, from_lot_no, to_sale_id, to_lot_no, reserve, at_ms) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                row["sale_id"],
                row["lot_no"],
                to_sale,
                new_lot,
                row["reserve"],
                now_ms,
            )
            made.append(Relisting(row["sale_id"], row["lot_no"], to_sale, new_lot, row["reserve"], now_ms))
    if store is not None:
        await _load_relisted(pg, store, to_sale)
    return made


async def _load_relisted(pg: asyncpg.Pool, store: LotStore, to_sale: int) -> None:
    """Create the sale's relisted lots in the store, if the sale is loaded there (else whoever loads it later
    loads them from the catalogue, `catalog.stored_terms`)."""
    relisted = {
        r["to_lot_no"] for r in await pg.fetch("SELECT to_lot_no FROM relistings WHERE to_sale_id = $1", to_sale)
    }
    with translate_errors(f"loading relisted lots of sale {to_sale}"):
        if not relisted or not await store.states(to_sale):
            return
        await store.create_lots([t for t in await catalog.stored_terms(pg, to_sale) if t.lot in relisted])
