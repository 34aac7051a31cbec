"""The settlement service while PostgreSQL is down: its sweep fails like its drain does, as a pass to retry,
never as the end of the service (it used to end it, and the worker with it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
from redis.asyncio import Redis

from ops.embedded import EmbeddedPostgres
from settlement.service import SettlementService


async def test_the_service_retries_a_sweep_that_fails_and_stops_when_asked(
    redis: Redis, embedded_postgres_factory: Callable[[], Awaitable[EmbeddedPostgres]]
) -> None:
    server = await embedded_postgres_factory()
    pg = await asyncpg.create_pool(server.url, min_size=0, max_size=2)
    await server.astop()  # the first pass sweeps at once: it meets no PostgreSQL
    stop = asyncio.Event()
    service = asyncio.create_task(SettlementService(redis, pg, only_sales=frozenset()).run(stop))
    try:
        await asyncio.sleep(2.5)  # two retries, a second apart
        assert not service.done(), service.exception()
    finally:
        stop.set()
        await asyncio.wait_for(service, 5)
        await pg.close()
