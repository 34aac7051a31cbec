"""Registrations for a sale: a representative of an approved company asks to bid in a sale; an operator
approves it with a paddle (unique in the sale), a bidding limit (all-in, premium included) and a deposit
(default DEPOSIT_BP_DEFAULT of the limit; 0 for none), or refuses it; a settlement officer records the deposit
received. Each change is audited and published to the engine as the company's standing in the sale.
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
    reason: str = "",
) -> RegistrationView:
    """Add `amount` to the deposit received from the company for the sale."""
    return await _change_registration(
        pg, store, sale_id, company_id,
        "UPDATE registrations SET deposit_received = deposit_received + $3 WHERE sale_id = $1 AND company_id = $2",
        (amount,), by, "deposit_received", reason, {"amount": amount},
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
