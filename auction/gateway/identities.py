"""Who is calling: the credentials a request carries, and the callers, paddles and own lots they stand for; and
who holds a paddle, for the clerk.

A bearer token (the `Authorization` header, or `?token=` for browsers' websockets) or the session cookie names
an account with a role; no token is an anonymous caller; a malformed header is BadToken, and a tampered,
expired or revoked token is identity.TokenRefused (`token_invalid`, `token_expired`, `token_revoked`). Answers
come from PostgreSQL, cached for a few seconds; while PostgreSQL is out of reach, from the last answer it gave
(lookups.ask_pg): a token refused before the outage stays refused; one that expires during it is refused as
expired.

A paddle is cached, and so, briefly, is the lack of one; but a company that has none cached is looked for in the
standing the engine reads (in Redis) before it is refused. Vetting writes that standing when it approves a
registration, before the approval is answered, so the company's next bid finds its paddle on every gateway at
once (issue 12, finding 4: it used to be refused `not_registered` for the cache's 5 s). That needs no message
between gateways, so none can be lost, and whoever approved (the API, the CLI, the demo) is heard the same way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import asyncpg
import msgspec
from aiohttp import web

from auction import catalog, identity
from auction.engine.standing import BidderStanding
from auction.gateway.lookups import TtlCache, ask_pg
from auction.httpkit import ANONYMOUS, Caller, Via
from auction.store import StoreUnavailable

IDENTITY_TTL_S = 30.0
TOKEN_TTL_S = 5.0  # how long a token's answer is cached: the longest a revoked token works on another gateway
NO_PADDLE_TTL_S = 5.0  # a bidder registered just now should not wait long to be let in

SESSION_COOKIE = "auction_session"

StandingReader = Callable[[int, int], Awaitable[BidderStanding | None]]  # (sale, company): LotStore.standing


class BadToken(Exception):
    """An Authorization header that is not `Bearer <token>`."""


def credentials_of(request: web.Request) -> tuple[str | None, Via]:
    """The token a request carries: `Authorization: Bearer`, else `?token=` (websockets from browsers), else the
    session cookie."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BadToken("Authorization must be 'Bearer <token>'")
        return token.strip(), "bearer"
    query = request.query.get("token") or None
    if query is not None:
        return query, "bearer"
    cookie = request.cookies.get(SESSION_COOKIE) or None
    return cookie, "cookie" if cookie else "none"


class SignedIn(NamedTuple):
    """A token PostgreSQL accepted: whose it is, and until when (epoch seconds) it may be used."""

    caller: Caller
    expires_s: float


TokenAnswer = SignedIn | identity.TokenRefused


