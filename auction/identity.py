"""Accounts, passwords, sessions and API tokens, and the login throttle. PostgreSQL holds all of it.

Roles: `buyer` (a representative of a buyer company; at most two per company), `consignor` (linked to a
consignors row), and the operator roles `vetting_officer`, `auctioneer`, `clerk` (the auctioneer's clerk at a live
sale's console), `settlement_officer`, `admin`.

Passwords are hashed with argon2id (argon2-cffi's defaults: RFC 9106's low-memory profile), in a worker thread
so a login never stalls the event loop. Sessions (browser cookies) and API tokens are both random secrets of
32 bytes; only their SHA-256 is stored, so a database dump does not let anyone in. A token that is unknown
(tampered, made up) is `token_invalid`; past its expiry `token_expired`; revoked `token_revoked`.

Login throttle: failures are counted per account and per client address; from the 5th failure on an account
(the 20th from an address, which may be a whole office behind one NAT) further attempts are locked out for
30 s, doubling with each further failure up to an hour. A success clears the account's count, not the
address's. Failures older than 15 minutes are forgotten. Unknown accounts cost the same hash as known ones.

Exceptions:

    IdentityError
     |- LoginRefused        wrong email or password (never says which)
     |- LoginThrottled      locked out for `retry_after_s`
     |- TokenRefused        `code`: token_invalid | token_expired | token_revoked
     `- AccountProblem      a bad account to create: `field` names what, e.g. a third representative
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

import asyncpg
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["buyer", "consignor", "vetting_officer", "auctioneer", "clerk", "settlement_officer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
OPERATOR_ROLES: frozenset[Role] = frozenset({"vetting_officer", "auctioneer", "clerk", "settlement_officer", "admin"})
TokenKind = Literal["session", "api"]
TokenCode = Literal["token_invalid", "token_expired", "token_revoked"]

MAX_REPRESENTATIVES = 2
MIN_PASSWORD = 12
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
SESSION_TTL = timedelta(hours=12)
API_TOKEN_TTL = timedelta(days=90)
API_TOKEN_TTL_MAX = timedelta(days=365)
TOKEN_PREFIX = "dat_"

ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 20
LOCKOUT_BASE_S = 30
LOCKOUT_MAX_S = 3600
FAILURE_WINDOW = timedelta(minutes=15)

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("an account that does not exist")


class IdentityError(Exception):
    pass


class LoginRefused(IdentityError):
    pass


class LoginThrottled(IdentityError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class TokenRefused(IdentityError):
    def __init__(self, code: TokenCode, message: str) -> None:
        super().__init__(message)
        self.code: TokenCode = code


class AccountProblem(IdentityError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Account(msgspec.Struct, frozen=True):
    id: int
    email: str
    name: str
    role: Role
    company_id: int | None = None
    consignor_id: int | None = None

    @property
    def is_operator(self) -> bool:
        return self.role in OPERATOR_ROLES


class Credential(msgspec.Struct, frozen=True):
    """Who a token names, and which token it is (so that logout can revoke exactly this one)."""

    account: Account
    token_id: int
    kind: TokenKind
    expires_at: datetime


def now() -> datetime:
    return datetime.now(UTC)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# ---- passwords ------------------------------------------------------------------------------------------------


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not there is a hash, so timing doesn't reveal which emails exist."""

    def check() -> bool:
        try:
            return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


# ---- accounts -------------------------------------------------------------------------------------------------

_ACCOUNT_COLUMNS = "id, email, name, role, company_id, consignor_id"


def _account(row: asyncpg.Record) -> Account:
    return Account(row["id"], row["email"], row["name"], row["role"], row["company_id"], row["consignor_id"])


async def create_account(
    db: asyncpg.Pool | asyncpg.Connection,
    email: str,
    name: str,
    password: str | None,
    role: Role,
    *,
    company_id: int | None = None,
    consignor_id: int | None = None,
) -> Account:
    """A new account. A buyer needs a company (with room for one more representative); a consignor a
    consignors row. `password` None: the account logs in only with API tokens issued for it."""
    if role == "buyer" and company_id is None:
        raise AccountProblem("company_id", "a buyer account belongs to a company")
    if role == "consignor" and consignor_id is None:
        raise AccountProblem("consignor_id", "a consignor account is linked to a consignor")
    if role not in ("buyer", "consignor") and (company_id or consignor_id):
        raise AccountProblem("role", "an operator belongs to no company and no consignor")
    if password is not None and len(password) < MIN_PASSWORD:
        raise AccountProblem("password", f"a password has at least {MIN_PASSWORD} characters")
    hashed = await hash_password(password) if password is not None else None
    if isinstance(db, asyncpg.Connection):
        return await _insert_account(db, email, name, hashed, role, company_id, consignor_id)
    async with db.acquire() as conn, conn.transaction():
        return await _insert_account(conn, email, name, hashed, role, company_id, consignor_id)


