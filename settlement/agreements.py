"""The consignment agreement, as settlement charges by it: the one place settlement reads it (auction/consignors.py
keeps it).

The agreement is the source of what a consignor is charged and agreed to: the commission on a sold lot's hammer,
the unsold fee and the return shipping of a stone that comes back (`consignor_terms`, which replaces those three
of the sale's `SettlementTerms`), and the standing consent to relist an unsold stone (`apply_standing_consent`).
A consignor made before agreements existed has none, and is charged the sale's terms as before. What else the
sale's terms say (the lot fee, shipping and insurance to buyers, tax, the windows) stays the sale's.
"""

from __future__ import annotations

import asyncpg
import msgspec

from auction.consignors import agreement_of
from settlement.rules import SettlementTerms


async def consignor_terms(conn: asyncpg.Connection, consignor_id: int, terms: SettlementTerms) -> SettlementTerms:
    """The sale's terms, with the consignor's commission, unsold fee and return shipping as their agreement says."""
    agreement = await agreement_of(conn, consignor_id)
    if agreement is None:
        return terms
    return msgspec.structs.replace(
        terms,
        commission_bp=agreement.commission_bp,
        unsold_fee_bp=agreement.unsold_fee_bp,
        return_shipping=agreement.return_shipping,
    )


async def apply_standing_consent(conn: asyncpg.Connection, sale_id: int, lot_no: int, now_ms: int) -> None:
    """A passed lot whose consignor agreed, in their agreement, to its being relisted, and said nothing since:
    their consent is recorded (source `agreement`) at the agreed share of the reserve it failed to reach. Nothing
    when they answered themselves already (consented, changed or withdrew), or agreed to nothing. Call in the
    caller's transaction, with the passed lot locked."""
    lot = await conn.fetchrow(
        "SELECT consignor_id, reserve FROM lots WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no
    )
    if lot is None:
        return
    agreement = await agreement_of(conn, lot["consignor_id"])
    if agreement is None or not agreement.relist_consent:
        return
    await conn.execute(
        "INSERT INTO relist_consents (sale_id, lot_no, reserve, source, consented_ms) "
        "VALUES ($1, $2, $3, 'agreement', $4) ON CONFLICT (sale_id, lot_no) DO NOTHING",
        sale_id,
        lot_no,
        agreement.relist_reserve(lot["reserve"]),
        now_ms,
    )
