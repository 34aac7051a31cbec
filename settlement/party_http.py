"""The routes where a buyer and a consignor read their own settlement across every sale (party_views.py, and
shipping.shipments_of for their stones' shipments), as `Route`s of the shared HTTP kit.

Each names its party in the path, so that the house's operators read the same lists for any party; a buyer or
a consignor naming anyone but themselves gets 403 `not_allowed` naming `buyer` or `consignor`, decided before
anything is looked up (settlement/owners.py). Who may call each route at all is auction/gateway/access.py's.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from auction.httpkit import ErrorBody, Reply, Route, caller_of, int_param, reply
from settlement import party_views, shipping
from settlement.billing import ConsignorStatement, PayoutView
from settlement.http import translating
from settlement.owners import Party, refuse_unless_own
from settlement.party_views import InvoiceSummary, SecondChance
from settlement.service import wall_clock_ms
from settlement.shipping import ShipmentView


def _party(request: web.Request, party: Party) -> int:
    """The party the path names, refused unless it is the caller (or the caller is the house)."""
    party_id = int_param(request.match_info[party], party)
    refuse_unless_own(caller_of(request), party, party_id)
    return party_id


def routes(pg: asyncpg.Pool) -> list[Route]:
    async def invoices(request: web.Request) -> web.Response:
        return reply(await party_views.buyer_invoices(pg, _party(request, "buyer"), wall_clock_ms()))

    async def second_chances(request: web.Request) -> web.Response:
        return reply(await party_views.buyer_second_chances(pg, _party(request, "buyer")))

    async def purchases_shipped(request: web.Request) -> web.Response:
        return reply(await shipping.shipments_of(pg, "to_buyer", _party(request, "buyer")))

    async def statements(request: web.Request) -> web.Response:
        return reply(await party_views.consignor_statements(pg, _party(request, "consignor"), wall_clock_ms()))

    async def payouts(request: web.Request) -> web.Response:
        return reply(await party_views.consignor_payouts(pg, _party(request, "consignor")))

    async def returns_shipped(request: web.Request) -> web.Response:
        return reply(await shipping.shipments_of(pg, "to_consignor", _party(request, "consignor")))

    bad = Reply("A parameter is invalid; `field` names it", ErrorBody)
    who = Reply("Not signed in", ErrorBody)
    not_yours = Reply("Not your role, or another party's (code not_allowed, field buyer or consignor)", ErrorBody)
    answers = {400: bad, 401: who, 403: not_yours}
    buyer, consignor = "/api/settlement/buyers/{buyer}", "/api/settlement/consignors/{consignor}"
    tags = ("accounts",)
    return translating([
        Route("GET", f"{buyer}/invoices", invoices,
              "A buyer company's invoices, newest first: due dates, totals, interest, paid and outstanding",
              {200: Reply("Invoices", list[InvoiceSummary]), **answers}, secured=True, tags=tags),
        Route("GET", f"{buyer}/second-chances", second_chances,
              "The second-chance offers made to a buyer company (answer: POST /api/settlement/offers/{offer})",
              {200: Reply("Offers", list[SecondChance]), **answers}, secured=True, tags=tags),
        Route("GET", f"{buyer}/shipments", purchases_shipped, "The shipments of what a buyer company bought",
              {200: Reply("Shipments", list[ShipmentView]), **answers}, secured=True, tags=tags),
        Route("GET", f"{consignor}/statements", statements,
              "A consignor's statement for each sale: each lot's hammer, commission, fees, net and payout status",
              {200: Reply("Statements", list[ConsignorStatement]), **answers}, secured=True, tags=tags),
        Route("GET", f"{consignor}/payouts", payouts, "The payouts made to a consignor, with the lots each paid",
              {200: Reply("Payouts", list[PayoutView]), **answers}, secured=True, tags=tags),
        Route("GET", f"{consignor}/shipments", returns_shipped, "The shipments of a consignor's stones back to them",
              {200: Reply("Shipments", list[ShipmentView]), **answers}, secured=True, tags=tags),
    ])  # fmt: skip
