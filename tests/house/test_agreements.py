"""The consignment agreement is what settlement charges by (settlement/agreements.py), end to end against real
Redis and PostgreSQL: a sale built and published over HTTP, bid on, closed by the engine and settled by the
settlement service; the commission is the agreement's, a stone that comes back is charged the agreement's unsold
fee and return shipping, and a stone whose consignor agreed to relisting waits for a later sale at the agreed
reserve, unless they withdraw that consent in the window."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
from redis.asyncio import Redis

from auction.engine.messages import CloseLot
from auction.store import Accepted
from settlement import unsold_sweep
from settlement.rules import HOUR_MS
from settlement.service import SettlementService
from settlement.unsold_relisting import withdraw_relist
from tests.gateway.conftest import BidderMaker, Running
from tests.house.desk import USD, Desk, now_ms
from tests.house.test_sales import bid
from tests.settlement.helpers import forget

CLOSE_IN_MS = 1_500


async def _closed_sale(desk: Desk, gateway: Running, sale: int, stones: list[int]) -> int:
    """The stones as lots 1, 2, ... of a timed sale published over HTTP, all closing together shortly; returns
    when they close. The bids are the caller's, between this and `_close`."""
    close_at = now_ms() + CLOSE_IN_MS
    no_extension = {"window_ms": 0, "extension_ms": 0}  # so a bid doesn't move the close
    await desk.draft(sale, first_close_ms=close_at, stagger_ms=0, soft_close=no_extension)
    for lot, stone in enumerate(stones, start=1):
        await desk.put_lot(sale, lot, stone)
    await desk.publish(sale)
    return close_at


async def _close(redis: Redis, pg: asyncpg.Pool, gateway: Running, sale: int, lots: int, close_at: int) -> None:
    """Each lot closed by the engine at its end (the scheduler's job, done here), then settled."""
    await asyncio.sleep(max(0, close_at - now_ms()) / 1000 + 0.05)
    for lot in range(1, lots + 1):
        closed = await gateway.store.execute(sale, lot, CloseLot(now_ms()))
        assert isinstance(closed, Accepted), closed
    try:
        await SettlementService(redis, pg, only_sales=frozenset({sale})).drain_once()
    finally:
        await forget(redis, sale)


async def test_a_sold_lot_is_billed_at_the_commission_its_consignor_agreed(
    desk: Desk, gateway: Running, redis: Redis, pg: asyncpg.Pool, make_bidder: BidderMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    consignor = (await desk.consignor(commission_bp=1_500))["id"]
    stone = (await desk.stone(consignor))["id"]
    sale = new_sale_id()
    close_at = await _closed_sale(desk, gateway, sale, [stone])
    _, token = await make_bidder(sale, 51)
    await bid(desk, token, sale, 1, 7_000 * USD)  # above the reserve of 6,000
    await _close(redis, pg, gateway, sale, 1, close_at)
    line = await pg.fetchrow(
        "SELECT hammer, commission, consignor_net FROM invoice_lines WHERE sale_id = $1 AND lot_no = 1", sale
    )
    assert (line["hammer"], line["commission"], line["consignor_net"]) == (7_000 * USD, 1_050 * USD, 5_950 * USD)


async def test_stones_back_unsold_are_charged_and_relisted_as_agreed(
    desk: Desk, gateway: Running, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    charged = (await desk.consignor("Charged", unsold_fee_bp=500, return_shipping=75 * USD))["id"]
    relisting = (await desk.consignor("Relisting", relist_consent=True, relist_reserve_bp=7_500))["id"]
    stones = [(await desk.stone(c, report_number=f"88{n}01"))["id"] for n, c in enumerate([charged, relisting] * 2)]
    sale = new_sale_id()
    close_at = await _closed_sale(desk, gateway, sale, stones)
    await _close(redis, pg, gateway, sale, 4, close_at)  # nobody bid: every lot passed
    window_ends = close_at + 72 * HOUR_MS + 60_000
    await withdraw_relist(pg, sale, 4, close_at + HOUR_MS, consignor_id=relisting)  # lot 4: they want it back
    await unsold_sweep.sweep(pg, window_ends, sale)

    statuses = dict(await pg.fetch("SELECT lot_no, status FROM passed_lots WHERE sale_id = $1", sale))
    assert statuses == {1: "returning", 2: "relist", 3: "returning", 4: "returning"}
    returns = {r["lot_no"]: (r["unsold_fee"], r["return_shipping"]) for r in await pg.fetch(
        "SELECT lot_no, unsold_fee, return_shipping FROM lot_returns WHERE sale_id = $1", sale)}  # fmt: skip
    # 5 % of the 6,000 reserve and the courier for the charged consignor; nothing agreed for the other
    assert returns == {1: (300 * USD, 75 * USD), 3: (300 * USD, 75 * USD), 4: (0, 0)}
    consent = await pg.fetchrow("SELECT reserve, source FROM relist_consents WHERE sale_id = $1 AND lot_no = 2", sale)
    assert (consent["reserve"], consent["source"]) == (4_500 * USD, "agreement")  # 75 % of the 6,000 it missed
