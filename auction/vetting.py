"""Buyer companies: applications, documents, decisions, per-sale registrations, and the audit log.

The flow (README "Roles and vetting"): a company applies with its representatives -> uploads documents -> an
operator decides (approve / reject / request_more / suspend / reinstate, always with a reason) -> a
representative asks to register for a sale -> an operator approves the registration with a paddle, a bidding
limit and a deposit requirement -> the deposit is recorded as received -> the company's representatives bid.

Which decision may follow which status is one table, `TRANSITIONS` (h11's style). Approval lasts 12 months.
A company from a sanctioned country (settings: AUCTION_SANCTIONED_COUNTRIES) is refused when it applies, and
can't be approved later either (the list may have grown in between).

What the engine needs to decide a bid (approved? suspended? registered? deposit in? limit? consignors of the
company?) is computed from PostgreSQL by `standing_of` and written to Redis by `publish_standing`, which every
change to any of those inputs calls (and `auction vetting resync` for everything at once). Publishing holds a
PostgreSQL advisory lock per (sale, company) from the read to the write, so two publishers can't leave an older
standing on top of a newer one.

Every operator action writes an `audit_log` row in the same transaction as the action itself.

Exceptions:

    VettingError          `code` and `field` say what was wrong; the gateway maps `code` to a status
     |- Refused           the request is well formed but the rules say no (sanctioned, not approved, ...)
     `- Conflict          it clashes with what exists (paddle taken, already registered, wrong status)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol, get_args

import asyncpg
import msgspec

from auction import identity
from auction.engine.standing import BidderStanding, Refusal
from auction.identity import Account

Decision = Literal["approve", "reject", "request_more", "suspend", "reinstate"]
CompanyStatus = Literal["pending", "more_requested", "approved", "rejected", "suspended"]
DocumentKind = Literal[
    "registration_certificate",
    "trade_licence",
    "bourse_membership",
    "bank_reference",
    "kimberley_process",
    "aml_policy",
    "identity",
    "other",
]

APPROVAL_PERIOD = timedelta(days=365)
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
DEPOSIT_BP_DEFAULT = 1000  # 10 % of the limit, as Rapaport asks
NO_LIMIT = 10**15  # a registration made by fiat (catalog.register) with no limit: far above any sale
STANDING_LOCK = 0x76657474  # "vett": the advisory-lock class of publish_standing

# (status now, decision) -> status after. Anything else is a Conflict naming the status.
TRANSITIONS: dict[tuple[CompanyStatus, Decision], CompanyStatus] = {
    ("pending", "approve"): "approved",
    ("pending", "reject"): "rejected",
    ("pending", "request_more"): "more_requested",
    ("more_requested", "approve"): "approved",
    ("more_requested", "reject"): "rejected",
    ("more_requested", "request_more"): "more_requested",
    ("approved", "approve"): "approved",  # a renewal: another 12 months
    ("approved", "suspend"): "suspended",
    ("approved", "reject"): "rejected",
    ("suspended", "reinstate"): "approved",
    ("suspended", "reject"): "rejected",
}


class VettingError(Exception):
    def __init__(self, code: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class Refused(VettingError):
    pass


class Conflict(VettingError):
    pass


# ---- the application ------------------------------------------------------------------------------------------

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=2000)]
Country = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, msgspec.Meta(min_length=identity.MIN_PASSWORD, max_length=200)]
Minor = Annotated[int, msgspec.Meta(ge=1, le=10**15)]
Paddle = Annotated[int, msgspec.Meta(ge=1, le=999_999)]


class Owner(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A beneficial owner above 25 %: `share_bp` in basis points (2501 to 10000)."""

    name: Text
    share_bp: Annotated[int, msgspec.Meta(ge=2501, le=10_000)]


