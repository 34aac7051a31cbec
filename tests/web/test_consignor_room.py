"""The consignor's room (/consignor) in a real browser, against the real gateway and the worker's loops: the
consignor watches their lot live while buyers bid over the API, answers an offer on a passed lot and consents
to relist another, and the room fits a phone and a desktop."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
from playwright.async_api import Page, expect

from auction import catalog, identity
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.engine.state import SoftClose
from tests.web.conftest import STONES, BotMaker, PageMaker, People, Registrar, Site, Worker, now_ms
from tests.web.room_shots import no_horizontal_overflow, screenshot

NO_EXTENSION = SoftClose(cap_ms=0)  # a late bid moves no end: the lot closes when the test expects


async def quick_sale(pg: asyncpg.Pool, site: Site, worker: Worker, people: People, sale_id: int, *, lots: int,
                     closes_in_s: float, reserve: int = 50_000) -> NewSale:  # fmt: skip
    """A timed sale of the people's consignor, open now, its lots closing `closes_in_s` from now, a second apart,
    with no soft close; the worker runs it."""
    sale = NewSale(
        id=sale_id,
        name="Consignor room test sale",
        currency="USD",
        format="timed",
        settings=SaleSettings(soft_close=NO_EXTENSION, stagger_ms=1_000),
        starts_at_ms=now_ms() - 1_000,
        first_close_ms=now_ms() + int(closes_in_s * 1000),
        lots=[
            NewLot(lot=n, title=f"{STONES[n - 1].shape} diamond", consignor_id=people.consignor_id,
                   diamond=STONES[n - 1], low_estimate=100_000, high_estimate=200_000, reserve=reserve,
                   opening=10_000)
            for n in range(1, lots + 1)
        ],
    )  # fmt: skip
    await catalog.insert_sale(pg, sale)
    await site.store.create_lots(catalog.terms_for(sale))
    worker.run_sale(sale.id)
    return sale


async def bid(site: Site, token: str, sale: int, lot: int, amount: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            site.url(f"/api/sales/{sale}/lots/{lot}/bids"),
            json={"amount": amount, "client_id": f"t-{secrets.token_hex(4)}"},
            headers={"Authorization": f"Bearer {token}"},
        ) as reply,
    ):
        body: dict[str, Any] = await reply.json()
        assert reply.status == 200, body
        return body


async def token_of(pg: asyncpg.Pool, person_account: int) -> str:
    return (await identity.issue_token(pg, person_account, "api")).token


async def call(site: Site, method: str, path: str, token: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, site.url(path), json=body, headers={"Authorization": f"Bearer {token}"}) as reply,
    ):
        answer = await reply.json()
        assert reply.status < 300, (reply.status, answer)
        return answer


async def test_a_consignor_watches_their_lot_live_bids_by_paddle_reserve_met_then_the_result(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, make_bot: BotMaker, page_for: PageMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    sale = await quick_sale(pg, site, worker, people, new_sale_id(), lots=1, closes_in_s=9)
    _, first = await make_bot(sale.id, 31)
    _, second = await make_bot(sale.id, 32)
    page = await page_for("consignor")
    await page.goto("/consignor")
    card = page.locator(f"#lot-{sale.id}-1")
    await expect(card).to_be_visible()
    await expect(card.locator("[data-reserve]")).to_have_text("No bids yet")

    await bid(site, first, sale.id, 1, 20_000)  # below the reserve (500.00)
    record = card.locator("ol.record")
    await expect(record.locator("li[data-type='bid']").first).to_contain_text("Paddle 31 bid $200.00; reserve not met")
    await expect(card.locator("[data-reserve]")).to_have_text("Reserve not met")

    await bid(site, second, sale.id, 1, 60_000)
    await expect(record.locator("li[data-type='bid']").first).to_contain_text("Paddle 32 bid $600.00; reserve met")
    await expect(card.locator("[data-reserve]")).to_have_text("Reserve met")
    await expect(card.locator(".leader .figure-value")).to_have_text("Paddle 32")
    await expect(record.locator("li[data-type='bid']")).to_have_count(2)  # both bids, each once
    await screenshot(page, "consignor-live", 1400)

    # the lot closes: the result comes without a reload, and the lot moves to the results
    result = page.locator("#result-lots [data-result='sold']")
    await expect(result).to_have_text("Sold to paddle 32", timeout=15_000)
    await expect(page.locator(f"#live-lots #lot-{sale.id}-1")).to_have_count(0)
    sold = page.locator(f"#lot-record-{sale.id}-1 li[data-type='sold']")
    await expect(sold).to_have_count(1)
    await expect(sold).to_contain_text("Sold to paddle 32 for $600.00")
    # the statement follows once settlement has billed it: hammer less the 10 % commission
    statement = page.locator(f".statement[data-sale='{sale.id}']")
    await expect(statement).to_contain_text("$540.00", timeout=10_000)
    await expect(statement.locator("[data-line-status]")).to_have_text("Awaiting the buyer's payment")
    assert "Bot Co" not in await page.content()  # never a buyer's name: paddles only


async def test_a_consignor_answers_an_offer_on_a_passed_lot_and_consents_to_relist_another(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, page_for: PageMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    sale = await quick_sale(pg, site, worker, people, new_sale_id(), lots=2, closes_in_s=1.5)
    await register(sale.id, 41)  # the people's buyer may make offers once the lots pass
    buyer = await token_of(pg, people["buyer"].account.id)  # type: ignore[union-attr]
    desk = await token_of(pg, people["settlement_officer"].account.id)  # type: ignore[union-attr]
    passed = f"/api/settlement/sales/{sale.id}/passed"
    for _ in range(100):  # both lots pass (no bids) and settlement records them
        if len(await call(site, "GET", passed, desk)) == 2:
            break
        await asyncio.sleep(0.1)
    offer = await call(site, "POST", f"/api/settlement/sales/{sale.id}/lots/1/offers", buyer,
                       {"amount": 45_000, "client_id": "offer-1"})  # fmt: skip

    page = await page_for("consignor")
    await page.goto("/consignor")
    lot1 = page.locator(f"#passed-{sale.id}-1")
    await expect(lot1).to_contain_text("Paddle 41")
    await expect(lot1).to_contain_text("$450.00")
    await lot1.get_by_role("button", name="Accept the offer of $450.00 from paddle 41 on lot 1").click()
    await expect(lot1.locator("[data-offer-status]")).to_have_text("Accepted")

    lot2 = page.locator(f"#passed-{sale.id}-2")
    reserve = lot2.get_by_label("New reserve for lot 2 (USD), lower than $500.00")
    await reserve.fill("600")  # not lower: refused beside the field, nothing sent
    await lot2.get_by_role("button", name="Consent to relist").click()
    await expect(lot2.locator(".field-error")).to_contain_text("lower than $500.00")
    await reserve.fill("400.00")
    await reserve.press("Enter")  # the keyboard alone
    await expect(lot2.locator("[data-consent='given']")).to_contain_text("a reserve of $400.00")

    lots = {lot["lot"]: lot for lot in await call(site, "GET", passed, desk)}  # what the house now holds
    assert lots[1]["status"] == "sold"
    assert [(o["id"], o["status"]) for o in lots[1]["offers"] if o["kind"] == "buyer"] == [(offer["id"], "accepted")]
    assert lots[2]["consent"]["reserve"] == 40_000 and lots[2]["consent"]["withdrawn_ms"] is None
    await screenshot(page, "consignor-after-sale", 1400)


async def test_the_consignor_room_fits_a_phone_and_a_desktop(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, page_for: PageMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    sale = await quick_sale(pg, site, worker, people, new_sale_id(), lots=2, closes_in_s=600)
    for viewport, width in (("phone", 390), ("desktop", 1400)):
        page: Page = await page_for("consignor", viewport)
        await page.goto("/consignor")
        await expect(page.locator(f"#lot-{sale.id}-2")).to_be_visible()
        await expect(page.locator("#conn")).to_have_text("Live")
        assert await no_horizontal_overflow(page), f"the room overflows at {width} px"
        await screenshot(page, "consignor", width)
