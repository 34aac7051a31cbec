"""The HTTP API (JSON), declared as one route table that openapi.py documents.

Errors are always `{"error": {"code", "field", "message"}}` with a fitting status: handlers raise `ApiError`
and the `errors` middleware writes it; it also turns the router's 404/405, Redis or PostgreSQL out of reach
(503 `unavailable`) and any unexpected exception (500 `internal`) into the same shape, so a client never has
to parse an HTML error page.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware
from redis.asyncio import Redis

from auction import catalog, identity
from auction.catalog import LotListing, SaleSettings, SaleSummary
from auction.engine.messages import BidKind
from auction.engine.views import AnyPublicEvent, LotView, lot_view, public_event
from auction.gateway.access import http_rule
from auction.gateway.desk import BidDesk, BidTicket
from auction.gateway.edge import AddressLimits, Edge, same_site
from auction.gateway.fanout import Hub, now_ms
from auction.gateway.identities import BadToken, Identities
from auction.gateway.lookups import PG_OUT_OF_REACH, DatabaseUnavailable
from auction.gateway.protocol import (
    MAX_FRAME_BYTES,
    Ack,
    Amount,
    BidRejected,
    BidWaiting,
    ClientId,
    Error,
    TimeReply,
    validation_error,
)
from auction.httpkit import (
    CALLER_KEY,
    WHO_REFUSALS,
    ApiError,
    Caller,
    ErrorBody,
    ErrorCode,
    ErrorInfo,
    Handler,
    Query,
    Reply,
    Route,
    caller_of,
    error_reply,
    int_param,
    refuse_nul,
    refuse_nul_in_url,
    reply,
    require_json,
)
from auction.store import LotStore, StoreError

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 2.0
EVENTS_LIMIT_DEFAULT = 100
EVENTS_LIMIT_MAX = 1000

# ---- bodies -----------------------------------------------------------------------------------------------------


class BidBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: Amount
    client_id: ClientId
    kind: BidKind = "bid"


class Health(msgspec.Struct, frozen=True):
    ok: bool
    redis: bool
    postgres: bool


def shown_to(caller: Caller, listing: LotListing) -> LotListing:
    """The listing as `caller` may read it: who consigned a lot is the house's to know (and the consignor's own),
    never the public's, who could otherwise group a sale's lots by seller (issue 12, finding 12)."""
    if caller.is_operator or (caller.consignor is not None and caller.consignor == listing.consignor_id):
        return listing
    return msgspec.structs.replace(listing, consignor_id=None)


class SaleDetail(msgspec.Struct, frozen=True):
    sale: SaleSummary
    settings: SaleSettings


class LotEntry(msgspec.Struct, frozen=True):
    """A lot's catalogue listing and its live state (null if the lot isn't loaded in the engine). The listing's
    consignor_id is null but to operators and to the lot's own consignor (`shown_to`)."""

    listing: LotListing
    live: LotView | None


class EventPage(msgspec.Struct, frozen=True):
    """Public events after `after`; poll again with after = last_seq."""

    sale: int
    lot: int
    events: list[AnyPublicEvent]
    last_seq: int


_ROUTER_CODES: dict[int, ErrorCode] = {404: "not_found", 413: "too_large"}  # aiohttp's own refusals, by status