class Representative(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An authorised representative: becomes a buyer account that logs in with this email and password."""

    name: Text
    email: Email
    password: Password


class Application(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    legal_name: Text
    registration_number: Text
    country: Country  # ISO 3166-1 alpha-2
    trade_licence: Text
    bank_reference: Text
    representatives: Annotated[list[Representative], msgspec.Meta(min_length=1, max_length=2)]
    kp_declaration: bool
    aml_declaration: bool
    owners: Annotated[list[Owner], msgspec.Meta(max_length=3)] = []
    bourse_membership: Text | None = None


class DecisionBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: Decision
    reason: Reason


class CompanyView(msgspec.Struct, frozen=True):
    id: int
    legal_name: str
    registration_number: str
    country: str
    trade_licence: str
    bourse_membership: str | None
    owners: list[Owner]
    bank_reference: str
    status: CompanyStatus
    approved_until_ms: int | None
    representatives: list[str]  # their names
    consignor_ids: list[int]


class DecisionView(msgspec.Struct, frozen=True):
    id: int
    decision: Decision
    reason: str
    status_after: CompanyStatus
    approved_until_ms: int | None
    decided_by: int | None
    decided_ms: int
    decided_by_system: str | None = None  # a decision the house's rules took (settlement), not an operator


class DocumentView(msgspec.Struct, frozen=True):
    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str  # hex
    uploaded_ms: int


class CompanyFile(msgspec.Struct, frozen=True):
    """Everything on record about a company: what it sent, what it uploaded, what was decided."""

    company: CompanyView
    documents: list[DocumentView]
    decisions: list[DecisionView]


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def application_problems(app: Application, sanctioned: frozenset[str]) -> list[tuple[str, str]]:
    """(field, message) for everything that makes an application unacceptable, before anything is stored."""
    problems = []
    if app.country in sanctioned:
        problems.append(("country", f"{app.country} is on the sanctions list: this company can't be approved"))
    if not app.kp_declaration:
        problems.append(("kp_declaration", "the Kimberley Process declaration must be made (true)"))
    if not app.aml_declaration:
        problems.append(("aml_declaration", "the anti-money-laundering declaration must be made (true)"))
    if sum(owner.share_bp for owner in app.owners) > 10_000:
        problems.append(("owners", "owners' shares add up to more than 100 %"))
    emails = [rep.email.lower() for rep in app.representatives]
    if len(set(emails)) != len(emails):
        problems.append(("representatives", "each representative needs an email of their own"))
    return problems


async def audit(
    conn: asyncpg.Connection | asyncpg.Pool,
    actor: Account | None,
    action: str,
    target: str,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (account_id, role, action, target, reason, details) VALUES ($1, $2, $3, $4, $5, $6)",
        actor.id if actor else None,
        actor.role if actor else "system",
        action,
        target,
        reason,
        msgspec.json.encode(details or {}).decode(),
    )


async def apply(
    pg: asyncpg.Pool, app: Application, sanctioned: frozenset[str], by: Account | None = None
) -> tuple[int, list[Account]]:
    """Store the application and its representatives' accounts; (company id, accounts). Refused at once, and
    nothing stored but an audit row, if `application_problems` finds anything (the first problem is named)."""
    problems = application_problems(app, sanctioned)
    if problems:
        field, message = problems[0]
        if field == "country":
            await audit(pg, by, "application_refused", f"country:{app.country}", message, {"name": app.legal_name})
        raise Refused("sanctioned" if field == "country" else "invalid", field, message)
    async with pg.acquire() as conn, conn.transaction():
        try:
            company_id: int = await conn.fetchval(
                "INSERT INTO companies (legal_name, registration_number, country, trade_licence, bourse_membership,"
                " owners, bank_reference, kp_declaration, aml_declaration) "
                "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9) RETURNING id",
                app.legal_name,
                app.registration_number,
                app.country,
                app.trade_licence,
                app.bourse_membership,
                msgspec.json.encode(app.owners).decode(),
                app.bank_reference,
                app.kp_declaration,
                app.aml_declaration,
            )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("conflict", "registration_number", "this company has applied already") from exc
        accounts = []
        for rep in app.representatives:
            try:
                accounts.append(
                    await identity.create_account(
                        conn, rep.email, rep.name, rep.password, "buyer", company_id=company_id
                    )
                )
            except identity.AccountProblem as exc:
                raise Conflict("conflict", f"representatives.{exc.field}", str(exc)) from exc
        if by is not None and by.is_operator:
            await audit(conn, by, "application_entered", f"company:{company_id}")
    return company_id, accounts


async def company_file(pg: asyncpg.Pool, company_id: int) -> CompanyFile | None:
    row = await pg.fetchrow(
        "SELECT c.*, owners::text AS owners_json, "
        "(SELECT coalesce(array_agg(name ORDER BY id), '{}') FROM accounts a WHERE a.company_id = c.id) AS reps, "
        "(SELECT coalesce(array_agg(consignor_id ORDER BY consignor_id), '{}') FROM consignor_links l "
        " WHERE l.company_id = c.id) AS consignors "
        "FROM companies c WHERE c.id = $1",
        company_id,
    )
    if row is None:
        return None
    view = CompanyView(
        row["id"], row["legal_name"], row["registration_number"], row["country"], row["trade_licence"],
        row["bourse_membership"], msgspec.json.decode(row["owners_json"], type=list[Owner]), row["bank_reference"],
        row["status"], _ms(row["approved_until"]), list(row["reps"]), list(row["consignors"]),
    )  # fmt: skip
    docs = await pg.fetch(
        "SELECT id, kind, filename, content_type, size, sha256, uploaded_at FROM company_documents "
        "WHERE company_id = $1 ORDER BY id",
        company_id,
    )
    decisions = await pg.fetch("SELECT * FROM company_decisions WHERE company_id = $1 ORDER BY id", company_id)
    return CompanyFile(
        view,
        [DocumentView(d["id"], d["kind"], d["filename"], d["content_type"], d["size"], d["sha256"].hex(),
                      _ms(d["uploaded_at"]) or 0) for d in docs],
        [DecisionView(d["id"], d["decision"], d["reason"], d["status_after"], _ms(d["approved_until"]),
                      d["decided_by"], _ms(d["decided_at"]) or 0, d["decided_by_system"]) for d in decisions],
    )  # fmt: skip


class CompanyRow(msgspec.Struct, frozen=True):
    id: int
    legal_name: str
    country: str
    status: CompanyStatus
    approved_until_ms: int | None


async def list_companies(pg: asyncpg.Pool, status: str | None = None) -> list[CompanyRow]:
    rows = await pg.fetch(
        "SELECT id, legal_name, country, status, approved_until FROM companies "
        "WHERE $1::text IS NULL OR status = $1 ORDER BY id",
        status,
    )
    return [CompanyRow(r["id"], r["legal_name"], r["country"], r["status"], _ms(r["approved_until"])) for r in rows]


# ---- documents ------------------------------------------------------------------------------------------------


async def add_document(
    pg: asyncpg.Pool, company_id: int, kind: str, filename: str, content_type: str, content: bytes, by: Account
) -> DocumentView:
    """Keep a document with its size and SHA-256. A document sent while more was requested puts the
    application back in the queue (pending)."""
    if kind not in get_args(DocumentKind):
        raise VettingError("invalid", "kind", f"kind must be one of {', '.join(get_args(DocumentKind))}")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise VettingError("too_large", "content", f"a document may be at most {MAX_DOCUMENT_BYTES} bytes")
    if not content:
        raise VettingError("invalid", "content", "the document is empty")
    sha = hashlib.sha256(content).digest()
    async with pg.acquire() as conn, conn.transaction():
        status = await conn.fetchval("SELECT status FROM companies WHERE id = $1 FOR UPDATE", company_id)
        if status is None:
            raise VettingError("not_found", "company", f"no company {company_id}")
        row = await conn.fetchrow(
            "INSERT INTO company_documents (company_id, kind, filename, content_type, size, sha256, content, "
            "uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, uploaded_at",
            company_id, kind, filename[:255], content_type[:255], len(content), sha, content, by.id,
        )  # fmt: skip
        if status == "more_requested":
            await conn.execute("UPDATE companies SET status = 'pending' WHERE id = $1", company_id)
        if by.is_operator:
            await audit(conn, by, "document_added", f"company:{company_id}", details={"document": row["id"]})
    return DocumentView(row["id"], kind, filename, content_type, len(content), sha.hex(), _ms(row["uploaded_at"]) or 0)


async def document(pg: asyncpg.Pool, company_id: int, document_id: int) -> tuple[str, str, bytes] | None:
    """(filename, content type, content) of one document of the company."""
    row = await pg.fetchrow(
        "SELECT filename, content_type, content FROM company_documents WHERE company_id = $1 AND id = $2",
        company_id,
        document_id,
    )
    return (row["filename"], row["content_type"], bytes(row["content"])) if row else None


# ---- decisions ------------------------------------------------------------------------------------------------


class StandingStore(Protocol):
    """What publishing needs of the store (auction.store.LotStore)."""

    async def set_standing(self, sale: int, standing: BidderStanding) -> None: ...


async def decide(
    pg: asyncpg.Pool,
    store: StandingStore | None,
    company_id: int,
    decision: Decision,
    reason: str,
    by: Account,
    sanctioned: frozenset[str],
    at: datetime | None = None,
) -> CompanyStatus:
    """Record an operator's decision and what it led to; publish the company's standing in every sale."""
    async with pg.acquire() as conn, conn.transaction():
        after = await _record_decision(conn, company_id, decision, reason, by, sanctioned, at or identity.now())
    if store is not None:
        await publish_company(pg, store, company_id)
    return after


async def decide_by_system(
    conn: asyncpg.Connection, company_id: int, decision: Decision, reason: str, system: str, at: datetime
) -> CompanyStatus | None:
    """A decision the house's own rules took, with no operator behind it (settlement suspends a buyer after two
    strikes in twelve months). Made in the caller's transaction, so it commits with what caused it. On record
    like an operator's, but honestly: `decided_by` is empty and `decided_by_system` names the rule's owner
    (`system`, e.g. "settlement"); the audit row has no account, role "system" and `details.system`.

    None, and nothing written, when there is no such company or the table doesn't allow the decision (already
    suspended, rejected). The caller publishes the standing once its transaction has committed."""
    try:
        return await _record_decision(conn, company_id, decision, reason, system, frozenset(), at)
    except VettingError:
        return None


async def _record_decision(
    conn: asyncpg.Connection,
    company_id: int,
    decision: Decision,
    reason: str,
    by: Account | str,
    sanctioned: frozenset[str],
    at: datetime,
) -> CompanyStatus:
    """`by`: the operator's account, or the name of the system that decided."""
    row = await conn.fetchrow("SELECT status, country FROM companies WHERE id = $1 FOR UPDATE", company_id)
    if row is None:
        raise VettingError("not_found", "company", f"no company {company_id}")
    after = TRANSITIONS.get((row["status"], decision))
    if after is None:
        raise Conflict("conflict", "decision", f"a company that is {row['status']} can't be given {decision!r}")
    if after == "approved" and row["country"] in sanctioned:
        raise Refused("sanctioned", "country", f"{row['country']} is on the sanctions list: can't be approved")
    until = at + APPROVAL_PERIOD if decision == "approve" else None
    await conn.execute(
        "UPDATE companies SET status = $2, approved_until = coalesce($3, approved_until) WHERE id = $1",
        company_id,
        after,
        until,
    )
    account, system = (None, by) if isinstance(by, str) else (by, None)
    await conn.execute(
        "INSERT INTO company_decisions (company_id, decision, reason, status_after, approved_until, decided_by,"
        " decided_by_system, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        company_id, decision, reason, after, until, account.id if account else None, system, at,
    )  # fmt: skip
    details: dict[str, Any] = {"status": after} | ({"system": system} if system else {})
    await audit(conn, account, f"company_{decision}", f"company:{company_id}", reason, details)
    return after


