"""The generator against the real stack for about 2 s at a low rate: the counts add up and nothing acked is lost.

No timing assertions: this machine's speed is not the test's business; `make bench` measures it.
"""

from __future__ import annotations

import socket
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from auction.config import Settings
from auction.store import LotStore
from loadtest import scenarios
from loadtest.generator import BidderPool, raise_nofile
from ops.runner import process_group


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_a_short_open_loop_run_adds_up(redis_url: str, database_url: str, tmp_path: Path) -> None:
    raise_nofile()
    settings = Settings(redis_url=redis_url, database_url=database_url, state_dir=tmp_path)
    async with process_group(settings, "127.0.0.1", _free_port()) as group:
        gateway = next(child for child in group.children if child.name == "gateway")
        assert gateway.process is not None
        redis = Redis.from_url(redis_url)
        pg = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
        store = LotStore(redis, pg=pg)
        try:
            ids, tokens, consignor = await scenarios.make_bidders(pg, 8)
            bench = scenarios.Bench(
                ws_url=group.base_url.replace("http://", "ws://") + "/ws",
                pg=pg,
                redis=redis,
                store=store,
                gateway_pid=gateway.process.pid,
                bidder_ids=ids,
                tokens=tokens,
                consignor=consignor,
            )
            async with BidderPool(bench.ws_url, tokens) as pool:
                runs = await scenarios.steady(bench, pool, rate=40.0, seconds=2.0, runs=1, lots=10)
            lost = await scenarios.lost_acked_bids(bench)
        finally:
            await store.close()
            await pg.close()
            await redis.aclose()
    (run,) = runs
    assert run["sent"] == 80
    assert run["sent"] == run["acked"] + run["rejected"] + run["errors"]
    assert run["acked"] > 0
    assert lost["lost_acked_bids"] == 0
    assert lost["acked_bids_checked"] >= run["acked"]
