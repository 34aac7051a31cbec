"""The public pages in a real browser: sign in and out with errors beside the field, a new buyer's application
with a document and its status page, and every room of this suite at phone and desktop width with nothing off
screen. With AUCTION_SCREENSHOTS set, the rooms' pictures are written to docs/screenshots/."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import PASSWORD, VIEWPORTS, PageMaker, People, Registrar, SaleMaker, Viewport

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def screenshot(page: Page, room: str, viewport: Viewport) -> None:
    """docs/screenshots/<room>-<width>.png, only when AUCTION_SCREENSHOTS is set (not 0): a test run leaves the
    committed pictures alone unless asked to refresh them."""
    if os.environ.get("AUCTION_SCREENSHOTS", "0") in ("", "0"):
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{room}-{VIEWPORTS[viewport]['width']}.png"), full_page=True)


async def fits(page: Page) -> None:
    """The page does not scroll sideways: everything is within the viewport's width."""
    widths = await page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px viewport"


async def on_screen(page: Page, selector: str) -> None:
    box = await page.locator(selector).first.bounding_box()
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box is not None and box["width"] > 0, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{selector} is off screen: {box}"


async def test_sign_in_shows_errors_beside_the_field_then_signs_in_and_out(
    make_sale: SaleMaker, people: People, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=1)
    page = await page_for("anonymous")
    await page.goto(f"/sign-in?next=/sales/{sale.id}")
    await page.get_by_role("button", name="Sign in").click()  # empty: told beside each field, nothing sent
    await expect(page.locator("#email-error")).to_have_text("Enter the email address you registered with.")
    await expect(page.locator("#email")).to_be_focused()
    await page.get_by_label("Email").fill(people["buyer"].email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#password-error")).to_contain_text("don't match an account")
    await expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"**/sales/{sale.id}")
    await expect(page.locator(".who-name")).to_have_text("Ada Buyer")
    await expect(page.locator(".who-role")).to_have_text("Buyer")
    await expect(page.get_by_role("link", name="My account")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/")
    await expect(page.locator("#sign-in-link")).to_be_visible()


async def test_a_new_buyer_applies_uploads_a_document_and_sees_the_status(
    page_for: PageMaker, pg: asyncpg.Pool
) -> None:
    page = await page_for("anonymous")
    await page.goto("/apply")
    await page.get_by_label("Legal name").fill("Antwerp Brilliants NV")
    await page.get_by_label("Registration number").fill("BE 0456.123.789")
    await page.get_by_label("Country").fill("be")
    await page.get_by_label("Trade licence number").fill("AWDC-77812")
    await page.get_by_label("Bank reference").fill("KBC Antwerp 0012-44")
    await page.get_by_label("Owner 1: name").fill("Ines Peeters")
    await page.get_by_label("Owner 1: share (%)").fill("60")
    await page.locator("#representatives-0-name").fill("Ines Peeters")
    await page.locator("#representatives-0-email").fill("ines@brilliants.example")
    await page.locator("#representatives-0-password").fill("short")
    await page.get_by_label("We trade only in diamonds").check()
    await page.get_by_role("button", name="Apply").click()  # checked here first: beside each field
    await expect(page.locator("#representatives-0-password-error")).to_contain_text("at least 12 characters")
    await expect(page.locator("#aml_declaration-error")).to_have_text("This declaration is required to bid.")
    await page.locator("#representatives-0-password").fill("a long enough passphrase")
    await page.get_by_label("We have an anti-money-laundering policy").check()
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("[data-field=applied]")).to_contain_text("Antwerp Brilliants NV")
    await page.get_by_label("Kind of document").select_option("trade_licence")
    await page.get_by_label("File (PDF or picture").set_input_files(
        {"name": "licence.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 licence"}
    )
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("[data-field=uploaded]")).to_contain_text("Uploaded licence.pdf")
    await page.get_by_role("link", name="See your application's status").click()
    await expect(page.locator("[data-field=company-status]")).to_have_text("Waiting for our vetting officers")
    await expect(page.get_by_role("cell", name="licence.pdf")).to_be_visible()
    company = await pg.fetchrow("SELECT country, status FROM companies WHERE legal_name = 'Antwerp Brilliants NV'")
    assert company is not None and (company["country"], company["status"]) == ("BE", "pending")


async def test_a_sanctioned_country_is_refused_beside_its_field(page_for: PageMaker) -> None:
    page = await page_for("anonymous", "phone")
    await page.goto("/apply")
    for label, value in (("Legal name", "Nowhere Gems"), ("Registration number", "1"), ("Country", "KP"),
                         ("Trade licence number", "x"), ("Bank reference", "y")):  # fmt: skip
        await page.get_by_label(label).fill(value)
    await page.locator("#representatives-0-name").fill("A. Person")
    await page.locator("#representatives-0-email").fill("a@nowhere.example")
    await page.locator("#representatives-0-password").fill("a long enough passphrase")
    await page.get_by_label("We trade only in diamonds").check()
    await page.get_by_label("We have an anti-money-laundering policy").check()
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("#country-error")).to_contain_text("sanctions")
    await expect(page.locator("#alert")).to_have_text("We cannot accept buyers from this country.")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
async def test_every_room_fits_its_width(
    viewport: Viewport, make_sale: SaleMaker, register: Registrar, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=3, name="Autumn Fancy Colours")
    await register(sale.id, 31)
    visitor = await page_for("anonymous", viewport)
    for room, path in (("landing", "/"), ("sign-in", "/sign-in"), ("apply", "/apply")):
        await visitor.goto(path)
        await expect(visitor.locator("#main h1").first).to_be_visible()
        if room == "landing":
            await expect(visitor.locator(f"[data-sale='{sale.id}']")).to_be_visible()
        await fits(visitor)
        if room != "landing":  # the landing page's picture is test_landing's, with a sale of every kind
            await screenshot(visitor, room, viewport)
    buyer = await page_for("buyer", viewport)
    await buyer.goto(f"/sales/{sale.id}")
    await expect(buyer.locator("#connection")).to_have_attribute("data-state", "live")
    await fits(buyer)
    for field in ("price", "countdown", "status", "next"):
        await on_screen(buyer, f"#lot-1 [data-field={field}]")
    await on_screen(buyer, "#lot-1 [data-action=bid]")
    await on_screen(buyer, "#connection")
    await screenshot(buyer, "bidder-room", viewport)
