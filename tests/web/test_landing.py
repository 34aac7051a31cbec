"""The landing page in a real browser: what the house is, its sales grouped by what they are now."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import PageMaker, SaleMaker, Site


async def test_the_landing_page_lists_the_sales_and_offers_sign_in(
    site: Site, make_sale: SaleMaker, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=2, name="Spring Whites")
    page = await page_for("anonymous")
    reply = await page.goto("/")
    assert reply is not None and reply.status == 200
    assert "default-src 'self'" in (await reply.all_headers())["content-security-policy"]
    card = page.locator(f"[data-sale='{sale.id}']")
    await expect(card).to_contain_text("Spring Whites")
    await expect(card).to_have_attribute("data-status", "live")
    await expect(card.locator(".badge")).to_have_text("Live now")
    await expect(page.get_by_role("link", name="Sign in").first).to_be_visible()
    await expect(page.get_by_role("link", name="Apply to bid").first).to_be_visible()
