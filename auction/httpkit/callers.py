"""Who is on the other end of a request: resolved once by the gateway's `authorise` middleware, read by any
handler (the gateway's or settlement's) with `caller_of`."""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web

from auction.identity import OPERATOR_ROLES

Via = Literal["none", "bearer", "cookie"]
Principal = Literal[
    "anonymous", "buyer", "consignor", "vetting_officer", "auctioneer", "clerk", "settlement_officer", "admin"
]


class Caller(msgspec.Struct, frozen=True):
    """Who is on the other end. For a buyer `company` is the bidder the engine knows; `account` the person."""

    role: Principal = "anonymous"
    account: int = 0
    name: str = ""
    company: int | None = None
    consignor: int | None = None
    token_id: int = 0
    via: Via = "none"

    @property
    def is_operator(self) -> bool:
        return self.role in OPERATOR_ROLES


ANONYMOUS = Caller()
CALLER_KEY = web.RequestKey("caller", Caller)  # where the `authorise` middleware leaves the request's Caller


def caller_of(request: web.Request) -> Caller:
    caller: Caller = request.get(CALLER_KEY, ANONYMOUS)
    return caller
