"""The return of an unsold stone to its consignor: the unsold fee and return shipping posted to their account as
the consignment agreement says (settlement/agreements.py; the sale's SettlementTerms for a consignor without one),
an insured shipment back to them, and the stone home once they have signed for every parcel.

Nothing is charged for a lot whose sale fell through because its buyer defaulted: the default isn't the
consignor's doing, and the defaulter's deposit already pays the house's loss. A return is posted and shipped
once, keyed by the lot (`unsold-return:<sale>:<lot>`, `return:<sale>:<lot>`).
"""

from __future__ import annotations

import asyncpg

from settlement import agreements, billing, ledger, shipping
from settlement.rules import SettlementTerms, unsold_charges
from settlement.unsold_lots import locked_lot, move
from settlement.unsold_rules import return_declared_value


async def send_back(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> bool:
    """Send the stone back to its consignor: its charges posted, an insured shipment to them, the return recorded,
    in the caller's transaction. False if it was sent back before."""
    lot = await locked_lot(conn, sale_id, lot_no)
    if await conn.fetchval("SELECT 1 FROM lot_returns WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no):
        return False
    terms = await agreements.consignor_terms(conn, lot["consignor_id"], await billing.load_terms(conn, sale_id))
    defaulted = bool(
        await conn.fetchval("SELECT 1 FROM lot_defaults WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no)
    )
    fee, carriage = (0, 0) if defaulted else unsold_charges(lot["reserve"], terms)
    txn_id = await _post_charges(conn, lot, fee, carriage, now_ms)
    declared = return_declared_value(lot["reserve"], lot["low_estimate"])
    shipment = await _ship_back(conn, lot, declared, terms, now_ms)
    await conn.execute(
        "INSERT INTO lot_returns (sale_id, lot_no, consignor_id, reason, currency, unsold_fee, return_shipping, "
        "declared_value, txn_id, shipment_id, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        sale_id,
        lot_no,
        lot["consignor_id"],
        "defaulted" if defaulted else "unsold",
        lot["currency"].strip(),
        fee,
        carriage,
        declared,
        txn_id,
        shipment,
        now_ms,
    )
    await move(conn, sale_id, lot_no, "sent_back")
    return True


async def _post_charges(
    conn: asyncpg.Connection, lot: asyncpg.Record, fee: int, carriage: int, now_ms: int
) -> int | None:
    """The consignor debited the unsold fee and the return shipping, the house credited; the posting's id, or
    None when both are 0 (nothing is posted)."""
    if fee + carriage <= 0:
        return None
    sale_id, lot_no = lot["sale_id"], lot["lot_no"]
    return await ledger.post(
        conn,
        ledger.Posting(
            idem_key=f"unsold-return:{sale_id}:{lot_no}",
            kind="unsold_return",
            currency=lot["currency"].strip(),
            at_ms=now_ms,
            sale_id=sale_id,
            lot_no=lot_no,
            memo="unsold fee and return shipping, as the consignment agreement says",
            entries=ledger.entries(
                (ledger.consignor(lot["consignor_id"]), fee + carriage),
                (ledger.HOUSE_FEES, -fee),
                (ledger.HOUSE_SHIPPING, -carriage),
            ),
        ),
    )


async def _ship_back(
    conn: asyncpg.Connection, lot: asyncpg.Record, declared: int, terms: SettlementTerms, now_ms: int
) -> int:
    """An insured shipment of the stone to its consignor; its id."""
    return await shipping.create_shipment(
        conn,
        purpose="to_consignor",
        sale_id=lot["sale_id"],
        lot_no=lot["lot_no"],
        party_id=lot["consignor_id"],
        declared_value=declared,
        currency=lot["currency"].strip(),
        at_ms=now_ms,
        idem_key=f"return:{lot['sale_id']}:{lot['lot_no']}",
        terms=terms,
    )


# Returning stones whose consignor has signed for every parcel of the return shipment (a final state, so a
# parcel signed for stays so).
_SIGNED_FOR = (
    "SELECT p.sale_id, p.lot_no FROM passed_lots p JOIN lot_returns r ON r.sale_id = p.sale_id "
    "AND r.lot_no = p.lot_no WHERE p.status = 'returning' AND ($1::bigint IS NULL OR p.sale_id = $1) "
    "AND NOT EXISTS (SELECT 1 FROM parcels x WHERE x.shipment_id = r.shipment_id AND x.state <> 'delivered_signed') "
    "ORDER BY 1, 2"
)


async def bring_home(pg: asyncpg.Pool, only_sale: int | None = None) -> int:
    """Mark returned every returning stone (of one sale, or all) whose consignor has signed for every parcel of
    its return shipment, each in its own transaction; how many were."""
    home = 0
    for row in await pg.fetch(_SIGNED_FOR, only_sale):
        async with pg.acquire() as conn, conn.transaction():
            lot = await locked_lot(conn, row["sale_id"], row["lot_no"])
            if lot["status"] == "returning":  # else another sweep brought it home since it was listed
                await move(conn, row["sale_id"], row["lot_no"], "signed_for")
                home += 1
    return home
