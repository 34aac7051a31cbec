"""What is on record about a company, read back: its file (what it sent, what it uploaded, what was decided)
and the list of companies an operator works through."""

from __future__ import annotations

import asyncpg
import msgspec

from auction.vetting.applications import Owner
from auction.vetting.decisions import CompanyStatus, DecisionView, decision_view
from auction.vetting.documents import DocumentView, document_view
from auction.vetting.duplicates import DuplicateFlag, flagged_names
from auction.vetting.relations import Tie, barred_consignors, ties_of
from auction.vetting.times import epoch_ms


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
    consignor_ids: list[int]  # the consignors linked to the company itself
    directors: list[str] = []
    address: str = ""  # postal, lines separated by newlines; "" for a company that applied before it was asked


class CompanyFile(msgspec.Struct, frozen=True):
    """Everything on record about a company: what it sent, what it uploaded, what was decided; the companies tied
    to it (a shared owner, director or bank reference) and the consignors on whose lots it may therefore not bid
    (`barred_consignor_ids`: its own links and its ties', which the engine refuses `own_lot`)."""

    company: CompanyView
    documents: list[DocumentView]
    decisions: list[DecisionView]
    ties: list[Tie] = []
    barred_consignor_ids: list[int] = []
    duplicates: list[DuplicateFlag] = []  # operators only: what the application clashes with (duplicates.py)


class CompanyRow(msgspec.Struct, frozen=True):
    id: int
    legal_name: str
    country: str
    status: CompanyStatus
    approved_until_ms: int | None


async def company_file(pg: asyncpg.Pool, company_id: int) -> CompanyFile | None:
    row = await pg.fetchrow(
        "SELECT c.*, owners::text AS owners_json, directors::text AS directors_json, "
        "(SELECT coalesce(array_agg(name ORDER BY id), '{}') FROM accounts a WHERE a.company_id = c.id) AS reps, "
        "(SELECT coalesce(array_agg(consignor_id ORDER BY consignor_id), '{}') FROM consignor_links l "
        " WHERE l.company_id = c.id) AS consignors "
        "FROM companies c WHERE c.id = $1",
        company_id,
    )
    if row is None:
        return None
    docs = await pg.fetch(
        "SELECT id, kind, filename, content_type, size, sha256, uploaded_at FROM company_documents "
        "WHERE company_id = $1 ORDER BY id",
        company_id,
    )
    decisions = await pg.fetch("SELECT * FROM company_decisions WHERE company_id = $1 ORDER BY id", company_id)
    view = _company_view(row)
    # a representative whose email was taken got no account: named all the same, so the file reads as applied
    view = msgspec.structs.replace(view, representatives=[*view.representatives, *await flagged_names(pg, company_id)])
    return CompanyFile(
        view,
        [document_view(d) for d in docs],
        [decision_view(d) for d in decisions],
        await ties_of(pg, company_id),
        list(await barred_consignors(pg, company_id)),
    )


def _company_view(row: asyncpg.Record) -> CompanyView:
    return CompanyView(
        row["id"], row["legal_name"], row["registration_number"], row["country"], row["trade_licence"],
        row["bourse_membership"], msgspec.json.decode(row["owners_json"], type=list[Owner]), row["bank_reference"],
        row["status"], epoch_ms(row["approved_until"]), list(row["reps"]), list(row["consignors"]),
        msgspec.json.decode(row["directors_json"], type=list[str]), row["address"],
    )  # fmt: skip


async def list_companies(pg: asyncpg.Pool, status: str | None = None) -> list[CompanyRow]:
    rows = await pg.fetch(
        "SELECT id, legal_name, country, status, approved_until FROM companies "
        "WHERE $1::text IS NULL OR status = $1 ORDER BY id",
        status,
    )
    return [
        CompanyRow(r["id"], r["legal_name"], r["country"], r["status"], epoch_ms(r["approved_until"])) for r in rows
    ]
