"""The HTTP routes of a live sale's console: a commission bid entered for a paddle, and the rostrum's view of the
sale (console.py). Who may call them is access.HTTP_RULES's to say; the rostrum's own messages are on the
websocket (rostrum.py), where the auctioneer and the clerk also watch the record feed.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from auction.engine.messages import Rejected
from auction.gateway.console import RostrumView, rostrum_view
from auction.gateway.fanout import Hub, now_ms
from auction.gateway.protocol import MAX_FRAME_BYTES, Amount, BidRejected, ClientId, Error, Paddle
from auction.gateway.rostrum import CommissionBid, RostrumDesk
from auction.httpkit import ApiError, ErrorBody, ErrorInfo, Reply, Route, caller_of, error_reply, int_param, json_body
from auction.httpkit import reply as json_reply
from auction.store import Accepted, LotStore


class AbsenteeBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A written or phone commission bid: up to `amount` for `paddle`; `client_id` is the clerk's, and sending it
    again gets the first answer."""

    paddle: Paddle
    amount: Amount
    client_id: ClientId


class AbsenteeEntered(msgspec.Struct, frozen=True):
    """The commission bid is in the lot's absentee book; it executes when the lot opens. `seq`: the lot's after it."""

    client_id: str
    sale: int
    lot: int
    seq: int
    paddle: int
    max_amount: int


class RostrumApi:
    def __init__(self, store: LotStore, hub: Hub, rostrum: RostrumDesk) -> None:
        self._store = store
        self._hub = hub
        self._rostrum = rostrum

    async def absentee(self, request: web.Request) -> web.Response:
        received_ms = now_ms()
        sale = int_param(request.match_info["sale"], "sale")
        lot = int_param(request.match_info["lot"], "lot", maximum=2**31 - 1)
        body = await json_body(request, AbsenteeBody, MAX_FRAME_BYTES)
        bid = CommissionBid(sale, lot, body.paddle, body.amount, body.client_id, received_ms)
        outcome = await self._rostrum.enter_commission(caller_of(request), bid)
        match outcome:
            case Error():
                info = ErrorInfo(outcome.code, outcome.field, outcome.message, None, bid.client_id, sale, lot)
                return error_reply(info)
            case Rejected():
                # Refused for the paddle's buyer or by the lot's rules, never for the clerk: 409 either way.
                return json_reply(BidRejected(bid.client_id, sale, lot, outcome.reason, outcome.next_amount), 409)
            case Accepted():
                return json_reply(_entered(bid, outcome))

    async def view(self, request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        view = await rostrum_view(self._store, sale, self._hub.watching(sale), now_ms())
        if view is None:
            raise ApiError("not_found", "sale", f"no sale {sale}")
        if not view.lots:
            raise ApiError("refused", "sale", f"sale {sale} is not a live sale: it has no rostrum")
        return json_reply(view)

    def routes(self) -> list[Route]:
        bad = Reply("A parameter or the body is invalid; `field` names it", ErrorBody)
        return [
            Route("POST", "/api/sales/{sale}/lots/{lot}/absentee", self.absentee,
                  "Enter a written or phone commission (absentee) bid for a paddle, before the lot opens",
                  {200: Reply("In the lot's absentee book", AbsenteeEntered), 400: bad,
                   401: Reply("No or unknown token", ErrorBody), 403: Reply("Not the auctioneer or clerk", ErrorBody),
                   404: Reply("No such lot, or nobody holds the paddle (field paddle)", ErrorBody),
                   409: Reply("Refused by the engine (the paddle's standing or limit, the lot's rules), or the sale "
                              "is not live (error refused)", BidRejected),
                   413: Reply("Body over 4 KiB", ErrorBody),
                   503: Reply("Outcome unknown; resend with the same client_id", ErrorBody)},
                  body=AbsenteeBody, secured=True),
            Route("GET", "/api/sales/{sale}/rostrum", self.view,
                  "A live sale at the rostrum's console: the lot on the block, each lot's ask, lead, waiting online "
                  "bid, commission bar, absentee book and possible missed bids, and how many are watching",
                  {200: Reply("The console's view", RostrumView), 400: bad,
                   401: Reply("No or unknown token", ErrorBody), 403: Reply("Not an operator", ErrorBody),
                   404: Reply("No such sale", ErrorBody), 409: Reply("Not a live sale", ErrorBody)},
                  secured=True),
        ]  # fmt: skip


def _entered(bid: CommissionBid, outcome: Accepted) -> AbsenteeEntered:
    return AbsenteeEntered(bid.client_id, bid.sale, bid.lot, outcome.state.seq, bid.paddle, bid.amount)
