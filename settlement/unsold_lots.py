"""A passed lot's row (`passed_lots`), as every action on it finds it: locked first, with its catalogue facts.

Every action on a passed lot (an offer, an answer, a consent, the sweep) is one transaction that locks the lot
first with `locked_lot`, so that the actions on one lot never interleave; `must_be_own` is who may act on it.
"""

from __future__ import annotations

import asyncpg

from settlement.errors import NotFound, NotYours

# A passed lot with what the window, relisting and the return need of its catalogue entry and sale.
PASSED_LOT = (
    "SELECT p.sale_id, p.lot_no, p.status, p.highest_bid, p.at_ms, p.window_ms, l.consignor_id, l.reserve, "
    "l.low_estimate, l.opening_price, s.currency FROM passed_lots p "
    "JOIN lots l ON l.sale_id = p.sale_id AND l.lot_no = p.lot_no JOIN sales s ON s.id = p.sale_id "
)


async def locked_lot(conn: asyncpg.Connection, sale_id: int, lot_no: int) -> asyncpg.Record:
    """The passed lot, locked until the caller's transaction ends; NotFound if the lot didn't pass."""
    row = await conn.fetchrow(PASSED_LOT + "WHERE p.sale_id = $1 AND p.lot_no = $2 FOR UPDATE OF p", sale_id, lot_no)
    if row is None:
        raise NotFound(f"lot {lot_no} of sale {sale_id} is not a passed lot")
    return row


def must_be_own(lot: asyncpg.Record, consignor_id: int | None) -> None:
    """A consignor acts only on their own lots (None: an operator, who acts for anyone)."""
    if consignor_id is not None and consignor_id != lot["consignor_id"]:
        raise NotYours("lot", "not_yours", f"lot {lot['lot_no']} of sale {lot['sale_id']} is not your lot")
