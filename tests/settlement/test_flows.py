"""Settlement flows against real Redis and PostgreSQL: from a lot's close in the sale's stream to the ledger."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import pytest
from redis.asyncio import Redis

from settlement import billing, defaults, ledger
from settlement.errors import InvalidState, Unbalanced
from settlement.reconcile import reconcile, settlement_summary
from settlement.rules import DAY_MS, SettlementTerms
from settlement.service import SettlementService
from tests.settlement.helpers import START, USD, bid, forget, make_sale, publish, registered_buyers, run_lot

NOW = 1_800_000_000_000


async def _billed(pg: asyncpg.Pool, sale_id: int) -> list[asyncpg.Record]:
    return await pg.fetch(
        "SELECT l.lot_no, i.buyer_id, l.hammer, l.premium, l.status, l.source FROM invoice_lines l "
        "JOIN invoices i ON i.id = l.invoice_id WHERE l.sale_id = $1 ORDER BY l.lot_no, l.id",
        sale_id,
    )


async def test_closes_are_billed_once_and_reconcile(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    sale, consignor = await make_sale(pg, sale_id, lots=3, reserve=500 * USD)
    await publish(redis, pg, sale_id, 1, run_lot(sale, 1, [bid(1, 1_000 * USD), bid(2, 2_000 * USD)]))
    await publish(redis, pg, sale_id, 2, run_lot(sale, 2, [bid(2, 10_000 * USD)]))
    await publish(redis, pg, sale_id, 3, run_lot(sale, 3, [bid(1, 100 * USD)]))  # below the reserve: passed
    service = SettlementService(redis, pg, only_sales=frozenset({sale_id}))
    try:
        assert await service.drain_once() == 3
        assert await service.drain_once() == 0
    finally:
        await forget(redis, sale_id)
    rows = await _billed(pg, sale_id)
    assert [(r["lot_no"], r["buyer_id"], r["hammer"], r["premium"]) for r in rows] == [
        (1, 2, 2_000 * USD, 520 * USD),
        (2, 2, 10_000 * USD, 2_600 * USD),
    ]
    inv = await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, 2))
    assert inv.total == 12_000 * USD + 3_120 * USD and inv.outstanding == inv.total
    assert "<table>" in billing.invoice_html(inv)
    assert await ledger.balance(pg, ledger.consignor(consignor), "USD") == -10_800 * USD  # 12,000 less 10 %
    assert await pg.fetchval("SELECT status FROM passed_lots WHERE sale_id = $1 AND lot_no = 3", sale_id) == "post_sale"
    assert await reconcile(pg, sale_id) == []


async def test_partial_payments_interest_and_consignor_payout(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    sale, consignor = await make_sale(pg, sale_id, lots=1)
    await billing.set_terms(pg, sale_id, SettlementTerms(shipping_per_lot=100 * USD, consignor_lot_fee=50 * USD))
    events = run_lot(sale, 1, [bid(7, 10_000 * USD)])
    await publish(redis, pg, sale_id, 1, events)
    try:
        await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once()
    finally:
        await forget(redis, sale_id)
    inv_id = await billing.invoice_id_for(pg, sale_id, 7)
    inv = await billing.invoice(pg, inv_id)
    assert inv.total == 10_000 * USD + 2_600 * USD + 100 * USD
    await billing.pay(pg, inv_id, 5_000 * USD, f"wire-{sale_id}-1", inv.issued_ms + DAY_MS)
    again = await billing.pay(pg, inv_id, 5_000 * USD, f"wire-{sale_id}-1", inv.issued_ms + DAY_MS)  # a resend
    assert again.paid == 5_000 * USD
    late = inv.due_ms + 30 * DAY_MS  # a month late on 7,700.00: 77.00 of interest
    view = await billing.pay(pg, inv_id, 7_700 * USD + 77 * USD, f"wire-{sale_id}-2", late)
    assert view.status == "paid" and view.interest == 77 * USD and view.outstanding == 0
    with pytest.raises(InvalidState):
        await billing.pay(pg, inv_id, 1, f"wire-{sale_id}-3", late)
    assert [p for p in await billing.release_payouts(pg, late + 5 * DAY_MS - 1) if p.sale == sale_id] == []
    statement = await billing.consignor_statement(pg, consignor, sale_id, late)
    assert statement.lines[0].status == "held" and statement.net == 10_000 * USD - 1_000 * USD - 50 * USD
    payouts = [p for p in await billing.release_payouts(pg, late + 5 * DAY_MS) if p.sale == sale_id]
    assert [(p.consignor, p.amount, p.lots) for p in payouts] == [(consignor, 8_950 * USD, [1])]
    statement = await billing.consignor_statement(pg, consignor, sale_id, late + 5 * DAY_MS)
    assert statement.lines[0].status == "paid_out" and statement.balance_owed == 0
    assert await reconcile(pg, sale_id) == []


@dataclass
class Defaulted:
    due_ms: int
    consignor: int
    winner: int  # who never pays
    under: int  # underbidder, last bid 3,000 (a maximum)
    third: int  # last bid 2,000


async def _defaulted_sale(redis: Redis, pg: asyncpg.Pool, sale_id: int) -> Defaulted:
    """Lot 1: the winner's maximum of 5,000 beats the underbidder's 3,000 and the third's 2,000; the winner never
    pays. All three are registered buyers of the sale, with no limit."""
    sale, consignor = await make_sale(pg, sale_id, lots=1, reserve=1_000 * USD)
    winner, under, third = await registered_buyers(pg, sale_id, 3)
    bids = [bid(third, 2_000 * USD), bid(under, 3_000 * USD, kind="max"), bid(winner, 5_000 * USD, kind="max")]
    await publish(redis, pg, sale_id, 1, run_lot(sale, 1, bids))
    await billing.take_deposit(pg, winner, "USD", 500 * USD, f"dep-{sale_id}", 0)
    try:
        await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once()
    finally:
        await forget(redis, sale_id)
    inv = await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, winner))
    return Defaulted(inv.due_ms, consignor, winner, under, third)


async def test_default_then_second_chance_sale(redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    sale_id = new_sale_id()
    d = await _defaulted_sale(redis, pg, sale_id)
    await defaults.sweep(pg, d.due_ms + DAY_MS)
    assert await pg.fetchval("SELECT count(*) FROM reminders r JOIN invoices i ON i.id = r.invoice_id "
                             "WHERE i.sale_id = $1", sale_id) == 1  # fmt: skip
    await defaults.sweep(pg, d.due_ms + 14 * DAY_MS)
    inv = await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, d.winner))
    assert inv.status == "defaulted" and [line.status for line in inv.lines] == ["voided"]
    assert await pg.fetchval("SELECT count(*) FROM strikes WHERE buyer_id = $1 AND sale_id = $2", d.winner,
                             sale_id) == 1  # fmt: skip
    forfeited = await pg.fetchval(
        "SELECT amount FROM deposits d JOIN ledger_transactions t ON t.id = d.txn_id WHERE d.kind = 'forfeited' "
        "AND t.sale_id = $1",
        sale_id,
    )
    assert forfeited == 500 * USD  # the loss (premium + commission) is larger than the deposit
    t0 = d.due_ms + 15 * DAY_MS
    assert await defaults.resolve(pg, sale_id, 1, "second_chance", t0) == "second_chance"
    first = (await defaults.offers(pg, sale_id, 1))[-1]
    assert (first.buyer, first.amount, first.rank) == (d.under, 3_000 * USD, 1)  # the underbidder, at their last bid
    await defaults.answer_offer(pg, first.id, accept=False, now_ms=t0 + 1)
    second = (await defaults.offers(pg, sale_id, 1))[-1]
    assert (second.buyer, second.amount) == (d.third, 2_000 * USD)
    with pytest.raises(InvalidState):
        await defaults.answer_offer(pg, second.id, accept=True, now_ms=second.expires_ms)
    assert await defaults.answer_offer(pg, second.id, accept=True, now_ms=t0 + 2) == "second_chance_sold"
    rows = await _billed(pg, sale_id)
    assert rows[0]["hammer"] > 3_000 * USD  # the winner's maximum answered the underbidder's
    assert [(r["buyer_id"], r["status"], r["source"]) for r in rows] == [
        (d.winner, "voided", "hammer"),
        (d.third, "active", "second_chance"),
    ]
    assert [(r["buyer_id"], r["hammer"], r["status"], r["source"]) for r in rows[1:]] == [
        (d.third, 2_000 * USD, "active", "second_chance"),
    ]
    assert await ledger.balance(pg, ledger.consignor(d.consignor), "USD") == -1_800 * USD
    assert await reconcile(pg, sale_id) == []
    summary = await settlement_summary(pg, sale_id)
    assert summary["defaults"] == 1 and summary["second_chance_sales"] == 1 and summary["invoices"] == 2
    assert summary["invoiced_total"] == 2_000 * USD + 520 * USD and summary["reconcile"] == "clean"


async def test_default_then_reaward_from_the_recorded_bids(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    d = await _defaulted_sale(redis, pg, sale_id)
    await defaults.sweep(pg, d.due_ms + 14 * DAY_MS)
    assert await defaults.resolve(pg, sale_id, 1, "reaward", d.due_ms + 15 * DAY_MS) == "reawarded"
    rows = await _billed(pg, sale_id)
    # Without the winner, the underbidder's maximum of 3,000 meets the third's 2,000 with one increment: the
    # engine's ladder decides.
    assert (
        rows[-1]["buyer_id"] == d.under
        and rows[-1]["source"] == "reaward"
        and 2_000 * USD < rows[-1]["hammer"] <= 3_000 * USD
    )
    with pytest.raises(InvalidState):
        await defaults.resolve(pg, sale_id, 1, "cancel", d.due_ms + 16 * DAY_MS)
    assert await reconcile(pg, sale_id) == []


async def test_killed_mid_sale_and_restarted_bills_every_close_once(
    redis: Redis, pg: asyncpg.Pool, database_url: str, new_sale_id: Callable[[], int]
) -> None:
    """Each run has its own pool, terminated when it is killed (as a killed process's connections die)."""
    sale_id = new_sale_id()
    lots = 30
    sale, _ = await make_sale(pg, sale_id, lots=lots)
    for lot in range(1, lots + 1):
        await publish(redis, pg, sale_id, lot, run_lot(sale, lot, [bid(lot % 4 + 1, 1_000 * USD + lot)]))
    try:
        for attempt in range(3):  # killed at different points: after 1 ms, 5 ms, then left to finish
            own = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
            service = SettlementService(redis, own, batch=3, only_sales=frozenset({sale_id}), clock=lambda: START)
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            await asyncio.sleep([0.001, 0.005, 0][attempt])
            if attempt < 2:
                task.cancel()
                own.terminate()
                await asyncio.wait({task}, timeout=10)
                assert task.done()
            else:
                for _ in range(200):
                    if await pg.fetchval("SELECT count(*) FROM invoice_lines WHERE sale_id = $1", sale_id) == lots:
                        break
                    await asyncio.sleep(0.05)
                stop.set()
                await task
                await own.close()
    finally:
        await forget(redis, sale_id)
    rows = await _billed(pg, sale_id)
    assert [r["lot_no"] for r in rows] == list(range(1, lots + 1))
    assert await pg.fetchval("SELECT count(*) FROM ledger_transactions WHERE sale_id = $1", sale_id) == lots
    assert await reconcile(pg, sale_id) == []


async def test_the_ledger_refuses_unbalanced_transactions(pg: asyncpg.Pool) -> None:
    bad = ledger.Posting("bad", "test", "USD", 0, (ledger.Entry("cash", 5), ledger.Entry("house:fees", -4)))
    async with pg.acquire() as conn:
        with pytest.raises(Unbalanced):
            await ledger.post(conn, bad)
        with pytest.raises(asyncpg.exceptions.CheckViolationError):
            async with conn.transaction():
                txn = await conn.fetchval(
                    "INSERT INTO ledger_transactions (idem_key, kind, currency, at_ms) "
                    "VALUES ('raw-unbalanced', 'test', 'USD', 0) RETURNING id"
                )
                account = await conn.fetchval("SELECT id FROM ledger_accounts LIMIT 1") or await conn.fetchval(
                    "INSERT INTO ledger_accounts (code, currency) VALUES ('cash', 'USD') RETURNING id"
                )
                await conn.execute(
                    "INSERT INTO ledger_entries (txn_id, account_id, amount) VALUES ($1, $2, 7)", txn, account
                )
    assert (
        await pg.fetchval("SELECT count(*) FROM ledger_transactions WHERE idem_key IN ('bad', 'raw-unbalanced')") == 0
    )


async def test_a_close_is_billed_while_a_sweep_waits(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    """Time's work (a sweep over every open invoice) runs beside the billing of closes: here the sweep waits on
    an invoice row another transaction holds, and a close is billed all the same. It waited for the sweep before,
    and under the whole suite a sweep over thousands of invoices held up every bill for many seconds."""
    held_id, sale_id = new_sale_id(), new_sale_id()
    held_sale, _ = await make_sale(pg, held_id, lots=1)
    await publish(redis, pg, held_id, 1, run_lot(held_sale, 1, [bid(1, 2_000 * USD)]))
    await SettlementService(redis, pg, only_sales=frozenset({held_id})).drain_once()
    sale, _ = await make_sale(pg, sale_id, lots=1)
    stop = asyncio.Event()
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM invoices WHERE sale_id = $1 FOR UPDATE", held_id)  # the sweep waits here
        both = frozenset({held_id, sale_id})  # the held invoice is the sweep's to visit
        service = asyncio.create_task(SettlementService(redis, pg, only_sales=both).run(stop))
        try:
            await asyncio.sleep(0.5)  # the first sweep has started and waits on the row
            await publish(redis, pg, sale_id, 1, run_lot(sale, 1, [bid(2, 3_000 * USD)]))
            for _ in range(50):
                if await _billed(pg, sale_id):
                    break
                await asyncio.sleep(0.1)
            assert [(r["lot_no"], r["buyer_id"], r["hammer"]) for r in await _billed(pg, sale_id)] == [
                (1, 2, 3_000 * USD)
            ]
        finally:
            stop.set()
            service.cancel()  # the sweep still has every other test's open invoices to go through
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await service
    finally:
        await forget(redis, held_id)
        await forget(redis, sale_id)


async def test_a_sweep_limited_to_some_sales_leaves_the_others_invoices_alone(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    mine, other = new_sale_id(), new_sale_id()
    for sale_id in (mine, other):
        sale, _ = await make_sale(pg, sale_id, lots=1)
        await publish(redis, pg, sale_id, 1, run_lot(sale, 1, [bid(1, 2_000 * USD)]))
        await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once()
    try:
        await defaults.sweep(pg, NOW + 365 * DAY_MS, only_sales={mine})  # long past due: in default
        status = "SELECT status FROM invoices WHERE sale_id = $1"
        assert (await pg.fetchval(status, mine), await pg.fetchval(status, other)) == ("defaulted", "open")
    finally:
        await forget(redis, mine)
        await forget(redis, other)
