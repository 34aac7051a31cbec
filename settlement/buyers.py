"""Strikes and suspension of buyer companies, and the one place settlement suspends anyone.

A strike is recorded here (`strikes`). Two strikes within twelve months (SettlementTerms) suspend the company
until an operator reviews: `suspend_buyer` is the single integration point with vetting. In the transaction
that records the strike it
- records the suspension in settlement's own `buyer_suspensions` (what second-chance offers consult);
- suspends the company in vetting as a decision of the system, not of an operator
  (`auction.vetting.decide_by_system(..., "suspend", ..., "settlement", ...)`): its status, the decision and
  the audit row commit together with the strike. Vetting's `reinstate`, an operator's review, lifts it;
- writes a `suspension_outbox` row, so that `settlement.suspensions.apply_suspensions` (run by the service
  after each sweep) republishes the company's standing in every sale and cancels its bids in every open lot.
  The sweep has no Redis, and a crash between the commit and a publish must not lose the suspension: the row
  stays pending until it has been applied.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import asyncpg

from auction import vetting
from settlement.billing import load_terms
from settlement.rules import should_suspend

log = logging.getLogger(__name__)


async def strike(conn: asyncpg.Connection, buyer_id: int, sale_id: int, reason: str, now_ms: int) -> bool:
    """Record a strike; suspend the buyer if it is their second in twelve months. True if now suspended."""
    await conn.execute(
        "INSERT INTO strikes (buyer_id, sale_id, reason, at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        buyer_id,
        sale_id,
        reason,
        now_ms,
    )
    terms = await load_terms(conn, sale_id)
    times = [r["at_ms"] for r in await conn.fetch("SELECT at_ms FROM strikes WHERE buyer_id = $1", buyer_id)]
    if should_suspend(times, now_ms, terms):
        await suspend_buyer(conn, buyer_id, f"{len(times)} strikes for non-payment", now_ms)
        return True
    return False


SYSTEM = "settlement"  # who vetting's record says took a suspension that settlement's rules decided


def _datetime(at_ms: int) -> datetime:
    """Epoch milliseconds as an aware datetime, exactly (no float on the way)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at_ms)


async def suspend_buyer(conn: asyncpg.Connection, buyer_id: int, reason: str, now_ms: int) -> None:
    """Suspend a buyer company, in the caller's transaction: settlement's record, vetting's status (a system
    decision; nothing is written there if the company is unknown to vetting or not approved), and the outbox
    row that gets the suspension to the engine. Another strike while suspended writes another outbox row,
    which is harmless: applying one twice changes nothing."""
    await conn.execute(
        "INSERT INTO buyer_suspensions (buyer_id, reason, at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        buyer_id,
        reason,
        now_ms,
    )
    status = await vetting.decide_by_system(conn, buyer_id, "suspend", reason, SYSTEM, _datetime(now_ms))
    await conn.execute(
        "INSERT INTO suspension_outbox (company_id, reason, at_ms) VALUES ($1, $2, $3)", buyer_id, reason, now_ms
    )
    log.warning("buyer %s suspended by settlement (%s); vetting: %s", buyer_id, reason, status or "unchanged")


# The companies settlement has suspended and no operator has reinstated since: vetting's status is the truth
# for a company vetting knows (a reinstated one is 'approved' again); one it doesn't know stays suspended.
SUSPENDED_BUYERS = (
    "SELECT b.buyer_id FROM buyer_suspensions b LEFT JOIN companies c ON c.id = b.buyer_id "
    "WHERE c.status IS DISTINCT FROM 'approved'"
)


async def is_suspended(pg: asyncpg.Pool | asyncpg.Connection, buyer_id: int) -> bool:
    return bool(await pg.fetchval(f"SELECT 1 FROM ({SUSPENDED_BUYERS}) s WHERE s.buyer_id = $1", buyer_id))
