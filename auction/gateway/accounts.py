"""The HTTP routes of identity and vetting: login, sessions and tokens, accounts, companies and their documents
and decisions, per-sale registrations, the consignor's view of their lots, and the audit log.

Who may call each route is decided before the handler runs, by access.HTTP_RULES; a handler checks only whose
data it is (a buyer's own company, a consignor's own lots). Failures of auction.identity and auction.vetting
are translated to API errors here, once (`translated`), so a handler never builds a status itself.

The request bodies are declared here, at the edge, with their bounds (checked as a body is decoded); a handler
hands their fields to identity or vetting. The replies are vetting's own views where it has them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any, TypeVar, get_args

import asyncpg
import msgspec
from aiohttp import web

from auction import identity, vetting
from auction.catalog import LotListing, lot_listings
from auction.engine.views import LotView, lot_view
from auction.gateway.edge import Edge
from auction.gateway.identities import SESSION_COOKIE, Identities
from auction.gateway.revocations import Revocations
from auction.httpkit import (
    OCTETS,
    Amount,
    ApiError,
    Caller,
    ErrorBody,
    MoneyOrZero,
    Principal,
    Query,
    RecordId,
    Reply,
    Route,
    caller_of,
    int_param,
    json_body,
    raw_body,
    reply,
)
from auction.identity import Account, IssuedToken, Role, TokenInfo
from auction.store import LotStore

T = TypeVar("T")

MAX_FILENAME = 255  # a document's file name, as the table keeps it
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=2000)]  # an operator's reason for a decision
Minor = Amount  # an amount in minor units, within the protocol's bound
Paddle = Annotated[int, msgspec.Meta(ge=1, le=999_999)]


class LoginBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Me(msgspec.Struct, frozen=True):
    id: int
    email: str
    name: str
    role: Principal
    company_id: int | None
    consignor_id: int | None


class LoggedIn(msgspec.Struct, frozen=True):
    account: Me
    expires_ms: int


class TokenBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 90


class AccountBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An operator or consignor account, made by an admin (buyers come with their company's application)."""

    email: vetting.Email
    name: vetting.Text
    password: vetting.Password
    role: Role
    consignor_id: RecordId | None = None
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class AppliedRepresentative(msgspec.Struct, frozen=True):
    name: str
    email: str  # as it will be signed in with (auction.identity.normalise_email)
    role: Principal = "buyer"


class Applied(msgspec.Struct, frozen=True):
    """The same whatever exists already: no account ids, so that an application naming a taken email (flagged for
    a vetting officer, no account made) reads like any other (auction/vetting/duplicates.py)."""

    company: int
    status: vetting.CompanyStatus
    representatives: list[AppliedRepresentative]


