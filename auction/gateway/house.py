"""The HTTP routes of the house's desk: consignors and their agreements, the stones they hand in and their photos,
sales built as drafts (terms, lots, order, the catalogue file), published, and their lots withdrawn; and the
routes bidders and consignors use to see what the house built (a lot's photos, a consignor's own stones).

Who may call each route is access.HTTP_RULES's to say before a handler runs: consignors are the vetting desk's
(who they are), agreements the settlement desk's (what they are charged), stones and sales the house's
specialists' (auctioneers). The domain is in auction/consignors.py, consignments.py, photos.py, sale_builder.py,
catalogue_file.py and withdrawals.py; its exceptions (auction/house_errors.py) are translated here, once: a refusal
names its field, and one that found several problems lists them all (`problems`), a catalogue file's by line and
column.
"""

from __future__ import annotations

import dataclasses

import asyncpg
import msgspec
from aiohttp import BodyPartReader, web

from auction import catalogue_file, consignments, consignors, photos, sale_builder, vetting, withdrawals
from auction.catalogue_file import CatalogueRefused, CellProblem
from auction.consignments import StoneIntake, StoneView
from auction.consignors import AgreementChange, ConsignorView, NewConsignor
from auction.gateway.fanout import now_ms
from auction.house_errors import HouseError, HouseInvalid, Problem
from auction.httpkit import (
    ApiError,
    Caller,
    ErrorBody,
    ErrorInfo,
    Handler,
    Query,
    Reply,
    Route,
    caller_of,
    int_param,
    json_body,
    raw_body,
    reply,
)
from auction.identity import Account
from auction.photos import PhotoFile, PhotoInfo
from auction.sale_builder import DraftView, LotBody, LotOrder, NewDraft, SaleTerms
from auction.store import LotStore
from auction.withdrawals import Withdrawal, WithdrawalBody

CSV = "text/csv"
IMAGES = "image/*"
MULTIPART = "multipart/form-data"


class Refusal(msgspec.Struct, frozen=True):
    """A refusal that found several things wrong: every one of them, the first also in `error`."""

    error: ErrorInfo
    problems: list[Problem]


class CatalogueRefusal(msgspec.Struct, frozen=True):
    """A catalogue file refused whole: every bad cell by its line and column."""

    error: ErrorInfo
    problems: list[CellProblem]


class ConsignorFile(msgspec.Struct, frozen=True):
    consignor: ConsignorView
    stones: list[StoneView]


def _refused(exc: HouseError) -> web.Response:
    info = ErrorInfo(exc.code, exc.field, str(exc))
    if isinstance(exc, CatalogueRefused):
        return reply(CatalogueRefusal(info, exc.cells), 400)
    if isinstance(exc, HouseInvalid):
        return reply(Refusal(info, exc.problems), 400)
    raise ApiError(exc.code, exc.field, str(exc)) from exc


def _answering(handler: Handler) -> Handler:
    """The handler, with the house's refusals written as the API writes errors."""

    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except HouseError as exc:
            return _refused(exc)

    return answered


def operator(caller: Caller) -> Account:
    assert caller.role != "anonymous"
    return Account(caller.account, "", caller.name, caller.role, caller.company, caller.consignor)


def _image(media_type: str, content: bytes, public: bool) -> web.Response:
    cache = "public, max-age=86400" if public else "private, max-age=3600"  # a photo never changes under its id
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": cache}
    return web.Response(body=content, content_type=media_type, headers=headers)


