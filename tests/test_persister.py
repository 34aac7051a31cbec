"""The persister copies every event into PostgreSQL exactly once, whatever crashes in between.

Tests share one Redis, so a pass also persists other tests' sales; the assertions look at this test's sale
(and tests run one at a time, so a second pass right after a first has nothing new anywhere).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
from redis.asyncio import Redis

from auction import keys
from auction.engine.lot import LotTerms
from auction.engine.messages import AnyEvent, CloseLot
from auction.persister import Persister
from auction.record import event_row, load_lot_events, rebuild_from_record, write_events
from auction.store import LotStore, StoreUnavailable
from tests.lots import END, START, bid, dedupe_key, max_bid, terms_for

T = START + 1000


async def sale_with_bids(store: LotStore, sale: int) -> list[LotTerms]:
    """Two lots: one sold after a proxy duel, one with a single bid still open."""
    lots = [terms_for(sale, 1, reserve=500), terms_for(sale, 2)]
    await store.create_lots(lots)
    for command in [max_bid(T, 1, 2000), bid(T + 1, 2, 700), max_bid(T + 2, 2, 3000)]:
        await store.execute(sale, 1, command, dedupe=dedupe_key(command))
    await store.execute(sale, 1, CloseLot(at_ms=END))
    await store.execute(sale, 2, bid(T, 3, 100))
    return lots


async def recorded(pg: asyncpg.Pool, sale: int) -> list[AnyEvent]:
    return await load_lot_events(pg, sale, 1) + await load_lot_events(pg, sale, 2)


async def test_drains_into_postgres_once_and_rebuilds_the_same_state(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    lots = await sale_with_bids(store, new_sale_id())
    persister = Persister(redis, pg)

    assert await persister.drain_once() >= 8
    assert await persister.drain_once() == 0
    assert await persister.stream_lag() == 0
    for terms in lots:
        assert await load_lot_events(pg, terms.sale, terms.lot) == await store.events_after(terms.sale, terms.lot, 0)
        assert await rebuild_from_record(pg, terms) == await store.state(terms.sale, terms.lot)


async def test_a_crash_between_insert_and_ack_duplicates_nothing(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = new_sale_id()
    lots = await sale_with_bids(store, sale)
    # As if "crashy" had read the entries and died before XACK; it already inserted half of them.
    await redis.xgroup_create(keys.sale_events(sale), keys.PERSISTER_GROUP, id="0")
    await redis.xreadgroup(keys.PERSISTER_GROUP, "crashy", {keys.sale_events(sale): ">"})
    half = (await store.events_after(sale, 1, 0))[:3]
    await write_events(pg, [event_row(sale, 1, e) for e in half])

    restarted = Persister(redis, pg, consumer="crashy")
    journal = await redis.xlen(keys.sale_journal(sale))
    assert await restarted.drain_once() == len(await recorded_in_redis(store, lots)) - 3 + journal
    assert await recorded(pg, sale) == await recorded_in_redis(store, lots)
    assert await restarted.stream_lag() == 0


async def test_entries_of_a_dead_consumer_are_claimed(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = new_sale_id()
    lots = await sale_with_bids(store, sale)
    await redis.xgroup_create(keys.sale_events(sale), keys.PERSISTER_GROUP, id="0")
    await redis.xreadgroup(keys.PERSISTER_GROUP, "dead", {keys.sale_events(sale): ">"})  # read, never acked
    assert await Persister(redis, pg).stream_lag() >= 9

    await asyncio.sleep(0.01)
    survivor = Persister(redis, pg, consumer="survivor", claim_idle_ms=5)
    await survivor.drain_once()
    assert await recorded(pg, sale) == await recorded_in_redis(store, lots)
    assert await survivor.stream_lag() == 0


async def test_run_persists_until_stopped(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(Persister(redis, pg, consumer="runner").run(stop))
    lots = await sale_with_bids(store, new_sale_id())
    expected = await recorded_in_redis(store, lots)
    for _ in range(100):
        if await recorded(pg, lots[0].sale) == expected:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(running, 2)
    assert await recorded(pg, lots[0].sale) == expected


async def recorded_in_redis(store: LotStore, lots: list[LotTerms]) -> list[AnyEvent]:
    return [e for terms in lots for e in await store.events_after(terms.sale, terms.lot, 0)]


async def test_the_lag_is_zero_after_redis_restarts_with_nothing_left(
    embedded_redis_factory: Callable[..., object], pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    """Redis's own `lag` figure came back in the tens of thousands after a restart; ours counts what is left."""
    server = embedded_redis_factory()
    client = Redis.from_url(server.url)  # type: ignore[attr-defined]
    store = LotStore(client)
    try:
        await sale_with_bids(store, new_sale_id())
        persister = Persister(client, pg)
        assert await persister.drain_once() > 0
        assert await persister.stream_lag() == 0
        server.kill()  # type: ignore[attr-defined]
        server.start()  # type: ignore[attr-defined]
        with contextlib.suppress(StoreUnavailable):  # the pool's old connection meets the restart once
            await persister.stream_lag()
        assert await persister.stream_lag() == 0
        assert await persister.drain_once() == 0
    finally:
        await store.close()
        await client.aclose()
