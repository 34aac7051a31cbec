"""A suspension settlement decided reaches the engine: the company's standing is republished everywhere, and its
bids are cancelled in every open lot.

`settlement.buyers.suspend_buyer` suspends a company in the transaction that records its second strike, and
writes a `suspension_outbox` row there (the sweep that defaults invoices has only PostgreSQL, and a write to
Redis inside that transaction could be lost in a crash, or made for a transaction that then rolls back).
`apply_suspensions`, which the service runs after each sweep, works every pending row:

1. the company's standing is published again in every sale it is registered in
   (`auction.vetting.publish_company`): from then on the engine refuses its bids `suspended`, in every process;
2. in every open lot of every active sale where it has a bid standing, a `CancelBids` is executed through the
   LotStore (one atomic step per lot). The engine recomputes the lot from everyone else's recorded bids; the
   command carries the lot's record as read here, and if the lot moved on before it ran it is refused `stale`,
   read again and retried. Events are committed to PostgreSQL too before the step returns (durability
   "postgres"), so settlement's record has them at once;
3. the row is marked done.

Standing first, then the cancellations: a bid made in between would otherwise survive them.

Idempotent: a crash anywhere leaves the row pending, and working it again republishes the same standing and
finds no bids left to cancel where they were cancelled already (the engine answers `no_bids`, nothing changes).
A row whose company an operator reinstated before it was applied (approved again) is closed as `lifted`,
cancelling nothing: what the company bid after its review stands. A company vetting never approved, or one
rejected since, is applied like a suspended one; so is a bidder vetting doesn't know (a sale run without it).
Closed lots are not touched (a lot the suspended buyer won goes to settlement's non-paying-buyer flow like any
other).
"""

from __future__ import annotations

import logging

import asyncpg
from redis.asyncio import Redis

from auction import keys, vetting
from auction.cancellations import RETRIED, lot_record
from auction.engine.messages import CancelBids
from auction.engine.record import has_live_bids
from auction.store import BACKGROUND_PRIORITY, Accepted, LotStore, Outcome, service_store
from settlement.errors import translate_errors

log = logging.getLogger(__name__)

ATTEMPTS = 5  # reads of a lot's record before a busy lot is left for the next pass (the row stays pending)


async def apply_suspensions(
    pg: asyncpg.Pool, redis: Redis, now_ms: int, *, only_sales: frozenset[int] | None = None
) -> int:
    """Work every pending suspension; returns how many lots changed. `only_sales` limits the cancelling to some
    sales (tests sharing a Redis); a row is still marked done after it."""
    with translate_errors("reading the suspension outbox"):
        pending = await pg.fetch("SELECT * FROM suspension_outbox WHERE done_ms IS NULL ORDER BY id")
    if not pending:
        return 0
    # The sale's owner (a gateway, usually) decides the cancellations; this store forwards them to it.
    store = service_store(redis, pg, durability="postgres", priority=BACKGROUND_PRIORITY)
    changed = 0
    try:
        for row in pending:
            changed += await _apply(pg, redis, store, row, now_ms, only_sales)
    finally:
        await store.close()
    return changed


async def _apply(
    pg: asyncpg.Pool,
    redis: Redis,
    store: LotStore,
    row: asyncpg.Record,
    now_ms: int,
    only_sales: frozenset[int] | None,
) -> int:
    company = row["company_id"]
    with translate_errors("applying a suspension"):
        status = await pg.fetchval("SELECT status FROM companies WHERE id = $1", company)
        if status == "approved":  # reinstated by an operator's review since: what it bid after that stands
            return await _close(pg, row["id"], now_ms, "lifted", 0)
        await vetting.publish_company(pg, store, company)
        changed, complete = 0, True
        for sale in await _active_sales(redis, only_sales):
            lots, done = await cancel_in_sale(store, sale, company, f"suspended: {row['reason']}", now_ms)
            changed, complete = changed + lots, complete and done
    if not complete:
        log.warning("suspension of %s: some lots stayed busy; it is retried on the next pass", company)
        return changed
    await _close(pg, row["id"], now_ms, "applied", changed)
    return changed


async def _close(pg: asyncpg.Pool, row_id: int, now_ms: int, outcome: str, lots: int) -> int:
    await pg.execute(
        "UPDATE suspension_outbox SET done_ms = $2, outcome = $3, lots = $4 WHERE id = $1 AND done_ms IS NULL",
        row_id,
        now_ms,
        outcome,
        lots,
    )
    return lots


async def _active_sales(redis: Redis, only: frozenset[int] | None) -> list[int]:
    sales = sorted(int(sale) for sale in await redis.smembers(keys.ACTIVE_SALES))
    return [sale for sale in sales if only is None or sale in only]


async def cancel_in_sale(store: LotStore, sale: int, bidder: int, reason: str, at_ms: int) -> tuple[int, bool]:
    """Cancel `bidder`'s bids in every open lot of the sale: (lots changed, whether every lot is done)."""
    changed, complete = 0, True
    for state in await store.states(sale):
        if state.status != "open":
            continue
        outcome = await cancel_bids(store, sale, state.terms.lot, bidder, reason, at_ms)
        if isinstance(outcome, Accepted):
            changed += 1
        elif outcome is not None and outcome.reason in {"stale", "busy"}:
            complete = False
    return changed, complete


async def cancel_bids(store: LotStore, sale: int, lot: int, bidder: int, reason: str, at_ms: int) -> Outcome | None:
    """Take `bidder` out of one open lot, in one atomic step; None when they have no bid standing on it.

    The record is read from the lot's own stream and sent with the command; a lot that moved on in between is
    refused `stale`, and read again, up to ATTEMPTS times. Other refusals (the lot closed meanwhile) are final."""
    outcome: Outcome | None = None
    for _ in range(ATTEMPTS):
        record = await lot_record(store, sale, lot)
        if not has_live_bids(record, bidder):
            return None
        command = CancelBids(at_ms=at_ms, bidder=bidder, reason=reason, record=tuple(record))
        outcome = await store.execute(sale, lot, command)
        if isinstance(outcome, Accepted) or outcome.reason not in RETRIED:
            return outcome
    return outcome


__all__ = ["apply_suspensions", "cancel_bids", "cancel_in_sale"]