async def link_consignor(
    pg: asyncpg.Pool, store: StandingStore | None, company_id: int, consignor_id: int, reason: str, by: Account
) -> None:
    """Record that a consignor belongs to a buyer company: the company can't bid on that consignor's lots."""
    async with pg.acquire() as conn, conn.transaction():
        try:
            await conn.execute(
                "INSERT INTO consignor_links (consignor_id, company_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                consignor_id,
                company_id,
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise VettingError("not_found", "consignor_id", "no such company or consignor") from exc
        await audit(conn, by, "consignor_linked", f"company:{company_id}", reason, {"consignor": consignor_id})
    if store is not None:
        await publish_company(pg, store, company_id)


# ---- registrations --------------------------------------------------------------------------------------------


class RegistrationView(msgspec.Struct, frozen=True):
    sale: int
    company: int
    status: Literal["requested", "approved", "refused"]
    paddle: int | None
    limit: int | None
    deposit_required: int
    deposit_received: int
    reason: str


class ApproveRegistration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`deposit` defaults to 10 % of the limit; 0 means none is required."""

    paddle: Paddle
    limit: Minor
    deposit: Annotated[int, msgspec.Meta(ge=0, le=10**15)] | None = None
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class DepositBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount: Minor
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RefuseBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Reason


_REG_COLUMNS = "sale_id, company_id, status, paddle, bid_limit, deposit_required, deposit_received, reason"


def _registration(r: asyncpg.Record) -> RegistrationView:
    return RegistrationView(
        r["sale_id"], r["company_id"], r["status"], r["paddle"], r["bid_limit"], r["deposit_required"],
        r["deposit_received"], r["reason"],
    )  # fmt: skip


async def request_registration(pg: asyncpg.Pool, sale_id: int, by: Account) -> RegistrationView:
    """A representative asks to bid in a sale. Only an approved, unexpired company may ask."""
    assert by.company_id is not None
    status, until = await pg.fetchrow("SELECT status, approved_until FROM companies WHERE id = $1", by.company_id)
    if status != "approved":
        raise Refused("not_approved", "company", f"the company is {status}, not approved")
    if until is None or until <= identity.now():
        raise Refused("approval_expired", "company", "the company's approval has expired: ask for a renewal")
    if not await pg.fetchval("SELECT true FROM sales WHERE id = $1", sale_id):
        raise VettingError("not_found", "sale", f"no sale {sale_id}")
    row = await pg.fetchrow(
        "INSERT INTO registrations (sale_id, company_id, status, requested_by) VALUES ($1, $2, 'requested', $3) "
        f"ON CONFLICT (sale_id, company_id) DO NOTHING RETURNING {_REG_COLUMNS}",
        sale_id,
        by.company_id,
        by.id,
    )
    if row is None:
        raise Conflict("conflict", "sale", "the company has asked to register for this sale already")
    return _registration(row)


async def registrations(pg: asyncpg.Pool, sale_id: int, company_id: int | None = None) -> list[RegistrationView]:
    rows = await pg.fetch(
        f"SELECT {_REG_COLUMNS} FROM registrations WHERE sale_id = $1 AND ($2::bigint IS NULL OR company_id = $2) "
        "ORDER BY company_id",
        sale_id,
        company_id,
    )
    return [_registration(r) for r in rows]


async def _change_registration(
    pg: asyncpg.Pool,
    store: StandingStore | None,
    sale_id: int,
    company_id: int,
    sql: str,
    args: Sequence[Any],
    by: Account,
    action: str,
    reason: str,
    details: dict[str, Any],
) -> RegistrationView:
    async with pg.acquire() as conn, conn.transaction():
        try:
            row = await conn.fetchrow(sql + f" RETURNING {_REG_COLUMNS}", sale_id, company_id, *args)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("conflict", "paddle", f"paddle {args[0]} is taken in sale {sale_id}") from exc
        if row is None:
            raise VettingError("not_found", "company", f"company {company_id} has not asked to register")
        await audit(conn, by, action, f"sale:{sale_id}:company:{company_id}", reason, details)
    if store is not None:
        await publish_standing(pg, store, sale_id, company_id)
    return _registration(row)


async def approve_registration(
    pg: asyncpg.Pool, store: StandingStore | None, sale_id: int, company_id: int, body: ApproveRegistration, by: Account
) -> RegistrationView:
    deposit = body.limit * DEPOSIT_BP_DEFAULT // 10_000 if body.deposit is None else body.deposit
    return await _change_registration(
        pg, store, sale_id, company_id,
        "UPDATE registrations SET status = 'approved', paddle = $3, bid_limit = $4, deposit_required = $5, "
        "decided_by = $6, decided_at = now(), reason = $7 WHERE sale_id = $1 AND company_id = $2",
        (body.paddle, body.limit, deposit, by.id, body.reason), by, "registration_approved", body.reason,
        {"paddle": body.paddle, "limit": body.limit, "deposit_required": deposit},
    )  # fmt: skip


async def record_deposit(
    pg: asyncpg.Pool, store: StandingStore | None, sale_id: int, company_id: int, body: DepositBody, by: Account
) -> RegistrationView:
    return await _change_registration(
        pg, store, sale_id, company_id,
        "UPDATE registrations SET deposit_received = deposit_received + $3 WHERE sale_id = $1 AND company_id = $2",
        (body.amount,), by, "deposit_received", body.reason, {"amount": body.amount},
    )  # fmt: skip


async def refuse_registration(
    pg: asyncpg.Pool, store: StandingStore | None, sale_id: int, company_id: int, reason: str, by: Account
) -> RegistrationView:
    return await _change_registration(
        pg, store, sale_id, company_id,
        "UPDATE registrations SET status = 'refused', paddle = NULL, decided_by = $3, decided_at = now(), "
        "reason = $4 WHERE sale_id = $1 AND company_id = $2",
        (by.id, reason), by, "registration_refused", reason, {},
    )  # fmt: skip


# ---- the standing the engine decides on -----------------------------------------------------------------------


async def standing_of(db: asyncpg.Pool | asyncpg.Connection, sale_id: int, company_id: int) -> BidderStanding:
    row = await db.fetchrow(
        "SELECT c.status, c.approved_until, r.status AS reg, r.paddle, r.bid_limit, r.deposit_required, "
        "r.deposit_received, "
        "(SELECT coalesce(array_agg(consignor_id ORDER BY consignor_id), '{}') FROM consignor_links l "
        " WHERE l.company_id = c.id) AS consignors "
        "FROM companies c LEFT JOIN registrations r ON r.company_id = c.id AND r.sale_id = $1 WHERE c.id = $2",
        sale_id,
        company_id,
    )
    if row is None:
        return BidderStanding(company_id, 0, 0, "not_approved", 0, ())
    approved = row["reg"] == "approved"
    refusal: Refusal | None = None
    if row["status"] == "suspended":
        refusal = "suspended"
    elif row["status"] != "approved":
        refusal = "not_approved"
    elif not approved:
        refusal = "not_registered"
    elif row["deposit_received"] < row["deposit_required"]:
        refusal = "deposit_missing"
    return BidderStanding(
        bidder=company_id,
        paddle=row["paddle"] if approved else 0,
        limit=(row["bid_limit"] or NO_LIMIT) if approved else 0,
        refusal=refusal,
        approved_until_ms=_ms(row["approved_until"]) or 0,
        consignor_ids=tuple(row["consignors"]),
    )


async def publish_standing(pg: asyncpg.Pool, store: StandingStore, sale_id: int, company_id: int) -> BidderStanding:
    """Recompute a company's standing in a sale from PostgreSQL and write it where the engine reads it.

    Called after every change to its inputs. The advisory lock makes read-then-write one step among
    publishers: the standing left in Redis is always computed from the latest committed record."""
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", STANDING_LOCK, f"{sale_id}:{company_id}")
        standing = await standing_of(conn, sale_id, company_id)
        await store.set_standing(sale_id, standing)
    return standing


async def publish_company(pg: asyncpg.Pool, store: StandingStore, company_id: int) -> int:
    """Publish a company's standing in every sale it has asked to register for; how many that was."""
    sales = await pg.fetch("SELECT sale_id FROM registrations WHERE company_id = $1", company_id)
    for row in sales:
        await publish_standing(pg, store, row["sale_id"], company_id)
    return len(sales)


async def resync(pg: asyncpg.Pool, store: StandingStore, sale_id: int | None = None) -> int:
    """Publish every registration's standing (of one sale, or all): after a Redis loss, or to be sure."""
    rows = await pg.fetch(
        "SELECT sale_id, company_id FROM registrations WHERE $1::bigint IS NULL OR sale_id = $1", sale_id
    )
    for row in rows:
        await publish_standing(pg, store, row["sale_id"], row["company_id"])
    return len(rows)
