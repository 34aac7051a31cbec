"""Settlement's HTTP routes for operators, as gateway `Route`s (so the OpenAPI document describes them).

Wiring (auction/gateway/app.py, Gateway.routes):

    from settlement.http import routes as settlement_routes
    routes = [*self.http.routes(), *settlement_routes(self.pg), *own]

Every route is marked `secured`: it is for operators, and the gateway's operator check must wrap the handlers
(`add_routes` is the alternative for an app without the route table: it adds them to the router and returns
them, to be passed to `openapi.document`). Errors leave as the gateway's `{"error": ...}` through ApiError.
"""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
import msgspec
from aiohttp import web

from auction.gateway.http import ApiError, ErrorBody, int_param, reply
from auction.gateway.openapi import HTML, Reply, Route
from settlement import billing, defaults
from settlement.errors import InvalidState, NotFound, SettlementError
from settlement.reconcile import reconcile, settlement_summary
from settlement.service import wall_clock_ms


class PaymentBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: int
    reference: str


class ResolveBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    choice: Literal["second_chance", "reaward", "relist", "cancel"]


class OfferAnswer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    accept: bool


class Outcome(msgspec.Struct, frozen=True):
    result: str


class Reconciliation(msgspec.Struct, frozen=True):
    clean: bool
    problems: list[str]


async def _body(request: web.Request, kind: Any) -> Any:
    try:
        return msgspec.json.decode(await request.read(), type=kind)
    except msgspec.DecodeError as exc:
        raise ApiError("invalid", None, str(exc)) from exc


def _translate(exc: SettlementError) -> ApiError:
    if isinstance(exc, NotFound):
        return ApiError("not_found", None, str(exc))
    if isinstance(exc, InvalidState):
        return ApiError("invalid", None, str(exc), status=409)
    return ApiError("unavailable", None, str(exc))


def routes(pg: asyncpg.Pool) -> list[Route]:
    async def summary(request: web.Request) -> web.Response:
        return reply(await settlement_summary(pg, int_param(request.match_info["sale"], "sale")))

    async def invoice(request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        buyer = int_param(request.match_info["buyer"], "buyer")
        try:
            return reply(await billing.invoice(pg, await billing.invoice_id_for(pg, sale, buyer)))
        except SettlementError as exc:
            raise _translate(exc) from exc

    async def printable(request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        buyer = int_param(request.match_info["buyer"], "buyer")
        try:
            view = await billing.invoice(pg, await billing.invoice_id_for(pg, sale, buyer))
        except SettlementError as exc:
            raise _translate(exc) from exc
        return web.Response(text=billing.invoice_html(view), content_type="text/html")

    async def pay(request: web.Request) -> web.Response:
        invoice_id = int_param(request.match_info["invoice"], "invoice")
        body: PaymentBody = await _body(request, PaymentBody)
        try:
            return reply(await billing.pay(pg, invoice_id, body.amount, body.reference, wall_clock_ms()))
        except SettlementError as exc:
            raise _translate(exc) from exc

    async def resolve(request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        lot = int_param(request.match_info["lot"], "lot", maximum=2**31 - 1)
        body: ResolveBody = await _body(request, ResolveBody)
        try:
            return reply(Outcome(await defaults.resolve(pg, sale, lot, body.choice, wall_clock_ms())))
        except SettlementError as exc:
            raise _translate(exc) from exc

    async def answer(request: web.Request) -> web.Response:
        offer = int_param(request.match_info["offer"], "offer")
        body: OfferAnswer = await _body(request, OfferAnswer)
        try:
            return reply(Outcome(await defaults.answer_offer(pg, offer, body.accept, wall_clock_ms())))
        except SettlementError as exc:
            raise _translate(exc) from exc

    async def check(request: web.Request) -> web.Response:
        problems = await reconcile(pg)
        return reply(Reconciliation(not problems, problems))

    bad = Reply("A parameter or the body is invalid", ErrorBody)
    missing = Reply("No such sale, invoice, lot or offer", ErrorBody)
    conflict = Reply("Not possible in its current state (overpayment, resolved, expired...)", ErrorBody)
    tags = ("settlement",)
    return [
        Route("GET", "/api/settlement/sales/{sale}", summary, "A sale's settlement summary",
              {200: Reply("Summary"), 400: bad}, secured=True, tags=tags),
        Route("GET", "/api/settlement/sales/{sale}/invoices/{buyer}", invoice, "A buyer's invoice for a sale",
              {200: Reply("Invoice", billing.InvoiceView), 400: bad, 404: missing}, secured=True, tags=tags),
        Route("GET", "/api/settlement/sales/{sale}/invoices/{buyer}/print", printable, "The invoice, printable",
              {200: Reply("HTML", media=HTML), 400: bad, 404: missing}, secured=True, tags=tags),
        Route("POST", "/api/settlement/invoices/{invoice}/payments", pay, "Record a cleared payment (partial ok)",
              {200: Reply("Invoice after it", billing.InvoiceView), 400: bad, 404: missing, 409: conflict},
              body=PaymentBody, secured=True, tags=tags),
        Route("POST", "/api/settlement/sales/{sale}/lots/{lot}/default", resolve, "Resolve a defaulted lot",
              {200: Reply("Resolution", Outcome), 400: bad, 404: missing, 409: conflict},
              body=ResolveBody, secured=True, tags=tags),
        Route("POST", "/api/settlement/offers/{offer}", answer, "Answer a second-chance offer",
              {200: Reply("Result", Outcome), 400: bad, 404: missing, 409: conflict},
              body=OfferAnswer, secured=True, tags=tags),
        Route("GET", "/api/settlement/reconcile", check, "Reconcile the ledger and the records",
              {200: Reply("Result", Reconciliation)}, secured=True, tags=tags),
    ]  # fmt: skip


def add_routes(app: web.Application, pg: asyncpg.Pool) -> list[Route]:
    """Add the routes to an app's router; returns them for its OpenAPI document."""
    table = routes(pg)
    for route in table:
        app.router.add_route(route.method, route.path, route.handler)
    return table
