"""`auction worker` as a real process rides out PostgreSQL going away: killed while it runs, or down when it
starts. It keeps running, the scheduler (which needs only Redis) still opens and closes lots, and once
PostgreSQL is back the persister and the settlement service catch up.

The worker runs on a Redis and a PostgreSQL of its own (it follows every active sale, so a shared Redis would
hand it other tests' sales)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from auction import catalog
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.diamonds import Diamond
from auction.engine.lifecycle import FINAL
from auction.store import LotStore
from ops import worker
from ops.embedded import EmbeddedPostgres, EmbeddedRedis
from ops.worker import RESTART_PAUSE_S, supervised
from settlement.service import SWEEP_EVERY_S

REPO = Path(__file__).parents[1]
LOTS = 2
PgFactory = Callable[[], Awaitable[EmbeddedPostgres]]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def until(done: Callable[[], Awaitable[bool]], within_s: float, what: str, worker: Worker) -> None:
    """Wait for `done`, the worker running all along."""
    deadline = time.monotonic() + within_s
    while not await done():
        code = worker.process.returncode
        assert code is None, f"the worker exited with {code}:\n{worker.tail()}"
        assert time.monotonic() < deadline, f"not within {within_s} s: {what}"
        await asyncio.sleep(0.1)


async def make_sale(pg: asyncpg.Pool, store: LotStore, sale_id: int, closes_in_ms: int) -> NewSale:
    """Open now; lot 1 closes in `closes_in_ms`, lot 2 a second later; no bids, so both pass."""
    consignor = await catalog.add_consignor(pg, "Consignor", "Stones Ltd")
    stone = Diamond(carat_points=120, shape="Round", colour="G", clarity="VS2")
    sale = NewSale(
        id=sale_id,
        name="Worker test",
        currency="USD",
        starts_at_ms=now_ms() - 1_000,
        first_close_ms=now_ms() + closes_in_ms,
        lots=[NewLot(lot=n, title=f"Lot {n}", consignor_id=consignor, diamond=stone, low_estimate=100_000,
                     high_estimate=200_000, reserve=50_000, opening=10_000) for n in range(1, LOTS + 1)],
        settings=SaleSettings(stagger_ms=1_000),
    )  # fmt: skip
    await catalog.insert_sale(pg, sale)
    await store.create_lots(catalog.terms_for(sale))
    return sale


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@asynccontextmanager
async def running_worker(redis_url: str, database_url: str, log: Path) -> AsyncIterator[Worker]:
    """`python -m auction worker`, stopped with SIGTERM on the way out (and killed if it won't stop)."""
    env = {**os.environ, "AUCTION_REDIS_URL": redis_url, "AUCTION_DATABASE_URL": database_url}
    env.pop("AUCTION_DURABILITY", None)  # redis: closing a lot needs only Redis
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "auction", "worker", env=env, cwd=REPO, stdout=out, stderr=out
        )
        try:
            yield Worker(process, log)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def all_closed(store: LotStore, sale: int) -> bool:
    states = [await store.state(sale, lot) for lot in range(1, LOTS + 1)]
    return all(state is not None and state.status in FINAL for state in states)


async def test_the_worker_rides_out_postgres_being_killed_and_catches_up(
    embedded_redis_factory: Callable[..., EmbeddedRedis],
    embedded_postgres_factory: PgFactory,
    new_sale_id: Callable[[], int],
    tmp_path: Path,
) -> None:
    redis_server, pg_server = embedded_redis_factory(), await embedded_postgres_factory()
    redis, pg = Redis.from_url(redis_server.url), await asyncpg.create_pool(pg_server.url, min_size=0, max_size=2)
    store = LotStore(redis)
    # Closes far enough off that the settlement service sweeps (every SWEEP_EVERY_S) during the outage first.
    sale = await make_sale(pg, store, new_sale_id(), closes_in_ms=int((SWEEP_EVERY_S + 5) * 1000))
    try:
        async with running_worker(redis_server.url, pg_server.url, tmp_path / "worker.log") as worker:
            await until(lambda: _has(pg, sale.id, "LotOpened"), 15, "the persister records the openings", worker)
            await asyncio.to_thread(pg_server.kill)

            closes_s = SWEEP_EVERY_S + 10
            await until(lambda: all_closed(store, sale.id), closes_s, "the lots close without PostgreSQL", worker)

            await pg_server.astart()
            await until(lambda: _has(pg, sale.id, "LotPassed"), 15, "the persister catches up", worker)
            await until(lambda: _passed_lots(pg, sale.id), 15, "the settlement service catches up", worker)
        assert worker.process.returncode == 0, worker.tail()  # stopped by SIGTERM, cleanly
    finally:
        await store.close()
        await redis.aclose()
        await pg.close()


