"""The demo's settlement: invoices from the closes, payments, one non-paying bot, and a second-chance sale.

The settlement service (in the worker) bills every sold lot as it closes. The demo then plays the weeks that
follow in compressed time, by handing the settlement rules a later clock (they take the time as an input):
every buyer pays in full except one, who defaults 14 days after the due date; the operator offers each of
the defaulter's lots to its underbidders in turn, and the first to accept buys it at their own last bid.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, TextIO

import asyncpg

from settlement import billing, defaults
from settlement.reconcile import settlement_summary

DAY_MS = 86_400_000
GRACE_DAYS = 14  # DOMAIN.md: a buyer is in default 14 days after the due date


async def _await_billing(pg: asyncpg.Pool, sale_id: int, sold: int, timeout_s: float = 30.0) -> int:
    """Waits until the settlement service has billed every sold lot; returns how many it has."""
    deadline = time.monotonic() + timeout_s
    while True:
        billed: int = await pg.fetchval(
            "SELECT count(*) FROM invoice_lines WHERE sale_id = $1 AND source = 'hammer'", sale_id
        )
        if billed >= sold or time.monotonic() > deadline:
            return billed
        await asyncio.sleep(0.2)


async def _pick_non_payer(pg: asyncpg.Pool, sale_id: int) -> int | None:
    """The buyer of the smallest invoice whose lots had an underbidder, so a second chance is possible."""
    buyer: int | None = await pg.fetchval(
        "SELECT i.buyer_id FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id "
        "WHERE i.sale_id = $1 AND EXISTS (SELECT 1 FROM lot_events e WHERE e.sale_id = l.sale_id "
        "  AND e.lot_no = l.lot_no AND e.type IN ('BidAccepted', 'ProxyBidPlaced') "
        "  AND (e.data->>'bidder')::bigint <> i.buyer_id) "
        "GROUP BY i.id, i.buyer_id ORDER BY sum(l.total), i.id LIMIT 1",
        sale_id,
    )
    return buyer


async def _second_chance(pg: asyncpg.Pool, sale_id: int, at_ms: int, out: TextIO) -> None:
    lots = await pg.fetch(
        "SELECT lot_no FROM lot_defaults WHERE sale_id = $1 AND resolution = 'pending' ORDER BY lot_no", sale_id
    )
    for row in lots:
        outcome = await defaults.resolve(pg, sale_id, row["lot_no"], "second_chance", at_ms)
        offers = [o for o in await defaults.offers(pg, sale_id, row["lot_no"]) if o.status == "open"]
        if offers:
            offer = offers[-1]
            outcome = await defaults.answer_offer(pg, offer.id, accept=True, now_ms=at_ms + 1)
            print(f"lot {row['lot_no']:>3} second chance: offered at {billing.money(offer.amount)} to buyer "
                  f"{offer.buyer}, who accepts ({outcome})", file=out)  # fmt: skip
        else:
            print(f"lot {row['lot_no']:>3} second chance: no underbidder left ({outcome})", file=out)


async def settle_demo_sale(pg: asyncpg.Pool, sale_id: int, sold: int, out: TextIO) -> dict[str, Any]:
    billed = await _await_billing(pg, sale_id, sold)
    print(f"\nsettlement: {billed} of {sold} sold lots invoiced", file=out)
    non_payer = await _pick_non_payer(pg, sale_id)
    invoices = await pg.fetch("SELECT id, buyer_id, due_ms FROM invoices WHERE sale_id = $1 ORDER BY id", sale_id)
    now = time.time_ns() // 1_000_000
    for inv in invoices:
        if inv["buyer_id"] != non_payer:
            view = await billing.invoice(pg, inv["id"])
            await billing.pay(pg, inv["id"], view.outstanding, f"demo-wire-{inv['id']}", now)
    print(f"settlement: every buyer pays except company {non_payer}", file=out)
    if invoices:
        later = max(inv["due_ms"] for inv in invoices) + (GRACE_DAYS + 1) * DAY_MS
        swept = await defaults.sweep(pg, later)
        print(f"settlement: {GRACE_DAYS + 1} days after the due date: {swept}", file=out)
        await _second_chance(pg, sale_id, later + DAY_MS, out)
    summary = await settlement_summary(pg, sale_id)
    print(f"settlement: {summary}", file=out)
    return summary
