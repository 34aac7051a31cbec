"""Accounts, passwords, sessions and API tokens, and the login throttle. PostgreSQL holds all of it.

Roles: `buyer` (a representative of a buyer company; at most two per company), `consignor` (linked to a
consignors row), and the operator roles `vetting_officer`, `auctioneer`, `clerk` (the auctioneer's clerk at a live
sale's console), `settlement_officer`, `admin`.

An email is normalised once, as it enters this module (`normalise_email`: NFKC, each character to its Unicode
simple lower-case mapping, NFKC again; the same as PostgreSQL's lower(normalize(email, NFKC)) in a UTF-8 database),
stored so, and compared by equality: the lookup, the unique index and the throttle's lock use one spelling.

Passwords are hashed with argon2id (argon2-cffi's defaults: RFC 9106's low-memory profile) on PasswordWork's own
threads (one fewer than the cores, at least one), never on the event loop and never while a PostgreSQL connection
is held: an application's hashes are made before its transaction opens. At most HASH_QUEUE hashes wait; past
that the work is refused at once (PasswordWorkBusy, answered `busy`), so a flood of account work queues nowhere
that bidding needs. Sessions (browser cookies) and API tokens are both random secrets of
32 bytes; only their SHA-256 is stored, so a database dump does not let anyone in. A token that is unknown
(tampered, made up) is `token_invalid`; past its expiry `token_expired`; revoked `token_revoked`.

Login throttle: failures are counted per account and per client address; from the 5th failure on an account
(the 20th from an address, which may be a whole office behind one NAT) further attempts are locked out for
30 s, doubling with each further failure up to an hour. A success clears the account's count, not the
address's. Failures older than 15 minutes are forgotten. Unknown accounts cost the same hash as known ones.
However many guesses arrive at once, no more are checked than the count allows: each attempt first takes a slot
on both keys in one short transaction (rows locked in key order), and a key with as many attempts in flight as
it has failures left refuses the rest (LoginThrottled, retry in 1 s) before any password is checked. After a
lockout, one attempt at a time. A slot is given back when its attempt is decided; one left by a crashed process
lapses after SLOT_STALE.

Exceptions:

    IdentityError
     |- LoginRefused        wrong email or password (never says which)
     |- LoginThrottled      locked out for `retry_after_s`
     |- PasswordWorkBusy    too many passwords waiting to be hashed: try again in `retry_after_s`
     |- TokenRefused        `code`: token_invalid | token_expired | token_revoked
     `- AccountProblem      a bad account to create: `field` names what, e.g. a third representative
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
import secrets
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar, get_args

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
SLOT_STALE = timedelta(seconds=60)  # an attempt in flight longer than this was lost with its process
IN_FLIGHT_RETRY_S = 1  # a key whose attempts left are all in flight: try again after they are decided

HASH_THREADS = max(1, (os.cpu_count() or 2) - 1)  # a core stays free for the event loop, which bids run on
HASH_QUEUE = 32  # hashes waiting for a thread, past which account work is refused `busy`
HASH_BUSY_RETRY_S = 2

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


class PasswordWorkBusy(IdentityError):
    def __init__(self, retry_after_s: int = HASH_BUSY_RETRY_S) -> None:
        super().__init__(f"too many passwords to check at once: try again in {retry_after_s} s")
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

T = TypeVar("T")


class PasswordWork:
    """argon2's work, on threads of its own: HASH_THREADS at once, at most HASH_QUEUE waiting, the rest refused.

    A plain counter bounds the queue (not an asyncio.Semaphore, which would tie this module-wide object to one
    event loop); the executor's own queue does the waiting."""

    def __init__(self, threads: int = HASH_THREADS, queue: int = HASH_QUEUE) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        self._limit = threads + queue
        self.pending = 0

    async def run(self, work: Callable[[], T]) -> T:
        if self.pending >= self._limit:
            raise PasswordWorkBusy()
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        finally:
            self.pending -= 1


PASSWORD_WORK = PasswordWork()


async def hash_password(password: str) -> str:
    """Raises PasswordWorkBusy. Never call it holding a PostgreSQL connection: it takes a quarter of a second."""
    return await PASSWORD_WORK.run(lambda: _HASHER.hash(password))


