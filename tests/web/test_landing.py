"""The landing page in a real browser: what the house is, its sales grouped by what they are now (a finished sale
never says live)."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from auction.engine.lifecycle import FINAL
from auction.engine.state import SoftClose
from tests.web.conftest import VIEWPORTS, PageMaker, SaleMaker, Site
from tests.web.test_public_pages import fits, screenshot


async def closed(site: Site, sale: int, lot: int = 1) -> None:
    for _ in range(100):  # the worker's scheduler closes it on the server's clock
        state = await site.store.state(sale, lot)
        if state is not None and state.status in FINAL:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"lot {lot} of sale {sale} did not close")


async def test_the_landing_page_groups_the_sales_by_what_they_are_now(
    site: Site, make_sale: SaleMaker, page_for: PageMaker
) -> None:
    finished = await make_sale(lots=1, name="Winter Parcels", closes_in_s=1, soft_close=SoftClose(1_000, 1_000))
    live = await make_sale(lots=2, name="Spring Whites")
    upcoming = await make_sale(lots=1, name="Summer Rough", starts_in_s=3_600, closes_in_s=7_200)
    await closed(site, finished.id)
    page = await page_for("anonymous")
    reply = await page.goto("/")
    assert reply is not None and reply.status == 200
    assert "default-src 'self'" in (await reply.all_headers())["content-security-policy"]
    for sale, status, badge in ((live, "live", "Live now"), (upcoming, "upcoming", "Upcoming"),
                                (finished, "finished", "Finished")):  # fmt: skip
        card = page.locator(f"[data-sale='{sale.id}']")
        await expect(card).to_contain_text(sale.name)
        await expect(card).to_have_attribute("data-status", status)
        await expect(card.locator(".badge")).to_have_text(badge)
    await expect(page.locator(f"[data-sale='{finished.id}']")).to_contain_text("0 of 1 lot sold")
    await expect(page.locator("#group-finished")).to_have_text("Finished sales")
    await expect(page.get_by_role("link", name="Sign in").first).to_be_visible()
    await expect(page.get_by_role("link", name="Apply to bid").first).to_be_visible()
    await screenshot(page, "landing", "desktop")
    await page.set_viewport_size(VIEWPORTS["phone"])
    await fits(page)
    await screenshot(page, "landing", "phone")
