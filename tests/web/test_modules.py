"""The shared modules' arithmetic, run in the browser itself: money from integer minor units without floats (past
2^53 too), each currency's exponent, typed amounts parsed to minor units, the buyer's premium to the cent as the
engine charges it, and countdowns."""

from __future__ import annotations

from typing import Any

import msgspec
from playwright.async_api import Page

from auction.engine.premium import CHRISTIES_2023_USD, SOTHEBYS_2025_USD, all_in, flat, premium
from tests.web.conftest import PageMaker

LOAD = """async () => {
    window.fmt = await import("/static/js/format.js");
    window.prem = await import("/static/js/premium.js");
}"""


async def modules(page_for: PageMaker) -> Page:
    page = await page_for("anonymous")
    await page.goto("/sign-in")
    await page.evaluate(LOAD)
    return page


async def run(page: Page, expression: str, *args: Any) -> Any:
    return await page.evaluate(f"([a, b]) => {expression}", list(args) + [None] * (2 - len(args)))


async def test_money_is_exact_in_every_currency(page_for: PageMaker) -> None:
    page = await modules(page_for)
    cases = [
        (123456, "USD", "$1,234.56"), (5, "USD", "$0.05"), (0, "USD", "$0.00"), (-250, "USD", "-$2.50"),
        ("12345678901234567", "USD", "$123,456,789,012,345.67"),  # past 2^53: a float would round it
        (1234, "JPY", "¥1,234"), (1234567, "BHD", "BHD\u00a01,234.567"), (99, "EUR", "€0.99"),
    ]  # fmt: skip
    for minor, currency, shown in cases:
        assert await run(page, "fmt.money(a, b)", minor, currency) == shown, (minor, currency)
    assert await run(page, "fmt.units(a, b)", 100, "USD") == "1.00"
    assert await run(page, "fmt.exponent(a)", "JPY") == 0


async def test_typed_amounts_become_minor_units_or_nothing(page_for: PageMaker) -> None:
    page = await modules(page_for)
    cases = [("1,250.5", "USD", "125050"), ("100", "USD", "10000"), ("0.07", "USD", "7"), ("1.234", "USD", None),
             ("-5", "USD", None), ("1e3", "USD", None), ("", "USD", None), ("12.5", "JPY", None),
             ("1250", "JPY", "1250"), (" 9 999.99 ", "USD", "999999")]  # fmt: skip
    for text, currency, minor in cases:
        parse = "(() => { const v = fmt.parseMoney(a, b); return v === null ? null : String(v); })()"
        parsed = await run(page, parse, text, currency)
        assert parsed == minor, (text, currency)


async def test_the_premium_is_the_engines_to_the_cent(page_for: PageMaker) -> None:
    page = await modules(page_for)
    amounts = [1, 49, 50, 99_999, 100_000_001, 99_999_999, 100_000_000, 100_000_050, 599_999_999, 600_000_000,
               600_000_001, 800_000_001, 1_234_567_891, 10**13]  # fmt: skip
    for schedule in (CHRISTIES_2023_USD, SOTHEBYS_2025_USD, flat(1_250), flat(0)):
        wire = msgspec.to_builtins(schedule)  # as GET /api/sales/{sale} sends it: {"bands": [[start, rate], ...]}
        both = "(a) => [String(prem.premium(a, schedule)), String(prem.allIn(a, schedule))]"
        shown = await page.evaluate(f"([schedule, amounts]) => amounts.map({both})", [wire, amounts])
        assert shown == [[str(premium(a, schedule)), str(all_in(a, schedule))] for a in amounts], wire


async def test_countdowns_read_as_people_read_them(page_for: PageMaker) -> None:
    page = await modules(page_for)
    cases = [(0, "0:00"), (-5, "0:00"), (9_400, "0:09"), (245_000, "4:05"), (7_380_000, "2h 03m"),
             (3 * 86_400_000 + 4 * 3_600_000, "3d 4h")]  # fmt: skip
    for ms, shown in cases:
        assert await run(page, "fmt.countdown(a)", ms) == shown, ms
    assert await run(page, "fmt.carats(a)", 152) == "1.52 ct"
    assert await run(page, "fmt.carats(a)", 5) == "0.05 ct"
