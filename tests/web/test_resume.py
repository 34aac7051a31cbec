"""The connection dropped and resumed in a real browser: the gateway drops every websocket (as when it restarts)
while the browser is offline, bots bid meanwhile, the network comes back: the page resumes from each lot's last
seq and shows every event, in order, none missed and none twice, without falling back to a snapshot."""

from __future__ import annotations

from playwright.async_api import expect

from auction.gateway.app import GATEWAY
from tests.web.conftest import BotMaker, ContextMaker, SaleMaker, Site
from tests.web.test_bidder_room import bot_bids, usd


async def test_a_dropped_connection_resumes_and_misses_nothing(
    site: Site, make_sale: SaleMaker, make_bot: BotMaker, context_for: ContextMaker
) -> None:
    sale = await make_sale(lots=2)
    _, first = await make_bot(sale.id, 42)
    _, second = await make_bot(sale.id, 43)
    await bot_bids(site, first, sale.id, 1, 12_000)
    context = await context_for("anonymous", "phone")
    page = await context.new_page()
    await page.goto(f"/sales/{sale.id}")
    connection = page.locator("#connection")
    await expect(connection).to_have_attribute("data-state", "live")
    await expect(page.locator("#lot-1 [data-field=price]")).to_have_text(usd(12_000))

    await context.set_offline(True)
    await site.app[GATEWAY].live.close_all()  # every socket closed from the server's side (1001)
    await expect(connection).to_have_attribute("data-state", "offline")
    await expect(connection).to_have_text("Offline: waiting for the network")
    amounts = [(second, 1, 17_000), (first, 1, 22_000), (second, 2, 11_000), (second, 1, 30_000)]
    for token, lot, amount in amounts:  # while the page can't hear
        await bot_bids(site, token, sale.id, lot, amount)
    await expect(page.locator("#lot-1 [data-field=price]")).to_have_text(usd(12_000))  # it heard nothing yet

    await context.set_offline(False)
    await expect(connection).to_have_attribute("data-state", "live")
    await expect(page.locator("#lot-1 [data-field=price]")).to_have_text(usd(30_000))
    await expect(page.locator("#lot-2 [data-field=price]")).to_have_text(usd(11_000))
    for lot in (1, 2):
        recorded = await site.store.events_after(sale.id, lot, 0, 100)
        log = page.locator(f"#lot-{lot} [data-field=log] li")
        await expect(log).to_have_count(len(recorded))
        seqs = [int(seq) for seq in await log.evaluate_all("(items) => items.map((item) => item.dataset.seq)")]
        assert seqs == [event.seq for event in recorded] == list(range(1, len(recorded) + 1))
        shown = await log.all_text_contents()
        bids = [(e.amount, e.paddle) for e in recorded if type(e).__name__ in ("BidAccepted", "ProxyBidPlaced")]
        texts = [text for text in shown if text.startswith("Bid ")]
        assert texts == [f"Bid {usd(amount)} by paddle {paddle}" for amount, paddle in bids]
        # resumed from the last seq: the one snapshot is the first subscription's
        await expect(page.locator(f"#lot-{lot}")).to_have_attribute("data-snapshots", "1")