async def create_first_admin(pg: asyncpg.Pool, email: str, name: str, password: str) -> Account:
    """The house's first admin, from the command line: every later account is made by an admin over HTTP.
    Refused once any admin exists, so the command can't be used to add operators behind the admins' backs."""
    async with pg.acquire() as conn, conn.transaction():
        # Serialises two bootstraps run at once: the second sees the first's admin and is refused.
        await conn.execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
        if await conn.fetchval("SELECT 1 FROM accounts WHERE role = 'admin' AND NOT disabled"):
            raise AccountProblem("role", "an admin exists already; admins create accounts over HTTP")
        if not re.match(EMAIL_PATTERN, email.strip()):
            raise AccountProblem("email", f"{email!r} is not an email address")
        if len(password) < MIN_PASSWORD:
            raise AccountProblem("password", f"a password has at least {MIN_PASSWORD} characters")
        return await _insert_account(conn, email, name, await hash_password(password), "admin", None, None)


async def _insert_account(
    conn: asyncpg.Connection,
    email: str,
    name: str,
    hashed: str | None,
    role: Role,
    company_id: int | None,
    consignor_id: int | None,
) -> Account:
    if role == "buyer":
        # The company row is locked, so two representatives added at once can't both be the second.
        await conn.execute("SELECT 1 FROM companies WHERE id = $1 FOR UPDATE", company_id)
        count = await conn.fetchval(
            "SELECT count(*) FROM accounts WHERE company_id = $1 AND role = 'buyer' AND NOT disabled", company_id
        )
        if count >= MAX_REPRESENTATIVES:
            raise AccountProblem("representatives", f"a company has at most {MAX_REPRESENTATIVES} representatives")
    try:
        row = await conn.fetchrow(
            "INSERT INTO accounts (email, name, password_hash, role, company_id, consignor_id) "
            f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_ACCOUNT_COLUMNS}",
            email.strip(),
            name,
            hashed,
            role,
            company_id,
            consignor_id,
        )
    except asyncpg.UniqueViolationError as exc:
        raise AccountProblem("email", f"an account with email {email!r} exists") from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise AccountProblem("company_id" if role == "buyer" else "consignor_id", "no such company/consignor") from exc
    return _account(row)


async def account(pg: asyncpg.Pool, account_id: int) -> Account | None:
    row = await pg.fetchrow(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = $1", account_id)
    return _account(row) if row else None


async def active_account_by_email(pg: asyncpg.Pool, email: str) -> Account | None:
    """The account that signs in with `email`, unless it is disabled: who a command-line operator says they are."""
    row = await pg.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE lower(email) = lower($1) AND NOT disabled", email.strip()
    )
    return _account(row) if row else None


# ---- tokens ---------------------------------------------------------------------------------------------------


class IssuedToken(msgspec.Struct, frozen=True):
    id: int
    token: str  # the secret: shown once, never stored
    kind: TokenKind
    expires_ms: int


async def issue_token(
    pg: asyncpg.Pool | asyncpg.Connection,
    account_id: int,
    kind: TokenKind,
    ttl: timedelta | None = None,
    name: str = "",
) -> IssuedToken:
    ttl = ttl or (SESSION_TTL if kind == "session" else API_TOKEN_TTL)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now() + min(ttl, API_TOKEN_TTL_MAX)
    token_id = await pg.fetchval(
        "INSERT INTO auth_tokens (account_id, kind, name, token_sha256, expires_at) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id",
        account_id,
        kind,
        name,
        digest(token),
        expires,
    )
    return IssuedToken(token_id, token, kind, int(expires.timestamp() * 1000))


