"""The gateway process: the aiohttp app wired from its parts, and `run_gateway`, which the CLI calls.

Gateway
 |- Hub          one reader per watched sale (fanout.py)
 |- LiveChannel  GET /ws (live.py), bids through the BidDesk, quotes through Quotes
 |- HttpApi      the JSON API and the watch page (http.py)
 |- AccountsApi  login, tokens, accounts, companies, registrations, consignor view, audit (accounts.py)
 |- authorise    the middleware that checks every route against access.HTTP_RULES (http.py)
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

from auction.config import DEFAULT_SANCTIONED, Durability, Writers
from auction.gateway.accounts import AccountsApi
from auction.gateway.fanout import Hub
from auction.gateway.http import HttpApi, authorise_with, errors
from auction.gateway.live import BidDesk, Identities, LiveChannel, Quotes
from auction.httpkit import TEXT, ErrorBody, Reply, Route, openapi_route
from auction.store import GATEWAY_PRIORITY, LotStore, service_store
from ops.metrics import CONTENT_TYPE, Metrics
from settlement.http import routes as settlement_routes
from settlement.shipping_http import routes as shipping_routes
from settlement.unsold_http import routes as unsold_routes

log = logging.getLogger(__name__)

TITLE = "Diamond auction gateway"
VERSION = "0.1.0"
REDIS_MAX_CONNECTIONS = 512  # one per watched sale's reader, plus commits and reads in flight
REDIS_WAIT_S = 5.0  # past the pool size, wait this long for a connection before failing
PG_POOL_SIZE = 10


class Gateway:
    """Everything one gateway process holds, wired once."""

    def __init__(self, redis: Redis, pg: asyncpg.Pool, store: LotStore, sanctioned: frozenset[str]) -> None:
        self.redis = redis
        self.pg = pg
        self.store = store
        self.metrics = Metrics(store.stats)
        self.hub = Hub(redis, store, on_watchers=self.metrics.watchers_changed)
        self.identities = Identities(pg)
        self.desk = BidDesk(store, self.identities, self.metrics)
        self.live = LiveChannel(self.hub, self.identities, self.desk, Quotes(pg, self.hub))
        self.http = HttpApi(redis, pg, store, self.hub, self.identities, self.desk)
        self.accounts = AccountsApi(pg, store, self.identities, sanctioned)

    async def metrics_page(self, request: web.Request) -> web.Response:
        body = await self.metrics.render(self.redis)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def routes(self) -> list[Route]:
        own = [
            Route("GET", "/ws", self.live.handle, "The live channel (websocket; docs/PROTOCOL.md)",
                  {101: Reply("Switching to the websocket protocol", media=None),
                   401: Reply("A token that is invalid, expired or revoked", ErrorBody),
                   503: Reply("The token can't be checked now (PostgreSQL out of reach); try again", ErrorBody)}),
            Route("GET", "/metrics", self.metrics_page, "Prometheus metrics", {200: Reply("Metrics", media=TEXT)}),
        ]  # fmt: skip
        settlement = [*settlement_routes(self.pg), *unsold_routes(self.pg, self.store), *shipping_routes(self.pg)]
        routes = [*self.http.routes(), *self.accounts.routes(), *settlement, *own]
        return [*routes, openapi_route(routes, TITLE, VERSION)]

    async def on_shutdown(self, app: web.Application) -> None:
        await self.live.close_all()

    async def on_cleanup(self, app: web.Application) -> None:
        await self.hub.close()


def make_app(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, sanctioned: frozenset[str] = DEFAULT_SANCTIONED
) -> web.Application:
    gateway = Gateway(redis, pg, store, sanctioned)
    # Bodies are bounded per route (4 KiB for a bid, 64 KiB for JSON, 5 MiB streamed for a document).
    app = web.Application(middlewares=[errors, authorise_with(gateway.identities)], client_max_size=64 * 1024)
    for route in gateway.routes():
        app.router.add_route(route.method, route.path, route.handler)
    app.on_shutdown.append(gateway.on_shutdown)
    app.on_cleanup.append(gateway.on_cleanup)
    app[GATEWAY] = gateway
    return app


GATEWAY = web.AppKey("gateway", Gateway)


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
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=REDIS_MAX_CONNECTIONS, timeout=REDIS_WAIT_S)
    redis = Redis(connection_pool=pool)
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
