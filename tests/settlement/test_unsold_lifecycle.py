"""The passed lot's transition table (settlement.unsold_lifecycle), walked: every move in it is made by some code
path (scenarios through the service, the window, relisting, the sweep, the operator's choices after a default and
a live lot reopened at the rostrum, each move seen as unsold_lots logs it), and none that it lacks: such a move is
refused before anything is written, and no module but unsold_lots writes a passed lot's status."""

from __future__ import annotations

import ast
import itertools
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import get_args

import asyncpg
import pytest
from redis.asyncio import Redis

from auction import catalog
from auction.catalog import NewLot, NewSale
from auction.diamonds import Diamond
from auction.engine.messages import AnyEvent
from settlement import billing, defaults, shipping, unsold_lots, unsold_sweep, unsold_views
from settlement.errors import IllegalPassedLotMove
from settlement.rules import DAY_MS, HOUR_MS
from settlement.service import SettlementService
from settlement.unsold_lifecycle import TRANSITIONS, PassedEvent, PassedStatus, after
from settlement.unsold_relisting import consent_relist, withdraw_relist
from settlement.unsold_window import answer_offer, make_offer
from tests.settlement.helpers import (
    START,
    USD,
    LiveLot,
    bid,
    forget,
    make_sale,
    publish,
    registered_buyers,
    run_lot,
)

ROOT = Path(__file__).resolve().parents[2]
RESERVE = 5_000 * USD
WINDOW = 72 * HOUR_MS
STATUSES: tuple[PassedStatus | None, ...] = (None, *get_args(PassedStatus))
EVENTS: tuple[PassedEvent, ...] = get_args(PassedEvent)

Move = tuple[PassedStatus | None, PassedEvent]

# ---- the table itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "event"), list(itertools.product(STATUSES, EVENTS)), ids=str)
def test_after_is_the_table(status: PassedStatus | None, event: PassedEvent) -> None:
    assert after(status, event) == TRANSITIONS.get((status, event))


def test_every_status_is_reached_and_only_returned_is_final() -> None:
    reached = set(TRANSITIONS.values())
    assert reached == set(get_args(PassedStatus))
    left = {status for status, _ in TRANSITIONS}
    assert set(STATUSES) - left == {"returned"}


def test_the_statuses_are_the_databases() -> None:
    """The statuses the last migration to set passed_lots' CHECK allows (0003 made it, 0009 added `reopened`)."""
    allowed: str | None = None
    for migration in sorted((ROOT / "ops" / "migrations").glob("*.sql")):
        text = migration.read_text()
        made = re.search(r"CREATE TABLE passed_lots \(.*?CHECK \(status IN \(([^)]*)\)\)", text, re.S)
        found = re.search(r"passed_lots_status_check\s+CHECK \(status IN \(([^)]*)\)\)", text) or made
        allowed = found.group(1) if found is not None else allowed
    assert allowed is not None
    assert {word.strip(" '\n") for word in allowed.split(",")} == set(get_args(PassedStatus))


def _writes_passed_lots(path: Path) -> bool:
    tree = ast.parse(path.read_text(), str(path))
    texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return any(re.search(r"\b(INSERT INTO|UPDATE)\s+passed_lots\b", text, re.I) for text in texts)


def test_only_unsold_lots_writes_a_passed_lot() -> None:
    writers = {
        str(path.relative_to(ROOT))
        for package in ("auction", "settlement", "ops", "loadtest")
        for path in (ROOT / package).rglob("*.py")
        if _writes_passed_lots(path)
    }
    assert writers == {"settlement/unsold_lots.py"}


# ---- a move the table lacks -----------------------------------------------------------------------------------


async def _sale(pg: asyncpg.Pool, sale_id: int, lots: int) -> NewSale:
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    stone = Diamond(carat_points=152, shape="Round", colour="G", clarity="VS2")
    sale = NewSale(
        id=sale_id,
        name=f"passed lot table {sale_id}",
        currency="USD",
        starts_at_ms=START,
        first_close_ms=START + HOUR_MS,
        lots=[
            NewLot(lot=n, title=f"stone {n}", consignor_id=consignor, diamond=stone, low_estimate=6_000 * USD,
                   high_estimate=12_000 * USD, reserve=RESERVE, opening=100 * USD)
            for n in range(1, lots + 1)
        ],
    )  # fmt: skip
    await catalog.insert_sale(pg, sale)
    return sale


