"""Consignors, the people and companies who hand the house their stones, and their consignment agreements.

A consignor is a person or a company. Their agreement with the house says what settlement charges them
(settlement/agreements.py reads it): commission on the hammer, the unsold fee on the reserve of a stone that comes
back, the return shipping, and whether an unsold stone may go into a later sale without asking them again (their
standing consent, at `relist_reserve_bp` of the reserve it failed to reach). Its amounts are in its currency, in
which every stone consigned under it is estimated (auction/consignments.py).

A consignor watches their lots with an account of role `consignor`, made by an admin (POST /api/accounts with
the consignor's id). Every change here is on the audit log, in the change's own transaction.
"""

from __future__ import annotations

from typing import Annotated, Literal

import asyncpg
import msgspec

from auction.catalog import Currency
from auction.diamonds import Money
from auction.engine.premium import BASIS_POINTS
from auction.house_errors import HouseMissing, Problem, refuse_if
from auction.identity import Account
from auction.vetting import audit, link_overlapping_companies

ConsignorKind = Literal["person", "company"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Contact = Annotated[str, msgspec.Meta(max_length=200)]
Address = Annotated[str, msgspec.Meta(max_length=1000)]
CountryCode = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]
Rate = Annotated[int, msgspec.Meta(ge=0, le=BASIS_POINTS)]  # basis points
Note = Annotated[str, msgspec.Meta(max_length=2000)]


