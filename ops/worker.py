"""`auction worker`: the persister (streams -> PostgreSQL), the scheduler (lots open and close on time), the
settlement service (invoices, payouts and non-payers, from the lots that close) and the janitor (Redis's streams
trimmed once recorded, finished sales retired, then purged: auction.janitor).

An outage of PostgreSQL must not stop lots closing: the scheduler needs only Redis, the persister and the
settlement service retry each failed pass, and the PostgreSQL pool connects on first use (min_size=0), so the
worker starts, runs and catches up whether PostgreSQL is there or not. Each loop is also supervised: one that
dies of something its own retries don't cover is logged and started again, without taking the others down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import asyncpg

from auction.config import Durability, Writers
from auction.janitor import Janitor
from auction.persister import Persister
from auction.redis_adapter import connect
from auction.scheduler import Scheduler
from auction.store import BACKGROUND_PRIORITY, service_store
from settlement.service import SettlementService

log = logging.getLogger(__name__)

RESTART_PAUSE_S = 1.0
STOP_WITHIN_S = 3.0  # after SIGTERM; the process runner waits 5 s (ops/runner.py) before SIGKILL
PG_POOL_SIZE = 4

Loop = Callable[[asyncio.Event], Awaitable[None]]


async def run_worker(
    redis_url: str, database_url: str, durability: Durability = "redis", writers: Writers = "single"
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    redis = connect(redis_url)
    # min_size=0: creating the pool connects to nothing, so the worker starts while PostgreSQL is down.
    pg = await asyncpg.create_pool(database_url, min_size=0, max_size=PG_POOL_SIZE)
    # The scheduler's store holds a sale only while no gateway does (it opens lots before anyone bids).
    store = service_store(redis, pg, durability=durability, writers=writers, priority=BACKGROUND_PRIORITY)
    loops: dict[str, Loop] = {
        "persister": Persister(redis, pg).run,
        "scheduler": Scheduler(store, redis).run,
        "settlement": SettlementService(redis, pg).run,
        "janitor": Janitor(redis, pg).run,
    }
    try:
        await _until_stopped(loops, stop)
    finally:
        await store.close()
        await pg.close()
        await redis.aclose()


async def _until_stopped(loops: dict[str, Loop], stop: asyncio.Event) -> None:
    """Run every loop until `stop`; then give them STOP_WITHIN_S to finish what they are doing and cancel the
    late ones. Each loop's work is idempotent (a SIGKILL may cut it anywhere), so a cancelled pass is simply done
    again by the next worker; a process runner's grace period is never outlived."""
    tasks = [asyncio.create_task(supervised(name, run, stop), name=name) for name, run in loops.items()]
    await stop.wait()
    _, late = await asyncio.wait(tasks, timeout=STOP_WITHIN_S)
    for task in late:
        log.warning("worker: the %s did not stop within %.0f s; cancelled", task.get_name(), STOP_WITHIN_S)
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def supervised(name: str, run: Loop, stop: asyncio.Event) -> None:
    """Run one loop until `stop` is set; if it raises, log it and start it again after RESTART_PAUSE_S."""
    while not stop.is_set():
        try:
            await run(stop)
        except Exception:
            log.exception("worker: the %s failed; starting it again in %.0f s", name, RESTART_PAUSE_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RESTART_PAUSE_S)
