"""`auction worker`: the persister (streams -> PostgreSQL), the scheduler (lots open and close on time) and the
settlement service (invoices, payouts and non-payers, from the lots that close)."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import redis.asyncio as aioredis

from auction.persister import Persister
from auction.scheduler import Scheduler
from auction.store import LotStore
from settlement.service import SettlementService


async def run_worker(redis_url: str, database_url: str, durability: str = "redis") -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    redis = aioredis.Redis.from_url(redis_url)
    pg = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    store = LotStore(redis, durability="postgres" if durability == "postgres" else "redis", pg=pg)
    try:
        await asyncio.gather(
            Persister(redis, pg).run(stop), Scheduler(store, redis).run(stop), SettlementService(redis, pg).run(stop)
        )
    finally:
        await store.close()
        await pg.close()
        await redis.aclose()
