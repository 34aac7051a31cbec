"""The decisions on a company: which may follow which status (TRANSITIONS, one table in h11's style), and
recording them, an operator's or the house's own rules', each with its reason and what it led to.

Approval lasts 12 months (APPROVAL_PERIOD); approving again renews it. The sanctions list is checked again at
approval (it may have grown since the company applied). Every decision stays on record (company_decisions), is
audited, and is published to the engine as the company's standing in every sale it asked to register for.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg
import msgspec

from auction import identity
from auction.identity import Account
from auction.vetting import duplicates
from auction.vetting.audit_log import audit
from auction.vetting.consignor_overlap import link_overlapping_consignors
from auction.vetting.errors import Conflict, VettingError, VettingRefused
from auction.vetting.relations import ties_of
from auction.vetting.standings import StandingStore, publish_company
from auction.vetting.times import epoch_ms

# Named for the company: the engine has a Decision of its own (what auction.engine.lot.decide returns for a lot).
CompanyDecision = Literal["approve", "reject", "request_more", "suspend", "reinstate"]
CompanyStatus = Literal["pending", "more_requested", "approved", "rejected", "suspended"]

APPROVAL_PERIOD = timedelta(days=365)

# (status now, decision) -> status after. Anything else is a Conflict naming the status.
TRANSITIONS: dict[tuple[CompanyStatus, CompanyDecision], CompanyStatus] = {
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


class DecisionView(msgspec.Struct, frozen=True):
    id: int
    decision: CompanyDecision
    reason: str
    status_after: CompanyStatus
    approved_until_ms: int | None
    decided_by: int | None
    decided_ms: int
    decided_by_system: str | None = None  # a decision the house's rules took (settlement), not an operator


def decision_view(row: asyncpg.Record) -> DecisionView:
    """A company_decisions row as the API shows it."""
    return DecisionView(
        row["id"], row["decision"], row["reason"], row["status_after"], epoch_ms(row["approved_until"]),
        row["decided_by"], epoch_ms(row["decided_at"]) or 0, row["decided_by_system"],
    )  # fmt: skip


async def decide(
    pg: asyncpg.Pool,
    store: StandingStore | None,
    company_id: int,
    decision: CompanyDecision,
    reason: str,
    by: Account,
    sanctioned: frozenset[str],
    at: datetime | None = None,
) -> CompanyStatus:
    """Record an operator's decision and what it led to; publish the company's standing in every sale. Approval
    first links the company to any consignor it turns out to be (consignor_overlap: one may be entered after the
    application), and then publishes the companies tied to it too, which the link bars as well."""
    async with pg.acquire() as conn, conn.transaction():
        after = await _record_decision(conn, company_id, decision, reason, by, sanctioned, at or identity.now())
        linked = await link_overlapping_consignors(conn, company_id) if decision == "approve" else []
    if store is not None:
        await publish_company(pg, store, company_id)
        for tie in await ties_of(pg, company_id) if linked else []:
            await publish_company(pg, store, tie.company)
    return after


async def decide_by_system(
    conn: asyncpg.Connection, company_id: int, decision: CompanyDecision, reason: str, system: str, at: datetime
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
    decision: CompanyDecision,
    reason: str,
    by: Account | str,
    sanctioned: frozenset[str],
    at: datetime,
) -> CompanyStatus:
    """`by`: the operator's account, or the name of the system that decided."""
    after = await _status_after(conn, company_id, decision, sanctioned)
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


async def _status_after(
    conn: asyncpg.Connection, company_id: int, decision: CompanyDecision, sanctioned: frozenset[str]
) -> CompanyStatus:
    """The status the decision leads to (the company's row locked until the transaction ends), or why it can't
    be taken: no such company, not allowed from its status (TRANSITIONS), approval of a sanctioned country, or of
    a company with a duplicate flag open or whose registration number another company holds approved."""
    row = await conn.fetchrow("SELECT status, country FROM companies WHERE id = $1 FOR UPDATE", company_id)
    if row is None:
        raise VettingError("not_found", "company", f"no company {company_id}")
    after = TRANSITIONS.get((row["status"], decision))
    if after is None:
        raise Conflict("conflict", "decision", f"a company that is {row['status']} can't be given {decision!r}")
    if after == "approved" and row["country"] in sanctioned:
        raise VettingRefused("sanctioned", "country", f"{row['country']} is on the sanctions list: can't be approved")
    if after == "approved":  # a duplicate application, or a registration number another company holds approved
        problem = await duplicates.approval_problem(conn, company_id)
        if problem is not None:
            raise problem
    return after
