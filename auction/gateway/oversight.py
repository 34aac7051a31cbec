"""The house's oversight of bidding, over HTTP: cancelling a buyer's bids on a lot for cause
(auction.cancellations), and the shill monitor's scores of a sale's bidders (auction.engine.shill; shills.py,
which also sends them live on the websocket).

Who may call each route is access.HTTP_RULES's to say. A cancellation the engine refuses is answered 409 with the
engine's reason (`lot_closed`, `lot_not_open`, `no_bids`, `stale`), in a body of its own that names the lot and the
buyer; bad input is a 400 naming the field, as everywhere.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec
from aiohttp import web

from auction import catalog
from auction.cancellations import cancel_for_cause
from auction.engine.messages import Rejected, RejectReason
from auction.engine.shill import ShillReport
from auction.engine.views import LotView, lot_view
from auction.gateway.fanout import now_ms
from auction.gateway.protocol import Paddle
from auction.gateway.shills import ShillMonitor
from auction.httpkit import MAX_ID, ApiError, Caller, ErrorBody, Reply, Route, caller_of, int_param, json_body, reply
from auction.identity import Account
from auction.store import Accepted, LotStore

# Why the house cancels a buyer's bids: kept on the record (the BidsCancelled event) and on the audit log.
CauseReason = Annotated[str, msgspec.Meta(min_length=3, max_length=500)]

_REFUSALS: dict[str, str] = {
    "lot_closed": "the lot is closed: a closed lot is re-awarded by settlement, not cancelled here",
    "lot_not_open": "the lot is not open: nobody has bid on it yet",
    "no_bids": "that buyer has no bid standing on the lot (none, or struck already)",
    "stale": "the lot kept moving while its record was read; try again",
}


class CancelBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Whose bids to cancel, by `bidder` (the company id, as the record feed names it) or by `paddle` (as the room
    knows them): one of the two. `reason` is kept on the record and on the audit log."""

    reason: CauseReason
    bidder: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)] | None = None
    paddle: Paddle | None = None


class BidsCancelledReply(msgspec.Struct, frozen=True):
    """Done: the buyer's bids are struck and the lot stands as `lot_state` says (its watchers saw `revised`)."""

    sale: int
    lot: int
    bidder: int
    seq: int
    lot_state: LotView


class CancellationRefused(msgspec.Struct, frozen=True):
    """The engine refused the cancellation: `reason` is its word for why, `message` says it for people."""

    sale: int
    lot: int
    bidder: int
    reason: RejectReason
    message: str


def account_of(caller: Caller) -> Account:
    """The operator a signed-in caller is (the access table let only operators this far)."""
    assert caller.role != "anonymous"
    return Account(caller.account, "", caller.name, caller.role, caller.company, caller.consignor)


class OversightApi:
    def __init__(self, pg: asyncpg.Pool, store: LotStore, shills: ShillMonitor) -> None:
        self._pg = pg
        self._store = store
        self._shills = shills

    async def cancel(self, request: web.Request) -> web.Response:
        at_ms = now_ms()
        sale = int_param(request.match_info["sale"], "sale")
        lot = int_param(request.match_info["lot"], "lot", maximum=2**31 - 1)
        body = await json_body(request, CancelBody)
        bidder = await self._bidder(sale, body)
        if await self._store.state(sale, lot) is None:
            raise ApiError("not_found", "lot", f"sale {sale} has no lot {lot}")
        outcome = await cancel_for_cause(
            self._pg, self._store, sale, lot, bidder, body.reason, account_of(caller_of(request)), at_ms
        )
        if isinstance(outcome, Accepted):
            return reply(BidsCancelledReply(sale, lot, bidder, outcome.state.seq, lot_view(outcome.state)))
        return _refused(sale, lot, bidder, outcome)

    async def shill_scores(self, request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        report = await self._shills.report(sale)
        if report is None:
            raise ApiError("not_found", "sale", f"no sale {sale}")
        return reply(report)

    async def _bidder(self, sale: int, body: CancelBody) -> int:
        """The company whose bids are meant: given, or the one the sale's registrations gave the paddle."""
        if (body.bidder is None) == (body.paddle is None):
            raise ApiError("invalid", "bidder", "name the buyer by `bidder` (company id) or by `paddle`: one of them")
        if body.bidder is not None:
            return body.bidder
        assert body.paddle is not None
        company = await catalog.company_with_paddle(self._pg, sale, body.paddle)
        if company is None:
            raise ApiError("not_found", "paddle", f"nobody holds paddle {body.paddle} in sale {sale}")
        return company

    def routes(self) -> list[Route]:
        bad = Reply("A parameter or the body is invalid; `field` names it", ErrorBody)
        who = Reply("No credentials, or a token that is invalid, expired or revoked", ErrorBody)
        role = Reply("Your role may not do this (code not_allowed)", ErrorBody)
        return [
            Route("POST", "/api/sales/{sale}/lots/{lot}/cancellations", self.cancel,
                  "Cancel a buyer's bids on an open lot for cause, with a reason: the engine recomputes the lot from "
                  "everyone else's bids, on the record; watchers see `revised`",
                  {200: Reply("Cancelled; the lot as it stands now", BidsCancelledReply), 400: bad, 401: who,
                   403: role, 404: Reply("No such lot, or nobody holds the paddle; `field` says which", ErrorBody),
                   409: Reply("The engine refused it: reason lot_closed, lot_not_open, no_bids or stale",
                              CancellationRefused),
                   503: Reply("The engine or the database is unavailable; try again", ErrorBody)},
                  body=CancelBody, secured=True, tags=("oversight",)),
            Route("GET", "/api/sales/{sale}/shill-scores", self.shill_scores,
                  "The shill monitor: each bidder's score (0 to 100) and its signals, each explained, from the sale's "
                  "record; flagged at or above the threshold (a setting). Live on the websocket: watch_shill_scores",
                  {200: Reply("Every bidder who has bid, highest score first", ShillReport), 400: bad, 401: who,
                   403: role, 404: Reply("No such sale", ErrorBody),
                   503: Reply("The database is unavailable; try again", ErrorBody)},
                  secured=True, tags=("oversight",)),
        ]  # fmt: skip


def _refused(sale: int, lot: int, bidder: int, refusal: Rejected) -> web.Response:
    if refusal.reason == "busy":
        raise ApiError("unavailable", None, "the engine is busy with this sale; try again")
    message = _REFUSALS.get(refusal.reason, f"the engine refused it: {refusal.reason}")
    return reply(CancellationRefused(sale, lot, bidder, refusal.reason, message), 409)