async def _buyer(pg: asyncpg.Pool, sale_id: int, paddle: int) -> int:
    bidder, _token = await catalog.add_bidder(pg, f"Buyer {paddle}", f"Table Buyer Co {sale_id}-{paddle}")
    await catalog.register(pg, sale_id, bidder.id, paddle)
    return bidder.id


async def _closed(redis: Redis, pg: asyncpg.Pool, sale: NewSale, bids: dict[int, list[tuple[int, int]]]) -> int:
    """Every lot of the sale run and closed (lot n bid on by bids[n], as (buyer, amount)), settled by the service;
    when the lots closed."""
    closed = 0
    for terms in catalog.terms_for(sale):
        events = run_lot(sale, terms.lot, [bid(buyer, amount) for buyer, amount in bids.get(terms.lot, [])])
        closed = events[-1].at_ms
        await publish(redis, pg, sale.id, terms.lot, events)
    try:
        await SettlementService(redis, pg, only_sales=frozenset({sale.id})).drain_once()
    finally:
        await forget(redis, sale.id)
    return closed


async def _status(pg: asyncpg.Pool, sale_id: int, lot: int) -> str | None:
    status: str | None = await pg.fetchval(
        "SELECT status FROM passed_lots WHERE sale_id = $1 AND lot_no = $2", sale_id, lot
    )
    return status


async def test_a_move_the_table_lacks_is_refused_and_writes_nothing(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = await _sale(pg, new_sale_id(), lots=1)
    await _closed(redis, pg, sale, {})
    async with pg.acquire() as conn:
        for event in ("signed_for", "lot_passed", "default_cancelled"):
            with pytest.raises(IllegalPassedLotMove):
                async with conn.transaction():
                    await unsold_lots.move(conn, sale.id, 1, event)  # type: ignore[arg-type]
        with pytest.raises(IllegalPassedLotMove):
            async with conn.transaction():
                await unsold_lots.join_after_default(conn, sale.id, 2, "sent_back", START)
    assert await _status(pg, sale.id, 1) == "post_sale"
    assert await _status(pg, sale.id, 2) is None


# ---- every move in the table, made by the code -----------------------------------------------------------------


def _moves(caplog: pytest.LogCaptureFixture, sales: set[int]) -> set[Move]:
    """The moves unsold_lots logged for these sales: (status before, event)."""
    found: set[Move] = set()
    for record in caplog.records:
        if record.name == unsold_lots.__name__ and isinstance(record.args, tuple) and record.args[0] in sales:
            _sale_id, _lot, status, event, target = record.args
            assert TRANSITIONS[(status, event)] == target  # type: ignore[index]
            found.add((status, event))  # type: ignore[arg-type]
    return found


async def _the_window(redis: Redis, pg: asyncpg.Pool, sale_id: int) -> None:
    """Lot 1 taken at its reserve by its top bidder; lot 2 kept for relisting, then its consent withdrawn and
    sent back; lot 3 sent back when its window ends, and home once its consignor signs for every parcel."""
    sale = await _sale(pg, sale_id, lots=3)
    top = await _buyer(pg, sale_id, 10)
    closed = await _closed(redis, pg, sale, {1: [(top, 3_000 * USD)]})
    [reserve_offer] = (await unsold_views.passed_lots(pg, sale_id))[0].offers
    await answer_offer(pg, reserve_offer.id, True, closed + 1, buyer_id=top)
    await consent_relist(pg, sale_id, 2, 4_000 * USD, closed + 1)
    await unsold_sweep.sweep(pg, closed + WINDOW, sale_id)
    await withdraw_relist(pg, sale_id, 2, closed + WINDOW + 1)
    await unsold_sweep.sweep(pg, closed + WINDOW + 2, sale_id)
    [back] = await shipping.shipments_for(pg, sale_id, 3)
    at = closed + WINDOW + 10
    for state in ("collected", "in_transit", "delivered_signed"):
        for parcel in back.parcels:
            await shipping.record_tracking(pg, back.id, parcel.no, state, at := at + 1)
    await unsold_sweep.sweep(pg, at, sale_id)
    statuses = [await _status(pg, sale_id, lot) for lot in (1, 2, 3)]
    assert statuses == ["sold", "returning", "returned"]


async def _defaulted(pg: asyncpg.Pool, sale_id: int, buyer: int, now_ms: int) -> int:
    """The buyer's invoice for the sale left unpaid past the grace period: in default. When it is."""
    due = (await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, buyer))).due_ms
    await defaults.sweep(pg, max(due + 14 * DAY_MS, now_ms))
    return due + 15 * DAY_MS


