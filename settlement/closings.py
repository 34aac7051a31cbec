"""A lot's closes as settlement follows them: sold (LotSold, billed), passed (LotPassed, the post-sale window),
and, in a live sale, reopened after the hammer (LotReopened) until the next lot opens, then sold or passed again.

Settlement follows the lot's latest close. Each LotSold, LotPassed and LotReopened it acts on is kept in
`lot_closings` by the event's sequence number, in the same transaction as what it did, so:
- an event delivered again finds its row and changes nothing (commit, then ack: a crash re-delivers);
- an event older than the lot's latest one kept (delivered out of order, say by a consumer that took over another's
  entries) is kept and does nothing more: the later one already settled the lot;
- the latest one first undoes what every earlier close left: each lot still billed from one (at the hammer, or
  sold in its post-sale window before the reopen) is un-billed on the ledger (`billing.unbill_reopened`, a
  reversal keyed by the line) and the passed lot leaves the post-sale path (`lot_reopened`, its offers
  withdrawn); then a LotSold is billed (keyed `lot-sold:<sale>:<lot>:<seq>`, so each hammer is billed once and
  a hammer after a reopen gets a bill of its own), a LotPassed (re)opens the post-sale window, and a LotReopened
  does nothing more.
So whatever order closes arrive in, and however often, the ledger ends as the lot's latest close says: one
bill for a final hammer, nothing for a lot that ended passed or reopened. A lot's actions are serialised by a
transaction-scoped advisory lock on it.

Lots settled before `lot_closings` existed (closed once, billed under the key `lot-sold:<sale>:<lot>`, passed
with no `pass_seq`) are left as they are: their close delivered again changes nothing.
"""

from __future__ import annotations

import logging

import asyncpg

from auction.engine.messages import LotPassed, LotReopened, LotSold
from settlement import billing, unsold_lots, unsold_window

log = logging.getLogger(__name__)

Closing = LotSold | LotPassed | LotReopened

# A passed lot in these statuses is on the post-sale path a later close ends (sold: an offer taken before it).
_UNDONE_BY_A_LATER_CLOSE = ("post_sale", "sold")


def hammer_key(sale_id: int, lot_no: int, seq: int) -> str:
    """The idempotency key of the posting that bills the LotSold numbered `seq`."""
    return f"lot-sold:{sale_id}:{lot_no}:{seq}"


def legacy_hammer_key(sale_id: int, lot_no: int) -> str:
    """The key a hammer was billed under before a lot could be reopened (one close per lot)."""
    return f"lot-sold:{sale_id}:{lot_no}"


async def settle(pg: asyncpg.Pool, sale_id: int, lot_no: int, event: Closing) -> bool:
    """Follow one close of a lot, in one transaction; False if it changed nothing (delivered before)."""
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"lot-closing:{sale_id}:{lot_no}")
        if await _settled_before_closings(conn, sale_id, lot_no):
            return False
        if not await _keep(conn, sale_id, lot_no, event):
            return False
        if event.seq < await _latest_seq(conn, sale_id, lot_no):
            return True  # superseded: the lot's later close, settled already, undid whatever this one would do
        await _undo_earlier_closes(conn, sale_id, lot_no, event)
        await _follow(conn, sale_id, lot_no, event)
        return True


async def _keep(conn: asyncpg.Connection, sale_id: int, lot_no: int, event: Closing) -> bool:
    kept = await conn.fetchval(
        "INSERT INTO lot_closings (sale_id, lot_no, seq, event, at_ms) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        sale_id,
        lot_no,
        event.seq,
        type(event).__name__,
        event.at_ms,
    )
    return bool(kept)


async def _latest_seq(conn: asyncpg.Connection, sale_id: int, lot_no: int) -> int:
    latest: int = await conn.fetchval(
        "SELECT max(seq) FROM lot_closings WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no
    )
    return latest


async def _settled_before_closings(conn: asyncpg.Connection, sale_id: int, lot_no: int) -> bool:
    """A lot settled before closings were kept: billed under the old key, or passed with no pass recorded."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ledger_transactions WHERE idem_key = $3) OR (EXISTS (SELECT 1 FROM "
            "passed_lots WHERE sale_id = $1 AND lot_no = $2 AND pass_seq IS NULL) AND NOT EXISTS (SELECT 1 FROM "
            "lot_closings WHERE sale_id = $1 AND lot_no = $2))",
            sale_id,
            lot_no,
            legacy_hammer_key(sale_id, lot_no),
        )
    )


async def _undo_earlier_closes(conn: asyncpg.Connection, sale_id: int, lot_no: int, event: Closing) -> None:
    """Whatever the lot's earlier closes left (a bill, a post-sale window) is undone: `event` supersedes them."""
    why = f"lot {lot_no} of sale {sale_id} reopened ({type(event).__name__} at seq {event.seq})"
    for line_id in await _lines_of_earlier_closes(conn, sale_id, lot_no):
        await billing.unbill_reopened(conn, line_id, event.at_ms, why)
    passed = await conn.fetchrow(
        "SELECT status, pass_seq FROM passed_lots WHERE sale_id = $1 AND lot_no = $2 FOR UPDATE", sale_id, lot_no
    )
    if passed is None or passed["pass_seq"] is None or passed["pass_seq"] >= event.seq:
        return  # no passed lot, or one that joined after a default (no close of the auction put it there)
    if passed["status"] == "reopened":
        return  # a reopen (or a close after it) took it off the post-sale path already
    if passed["status"] not in _UNDONE_BY_A_LATER_CLOSE:
        log.error("settlement: %s, but its passed lot has moved on to %s: left for an operator", why, passed["status"])
        return
    await unsold_window.withdraw_offers(conn, sale_id, lot_no, event.at_ms)
    await unsold_lots.move(conn, sale_id, lot_no, "lot_reopened")


async def _lines_of_earlier_closes(conn: asyncpg.Connection, sale_id: int, lot_no: int) -> list[int]:
    """The lot's active lines a close made: billed at the hammer, or sold in the post-sale window. (A line billed
    after a default comes weeks later, when the lot can no longer be reopened.)"""
    rows = await conn.fetch(
        "SELECT id FROM invoice_lines WHERE sale_id = $1 AND lot_no = $2 AND status = 'active' "
        "AND source IN ('hammer', 'post_sale') ORDER BY id",
        sale_id,
        lot_no,
    )
    return [row["id"] for row in rows]


async def _follow(conn: asyncpg.Connection, sale_id: int, lot_no: int, event: Closing) -> None:
    match event:
        case LotSold():
            await billing.bill_lot(
                conn,
                sale_id=sale_id,
                lot_no=lot_no,
                buyer_id=event.bidder,
                hammer=event.hammer,
                at_ms=event.at_ms,
                source="hammer",
                idem_key=hammer_key(sale_id, lot_no, event.seq),
            )
        case LotPassed():
            await unsold_lots.record_passed(conn, sale_id, lot_no, event.highest_bid, event.at_ms, event.seq)
            if event.highest_bid > 0:
                await unsold_window.open_window(conn, sale_id, lot_no, event.at_ms)  # the reserve to the top bidder
        case LotReopened():
            pass  # back on the block: the lot's next close says what becomes of it
