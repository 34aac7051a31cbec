"""The journey of issue 15 end to end in a real browser, each actor in a browser context of their own: a new buyer
applies with a document; a vetting officer reads it and approves the company in the console; the buyer signs in,
registers for a timed sale from its room and the officer gives them a paddle; the buyer bids against a bot, their
connection drops and resumes mid-sale (the bot's bid made meanwhile is heard once), they set a maximum and win the
lot while the consignor watches it live, bids by paddle and the result; then the buyer opens the invoice from their
account, its total the ledger's."""

from __future__ import annotations

import asyncio
import re
import secrets

import asyncpg
from playwright.async_api import Page, expect

from auction.engine.premium import CHRISTIES_2023_USD, all_in
from auction.gateway.app import GATEWAY
from settlement import ledger
from tests.web.conftest import BotMaker, ContextMaker, SaleMaker, Site
from tests.web.test_bidder_room import QUICK_CLOSE, bot_bids, lot_view, usd

PASSPHRASE = "a long enough passphrase"


async def apply_with_a_document(page: Page, name: str, email: str) -> None:
    """The new buyer's application at /apply, then a trade licence uploaded, as a buyer would fill them."""
    await page.goto("/apply")
    await page.get_by_label("Legal name").fill(name)
    await page.get_by_label("Registration number").fill(f"BE 0{secrets.randbelow(10**9):09d}")
    await page.get_by_label("Country").fill("BE")
    await page.get_by_label("Trade licence number").fill("AWDC-40917")
    await page.get_by_label("Bank reference").fill(f"KBC Antwerp {secrets.token_hex(3)}")
    await page.get_by_label("Owner 1: name").fill("Lien Janssens")
    await page.get_by_label("Owner 1: share (%)").fill("100")
    await page.locator("#representatives-0-name").fill("Lien Janssens")
    await page.locator("#representatives-0-email").fill(email)
    await page.locator("#representatives-0-password").fill(PASSPHRASE)
    await page.get_by_label("We trade only in diamonds").check()
    await page.get_by_label("We have an anti-money-laundering policy").check()
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("[data-field=applied]")).to_contain_text(name)
    await page.get_by_label("Kind of document").select_option("trade_licence")
    await page.get_by_label("File (PDF or picture").set_input_files(
        {"name": "licence.png", "mimeType": "image/png", "buffer": _ONE_PIXEL_PNG}
    )
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("[data-field=uploaded]")).to_contain_text("Uploaded licence.png")


_ONE_PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)


async def approve_the_company(officer: Page, company: int, name: str) -> None:
    """The vetting officer opens the company's file from the queue, views its document and approves it."""
    await officer.goto("/console/vetting")
    row = officer.locator(f"#queue tr[data-company='{company}']")
    await expect(row).to_contain_text("Pending")
    await row.get_by_role("link", name=name).click()
    file = officer.locator("#company-file")
    await file.get_by_role("button", name="View licence.png").click()
    await expect(officer.locator("#doc-preview img")).to_be_visible()
    decision = officer.locator("#decision-form")
    await decision.get_by_label("Decision").select_option("approve")
    await decision.get_by_label("Reason (on record)").fill("Licence and declarations checked")
    await decision.get_by_role("button", name="Record the decision").click()
    await expect(officer.locator("#status")).to_contain_text(f"{name}: Approved")


async def give_a_paddle(officer: Page, sale: int, company: int, name: str, paddle: int) -> None:
    await officer.goto(f"/console/registrations?sale={sale}")
    form = officer.locator(f"form.registration-decision[data-company='{company}']")
    await form.get_by_label("Paddle").fill(str(paddle))
    await form.get_by_label("Bidding limit (USD)").fill("20,000")
    await form.get_by_label("Deposit required (USD)").fill("0")
    await form.get_by_role("button", name="Approve").click()
    await expect(officer.locator("#status")).to_contain_text(f"{name} approved with paddle {paddle}")


async def bid_in_the_room(page: Page, amount: str, button: str, confirm: str) -> None:
    card = page.locator("#lot-1")
    await card.locator("[data-field=amount]").fill(amount)
    await card.get_by_role("button", name=button, exact=True).click()
    await card.locator("[data-field=confirm]").get_by_role("button", name=confirm).click()


async def invoice_of(pg: asyncpg.Pool, sale: int, company: int) -> None:
    for _ in range(150):  # the worker's settlement bills the close
        if await pg.fetchval("SELECT 1 FROM invoices WHERE sale_id = $1 AND buyer_id = $2", sale, company):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no invoice for company {company} in sale {sale}")


