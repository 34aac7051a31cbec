"""The gateway process: the aiohttp app wired from its parts, and `run_gateway`, which the CLI calls.

Gateway
 |- Hub          one reader per watched sale (fanout.py)
 |- LiveChannel  GET /ws (live.py), bids through the BidDesk, quotes through Quotes
 |- HttpApi      the JSON API and the watch page (http.py)
 |- Metrics      GET /metrics (ops/metrics.py)
 `- the route table, documented at GET /api/openapi.json (openapi.py)
"""

from __future__ import annotations

import asyncio
import logging
import signal

import asyncpg
from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis

from auction.config import Durability
from auction.gateway.fanout import Hub
from auction.gateway.http import ErrorBody, HttpApi, errors
from auction.gateway.live import BidDesk, Identities, LiveChannel, Quotes
from auction.gateway.openapi import TEXT, Reply, Route, openapi_route
from auction.store import LotStore
from ops.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

TITLE = "Diamond auction gateway"
VERSION = "0.1.0"
REDIS_MAX_CONNECTIONS = 512  # one per watched sale's reader, plus commits and reads in flight
REDIS_WAIT_S = 5.0  # past the pool size, wait this long for a connection before failing
PG_POOL_SIZE = 10


class Gateway:
    """Everything one gateway process holds, wired once."""

    def __init__(self, redis: Redis, pg: asyncpg.Pool, store: LotStore) -> None:
        self.redis = redis
        self.pg = pg
        self.store = store
        self.metrics = Metrics()
        self.hub = Hub(redis, store, on_watchers=self.metrics.watchers_changed)
        self.identities = Identities(pg)
        self.desk = BidDesk(store, self.identities, self.metrics)
        self.live = LiveChannel(self.hub, self.identities, self.desk, Quotes(pg, self.hub))
        self.http = HttpApi(redis, pg, store, self.hub, self.identities, self.desk)

    async def metrics_page(self, request: web.Request) -> web.Response:
        body = await self.metrics.render(self.redis)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def routes(self) -> list[Route]:
        own = [
            Route("GET", "/ws", self.live.handle, "The live channel (websocket; docs/PROTOCOL.md)",
                  {101: Reply("Switching to the websocket protocol", media=None),
                   401: Reply("Unknown token", ErrorBody)}),
            Route("GET", "/metrics", self.metrics_page, "Prometheus metrics", {200: Reply("Metrics", media=TEXT)}),
        ]  # fmt: skip
        routes = [*self.http.routes(), *own]
        return [*routes, openapi_route(routes, TITLE, VERSION)]

    async def on_shutdown(self, app: web.Application) -> None:
        await self.live.close_all()

    async def on_cleanup(self, app: web.Application) -> None:
        await self.hub.close()


def make_app(redis: Redis, pg: asyncpg.Pool, store: LotStore) -> web.Application:
    gateway = Gateway(redis, pg, store)
    app = web.Application(middlewares=[errors], client_max_size=64 * 1024)
    for route in gateway.routes():
        app.router.add_route(route.method, route.path, route.handler)
    app.on_shutdown.append(gateway.on_shutdown)
    app.on_cleanup.append(gateway.on_cleanup)
    app[GATEWAY] = gateway
    return app


GATEWAY = web.AppKey("gateway", Gateway)


async def run_gateway(redis_url: str, database_url: str, host: str, port: int, durability: Durability) -> None:
    """Serve until cancelled (the CLI runs this under asyncio.run; SIGINT/SIGTERM cancel it)."""
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=REDIS_MAX_CONNECTIONS, timeout=REDIS_WAIT_S)
    redis = Redis(connection_pool=pool)
    pg = await asyncpg.create_pool(database_url, min_size=1, max_size=PG_POOL_SIZE)
    store = LotStore(redis, durability=durability, pg=pg)
    runner = web.AppRunner(make_app(redis, pg, store))
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