async def test_the_worker_starts_while_postgres_is_down(
    embedded_redis_factory: Callable[..., EmbeddedRedis],
    embedded_postgres_factory: PgFactory,
    new_sale_id: Callable[[], int],
    tmp_path: Path,
) -> None:
    redis_server, pg_server = embedded_redis_factory(), await embedded_postgres_factory()
    redis, pg = Redis.from_url(redis_server.url), await asyncpg.create_pool(pg_server.url, min_size=0, max_size=2)
    store = LotStore(redis)
    sale = await make_sale(pg, store, new_sale_id(), closes_in_ms=3_000)
    url = pg_server.url
    await pg_server.astop()
    try:
        async with running_worker(redis_server.url, url, tmp_path / "worker.log") as worker:
            await until(lambda: all_closed(store, sale.id), 15, "the scheduler opens and closes the lots", worker)

            await pg_server.astart()
            assert pg_server.url == url  # the worker's URL still points at it
            await until(lambda: _has(pg, sale.id, "LotPassed"), 15, "the persister catches up", worker)
            assert await _has(pg, sale.id, "LotOpened")
        assert worker.process.returncode == 0, worker.tail()
    finally:
        await store.close()
        await redis.aclose()
        await pg.close()


async def _has(pg: asyncpg.Pool, sale: int, event_type: str) -> bool:
    """Whether every lot of the sale has an event of this type in the record."""
    count: int = await pg.fetchval("SELECT count(*) FROM lot_events WHERE sale_id = $1 AND type = $2", sale, event_type)
    return count == LOTS


async def _passed_lots(pg: asyncpg.Pool, sale: int) -> bool:
    """Whether settlement has recorded every lot of the sale as passed."""
    count: int = await pg.fetchval("SELECT count(*) FROM passed_lots WHERE sale_id = $1", sale)
    return count == LOTS


async def test_a_loop_that_dies_is_started_again_and_the_others_go_on() -> None:
    stop = asyncio.Event()
    starts: list[str] = []

    async def broken_once(stop: asyncio.Event) -> None:
        starts.append("broken")
        if len(starts) == 1:
            raise RuntimeError("a bug its own retries don't cover")
        await stop.wait()

    async def steady(stop: asyncio.Event) -> None:
        starts.append("steady")
        await stop.wait()

    loops = asyncio.gather(supervised("broken", broken_once, stop), supervised("steady", steady, stop))
    await asyncio.sleep(RESTART_PAUSE_S + 0.5)
    assert sorted(starts) == ["broken", "broken", "steady"]  # restarted once; the other never stopped
    stop.set()
    await asyncio.wait_for(loops, 5)


async def test_a_loop_that_ignores_the_stop_is_cancelled_within_the_bound() -> None:
    """A worker stops within STOP_WITHIN_S of SIGTERM even if a loop is deep in a pass, so the process runner's
    grace is never outlived; a loop that stops promptly is left to finish."""
    finished: list[str] = []

    async def prompt(stop: asyncio.Event) -> None:
        await stop.wait()
        finished.append("prompt")

    async def stubborn(stop: asyncio.Event) -> None:
        await asyncio.sleep(3600)  # a pass that never looks at `stop`
        finished.append("stubborn")

    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, stop.set)
    started = time.monotonic()
    await worker._until_stopped({"prompt": prompt, "stubborn": stubborn}, stop)
    assert finished == ["prompt"]
    assert time.monotonic() - started < worker.STOP_WITHIN_S + 1.0
