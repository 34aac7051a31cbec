"""A passed lot's row (`passed_lots`): recorded when the lot passes or joins after a default, locked by every
action on it, and its status moved only here, as the table (settlement.unsold_lifecycle) says.

Every action on a passed lot (an offer, an answer, a consent, the sweep) is one transaction that locks the lot
first with `locked_lot`, so that the actions on one lot never interleave; `must_be_own` is who may act on it.
Every status change is `move` (or, for a lot that isn't a passed lot yet, `record_passed` and
`join_after_default`; `record_passed` also brings a reopened lot that passed again back to its window): a move
the table lacks is refused with IllegalPassedLotMove before anything is written.
Each move is logged (debug), which is how the tests see every move the code makes.
"""

from __future__ import annotations

import logging

import asyncpg

from settlement import billing
from settlement.errors import IllegalPassedLotMove, NotFound, NotYours
from settlement.unsold_lifecycle import PassedEvent, PassedStatus, after

log = logging.getLogger(__name__)

# A passed lot with what the window, relisting and the return need of its catalogue entry and sale.
PASSED_LOT = (
    "SELECT p.sale_id, p.lot_no, p.status, p.highest_bid, p.at_ms, p.window_ms, p.pass_seq, l.consignor_id, "
    "l.reserve, l.low_estimate, l.opening_price, s.currency FROM passed_lots p "
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


# ---- the moves ------------------------------------------------------------------------------------------------


async def record_passed(
    conn: asyncpg.Connection, sale_id: int, lot_no: int, highest_bid: int, at_ms: int, pass_seq: int | None = None
) -> bool:
    """A lot that passed at the hammer (its LotPassed numbered `pass_seq`, at `at_ms`), its post-sale window open
    from then, in the caller's transaction: a new passed lot, or a reopened one passed again, whose window starts
    afresh from this close. False if the lot is a passed lot already (its close delivered again)."""
    terms = await billing.load_terms(conn, sale_id)
    window_ms = at_ms + terms.post_sale_window_ms
    if await _enter(conn, sale_id, lot_no, "lot_passed", highest_bid, at_ms, window_ms, pass_seq):
        return True
    status: PassedStatus = await conn.fetchval(
        "SELECT status FROM passed_lots WHERE sale_id = $1 AND lot_no = $2 FOR UPDATE", sale_id, lot_no
    )
    if status != "reopened":
        return False
    target = _target(sale_id, lot_no, status, "lot_passed")
    await conn.execute(
        "UPDATE passed_lots SET status = $3, highest_bid = $4, at_ms = $5, window_ms = $6, pass_seq = $7 "
        "WHERE sale_id = $1 AND lot_no = $2",
        sale_id,
        lot_no,
        target,
        highest_bid,
        at_ms,
        window_ms,
        pass_seq,
    )
    _log_move(sale_id, lot_no, status, "lot_passed", target)
    return True


async def join_after_default(
    conn: asyncpg.Connection, sale_id: int, lot_no: int, event: PassedEvent, now_ms: int
) -> None:
    """A defaulted lot becomes a passed lot as the operator's choice (`event`) says, in the caller's transaction:
    one sold at the hammer joins with no bid that counts and its window over at once; one that was a passed lot
    already (sold in its window) moves on, keeping its window."""
    if not await _enter(conn, sale_id, lot_no, event, 0, now_ms, now_ms, None):
        await move(conn, sale_id, lot_no, event)


async def move(conn: asyncpg.Connection, sale_id: int, lot_no: int, event: PassedEvent) -> PassedStatus:
    """Move the passed lot on by `event`, as the table says, in the caller's transaction; its status after."""
    status: PassedStatus | None = await conn.fetchval(
        "SELECT status FROM passed_lots WHERE sale_id = $1 AND lot_no = $2 FOR UPDATE", sale_id, lot_no
    )
    if status is None:
        raise NotFound(f"lot {lot_no} of sale {sale_id} is not a passed lot")
    target = _target(sale_id, lot_no, status, event)
    if target != status:
        await conn.execute(
            "UPDATE passed_lots SET status = $3 WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no, target
        )
    _log_move(sale_id, lot_no, status, event, target)
    return target


async def _enter(
    conn: asyncpg.Connection,
    sale_id: int,
    lot_no: int,
    event: PassedEvent,
    highest_bid: int,
    at_ms: int,
    window_ms: int,
    pass_seq: int | None,
) -> bool:
    """Make the lot a passed lot by `event`; False (and nothing written) if it is one already."""
    target = _target(sale_id, lot_no, None, event)
    inserted = await conn.fetchval(
        "INSERT INTO passed_lots (sale_id, lot_no, highest_bid, at_ms, window_ms, status, pass_seq) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1",
        sale_id,
        lot_no,
        highest_bid,
        at_ms,
        window_ms,
        target,
        pass_seq,
    )
    if inserted:
        _log_move(sale_id, lot_no, None, event, target)
    return bool(inserted)


def _target(sale_id: int, lot_no: int, status: PassedStatus | None, event: PassedEvent) -> PassedStatus:
    target = after(status, event)
    if target is None:
        raise IllegalPassedLotMove(
            f"lot {lot_no} of sale {sale_id}: no move {event} from {status or 'not passed'} in the passed lot's table"
        )
    return target


def _log_move(sale_id: int, lot_no: int, status: PassedStatus | None, event: PassedEvent, target: PassedStatus) -> None:
    log.debug("passed lot: sale %s lot %s: %s -%s-> %s", sale_id, lot_no, status, event, target)
