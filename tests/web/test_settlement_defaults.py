"""A defaulted lot on the settlement desk in a real browser (static/console/settlement.js): the buyer of a live lot
never pays, settlement's sweep (driven with a time past the grace period, as tests/settlement do) puts their
invoice in default, the operator offers the lot to the underbidder from the page, the underbidder accepts in
their own account in another browser, and the desk shows the acceptance and the lot billed to them; what
PostgreSQL then holds is checked."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from playwright.async_api import Page, expect

from auction.engine.messages import HammerLot, OpenLot, TakeBid
from auction.engine.state import LiveTerms
from auction.store import Accepted
from settlement import defaults
from settlement.rules import DAY_MS
from tests.web.conftest import BotMaker, PageMaker, People, Registrar, SaleMaker, Site


async def _underbid_and_sold(site: Site, sale: int, under: tuple[int, int], winner: tuple[int, int]) -> None:
    """Lot 1 of a live sale opened, a floor bid at the ask for `under` (company, paddle), another for `winner`
    at the next ask, and hammered to `winner`: through the gateway's store, as the rostrum's messages are."""
    at = int(time.time() * 1000)
    commands = (
        OpenLot(at),
        TakeBid(at + 1, under[0], under[1], "floor", f"under-{sale}"),
        TakeBid(at + 2, winner[0], winner[1], "floor", f"winner-{sale}"),
        HammerLot(at + 3),
    )
    for command in commands:
        outcome = await site.store.execute(sale, 1, command)
        assert isinstance(outcome, Accepted), outcome


async def _invoice_of(pg: asyncpg.Pool, sale: int, buyer: int) -> asyncpg.Record:
    for _ in range(80):  # the worker's settlement bills the hammer
        row = await pg.fetchrow(
            "SELECT id, due_ms, status FROM invoices WHERE sale_id = $1 AND buyer_id = $2", sale, buyer
        )
        if row is not None:
            return row
        await asyncio.sleep(0.25)
    raise AssertionError(f"sale {sale} never billed buyer {buyer}")


async def _desk(page: Page, sale: int) -> None:
    await page.goto(f"/console/settlement?sale={sale}")
    await expect(page.locator("#defaults h2")).to_be_visible()


async def test_the_desk_offers_a_defaulted_lot_to_the_underbidder_who_accepts_in_their_account(
    site: Site, pg: asyncpg.Pool, make_sale: SaleMaker, register: Registrar, make_bot: BotMaker, people: People,
    page_for: PageMaker,
) -> None:  # fmt: skip
    sale = await make_sale(lots=1, reserve=10_000, live=LiveTerms(), name="Defaulted Whites")
    await register(sale.id, 41)  # the people's buyer: the underbidder at 100.00
    defaulter, _ = await make_bot(sale.id, 42)  # wins at 110.00 and never pays
    await _underbid_and_sold(site, sale.id, (people.company_id, 41), (defaulter, 42))
    invoice = await _invoice_of(pg, sale.id, defaulter)

    # Time passes: past the due date and the grace period, the sweep puts the invoice in default.
    await defaults.sweep(pg, invoice["due_ms"] + 15 * DAY_MS)
    assert await pg.fetchval("SELECT status FROM invoices WHERE id = $1", invoice["id"]) == "defaulted"

    desk = await page_for("settlement_officer")
    await _desk(desk, sale.id)
    lot = desk.locator("#defaults article[data-lot='1']")
    await expect(lot.locator("h3")).to_contain_text("defaulted on $110.00")
    await expect(lot.locator("h3")).to_contain_text("Bot Co 42")  # the defaulter by name, not an id
    await expect(lot.locator(".badge")).to_have_text("pending")
    resolve = desk.locator("form[aria-label='Resolve lot 1']")
    await resolve.get_by_label("What follows").select_option("second_chance")
    await resolve.get_by_role("button", name="Resolve").click()
    await expect(desk.locator("#status")).to_contain_text("Lot 1: second chance.")
    offers = lot.locator("table tbody tr")
    await expect(offers).to_have_count(1)
    company = await pg.fetchval("SELECT legal_name FROM companies WHERE id = $1", people.company_id)
    await expect(offers.first).to_contain_text(f"{company} (paddle 41)")  # the underbidder, named
    await expect(offers.first).to_contain_text("$100.00")  # at their own last bid
    await expect(offers.first.locator("td").nth(4)).to_have_text("open")
    await expect(resolve).to_have_count(0)  # resolved: no second resolution offered

    # The underbidder answers in their own account, in another browser.
    buyer = await page_for("buyer")
    await buyer.goto("/account")
    accept = buyer.get_by_role("button", name="Accept the second-chance offer of lot 1 at $100.00")
    await accept.click()
    await expect(buyer.locator("#status")).to_contain_text("The second-chance offer on lot 1: accepted.")
    await expect(buyer.locator("[data-offer-status='accepted']")).to_have_count(1)

    # The desk, opened again, shows the acceptance and the lot billed to the underbidder: 100.00 and the 26 % premium.
    await _desk(desk, sale.id)
    await expect(offers.first.locator("td").nth(4)).to_have_text("accepted")
    await expect(offers.first.get_by_role("button")).to_have_count(0)  # nothing left to answer
    await expect(lot.locator(".badge")).to_have_text("second chance sold")
    row = desk.locator(f"#invoices tr[data-buyer='{people.company_id}']")
    await expect(row).to_contain_text(f"{company} (paddle 41)")
    await expect(row).to_contain_text("$126.00")
    await expect(desk.locator(f"#invoices tr[data-buyer='{defaulter}'] .invoice-status")).to_have_text("defaulted")

    offer = await pg.fetchrow("SELECT buyer_id, amount, status FROM second_chance_offers WHERE sale_id = $1", sale.id)
    assert offer is not None and (offer["buyer_id"], offer["amount"], offer["status"]) == (
        people.company_id, 10_000, "accepted",
    )  # fmt: skip
    billed = await pg.fetchval(
        "SELECT l.hammer FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id "
        "WHERE i.sale_id = $1 AND i.buyer_id = $2 AND l.status = 'active'",
        sale.id, people.company_id,
    )  # fmt: skip
    assert billed == 10_000
