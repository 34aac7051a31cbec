"""A sealed-bid tender in the rooms, in a real browser against the real gateway and the worker's loops (issue 16):
two officers make their keys in their own browsers; two buyers bid from theirs, per carat and in total, one
replacing their bid, the other with the keyboard alone; each reads their own bids, opened in the browser from
the copy sealed to its key; after the close each checks their receipt in the published commitments; the two
officers give their shares in the console and the second reveals; the buyers see their results and ranks; the
consignor accepts the top bid below the reserve. Then each tender room at 390 and 1,400 px."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from auction import catalog, identity
from auction.tender.officers import register_key
from auction.tender.sealing import new_key_pair
from tests.web.conftest import (
    PASSWORD,
    VIEWPORTS,
    BrowserErrors,
    ContextMaker,
    People,
    Person,
    Registrar,
    Site,
    Viewport,
    Worker,
    sign_in,
)
from tests.web.room_shots import no_horizontal_overflow, screenshot

DAY_MS = 86_400_000
SLOW_MS = 40_000  # the bid window's close and the reveal, waited for


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def api(site: Site, method: str, path: str, token: str, body: Any = None, status: int = 200) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, site.url(path), json=body, headers={"Authorization": f"Bearer {token}"}) as reply,
    ):
        answer = await reply.json(content_type=None)
        assert reply.status == status, (method, path, reply.status, answer)
        return answer


async def token_of(pg: asyncpg.Pool, person: Person) -> str:
    assert person.account is not None
    return (await identity.issue_token(pg, person.account.id, "api")).token


async def create_tender(
    site: Site, pg: asyncpg.Pool, people: People, sale: int, officers: list[int], *, bids_in_s: float, window_s: float
) -> dict[str, Any]:
    """A tender of two rough parcels of the people's consignor, made by the auctioneer over the API: on view now,
    bids from `bids_in_s`, closing `window_s` after; 2 of the officers reveal."""
    start = now_ms() - 1_000
    bids_from = now_ms() + int(bids_in_s * 1000)
    lots = [(1, "Rough parcel, 14 stones", 250, 1_000_000, "ZA-KP-2026-0001"),
            (2, "Rough parcel, 3 stones", 1_040, 9_000_000, "BW-KP-2026-0417")]  # fmt: skip
    body = {
        "id": sale, "name": "Rough tender", "currency": "USD", "format": "tender", "starts_at_ms": start,
        "first_close_ms": bids_from + int(window_s * 1000),
        "settings": {"stagger_ms": 0, "tender": {"bids_from_ms": bids_from, "acceptance_window_ms": DAY_MS,
                                                 "threshold": 2, "officers": officers}},
        "lots": [{"lot": lot, "title": title, "consignor_id": people.consignor_id,
                  "diamond": {"carat_points": points, "shape": "Rough",
                              "report_override_reason": "rough parcel: viewed, not graded"},
                  "low_estimate": reserve, "high_estimate": reserve * 2, "reserve": reserve, "opening": 1,
                  "details": {"kp_certificate": kp}} for lot, title, points, reserve, kp in lots],
    }  # fmt: skip
    created: dict[str, Any] = await api(site, "POST", "/api/tenders", await token_of(pg, people["auctioneer"]), body,
                                        status=201)  # fmt: skip
    return created


async def second_buyer(pg: asyncpg.Pool) -> Person:
    """Another buyer company's representative, with a password to sign in."""
    tag = secrets.token_hex(4)
    bidder, _ = await catalog.add_bidder(pg, f"Ben {tag}", f"Rough Cutters {tag}")
    email = f"ben-{tag}@example.test"
    account = await identity.create_account(pg, email, "Ben Buyer", PASSWORD, "buyer", company_id=bidder.id)
    return Person("buyer", account, email)


async def context_of(browser: Browser, site: Site, person: Person, errors: BrowserErrors,
                     viewport: Viewport = "desktop") -> BrowserContext:  # fmt: skip
    context = await browser.new_context(base_url=site.base, viewport=VIEWPORTS[viewport], locale="en-US",
                                        timezone_id="Europe/London")  # fmt: skip
    context.set_default_timeout(10_000)
    context.on("page", errors.watch)
    await sign_in(context, site, person)
    return context


async def officer_key_in_browser(context_for: ContextMaker, role: str) -> Page:
    page = await (await context_for(role)).new_page()
    await page.goto("/console/tender")
    await page.get_by_role("button", name="Make a key in this browser and register it").click()
    await expect(page.locator("[data-field='key-fingerprint']")).to_contain_text("This browser holds your officer key")
    return page


