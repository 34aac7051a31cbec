"""Two schedulers, each with its own store (two processes), open and close every lot exactly once.

The clock is passed to `tick`, so time is exact. Other tests' sales are in the same Redis and get ticked too;
assertions look only at this test's sale.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from redis.asyncio import Redis

from auction import keys
from auction.engine.messages import LotOpened, LotPassed, LotSold
from auction.persister import Persister
from auction.record import load_lot_events
from auction.scheduler import Scheduler
from auction.store import Accepted, LotStore
from tests.lots import END, MINUTE, START, bid, terms_for


@pytest.fixture
async def schedulers(redis_url: str) -> AsyncIterator[tuple[Scheduler, Scheduler]]:
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    stores = [LotStore(client) for client in clients]
    try:
        yield Scheduler(stores[0], clients[0]), Scheduler(stores[1], clients[1])
    finally:
        for store, client in zip(stores, clients, strict=True):
            await store.close()
            await client.aclose()


async def tick_both(schedulers: tuple[Scheduler, Scheduler], now_ms: int, sale: int) -> list[Accepted]:
    ticks = await asyncio.gather(*(scheduler.tick(now_ms) for scheduler in schedulers))
    return [a for accepted in ticks for a in accepted if a.state.terms.sale == sale]


async def test_two_schedulers_open_and_close_each_lot_exactly_once(
    schedulers: tuple[Scheduler, Scheduler],
    store: LotStore,
    redis: Redis,
    pg: asyncpg.Pool,
    new_sale_id: Callable[[], int],
) -> None:
    sale = new_sale_id()
    sold, passed, extended = (terms_for(sale, lot) for lot in (1, 2, 3))
    await store.create_lots([sold, passed, extended])

    opened = await tick_both(schedulers, START, sale)
    assert sorted(a.state.terms.lot for a in opened) == [1, 2, 3]
    assert all(isinstance(a.events[0], LotOpened) for a in opened)
    await store.execute(sale, 1, bid(START + 1, 1, 100))
    await store.execute(sale, 3, bid(END - 30_000, 2, 100))  # soft close: now ends at END + 90 s

    assert await redis.zscore(keys.sale_closes(sale), "3") == END + 90_000
    closed = await tick_both(schedulers, END, sale)
    assert sorted(a.state.terms.lot for a in closed) == [1, 2], "lot 3 must not close at its old end"
    closed += await tick_both(schedulers, END + 90_000, sale)
    for now in (END + 90_001, END + 2 * MINUTE):
        assert await tick_both(schedulers, now, sale) == []

    await Persister(redis, pg).drain_once()
    endings = {
        lot: [type(e) for e in await load_lot_events(pg, sale, lot) if isinstance(e, LotSold | LotPassed)]
        for lot in (1, 2, 3)
    }
    assert endings == {1: [LotSold], 2: [LotPassed], 3: [LotSold]}
    assert await redis.zcard(keys.sale_closes(sale)) == 0
    assert await redis.zcard(keys.sale_opens(sale)) == 0


async def test_a_lot_never_opened_is_passed_at_its_end(
    schedulers: tuple[Scheduler, Scheduler], store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    terms = terms_for(new_sale_id())
    await store.create_lots([terms])
    closed = await tick_both(schedulers, END + 5, terms.sale)
    assert [type(e) for a in closed for e in a.events] == [LotPassed]


async def test_run_ticks_with_its_clock_until_stopped(
    schedulers: tuple[Scheduler, Scheduler], store: LotStore, redis: Redis, new_sale_id: Callable[[], int]
) -> None:
    terms = terms_for(new_sale_id())
    await store.create_lots([terms])
    running = Scheduler(store, redis, tick_ms=10, clock=lambda: END)
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    for _ in range(100):
        state = await store.state(terms.sale, terms.lot)
        if state is not None and state.status == "passed":
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    state = await store.state(terms.sale, terms.lot)
    assert state is not None and state.status == "passed"
