"""The bidder's room (/sales/{sale}) in a real browser against a real gateway and worker: a buyer bids, is
outbid by a bot, sets a maximum and wins a timed lot while a watcher, the consignor and an auctioneer watch the
same page; the bid from the keyboard alone; the premium-inclusive total before confirming."""

from __future__ import annotations

import re
import secrets
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from auction import catalog, identity
from auction.engine.premium import CHRISTIES_2023_USD, all_in
from auction.engine.state import SoftClose
from tests.web.conftest import PASSWORD, BotMaker, PageMaker, Person, Registrar, SaleMaker, Site, sign_in

QUICK_CLOSE = SoftClose(window_ms=1_000, extension_ms=1_000)  # a bid in the last second adds a second


def usd(cents: int) -> str:
    """As the page shows money in en-US."""
    return f"${cents // 100:,}.{cents % 100:02d}"


async def bot_bids(site: Site, token: str, sale: int, lot: int, amount: int, kind: str = "bid") -> dict[str, object]:
    async with aiohttp.ClientSession(site.base) as http, http.post(
        f"/api/sales/{sale}/lots/{lot}/bids", json={"amount": amount, "client_id": f"bot-{secrets.token_hex(4)}",
                                                   "kind": kind},
        headers={"Authorization": f"Bearer {token}"},
    ) as reply:  # fmt: skip
        body: dict[str, object] = await reply.json()
        assert reply.status == 200, body
        return body


async def lot_view(site: Site, sale: int, lot: int) -> dict[str, object]:
    async with aiohttp.ClientSession(site.base) as http, http.get(f"/api/sales/{sale}/lots/{lot}") as reply:
        entry: dict[str, dict[str, object]] = await reply.json()
        return entry["live"]


async def open_room(page: Page, sale: int) -> None:
    await page.goto(f"/sales/{sale}")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")


async def test_a_buyer_bids_is_outbid_sets_a_maximum_and_wins_while_every_role_watches(
    site: Site, make_sale: SaleMaker, register: Registrar, make_bot: BotMaker, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=1, closes_in_s=15, soft_close=QUICK_CLOSE)
    await register(sale.id, 11)
    _, bot = await make_bot(sale.id, 12)
    buyer = await page_for("buyer")
    watchers = {role: await page_for(role, viewport) for role, viewport in
                (("anonymous", "phone"), ("consignor", "desktop"), ("auctioneer", "phone"))}  # fmt: skip
    await open_room(buyer, sale.id)
    for page in watchers.values():
        await open_room(page, sale.id)
    card = buyer.locator("#lot-1")
    await expect(card.locator("[data-field=status]")).to_have_text("Open")
    await expect(buyer.locator("[data-field=paddle]")).to_contain_text("Your paddle: 11")

    # The total with the premium is on screen before the bid is confirmed, and the bid is pending until the ack.
    await card.locator("[data-field=amount]").fill("150")
    await card.get_by_role("button", name="Bid", exact=True).click()
    confirm = card.locator("[data-field=confirm]")
    await expect(confirm).to_be_visible()
    await expect(confirm.locator("[data-field=confirm-total]")).to_contain_text(usd(all_in(15_000, CHRISTIES_2023_USD)))
    await expect(card.locator("[data-field=answer]")).to_have_text("")  # nothing sent before confirming
    await confirm.get_by_role("button", name="Confirm bid").click()
    await expect(card.locator("[data-field=answer]")).to_have_text(f"Accepted: you lead at {usd(15_000)}.")
    await expect(card.locator("[data-field=you]")).to_have_text("You lead.")

    # A bot outbids: the buyer is told, with the next acceptable amount.
    await bot_bids(site, bot, sale.id, 1, 20_000)
    view = await lot_view(site, sale.id, 1)
    await expect(card.locator("[data-field=you]")).to_have_text(
        f"You have been outbid. The next bid is at least {usd(int(view['next_minimum']))}."
    )  # type: ignore[call-overload]
    await expect(card.locator("[data-field=price]")).to_have_text(usd(20_000))
    await expect(card.locator("[data-field=leader]")).to_have_text("Paddle 12")

    # A maximum: the engine bids for the buyer, the least needed.
    await card.locator("[data-field=amount]").fill("1,000")
    await card.get_by_role("button", name="Set a maximum bid").click()
    await expect(confirm.locator("[data-field=confirm-total]")).to_contain_text(
        usd(all_in(100_000, CHRISTIES_2023_USD))
    )
    await confirm.get_by_role("button", name="Confirm maximum").click()
    await expect(card.locator("[data-field=answer]")).to_contain_text("Accepted: you lead at")
    await expect(card.locator("[data-field=answer]")).to_contain_text(f"Your maximum: {usd(100_000)}.")
    await expect(card.locator("[data-field=you]")).to_have_text("You lead.")

    # The lot closes on the server's clock: won, and every watcher's page shows it sold, none of them frozen.
    await expect(card.locator("[data-field=status]")).to_have_text("Sold", timeout=30_000)
    await expect(card.locator("[data-field=you]")).to_have_text("You won this lot.")
    hammer = int((await lot_view(site, sale.id, 1))["price"])  # type: ignore[call-overload]
    for role, page in watchers.items():
        watched = page.locator("#lot-1")
        await expect(watched.locator("[data-field=status]"), role).to_have_text("Sold")
        await expect(watched.locator("[data-field=price]"), role).to_have_text(usd(hammer))
        await expect(watched.locator("[data-field=countdown]"), role).to_have_text("Closed")
        await expect(page.locator("#sale-status"), role).to_have_text("Finished")
        await expect(watched.locator("form"), role).to_be_hidden()  # nobody but the buyer gets a bid form
    await expect(buyer.locator("#sale-status")).to_have_text("Finished")


