"""Strikes and suspension of buyer companies, and the one place settlement suspends anyone.

A strike is recorded here (`strikes`). Two strikes within twelve months (SettlementTerms) suspend the company
until an operator reviews: `suspend_buyer` is the single integration point with vetting. It records the
suspension in settlement's own `buyer_suspensions` (what second-chance offers consult), and, when an operator
account is given, puts it through `auction.vetting.decide(..., "suspend", ...)`, which changes the company's
status and republishes its standing, so the engine refuses its bids in every sale from then on.

Live bids: the engine has no command to withdraw an accepted bid (buyers can't retract), so "cancelling the
defaulter's live bids" means the suspended standing refuses every new bid, and a lot they lead when it closes
is re-awarded through `settlement.rules.reaward` if they don't pay. See docs/SETTLEMENT.md.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

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


async def suspend_buyer(conn: asyncpg.Connection, buyer_id: int, reason: str, now_ms: int) -> None:
    """Suspend a buyer company in settlement's record (in the caller's transaction). Vetting's decision needs an
    operator account, which the clock-driven sweep doesn't have: an operator confirms it with
    `confirm_in_vetting`, which puts it through auction.vetting.decide and republishes the standing."""
    await conn.execute(
        "INSERT INTO buyer_suspensions (buyer_id, reason, at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        buyer_id,
        reason,
        now_ms,
    )
    log.warning("buyer %s suspended by settlement (%s); to be confirmed in vetting", buyer_id, reason)


async def confirm_in_vetting(pg: asyncpg.Pool, buyer_id: int, reason: str, by: Any, store: Any = None) -> bool:
    """Put settlement's suspension through vetting (`by`: the operator's auction.identity.Account; `store`: the
    LotStore, so the engine refuses the company's bids at once). False if vetting refused (say, already
    suspended, or not a vetted company)."""
    from auction import vetting

    try:
        await vetting.decide(pg, store, buyer_id, "suspend", reason, by, frozenset())
    except vetting.VettingError as exc:
        log.warning("vetting refused to suspend %s: %s", buyer_id, exc)
        return False
    return True


async def is_suspended(pg: asyncpg.Pool | asyncpg.Connection, buyer_id: int) -> bool:
    return bool(await pg.fetchval("SELECT 1 FROM buyer_suspensions WHERE buyer_id = $1", buyer_id))
