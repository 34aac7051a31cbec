"""The HTTP routes of sealed-bid tenders (docs/PROTOCOL.md "Tenders"). Who may call each is access.HTTP_RULES's
to say; whose data it is comes here: a buyer reads only their own bids, a consignor answers only for their own
lots, an officer fetches only their own share and only a tender's officers give shares.

    POST /api/tenders                                  create a tender sale with its key (auctioneer, admin)
    PUT  /api/tender/officer-key                       an operator registers their officer key (public half)
    GET  /api/sales/{sale}/tender                      the tender's public key and threshold
    POST /api/sales/{sale}/lots/{lot}/tender-bids      a buyer's sealed bid (the desk, tender_desk.py)
    GET  /api/sales/{sale}/tender/commitments          the commitments of the bids that count, after the close
    GET  /api/sales/{sale}/tender/my-bids              a buyer's own bids, their copies, and after the reveal ranks
    GET  /api/sales/{sale}/tender/results              the results: each lot's to anyone, offers to its consignor,
                                                       every opened bid to operators
    GET  /api/sales/{sale}/tender/shares/mine          an officer's share, sealed to their own key
    POST /api/sales/{sale}/tender/shares               officers' shares; at k, the reveal (share_box.py holds them)
    POST /api/sales/{sale}/lots/{lot}/tender/accept    the consignor takes the top bid below the reserve
    POST /api/sales/{sale}/lots/{lot}/tender/decline   ... or declines it: the lot is passed
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable
from typing import Annotated, TypeVar

import asyncpg
import msgspec
from aiohttp import web

from auction import identity
from auction.catalog import MAX_OFFICERS, NewSale
from auction.engine.lot import LotState
from auction.engine.messages import AcceptTenderOffer, DeclineTenderOffer, Rejected, TenderBidSubmitted
from auction.gateway.fanout import Hub, now_ms
from auction.gateway.http import info_of
from auction.gateway.identities import Identities
from auction.gateway.protocol import (
    MAX_FRAME_BYTES,
    Amount,
    BidRejected,
    ClientId,
    Error,
    Priority,
    PublicKeyText,
    TenderReceipt,
)
from auction.gateway.share_box import ShareBox
from auction.gateway.tender_desk import TenderDesk, TenderTicket
from auction.httpkit import (
    WHO_REFUSALS,
    ApiError,
    ErrorBody,
    Reply,
    Route,
    caller_of,
    error_reply,
    int_param,
    json_body,
    reply,
)
from auction.store import Accepted, LotStore
from auction.tender import records, views
from auction.tender.creation import TenderCreated, create_tender
from auction.tender.errors import TenderRefused
from auction.tender.officers import fingerprint, register_key
from auction.tender.reveal import RevealReport, closed_lots, recognise, reveal_tender, tender_of
from auction.tender.shamir import Share, SharingError

T = TypeVar("T")
ShareText = Annotated[str, msgspec.Meta(min_length=3, max_length=200, pattern="^[0-9]{1,3}-[0-9a-f]{1,140}$")]


class TenderBidBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A sealed bid: `amount` (the total) or `per_carat`, not both (tender_bid on the websocket, without sale and
    lot, which the path gives)."""

    client_id: ClientId
    amount: Amount | None = None
    per_carat: Amount | None = None
    priority: Priority = 1
    buyer_key: PublicKeyText | None = None


class OfficerKeyBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    public_key: PublicKeyText


class OfficerKeyKept(msgspec.Struct, frozen=True):
    account: int
    key_fingerprint: str


class SharesBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Shares of the tender's key as officers keep them (`<x>-<hex>`): one officer's, or several given together."""

    shares: Annotated[list[ShareText], msgspec.Meta(min_length=1, max_length=MAX_OFFICERS)]


class SharesHeld(msgspec.Struct, frozen=True):
    """Fewer than `needed` shares so far: nothing was opened. `held` are kept in this gateway's memory only, the
    oldest for `expires_in_s` more."""

    sale: int
    held: int
    needed: int
    expires_in_s: int


class MyShare(msgspec.Struct, frozen=True):
    """An officer's share, sealed to their officer key (the one with `key_fingerprint`): open it with its private
    half (the browser that holds it, or `auction tender share`)."""

    sale: int
    x: int
    officer: int
    sealed: str
    key_fingerprint: str


class TenderInfo(msgspec.Struct, frozen=True):
    """A tender's key as anyone may check it: bids are sealed to `public_key` (base64 X25519); `threshold` of its
    `officers` rebuild the private key; `revealed_at_ms` once they did."""

    sale: int
    public_key: str
    key_fingerprint: str
    threshold: int
    officers: int
    revealed_at_ms: int | None


class MyBids(msgspec.Struct, frozen=True):
    sale: int
    bids: list[views.MyBid]


class Results(msgspec.Struct, frozen=True):
    """Each lot's result; `offers` below the reserve (a consignor's own lots; every lot for operators); `bids`
    every opened bid, named (operators only)."""

    sale: int
    revealed_at_ms: int | None
    lots: list[views.LotResult]
    offers: list[views.Offer] = []
    bids: list[views.OpenedBid] = []


class OfferAnswered(msgspec.Struct, frozen=True):
    sale: int
    lot: int
    seq: int
    status: str
    amount: int


class TenderApi:
    def __init__(
        self, pg: asyncpg.Pool, store: LotStore, hub: Hub, identities: Identities, desk: TenderDesk, box: ShareBox
    ) -> None:
        self._pg = pg
        self._store = store
        self._hub = hub
        self._identities = identities
        self._desk = desk
        self._box = box
        self._reveals: dict[int, asyncio.Lock] = {}

    # ---- creating a tender, and officers' keys ---------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        sale = await json_body(request, NewSale)
        by = await identity.account(self._pg, caller_of(request).account)
        created = await _refusals(create_tender(self._pg, self._store, sale, by))
        return reply(created, 201)

    async def officer_key(self, request: web.Request) -> web.Response:
        body = await json_body(request, OfficerKeyBody)
        caller = caller_of(request)
        raw = await _refusals(register_key(self._pg, caller.account, body.public_key))
        return reply(OfficerKeyKept(caller.account, fingerprint(raw)))

    async def tender(self, request: web.Request) -> web.Response:
        key = await _refusals(tender_of(self._pg, _sale(request)))
        info = TenderInfo(key.sale, base64.b64encode(key.public_key).decode(), fingerprint(key.public_key),
                          key.threshold, key.officers, key.revealed_at_ms)  # fmt: skip
        return reply(info)

    # ---- bids -------------------------------------------------------------------------------------------------

    async def bid(self, request: web.Request) -> web.Response:
        received_ms = now_ms()
        sale, lot = _sale(request), _lot(request)
        body = await json_body(request, TenderBidBody, MAX_FRAME_BYTES)
        ticket = TenderTicket(sale, lot, body.client_id, body.priority, received_ms, body.amount, body.per_carat,
                              body.buyer_key)  # fmt: skip
        answer = await self._desk.submit(caller_of(request), ticket)
        match answer:
            case TenderReceipt():
                return reply(answer)
            case BidRejected():
                return reply(answer, 403 if answer.reason in WHO_REFUSALS else 409)
            case Error():
                return error_reply(info_of(answer))

    async def commitments(self, request: web.Request) -> web.Response:
        states = await self._tender_lots(_sale(request))
        return reply(views.commitments(states))

    async def my_bids(self, request: web.Request) -> web.Response:
        sale, caller = _sale(request), caller_of(request)
        if caller.company is None:
            raise ApiError("not_allowed", "role", "only a buyer company has tender bids")
        states = await self._tender_lots(sale)
        copies = {copy.client_id: copy for copy in await records.copies_of(self._pg, sale, caller.company)}
        bids = []
        for state in states:
            submitted = await self._submissions(sale, state.terms.lot)
            bids += views.buyer_bids(caller.company, state, submitted, copies)
        return reply(MyBids(sale, bids))

    async def results(self, request: web.Request) -> web.Response:
        sale, caller = _sale(request), caller_of(request)
        key = await _refusals(tender_of(self._pg, sale))
        states = await self._tender_lots(sale)
        lots = [views.lot_result(state) for state in states]
        if caller.is_operator:
            opened = [bid for state in states for bid in views.opened_bids(state)]
            return reply(Results(sale, key.revealed_at_ms, lots, views.offers(states), opened))
        own = await self._identities.own_lots(caller, sale) if caller.role == "consignor" else frozenset()
        offers = views.offers(state for state in states if state.terms.lot in own)
        return reply(Results(sale, key.revealed_at_ms, lots, offers))

    # ---- the officers' shares and the reveal ----------------------------------------------------------------

    async def my_share(self, request: web.Request) -> web.Response:
        sale, caller = _sale(request), caller_of(request)
        await _refusals(tender_of(self._pg, sale))
        mine = next((s for s in await records.shares_of(self._pg, sale) if s.officer == caller.account), None)
        if mine is None:
            raise ApiError("not_allowed", "sale", f"you hold no share of sale {sale}'s key")
        return reply(MyShare(sale, mine.x, mine.officer, mine.sealed, fingerprint(mine.officer_key)))

    async def shares(self, request: web.Request) -> web.Response:
        sale, caller = _sale(request), caller_of(request)
        body = await json_body(request, SharesBody)
        key = await _refusals(tender_of(self._pg, sale))
        kept = await records.shares_of(self._pg, sale)
        if caller.account not in {row.officer for row in kept}:
            raise ApiError("not_allowed", "sale", f"only the officers of sale {sale}'s tender give its shares")
        given = _decoded(body.shares)
        recognised = await _refusals(_recognised(given, kept))
        await _refusals(closed_lots(self._store, sale))
        async with self._reveals.setdefault(sale, asyncio.Lock()):
            held = self._box.add(sale, recognised, caller.account)
            if len(held) < key.threshold:
                expires = round(self._box.expires_in_s(sale))
                return reply(SharesHeld(sale, len(held), key.threshold, expires), 202)
            try:
                by = await identity.account(self._pg, caller.account)
                report: RevealReport = await _refusals(
                    reveal_tender(self._pg, self._store, sale, list(held.values()), now_ms(), by)
                )
            finally:
                self._box.drop(sale)  # tried: no share outlives its use, whatever came of it
        return reply(report)

    # ---- the consignor's answer below the reserve -----------------------------------------------------------

    async def accept(self, request: web.Request) -> web.Response:
        return await self._answer(request, accept=True)

    async def decline(self, request: web.Request) -> web.Response:
        return await self._answer(request, accept=False)

    async def _answer(self, request: web.Request, *, accept: bool) -> web.Response:
        at = now_ms()
        sale, lot, caller = _sale(request), _lot(request), caller_of(request)
        if lot not in await self._identities.own_lots(caller, sale):
            raise ApiError("not_allowed", "lot", f"lot {lot} of sale {sale} is not yours")
        terms = await self._hub.terms.get(sale, lot)
        if terms is None or terms.format != "tender":
            raise ApiError("refused", "sale", f"sale {sale} is not a tender")
        command = AcceptTenderOffer(at) if accept else DeclineTenderOffer(at)
        outcome = await self._store.execute(sale, lot, command)
        if isinstance(outcome, Rejected):
            raise ApiError("refused", "lot", f"refused: {outcome.reason}")
        assert isinstance(outcome, Accepted)
        state = outcome.state
        return reply(OfferAnswered(sale, lot, state.seq, state.status, state.price if state.status == "sold" else 0))

    # ---- reads ----------------------------------------------------------------------------------------------

    async def _tender_lots(self, sale: int) -> list[LotState]:
        states = await self._store.states(sale)
        if not states:
            raise ApiError("not_found", "sale", f"no sale {sale} in the engine")
        if states[0].terms.format != "tender":
            raise ApiError("refused", "sale", f"sale {sale} is a {states[0].terms.format} sale, not a tender")
        return states

    async def _submissions(self, sale: int, lot: int) -> list[TenderBidSubmitted]:
        found: list[TenderBidSubmitted] = []
        after = 0
        while True:
            events = await self._store.events_after(sale, lot, after, 1_000)
            found += [event for event in events if isinstance(event, TenderBidSubmitted)]
            if len(events) < 1_000:
                return found
            after = events[-1].seq

    def routes(self) -> list[Route]:
        bad = Reply("A parameter or the body is invalid; `field` names it", ErrorBody)
        unknown = Reply("No token, or an unknown one", ErrorBody)
        missing = Reply("No such sale or lot, or not a tender", ErrorBody)
        refused = Reply("Not now: `message` says why (a window still open, a sale not a tender...)", ErrorBody)
        return [
            Route("POST", "/api/tenders", self.create,
                  "Create a tender sale with its key: made in memory, split among the officers, each share sealed to "
                  "its officer's key, the private key never stored",
                  {201: Reply("Created: its public key and who holds which share", TenderCreated), 400: bad,
                   401: unknown, 403: Reply("Not the auctioneer or an admin", ErrorBody),
                   409: Reply("The sale exists already", ErrorBody)}, body=NewSale, secured=True),
            Route("PUT", "/api/tender/officer-key", self.officer_key,
                  "Register your officer key (the public half of an X25519 key pair you keep): tenders' shares are "
                  "sealed to it", {200: Reply("Kept", OfficerKeyKept), 400: bad, 401: unknown,
                                   403: Reply("Not an operator", ErrorBody)}, body=OfficerKeyBody, secured=True),
            Route("GET", "/api/sales/{sale}/tender", self.tender, "A tender's public key and threshold",
                  {200: Reply("The tender", TenderInfo), 400: bad, 404: missing}),
            Route("POST", "/api/sales/{sale}/lots/{lot}/tender-bids", self.bid,
                  "Submit or replace a sealed bid, in total or per carat; the amount is sealed on receipt",
                  {200: Reply("Kept: the receipt", TenderReceipt), 400: bad, 401: unknown,
                   403: Reply("Not a buyer, or refused for who you are (not_registered, suspended, own_lot...)",
                              BidRejected), 404: missing,
                   409: Reply("Refused by the rules (too_late, lot_not_open), or not a tender", BidRejected),
                   413: Reply("Body over 4 KiB", ErrorBody),
                   429: Reply("Your company is over its bid rate (shared with its open bids): retry after "
                              "`retry_after` seconds", ErrorBody),
                   503: Reply("Outcome unknown; resend with the same client_id", ErrorBody)},
                  body=TenderBidBody, secured=True),
            Route("GET", "/api/sales/{sale}/tender/commitments", self.commitments,
                  "The commitments of the bids that count, per lot, once its window closed: check yours is there",
                  {200: Reply("Per lot", list[views.LotCommitments]), 400: bad, 404: missing, 409: refused}),
            Route("GET", "/api/sales/{sale}/tender/my-bids", self.my_bids,
                  "Your company's bids: commitments, your sealed copies, which counts; after the reveal, ranks",
                  {200: Reply("Your bids", MyBids), 400: bad, 401: unknown, 403: Reply("Not a buyer", ErrorBody),
                   404: missing, 409: refused}, secured=True),
            Route("GET", "/api/sales/{sale}/tender/results", self.results,
                  "Each lot's result (total and per carat); a consignor's offers below the reserve; operators: every "
                  "opened bid", {200: Reply("Results", Results), 400: bad, 404: missing, 409: refused}),
            Route("GET", "/api/sales/{sale}/tender/shares/mine", self.my_share,
                  "Your share of the tender's key, sealed to your officer key",
                  {200: Reply("Your sealed share", MyShare), 400: bad, 401: unknown,
                   403: Reply("Not an operator, or not one of this tender's officers", ErrorBody), 404: missing},
                  secured=True),
            Route("POST", "/api/sales/{sale}/tender/shares", self.shares,
                  "Give shares of the tender's key after the close; once k are in (in this gateway), every bid is "
                  "opened and each lot decided",
                  {200: Reply("Revealed", RevealReport), 202: Reply("Held: fewer than k so far", SharesHeld),
                   400: Reply("A share that is not one of this tender's (field shares[i])", ErrorBody),
                   401: unknown, 403: Reply("Not one of the tender's officers", ErrorBody), 404: missing,
                   409: Reply("A bid window still open, or nothing left to reveal", ErrorBody)},
                  body=SharesBody, secured=True),
            Route("POST", "/api/sales/{sale}/lots/{lot}/tender/accept", self.accept,
                  "The consignor accepts the top bid below the reserve, within the acceptance window",
                  {200: Reply("Sold", OfferAnswered), 400: bad, 401: unknown,
                   403: Reply("Not the lot's consignor", ErrorBody), 404: missing,
                   409: Reply("No offer open (window_closed, lot_closed...)", ErrorBody)}, secured=True),
            Route("POST", "/api/sales/{sale}/lots/{lot}/tender/decline", self.decline,
                  "The consignor declines the top bid below the reserve: the lot is passed",
                  {200: Reply("Passed", OfferAnswered), 400: bad, 401: unknown,
                   403: Reply("Not the lot's consignor", ErrorBody), 404: missing,
                   409: Reply("No offer open", ErrorBody)}, secured=True),
        ]  # fmt: skip


def _sale(request: web.Request) -> int:
    return int_param(request.match_info["sale"], "sale")


def _lot(request: web.Request) -> int:
    return int_param(request.match_info["lot"], "lot", maximum=2**31 - 1)


async def _refusals(work: Awaitable[T]) -> T:
    """`work`'s result, a TenderRefused answered as the API error it names."""
    try:
        return await work
    except TenderRefused as exc:
        raise ApiError(exc.code, exc.field, str(exc)) from exc


async def _recognised(given: list[Share], kept: list[records.SealedShare]) -> dict[int, Share]:
    return recognise(given, kept)


def _decoded(texts: list[str]) -> list[Share]:
    shares = []
    for index, text in enumerate(texts):
        try:
            shares.append(Share.decode(text))
        except SharingError as exc:
            raise ApiError("invalid", f"shares[{index}]", str(exc)) from None
    return shares


__all__ = ["TenderApi"]
