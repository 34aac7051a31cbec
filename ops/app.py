"""The application a gateway process serves, composed: the gateway's routes and settlement's, on one app; and
`run_gateway`, the process that serves it (`auction gateway`).

The gateway and settlement don't know each other: each declares its routes with the shared HTTP kit, and only
this module puts them together.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import socket
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from auction.config import DEFAULT_SANCTIONED, DEFAULT_SHILL_THRESHOLD, Durability, Writers
from auction.gateway.app import Gateway
from auction.gateway.edge import DEFAULT_EDGE, Edge
from auction.gateway.house import HouseApi
from auction.house_details import DEFAULT_HOUSE, HouseDetails
from auction.httpkit import Route
from auction.redis_adapter import connect_pooled
from auction.store import GATEWAY_PRIORITY, LotStore, service_store
from ops.listening import BACKLOG, DeadlineSite, listen
from settlement.desk_http import routes as desk_routes
from settlement.http import routes as settlement_routes
from settlement.party_http import routes as party_routes
from settlement.shipping_http import routes as shipping_routes
from settlement.unsold_http import routes as unsold_routes

log = logging.getLogger(__name__)

REDIS_MAX_CONNECTIONS = 512  # one per watched sale's reader, plus commits and reads in flight
REDIS_WAIT_S = 5.0  # past the pool size, wait this long for a connection before failing
PG_POOL_SIZE = 10
MAX_HANDSHAKES = 256  # websocket upgrades in progress at once, past which one is answered busy
RETRY_AFTER_S = (1, 3)  # the retry hint of a busy answer, drawn at random in this range to spread the retries
_HANDSHAKING = web.RequestKey("handshaking", bool)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def settlement_http_routes(
    pg: asyncpg.Pool, store: LotStore, house_details: HouseDetails = DEFAULT_HOUSE
) -> list[Route]:
    """Settlement's routes; `house_details` are the particulars its invoices are issued under."""
    return [*settlement_routes(pg, house_details), *desk_routes(pg), *party_routes(pg), *unsold_routes(pg, store),
            *shipping_routes(pg)]  # fmt: skip


def make_app(
    redis: Redis,
    pg: asyncpg.Pool,
    store: LotStore,
    sanctioned: frozenset[str] = DEFAULT_SANCTIONED,
    edge: Edge = DEFAULT_EDGE,
    shill_threshold: int = DEFAULT_SHILL_THRESHOLD,
    house_details: HouseDetails = DEFAULT_HOUSE,
) -> web.Application:
    gateway = Gateway(redis, pg, store, sanctioned, edge, shill_threshold)
    house = HouseApi(pg, store).routes()  # the house's desk: consignors, stones, sales built and published
    app = gateway.application([*gateway.routes(), *house, *settlement_http_routes(pg, store, house_details)])
    HandshakeGate().install(app)
    return app


class HandshakeGate:
    """Paces websocket upgrades: at most MAX_HANDSHAKES in progress (request read, 101 not yet sent), and past
    that an answer at once, 503 `busy` with a retry hint, instead of a queue that grows until clients time out.

    Why: a reconnect storm (10,000 watchers after a gateway restart) arrives faster than handshakes complete,
    and a bidder's handshake looks its token up, which can wait for one of the gateway's few PostgreSQL
    connections. Answering "busy, retry in 1-3 s" costs the gateway almost nothing, and the random delay spreads
    the retries; the listen backlog (ops/listening.py) holds the connections the gateway has not read yet.
    """

    def __init__(self, limit: int = MAX_HANDSHAKES) -> None:
        self.limit = limit
        self.in_progress = 0
        self.refused = 0

    def install(self, app: web.Application) -> None:
        app.middlewares.insert(0, self.middleware)  # outermost: before a token is looked up
        app.on_response_prepare.append(self.prepared)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return await handler(request)
        if self.in_progress >= self.limit:
            self.refused += 1
            return busy()
        self.in_progress += 1
        request[_HANDSHAKING] = True
        try:
            return await handler(request)
        finally:
            self._done(request)  # refused before the upgrade (401, 503), or the connection ended

    async def prepared(self, request: web.Request, response: web.StreamResponse) -> None:
        """aiohttp's signal as a response's head is sent: for an upgrade, the 101 that ends the handshake."""
        self._done(request)

    def _done(self, request: web.Request) -> None:
        if request.get(_HANDSHAKING):
            request[_HANDSHAKING] = False
            self.in_progress -= 1


def busy() -> web.Response:
    """503 with Retry-After (whole seconds, as HTTP has it) and the same hint in the body, as the API's errors."""
    retry_after = random.randint(*RETRY_AFTER_S)
    message = f"too many connections opening at once; retry in {retry_after} s"
    body = {"error": {"code": "busy", "field": None, "message": message, "retry_after": retry_after}}
    return web.json_response(body, status=503, headers={"Retry-After": str(retry_after)})


async def run_gateway(
    redis_url: str,
    database_url: str,
    host: str,
    port: int,
    durability: Durability,
    sanctioned: frozenset[str] = DEFAULT_SANCTIONED,
    writers: Writers = "single",
    listening: socket.socket | None = None,
    edge: Edge = DEFAULT_EDGE,
    shill_threshold: int = DEFAULT_SHILL_THRESHOLD,
    house_details: HouseDetails = DEFAULT_HOUSE,
) -> None:
    """Serve until cancelled (the CLI runs this under asyncio.run; SIGINT/SIGTERM cancel it), on `listening` (a
    socket the process runner bound and handed down) or else on a socket bound here to host:port."""
    sock = listening or listen(host, port)  # a taken port fails here, before any connection is made
    redis = connect_pooled(redis_url, max_connections=REDIS_MAX_CONNECTIONS, wait_s=REDIS_WAIT_S)
    # min_size=0: no connection is made up front, so a gateway starts (and serves what needs only Redis) while
    # PostgreSQL is down; the pool connects on first use and again after an outage.
    pg = await asyncpg.create_pool(database_url, min_size=0, max_size=PG_POOL_SIZE)
    # The gateway decides bids against each buyer's standing (vetting publishes it): eligibility and limits.
    store = service_store(redis, pg, durability=durability, writers=writers, priority=GATEWAY_PRIORITY)
    runner = web.AppRunner(make_app(redis, pg, store, sanctioned, edge, shill_threshold, house_details))
    try:
        await runner.setup()
        # aiohttp listens again with its own backlog (128 unless told): keep ours. Each connection must send its
        # first request's head within the edge's timeout (ops/listening.py).
        await DeadlineSite(runner, sock, edge.handshake_timeout_s, BACKLOG).start()
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
