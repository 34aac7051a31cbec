"""The real stack for the load generator's own tests: a process group (gateway + worker) on the test servers,
and a Bench of a few buyers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from auction.config import Settings
from auction.store import LotStore
from loadtest import one_address, scenarios
from loadtest.generator import raise_nofile
from ops.runner import process_group


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def bench_stack(
    redis_url: str, database_url: str, state_dir: Path, buyers: int
) -> AsyncIterator[scenarios.Bench]:
    raise_nofile()
    settings = one_address.lifted(Settings(redis_url=redis_url, database_url=database_url, state_dir=state_dir))
    async with process_group(settings, "127.0.0.1", _free_port()) as group:
        gateway = next(child for child in group.children if child.name == "gateway")
        assert gateway.process is not None
        redis = Redis.from_url(redis_url)
        pg = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
        store = LotStore(redis, pg=pg)
        try:
            ids, tokens, consignor = await scenarios.make_bidders(pg, buyers)
            yield scenarios.Bench(
                ws_url=group.base_url.replace("http://", "ws://") + "/ws",
                pg=pg,
                redis=redis,
                store=store,
                gateway_pid=gateway.process.pid,
                bidder_ids=ids,
                tokens=tokens,
                consignor=consignor,
            )
        finally:
            await store.close()
            await pg.close()
            await redis.aclose()