async def authenticate(pg: asyncpg.Pool, token: str, at: datetime | None = None) -> Credential:
    """The account a token names, or TokenRefused saying why not."""
    row = await pg.fetchrow(
        f"SELECT t.id AS token_id, t.kind, t.expires_at, t.revoked_at, a.disabled, "
        f"{', '.join('a.' + c.strip() for c in _ACCOUNT_COLUMNS.split(','))} "
        "FROM auth_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.token_sha256 = $1",
        digest(token),
    )
    if row is None:
        raise TokenRefused("token_invalid", "no such token (mistyped, tampered with, or made up)")
    if row["revoked_at"] is not None:
        raise TokenRefused("token_revoked", "this token was revoked")
    if row["expires_at"] <= (at or now()):
        raise TokenRefused("token_expired", "this token has expired: log in again or issue a new one")
    if row["disabled"]:
        raise TokenRefused("token_revoked", "the account is disabled")
    return Credential(_account(row), row["token_id"], row["kind"], row["expires_at"])


class TokenInfo(msgspec.Struct, frozen=True):
    id: int
    kind: TokenKind
    name: str
    created_ms: int
    expires_ms: int
    revoked: bool


async def tokens_of(pg: asyncpg.Pool, account_id: int) -> list[TokenInfo]:
    rows = await pg.fetch(
        "SELECT id, kind, name, created_at, expires_at, revoked_at FROM auth_tokens WHERE account_id = $1 ORDER BY id",
        account_id,
    )
    return [
        TokenInfo(
            r["id"], r["kind"], r["name"], _ms(r["created_at"]), _ms(r["expires_at"]), r["revoked_at"] is not None
        )
        for r in rows
    ]


async def revoke_token(pg: asyncpg.Pool, token_id: int, account_id: int | None) -> bool:
    """Revoke a token (of `account_id`, or anyone's when None: an admin). False if there is no such token."""
    done = await pg.fetchval(
        "UPDATE auth_tokens SET revoked_at = coalesce(revoked_at, now()) "
        "WHERE id = $1 AND ($2::bigint IS NULL OR account_id = $2) RETURNING id",
        token_id,
        account_id,
    )
    return done is not None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


# ---- login ----------------------------------------------------------------------------------------------------


def _lockout_s(failures: int, threshold: int) -> int:
    if failures < threshold:
        return 0
    return int(min(LOCKOUT_MAX_S, LOCKOUT_BASE_S * 2 ** (failures - threshold)))


async def _locked_for(pg: asyncpg.Pool, keys: list[str], at: datetime) -> int:
    until = await pg.fetchval("SELECT max(locked_until) FROM login_throttle WHERE key = any($1::text[])", keys)
    return max(0, int((until - at).total_seconds() + 0.999)) if until and until > at else 0


async def _fail(pg: asyncpg.Pool, key: str, threshold: int, at: datetime) -> None:
    async with pg.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT failures, last_failure_at FROM login_throttle WHERE key = $1 FOR UPDATE", key)
        failures = 1 if row is None or row["last_failure_at"] < at - FAILURE_WINDOW else row["failures"] + 1
        lock = _lockout_s(failures, threshold)
        await conn.execute(
            "INSERT INTO login_throttle (key, failures, last_failure_at, locked_until) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (key) DO UPDATE SET failures = $2, last_failure_at = $3, locked_until = $4",
            key,
            failures,
            at,
            at + timedelta(seconds=lock) if lock else None,
        )


async def login(pg: asyncpg.Pool, email: str, password: str, address: str, at: datetime | None = None) -> Account:
    """The account, if the password is right and neither the account nor the address is locked out."""
    at = at or now()
    account_key, address_key = f"account:{email.strip().lower()}", f"ip:{address}"
    locked = await _locked_for(pg, [account_key, address_key], at)
    if locked:
        raise LoginThrottled(locked)
    row = await pg.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS}, password_hash, disabled FROM accounts WHERE lower(email) = lower($1)",
        email.strip(),
    )
    ok = await verify_password(row["password_hash"] if row else None, password)
    if not ok or row is None or row["disabled"]:
        await _fail(pg, account_key, ACCOUNT_FAILURES, at)
        await _fail(pg, address_key, ADDRESS_FAILURES, at)
        raise LoginRefused("wrong email or password")
    await pg.execute("DELETE FROM login_throttle WHERE key = $1", account_key)
    return _account(row)
