"""The buyer's account (/account) in a real browser, against the real gateway and the worker's loops: a buyer who
won a lot finds its invoice there, opens it, sees the total with the premium that the ledger holds, prints it
with human dates and the company's name, and is refused the invoices they don't own; the pages fit a phone and
a desktop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import asyncpg
from playwright.async_api import BrowserContext, expect

from settlement import ledger
from tests.web.conftest import BotMaker, ContextMaker, People, Registrar, Site, Worker
from tests.web.room_shots import no_horizontal_overflow, screenshot
from tests.web.test_consignor_room import bid, quick_sale, token_of


async def won_lot(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, make_bot: BotMaker, sale_id: int
) -> tuple[int, int]:
    """The people's buyer wins lot 1 of a sale over a bot, and settlement bills it; (sale, the bot's company)."""
    sale = await quick_sale(pg, site, worker, people, sale_id, lots=1, closes_in_s=2.5)
    await register(sale.id, 21)
    bot, bot_token = await make_bot(sale.id, 22)
    buyer = await token_of(pg, people["buyer"].account.id)  # type: ignore[union-attr]
    await bid(site, bot_token, sale.id, 1, 60_000)
    await bid(site, buyer, sale.id, 1, 80_000)
    for _ in range(100):  # the lot closes and settlement bills it
        if await pg.fetchval("SELECT 1 FROM invoices WHERE sale_id = $1 AND buyer_id = $2", sale.id, people.company_id):
            break
        await asyncio.sleep(0.1)
    return sale.id, bot


async def status_of(context: BrowserContext, path: str) -> int:
    """What the API answers this context (its session cookie) for `path`."""
    return (await context.request.get(path)).status


async def test_a_buyer_opens_their_invoice_from_the_account_and_prints_it(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, make_bot: BotMaker,
    context_for: ContextMaker, new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    sale, bot = await won_lot(site, pg, worker, people, register, make_bot, new_sale_id())
    owed = await ledger.balance(pg, ledger.buyer(people.company_id), "USD")
    assert owed == 80_000 + 20_800  # hammer and 26 % premium, as the ledger holds them
    context = await context_for("buyer")
    page = await context.new_page()
    await page.goto("/account")
    await expect(page.locator("[data-outstanding='USD']")).to_have_text("$1,008.00")
    link = page.get_by_role("link", name=re.compile(rf"^Invoice {sale}-\d+"))
    await link.click()
    await expect(page).to_have_url(re.compile(rf"/account/invoice\?sale={sale}$"))
    await expect(page.locator("[data-total]")).to_have_attribute("data-total", str(owed))
    await expect(page.locator("[data-total]")).to_have_text("$1,008.00")
    company = await pg.fetchval("SELECT legal_name FROM companies WHERE id = $1", people.company_id)
    await expect(page.locator(".buyer-name")).to_have_text(company)
    await expect(page.locator(".invoice-lines tbody tr")).to_contain_text("1.52 ct Round, G, VS2, cut Excellent")
    await expect(page.locator(".invoice-totals")).to_contain_text("$208.00")  # the premium line

    async with context.expect_page() as opened:
        await page.locator("#printable").click()
    printable = await opened.value
    await printable.wait_for_load_state()
    text = await printable.locator("body").inner_text()
    assert company in text and "Bill to" in text
    assert re.search(r"Due\s+\d{1,2} \w+ \d{4}, \d\d:\d\d (GMT|BST)", text), text  # the viewer's zone: London
    assert "Europe/London" in text
    assert not re.search(r"\b1\d{12}\b", text), "an epoch-milliseconds time on the printable invoice"
    assert not re.search(r"\bbuyer \d+\b", text, re.IGNORECASE)
    assert "1,008.00" in text and "26% of the hammer price" in text
    await screenshot(printable, "account-invoice-print", 1400)

    # the invoices this buyer doesn't own: refused, whether or not they exist
    theirs = f"/api/settlement/sales/{sale}/invoices/{bot}"
    nobodys = f"/api/settlement/sales/{sale}/invoices/999999999/document"
    for path in (theirs, f"{theirs}/print", nobodys, f"/api/settlement/buyers/{bot}/invoices"):
        assert await status_of(context, path) == 403, path
    stranger = await context_for("anonymous")
    assert await status_of(stranger, f"/api/settlement/sales/{sale}/invoices/{people.company_id}") == 401


async def test_the_account_pages_fit_a_phone_and_a_desktop(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, make_bot: BotMaker,
    context_for: ContextMaker, new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    sale, _ = await won_lot(site, pg, worker, people, register, make_bot, new_sale_id())
    for viewport, width in (("phone", 390), ("desktop", 1400)):
        page = await (await context_for("buyer", viewport)).new_page()
        await page.goto("/account")
        await expect(page.locator("[data-invoice-status='open']")).to_have_count(1)
        await expect(page.locator("[data-registration='approved']")).to_have_count(1)
        assert await no_horizontal_overflow(page), f"/account overflows at {width} px"
        await screenshot(page, "account", width)
        await page.goto(f"/account/invoice?sale={sale}")
        await expect(page.locator("[data-total]")).to_have_text("$1,008.00")
        assert await no_horizontal_overflow(page), f"the invoice overflows at {width} px"
        await screenshot(page, "account-invoice", width)


async def test_a_buyer_makes_an_offer_on_a_passed_lot_from_the_account_with_the_keyboard(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, context_for: ContextMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    sale = await quick_sale(pg, site, worker, people, new_sale_id(), lots=1, closes_in_s=1.5)
    await register(sale.id, 23)
    for _ in range(100):  # the lot passes unsold and settlement opens its post-sale window
        if await pg.fetchval("SELECT 1 FROM passed_lots WHERE sale_id = $1", sale.id):
            break
        await asyncio.sleep(0.1)
    page = await (await context_for("buyer")).new_page()
    await page.goto("/account")
    amount = page.get_by_label("Your offer for lot 1 (USD, before premium)")
    await amount.focus()
    await page.keyboard.type("450")
    await page.keyboard.press("Enter")
    row = page.locator("#offer-list tr", has_text="Your offer")
    await expect(row.locator("[data-offer-status]")).to_have_text("Open")
    await expect(row).to_contain_text("$450.00")
    offers = await pg.fetch("SELECT amount, status FROM post_sale_offers WHERE sale_id = $1 AND kind = 'buyer'",
                            sale.id)  # fmt: skip
    assert [(r["amount"], r["status"]) for r in offers] == [(45_000, "open")]