class HouseApi:
    def __init__(self, pg: asyncpg.Pool, store: LotStore) -> None:
        self.pg = pg
        self.store = store

    # ---- consignors ---------------------------------------------------------------------------------------

    async def new_consignor(self, request: web.Request) -> web.Response:
        body = await json_body(request, NewConsignor)
        made = await consignors.create_consignor(self.pg, body, operator(caller_of(request)))
        await vetting.publish_consignor_companies(self.pg, self.store, made.id)  # companies vetting found its own
        return reply(made, 201)

    async def consignor_list(self, request: web.Request) -> web.Response:
        after = int_param(request.query.get("after"), "after", minimum=0, default=0)
        return reply(await consignors.list_consignors(self.pg, after))

    async def consignor_file(self, request: web.Request) -> web.Response:
        consignor_id = int_param(request.match_info["consignor"], "consignor")
        found = await consignors.consignor(self.pg, consignor_id)
        if found is None:
            raise ApiError("not_found", "consignor", f"no consignor {consignor_id}")
        return reply(ConsignorFile(found, await consignments.stones_of(self.pg, consignor_id)))

    async def agreement(self, request: web.Request) -> web.Response:
        consignor_id = int_param(request.match_info["consignor"], "consignor")
        body = await json_body(request, AgreementChange)
        return reply(await consignors.set_agreement(self.pg, consignor_id, body, operator(caller_of(request))))

    async def own_stones(self, request: web.Request) -> web.Response:
        consignor_id = caller_of(request).consignor
        assert consignor_id is not None  # a consignor account always has one
        return reply(await consignments.stones_of(self.pg, consignor_id))

    # ---- stones and photos --------------------------------------------------------------------------------

    async def take_in(self, request: web.Request) -> web.Response:
        consignor_id = int_param(request.match_info["consignor"], "consignor")
        body = await json_body(request, StoneIntake)
        made = await consignments.take_in(self.pg, consignor_id, body, operator(caller_of(request)), now_ms())
        return reply(made, 201)

    async def stone(self, request: web.Request) -> web.Response:
        stone_id = int_param(request.match_info["stone"], "stone")
        found = await consignments.stone_view(self.pg, stone_id)
        if found is None:
            raise ApiError("not_found", "stone", f"no stone {stone_id}")
        return reply(found)

    async def add_photos(self, request: web.Request) -> web.Response:
        stone_id = int_param(request.match_info["stone"], "stone")
        files = await _photo_files(request)
        return reply(await photos.add_photos(self.pg, stone_id, files, operator(caller_of(request))), 201)

    async def stone_photo(self, request: web.Request) -> web.Response:
        stone_id = int_param(request.match_info["stone"], "stone")
        photo_id = int_param(request.match_info["photo"], "photo")
        found = await photos.stone_photo(self.pg, stone_id, photo_id)
        if found is None:
            raise ApiError("not_found", "photo", f"stone {stone_id} has no photo {photo_id}")
        return _image(*found, public=False)

    async def lot_photo(self, request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        lot = int_param(request.match_info["lot"], "lot", maximum=2**31 - 1)
        photo_id = int_param(request.match_info["photo"], "photo")
        found = await photos.lot_photo(self.pg, sale, lot, photo_id)
        if found is None:
            raise ApiError("not_found", "photo", f"lot {lot} of sale {sale} has no photo {photo_id}")
        return _image(*found, public=True)

    # ---- sales being built --------------------------------------------------------------------------------

    async def new_sale(self, request: web.Request) -> web.Response:
        body = await json_body(request, NewDraft)
        return reply(await sale_builder.create_draft(self.pg, body, operator(caller_of(request))), 201)

    async def sales(self, request: web.Request) -> web.Response:
        return reply(await sale_builder.list_drafts(self.pg))

    async def sale(self, request: web.Request) -> web.Response:
        return reply(await sale_builder.draft_view(self.pg, _sale(request)))

    async def sale_terms(self, request: web.Request) -> web.Response:
        body = await json_body(request, SaleTerms)
        return reply(await sale_builder.set_terms(self.pg, _sale(request), body, operator(caller_of(request))))

    async def put_lot(self, request: web.Request) -> web.Response:
        sale, lot = _sale(request), _lot(request)
        body = await json_body(request, LotBody)
        return reply(await sale_builder.put_lot(self.pg, sale, lot, body, operator(caller_of(request))))

    async def remove_lot(self, request: web.Request) -> web.Response:
        sale, lot = _sale(request), _lot(request)
        return reply(await sale_builder.remove_lot(self.pg, sale, lot, operator(caller_of(request))))

    async def order(self, request: web.Request) -> web.Response:
        body = await json_body(request, LotOrder)
        return reply(await sale_builder.order_lots(self.pg, _sale(request), body, operator(caller_of(request))))

    async def import_catalogue(self, request: web.Request) -> web.Response:
        sale = _sale(request)
        content = await raw_body(request, catalogue_file.MAX_FILE_BYTES)
        by = operator(caller_of(request))
        return reply(await catalogue_file.import_catalogue(self.pg, sale, content, by, now_ms()))

    async def export_catalogue(self, request: web.Request) -> web.Response:
        sale = _sale(request)
        text = await catalogue_file.export_catalogue(self.pg, sale)
        disposition = f'attachment; filename="sale-{sale}.csv"'
        return web.Response(text=text, content_type=CSV, headers={"Content-Disposition": disposition})

    async def publish(self, request: web.Request) -> web.Response:
        by = operator(caller_of(request))
        return reply(await sale_builder.publish(self.pg, self.store, _sale(request), by, now_ms()))

    async def withdraw(self, request: web.Request) -> web.Response:
        sale, lot = _sale(request), _lot(request)
        body = await json_body(request, WithdrawalBody)
        by = operator(caller_of(request))
        return reply(await withdrawals.withdraw_lot(self.pg, self.store, sale, lot, body.reason, by, now_ms()))

    # ---- the table ----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        bad = Reply("A parameter or the body is invalid; `field` names it, `problems` every problem", Refusal)
        who = Reply("No credentials, or a token that is invalid, expired or revoked", ErrorBody)
        role = Reply("Your role may not do this (code not_allowed)", ErrorBody)
        missing = Reply("No such consignor, stone, sale, lot or photo; `field` names it", ErrorBody)
        clash = Reply("It clashes with what exists (a stone in another sale, a sale published); `field`", ErrorBody)
        draft = Reply("The sale as built", DraftView)
        c, s, d = "/api/house/consignors/{consignor}", "/api/house/stones/{stone}", "/api/house/sales/{sale}"
        house = ("house",)
        routes = [
            Route("POST", "/api/house/consignors", self.new_consignor,
                  "A consignor (a person or a company) with their consignment agreement",
                  {201: Reply("The consignor", ConsignorView), 400: bad, 401: who, 403: role},
                  body=NewConsignor, secured=True, tags=house),
            Route("GET", "/api/house/consignors", self.consignor_list, "Consignors, 500 at a time from ?after=<id>",
                  {200: Reply("Consignors", list[ConsignorView]), 401: who, 403: role},
                  query=(Query("after", "Consignors with a greater id", default=0),), secured=True, tags=house),
            Route("GET", c, self.consignor_file, "A consignor, their agreement and their stones",
                  {200: Reply("The file", ConsignorFile), 400: bad, 401: who, 403: role, 404: missing},
                  secured=True, tags=house),
            Route("PUT", f"{c}/agreement", self.agreement,
                  "Set the consignment agreement (commission, unsold fee, return shipping, consent to relist)",
                  {200: Reply("The consignor", ConsignorView), 400: bad, 401: who, 403: role, 404: missing},
                  body=AgreementChange, secured=True, tags=house),
            Route("POST", f"{c}/stones", self.take_in,
                  "Take a consignor's stone into custody; over 1 ct without a report needs an override with a reason",
                  {201: Reply("The stone", StoneView), 400: bad, 401: who, 403: role, 404: missing, 409: clash},
                  body=StoneIntake, secured=True, tags=house),
            Route("GET", "/api/consignor/stones", self.own_stones, "Your stones in the house's custody (consignors)",
                  {200: Reply("Stones", list[StoneView]), 401: who, 403: role}, secured=True, tags=("consignor",)),
            Route("GET", s, self.stone, "A consigned stone",
                  {200: Reply("The stone", StoneView), 400: bad, 401: who, 403: role, 404: missing},
                  secured=True, tags=house),
            Route("POST", f"{s}/photos", self.add_photos,
                  f"Upload photos of a stone: multipart, one part per file, at most {photos.MAX_PHOTOS_PER_UPLOAD} "
                  f"of {photos.MAX_PHOTO_BYTES} bytes; JPEG, PNG or WebP by their signature; all or none",
                  {201: Reply("The stone's photos", list[PhotoInfo]), 400: bad, 401: who, 403: role, 404: missing,
                   409: clash, 413: Reply("A photo, or the upload, too large", ErrorBody)},
                  body_media=MULTIPART, secured=True, tags=house),
            Route("GET", f"{s}/photos/{{photo}}", self.stone_photo, "A photo of a consigned stone",
                  {200: Reply("The image", media=IMAGES), 400: bad, 401: who, 403: role, 404: missing},
                  secured=True, tags=house),
            Route("GET", "/api/sales/{sale}/lots/{lot}/photos/{photo}", self.lot_photo,
                  "A photo of a lot, as its listing names it", {200: Reply("The image", media=IMAGES), 400: bad,
                  404: missing}),
            Route("POST", "/api/house/sales", self.new_sale, "Start building a sale (a draft nobody else sees)",
                  {201: draft, 400: bad, 401: who, 403: role, 409: clash}, body=NewDraft, secured=True, tags=house),
            Route("GET", "/api/house/sales", self.sales, "The sales the house built or is building, newest first",
                  {200: Reply("Sales", list[DraftView]), 401: who, 403: role}, secured=True, tags=house),
            Route("GET", d, self.sale, "A sale as built, and what would stop it being published now",
                  {200: draft, 400: bad, 401: who, 403: role, 404: missing}, secured=True, tags=house),
            Route("PUT", d, self.sale_terms, "Set a draft's terms: format, schedule, ladder, premium, soft close, ...",
                  {200: draft, 400: bad, 401: who, 403: role, 404: missing, 409: clash}, body=SaleTerms,
                  secured=True, tags=house),
            Route("PUT", f"{d}/lots/{{lot}}", self.put_lot, "Make a lot of a draft a consigned stone",
                  {200: draft, 400: bad, 401: who, 403: role, 404: missing, 409: clash}, body=LotBody,
                  secured=True, tags=house),
            Route("DELETE", f"{d}/lots/{{lot}}", self.remove_lot, "Take a lot out of a draft",
                  {200: draft, 400: bad, 401: who, 403: role, 404: missing, 409: clash}, secured=True, tags=house),
            Route("POST", f"{d}/order", self.order, "Number a draft's lots 1, 2, 3, ... in the order given",
                  {200: draft, 400: bad, 401: who, 403: role, 404: missing, 409: clash}, body=LotOrder,
                  secured=True, tags=house),
            Route("PUT", f"{d}/catalogue", self.import_catalogue,
                  "Import the catalogue file (CSV, docs/CATALOGUE.md): all or nothing; it becomes the draft's lots",
                  {200: Reply("Imported", catalogue_file.Imported),
                   400: Reply("Refused whole: every bad cell by line and column", CatalogueRefusal), 401: who,
                   403: role, 404: missing, 409: clash, 413: Reply("Over 2 MiB", ErrorBody)},
                  body_media=CSV, secured=True, tags=house),
            Route("GET", f"{d}/catalogue", self.export_catalogue, "The sale's catalogue file (CSV)",
                  {200: Reply("The file", media=CSV), 400: bad, 401: who, 403: role, 404: missing},
                  secured=True, tags=house),
            Route("POST", f"{d}/publication", self.publish,
                  "Publish a draft: into the catalogue and the engine (again: loads it again)",
                  {200: draft, 400: bad, 401: who, 403: role, 404: missing, 409: clash}, secured=True, tags=house),
            Route("POST", f"{d}/lots/{{lot}}/withdrawal", self.withdraw,
                  "Withdraw a published lot: closed without a result, its bidders told, their exposure released",
                  {200: Reply("Withdrawn", Withdrawal), 400: bad, 401: who, 403: role, 404: missing, 409: clash},
                  body=WithdrawalBody, secured=True, tags=house),
        ]  # fmt: skip
        return [dataclasses.replace(route, handler=_answering(route.handler)) for route in routes]


def _sale(request: web.Request) -> int:
    return int_param(request.match_info["sale"], "sale")


def _lot(request: web.Request) -> int:
    return int_param(request.match_info["lot"], "lot", maximum=100_000)


async def _photo_files(request: web.Request) -> list[PhotoFile]:
    """The files of a multipart upload, each read up to its bound, the whole up to the upload's."""
    if not request.content_type.startswith("multipart/"):
        raise ApiError("invalid", "files", "send the photos as multipart/form-data, one part per file")
    if (request.content_length or 0) > photos.MAX_UPLOAD_BYTES:
        raise ApiError("too_large", "files", f"an upload may be at most {photos.MAX_UPLOAD_BYTES} bytes")
    try:
        return await _read_photo_files(request)
    except ValueError as exc:  # aiohttp's word for a multipart body it can't read: no boundary, a malformed part
        raise ApiError("invalid", "files", f"not a readable multipart/form-data body: {exc}") from exc


async def _read_photo_files(request: web.Request) -> list[PhotoFile]:
    reader = await request.multipart()
    files: list[PhotoFile] = []
    total = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError("invalid", "files", "one part per file, not nested multiparts")
        if len(files) == photos.MAX_PHOTOS_PER_UPLOAD:
            raise ApiError("too_large", "files", f"at most {photos.MAX_PHOTOS_PER_UPLOAD} photos in one upload")
        content = await _read_part(part, f"files[{len(files)}]")
        total += len(content)
        if total > photos.MAX_UPLOAD_BYTES:
            raise ApiError("too_large", "files", f"an upload may be at most {photos.MAX_UPLOAD_BYTES} bytes")
        files.append(PhotoFile(part.filename or f"photo-{len(files) + 1}", content))
    return files


async def _read_part(part: BodyPartReader, field: str) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > photos.MAX_PHOTO_BYTES:
            raise ApiError("too_large", field, f"a photo may be at most {photos.MAX_PHOTO_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