async def _the_operators_choices(pg: asyncpg.Pool, sale_id: int, now_ms: int) -> None:
    """The defaulted lots 1, 2, 3 resolved: nobody for a second chance, relisted, cancelled; then swept."""
    assert await defaults.resolve(pg, sale_id, 1, "second_chance", now_ms) == "unsold"
    assert await defaults.resolve(pg, sale_id, 2, "relist", now_ms) == "relist"
    assert await defaults.resolve(pg, sale_id, 3, "cancel", now_ms) == "cancelled"
    await unsold_sweep.sweep(pg, now_ms + 1, sale_id)
    assert [await _status(pg, sale_id, lot) for lot in (1, 2, 3)] == ["returning", "relist", "returning"]


async def _sold_at_the_hammer_then_defaulted(redis: Redis, pg: asyncpg.Pool, sale_id: int) -> None:
    sale = await _sale(pg, sale_id, lots=3)
    buyer = await _buyer(pg, sale_id, 20)
    closed = await _closed(redis, pg, sale, {lot: [(buyer, 6_000 * USD)] for lot in (1, 2, 3)})
    await _the_operators_choices(pg, sale_id, await _defaulted(pg, sale_id, buyer, closed))


async def _sold_in_the_window_then_defaulted(redis: Redis, pg: asyncpg.Pool, sale_id: int) -> None:
    sale = await _sale(pg, sale_id, lots=3)
    buyer = await _buyer(pg, sale_id, 30)
    closed = await _closed(redis, pg, sale, {})
    for lot in (1, 2, 3):
        offer = await make_offer(pg, sale_id, lot, buyer, 4_000 * USD, f"table-{lot}", closed + 1)
        await answer_offer(pg, offer.id, True, closed + 2)
    await _the_operators_choices(pg, sale_id, await _defaulted(pg, sale_id, buyer, closed))


async def _reopened_at_the_rostrum(redis: Redis, pg: asyncpg.Pool, sale_id: int) -> None:
    """A live lot passed, reopened, passed again and taken at its reserve by its top bidder at once; then
    reopened again (that sale undone) and hammered."""
    sale, _ = await make_sale(
        pg, sale_id, lots=1, reserve=RESERVE, sale_format="live", opening=4_000 * USD, estimate=6_000 * USD
    )
    a, b = await registered_buyers(pg, sale_id, 2)
    lot = LiveLot(catalog.terms_for(sale)[0])

    async def settle(events: list[AnyEvent]) -> None:
        await publish(redis, pg, sale_id, 1, events)
        try:
            await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once()
        finally:
            await forget(redis, sale_id)

    await settle(lot.open() + lot.bid(a) + lot.pass_lot())
    await settle(lot.reopen())
    passed_again = lot.bid(b) + lot.pass_lot()
    await settle(passed_again)
    [offer] = [o for o in (await unsold_views.passed_lots(pg, sale_id))[0].offers if o.status == "open"]
    await answer_offer(pg, offer.id, True, passed_again[-1].at_ms + 1, buyer_id=b)
    await settle(lot.reopen() + lot.bid_to(a, RESERVE, b) + lot.hammer())
    assert await _status(pg, sale_id, 1) == "reopened"


async def test_the_code_makes_every_move_in_the_table(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=unsold_lots.__name__)
    sales = {new_sale_id(), new_sale_id(), new_sale_id(), new_sale_id()}
    window, at_the_hammer, in_the_window, reopened = sorted(sales)
    await _the_window(redis, pg, window)
    await _sold_at_the_hammer_then_defaulted(redis, pg, at_the_hammer)
    await _sold_in_the_window_then_defaulted(redis, pg, in_the_window)
    await _reopened_at_the_rostrum(redis, pg, reopened)
    assert _moves(caplog, sales) == set(TRANSITIONS)
