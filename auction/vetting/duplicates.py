"""Applications that name what another already holds (issue 12, finding 15): a registration number a company of the
same country has, or a representative's email an account has.

Such an application is answered exactly as a new one is (201, pending, its representatives as sent), so the
answer says nothing about what exists, and it blocks nobody: the real company can apply after an impostor did.
Instead each clash is flagged, for a vetting officer: the company's file shows operators its flags (never the
buyer), and a company with a flag not yet resolved can't be approved; nor can a company while another of its
country with the same registration number holds an approval. A representative whose email was taken gets no
account (their name stays on the application, so the company's file reads the same); the officer resolves the
flag with what they found.

Registration numbers are compared as bank references are (letters and digits, upper case: bank_mark, migration
0011); emails by their one spelling (identity.normalise_email).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg
import msgspec

from auction.identity import Account
from auction.vetting.audit_log import audit
from auction.vetting.errors import Conflict, VettingError
from auction.vetting.times import epoch_ms

DuplicateKind = Literal["registration_number", "email"]
HOLDS_APPROVAL = ("approved", "suspended")


class DuplicateFlag(msgspec.Struct, frozen=True):
    """`other_company_id`: the company that has the registration number, or whose account has the email."""

    id: int
    company_id: int
    kind: DuplicateKind
    other_company_id: int | None
    other_account_id: int | None
    email: str | None
    name: str | None
    created_ms: int
    resolved_ms: int | None
    resolved_by: int | None
    resolution: str


async def same_registration(conn: asyncpg.Connection, country: str, number: str) -> list[int]:
    """The companies of `country` that have this registration number already."""
    rows = await conn.fetch(
        "SELECT id FROM companies WHERE country = $1 AND bank_mark(registration_number) = bank_mark($2) ORDER BY id",
        country,
        number,
    )
    return [row["id"] for row in rows]


async def flag_registration(conn: asyncpg.Connection, company_id: int, others: list[int]) -> None:
    for other in others:
        await conn.execute(
            "INSERT INTO application_duplicates (company_id, kind, other_company_id) "
            "VALUES ($1, 'registration_number', $2)",
            company_id,
            other,
        )


async def flag_email(conn: asyncpg.Connection, company_id: int, email: str, name: str) -> None:
    """A representative whose email an account has already: no account is made, the clash is flagged."""
    holder = await conn.fetchrow("SELECT id, company_id FROM accounts WHERE email = $1", email)
    await conn.execute(
        "INSERT INTO application_duplicates (company_id, kind, other_company_id, other_account_id, email, name) "
        "VALUES ($1, 'email', $2, $3, $4, $5)",
        company_id, holder["company_id"] if holder else None, holder["id"] if holder else None, email, name,
    )  # fmt: skip


def _flag(row: asyncpg.Record) -> DuplicateFlag:
    return DuplicateFlag(
        row["id"], row["company_id"], row["kind"], row["other_company_id"], row["other_account_id"], row["email"],
        row["name"], epoch_ms(row["created_at"]) or 0, epoch_ms(row["resolved_at"]), row["resolved_by"],
        row["resolution"],
    )  # fmt: skip


async def duplicates_of(pg: asyncpg.Pool | asyncpg.Connection, company_id: int) -> list[DuplicateFlag]:
    """Every flag about the company: its own clashes, and other companies' applications that clash with it."""
    rows = await pg.fetch(
        "SELECT * FROM application_duplicates WHERE company_id = $1 OR other_company_id = $1 ORDER BY id", company_id
    )
    return [_flag(row) for row in rows]


async def flagged_names(pg: asyncpg.Pool | asyncpg.Connection, company_id: int) -> list[str]:
    """Representatives named in the application who got no account (their email was taken)."""
    rows = await pg.fetch(
        "SELECT name FROM application_duplicates WHERE company_id = $1 AND kind = 'email' ORDER BY id", company_id
    )
    return [row["name"] for row in rows]


async def approval_problem(conn: asyncpg.Connection, company_id: int) -> Conflict | None:
    """Why the company can't be approved now, for its duplicates; None if it can."""
    open_flags = await conn.fetchval(
        "SELECT count(*) FROM application_duplicates WHERE company_id = $1 AND resolved_at IS NULL", company_id
    )
    if open_flags:
        return Conflict("conflict", "duplicates", f"{open_flags} duplicate flag(s) to resolve first")
    twin = await conn.fetchval(
        "SELECT o.id FROM companies c JOIN companies o ON o.country = c.country AND o.id <> c.id "
        "AND bank_mark(o.registration_number) = bank_mark(c.registration_number) "
        "WHERE c.id = $1 AND o.status = any($2::text[]) ORDER BY o.id LIMIT 1",
        company_id,
        list(HOLDS_APPROVAL),
    )
    if twin is not None:
        return Conflict("conflict", "registration_number", f"company {twin} has this registration number approved")
    return None


async def resolve_duplicate(
    pg: asyncpg.Pool, company_id: int, flag_id: int, reason: str, by: Account, at: datetime
) -> DuplicateFlag:
    """An officer's word on a flag of the company's own application: what they found and did. Audited."""
    async with pg.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE application_duplicates SET resolved_at = $3, resolved_by = $4, resolution = $5 "
            "WHERE id = $1 AND company_id = $2 AND resolved_at IS NULL RETURNING *",
            flag_id, company_id, at, by.id, reason,
        )  # fmt: skip
        if row is None:
            exists = await conn.fetchval(
                "SELECT 1 FROM application_duplicates WHERE id = $1 AND company_id = $2", flag_id, company_id
            )
            if exists:
                raise Conflict("conflict", "flag", f"flag {flag_id} is resolved already")
            raise VettingError("not_found", "flag", f"company {company_id} has no duplicate flag {flag_id}")
        await audit(conn, by, "duplicate_resolved", f"company:{company_id}", reason, {"flag": flag_id})
    return _flag(row)