async def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not there is a hash, so timing doesn't reveal which emails exist. Raises
    PasswordWorkBusy."""

    def check() -> bool:
        try:
            return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    return await PASSWORD_WORK.run(check)


def normalise_email(email: str) -> str:
    """The one spelling of an email: trimmed, NFKC, each character to its Unicode simple lower-case mapping (the
    one-character mapping: `İ` becomes `i`, as PostgreSQL's lower() has it, not Python's `i̇`), NFKC again.
    Migration 0013 gave existing rows the same spelling with lower(normalize(email, NFKC))."""
    composed = unicodedata.normalize("NFKC", email.strip())
    return unicodedata.normalize("NFKC", "".join(_simple_lower(c) for c in composed))


def _simple_lower(char: str) -> str:
    lowered = char.lower()
    if len(lowered) == 1:
        return lowered
    return "i" if char == "\u0130" else char  # İ is the only letter whose full mapping is longer


# ---- accounts -------------------------------------------------------------------------------------------------

_ACCOUNT_COLUMNS = "id, email, name, role, company_id, consignor_id"


def _account(row: asyncpg.Record) -> Account:
    return Account(row["id"], row["email"], row["name"], row["role"], row["company_id"], row["consignor_id"])


class Hashed(msgspec.Struct, frozen=True):
    """A password already hashed (`hash_password`), or None for an account that logs in only with API tokens:
    what a caller inside a transaction passes, having hashed before it took the connection."""

    value: str | None


async def hashed(password: str | None) -> Hashed:
    """Check a new password's length and hash it (outside any transaction). Raises AccountProblem,
    PasswordWorkBusy."""
    if password is None:
        return Hashed(None)
    if len(password) < MIN_PASSWORD:
        raise AccountProblem("password", f"a password has at least {MIN_PASSWORD} characters")
    return Hashed(await hash_password(password))


async def create_account(
    db: asyncpg.Pool | asyncpg.Connection,
    email: str,
    name: str,
    password: str | Hashed | None,
    role: Role,
    *,
    company_id: int | None = None,
    consignor_id: int | None = None,
) -> Account:
    """A new account. A buyer needs a company (with room for one more representative); a consignor a
    consignors row. `password` None: the account logs in only with API tokens issued for it. On a connection
    (in a caller's transaction) the password must come `Hashed`: a hash is never made holding a connection."""
    if role == "buyer" and company_id is None:
        raise AccountProblem("company_id", "a buyer account belongs to a company")
    if role == "consignor" and consignor_id is None:
        raise AccountProblem("consignor_id", "a consignor account is linked to a consignor")
    if role not in ("buyer", "consignor") and (company_id or consignor_id):
        raise AccountProblem("role", "an operator belongs to no company and no consignor")
    if isinstance(db, asyncpg.Connection):
        if isinstance(password, str):
            raise TypeError("hash the password (identity.hashed) before the transaction, not inside it")
        return await _insert_account(db, email, name, password or Hashed(None), role, company_id, consignor_id)
    made = password if isinstance(password, Hashed) else await hashed(password)
    async with db.acquire() as conn, conn.transaction():
        return await _insert_account(conn, email, name, made, role, company_id, consignor_id)


async def create_first_admin(pg: asyncpg.Pool, email: str, name: str, password: str) -> Account:
    """The house's first admin, from the command line: every later account is made by an admin over HTTP.
    Refused once any admin exists, so the command can't be used to add operators behind the admins' backs."""
    if not re.match(EMAIL_PATTERN, email.strip()):
        raise AccountProblem("email", f"{email!r} is not an email address")
    made = await hashed(password)  # before the table lock: a hash takes a quarter of a second
    async with pg.acquire() as conn, conn.transaction():
        # Serialises two bootstraps run at once: the second sees the first's admin and is refused.
        await conn.execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
        if await conn.fetchval("SELECT 1 FROM accounts WHERE role = 'admin' AND NOT disabled"):
            raise AccountProblem("role", "an admin exists already; admins create accounts over HTTP")
        return await _insert_account(conn, email, name, made, "admin", None, None)


async def _insert_account(
    conn: asyncpg.Connection,
    email: str,
    name: str,
    password: Hashed,
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
            normalise_email(email),
            name,
            password.value,
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
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE email = $1 AND NOT disabled", normalise_email(email)
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

Outcome = Literal["ok", "failed", "unchecked"]


class ThrottleRow(msgspec.Struct, frozen=True):
    """A key's row of login_throttle, as the slot rules read it."""

    failures: int
    last_failure_at: datetime
    locked_until: datetime | None
    in_flight: int
    slot_at: datetime | None


def _lockout_s(failures: int, threshold: int) -> int:
    if failures < threshold:
        return 0
    return int(min(LOCKOUT_MAX_S, LOCKOUT_BASE_S * 2 ** (failures - threshold)))


def _failures(row: ThrottleRow, at: datetime) -> int:
    return row.failures if row.last_failure_at >= at - FAILURE_WINDOW else 0


def _in_flight(row: ThrottleRow, at: datetime) -> int:
    return row.in_flight if row.slot_at is not None and row.slot_at >= at - SLOT_STALE else 0


def slot_refusal(row: ThrottleRow, threshold: int, at: datetime) -> int:
    """Seconds to wait before an attempt on this key may be checked; 0: it may take a slot now. Pure.

    Locked: until the lock ends. Otherwise the attempts in flight may be at most the failures left before the
    lock (one at a time once the count has reached it): each of them may yet fail, and none may be checked past
    the count."""
    if row.locked_until is not None and row.locked_until > at:
        return max(1, math.ceil((row.locked_until - at).total_seconds()))
    failures = _failures(row, at)
    room = threshold - failures if failures < threshold else 1
    return IN_FLIGHT_RETRY_S if _in_flight(row, at) >= room else 0


def after_attempt(row: ThrottleRow, threshold: int, at: datetime, outcome: Outcome, clears: bool) -> ThrottleRow:
    """A key's row once an attempt that held a slot is decided. Pure. A failure counts and may lock; a success
    clears the count where `clears` (the account's key, not the address's); either way the slot is given back."""
    in_flight = max(0, _in_flight(row, at) - 1)
    if outcome == "failed":
        failures = _failures(row, at) + 1
        lock = _lockout_s(failures, threshold)
        return ThrottleRow(failures, at, at + timedelta(seconds=lock) if lock else None, in_flight, row.slot_at)
    if outcome == "ok" and clears:
        return ThrottleRow(0, row.last_failure_at, None, in_flight, row.slot_at)
    return msgspec.structs.replace(row, in_flight=in_flight)


_THROTTLE_COLUMNS = "failures, last_failure_at, locked_until, in_flight, slot_at"


async def _locked_rows(conn: asyncpg.Connection, keys: list[str], at: datetime) -> dict[str, ThrottleRow]:
    """The keys' rows, made if missing and locked in key order (so two logins never wait on each other in a
    cycle), until the caller's transaction ends."""
    ordered = sorted(keys)
    await conn.execute(
        "INSERT INTO login_throttle (key, failures, last_failure_at) SELECT k, 0, $2 FROM unnest($1::text[]) k "
        "ORDER BY k ON CONFLICT (key) DO NOTHING",
        ordered,
        at - FAILURE_WINDOW - timedelta(seconds=1),
    )
    rows = await conn.fetch(
        f"SELECT key, {_THROTTLE_COLUMNS} FROM login_throttle WHERE key = any($1::text[]) ORDER BY key FOR UPDATE",
        ordered,
    )
    return {r["key"]: ThrottleRow(*(r[c.strip()] for c in _THROTTLE_COLUMNS.split(","))) for r in rows}


async def _write_row(conn: asyncpg.Connection, key: str, row: ThrottleRow) -> None:
    await conn.execute(
        "UPDATE login_throttle SET failures = $2, last_failure_at = $3, locked_until = $4, in_flight = $5, "
        "slot_at = $6 WHERE key = $1",
        key, row.failures, row.last_failure_at, row.locked_until, row.in_flight, row.slot_at,
    )  # fmt: skip


async def _take_slots(pg: asyncpg.Pool, thresholds: dict[str, int], at: datetime) -> None:
    """A slot on every key, in one transaction, or LoginThrottled (and none taken)."""
    async with pg.acquire() as conn, conn.transaction():
        rows = await _locked_rows(conn, list(thresholds), at)
        wait = max(slot_refusal(rows[key], threshold, at) for key, threshold in thresholds.items())
        if wait:
            raise LoginThrottled(wait)
        for key, row in rows.items():
            await _write_row(conn, key, msgspec.structs.replace(row, in_flight=_in_flight(row, at) + 1, slot_at=at))


async def _give_back(pg: asyncpg.Pool, thresholds: dict[str, int], at: datetime, outcome: Outcome) -> None:
    account_key = min(thresholds)  # "account:..." sorts before "ip:..."
    async with pg.acquire() as conn, conn.transaction():
        rows = await _locked_rows(conn, list(thresholds), at)
        for key, threshold in thresholds.items():
            await _write_row(conn, key, after_attempt(rows[key], threshold, at, outcome, key == account_key))


async def login(pg: asyncpg.Pool, email: str, password: str, address: str, at: datetime | None = None) -> Account:
    """The account, if the password is right and neither the account nor the address is locked out. Raises
    LoginThrottled before checking anything when the throttle says no, LoginRefused, PasswordWorkBusy."""
    at = at or now()
    email = normalise_email(email)
    thresholds = {f"account:{email}": ACCOUNT_FAILURES, f"ip:{address}": ADDRESS_FAILURES}
    await _take_slots(pg, thresholds, at)
    outcome: Outcome = "unchecked"
    try:
        row = await pg.fetchrow(
            f"SELECT {_ACCOUNT_COLUMNS}, password_hash, disabled FROM accounts WHERE email = $1", email
        )
        ok = await verify_password(row["password_hash"] if row else None, password)
        outcome = "ok" if ok and row is not None and not row["disabled"] else "failed"
    finally:
        # shielded: a cancelled request still gives its slot back (a lost one lapses after SLOT_STALE)
        await asyncio.shield(_give_back(pg, thresholds, at, outcome))
    if outcome != "ok" or row is None:
        raise LoginRefused("wrong email or password")
    return _account(row)