class DuplicateResolution(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Reason


class DecisionBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: vetting.CompanyDecision
    reason: Reason


class LinkBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    consignor_id: RecordId
    reason: Reason


class ApproveRegistration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`deposit` defaults to 10 % of the limit; 0 means none is required."""

    paddle: Paddle
    limit: Minor
    deposit: MoneyOrZero | None = None
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class DepositBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A deposit received, by the bank's payment reference: sent again, it is recorded once."""

    amount: Minor
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RefuseBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Reason


class ConsignorLot(msgspec.Struct, frozen=True):
    """One of a consignor's lots: the catalogue and the live state as the public sees it (paddles, reserve met)."""

    listing: LotListing
    live: LotView | None


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    account_id: int | None
    role: str
    action: str
    target: str
    reason: str
    at_ms: int


def _me(account: Account) -> Me:
    return Me(account.id, account.email, account.name, account.role, account.company_id, account.consignor_id)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """identity's and vetting's exceptions, as API errors: the one place they are mapped."""
    try:
        yield
    except vetting.VettingError as exc:
        code: Any = exc.code if exc.code in ("sanctioned", "conflict", "not_found", "too_large") else None
        if code is None:
            code = "invalid" if exc.code == "invalid" else "refused"
        raise ApiError(code, exc.field, str(exc)) from exc
    except identity.AccountProblem as exc:
        code = "conflict" if exc.field in ("email", "representatives") else "invalid"
        raise ApiError(code, exc.field, str(exc)) from exc
    except identity.LoginThrottled as exc:
        raise ApiError("rate_limited", None, str(exc), retry_after=exc.retry_after_s) from exc
    except identity.LoginRefused as exc:
        raise ApiError("login_failed", None, str(exc)) from exc
    except identity.PasswordWorkBusy as exc:
        raise ApiError("busy", None, str(exc), retry_after=exc.retry_after_s) from exc


def _account_of(caller: Caller) -> Account:
    assert caller.role != "anonymous"
    return Account(caller.account, "", caller.name, caller.role, caller.company, caller.consignor)


def _own_company(caller: Caller, company: int) -> None:
    """A buyer may see and add to only their own company's file; operators any."""
    if caller.role == "buyer" and caller.company != company:
        raise ApiError("not_allowed", "company", "that is not your company")


class AccountsApi:
    def __init__(
        self,
        pg: asyncpg.Pool,
        store: LotStore,
        identities: Identities,
        sanctioned: frozenset[str],
        edge: Edge,
        revocations: Revocations,
    ) -> None:
        self.pg = pg
        self.edge = edge
        self.revocations = revocations
        self.store = store
        self.identities = identities
        self.sanctioned = sanctioned

    # ---- sessions and tokens ------------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        body = await json_body(request, LoginBody)
        with translated():
            account = await identity.login(self.pg, body.email, body.password, request.remote or "unknown")
        issued = await identity.issue_token(self.pg, account.id, "session")
        response = reply(LoggedIn(_me(account), issued.expires_ms))
        response.set_cookie(
            SESSION_COOKIE, issued.token, max_age=int(identity.SESSION_TTL.total_seconds()), httponly=True,
            samesite="Strict", secure=request.secure or self.edge.secure_cookies, path="/",
        )  # fmt: skip
        return response

    async def logout(self, request: web.Request) -> web.Response:
        caller = caller_of(request)
        await identity.revoke_token(self.pg, caller.token_id, caller.account)
        self.identities.forget_tokens()
        await self.revocations.publish(caller.token_id)  # the session's websockets close, on every gateway
        response = web.Response(status=204)
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def me(self, request: web.Request) -> web.Response:
        account = await identity.account(self.pg, caller_of(request).account)
        assert account is not None
        return reply(_me(account))

    async def tokens(self, request: web.Request) -> web.Response:
        return reply(await identity.tokens_of(self.pg, caller_of(request).account))

    async def new_token(self, request: web.Request) -> web.Response:
        body = await json_body(request, TokenBody)
        issued = await identity.issue_token(
            self.pg, caller_of(request).account, "api", timedelta(days=body.days), body.name
        )
        return reply(issued, 201)

    async def revoke(self, request: web.Request) -> web.Response:
        caller = caller_of(request)
        token_id = int_param(request.match_info["token"], "token")
        if not await identity.revoke_token(self.pg, token_id, None if caller.role == "admin" else caller.account):
            raise ApiError("not_found", "token", f"you have no token {token_id}")
        self.identities.forget_tokens()
        await self.revocations.publish(token_id)  # its websockets close, on every gateway
        if caller.role == "admin":
            await vetting.audit(self.pg, _account_of(caller), "token_revoked", f"token:{token_id}")
        return web.Response(status=204)

    async def new_account(self, request: web.Request) -> web.Response:
        body = await json_body(request, AccountBody)
        if body.role == "buyer":
            raise ApiError("invalid", "role", "buyers come with their company's application (POST /api/companies)")
        admin = _account_of(caller_of(request))
        with translated():
            password = await identity.hashed(body.password)  # before the transaction: no connection held meanwhile
            async with self.pg.acquire() as conn, conn.transaction():
                made = await identity.create_account(
                    conn, body.email, body.name, password, body.role, consignor_id=body.consignor_id
                )
                await vetting.audit(conn, admin, "account_created", f"account:{made.id}", body.reason,
                                    {"role": body.role})  # fmt: skip
        return reply(_me(made), 201)

    # ---- companies --------------------------------------------------------------------------------------------

    async def apply(self, request: web.Request) -> web.Response:
        body = await json_body(request, vetting.Application)
        caller = caller_of(request)
        by = _account_of(caller) if caller.role != "anonymous" else None
        with translated():
            company, _ = await vetting.apply(self.pg, body, self.sanctioned, by)
        if by is not None and caller.consignor is not None:  # a consignor applying for their own buyer company
            # with the store: companies tied to the new one are barred from the consignor's lots at once
            await vetting.link_consignor(self.pg, self.store, company, caller.consignor, "applied as a consignor", by)
        named = [AppliedRepresentative(r.name, identity.normalise_email(r.email)) for r in body.representatives]
        return reply(Applied(company, "pending", named), 201)

    async def companies(self, request: web.Request) -> web.Response:
        status = request.query.get("status")
        if status is not None and status not in get_args(vetting.CompanyStatus):
            raise ApiError("invalid", "status", f"status must be one of {', '.join(get_args(vetting.CompanyStatus))}")
        return reply(await vetting.list_companies(self.pg, status))

    async def company(self, request: web.Request) -> web.Response:
        company = int_param(request.match_info["company"], "company")
        _own_company(caller_of(request), company)
        found = await vetting.company_file(self.pg, company)
        if found is None:
            raise ApiError("not_found", "company", f"no company {company}")
        if caller_of(request).is_operator:  # never the buyer: it would tell them what else exists
            found = msgspec.structs.replace(found, duplicates=await vetting.duplicates_of(self.pg, company))
        return reply(found)

    async def resolve_duplicate(self, request: web.Request) -> web.Response:
        company = int_param(request.match_info["company"], "company")
        flag = int_param(request.match_info["flag"], "flag")
        body = await json_body(request, DuplicateResolution)
        with translated():
            made = await vetting.resolve_duplicate(
                self.pg, company, flag, body.reason, _account_of(caller_of(request)), identity.now()
            )
        return reply(made)

    async def add_document(self, request: web.Request) -> web.Response:
        company = int_param(request.match_info["company"], "company")
        caller = caller_of(request)
        _own_company(caller, company)
        kind = request.query.get("kind", "")
        filename = request.query.get("filename", "")
        if not filename or len(filename) > MAX_FILENAME:
            raise ApiError("invalid", "filename", f"filename is required (a query parameter), at most {MAX_FILENAME} "
                           "characters")  # fmt: skip
        with translated():  # refused before the body is read: a closed file or a full quota costs no upload
            await vetting.check_room(self.pg, company, _account_of(caller), request.content_length or 0)
        content = await raw_body(request, vetting.MAX_DOCUMENT_BYTES)
        with translated():
            doc = await vetting.add_document(
                self.pg, company, kind, filename, request.content_type or OCTETS, content, _account_of(caller)
            )
        return reply(doc, 201)

    async def get_document(self, request: web.Request) -> web.Response:
        company = int_param(request.match_info["company"], "company")
        _own_company(caller_of(request), company)
        document_id = int_param(request.match_info["document"], "document")
        found = await vetting.document(self.pg, company, document_id)
        if found is None:
            raise ApiError("not_found", "document", f"company {company} has no document {document_id}")
        filename, content_type, content = found
        safe = "".join(c for c in filename if c.isalnum() or c in "._-") or "document"
        return web.Response(
            body=content,
            content_type=content_type if "/" in content_type else OCTETS,
            headers={"Content-Disposition": f'attachment; filename="{safe}"', "X-Content-Type-Options": "nosniff"},
        )

    async def decide(self, request: web.Request) -> web.Response:
        company = int_param(request.match_info["company"], "company")
        body = await json_body(request, DecisionBody)
        with translated():
            status = await vetting.decide(
                self.pg, self.store, company, body.decision, body.reason, _account_of(caller_of(request)),
                self.sanctioned,
            )  # fmt: skip
        found = await vetting.company_file(self.pg, company)
        assert found is not None and found.company.status == status
        return reply(found)

    async def link(self, request: web.Request) -> web.Response:
        company = int_param(request.match_info["company"], "company")
        body = await json_body(request, LinkBody)
        with translated():
            await vetting.link_consignor(
                self.pg, self.store, company, body.consignor_id, body.reason, _account_of(caller_of(request))
            )
        found = await vetting.company_file(self.pg, company)
        return reply(found)

    # ---- registrations ------------------------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        with translated():
            made = await vetting.request_registration(self.pg, sale, _account_of(caller_of(request)))
        return reply(made, 201)

    async def registrations(self, request: web.Request) -> web.Response:
        sale = int_param(request.match_info["sale"], "sale")
        caller = caller_of(request)
        company = caller.company if caller.role == "buyer" else None
        return reply(await vetting.list_registrations(self.pg, sale, company))

    async def company_registrations(self, request: web.Request) -> web.Response:
        company = int_param(request.match_info["company"], "company")
        _own_company(caller_of(request), company)  # before the lookup: the same 403 whether or not it exists
        return reply(await vetting.company_registrations(self.pg, company))

    def _sale_company(self, request: web.Request) -> tuple[int, int]:
        return int_param(request.match_info["sale"], "sale"), int_param(request.match_info["company"], "company")

    async def approve_registration(self, request: web.Request) -> web.Response:
        sale, company = self._sale_company(request)
        body = await json_body(request, ApproveRegistration)
        with translated():
            made = await vetting.approve_registration(
                self.pg, self.store, sale, company, _account_of(caller_of(request)),
                paddle=body.paddle, limit=body.limit, deposit=body.deposit, reason=body.reason,
            )  # fmt: skip
        return reply(made)

    async def refuse_registration(self, request: web.Request) -> web.Response:
        sale, company = self._sale_company(request)
        body = await json_body(request, RefuseBody)
        with translated():
            made = await vetting.refuse_registration(
                self.pg, self.store, sale, company, body.reason, _account_of(caller_of(request))
            )
        return reply(made)

    async def deposit(self, request: web.Request) -> web.Response:
        sale, company = self._sale_company(request)
        body = await json_body(request, DepositBody)
        with translated():
            made = await vetting.record_deposit(
                self.pg, self.store, sale, company, _account_of(caller_of(request)), amount=body.amount,
                reference=body.reference, reason=body.reason,
            )  # fmt: skip
        return reply(made)

    # ---- consignors, audit --------------------------------------------------------------------------------

    async def consignor_lots(self, request: web.Request) -> web.Response:
        consignor = caller_of(request).consignor
        sales = await self.pg.fetch(
            "SELECT DISTINCT sale_id FROM lots WHERE consignor_id = $1 ORDER BY sale_id", consignor
        )
        entries: list[ConsignorLot] = []
        for row in sales:
            listings, states = await asyncio.gather(
                lot_listings(self.pg, row["sale_id"]), self.store.states(row["sale_id"])
            )
            views = {state.terms.lot: lot_view(state) for state in states}
            entries.extend(
                ConsignorLot(listing, views.get(listing.lot))
                for listing in listings
                if listing.consignor_id == consignor
            )
        return reply(entries)

    async def audit_log(self, request: web.Request) -> web.Response:
        after = int_param(request.query.get("after"), "after", minimum=0, default=0)
        rows = await self.pg.fetch(
            "SELECT id, account_id, role, action, target, reason, at FROM audit_log WHERE id > $1 "
            "ORDER BY id LIMIT 1000",
            after,
        )
        return reply(
            [AuditEntry(r["id"], r["account_id"], r["role"], r["action"], r["target"], r["reason"],
                        int(r["at"].timestamp() * 1000)) for r in rows]
        )  # fmt: skip

    # ---- the table --------------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        bad = Reply("A parameter or the body is invalid; `field` names it", ErrorBody)
        who = Reply("No credentials, or a token that is invalid, expired or revoked (the code says which)", ErrorBody)
        role = Reply("Your role may not do this, or it is not yours (code not_allowed)", ErrorBody)
        missing = Reply("No such thing; `field` names it", ErrorBody)
        clash = Reply("It clashes with what exists, or the rules refuse it; `field` names what", ErrorBody)
        ok = Reply("Done", media=None)
        c = "/api/companies/{company}"
        r = "/api/sales/{sale}/registrations"
        return [
            Route("POST", "/api/login", self.login, "Log in: a session cookie (HttpOnly, SameSite=Strict)",
                  {200: Reply("Logged in", LoggedIn), 400: bad, 401: Reply("Wrong email or password", ErrorBody),
                   429: Reply("Locked out after failed logins; retry_after says for how long", ErrorBody)},
                  body=LoginBody, tags=("identity",)),
            Route("POST", "/api/logout", self.logout, "Revoke the session or token this request carries",
                  {204: ok, 401: who}, secured=True, tags=("identity",)),
            Route("GET", "/api/me", self.me, "Who you are", {200: Reply("You", Me), 401: who}, secured=True,
                  tags=("identity",)),
            Route("GET", "/api/tokens", self.tokens, "Your sessions and API tokens (never their secrets)",
                  {200: Reply("Tokens", list[TokenInfo]), 401: who}, secured=True, tags=("identity",)),
            Route("POST", "/api/tokens", self.new_token, "A new API token for a program: the secret is shown once",
                  {201: Reply("The token", IssuedToken), 400: bad, 401: who}, body=TokenBody, secured=True,
                  tags=("identity",)),
            Route("DELETE", "/api/tokens/{token}", self.revoke, "Revoke one of your tokens (an admin: anyone's)",
                  {204: ok, 401: who, 404: missing}, secured=True, tags=("identity",)),
            Route("POST", "/api/accounts", self.new_account, "An operator or consignor account (admin)",
                  {201: Reply("The account", Me), 400: bad, 401: who, 403: role, 409: clash}, body=AccountBody,
                  secured=True, tags=("identity",)),
            Route("POST", "/api/companies", self.apply, "A buyer company applies, with its representatives",
                  {201: Reply("Applied; the representatives can log in", Applied), 400: bad, 403: role,
                   409: clash, 422: Reply("The country is sanctioned (code sanctioned, field country)", ErrorBody)},
                  body=vetting.Application, tags=("vetting",)),
            Route("GET", "/api/companies", self.companies, "Companies, optionally ?status=pending|... (operators)",
                  {200: Reply("Companies", list[vetting.CompanyRow]), 400: bad, 401: who, 403: role}, secured=True,
                  tags=("vetting",), query=(Query("status", "Only these", choices=get_args(vetting.CompanyStatus)),)),
            Route("GET", c, self.company, "A company's file: application, documents, decisions",
                  {200: Reply("The file", vetting.CompanyFile), 401: who, 403: role, 404: missing}, secured=True,
                  tags=("vetting",)),
            Route("POST", f"{c}/documents", self.add_document,
                  "Upload a document: the body is its content (at most 5 MiB); ?kind=...&filename=... A buyer "
                  "uploads while the application is open (pending, more requested); a company keeps at most 20 "
                  "documents of 25 MiB in all",
                  {201: Reply("Kept, with its SHA-256", vetting.DocumentView), 400: bad, 401: who, 403: role,
                   404: missing, 409: Reply("The application is decided (field company) or the file holds its "
                                            "20 documents (field documents)", ErrorBody),
                   413: Reply("Over 5 MiB, or over the company's 25 MiB in all", ErrorBody)}, body_media=OCTETS,
                  secured=True, tags=("vetting",),
                  query=(Query("kind", "What it is", choices=get_args(vetting.DocumentKind)),
                         Query("filename", "Its file's name", max_length=MAX_FILENAME))),
            Route("GET", f"{c}/documents/{{document}}", self.get_document, "A document's content",
                  {200: Reply("The content", media=OCTETS), 401: who, 403: role, 404: missing}, secured=True,
                  tags=("vetting",)),
            Route("POST", f"{c}/duplicates/{{flag}}", self.resolve_duplicate,
                  "Resolve a duplicate flag of the company's application (a registration number or an email that "
                  "existed), saying what was found; a flagged company can't be approved until then",
                  {200: Reply("Resolved", vetting.DuplicateFlag), 400: bad, 401: who, 403: role, 404: missing,
                   409: clash}, body=DuplicateResolution, secured=True, tags=("vetting",)),
            Route("POST", f"{c}/decisions", self.decide,
                  "Approve, reject, request more, suspend or reinstate, with a reason",
                  {200: Reply("The file after the decision", vetting.CompanyFile), 400: bad, 401: who, 403: role,
                   404: missing, 409: clash, 422: Reply("Sanctioned country: can't be approved", ErrorBody)},
                  body=DecisionBody, secured=True, tags=("vetting",)),
            Route("GET", f"{c}/registrations", self.company_registrations,
                  "A company's registrations in every sale, newest first (a buyer: their own company's)",
                  {200: Reply("Registrations", list[vetting.RegistrationView]), 401: who, 403: role},
                  secured=True, tags=("registration",)),
            Route("POST", f"{c}/consignors", self.link, "Link a consignor to the company: it can't bid on their lots",
                  {200: Reply("The file", vetting.CompanyFile), 400: bad, 401: who, 403: role, 404: missing},
                  body=LinkBody, secured=True, tags=("vetting",)),
            Route("POST", r, self.register, "Ask to register your company for a sale",
                  {201: Reply("Asked", vetting.RegistrationView), 401: who, 403: role, 404: missing, 409: clash},
                  secured=True, tags=("registration",)),
            Route("GET", r, self.registrations, "A sale's registrations (a buyer: their own)",
                  {200: Reply("Registrations", list[vetting.RegistrationView]), 401: who, 403: role}, secured=True,
                  tags=("registration",)),
            Route("POST", f"{r}/{{company}}/approval", self.approve_registration,
                  "Approve with a paddle, a limit and a deposit (default 10 % of the limit)",
                  {200: Reply("Approved", vetting.RegistrationView), 400: bad, 401: who, 403: role, 404: missing,
                   409: Reply("The paddle is taken in this sale", ErrorBody)},
                  body=ApproveRegistration, secured=True, tags=("registration",)),
            Route("POST", f"{r}/{{company}}/refusal", self.refuse_registration, "Refuse a registration, with a reason",
                  {200: Reply("Refused", vetting.RegistrationView), 400: bad, 401: who, 403: role, 404: missing},
                  body=RefuseBody, secured=True, tags=("registration",)),
            Route("POST", f"{r}/{{company}}/deposit", self.deposit,
                  "Record a deposit received, once per payment reference (sent again: answered as before); "
                  "more than required shows as deposit_over (settlement officer)",
                  {200: Reply("Recorded", vetting.RegistrationView), 400: bad, 401: who, 403: role, 404: missing,
                   409: Reply("The reference was recorded with another amount or sale (field reference)",
                              ErrorBody)},
                  body=DepositBody, secured=True, tags=("registration",)),
            Route("GET", "/api/consignor/lots", self.consignor_lots, "Your own lots, live (consignors)",
                  {200: Reply("Lots", list[ConsignorLot]), 401: who, 403: role}, secured=True, tags=("consignor",)),
            Route("GET", "/api/audit", self.audit_log, "The audit log of operator actions (admin), ?after=<id>",
                  {200: Reply("Entries", list[AuditEntry]), 401: who, 403: role}, secured=True, tags=("audit",)),
        ]  # fmt: skip
