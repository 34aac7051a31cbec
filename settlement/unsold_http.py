"""The post-sale window over HTTP, as `Route`s of the shared HTTP kit: buyers make offers on passed lots and
answer the house's reserve offer to them; a consignor answers offers on their own lots and gives or withdraws
consent to relist; operators see everything, record any party's answer, and relist waiting stones into a later
sale.

The composition root (ops/app.py) mounts them next to settlement.http's: `unsold_routes(pg, store)`.

Who may call each route at all is auction/gateway/access.py's table; whose lot or offer it is comes after, here:
a consignor acting on another's lot, or a buyer on an offer not made to them, gets 403 `not_allowed` naming
`lot` or `offer`. A refusal by the window's rules is 409 `refused` naming the field at fault (403 when it is
about who asks: not registered, suspended, the lot's own consignor; 409 naming `amount` or `offer` when it would
take the buyer over their limit, `over_limit`); the reason's code is in the message. Malformed input, an amount
above the protocol's MAX_AMOUNT included, is 400 `invalid`.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec
from aiohttp import web

from auction.httpkit import ErrorBody, Reply, Route, caller_of, int_param, json_body, reply
from auction.store import LotStore
from settlement import unsold_relisting, unsold_views, unsold_window
from settlement.http import translating
from settlement.service import wall_clock_ms
from settlement.unsold_rules import MAX_AMOUNT
from settlement.unsold_views import BuyerPostSale, PassedLot, PostSaleOffer, RelistConsent, Relisting
from settlement.unsold_window import MAX_CLIENT_ID

MAX_LOT = 2**31 - 1


class OfferBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: Annotated[int, msgspec.Meta(gt=0, le=MAX_AMOUNT)]  # minor units of the sale's currency, no premium
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CLIENT_ID)]  # sent twice: one offer


class AnswerBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    accept: bool


class ConsentBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reserve: Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT)]  # lower than the reserve the stone failed to reach


class Answered(msgspec.Struct, frozen=True):
    status: str


def _sale_lot(request: web.Request) -> tuple[int, int]:
    return int_param(request.match_info["sale"], "sale"), int_param(request.match_info["lot"], "lot", maximum=MAX_LOT)


def routes(pg: asyncpg.Pool, store: LotStore | None = None) -> list[Route]:
    """The routes; `store` is the gateway's, so that lots relisted into a loaded sale are created in the engine, and
    a buyer's limit counts what they lead or won in the sale that settlement has not billed yet."""

    async def passed(request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        caller = caller_of(request)
        consignor = None if caller.is_operator else caller.consignor
        return reply(await unsold_views.passed_lots(pg, sale, consignor_id=consignor))

    async def for_buyer(request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        company = caller_of(request).company
        assert company is not None  # the table lets only buyers in, and a buyer always has a company
        return reply(await unsold_views.buyer_view(pg, sale, company, wall_clock_ms()))

    async def make_offer(request: web.Request) -> web.Response:
        sale, lot = _sale_lot(request)
        body = await json_body(request, OfferBody)
        company = caller_of(request).company
        assert company is not None
        offer = await unsold_window.make_offer(
            pg, sale, lot, company, body.amount, body.client_id, wall_clock_ms(), live=store
        )
        return reply(offer, status=201)

    async def answer(request: web.Request) -> web.Response:
        offer = int_param(request.match_info["offer"], "offer")
        body = await json_body(request, AnswerBody)
        caller = caller_of(request)
        buyer, consignor = (None, None) if caller.is_operator else (caller.company, caller.consignor)
        status = await unsold_window.answer_offer(
            pg, offer, body.accept, wall_clock_ms(), buyer_id=buyer, consignor_id=consignor, live=store
        )
        return reply(Answered(status))

    async def consent(request: web.Request) -> web.Response:
        sale, lot = _sale_lot(request)
        body = await json_body(request, ConsentBody)
        caller = caller_of(request)
        given = await unsold_relisting.consent_relist(
            pg,
            sale,
            lot,
            body.reserve,
            wall_clock_ms(),
            consignor_id=None if caller.is_operator else caller.consignor,
        )
        return reply(given)

    async def withdraw(request: web.Request) -> web.Response:
        sale, lot = _sale_lot(request)
        caller = caller_of(request)
        taken = await unsold_relisting.withdraw_relist(
            pg, sale, lot, wall_clock_ms(), consignor_id=None if caller.is_operator else caller.consignor
        )
        return reply(taken)

    async def relist(request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        return reply(await unsold_relisting.relist_into(pg, sale, wall_clock_ms(), store))

    bad = Reply("A parameter or the body is invalid", ErrorBody)
    who = Reply("Not signed in", ErrorBody)
    not_allowed = Reply("Not your role, your lot or an offer made to you; or you may not buy this lot", ErrorBody)
    missing = Reply("No such passed lot, offer or sale", ErrorBody)
    refused = Reply("Refused by the window's rules (closed, sold, answered...), naming the field", ErrorBody)
    tags = ("post-sale",)
    lot_path = "/api/settlement/sales/{sale}/lots/{lot}"
    return translating([
        Route("GET", "/api/settlement/sales/{sale}/passed", passed,
              "A sale's passed lots: offers, relist consent, relisting, return (a consignor: their own lots)",
              {200: Reply("Passed lots", list[PassedLot]), 400: bad, 401: who, 403: not_allowed},
              secured=True, tags=tags),
        Route("GET", "/api/settlement/sales/{sale}/post-sale", for_buyer,
              "A buyer's view of a sale's post-sale window: lots open for offers and their own offers",
              {200: Reply("Open lots and own offers", BuyerPostSale), 400: bad, 401: who, 403: not_allowed},
              secured=True, tags=tags),
        Route("POST", f"{lot_path}/offers", make_offer, "Make an offer for a passed lot (registered buyers)",
              {201: Reply("The offer", PostSaleOffer), 400: bad, 401: who, 403: not_allowed, 404: missing,
               409: refused}, body=OfferBody, secured=True, tags=tags),
        Route("POST", "/api/settlement/post-sale-offers/{offer}", answer,
              "Answer an offer: the buyer the reserve was offered to, or the consignor a buyer's offer",
              {200: Reply("The offer's status", Answered), 400: bad, 401: who, 403: not_allowed, 404: missing,
               409: refused}, body=AnswerBody, secured=True, tags=tags),
        Route("POST", f"{lot_path}/relist", consent, "Consent to relist the stone in a later sale, at a lower reserve",
              {200: Reply("The consent", RelistConsent), 400: bad, 401: who, 403: not_allowed, 404: missing,
               409: refused}, body=ConsentBody, secured=True, tags=tags),
        Route("DELETE", f"{lot_path}/relist", withdraw, "Withdraw the consent to relist: the stone comes back",
              {200: Reply("The consent, withdrawn", RelistConsent), 400: bad, 401: who, 403: not_allowed,
               404: missing, 409: refused}, secured=True, tags=tags),
        Route("POST", "/api/settlement/sales/{sale}/relistings", relist,
              "Relist every stone waiting for a later sale into this one (not started yet)",
              {200: Reply("The stones relisted now", list[Relisting]), 400: bad, 401: who, 403: not_allowed,
               404: missing, 409: refused}, secured=True, tags=tags),
    ])  # fmt: skip
