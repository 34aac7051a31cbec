"""Operators' HTTP routes for shipments, setting removals and insurance claims, as gateway `Route`s (so the OpenAPI
document describes them), in the style of settlement/http.py. Wiring, next to settlement's own routes:

    from settlement.shipping_http import routes as shipping_routes
    routes = [..., *settlement_routes(self.pg), *shipping_routes(self.pg), ...]

Every route is `secured` (operators only; each needs its rule in auction/gateway/access.py). A refusal leaves as
the gateway's `{"error": {"code", "field", "message"}}`: `invalid` (400) for a malformed input, `refused` (409)
for what the rules or the thing's state refuse (an illegal tracking transition, a claim outside its window, a
removal without consent), `not_found` (404), each naming the field at fault.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import asyncpg
import msgspec
from aiohttp import web

from auction.httpkit import (
    OCTETS,
    Amount,
    ApiError,
    ErrorBody,
    Line,
    Millis,
    Note,
    Query,
    RecordId,
    Reply,
    Route,
    Word,
    int_param,
    json_body,
    raw_body,
    reply,
)
from settlement import claims, custody, shipping
from settlement.carriers import TrackingUpdate
from settlement.claims import ClaimView
from settlement.custody import MAX_FILE_BYTES, RemovalView
from settlement.http import translating
from settlement.service import wall_clock_ms
from settlement.shipping import ShipmentView, TrackingApplied
from settlement.shipping_rules import ClaimKind, EvidenceKind, PhotoStage, Purpose, TrackingState

LotNo = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]  # a lot's number, a parcel's
Currency = Annotated[str, msgspec.Meta(min_length=3, max_length=3)]  # ISO 4217; shipping checks the letters


class NewShipment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    purpose: Purpose
    sale: RecordId
    lot: LotNo
    party: RecordId  # the buyer company, the consignor or the lab
    declared_value: Amount
    currency: Currency
    idem_key: Word
    carrier: Word = "manual"


class TrackingBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    state: TrackingState
    note: Note = ""
    at_ms: Millis | None = None  # when the scan happened; default: now


class NewRemoval(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sale: RecordId
    lot: LotNo
    declared_value: Amount  # insured while in custody
    reason: Note
    idem_key: Word


class RemovalConsent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    consented_by: Line


class NewClaim(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: ClaimKind
    idem_key: Word
    shipment: RecordId | None = None
    parcel: LotNo | None = None
    removal: RecordId | None = None
    description: Note = ""


class ClaimMove(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    to: Literal["documents_requested", "under_review", "approved", "paid", "denied"]
    note: Note = ""  # for a denial: the reason (required)
    amount: Amount | None = None  # for an approval


TrackingUpdates = Annotated[list[TrackingUpdate], msgspec.Meta(max_length=1_000)]  # one push of a carrier's scans


class Created(msgspec.Struct, frozen=True):
    shipments: list[int]


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str:
    value = request.query.get(name, "")
    if value not in allowed:
        raise ApiError("invalid", name, f"{name} must be one of {', '.join(allowed)} (a query parameter)")
    return value


def routes(pg: asyncpg.Pool) -> list[Route]:
    async def sale_shipments(request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        lot = request.query.get("lot")
        lot_no = int_param(lot, "lot", maximum=2**31 - 1) if lot else None
        return reply(await shipping.shipments_for(pg, sale, lot_no))

    async def create(request: web.Request) -> web.Response:
        body: NewShipment = await json_body(request, NewShipment)
        async with pg.acquire() as conn, conn.transaction():
            shipment_id = await shipping.create_shipment(
                conn, purpose=body.purpose, sale_id=body.sale, lot_no=body.lot, party_id=body.party,
                declared_value=body.declared_value, currency=body.currency, at_ms=wall_clock_ms(),
                idem_key=body.idem_key, carrier=body.carrier,
            )  # fmt: skip
        return reply(await shipping.shipment(pg, shipment_id), 201)

    async def one_shipment(request: web.Request) -> web.Response:
        return reply(await shipping.shipment(pg, int_param(request.match_info["shipment"], "shipment")))

    async def track(request: web.Request) -> web.Response:
        shipment_id = int_param(request.match_info["shipment"], "shipment")
        parcel = int_param(request.match_info["parcel"], "parcel", maximum=2**31 - 1)
        body: TrackingBody = await json_body(request, TrackingBody)
        at_ms = body.at_ms if body.at_ms is not None else wall_clock_ms()
        return reply(await shipping.record_tracking(pg, shipment_id, parcel, body.state, at_ms, body.note))

    async def carrier_updates(request: web.Request) -> web.Response:
        body: list[TrackingUpdate] = await json_body(request, TrackingUpdates)
        return reply(await shipping.apply_updates(pg, request.match_info["carrier"], body))

    async def poll(request: web.Request) -> web.Response:
        return reply(await shipping.poll_carriers(pg))

    async def ship_paid(request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        return reply(Created(await shipping.ship_paid_invoices(pg, wall_clock_ms(), sale_id=sale)))

    async def new_removal(request: web.Request) -> web.Response:
        body: NewRemoval = await json_body(request, NewRemoval)
        view = await custody.request_removal(pg, sale_id=body.sale, lot_no=body.lot, at_ms=wall_clock_ms(),
                                             declared_value=body.declared_value, reason=body.reason,
                                             idem_key=body.idem_key)  # fmt: skip
        return reply(view, 201)

    def _removal_id(request: web.Request) -> int:
        return int_param(request.match_info["removal"], "removal")

    async def one_removal(request: web.Request) -> web.Response:
        return reply(await custody.removal(pg, _removal_id(request)))

    async def consent(request: web.Request) -> web.Response:
        removal_id = _removal_id(request)
        body: RemovalConsent = await json_body(request, RemovalConsent)
        return reply(await custody.record_consent(pg, removal_id, body.consented_by, wall_clock_ms()))

    async def photo(request: web.Request) -> web.Response:
        removal_id = _removal_id(request)
        stage: PhotoStage = _choice(request, "stage", ("before", "after"))  # type: ignore[assignment]
        content = await raw_body(request, MAX_FILE_BYTES)
        view = await custody.add_photo(pg, removal_id, stage, request.content_type or OCTETS, wall_clock_ms(),
                                       content=content)  # fmt: skip
        return reply(view, 201)

    async def start(request: web.Request) -> web.Response:
        return reply(await custody.start_removal(pg, _removal_id(request), wall_clock_ms()))

    async def complete(request: web.Request) -> web.Response:
        return reply(await custody.complete_removal(pg, _removal_id(request), wall_clock_ms()))

    async def file(request: web.Request) -> web.Response:
        body: NewClaim = await json_body(request, NewClaim)
        view = await claims.file_claim(pg, kind=body.kind, at_ms=wall_clock_ms(), idem_key=body.idem_key,
                                       shipment_id=body.shipment, parcel_no=body.parcel, removal_id=body.removal,
                                       description=body.description)  # fmt: skip
        return reply(view, 201)

    def _claim_id(request: web.Request) -> int:
        return int_param(request.match_info["claim"], "claim")

    async def one_claim(request: web.Request) -> web.Response:
        return reply(await claims.claim(pg, _claim_id(request)))

    async def sale_claims(request: web.Request) -> web.Response:
        return reply(await claims.claims_for(pg, int_param(request.match_info["sale"], "sale")))

    async def evidence(request: web.Request) -> web.Response:
        claim_id = _claim_id(request)
        kind: EvidenceKind = _choice(request, "kind", ("invoice", "appraisal", "grading_report", "photo",
                                                       "police_report", "other"))  # type: ignore[assignment]  # fmt: skip
        content = await raw_body(request, MAX_FILE_BYTES)
        view = await claims.add_evidence(pg, claim_id, kind, request.content_type or OCTETS, wall_clock_ms(),
                                         content=content)  # fmt: skip
        return reply(view, 201)

    async def move(request: web.Request) -> web.Response:
        claim_id = _claim_id(request)
        body: ClaimMove = await json_body(request, ClaimMove)
        now = wall_clock_ms()
        match body.to:
            case "documents_requested":
                view = await claims.request_documents(pg, claim_id, now, body.note)
            case "under_review":
                view = await claims.start_review(pg, claim_id, now, body.note)
            case "approved":
                if body.amount is None:
                    raise ApiError("invalid", "amount", "an approval needs an amount")
                view = await claims.approve(pg, claim_id, body.amount, now, body.note)
            case "paid":
                view = await claims.pay(pg, claim_id, now, body.note)
            case "denied":
                view = await claims.deny(pg, claim_id, body.note, now)
        return reply(view)

    bad = Reply("A parameter or the body is invalid (the field is named)", ErrorBody)
    missing = Reply("No such sale, lot, shipment, parcel, removal or claim", ErrorBody)
    refused = Reply("Refused by the rules or the current state (the field is named)", ErrorBody)
    big = Reply("Over 5 MiB", ErrorBody)
    tags = ("shipping",)
    s, r, c = "/api/settlement/shipments", "/api/settlement/removals", "/api/settlement/claims"
    lot_query = (Query("lot", "Only this lot", minimum=1),)
    return translating([
        Route("GET", "/api/settlement/sales/{sale}/shipments", sale_shipments, "A sale's shipments, ?lot= for one",
              {200: Reply("Shipments", list[ShipmentView]), 400: bad}, query=lot_query, secured=True, tags=tags),
        Route("POST", "/api/settlement/sales/{sale}/ship-paid", ship_paid,
              "Ship every paid lot of the sale to its buyer (idempotent)",
              {200: Reply("New shipment ids", Created), 400: bad}, secured=True, tags=tags),
        Route("POST", s, create, "Create an insured shipment (idempotent by idem_key); parcels split at the cap",
              {201: Reply("The shipment", ShipmentView), 400: bad, 404: missing, 409: refused}, body=NewShipment,
              secured=True, tags=tags),
        Route("GET", f"{s}/{{shipment}}", one_shipment, "A shipment, its parcels and their tracking histories",
              {200: Reply("The shipment", ShipmentView), 400: bad, 404: missing}, secured=True, tags=tags),
        Route("POST", f"{s}/{{shipment}}/parcels/{{parcel}}/tracking", track,
              "Record a parcel's tracking state (the manual carrier)",
              {200: Reply("The shipment after it", ShipmentView), 400: bad, 404: missing, 409: refused},
              body=TrackingBody, secured=True, tags=tags),
        Route("POST", "/api/settlement/carriers/{carrier}/updates", carrier_updates,
              "A carrier's tracking updates, pushed", {200: Reply("Applied and refused", TrackingApplied), 400: bad},
              body=TrackingUpdates, secured=True, tags=tags, text_params=("carrier",)),
        Route("POST", "/api/settlement/carriers/poll", poll, "Poll every carrier for its parcels' tracking",
              {200: Reply("Applied and refused", TrackingApplied)}, secured=True, tags=tags),
        Route("POST", r, new_removal, "Ask to take a lot's stone out of its setting (idempotent by idem_key)",
              {201: Reply("The removal", RemovalView), 400: bad, 404: missing}, body=NewRemoval, secured=True,
              tags=tags),
        Route("GET", f"{r}/{{removal}}", one_removal, "A setting removal: consent, photos, status",
              {200: Reply("The removal", RemovalView), 400: bad, 404: missing}, secured=True, tags=tags),
        Route("POST", f"{r}/{{removal}}/consent", consent, "Record the consignor's consent (who)",
              {200: Reply("The removal", RemovalView), 400: bad, 404: missing, 409: refused}, body=RemovalConsent,
              secured=True, tags=tags),
        Route("POST", f"{r}/{{removal}}/photos", photo, "A photo before or after: the body is the image; ?stage=",
              {201: Reply("The removal", RemovalView), 400: bad, 404: missing, 409: refused, 413: big},
              body_media="image/*", secured=True, tags=tags,
              query=(Query("stage", "Before or after the work", choices=get_args(PhotoStage)),)),
        Route("POST", f"{r}/{{removal}}/start", start, "The work starts: needs consent and the photo before",
              {200: Reply("The removal", RemovalView), 400: bad, 404: missing, 409: refused}, secured=True,
              tags=tags),
        Route("POST", f"{r}/{{removal}}/complete", complete, "The work is done: needs both photos",
              {200: Reply("The removal", RemovalView), 400: bad, 404: missing, 409: refused}, secured=True,
              tags=tags),
        Route("POST", c, file, "File a claim against a shipment or custody, inside its window (idempotent)",
              {201: Reply("The claim", ClaimView), 400: bad, 404: missing, 409: refused}, body=NewClaim,
              secured=True, tags=tags),
        Route("GET", "/api/settlement/sales/{sale}/claims", sale_claims, "A sale's claims",
              {200: Reply("Claims", list[ClaimView]), 400: bad}, secured=True, tags=tags),
        Route("GET", f"{c}/{{claim}}", one_claim, "A claim, its evidence and its history",
              {200: Reply("The claim", ClaimView), 400: bad, 404: missing}, secured=True, tags=tags),
        Route("POST", f"{c}/{{claim}}/evidence", evidence, "Attach evidence: the body is the file; ?kind=",
              {201: Reply("The claim", ClaimView), 400: bad, 404: missing, 409: refused, 413: big},
              body_media=OCTETS, secured=True, tags=tags,
              query=(Query("kind", "What the evidence is", choices=get_args(EvidenceKind)),)),
        Route("POST", f"{c}/{{claim}}/status", move, "Move a claim: documents, review, approve, pay or deny",
              {200: Reply("The claim", ClaimView), 400: bad, 404: missing, 409: refused}, body=ClaimMove,
              secured=True, tags=tags),
    ])  # fmt: skip


def add_routes(app: web.Application, pg: asyncpg.Pool) -> list[Route]:
    """Add the routes to an app's router; returns them for its OpenAPI document."""
    table = routes(pg)
    for route in table:
        app.router.add_route(route.method, route.path, route.handler)
    return table
