"""The demo's settlement: invoices, one non-paying bot, a second-chance sale, passed lots going home, the
stones shipped to their buyers, and an insurance claim on a parcel the carrier lost.

The settlement service (in the worker) bills every sold lot as it closes, and offers every lot that passed
with bids to its top bidder at the reserve. The demo then plays the weeks that follow in compressed time, by
handing the settlement rules a later clock (they take the time as an input):
- every buyer pays in full except one, who defaults 14 days after the due date; the operator offers each of
  the defaulter's lots to its underbidders in turn, and the first to accept buys it at their own last bid;
- nobody takes up a passed lot in its 72-hour window, so each goes back to its consignor, insured;
- every paid lot is shipped to its buyer (split into parcels above the cap); the operator records the
  manual carrier's scans, and one parcel goes missing; 16 days after its scheduled delivery the house files
  a loss claim with its evidence, and the insurer approves and pays the declared value to the buyer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, TextIO

import asyncpg

from settlement import billing, claims, defaults, shipping, unsold_sweep
from settlement.reconcile import settlement_summary
from settlement.shipping import ShipmentView
from settlement.shipping_rules import TrackingState

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
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


async def _everyone_pays_but(pg: asyncpg.Pool, sale_id: int, non_payer: int | None, at_ms: int, wire: str) -> None:
    """Every buyer but `non_payer` pays what they owe in the sale, each invoice by a wire of its own."""
    for inv in await pg.fetch("SELECT id, buyer_id FROM invoices WHERE sale_id = $1 ORDER BY id", sale_id):
        view = await billing.invoice(pg, inv["id"])
        if inv["buyer_id"] != non_payer and view.outstanding > 0:
            await billing.pay(pg, inv["id"], view.outstanding, f"{wire}-{inv['id']}", at_ms)


async def settle_demo_sale(pg: asyncpg.Pool, sale_id: int, sold: int, out: TextIO) -> dict[str, Any]:
    billed = await _await_billing(pg, sale_id, sold)
    print(f"\nsettlement: {billed} of {sold} sold lots invoiced", file=out)
    non_payer = await _pick_non_payer(pg, sale_id)
    invoices = await pg.fetch("SELECT id, buyer_id, due_ms FROM invoices WHERE sale_id = $1 ORDER BY id", sale_id)
    now = time.time_ns() // 1_000_000
    await _everyone_pays_but(pg, sale_id, non_payer, now, "demo-wire")
    print(f"settlement: every buyer pays except company {non_payer}", file=out)
    if invoices:
        later = max(inv["due_ms"] for inv in invoices) + (GRACE_DAYS + 1) * DAY_MS
        swept = await defaults.sweep(pg, later)
        print(f"settlement: {GRACE_DAYS + 1} days after the due date: {swept}", file=out)
        await _second_chance(pg, sale_id, later + DAY_MS, out)
        # an underbidder's second-chance lot joins their invoice, paid already, which is then open again
        await _everyone_pays_but(pg, sale_id, non_payer, later + DAY_MS + 2, "demo-second-chance-wire")
        await _passed_lots_go_home(pg, sale_id, now, out)
        await _ship_and_claim(pg, sale_id, later + 2 * DAY_MS, out)
    summary = await settlement_summary(pg, sale_id)
    print(f"settlement: {summary}", file=out)
    return summary


async def _passed_lots_go_home(pg: asyncpg.Pool, sale_id: int, closed_ms: int, out: TextIO) -> None:
    """Nobody buys in the post-sale window: when it ends each passed lot is returned, insured."""
    window = await pg.fetchval("SELECT max(window_ms) FROM passed_lots WHERE sale_id = $1", sale_id)
    done = await unsold_sweep.sweep(pg, max(window or closed_ms, closed_ms), sale_id)
    print(f"settlement: the post-sale window ends with no sale: {done['returns']} passed lot(s) on their way back "
          "to their consignors, insured", file=out)  # fmt: skip


async def _ship_and_claim(pg: asyncpg.Pool, sale_id: int, at_ms: int, out: TextIO) -> None:
    await shipping.ship_paid_invoices(pg, at_ms, sale_id)  # the service's sweep may have shipped them already
    every = await shipping.shipments_for(pg, sale_id)
    views = [v for v in every if v.purpose == "to_buyer"]
    returns = [v for v in every if v.purpose == "to_consignor"]
    parcels = sum(len(view.parcels) for view in views)
    print(f"settlement: {len(views)} paid lot(s) shipped to their buyers in {parcels} parcel(s)", file=out)
    lost = await _carrier_scans(pg, views + returns, at_ms)
    done = await unsold_sweep.sweep(pg, at_ms + 4 * DAY_MS, sale_id)
    print(f"settlement: the carrier delivers; {done['returned']} returned stone(s) signed for by their consignors",
          file=out)  # fmt: skip
    if lost is not None:
        await _claim_for(pg, *lost, out)


_DELIVERED: tuple[TrackingState, ...] = ("collected", "in_transit", "delivered_signed")
_LOST: tuple[TrackingState, ...] = ("collected", "in_transit", "exception")


async def _carrier_scans(pg: asyncpg.Pool, views: list[ShipmentView], at_ms: int) -> tuple[ShipmentView, int] | None:
    """Every parcel collected, in transit and signed for, except the first to-buyer parcel, which is lost."""
    lost: tuple[ShipmentView, int] | None = None
    for view in views:
        for parcel in view.parcels:
            missing = lost is None and view.purpose == "to_buyer"
            states = _LOST if missing else _DELIVERED
            for step, state in enumerate(states, start=1):
                await shipping.record_tracking(pg, view.id, parcel.no, state, at_ms + step * HOUR_MS)
            if missing:
                lost = (view, parcel.no)
    return lost


async def _claim_for(pg: asyncpg.Pool, view: ShipmentView, parcel_no: int, out: TextIO) -> None:
    """The lost parcel's claim, filed 16 days after its scheduled delivery (the window is 15 to 45 days)."""
    filed = view.scheduled_ms + 16 * DAY_MS
    claim = await claims.file_claim(
        pg, kind="loss", at_ms=filed, idem_key=f"demo-loss-{view.id}-{parcel_no}", shipment_id=view.id,
        parcel_no=parcel_no, description="the carrier has no scan after the hub",
    )  # fmt: skip
    await claims.add_evidence(pg, claim.id, "invoice", "text/plain", filed, content=b"invoice for the lot")
    await claims.add_evidence(pg, claim.id, "photo", "image/jpeg", filed, content=b"\xff\xd8 the stone")
    await claims.start_review(pg, claim.id, filed + HOUR_MS)
    await claims.approve(pg, claim.id, claim.declared_value, filed + DAY_MS)
    paid = await claims.pay(pg, claim.id, filed + 2 * DAY_MS)
    print(f"settlement: lot {view.lot} parcel {parcel_no} lost in transit; the insurer pays "
          f"{billing.money(paid.approved_amount or 0)} to {paid.payee} (claim {paid.status})", file=out)  # fmt: skip
