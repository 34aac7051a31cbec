"""The settlement desk's shipments and claims in a real browser (static/console/settlement.js): a paid lot is shipped
to its buyer (named as people know them: the company and its paddle, never an id), its parcel scanned until it is
lost, the theft claim filed from the desk, its evidence uploaded there, and the claim reviewed, approved and paid,
all from the page; what PostgreSQL then holds is checked."""

from __future__ import annotations

import asyncpg
from playwright.async_api import Page, expect

from auction.engine.state import LiveTerms
from tests.web.conftest import PageMaker, People, Registrar, SaleMaker, Site
from tests.web.test_console import _sold_live_lot

PDF = b"%PDF-1.4 invoice of the stone, 1.52 ct"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)


async def open_desk_once_billed(desk: Page, pg: asyncpg.Pool, sale: int) -> None:
    for _ in range(40):  # the worker's settlement bills the hammer
        if await pg.fetchval("SELECT count(*) FROM invoices WHERE sale_id = $1", sale):
            break
        await desk.wait_for_timeout(250)
    await desk.goto(f"/console/settlement?sale={sale}")
    await expect(desk.locator("#invoices table")).to_be_visible()


async def scan(desk: Page, shipment: str, state: str) -> None:
    form = desk.locator(f"form[aria-label='Tracking of shipment {shipment}']")
    await form.get_by_label("New state").select_option(state)
    await form.get_by_role("button", name="Record the scan").click()
    await expect(desk.locator("#status")).to_contain_text(f"Shipment {shipment}: parcel 1 recorded")
    # the same words after every scan: wait for the redrawn parcel, so the next scan uses the new form
    parcel = desk.locator(f"#shipments article[data-shipment='{shipment}'] tbody tr").first
    await expect(parcel.locator("td").nth(3)).to_have_text(state.replace("_", " "))


async def test_the_desk_ships_a_paid_lot_and_files_evidences_approves_and_pays_a_claim(
    site: Site, pg: asyncpg.Pool, make_sale: SaleMaker, register: Registrar, people: People, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=1, reserve=10_000, live=LiveTerms(), name="Shipped Whites")
    await register(sale.id, 41)
    await _sold_live_lot(site, sale.id, people.company_id, 41)
    company = await pg.fetchval("SELECT legal_name FROM companies WHERE id = $1", people.company_id)
    desk = await page_for("settlement_officer")
    await open_desk_once_billed(desk, pg, sale.id)
    await expect(desk.locator(f"#invoices tr[data-buyer='{people.company_id}']")).to_contain_text(
        f"{company} (paddle 41)"
    )
    payment = desk.locator("form.payment-form")
    await payment.get_by_label("Amount received (USD)").fill("126.00")
    await payment.get_by_label("Payment reference").fill(f"WIRE-{sale.id}")
    await payment.get_by_role("button", name="Record the payment").click()
    await expect(desk.locator("#status")).to_contain_text("paid in full")

    # Shipped to the buyer, named as people know them; scanned until the parcel is lost.
    await desk.locator("#shipments").get_by_role("button", name="Ship every paid lot").click()
    await expect(desk.locator("#status")).to_contain_text("1 shipment created")
    shipment = desk.locator("#shipments article[data-shipment]")
    await expect(shipment).to_contain_text(f"to {company} (paddle 41)")
    number = await shipment.get_attribute("data-shipment") or ""
    for state in ("collected", "in_transit", "exception", "lost"):
        await scan(desk, number, state)
    await expect(shipment.locator("h3")).to_contain_text("lost")

    # The claim filed from the desk, its evidence added there, then reviewed, approved and paid.
    filing = desk.locator(f"form[aria-label='Claim on shipment {number}']")
    # a theft may be claimed at once (with a police report); a loss only once the parcel is overdue
    await filing.get_by_label("Kind of claim").select_option("theft")
    await filing.get_by_label("What happened").fill("The parcel was stolen from the carrier's van in Antwerp")
    await filing.get_by_role("button", name="File the claim").click()
    await expect(desk.locator("#status")).to_contain_text("filed: theft of lot 1")
    claim = desk.locator("#claims article[data-claim]")
    await expect(claim).to_have_count(1)
    needed = claim.locator(".banner")
    await expect(needed).to_contain_text("Evidence still needed: proof of value, photo, police report")
    claim_id = await claim.get_attribute("data-claim") or ""
    for kind, name, mime, content in (("invoice", "invoice.pdf", "application/pdf", PDF),
                                      ("photo", "parcel.png", "image/png", PNG),
                                      ("police_report", "police.pdf", "application/pdf", PDF)):  # fmt: skip
        evidence = desk.locator(f"form[aria-label='Evidence for claim {claim_id}']")
        await evidence.get_by_label("Kind of evidence").select_option(kind)
        await evidence.get_by_label("File (PDF or picture)").set_input_files(
            {"name": name, "mimeType": mime, "buffer": content}
        )
        await evidence.get_by_role("button", name="Add the evidence").click()
        await expect(desk.locator("#status")).to_contain_text(f"{name} added")
        await expect(claim).to_contain_text(kind.replace("_", " "))  # redrawn: the next form is the new one
    await expect(claim.locator(".banner")).to_have_count(0)
    await expect(claim).to_contain_text("Evidence: invoice, photo, police report.")
    for step, amount in (("under_review", ""), ("approved", "100.00"), ("paid", "")):
        move = desk.locator(f"form[aria-label='Move claim {claim_id}']")
        await move.get_by_label("Next step").select_option(step)
        if amount:
            await move.get_by_label("Amount, for an approval (USD)").fill(amount)
        await move.get_by_role("button", name="Move the claim").click()
        await expect(desk.locator("#status")).to_contain_text(f"Claim {claim_id}: {step.replace('_', ' ')}")
        await expect(claim.locator("h3 .badge")).to_have_text(step.replace("_", " "))  # redrawn
    await expect(claim.locator("h3")).to_contain_text("paid")
    row = await pg.fetchrow("SELECT status, approved_amount FROM claims WHERE id = $1", int(claim_id))
    assert row is not None and (row["status"], row["approved_amount"]) == ("paid", 10_000)
