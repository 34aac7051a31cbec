"""Settlement's HTTP routes for operators, as `Route`s of the shared HTTP kit (so the OpenAPI document describes
them). The composition root (ops/app.py) mounts them next to the gateway's: `settlement_routes(pg)`.

Every route is marked `secured`: it is for operators, and the gateway's operator check must wrap the handlers
(`add_routes` is the alternative for an app without the route table: it adds them to the router and returns
them, to be passed to `openapi.document`). Errors leave as the gateway's `{"error": ...}` through ApiError.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import asyncpg
import msgspec
from aiohttp import web

from auction.house_details import DEFAULT_HOUSE, HouseDetails
from auction.httpkit import (
    HTML,
    WHO_REFUSALS,
    Amount,
    ApiError,
    ErrorBody,
    Handler,
    Line,
    Query,
    Reply,
    Route,
    caller_of,
    int_param,
    json_body,
    reply,
)
from settlement import billing, defaults, party_views
from settlement.errors import (
    InvalidState,
    Missing,
    NotFound,
    NotYours,
    PostSaleRefused,
    SettlementError,
    ShippingRefused,
)
from settlement.invoice_document import InvoiceDocument, invoice_document
from settlement.invoice_print import MAX_ZONE_LENGTH, invoice_html, zone_named
from settlement.owners import refuse_unless_own
from settlement.reconcile import reconcile, settlement_summary
from settlement.service import wall_clock_ms
from settlement.unsold_rules import BAD_INPUT


class PaymentBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: Amount
    reference: Line


class ResolveBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    choice: Literal["second_chance", "reaward", "relist", "cancel"]


class OfferAnswer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    accept: bool


class DefaultResolution(msgspec.Struct, frozen=True):
    """What became of a defaulted lot: the resolution recorded (second_chance, reawarded, unsold, ...)."""

    result: str


class Reconciliation(msgspec.Struct, frozen=True):
    clean: bool
    problems: list[str]


def translate(exc: SettlementError) -> ApiError:
    """Settlement's refusals as the gateway's structured errors, naming the field where the refusal knows it."""
    match exc:
        case NotYours():
            return ApiError("not_allowed", exc.field, str(exc))
        case PostSaleRefused() if exc.reason in BAD_INPUT:
            return ApiError("invalid", exc.field, str(exc))
        case PostSaleRefused():
            return ApiError("refused", exc.field, str(exc), status=403 if exc.reason in WHO_REFUSALS else 409)
        case ShippingRefused():
            return ApiError(exc.code, exc.field, str(exc))
        case Missing():
            return ApiError("not_found", exc.field, str(exc))
        case NotFound():
            return ApiError("not_found", None, str(exc))
        case InvalidState():
            return ApiError("conflict", None, str(exc))
    return ApiError("unavailable", None, str(exc))


def translating(routes: list[Route]) -> list[Route]:
    """The routes with their handlers' settlement errors translated at this one edge, not in every handler."""
    return [dataclasses.replace(route, handler=_translated(route.handler)) for route in routes]


def _translated(handler: Handler) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except SettlementError as exc:
            raise translate(exc) from exc

    return handle


def _sale_buyer(request: web.Request) -> tuple[int, int]:
    """The sale and buyer a route names, refused unless the caller is the house or that buyer (owners.py)."""
    sale = int_param(request.match_info["sale"], "sale")
    buyer = int_param(request.match_info["buyer"], "buyer")
    refuse_unless_own(caller_of(request), "buyer", buyer)
    return sale, buyer


