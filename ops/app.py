"""The application a gateway process serves, composed: the gateway's routes and settlement's, on one app; and
`run_gateway`, the process that serves it (`auction gateway`).

The gateway and settlement don't know each other: each declares its routes with the shared HTTP kit, and only
this module puts them together.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from auction.config import DEFAULT_SANCTIONED, Durability, Writers
from auction.gateway.app import Gateway
from auction.httpkit import Route
from auction.redis_adapter import connect_pooled
from auction.store import GATEWAY_PRIORITY, LotStore, service_store
from settlement.http import routes as settlement_routes
from settlement.shipping_http import routes as shipping_routes
from settlement.unsold_http import routes as unsold_routes

log = logging.getLogger(__name__)

REDIS_MAX_CONNECTIONS = 512  # one per watched sale's reader, plus commits and reads in flight
REDIS_WAIT_S = 5.0  # past the pool size, wait this long for a connection before failing
PG_POOL_SIZE = 10


def settlement_http_routes(pg: asyncpg.Pool, store: LotStore) -> list[Route]:
    return [*settlement_routes(pg), *unsold_routes(pg, store), *shipping_routes(pg)]


def make_app(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, sanctioned: frozenset[str] = DEFAULT_SANCTIONED
) -> web.Application:
    gateway = Gateway(redis, pg, store, sanctioned)
    return gateway.application([*gateway.routes(), *settlement_http_routes(pg, store)])


async def run_gateway(
    redis_url: str,
    database_url: str,
    host: str,
    port: int,
    durability: Durability,
    sanctioned: frozenset[str] = DEFAULT_SANCTIONED,
    writers: Writers = "single",
) -> None:
    """Serve until cancelled (the CLI runs this under asyncio.run; SIGINT/SIGTERM cancel it)."""
    redis = connect_pooled(redis_url, max_connections=REDIS_MAX_CONNECTIONS, wait_s=REDIS_WAIT_S)
    # min_size=0: no connection is made up front, so a gateway starts (and serves what needs only Redis) while
    # PostgreSQL is down; the pool connects on first use and again after an outage.
    pg = await asyncpg.create_pool(database_url, min_size=0, max_size=PG_POOL_SIZE)
    # The gateway decides bids against each buyer's standing (vetting publishes it): eligibility and limits.
    store = service_store(redis, pg, durability=durability, writers=writers, priority=GATEWAY_PRIORITY)
    runner = web.AppRunner(make_app(redis, pg, store, sanctioned))
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("gateway listening on http://%s:%s", host, port)
        await _until_signalled()
    finally:
        await runner.cleanup()
        await store.close()
        await pg.close()
        await redis.aclose()


async def _until_signalled() -> None:
    """Wait for SIGTERM or SIGINT (the process runner stops children with SIGTERM), or for cancellation."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or not Unix
            pass
    try:
        await stop.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