_BID_DECODER = msgspec.json.Decoder(BidBody)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The edge of the HTTP API: every failure leaves as a JSON error."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_reply(exc.info, exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _ROUTER_CODES.get(exc.status, "invalid")
        return error_reply(ErrorInfo(code, None, exc.reason), exc.status)
    except StoreError:
        log.warning("%s %s: the store failed", request.method, request.path, exc_info=True)
        return error_reply(ErrorInfo("unavailable", None, "the engine is unavailable; try again"))
    except PG_OUT_OF_REACH:
        log.warning("%s %s: PostgreSQL (or a socket) failed", request.method, request.path, exc_info=True)
        return error_reply(ErrorInfo("unavailable", None, "the database is unavailable; try again"))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_reply(ErrorInfo("internal", None, "the request could not be handled"))


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authorise_with(identities: Identities, edge: Edge) -> Middleware:
    """The middleware that checks every route's caller against access.HTTP_RULES, and nothing else does.

    It resolves the caller once (bearer header, `?token=`, or the session cookie), refuses a bad token with
    401 naming why, an anonymous caller where a role is needed with 401, and a role the route's rule doesn't
    list with 403 `not_allowed` (field `role`). A token it can't check (PostgreSQL out of reach, and no earlier
    answer about it: Identities) is 503 `unavailable`, field `token`. Requests made with the session cookie
    from another origin are refused, so that no other site can act with a buyer's browser session; so are
    anonymous ones that would change something (a login from another site would sign the browser in as someone
    else). A request carrying a bearer token is a program's, which no other site can make a browser send. An
    anonymous request that changes something (a login, an application) takes a token from its address's bucket
    (edge.AddressLimits), or is refused 429 `rate_limited`. The caller is left in the request for the handler
    (`caller_of`)."""
    limits = AddressLimits(edge.anonymous_rate_per_s, edge.anonymous_burst)

    @web.middleware
    async def authorise(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is None:  # no such route (404/405): the router answers, nothing to authorise
            return await handler(request)
        rule = http_rule(request.method, resource.canonical)
        refuse_nul_in_url(request)  # before anything reads a parameter, the token's included
        try:
            caller = await identities.from_request(request)
        except BadToken as exc:
            raise ApiError("unauthorised", "token", str(exc)) from exc
        except identity.TokenRefused as exc:
            raise ApiError(exc.code, "token", str(exc)) from exc
        except DatabaseUnavailable as exc:
            raise ApiError("unavailable", "token", "the token can't be checked now; try again") from exc
        if rule is None or caller.role not in rule:
            if caller.role == "anonymous" and rule:
                raise ApiError("unauthorised", "token", "sign in first: this needs a session or a bearer token")
            raise ApiError("not_allowed", "role", f"a {caller.role} may not {request.method} {resource.canonical}")
        changes = request.method not in _SAFE_METHODS
        browser = caller.via != "bearer" and (changes or (caller.via == "cookie" and resource.canonical == "/ws"))
        if browser and "Origin" in request.headers and not same_site(request, edge.public_url):
            raise ApiError("not_allowed", "origin", "from a browser, only this site's own pages may do this")
        if caller.role == "anonymous" and changes:
            wait = limits.take(request.remote or "unknown")
            if wait:
                raise ApiError("rate_limited", "address", f"too many requests from your address: try again in "
                               f"{wait} s", retry_after=wait)  # fmt: skip
        request[CALLER_KEY] = caller
        return await handler(request)

    return authorise


def info_of(error: Error) -> ErrorInfo:
    """A websocket error frame as the HTTP API's error body (the same codes, and the bid it answers)."""
    return ErrorInfo(error.code, error.field, error.message, error.retry_after, error.client_id, error.sale, error.lot)


def _sale_lot(request: web.Request) -> tuple[int, int]:
    sale = int_param(request.match_info["sale"], "sale")
    return sale, int_param(request.match_info["lot"], "lot", maximum=2**31 - 1)


class HttpApi:
    def __init__(
        self, redis: Redis, pg: asyncpg.Pool, store: LotStore, hub: Hub, identities: Identities, desk: BidDesk
    ) -> None:
        self.redis = redis
        self.pg = pg
        self.store = store
        self.hub = hub
        self.identities = identities
        self.desk = desk

    # ---- handlers -------------------------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        redis_ok, pg_ok = await asyncio.gather(self._redis_ok(), self._pg_ok())
        ok = redis_ok and pg_ok
        return reply(Health(ok, redis_ok, pg_ok), 200 if ok else 503)

    async def _redis_ok(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), HEALTH_TIMEOUT_S))
        except Exception:
            log.warning("health: Redis failed", exc_info=True)
            return False

    async def _pg_ok(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.pg.fetchval("select 1"), HEALTH_TIMEOUT_S) == 1)
        except Exception:
            log.warning("health: PostgreSQL failed", exc_info=True)
            return False

    async def time(self, request: web.Request) -> web.Response:
        return reply(TimeReply(now_ms()))

    async def sales(self, request: web.Request) -> web.Response:
        return reply(await catalog.list_sales(self.pg))

    async def sale(self, request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        summary, settings = await asyncio.gather(
            catalog.sale_summary(self.pg, sale), catalog.sale_settings(self.pg, sale)
        )
        if summary is None or settings is None:
            raise ApiError("not_found", "sale", f"no sale {sale}")
        return reply(SaleDetail(summary, settings))

    async def lots(self, request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        listings = await catalog.lot_listings(self.pg, sale)
        if not listings and await catalog.sale_summary(self.pg, sale) is None:
            raise ApiError("not_found", "sale", f"no sale {sale}")
        views = {state.terms.lot: lot_view(state) for state in await self.store.states(sale)}
        caller = caller_of(request)
        return reply([LotEntry(shown_to(caller, listing), views.get(listing.lot)) for listing in listings])

    async def lot(self, request: web.Request) -> web.Response:
        sale, lot = _sale_lot(request)
        listings = await catalog.lot_listings(self.pg, sale, lot)
        if not listings:
            raise ApiError("not_found", "lot", f"sale {sale} has no lot {lot}")
        state = await self.store.state(sale, lot)
        return reply(LotEntry(shown_to(caller_of(request), listings[0]), lot_view(state) if state else None))

    async def events(self, request: web.Request) -> web.Response:
        sale, lot = _sale_lot(request)
        after = int_param(request.query.get("after"), "after", minimum=0, default=0)
        limit = int_param(request.query.get("limit"), "limit", maximum=EVENTS_LIMIT_MAX, default=EVENTS_LIMIT_DEFAULT)
        terms = await self.hub.terms.get(sale, lot)
        if terms is None:
            raise ApiError("not_found", "lot", f"sale {sale} has no lot {lot}")
        shown = [public_event(terms, e) for e in await self.store.events_after(sale, lot, after, limit)]
        return reply(EventPage(sale, lot, shown, shown[-1].seq if shown else after))

    async def bid(self, request: web.Request) -> web.Response:
        received_ms, received_perf = now_ms(), time.perf_counter()
        sale, lot = _sale_lot(request)
        caller = caller_of(request)
        body = await self._bid_body(request)
        ticket = BidTicket(sale, lot, body.amount, body.client_id, body.kind, received_ms, received_perf)
        answer = await self.desk.place(caller, ticket)
        match answer:
            case Ack():
                return reply(answer)
            case BidRejected():
                return reply(answer, 403 if answer.reason in WHO_REFUSALS else 409)
            case BidWaiting():  # received, not taken: the clerk decides (a live sale's online bid)
                return reply(answer, 202)
            case Error():
                return error_reply(info_of(answer))

    async def _bid_body(self, request: web.Request) -> BidBody:
        too_large = (request.content_length or 0) > MAX_FRAME_BYTES
        if not too_large:
            require_json(request)  # 415 for a form or text/plain: what another site's page could send
        data = b"" if too_large else await request.read()  # read() is bounded by the app's client_max_size
        if too_large or len(data) > MAX_FRAME_BYTES:
            raise ApiError("too_large", None, f"a bid body may be at most {MAX_FRAME_BYTES} bytes")
        try:
            body = _BID_DECODER.decode(data)
        except msgspec.ValidationError as exc:
            error = validation_error(exc)
            raise ApiError("invalid", error.field, error.message) from exc
        except msgspec.DecodeError as exc:
            raise ApiError("invalid", None, str(exc)) from exc
        refuse_nul(data)
        return body

    # ---- the table ------------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        bad = Reply("A parameter is invalid; `field` names it", ErrorBody)
        missing = Reply("No such sale or lot", ErrorBody)
        after = Query("after", "Events with seq greater than this", minimum=0, default=0)
        limit = Query("limit", "At most this many events", minimum=1, maximum=EVENTS_LIMIT_MAX, default=100)
        return [
            Route("GET", "/api/health", self.health, "Redis and PostgreSQL reachable",
                  {200: Reply("Both up", Health), 503: Reply("One is down; which is named", Health)}),
            Route("GET", "/api/time", self.time, "The server clock, for countdowns", {200: Reply("Now", TimeReply)}),
            Route("GET", "/api/sales", self.sales, "Every sale", {200: Reply("Sales", list[SaleSummary])}),
            Route("GET", "/api/sales/{sale}", self.sale, "One sale and its rules",
                  {200: Reply("The sale", SaleDetail), 400: bad, 404: missing}),
            Route("GET", "/api/sales/{sale}/lots", self.lots, "The sale's lots, each with its live state",
                  {200: Reply("Lots", list[LotEntry]), 400: bad, 404: missing}),
            Route("GET", "/api/sales/{sale}/lots/{lot}", self.lot, "One lot with its live state",
                  {200: Reply("The lot", LotEntry), 400: bad, 404: missing}),
            Route("GET", "/api/sales/{sale}/lots/{lot}/events", self.events, "A lot's public events, for polling",
                  {200: Reply("Events", EventPage), 400: bad, 404: missing}, query=(after, limit)),
            Route("POST", "/api/sales/{sale}/lots/{lot}/bids", self.bid, "Place a bid or a maximum bid",
                  {200: Reply("Kept", Ack),
                   202: Reply("A live sale's online bid, waiting for the clerk: not kept yet", BidWaiting),
                   400: bad, 401: Reply("No or unknown token", ErrorBody),
                   403: Reply("Not a buyer (error not_allowed), or refused for who you are: rejected with reason "
                              "not_registered, not_approved, approval_expired, suspended, deposit_missing, own_lot",
                              BidRejected), 404: missing,
                   409: Reply("Refused by the rules; next_amount is what would be accepted", BidRejected),
                   413: Reply("Body over 4 KiB", ErrorBody),
                   429: Reply("Your company is over its bid rate (every transport and gateway): retry after "
                              "`retry_after` seconds", ErrorBody),
                   503: Reply("Outcome unknown; resend with the same client_id", ErrorBody)},
                  body=BidBody, secured=True),
        ]  # fmt: skip
