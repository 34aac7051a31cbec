"""The settlement desk's lists over HTTP, as `Route`s of the shared HTTP kit: a sale's invoices and its defaulted
lots with their second-chance offers (desk_views.py). What the desk then does with one of them (record a
payment, resolve a default, answer an offer) is settlement.http's routes.

The composition root (ops/app.py) mounts them next to settlement.http's: `desk_routes(pg)`. Who may call them is
auction/gateway/access.py's table.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from auction.httpkit import ErrorBody, Reply, Route, int_param, reply
from settlement import desk_views
from settlement.desk_views import DefaultRow, InvoiceRow
from settlement.http import translating


def routes(pg: asyncpg.Pool) -> list[Route]:
    async def invoices(request: web.Request) -> web.Response:
        return reply(await desk_views.sale_invoices(pg, int_param(request.match_info["sale"], "sale")))

    async def defaults(request: web.Request) -> web.Response:
        return reply(await desk_views.sale_defaults(pg, int_param(request.match_info["sale"], "sale")))

    bad = Reply("A parameter is invalid; `field` names it", ErrorBody)
    who = Reply("Not signed in", ErrorBody)
    role = Reply("Not the settlement desk", ErrorBody)
    tags = ("settlement",)
    return translating([
        Route("GET", "/api/settlement/sales/{sale}/invoices", invoices,
              "A sale's invoices: each buyer's name and paddle, status, total, paid and outstanding",
              {200: Reply("Invoices, oldest first", list[InvoiceRow]), 400: bad, 401: who, 403: role},
              secured=True, tags=tags),
        Route("GET", "/api/settlement/sales/{sale}/defaults", defaults,
              "A sale's defaulted lots: the defaulter, the resolution, and the second-chance offers made",
              {200: Reply("Defaulted lots, by lot", list[DefaultRow]), 400: bad, 401: who, 403: role},
              secured=True, tags=tags),
    ])  # fmt: skip
