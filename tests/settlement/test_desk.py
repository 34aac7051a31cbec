"""The settlement desk's lists (settlement/desk_views.py): a sale's invoices summed as the invoice itself sums them,
and its defaulted lots with the second-chance offers made for each, against real Redis and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from redis.asyncio import Redis

from auction import catalog
from settlement import billing, defaults, desk_views
from settlement.rules import DAY_MS
from settlement.service import SettlementService
from tests.settlement.helpers import USD, bid, forget, make_sale, publish, run_lot


async def _billed_sale(redis: Redis, pg: asyncpg.Pool, sale_id: int) -> tuple[int, int, int, int]:
    """Lot 1 to a registered company (paddle 41) over another (42); lot 2 to a buyer the vetting tables don't know (a
    fresh id) over that other (last bid 3,000). Returns the registered company, the unknown winner, the runner-up
    and the unknown winner's due time."""
    sale, _ = await make_sale(pg, sale_id, lots=2, reserve=1_000 * USD)
    named, _ = await catalog.add_bidder(pg, "Dana", "Dana Diamonds BV")
    runner_up, _ = await catalog.add_bidder(pg, "Eli", "Eli Gems Ltd")
    unknown = 10**12 + sale_id % 10**9  # no strikes from other tests' buyers can suspend it
    await catalog.register(pg, sale_id, named.id, 41)
    await catalog.register(pg, sale_id, runner_up.id, 42)  # registered: it may be offered the lot after a default
    await publish(redis, pg, sale_id, 1, run_lot(sale, 1, [bid(runner_up.id, 1_500 * USD), bid(named.id, 2_000 * USD)]))
    second = [bid(runner_up.id, 3_000 * USD, kind="max"), bid(unknown, 5_000 * USD, kind="max")]
    await publish(redis, pg, sale_id, 2, run_lot(sale, 2, second))
    try:
        await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once()
    finally:
        await forget(redis, sale_id)
    inv = await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, unknown))
    return named.id, unknown, runner_up.id, inv.due_ms


async def test_invoices_are_listed_with_the_buyers_name_paddle_and_the_invoices_own_sums(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    named, other, _, _ = await _billed_sale(redis, pg, sale_id)
    first = await billing.invoice_id_for(pg, sale_id, named)
    await billing.pay(pg, first, 1_000 * USD, f"wire-{sale_id}", 1)
    rows = await desk_views.sale_invoices(pg, sale_id)
    assert [(r.buyer, r.buyer_name, r.paddle, r.lots) for r in rows] == [
        (named, "Dana Diamonds BV", 41, 1),
        (other, "", None, 1),  # a buyer the vetting tables don't know is listed by id alone
    ]
    for row in rows:  # the list's figures are the invoice's own
        full = await billing.invoice(pg, row.id)
        assert (row.status, row.total, row.paid, row.outstanding, row.currency) == (
            full.status, full.total, full.paid, full.outstanding, full.currency,
        )  # fmt: skip
    assert rows[0].paid == 1_000 * USD and rows[0].outstanding == rows[0].total - 1_000 * USD


async def test_a_defaulted_lot_is_listed_with_its_second_chance_offers(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    named, other, runner_up, due = await _billed_sale(redis, pg, sale_id)
    paid = await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, named))
    await billing.pay(pg, paid.id, paid.outstanding, f"all-{sale_id}", paid.due_ms - DAY_MS)
    assert await desk_views.sale_defaults(pg, sale_id) == []
    await defaults.sweep(pg, due + 14 * DAY_MS)  # lot 2's buyer never paid
    [pending] = await desk_views.sale_defaults(pg, sale_id)
    assert (pending.lot, pending.defaulter, pending.resolution, pending.offers) == (2, other, "pending", [])
    assert pending.hammer == 3_000 * USD + 200 * USD  # one step above the runner-up's maximum on the ladder
    await defaults.resolve(pg, sale_id, 2, "second_chance", due + 15 * DAY_MS)
    [offered] = await desk_views.sale_defaults(pg, sale_id)
    assert offered.resolution == "second_chance"
    assert [(o.buyer, o.amount, o.status) for o in offered.offers] == [(runner_up, 3_000 * USD, "open")]
    statuses = {r.buyer: r.status for r in await desk_views.sale_invoices(pg, sale_id)}
    assert statuses == {named: "paid", other: "defaulted"}
