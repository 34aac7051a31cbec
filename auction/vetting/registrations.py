"""Registrations for a sale: a representative of an approved company asks to bid in a sale; an operator
approves it with a paddle (unique in the sale), a bidding limit (all-in, premium included) and a deposit
(default DEPOSIT_BP_DEFAULT of the limit; 0 for none), or refuses it; a settlement officer records the deposit
received. Each change is audited and published to the engine as the company's standing in the sale.

A deposit is recorded by its payment reference (the bank's), once: the same reference recorded again, with the
same amount, changes nothing and answers as before, so a retried request or a second officer never counts one wire
twice; with another amount, or for another sale, it is a Conflict naming `reference`. More received than required
is kept, and shown (`deposit_over`), for settlement to return or apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import asyncpg
import msgspec

from auction import identity
from auction.identity import Account
from auction.vetting.audit_log import audit
from auction.vetting.errors import Conflict, VettingError, VettingRefused
from auction.vetting.standings import StandingStore, publish_standing

DEPOSIT_BP_DEFAULT = 1000  # 10 % of the limit, as Rapaport asks

_COLUMNS = "sale_id, company_id, status, paddle, bid_limit, deposit_required, deposit_received, reason"


class RegistrationView(msgspec.Struct, frozen=True):
    sale: int
    company: int
    status: Literal["requested", "approved", "refused"]
    paddle: int | None
    limit: int | None
    deposit_required: int
    deposit_received: int
    reason: str
    deposit_over: int = 0  # received beyond what is required: to be returned or applied, never silently kept


def _registration(r: asyncpg.Record) -> RegistrationView:
    return RegistrationView(
        r["sale_id"], r["company_id"], r["status"], r["paddle"], r["bid_limit"], r["deposit_required"],
        r["deposit_received"], r["reason"], max(0, r["deposit_received"] - r["deposit_required"]),
    )  # fmt: skip


async def request_registration(pg: asyncpg.Pool, sale_id: int, by: Account) -> RegistrationView:
    """A representative asks to bid in a sale. Only an approved, unexpired company may ask."""
    assert by.company_id is not None
    status, until = await pg.fetchrow("SELECT status, approved_until FROM companies WHERE id = $1", by.company_id)
    if status != "approved":
        raise VettingRefused("not_approved", "company", f"the company is {status}, not approved")
    if until is None or until <= identity.now():
        raise VettingRefused("approval_expired", "company", "the company's approval has expired: ask for a renewal")
    if not await pg.fetchval("SELECT true FROM sales WHERE id = $1", sale_id):
        raise VettingError("not_found", "sale", f"no sale {sale_id}")
    row = await pg.fetchrow(
        "INSERT INTO registrations (sale_id, company_id, status, requested_by) VALUES ($1, $2, 'requested', $3) "
        f"ON CONFLICT (sale_id, company_id) DO NOTHING RETURNING {_COLUMNS}",
        sale_id,
        by.company_id,
        by.id,
    )
    if row is None:
        raise Conflict("conflict", "sale", "the company has asked to register for this sale already")
    return _registration(row)


async def list_registrations(pg: asyncpg.Pool, sale_id: int, company_id: int | None = None) -> list[RegistrationView]:
    """A sale's registrations, or one company's among them."""
    rows = await pg.fetch(
        f"SELECT {_COLUMNS} FROM registrations WHERE sale_id = $1 AND ($2::bigint IS NULL OR company_id = $2) "
        "ORDER BY company_id",
        sale_id,
        company_id,
    )
    return [_registration(r) for r in rows]


async def company_registrations(pg: asyncpg.Pool, company_id: int) -> list[RegistrationView]:
    """Every registration of one company, the newest sale first (a buyer's account lists them)."""
    rows = await pg.fetch(
        f"SELECT {_COLUMNS} FROM registrations r JOIN sales s ON s.id = r.sale_id WHERE r.company_id = $1 "
        "ORDER BY s.starts_at_ms DESC, r.sale_id DESC LIMIT 1000",
        company_id,
    )
    return [_registration(r) for r in rows]


async def approve_registration(
    pg: asyncpg.Pool,
    store: StandingStore | None,
    sale_id: int,
    company_id: int,
    by: Account,
    *,
    paddle: int,
    limit: int,
    deposit: int | None = None,
    reason: str = "",
) -> RegistrationView:
    """Let the company bid in the sale with `paddle`, up to `limit`, once `deposit` is in (None: the default
    share of the limit; 0: none)."""
    required = limit * DEPOSIT_BP_DEFAULT // 10_000 if deposit is None else deposit
    return await _change_registration(
        pg, store, sale_id, company_id,
        "UPDATE registrations SET status = 'approved', paddle = $3, bid_limit = $4, deposit_required = $5, "
        "decided_by = $6, decided_at = now(), reason = $7 WHERE sale_id = $1 AND company_id = $2",
        (paddle, limit, required, by.id, reason), by, "registration_approved", reason,
        {"paddle": paddle, "limit": limit, "deposit_required": required},
    )  # fmt: skip


async def record_deposit(
    pg: asyncpg.Pool,
    store: StandingStore | None,
    sale_id: int,
    company_id: int,
    by: Account,
    *,
    amount: int,
    reference: str,
    reason: str = "",
) -> RegistrationView:
    """Record a deposit of `amount` received from the company for the sale under the bank's `reference`, once.
    The same reference again with the same amount is answered as before and changes nothing; with another amount
    or sale it is a Conflict (field `reference`)."""
    if amount <= 0:
        raise VettingError("invalid", "amount", "a deposit received is a positive amount")
    reference = reference.strip()
    if not reference:
        raise VettingError("invalid", "reference", "a deposit is recorded with its payment reference")
    async with pg.acquire() as conn, conn.transaction():
        # The registration's row lock queues every recording for it, so a retry waits for the first to commit.
        if not await conn.fetchval(
            "SELECT true FROM registrations WHERE sale_id = $1 AND company_id = $2 FOR UPDATE", sale_id, company_id
        ):
            raise VettingError("not_found", "company", f"company {company_id} has not asked to register")
        recorded = await conn.fetchrow(
            "SELECT sale_id, amount FROM registration_deposits WHERE company_id = $1 AND reference = $2",
            company_id,
            reference,
        )
        if recorded is not None:
            _same_deposit(recorded, sale_id, amount, reference)
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM registrations WHERE sale_id = $1 AND company_id = $2", sale_id, company_id
            )
            return _registration(row)
        row = await _add_deposit(conn, sale_id, company_id, amount, reference, by)
        over = max(0, row["deposit_received"] - row["deposit_required"])
        await audit(conn, by, "deposit_received", f"sale:{sale_id}:company:{company_id}", reason,
                    {"amount": amount, "reference": reference, "over": over})  # fmt: skip
    if store is not None:
        await publish_standing(pg, store, sale_id, company_id)
    return _registration(row)


