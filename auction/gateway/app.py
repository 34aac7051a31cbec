"""The gateway's parts wired together, and the aiohttp application that serves them with other routes.

Gateway
 |- Hub          one reader per watched sale (fanout.py)
 |- Identities   who is calling: tokens, paddles, own lots, cached (identities.py, lookups.py)
 |- BidDesk      bids, for the websocket and the HTTP API; Quotes, premium-inclusive totals (desk.py)
 |- RostrumDesk  a live sale's rostrum messages and commission bids, for the operators (rostrum.py)
 |- LiveChannel  GET /ws (channel.py), bids through the BidDesk, quotes through Quotes, the rostrum's messages
 |- Revocations  revoked tokens told to every gateway, whose websockets close at once (revocations.py)
 |- HttpApi      the JSON API (http.py)
 |- Pages        the web rooms: pages and their assets from static/ (pages.py)
 |- RostrumApi   commission bids and the console's view of a live sale (rostrum_http.py, console.py)
 |- TenderDesk   sealed tender bids, sealed on receipt (tender_desk.py), for the live channel and TenderApi
 |- TenderApi    tenders created with their key, sealed bids, commitments, officers' shares held in this
 |               process (share_box.py) and the reveal, consignors' answers, results (tender_http.py)
 |- AccountsApi  login, tokens, accounts, companies, registrations, consignor view, audit (accounts.py)
 |- OversightApi cancelling a buyer's bids for cause, the shill monitor's scores (oversight.py)
 |- ShillMonitor the shill monitor's scores, live for operators on the websocket (shills.py)
 |- authorise    the middleware that checks every route against access.HTTP_RULES (http.py), with the edge's
 |               policies (edge.py): same-site Origins, anonymous requests limited per address, API headers
 `- Metrics      GET /metrics (metrics.py)

The composition root (ops/app.py) mounts these routes with settlement's on one application, documented at
GET /api/openapi.json; the gateway knows nothing of settlement.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from auction.gateway.accounts import AccountsApi
from auction.gateway.bid_limits import BidLimits
from auction.gateway.channel import LiveChannel
from auction.gateway.desk import BidDesk, Quotes
from auction.gateway.edge import DEFAULT_EDGE, Edge, api_headers
from auction.gateway.fanout import Hub
from auction.gateway.http import HttpApi, authorise_with, errors
from auction.gateway.identities import Identities
from auction.gateway.metrics import CONTENT_TYPE, Metrics
from auction.gateway.oversight import OversightApi
from auction.gateway.pages import Pages
from auction.gateway.revocations import Revocations
from auction.gateway.rostrum import RostrumDesk
from auction.gateway.rostrum_http import RostrumApi
from auction.gateway.share_box import ShareBox
from auction.gateway.shills import DEFAULT_THRESHOLD, ShillMonitor
from auction.gateway.tender_desk import TenderDesk
from auction.gateway.tender_http import TenderApi
from auction.httpkit import TEXT, ErrorBody, Reply, Route, openapi_route
from auction.store import LotStore

TITLE = "Diamond auction gateway"
VERSION = "0.1.0"
MAX_BODY_BYTES = 64 * 1024  # bodies are bounded per route too: 4 KiB for a bid, 5 MiB streamed for a document


class Gateway:
    """Everything one gateway process holds, wired once."""

    def __init__(
        self,
        redis: Redis,
        pg: asyncpg.Pool,
        store: LotStore,
        sanctioned: frozenset[str],
        edge: Edge = DEFAULT_EDGE,
        shill_threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        self.redis = redis
        self.edge = edge
        self.pg = pg
        self.store = store
        self.metrics = Metrics(store.stats)
        self.hub = Hub(redis, store, on_watchers=self.metrics.watchers_changed)
        self.identities = Identities(pg, standings=store.standing)  # a registration approved since "no paddle"
        self.bid_limits = BidLimits(redis, edge.bids_per_s)
        self.desk = BidDesk(store, self.identities, self.metrics, self.bid_limits)
        self.rostrum = RostrumDesk(store, self.identities, self.hub.terms)
        self.tender = TenderDesk(store, pg, self.identities, self.hub.terms, self.bid_limits)
        self.shills = ShillMonitor(pg, shill_threshold)
        self.live = LiveChannel(
            self.hub,
            self.identities,
            self.desk,
            Quotes(pg, self.hub),
            self.rostrum,
            edge.websockets_per_address,
            shills=self.shills,
        )
        self.revocations = Revocations(redis, self.token_revoked, self.live.check_every_token)
        self.live.tender = self.tender  # tender_bid on the websocket
        self.http = HttpApi(redis, pg, store, self.hub, self.identities, self.desk)
        self.rostrum_http = RostrumApi(store, self.hub, self.rostrum)
        self.tender_http = TenderApi(pg, store, self.hub, self.identities, self.tender, ShareBox())
        self.accounts = AccountsApi(pg, store, self.identities, sanctioned, edge, self.revocations)
        self.pages = Pages()
        self.oversight = OversightApi(pg, store, self.shills)

    def token_revoked(self, token_id: int) -> None:
        """A revocation published by any gateway: no cached answer outlives it, and its websockets close."""
        self.identities.forget_token(token_id)
        self.live.close_token(token_id)

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
        # The pages' route takes every path outside /api, /static, /ws and /metrics, so its place in the list
        # doesn't matter.
        return [*self.http.routes(), *self.rostrum_http.routes(), *self.accounts.routes(), *self.oversight.routes(),
                *self.tender_http.routes(),
                *own, *self.pages.routes()]  # fmt: skip

    def application(self, routes: Sequence[Route]) -> web.Application:
        """An application serving `routes` (this gateway's and any others), each checked by the gateway's
        middleware, and their OpenAPI document."""
        app = web.Application(
            middlewares=[errors, authorise_with(self.identities, self.edge)], client_max_size=MAX_BODY_BYTES
        )
        app.on_response_prepare.append(api_headers)
        for route in [*routes, openapi_route(routes, TITLE, VERSION)]:
            app.router.add_route(route.method, route.path, route.handler)
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        app.on_cleanup.append(self.on_cleanup)
        app[GATEWAY] = self
        return app

    async def on_startup(self, app: web.Application) -> None:
        self.revocations.start()

    async def on_shutdown(self, app: web.Application) -> None:
        await self.revocations.close()
        await self.live.close_all()
        await self.bid_limits.close()

    async def on_cleanup(self, app: web.Application) -> None:
        await self.hub.close()
        await self.shills.close()


GATEWAY = web.AppKey("gateway", Gateway)
