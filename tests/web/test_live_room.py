"""A live lot in the bidder's room, in a real browser: the auctioneer drives the lot over the websocket (as the
console does), the buyer bids online at the ask, sees "another bid was taken" when the clerk takes a floor bid
first, bids again and is taken, sees fair warning and the hammer: sold to them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import websockets
from playwright.async_api import expect

from auction import identity
from auction.engine.state import LiveTerms
from tests.web.conftest import BotMaker, PageMaker, People, Registrar, SaleMaker, Site
from tests.web.test_bidder_room import usd
from tests.web.test_public_pages import screenshot

_ids = itertools.count(1)


class Rostrum:
    """The auctioneer's websocket: each message sent with a request_id, its answer awaited."""

    def __init__(self, ws: websockets.ClientConnection, sale: int) -> None:
        self.ws = ws
        self.sale = sale

    async def send(self, kind: str, lot: int = 1, **fields: Any) -> dict[str, Any]:
        request = f"r-{next(_ids)}"
        await self.ws.send(json.dumps({"type": kind, "sale": self.sale, "lot": lot, "request_id": request, **fields}))
        while True:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if frame.get("request_id") == request:
                assert frame["type"] == "rostrum_ack", frame
                return frame


@pytest.fixture
async def rostrum_for(site: Site, pg: asyncpg.Pool, people: People) -> AsyncIterator[Any]:
    async with contextlib.AsyncExitStack() as stack:

        async def open_rostrum(sale: int) -> Rostrum:
            token = (await identity.issue_token(pg, people["auctioneer"].account.id, "api")).token  # type: ignore[union-attr]
            url = site.base.replace("http", "ws") + "/ws"
            ws = await stack.enter_async_context(
                websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"})
            )
            assert json.loads(await ws.recv())["type"] == "welcome"
            return Rostrum(ws, sale)

        yield open_rostrum


async def test_a_live_lot_online_against_the_room_to_the_hammer(
    make_sale: SaleMaker, register: Registrar, make_bot: BotMaker, page_for: PageMaker, rostrum_for: Any
) -> None:
    sale = await make_sale(lots=2, live=LiveTerms(auto_accept=False), reserve=10_000)
    await register(sale.id, 51)
    await make_bot(sale.id, 52)  # a buyer in the room, on the floor
    page = await page_for("buyer")
    await page.goto(f"/sales/{sale.id}")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    block = page.locator("#on-block")
    await expect(block).to_contain_text("No lot is being sold right now.")
    rostrum = await rostrum_for(sale.id)
    await rostrum.send("open_lot", ask=10_000)
    await expect(block).to_contain_text("On the block: Lot 1")
    await expect(block.locator("[data-field=ask]")).to_have_text(usd(10_000))
    card = page.locator("#lot-1")

    # The buyer's online bid waits for the clerk; the clerk takes a floor bid first: another bid was taken.
    await card.get_by_role("button", name=f"Bid {usd(10_000)}").click()
    await card.get_by_role("button", name="Confirm bid").click()
    await expect(card.locator("[data-field=answer]")).to_have_text(
        f"Received: your bid of {usd(10_000)} is waiting for the clerk."
    )
    await rostrum.send("take_bid", paddle=52, source="floor")
    await expect(card.locator("[data-field=banner]")).to_contain_text("Another bid was taken")
    await expect(card.locator("[data-field=answer]")).to_contain_text("Not taken")
    await expect(card.locator("[data-field=leader]")).to_have_text("Paddle 52")
    await expect(block.locator("[data-field=ask]")).to_have_text(usd(11_000))

    # Again at the new ask: the clerk takes it, the buyer leads.
    await card.get_by_role("button", name=f"Bid {usd(11_000)}").click()
    confirm = card.locator("[data-field=confirm]")
    await expect(confirm.locator("[data-field=confirm-total]")).to_contain_text(usd(11_000 + 2_860))  # 26 % premium
    await confirm.get_by_role("button", name="Confirm bid").click()
    await expect(card.locator("[data-field=answer]")).to_contain_text("waiting for the clerk")
    await rostrum.send("accept_online_bid")
    await expect(card.locator("[data-field=answer]")).to_have_text(f"Taken: you lead at {usd(11_000)}.")
    await expect(card.locator("[data-field=you]")).to_have_text("You lead.")

    await rostrum.send("fair_warning")
    await expect(card.locator("[data-field=banner]")).to_have_text("Fair warning: the hammer is about to fall.")
    await expect(block.locator("[data-field=block-state]")).to_have_text("Fair warning!")
    await screenshot(page, "live-lot", "desktop")
    await rostrum.send("hammer")
    await expect(card.locator("[data-field=status]")).to_have_text("Sold")
    await expect(card.locator("[data-field=banner]")).to_have_text(f"Sold to you for {usd(11_000)}.")
    await expect(card.locator("[data-field=you]")).to_have_text("You won this lot.")
    await expect(block).to_contain_text("No lot is being sold right now.")
    await expect(page.locator("#lot-2 [data-field=status]")).to_have_text("Not open yet")