def _same_deposit(recorded: asyncpg.Record, sale_id: int, amount: int, reference: str) -> None:
    """A reference recorded already must name the same deposit: else it is someone's mistake, and a Conflict."""
    if (recorded["sale_id"], recorded["amount"]) != (sale_id, amount):
        raise Conflict(
            "conflict", "reference",
            f"payment {reference!r} was recorded already, for {recorded['amount']} in sale {recorded['sale_id']}",
        )  # fmt: skip


async def _add_deposit(
    conn: asyncpg.Connection, sale_id: int, company_id: int, amount: int, reference: str, by: Account
) -> asyncpg.Record:
    """Keep the deposit's row and add it to the registration's total; the registration as it now stands."""
    try:
        await conn.execute(
            "INSERT INTO registration_deposits (company_id, reference, sale_id, amount, recorded_by) "
            "VALUES ($1, $2, $3, $4, $5)",
            company_id, reference, sale_id, amount, by.id,
        )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:  # recorded for another sale of the company at this moment
        raise Conflict("conflict", "reference", f"payment {reference!r} was recorded already") from exc
    row: asyncpg.Record = await conn.fetchrow(
        f"UPDATE registrations SET deposit_received = deposit_received + $3 WHERE sale_id = $1 AND company_id = $2 "
        f"RETURNING {_COLUMNS}",
        sale_id, company_id, amount,
    )  # fmt: skip
    return row


async def refuse_registration(
    pg: asyncpg.Pool, store: StandingStore | None, sale_id: int, company_id: int, reason: str, by: Account
) -> RegistrationView:
    return await _change_registration(
        pg, store, sale_id, company_id,
        "UPDATE registrations SET status = 'refused', paddle = NULL, decided_by = $3, decided_at = now(), "
        "reason = $4 WHERE sale_id = $1 AND company_id = $2",
        (by.id, reason), by, "registration_refused", reason, {},
    )  # fmt: skip


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
    """Run one UPDATE of the company's registration (`sql`, with $1 the sale and $2 the company, then `args`),
    audit it, and publish the standing it leads to. The registration must have been asked for; a paddle taken
    in the sale is a Conflict."""
    async with pg.acquire() as conn, conn.transaction():
        try:
            row = await conn.fetchrow(sql + f" RETURNING {_COLUMNS}", sale_id, company_id, *args)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("conflict", "paddle", f"paddle {args[0]} is taken in sale {sale_id}") from exc
        if row is None:
            raise VettingError("not_found", "company", f"company {company_id} has not asked to register")
        await audit(conn, by, action, f"sale:{sale_id}:company:{company_id}", reason, details)
    if store is not None:
        await publish_standing(pg, store, sale_id, company_id)
    return _registration(row)