async def bid(card: Locator, how: str, amount: str, priority: str = "1") -> None:
    await card.get_by_role("radio", name=how).check()
    await card.locator("[data-field='amount']").fill(amount)
    await card.locator("[data-field='priority']").fill(priority)
    await card.locator("[data-action='tender-bid']").click()
    await expect(card.locator("[data-field='answer']")).to_contain_text("Sealed and kept")


async def give_share(page: Page, sale: int) -> Locator:
    await page.goto(f"/console/tender?sale={sale}")
    await page.locator("[data-action='open-share']").click()
    state = page.locator("[data-field='share-state']")
    await expect(state).to_contain_text("opened in this browser")
    await page.locator("[data-action='give-share']").click()
    return state


async def test_two_buyers_bid_from_their_browsers_two_officers_reveal_and_the_consignor_accepts(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, browser: Browser,
    context_for: ContextMaker, browser_errors: BrowserErrors, new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    first_officer = await officer_key_in_browser(context_for, "admin")
    second_officer = await officer_key_in_browser(context_for, "vetting_officer")
    third = people["settlement_officer"].account  # holds a share with a key of their own, and gives nothing
    assert third is not None
    await register_key(pg, third.id, base64.b64encode(new_key_pair()[1]).decode())
    officers = [people[role].account.id for role in ("admin", "vetting_officer", "settlement_officer")]  # type: ignore[union-attr]
    sale = new_sale_id()
    await create_tender(site, pg, people, sale, officers, bids_in_s=1, window_s=22)
    worker.run_sale(sale)
    ben = await second_buyer(pg)
    await register(sale, 21, 10**12)
    await register(sale, 22, 10**12, company=ben.account.company_id)  # type: ignore[union-attr]

    ada_page = await (await context_for("buyer")).new_page()
    await ada_page.goto(f"/sales/{sale}")
    ada1 = ada_page.locator("#lot-1")
    await expect(ada1).to_contain_text("Kimberley Process certificate")
    await expect(ada1).to_contain_text("ZA-KP-2026-0001")
    await expect(ada1.locator("form")).to_be_visible(timeout=10_000)  # the bid window opened
    await expect(ada1.locator("[data-field='countdown']")).to_contain_text("Closes in")

    # per carat: 2.50 ct at 7,000.00 counts as 17,500.00; then replaced by a total, priority 2
    await ada1.locator("[data-field='amount']").fill("7000")
    await expect(ada1.locator("[data-field='derived']")).to_contain_text("Counts as $17,500.00 in total")
    await bid(ada1, "Per carat", "7000")
    mine = ada1.locator("[data-field='mine'] tbody tr")
    await expect(mine).to_have_count(1)
    await expect(mine.first.locator("[data-field='my-amount']")).to_have_text("$17,500.00 ($7,000.00 per carat)")
    await expect(ada1.locator("[data-action='tender-bid']")).to_have_text("Replace my sealed bid")
    await bid(ada1, "In total", "19000.01", priority="2")
    await expect(mine).to_have_count(2)
    await expect(mine.first.locator("[data-field='my-amount']")).to_have_text("$19,000.01 ($7,600.00 per carat)")
    await expect(mine.first.locator("[data-field='counts']")).to_have_text("Counts")
    await expect(mine.nth(1).locator("[data-field='counts']")).to_have_text("Replaced")
    await expect(mine.first.locator("[data-field='salt']")).not_to_have_text("not in this browser")
    ada2 = ada_page.locator("#lot-2")
    await bid(ada2, "In total", "80000")  # below the reserve of 90,000.00

    # Ben bids with the keyboard alone: to "In total" with an arrow, Tab to the amount, type, Enter
    ben_context = await context_of(browser, site, ben, browser_errors)
    try:
        ben_page = await ben_context.new_page()
        await ben_page.goto(f"/sales/{sale}")
        ben1 = ben_page.locator("#lot-1")
        await ben1.get_by_role("radio", name="Per carat").focus()
        await ben_page.keyboard.press("ArrowDown")
        await expect(ben1.get_by_role("radio", name="In total")).to_be_checked()
        await ben_page.keyboard.press("Tab")
        await ben_page.keyboard.type("18500")
        await ben_page.keyboard.press("Enter")
        await expect(ben1.locator("[data-field='answer']")).to_contain_text("Sealed and kept")
        await expect(ben1.locator("[data-field='my-amount']")).to_have_text("$18,500.00 ($7,400.00 per carat)")
        await expect(ben_page.locator("#lot-2 [data-field='mine']")).to_contain_text("You have not bid on this lot.")

        # the close: each buyer's receipt is in the published list and matches the bid their browser holds
        for card in (ada1, ben1):
            check = card.locator("[data-field='receipt-check']")
            await expect(check).to_contain_text("is in the published list, and it matches the bid you made",
                                                timeout=SLOW_MS)  # fmt: skip
        await expect(ada1.locator(".commitments li")).to_have_count(2)

        # the reveal: one share is held, nothing opened; the second reveals
        held = await give_share(first_officer, sale)
        await expect(held).to_contain_text("1 of 2 shares are held")
        await expect(ada1.locator("[data-field='result']")).to_have_text("After the reveal")
        revealed = await give_share(second_officer, sale)
        await expect(revealed).to_contain_text("Revealed with the shares of officers")
        opened = second_officer.locator("#results tr[data-lot='1']")
        await expect(opened).to_have_count(2)
        await expect(second_officer.locator("#results tr[data-lot='1'][data-rank='1']")).to_contain_text("$19,000.01")
        await screenshot(second_officer, "console-tender", 1400)
        # the first officer's page, left open since their share, shows the reveal and the results by itself
        await expect(first_officer.locator("[data-field='share-state']")).to_contain_text("another officer's share")
        await expect(first_officer.locator("#results tr[data-lot='1']")).to_have_count(2)

        # the buyers' results and ranks, without a reload
        await expect(ada1.locator("[data-field='result']")).to_have_text("Sold for $19,000.01 ($7,600.00 per carat)",
                                                                         timeout=SLOW_MS)  # fmt: skip
        await expect(mine.first.locator("[data-field='rank']")).to_have_text("Rank 1, won")
        await expect(ben1.locator("[data-field='rank']")).to_have_text("Rank 2")
        await expect(ada2.locator("[data-field='status']")).to_have_text("Below the reserve: the consignor decides")
        assert "Ben" not in await ada_page.locator("#lots").inner_text()  # nothing names another bidder
        await screenshot(ada_page, "tender-room", 1400)
    finally:
        await ben_context.close()

    # the consignor takes the top bid below the reserve
    consignor = await (await context_for("consignor")).new_page()
    await consignor.goto("/consignor")
    offer = consignor.locator(f"#lot-{sale}-2 [data-field='tender-offer']")
    await expect(offer).to_contain_text("The top sealed bid is $80,000.00")
    await expect(offer).to_contain_text("below your reserve of $90,000.00")
    await screenshot(consignor, "consignor-tender", 1400)
    await offer.get_by_role("button", name="Accept the top bid of $80,000.00 on lot 2").click()
    await expect(consignor.locator("#result-lots [data-result='sold']")).to_have_count(2)
    states = {state.terms.lot: state for state in await site.store.states(sale)}
    assert [(states[n].status, states[n].price) for n in (1, 2)] == [("sold", 1_900_001), ("sold", 8_000_000)]


async def test_the_tender_rooms_fit_a_phone_and_a_desktop(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, context_for: ContextMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    officers = []
    for role in ("admin", "vetting_officer"):
        person = people[role]
        assert person.account is not None
        await register_key(pg, person.account.id, base64.b64encode(new_key_pair()[1]).decode())
        officers.append(person.account.id)
    sale = new_sale_id()
    await create_tender(site, pg, people, sale, officers, bids_in_s=0.3, window_s=600)
    worker.run_sale(sale)
    await register(sale, 31, 10**12)
    for viewport, width in (("phone", 390), ("desktop", 1400)):
        buyer = await (await context_for("buyer", viewport)).new_page()
        await buyer.goto(f"/sales/{sale}")
        await expect(buyer.locator("#lot-2 form")).to_be_visible()
        await expect(buyer.locator("#connection")).to_have_text("Live")
        assert await no_horizontal_overflow(buyer), f"the tender room overflows at {width} px"
        if width == 390:
            await screenshot(buyer, "tender-room", width)
        desk = await (await context_for("auctioneer", viewport)).new_page()
        await desk.goto(f"/console/tender?sale={sale}")
        await expect(desk.locator("[data-field='threshold']")).to_have_text("2 of 2 officers")
        await expect(desk.locator("#new-tender")).to_be_visible()
        assert await no_horizontal_overflow(desk), f"the console's tender page overflows at {width} px"
        if width == 390:
            await screenshot(desk, "console-tender", width)