class Agreement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The consignment agreement; the defaults are DOMAIN.md's (10 % commission, no unsold fee or return cost,
    no relisting without asking)."""

    currency: Currency
    commission_bp: Rate = 1_000
    unsold_fee_bp: Rate = 0
    return_shipping: Money = 0
    relist_consent: bool = False
    relist_reserve_bp: Annotated[int, msgspec.Meta(ge=0, le=BASIS_POINTS - 1)] = 8_000  # a lower reserve, always

    def relist_reserve(self, failed_reserve: int) -> int:
        """The reserve of an unsold stone relisted on the standing consent: lower than the one it failed to reach
        (rounded down, so it always is), 0 for a stone that had none."""
        return failed_reserve * self.relist_reserve_bp // BASIS_POINTS


class NewConsignor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: ConsignorKind
    name: Name  # a person's full name, or a company's legal name
    agreement: Agreement
    company: Contact = ""  # the company a person trades as, if any
    email: Contact = ""
    phone: Contact = ""
    address: Address = ""
    country: CountryCode | None = None
    reason: Note = ""  # for the audit log
    # What vetting compares with buyer companies (auction/vetting/consignor_overlap.py): a company's own.
    registration_number: Contact = ""
    bank_reference: Contact = ""


class AgreementChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agreement: Agreement
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=2000)]


class ConsignorView(msgspec.Struct, frozen=True):
    id: int
    kind: ConsignorKind
    name: str
    company: str
    email: str
    phone: str
    address: str
    country: str | None
    agreement: Agreement | None  # None: a consignor from before agreements (the sale's terms apply)


_AGREEMENT_COLUMNS = "currency, commission_bp, unsold_fee_bp, return_shipping, relist_consent, relist_reserve_bp"
_SELECT = (
    "SELECT c.id, c.kind, c.name, c.company, c.email, c.phone, c.address, c.country, a.currency, a.commission_bp, "
    "a.unsold_fee_bp, a.return_shipping, a.relist_consent, a.relist_reserve_bp FROM consignors c "
    "LEFT JOIN consignment_agreements a ON a.consignor_id = c.id "
)


def consignor_problems(new: NewConsignor) -> list[Problem]:
    problems = []
    if not new.name.strip():
        problems.append(Problem("name", "a consignor has a name"))
    if new.kind == "company" and new.company and new.company != new.name:
        problems.append(Problem("company", "a company consignor's name is its legal name: leave company empty"))
    return problems


async def create_consignor(pg: asyncpg.Pool, new: NewConsignor, by: Account) -> ConsignorView:
    """A new consignor with their agreement, in one transaction with its audit row."""
    refuse_if(consignor_problems(new))
    company = new.company or (new.name if new.kind == "company" else "")
    async with pg.acquire() as conn, conn.transaction():
        consignor_id: int = await conn.fetchval(
            "INSERT INTO consignors (kind, name, company, email, phone, address, country, registration_number, "
            "bank_reference) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            new.kind, new.name.strip(), company, new.email, new.phone, new.address, new.country,
            new.registration_number.strip(), new.bank_reference.strip(),
        )  # fmt: skip
        await _write_agreement(conn, consignor_id, new.agreement)
        await audit(conn, by, "consignor_created", f"consignor:{consignor_id}", new.reason,
                    {"kind": new.kind, "agreement": msgspec.to_builtins(new.agreement)})  # fmt: skip
        # A buyer company that is this consignor's own can't bid on their lots: vetting links it now (the caller
        # publishes the standings: vetting.publish_consignor_companies).
        await link_overlapping_companies(conn, consignor_id)
        view = await consignor(conn, consignor_id)
    assert view is not None
    return view


async def set_agreement(pg: asyncpg.Pool, consignor_id: int, change: AgreementChange, by: Account) -> ConsignorView:
    """Replace the consignor's agreement; the audit row keeps the terms before and after. Settlement charges by the
    agreement in force when it bills or returns a stone."""
    async with pg.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM consignors WHERE id = $1 FOR UPDATE", consignor_id):
            raise HouseMissing("consignor", f"no consignor {consignor_id}")
        before = await agreement_of(conn, consignor_id)
        await _write_agreement(conn, consignor_id, change.agreement)
        terms = {"before": msgspec.to_builtins(before), "after": msgspec.to_builtins(change.agreement)}
        await audit(conn, by, "agreement_set", f"consignor:{consignor_id}", change.reason, terms)
        view = await consignor(conn, consignor_id)
    assert view is not None
    return view


async def _write_agreement(conn: asyncpg.Connection, consignor_id: int, agreement: Agreement) -> None:
    a = agreement
    await conn.execute(
        f"INSERT INTO consignment_agreements (consignor_id, {_AGREEMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (consignor_id) DO UPDATE SET currency = EXCLUDED.currency, "
        "commission_bp = EXCLUDED.commission_bp, unsold_fee_bp = EXCLUDED.unsold_fee_bp, "
        "return_shipping = EXCLUDED.return_shipping, relist_consent = EXCLUDED.relist_consent, "
        "relist_reserve_bp = EXCLUDED.relist_reserve_bp, updated_at = now()",
        consignor_id, a.currency, a.commission_bp, a.unsold_fee_bp, a.return_shipping, a.relist_consent,
        a.relist_reserve_bp,
    )  # fmt: skip


async def agreement_of(db: asyncpg.Connection | asyncpg.Pool, consignor_id: int) -> Agreement | None:
    """The consignor's agreement, or None for a consignor made before agreements existed."""
    row = await db.fetchrow(
        f"SELECT {_AGREEMENT_COLUMNS} FROM consignment_agreements WHERE consignor_id = $1", consignor_id
    )
    return None if row is None else _agreement(row)


async def consignor(db: asyncpg.Connection | asyncpg.Pool, consignor_id: int) -> ConsignorView | None:
    row = await db.fetchrow(_SELECT + "WHERE c.id = $1", consignor_id)
    return None if row is None else _view(row)


async def list_consignors(pg: asyncpg.Pool, after: int = 0, limit: int = 500) -> list[ConsignorView]:
    """Consignors in the order they were made, from after the id `after`, at most `limit`."""
    return [_view(row) for row in await pg.fetch(_SELECT + "WHERE c.id > $1 ORDER BY c.id LIMIT $2", after, limit)]


def _agreement(row: asyncpg.Record) -> Agreement:
    return Agreement(
        row["currency"].strip(), row["commission_bp"], row["unsold_fee_bp"], row["return_shipping"],
        row["relist_consent"], row["relist_reserve_bp"],
    )  # fmt: skip


def _view(row: asyncpg.Record) -> ConsignorView:
    return ConsignorView(
        row["id"], row["kind"], row["name"], row["company"], row["email"] or "", row["phone"] or "",
        row["address"] or "", row["country"], _agreement(row) if row["currency"] is not None else None,
    )  # fmt: skip