async def test_a_bid_from_the_keyboard_alone(
    site: Site, make_sale: SaleMaker, register: Registrar, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=2)
    await register(sale.id, 21)
    page = await page_for("buyer")
    await open_room(page, sale.id)
    amount = page.locator("#lot-2 [data-field=amount]")
    await page.keyboard.press("Tab")  # the skip link comes first
    await expect(page.locator(".skip-link")).to_be_focused()
    for _ in range(60):  # walk the page with Tab until the second lot's amount field has the focus
        if await amount.evaluate("(element) => element === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await expect(amount).to_be_focused()
    await page.keyboard.press("Control+a")
    await page.keyboard.type("120")
    await page.keyboard.press("Enter")  # the form's submit: the confirmation step, focused on its button
    confirm = page.locator("#lot-2 [data-field=confirm]").get_by_role("button", name="Confirm bid")
    await expect(confirm).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#lot-2 [data-field=answer]")).to_have_text(f"Accepted: you lead at {usd(12_000)}.")
    assert (await lot_view(site, sale.id, 2))["leader_paddle"] == 21
    await page.keyboard.press("Escape")  # nothing to cancel: harmless
    await expect(page.locator("#lot-1 [data-field=price]")).to_have_text("No bids yet")


async def test_the_watch_list_is_kept_and_filters(make_sale: SaleMaker, page_for: PageMaker) -> None:
    sale = await make_sale(lots=3)
    page = await page_for("anonymous")
    await open_room(page, sale.id)
    await page.locator("#lot-2").get_by_role("button", name="Watch").click()
    await expect(page.locator("#lot-2 .watch")).to_have_attribute("aria-pressed", "true")
    await page.reload()
    await expect(page.locator("#lot-2 .watch")).to_have_attribute("aria-pressed", "true")
    await page.get_by_label("Show only my watch list").check()
    await expect(page.locator(".lot:visible")).to_have_count(1)
    await expect(page.locator("#lot-count")).to_have_text("1 lot on your watch list")
    await expect(page.locator("#lot-2")).to_be_visible()


async def test_a_buyer_not_registered_registers_from_the_room(make_sale: SaleMaker, page_for: PageMaker) -> None:
    sale = await make_sale(lots=1)
    page = await page_for("buyer")
    await open_room(page, sale.id)
    await expect(page.locator("#lot-1 form")).to_be_hidden()  # no paddle: no bid form
    await page.get_by_role("button", name="Register to bid in this sale").click()
    await expect(page.locator("[data-field=registration]")).to_contain_text("waiting for the house's approval")


async def test_a_page_with_no_such_sale_says_so(page_for: PageMaker) -> None:
    page = await page_for("anonymous")
    await page.goto("/sales/999999999999")
    await expect(page.get_by_role("heading", name="Sale not found")).to_be_visible()
    await page.goto("/sales/not-a-sale")
    await expect(page.get_by_text(re.compile("does not name a sale"))).to_be_visible()


async def test_a_consignor_with_no_lots_here_and_a_clerk_open_the_room_without_errors(
    site: Site, make_sale: SaleMaker, make_bot: BotMaker, context_for: Any
) -> None:
    sale = await make_sale(lots=2)
    _, bot = await make_bot(sale.id, 61)
    other = await catalog.add_consignor(site.pg, "Other consignor", "Elsewhere Ltd")
    stranger = await identity.create_account(site.pg, f"c-{secrets.token_hex(4)}@example.test", "Stranger", PASSWORD,
                                             "consignor", consignor_id=other)  # fmt: skip
    context = await context_for("anonymous")
    await sign_in(context, site, Person("consignor", stranger, stranger.email))
    consignor = await context.new_page()
    await consignor.goto(f"/sales/{sale.id}")
    await expect(consignor.locator("#connection")).to_have_text("No live updates: none of these lots is yours")
    await expect(consignor.locator("#lot-1 [data-field=status]")).to_have_text("Open")
    clerk = await (await context_for("clerk", "phone")).new_page()
    await open_room(clerk, sale.id)
    await bot_bids(site, bot, sale.id, 2, 10_000)
    await expect(clerk.locator("#lot-2 [data-field=price]")).to_have_text(usd(10_000))
    await expect(clerk.locator("#lot-2 [data-field=log] li")).to_have_count(2)  # opened, then the bid: recorded
    await expect(clerk.locator("#alert")).to_be_hidden()


async def test_a_refused_bid_says_why_and_offers_the_least_now(
    make_sale: SaleMaker, register: Registrar, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=1, opening=10_000)
    await register(sale.id, 71)
    page = await page_for("buyer", "phone")
    await open_room(page, sale.id)
    card = page.locator("#lot-1")
    await card.locator("[data-field=amount]").fill("50")
    await card.get_by_role("button", name="Bid", exact=True).click()
    await card.get_by_role("button", name="Confirm bid").click()
    await expect(card.locator("[data-field=answer]")).to_have_text(
        f"Not accepted: Too low. The least you can bid now is {usd(10_000)}."
    )
    await expect(card.locator("[data-field=amount]")).to_have_value("100.00")
    await expect(card.locator("[data-field=price]")).to_have_text("No bids yet")