async def test_a_new_buyer_applies_is_approved_registers_wins_a_timed_lot_watched_live_and_opens_the_invoice(
    site: Site, pg: asyncpg.Pool, make_sale: SaleMaker, make_bot: BotMaker, context_for: ContextMaker
) -> None:
    tag = secrets.token_hex(3)
    name, email = f"Kempen Brilliants {tag} NV", f"lien-{tag}@kempen.example"

    # 1. A new buyer applies, with a document, in a browser of their own.
    buyer = await (await context_for("anonymous")).new_page()
    await apply_with_a_document(buyer, name, email)
    company = await pg.fetchval("SELECT id FROM companies WHERE legal_name = $1", name)
    assert company is not None

    # 2. A vetting officer approves the company in the console.
    officer = await (await context_for("vetting_officer")).new_page()
    await approve_the_company(officer, company, name)
    await buyer.goto("/apply/status")
    await expect(buyer.locator("[data-field=company-status]")).to_contain_text("Approved")

    # 3. A timed sale is on; the buyer (signed in by the application: out, then in again with the new account's
    # password) registers from the sale's room, and the officer gives them a paddle.
    sale = await make_sale(lots=1, closes_in_s=20, soft_close=QUICK_CLOSE, name="Kempen Journey Sale")
    _, bot = await make_bot(sale.id, 12)
    await buyer.get_by_role("button", name="Sign out").click()
    await buyer.wait_for_url("**/")
    await buyer.goto(f"/sign-in?next=/sales/{sale.id}")
    await buyer.get_by_label("Email").fill(email)
    await buyer.get_by_label("Password").fill(PASSPHRASE)
    await buyer.get_by_role("button", name="Sign in").click()
    await buyer.wait_for_url(f"**/sales/{sale.id}")
    await buyer.get_by_role("button", name="Register to bid in this sale").click()
    await expect(buyer.locator("[data-field=registration]")).to_contain_text("waiting for the house's approval")
    await expect(buyer.locator("#lot-1 form")).to_be_hidden()  # no paddle yet: no bid form
    await give_a_paddle(officer, sale.id, company, name, 21)
    # the open room learns of the decision by itself (it asks every 5 s): the paddle and the bid form, no reload
    await expect(buyer.locator("[data-field=paddle]")).to_contain_text("Your paddle: 21")
    await expect(buyer.locator("#lot-1 form")).to_be_visible()
    await expect(buyer.locator("#connection")).to_have_attribute("data-state", "live")

    # 4. The consignor watches their lot live in the consignor's room.
    consignor = await (await context_for("consignor", "phone")).new_page()
    await consignor.goto("/consignor")
    watched = consignor.locator(f"#lot-{sale.id}-1")
    await expect(watched).to_be_visible()
    await expect(consignor.locator("#conn")).to_have_text("Live")
    record = watched.locator("ol.record li[data-type='bid']")

    # 5. The buyer bids against the bot.
    card = buyer.locator("#lot-1")
    await bid_in_the_room(buyer, "300", "Bid", "Confirm bid")
    await expect(card.locator("[data-field=answer]")).to_have_text(f"Accepted: you lead at {usd(30_000)}.")
    await expect(record.first).to_contain_text("Paddle 21 bid $300.00; reserve not met")

    # 6. The connection drops mid-sale; the bot outbids meanwhile; the resumed page hears it, once.
    await buyer.context.set_offline(True)
    await site.app[GATEWAY].live.close_all()  # every socket closed from the server's side, as a restart does
    await expect(buyer.locator("#connection")).to_have_attribute("data-state", "offline")
    await bot_bids(site, bot, sale.id, 1, 60_000)
    await expect(card.locator("[data-field=you]")).to_have_text("You lead.")  # it can't have heard yet
    await buyer.context.set_offline(False)
    await expect(buyer.locator("#connection")).to_have_attribute("data-state", "live")
    view = await lot_view(site, sale.id, 1)
    await expect(card.locator("[data-field=you]")).to_have_text(
        f"You have been outbid. The next bid is at least {usd(int(view['next_minimum']))}."  # type: ignore[call-overload]
    )
    await expect(card.locator("[data-field=leader]")).to_have_text("Paddle 12")
    await expect(card.locator("[data-field=log] li", has_text="by paddle 12")).to_have_count(1)
    await expect(record.first).to_contain_text("Paddle 12 bid $600.00; reserve met")
    await expect(consignor.locator("#conn")).to_have_text("Live")  # the consignor's socket resumed too

    # 7. A maximum wins it: the engine bids the least needed; the lot closes on the server's clock.
    await bid_in_the_room(buyer, "2,000", "Set a maximum bid", "Confirm maximum")
    await expect(card.locator("[data-field=you]")).to_have_text("You lead.")
    await expect(card.locator("[data-field=status]")).to_have_text("Sold", timeout=40_000)
    await expect(card.locator("[data-field=you]")).to_have_text("You won this lot.")
    hammer = int((await lot_view(site, sale.id, 1))["price"])  # type: ignore[call-overload]
    assert hammer < 200_000 and hammer > 60_000

    # The consignor saw every bid by paddle, each once, and the result, without a reload.
    record = consignor.locator(f"#lot-record-{sale.id}-1 li[data-type='bid']")  # the lot is among the results now
    await expect(record).to_have_count(3)
    texts = await record.all_text_contents()
    bids = [re.search(r"Paddle (\d+) bid (\S+?)[ ;]", text) for text in texts]
    assert [(int(m[1]), m[2]) for m in bids if m] == [(21, usd(hammer)), (12, usd(60_000)), (21, usd(30_000))], texts
    await expect(consignor.locator("#result-lots [data-result='sold']")).to_have_text("Sold to paddle 21")
    sold = consignor.locator(f"#lot-record-{sale.id}-1 li[data-type='sold']")
    await expect(sold).to_contain_text(f"Sold to paddle 21 for {usd(hammer)}")
    assert name not in await consignor.content()  # a consignor never learns the buyer's name

    # 8. The buyer opens the invoice from their account, linked from the room: the hammer with the premium, as
    # the ledger holds it.
    await invoice_of(pg, sale.id, company)
    owed = await ledger.balance(pg, ledger.buyer(company), "USD")
    assert owed == all_in(hammer, CHRISTIES_2023_USD)
    await buyer.locator("#bidder").get_by_role("link", name="your account").click()
    await expect(buyer).to_have_url(re.compile(r"/account$"))
    await buyer.get_by_role("link", name=re.compile(rf"^Invoice {sale.id}-\d+")).click()
    await expect(buyer).to_have_url(re.compile(rf"/account/invoice\?sale={sale.id}$"))
    await expect(buyer.locator("[data-total]")).to_have_attribute("data-total", str(owed))
    await expect(buyer.locator("[data-total]")).to_have_text(usd(owed))
    await expect(buyer.locator(".buyer-name")).to_have_text(name)