class Identities:
    """Tokens to callers, and callers' paddles and own lots per sale, looked up in PostgreSQL, cached briefly.

    A token's answer (caller or refusal) is cached for `token_ttl_s` (TOKEN_TTL_S): a revoked token stops
    working at once on the gateway that revoked it, and within TOKEN_TTL_S on every other one. While PostgreSQL
    is unreachable each lookup answers from the last answer PostgreSQL gave (ask_pg), so the callers and bidders
    this gateway knows go on bidding; a lookup with no such answer raises DatabaseUnavailable."""

    def __init__(
        self,
        pg: asyncpg.Pool,
        ttl_s: float = IDENTITY_TTL_S,
        token_ttl_s: float = TOKEN_TTL_S,
        standings: StandingReader | None = None,
    ) -> None:
        self._pg = pg
        self._standings = standings
        self._ttl_s = ttl_s
        self._token_ttl_s = token_ttl_s
        self._callers: TtlCache[str, TokenAnswer] = TtlCache()
        self._paddles: TtlCache[tuple[int, int], int | None] = TtlCache()
        self._holders: TtlCache[tuple[int, int], int | None] = TtlCache()
        self._own_lots: TtlCache[tuple[int, int], frozenset[int]] = TtlCache()

    async def caller(self, token: str | None, via: Via = "bearer") -> Caller:
        """The caller a token names; ANONYMOUS without one. Raises identity.TokenRefused, DatabaseUnavailable."""
        if token is None:
            return ANONYMOUS
        answer = await ask_pg(
            self._callers, token, lambda: self._authenticate(token), lambda _: self._token_ttl_s, "checking a token"
        )
        if isinstance(answer, identity.TokenRefused):
            raise answer
        if answer.expires_s <= time.time():  # PostgreSQL would say so too; while it is down, nobody else does
            raise identity.TokenRefused("token_expired", "this token has expired: log in again or issue a new one")
        caller = answer.caller
        return caller if caller.via == via else msgspec.structs.replace(caller, via=via)

    async def expires_s(self, token: str) -> float:
        """Until when (epoch seconds) a token that `caller` accepted may be used: when its websockets close.
        Raises identity.TokenRefused, DatabaseUnavailable."""
        answer = await ask_pg(
            self._callers, token, lambda: self._authenticate(token), lambda _: self._token_ttl_s, "checking a token"
        )
        if isinstance(answer, identity.TokenRefused):
            raise answer
        return answer.expires_s

    async def _authenticate(self, token: str) -> TokenAnswer:
        try:
            credential = await identity.authenticate(self._pg, token)
        except identity.TokenRefused as exc:
            return exc
        a = credential.account
        caller = Caller(a.role, a.id, a.name, a.company_id, a.consignor_id, credential.token_id, "bearer")
        return SignedIn(caller, credential.expires_at.timestamp())

    async def from_request(self, request: web.Request) -> Caller:
        """Raises BadToken, identity.TokenRefused or DatabaseUnavailable."""
        token, via = credentials_of(request)
        return await self.caller(token, via)

    def forget_tokens(self) -> None:
        """After a revocation on this gateway: no cached answer outlives it here."""
        self._callers.clear()

    def forget_token(self, token_id: int) -> None:
        """A revocation told by any gateway (revocations.py): this token's cached answer goes, and only its, so
        that a logout doesn't send every other caller's next request to PostgreSQL."""
        self._callers.discard_if(lambda answer: isinstance(answer, SignedIn) and answer.caller.token_id == token_id)

    def cached_paddle(self, caller: Caller, sale: int) -> tuple[bool, int | None]:
        """(True, paddle) when known without asking PostgreSQL; (False, None) when `paddle` must look it up. The lack
        of a paddle is never known here: `paddle` looks for a registration approved since (the module's doc)."""
        if caller.role != "buyer" or caller.company is None:
            return True, None
        known, paddle = self._paddles.get((sale, caller.company))
        return (True, paddle) if known and paddle is not None else (False, None)

    async def paddle(self, caller: Caller, sale: int) -> int | None:
        """The caller's paddle in the sale; None if they have none. Raises DatabaseUnavailable.

        While PostgreSQL is down only a paddle stands in for an answer, not the lack of one: "no paddle" is
        kept briefly on purpose (NO_PADDLE_TTL_S), and one from before a registration would refuse a bidder
        the engine, which reads the standing in Redis, would let bid."""
        company = caller.company
        if caller.role != "buyer" or company is None:
            return None
        paddle = await ask_pg(
            self._paddles,
            (sale, company),
            lambda: catalog.paddle_of(self._pg, sale, company),
            lambda paddle: self._ttl_s if paddle else min(self._ttl_s, NO_PADDLE_TTL_S),
            "looking up a paddle",
            stands_in=lambda paddle: paddle is not None,
        )
        return paddle if paddle is not None else await self._registered_since(sale, company)

    async def _registered_since(self, sale: int, company: int) -> int | None:
        """The paddle of a registration approved since "no paddle" was cached, from the standing vetting published
        (a paddle there is an approved registration's); None if there is none, or Redis can't say."""
        if self._standings is None:
            return None
        try:
            standing = await self._standings(sale, company)
        except StoreUnavailable:
            return None  # the bid can't be placed either; the cached answer stands
        if standing is None or not standing.paddle:
            return None
        self._paddles.put((sale, company), standing.paddle, self._ttl_s)
        return standing.paddle

    async def holder(self, sale: int, paddle: int) -> int | None:
        """The company holding `paddle` in the sale (for a clerk's floor, phone or commission bid); None if nobody
        does. Raises DatabaseUnavailable. Cached like a caller's own paddle, and for the same reasons."""
        return await ask_pg(
            self._holders,
            (sale, paddle),
            lambda: catalog.company_with_paddle(self._pg, sale, paddle),
            lambda company: self._ttl_s if company else min(self._ttl_s, NO_PADDLE_TTL_S),
            "looking up who holds a paddle",
            stands_in=lambda company: company is not None,
        )

    async def own_lots(self, caller: Caller, sale: int) -> frozenset[int]:
        """The lots of `sale` that a consignor caller consigned (empty for anyone else). Raises
        DatabaseUnavailable."""
        consignor = caller.consignor
        if caller.role != "consignor" or consignor is None:
            return frozenset()
        return await ask_pg(
            self._own_lots,
            (sale, consignor),
            lambda: self._consigned(sale, consignor),
            lambda _: self._ttl_s,
            "looking up a consignor's lots",
        )

    async def _consigned(self, sale: int, consignor: int) -> frozenset[int]:
        rows = await self._pg.fetch("SELECT lot_no FROM lots WHERE sale_id = $1 AND consignor_id = $2", sale, consignor)
        return frozenset(row["lot_no"] for row in rows)
