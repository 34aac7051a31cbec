"""The consignor's settlement in their room (/consignor) in a real browser: a sold lot on the statement awaiting
the buyer's payment, then, once the buyer has paid and settlement has released the payout after the hold, the
payout; a passed lot nobody took up sent back to them insured, its shipment, tracking number and last scan shown.
The settlement desk names the same consignor on the return, and a laboratory by name on a trip to a lab.

Time is moved as tests/settlement move it: settlement's own functions called with a time in the future (the hold
of 5 days, the passed lot's 72-hour window), against the records the worker's loops made of a real sale."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from playwright.async_api import Page, expect

from auction.engine.messages import AnyCommand, HammerLot, OpenLot, PassLot, TakeBid
from auction.engine.state import LiveTerms
from auction.store import Accepted
from settlement import billing, shipping, unsold_sweep
from settlement.rules import DAY_MS, HOUR_MS
from tests.web.conftest import PageMaker, People, Registrar, SaleMaker, Site
from tests.web.room_shots import no_horizontal_overflow


async def _run(site: Site, sale: int, lot: int, *commands: AnyCommand) -> None:
    for command in commands:
        outcome = await site.store.execute(sale, lot, command)
        assert isinstance(outcome, Accepted), outcome


async def _until(pg: asyncpg.Pool, query: str, *args: object) -> asyncpg.Record:
    """The first row of `query` once the worker's loops have written it."""
    for _ in range(80):
        row = await pg.fetchrow(query, *args)
        if row is not None:
            return row
        await asyncio.sleep(0.25)
    raise AssertionError(f"never written: {query} {args}")


async def _room(page: Page) -> None:
    await page.goto("/consignor")
    await expect(page.locator("#statement-list > *")).not_to_have_count(0)  # statements, payouts, shipments in


async def test_the_consignor_sees_a_payout_once_settlement_pays_and_a_passed_lot_shipped_back_insured(
    site: Site, pg: asyncpg.Pool, make_sale: SaleMaker, register: Registrar, people: People, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=2, reserve=10_000, live=LiveTerms(), name="Paid and Returned")
    await register(sale.id, 41)
    at = int(time.time() * 1000)
    await _run(site, sale.id, 1, OpenLot(at), TakeBid(at + 1, people.company_id, 41, "floor", f"c-{sale.id}"),
               HammerLot(at + 2))  # fmt: skip
    await _run(site, sale.id, 2, OpenLot(at + 3), PassLot(at + 4))  # nobody bid
    invoice = await _until(pg, "SELECT id FROM invoices WHERE sale_id = $1", sale.id)
    passed = await _until(pg, "SELECT window_ms FROM passed_lots WHERE sale_id = $1 AND lot_no = 2", sale.id)

    room = await page_for("consignor")
    await _room(room)
    statement = room.locator(f".statement[data-sale='{sale.id}']")
    lines = statement.locator("[data-line-status]")  # lot 1 sold, lot 2 passed
    await expect(lines).to_have_text(["Awaiting the buyer's payment", "Unsold"])
    await expect(statement).to_contain_text("$90.00")  # 100.00 less the 10 % commission
    await expect(room.locator("#payout-list")).to_contain_text("Nothing has been paid out to you yet.")
    await expect(room.locator("#shipment-list")).to_contain_text("No stone of yours is on its way back.")

    # The buyer pays; the hold passes and settlement pays the consignor. Nobody takes up lot 2 in its window, so
    # it goes back to them, insured, and the carrier scans it on its way.
    paid_at = int(time.time() * 1000)
    await billing.pay(pg, invoice["id"], 12_600, f"WIRE-{sale.id}", paid_at)
    released = await billing.release_payouts(pg, paid_at + 5 * DAY_MS + 1)
    assert [(p.sale, p.amount, p.lots) for p in released if p.sale == sale.id] == [(sale.id, 9_000, [1])]
    back_at = passed["window_ms"] + 1
    await unsold_sweep.sweep(pg, back_at, only_sale=sale.id)
    returned = await pg.fetchrow(
        "SELECT r.shipment_id, r.declared_value, p.tracking_no FROM lot_returns r "
        "JOIN parcels p ON p.shipment_id = r.shipment_id WHERE r.sale_id = $1 AND r.lot_no = 2",
        sale.id,
    )  # fmt: skip
    assert returned is not None
    for hours, state in ((2, "collected"), (5, "in_transit")):
        await shipping.record_tracking(pg, returned["shipment_id"], 1, state, back_at + hours * HOUR_MS)  # type: ignore[arg-type]

    await _room(room)
    payouts = room.locator("#payout-list tbody tr")
    await expect(payouts).to_have_count(1)
    await expect(payouts.first).to_contain_text("Paid and Returned")
    await expect(payouts.first).to_contain_text("$90.00")
    await expect(payouts.first.locator("td").nth(2)).to_have_text("1")  # the lot it paid for
    await expect(lines.first).to_have_text("Paid to you")
    await expect(statement).to_contain_text("The house owes you $0.00.")
    shipments = room.locator("#shipment-list tbody tr")
    await expect(shipments).to_have_count(1)
    shipped = shipments.first
    await expect(shipped.locator("td").first).to_have_text("Lot 2")
    await expect(shipped).to_contain_text(returned["tracking_no"])
    await expect(shipped).to_contain_text("In transit")
    insured = f"${returned['declared_value'] // 100:,}.{returned['declared_value'] % 100:02d}"
    await expect(shipped.locator("td").last).to_have_text(insured)
    await expect(room.locator(f"#passed-{sale.id}-2")).to_contain_text(f"Returned: insured for {insured}")

    # On a phone the same room, nothing off to the side.
    phone = await page_for("consignor", "phone")
    await _room(phone)
    await expect(phone.locator("#shipment-list")).to_contain_text(returned["tracking_no"])
    await expect(phone.locator("#payout-list")).to_contain_text("$90.00")
    assert await no_horizontal_overflow(phone), "the consignor's room overflows at 390 px"

    # The desk names the consignor on the return, and the laboratory on a trip to a lab, never a bare number.
    consignor = await pg.fetchrow("SELECT name, company FROM consignors WHERE id = $1", people.consignor_id)
    assert consignor is not None
    async with pg.acquire() as conn, conn.transaction():
        to_lab = await shipping.create_shipment(
            conn, purpose="to_lab", sale_id=sale.id, lot_no=1, party_id=7, declared_value=10_000, currency="USD",
            at_ms=int(time.time() * 1000), idem_key=f"lab-{sale.id}",
        )  # fmt: skip
    desk = await page_for("settlement_officer")
    await desk.goto(f"/console/settlement?sale={sale.id}")
    back = desk.locator(f"#shipments article[data-shipment='{returned['shipment_id']}']")
    await expect(back).to_contain_text(f"to the consignor, {consignor['name']}, {consignor['company']};")
    await expect(desk.locator(f"#shipments article[data-shipment='{to_lab}']")).to_contain_text(
        "to the laboratory, GIA;"  # lot 1's stone has a GIA report
    )
    assert "consignor " + str(people.consignor_id) not in await desk.locator("#shipments").inner_text()
