"""Screenshots of the rooms for the docs, and the check that a room fits its viewport.

`screenshot(page, room, width)` writes docs/screenshots/<room>-<width>.png when AUCTION_SCREENSHOTS is set (to
anything but 0), so that an ordinary test run leaves the committed pictures alone; set it to refresh them:

    AUCTION_SCREENSHOTS=1 .venv/bin/pytest tests/web/test_consignor_room.py tests/web/test_account.py
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Page

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def wanted() -> bool:
    return os.environ.get("AUCTION_SCREENSHOTS", "0") not in ("", "0")


async def screenshot(page: Page, room: str, width: int) -> None:
    if not wanted():
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{room}-{width}.png"), full_page=True)


async def no_horizontal_overflow(page: Page) -> bool:
    """Nothing in the main content is wider than the viewport: the page does not scroll sideways (a wide table
    scrolls inside its own scroller, which is allowed)."""
    overflow: bool = await page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const main = document.getElementById("main");
            return document.documentElement.scrollWidth <= width && main.scrollWidth <= main.clientWidth + 1
                && main.getBoundingClientRect().right <= width + 1;
        }"""
    )
    return overflow