def routes(pg: asyncpg.Pool, house: HouseDetails = DEFAULT_HOUSE) -> list[Route]:
    """The routes; `house` is the issuer's particulars that invoices print."""

    async def summary(request: web.Request) -> web.Response:
        return reply(await settlement_summary(pg, int_param(request.match_info["sale"], "sale")))

    async def invoice(request: web.Request) -> web.Response:
        sale, buyer = _sale_buyer(request)
        return reply(await billing.invoice(pg, await billing.invoice_id_for(pg, sale, buyer)))

    async def document(request: web.Request) -> web.Response:
        sale, buyer = _sale_buyer(request)
        return reply(await invoice_document(pg, sale, buyer, house))

    async def printable(request: web.Request) -> web.Response:
        sale, buyer = _sale_buyer(request)
        zone = zone_named(request.query.get("tz"))
        if zone is None:
            raise ApiError("invalid", "tz", "tz must be an IANA time zone such as Europe/Antwerp")
        page = invoice_html(await invoice_document(pg, sale, buyer, house), zone)
        return web.Response(text=page, content_type="text/html")

    async def pay(request: web.Request) -> web.Response:
        invoice_id = int_param(request.match_info["invoice"], "invoice")
        body: PaymentBody = await json_body(request, PaymentBody)
        return reply(await billing.pay(pg, invoice_id, body.amount, body.reference, wall_clock_ms()))

    async def resolve(request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        lot = int_param(request.match_info["lot"], "lot", maximum=2**31 - 1)
        body: ResolveBody = await json_body(request, ResolveBody)
        return reply(DefaultResolution(await defaults.resolve(pg, sale, lot, body.choice, wall_clock_ms())))

    async def answer(request: web.Request) -> web.Response:
        offer = int_param(request.match_info["offer"], "offer")
        body: OfferAnswer = await json_body(request, OfferAnswer)
        caller = caller_of(request)
        if caller.role == "buyer" and await party_views.second_chance_buyer(pg, offer) != caller.company:
            # the same answer for an offer made to someone else as for none: nobody learns of another's offers
            raise ApiError("not_found", "offer", f"no second-chance offer {offer} made to you")
        return reply(DefaultResolution(await defaults.answer_offer(pg, offer, body.accept, wall_clock_ms())))

    async def check(request: web.Request) -> web.Response:
        problems = await reconcile(pg)
        return reply(Reconciliation(not problems, problems))

    bad = Reply("A parameter or the body is invalid", ErrorBody)
    missing = Reply("No such sale, invoice, lot or offer", ErrorBody)
    conflict = Reply("Not possible in its current state (overpayment, resolved, expired...)", ErrorBody)
    not_yours = Reply("A buyer asking for another company's invoice (code not_allowed, field buyer)", ErrorBody)
    invoices = "/api/settlement/sales/{sale}/invoices/{buyer}"
    tags = ("settlement",)
    return translating([
        Route("GET", "/api/settlement/sales/{sale}", summary, "A sale's settlement summary",
              {200: Reply("Summary"), 400: bad}, secured=True, tags=tags),
        Route("GET", f"{invoices}", invoice, "A buyer's invoice for a sale (a buyer: their own)",
              {200: Reply("Invoice", billing.InvoiceView), 400: bad, 403: not_yours, 404: missing}, secured=True,
              tags=tags),
        Route("GET", f"{invoices}/document", document,
              "The invoice as a document: the house, the buyer company, each lot's stone, the rates charged",
              {200: Reply("The document", InvoiceDocument), 400: bad, 403: not_yours, 404: missing}, secured=True,
              tags=tags),
        Route("GET", f"{invoices}/print", printable, "The invoice, printable; ?tz=<IANA zone> for its dates (UTC)",
              {200: Reply("HTML", media=HTML), 400: bad, 403: not_yours, 404: missing}, secured=True,
              tags=tags, query=(Query("tz", "An IANA time zone, e.g. Europe/Antwerp", max_length=MAX_ZONE_LENGTH),)),
        Route("POST", "/api/settlement/invoices/{invoice}/payments", pay, "Record a cleared payment (partial ok)",
              {200: Reply("Invoice after it", billing.InvoiceView), 400: bad, 404: missing, 409: conflict},
              body=PaymentBody, secured=True, tags=tags),
        Route("POST", "/api/settlement/sales/{sale}/lots/{lot}/default", resolve, "Resolve a defaulted lot",
              {200: Reply("Resolution", DefaultResolution), 400: bad, 404: missing, 409: conflict},
              body=ResolveBody, secured=True, tags=tags),
        Route("POST", "/api/settlement/offers/{offer}", answer,
              "Answer a second-chance offer (a buyer: one made to them, else 404)",
              {200: Reply("Result", DefaultResolution), 400: bad, 404: missing, 409: conflict},
              body=OfferAnswer, secured=True, tags=tags),
        Route("GET", "/api/settlement/reconcile", check, "Reconcile the ledger and the records",
              {200: Reply("Result", Reconciliation)}, secured=True, tags=tags),
    ])  # fmt: skip


def add_routes(app: web.Application, pg: asyncpg.Pool) -> list[Route]:
    """Add the routes to an app's router; returns them for its OpenAPI document."""
    table = routes(pg)
    for route in table:
        app.router.add_route(route.method, route.path, route.handler)
    return table
