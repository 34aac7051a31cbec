"""Insurance claims against a shipment (or one parcel of it) or against custody (a setting removal).

    file_claim -> add_evidence ... -> request_documents | start_review -> approve -> pay
                                                        \\-> deny (with a reason, from any open state)

The rules (filing windows, evidence, which state may follow which, the approval cap, who bore the loss) are
settlement/shipping_rules.py; this module keeps the claim, its evidence and every state change (time and note),
and posts the money:

    approved  insurance:receivable +amount, claims:payable -amount   the insurer owes the house; the house owes
                                                                     whoever bore the loss
    paid      cash +amount, insurance:receivable -amount             the insurer's money in
              claims:payable +amount, <payee> -amount                the claim credited to the loser's account
              <payee> +amount, cash -amount                          and remitted to them

The payee (`buyer:<company>` or `consignor:<id>`) is fixed when the claim is filed. Crediting and remitting in
the same transaction leaves the loser's account with the house as their invoices and payouts say, while the
ledger shows the claim passing through it. Every step is one transaction with idempotency keys
(`claim-approved:<id>`, `claim-insurer:<id>`, `claim-payout:<id>`, `claim-remit:<id>`): a retry does nothing.
`claim_problems` is the reconcile check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import asyncpg
import msgspec

from settlement import billing, ledger
from settlement.custody import stored_file
from settlement.errors import Missing, ShippingRefused
from settlement.rules import SettlementTerms
from settlement.shipping import ShipmentView, shipment
from settlement.shipping_rules import (
    CLAIM_OPEN,
    ClaimKind,
    ClaimStatus,
    EvidenceKind,
    approval_cap,
    claim_move_problem,
    coverage,
    custody_claim_problem,
    loss_bearer,
    missing_evidence,
    shipment_claim_problem,
)


class EvidenceView(msgspec.Struct, frozen=True):
    id: int
    kind: EvidenceKind
    media_type: str
    size: int
    sha256: str
    path: str | None
    at_ms: int


class ClaimEvent(msgspec.Struct, frozen=True):
    status: ClaimStatus
    at_ms: int
    note: str


class ClaimView(msgspec.Struct, frozen=True):
    id: int
    kind: ClaimKind
    shipment: int | None
    parcel: int | None  # None: the whole shipment
    removal: int | None
    sale: int
    lot: int
    currency: str
    declared_value: int  # of what the claim is about: the cap on its approval
    payee: str  # the ledger account of whoever bore the loss
    status: ClaimStatus
    filed_ms: int
    description: str
    approved_amount: int | None
    denial_reason: str | None
    missing: list[str]  # evidence still needed before review
    evidence: list[EvidenceView]
    history: list[ClaimEvent]


async def claim(pg: asyncpg.Pool | asyncpg.Connection, claim_id: int) -> ClaimView:
    c = await pg.fetchrow("SELECT * FROM claims WHERE id = $1", claim_id)
    if c is None:
        raise Missing("claim", f"no claim {claim_id}")
    (view,) = await _views(pg, [c])
    return view


async def claims_for(pg: asyncpg.Pool, sale_id: int, lot_no: int | None = None) -> list[ClaimView]:
    rows = await pg.fetch(
        "SELECT * FROM claims WHERE sale_id = $1 AND ($2::int IS NULL OR lot_no = $2) ORDER BY id", sale_id, lot_no
    )
    return await _views(pg, rows)


async def _views(pg: asyncpg.Pool | asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[ClaimView]:
    """The claims of `rows` with their evidence and history: three queries however many claims."""
    ids = [c["id"] for c in rows]
    evidence: dict[int, list[EvidenceView]] = {i: [] for i in ids}
    history: dict[int, list[ClaimEvent]] = {i: [] for i in ids}
    for e in await pg.fetch("SELECT * FROM claim_evidence WHERE claim_id = any($1::bigint[]) ORDER BY id", ids):
        evidence[e["claim_id"]].append(EvidenceView(e["id"], e["kind"], e["media_type"], e["size"],
                                                    bytes(e["sha256"]).hex(), e["path"], e["at_ms"]))  # fmt: skip
    for e in await pg.fetch("SELECT * FROM claim_events WHERE claim_id = any($1::bigint[]) ORDER BY id", ids):
        history[e["claim_id"]].append(ClaimEvent(e["status"], e["at_ms"], e["note"]))
    return [
        ClaimView(c["id"], c["kind"], c["shipment_id"], c["parcel_no"], c["removal_id"], c["sale_id"], c["lot_no"],
                  c["currency"].strip(), c["declared_value"], c["payee"], c["status"], c["filed_ms"],
                  c["description"], c["approved_amount"], c["denial_reason"],
                  missing_evidence(c["kind"], {e.kind for e in evidence[c["id"]]}), evidence[c["id"]],
                  history[c["id"]])
        for c in rows
    ]  # fmt: skip


# ---- filing -------------------------------------------------------------------------------------------------


class _Target(msgspec.Struct, frozen=True):
    """What a claim is about, as the claims table records it."""

    shipment_id: int | None
    parcel_no: int | None
    removal_id: int | None
    sale_id: int
    lot_no: int
    currency: str
    declared_value: int
    payee: str


async def _shipment_target(conn: asyncpg.Connection, kind: ClaimKind, view: ShipmentView, parcel_no: int | None,
                           at_ms: int, terms: SettlementTerms) -> _Target:  # fmt: skip
    parcels = [p for p in view.parcels if parcel_no is None or p.no == parcel_no]
    if not parcels:
        raise Missing("parcel", f"shipment {view.id} has no parcel {parcel_no}")
    for p in parcels:
        problem = shipment_claim_problem(kind, coverage([(e.state, e.at_ms) for e in p.history]), view.scheduled_ms,
                                         at_ms, terms)  # fmt: skip
        if problem is not None:
            raise ShippingRefused(problem.field, f"parcel {p.no} ({p.tracking_no}): {problem.message}")
    paid = await conn.fetchval(
        "SELECT status = 'paid' FROM invoices WHERE sale_id = $1 AND buyer_id = $2", view.sale, view.party
    )
    if loss_bearer(view.purpose, bool(paid)) == "buyer":
        payee = ledger.buyer(view.party)
    else:
        payee = ledger.consignor(await billing.lot_consignor(conn, view.sale, view.lot))
    return _Target(view.id, parcel_no, None, view.sale, view.lot, view.currency,
                   sum(p.declared_value for p in parcels), payee)  # fmt: skip


async def _custody_target(conn: asyncpg.Connection, kind: ClaimKind, removal_id: int, at_ms: int,
                          terms: SettlementTerms) -> _Target:  # fmt: skip
    r = await conn.fetchrow("SELECT * FROM setting_removals WHERE id = $1", removal_id)
    if r is None:
        raise Missing("removal", f"no setting removal {removal_id}")
    problem = custody_claim_problem(kind, r["started_ms"], r["completed_ms"], at_ms, terms)
    if problem is not None:
        raise ShippingRefused.of(problem)
    # in custody the stone is still the consignor's: they bore the loss (shipping_rules.loss_bearer)
    assert loss_bearer(None, buyer_paid=False) == "consignor"
    return _Target(None, None, removal_id, r["sale_id"], r["lot_no"], r["currency"].strip(), r["declared_value"],
                   ledger.consignor(r["consignor_id"]))  # fmt: skip


async def _overlapping(conn: asyncpg.Connection, target: _Target, kind: ClaimKind) -> int | None:
    """A live claim (not denied) of the same kind on the same parcel, shipment or custody."""
    found: int | None = await conn.fetchval(
        "SELECT id FROM claims WHERE kind = $1 AND status <> 'denied' AND ("
        "(shipment_id = $2 AND (parcel_no IS NULL OR $3::int IS NULL OR parcel_no = $3)) OR removal_id = $4) "
        "LIMIT 1",
        kind,
        target.shipment_id,
        target.parcel_no,
        target.removal_id,
    )
    return found


async def file_claim(
    pg: asyncpg.Pool,
    *,
    kind: ClaimKind,
    at_ms: int,
    idem_key: str,
    shipment_id: int | None = None,
    parcel_no: int | None = None,
    removal_id: int | None = None,
    description: str = "",
) -> ClaimView:
    """File a claim against a shipment (one parcel of it, or all) or against custody, inside its window.
    The same `idem_key` twice returns the first claim."""
    if kind not in get_args(ClaimKind):
        raise ShippingRefused("kind", f"kind must be one of {', '.join(get_args(ClaimKind))}", "invalid")
    if (shipment_id is None) == (removal_id is None):
        raise ShippingRefused(
            "shipment", "a claim is against a shipment or against custody (a removal): one of the two", "invalid"
        )
    if parcel_no is not None and shipment_id is None:
        raise ShippingRefused("parcel", "a parcel is named only with its shipment", "invalid")
    if not idem_key:
        raise ShippingRefused("idem_key", "an idempotency key is required", "invalid")
    async with pg.acquire() as conn, conn.transaction():
        existing: int | None = await conn.fetchval("SELECT id FROM claims WHERE idem_key = $1", idem_key)
        if existing is not None:
            return await claim(conn, existing)
        if shipment_id is not None:
            view = await shipment(conn, shipment_id)
            terms = await billing.load_terms(conn, view.sale)
            target = await _shipment_target(conn, kind, view, parcel_no, at_ms, terms)
        else:
            assert removal_id is not None
            sale = await conn.fetchval("SELECT sale_id FROM setting_removals WHERE id = $1", removal_id)
            terms = await billing.load_terms(conn, sale) if sale is not None else SettlementTerms()
            target = await _custody_target(conn, kind, removal_id, at_ms, terms)
        clash = await _overlapping(conn, target, kind)
        if clash is not None:
            raise ShippingRefused("kind", f"claim {clash} already covers this {kind}")
        claim_id = await conn.fetchval(
            "INSERT INTO claims (idem_key, kind, shipment_id, parcel_no, removal_id, sale_id, lot_no, currency, "
            "declared_value, payee, filed_ms, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
            "RETURNING id",
            idem_key, kind, target.shipment_id, target.parcel_no, target.removal_id, target.sale_id, target.lot_no,
            target.currency, target.declared_value, target.payee, at_ms, description,
        )  # fmt: skip
        await _event(conn, claim_id, "filed", at_ms, description)
        return await claim(conn, claim_id)


async def _event(conn: asyncpg.Connection, claim_id: int, status: ClaimStatus, at_ms: int, note: str) -> None:
    await conn.execute(
        "INSERT INTO claim_events (claim_id, status, at_ms, note) VALUES ($1, $2, $3, $4)",
        claim_id,
        status,
        at_ms,
        note,
    )


async def add_evidence(
    pg: asyncpg.Pool,
    claim_id: int,
    kind: EvidenceKind,
    media_type: str,
    at_ms: int,
    *,
    content: bytes | None = None,
    path: str | None = None,
) -> ClaimView:
    """Attach a document or photo to an open claim. The same file of the same kind twice is kept once."""
    if kind not in get_args(EvidenceKind):
        raise ShippingRefused("kind", f"kind must be one of {', '.join(get_args(EvidenceKind))}", "invalid")
    stored = await stored_file(media_type, content, path, image_only=kind == "photo")
    async with pg.acquire() as conn, conn.transaction():
        row = await _locked(conn, claim_id)
        if row["status"] not in CLAIM_OPEN:
            raise ShippingRefused("claim", f"claim {claim_id} is {row['status']}: no more evidence is taken")
        await conn.execute(
            "INSERT INTO claim_evidence (claim_id, kind, media_type, size, sha256, content, path, at_ms) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (claim_id, kind, sha256) DO NOTHING",
            claim_id, kind, stored.media_type, stored.size, stored.sha256, stored.content, stored.path, at_ms,
        )  # fmt: skip
        return await claim(conn, claim_id)


async def _locked(conn: asyncpg.Connection, claim_id: int) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM claims WHERE id = $1 FOR UPDATE", claim_id)
    if row is None:
        raise Missing("claim", f"no claim {claim_id}")
    return row


# ---- moving a claim along -----------------------------------------------------------------------------------


async def _approved_elsewhere(conn: asyncpg.Connection, row: asyncpg.Record) -> int:
    """What other claims on the same thing were approved for: the same custody, the same parcel, or the whole
    shipment that the parcel is part of (or, for a whole-shipment claim, any of its parcels). Together they stay
    within the declared value of what was lost."""
    total = await conn.fetchval(
        "SELECT coalesce(sum(approved_amount), 0) FROM claims WHERE id <> $1 AND status IN ('approved', 'paid') "
        "AND (removal_id = $3 OR (shipment_id = $2 AND (parcel_no IS NULL OR $4::int IS NULL OR parcel_no = $4)))",
        row["id"],
        row["shipment_id"],
        row["removal_id"],
        row["parcel_no"],
    )
    return int(total)


async def _move(
    pg: asyncpg.Pool, claim_id: int, to: ClaimStatus, at_ms: int, note: str, amount: int | None = None
) -> ClaimView:
    async with pg.acquire() as conn, conn.transaction():
        row = await _locked(conn, claim_id)
        if row["status"] == to and (to != "approved" or amount == row["approved_amount"]):
            return await claim(conn, claim_id)  # a retry of the step just taken
        if to == "approved":  # one approval at a time per shipment or custody: the cap counts the others
            await conn.execute("SELECT 1 FROM shipments WHERE id = $1 FOR UPDATE", row["shipment_id"])
            await conn.execute("SELECT 1 FROM setting_removals WHERE id = $1 FOR UPDATE", row["removal_id"])
        have = {r["kind"] for r in await conn.fetch("SELECT kind FROM claim_evidence WHERE claim_id = $1", claim_id)}
        problem = claim_move_problem(
            row["status"],
            to,
            missing=missing_evidence(row["kind"], have),
            amount=amount,
            cap=approval_cap(row["declared_value"], await _approved_elsewhere(conn, row)),
            reason=note,
        )
        if problem is not None:
            raise ShippingRefused.of(problem)
        columns: dict[str, object] = {"status": to}  # written in one UPDATE: the table's CHECKs see them together
        match to:
            case "approved":
                assert amount is not None
                columns |= await _post_approval(conn, row, amount, at_ms)
            case "paid":
                columns |= await _post_payment(conn, row, at_ms)
            case "denied":
                columns["denial_reason"] = note.strip()
        names = list(columns)
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(names, start=2))
        await conn.execute(f"UPDATE claims SET {assignments} WHERE id = $1", claim_id, *columns.values())
        await _event(conn, claim_id, to, at_ms, note)
        return await claim(conn, claim_id)


def _posting(row: asyncpg.Record, step: str, at_ms: int, *pairs: tuple[str, int]) -> ledger.Posting:
    return ledger.Posting(
        idem_key=f"claim-{step}:{row['id']}",
        kind=f"claim_{step}",
        currency=row["currency"].strip(),
        at_ms=at_ms,
        sale_id=row["sale_id"],
        lot_no=row["lot_no"],
        memo=f"{row['kind']} claim {row['id']}",
        entries=ledger.entries(*pairs),
    )


async def _post_approval(conn: asyncpg.Connection, row: asyncpg.Record, amount: int, at_ms: int) -> dict[str, object]:
    txn = await ledger.post(
        conn, _posting(row, "approved", at_ms, (ledger.INSURANCE_RECEIVABLE, amount), (ledger.CLAIMS_PAYABLE, -amount))
    )
    return {"approved_amount": amount, "approve_txn_id": txn}


async def _post_payment(conn: asyncpg.Connection, row: asyncpg.Record, at_ms: int) -> dict[str, object]:
    amount, payee = row["approved_amount"], row["payee"]
    insurer = await ledger.post(
        conn, _posting(row, "insurer", at_ms, (ledger.CASH, amount), (ledger.INSURANCE_RECEIVABLE, -amount))
    )
    payout = await ledger.post(conn, _posting(row, "payout", at_ms, (ledger.CLAIMS_PAYABLE, amount), (payee, -amount)))
    remit = await ledger.post(conn, _posting(row, "remit", at_ms, (payee, amount), (ledger.CASH, -amount)))
    return {"insurer_txn_id": insurer, "payout_txn_id": payout, "remit_txn_id": remit}


async def request_documents(pg: asyncpg.Pool, claim_id: int, at_ms: int, note: str = "") -> ClaimView:
    """Ask for what is missing (the note says what)."""
    return await _move(pg, claim_id, "documents_requested", at_ms, note)


async def start_review(pg: asyncpg.Pool, claim_id: int, at_ms: int, note: str = "") -> ClaimView:
    """Under review with the insurer: refused while evidence is missing (field `evidence`)."""
    return await _move(pg, claim_id, "under_review", at_ms, note)


async def approve(pg: asyncpg.Pool, claim_id: int, amount: int, at_ms: int, note: str = "") -> ClaimView:
    """The insurer approves `amount`, never above the declared value (less other approvals on the same thing)."""
    return await _move(pg, claim_id, "approved", at_ms, note, amount)


async def deny(pg: asyncpg.Pool, claim_id: int, reason: str, at_ms: int) -> ClaimView:
    return await _move(pg, claim_id, "denied", at_ms, reason)


async def pay(pg: asyncpg.Pool, claim_id: int, at_ms: int, note: str = "") -> ClaimView:
    """The insurer has paid the approved amount; the house pays it on to whoever bore the loss."""
    return await _move(pg, claim_id, "paid", at_ms, note)


# ---- reconcile ----------------------------------------------------------------------------------------------

_MOVED = (
    "(SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
    "WHERE e.txn_id = c.{txn} AND a.code = {code})"
)


def _moved(txn: str, code: str) -> str:
    return _MOVED.format(txn=txn, code=code)


_POSTINGS_SQL = (
    "SELECT c.id, c.status, c.approved_amount AS amount, "
    + _moved("approve_txn_id", "'insurance:receivable'") + " AS approved_receivable, "
    + _moved("approve_txn_id", "'claims:payable'") + " AS approved_payable, "
    + _moved("insurer_txn_id", "'cash'") + " AS insurer_cash, "
    + _moved("payout_txn_id", "c.payee") + " AS payout_payee, "
    + _moved("remit_txn_id", "'cash'") + " AS remit_cash "
    "FROM claims c WHERE c.status IN ('approved', 'paid') ORDER BY c.id"
)  # fmt: skip


async def claim_problems(pg: asyncpg.Pool) -> list[str]:
    """Every approved or paid claim agrees with the ledger, and no claim (nor the claims on one shipment or one
    custody together) is above the declared value of what it is about. Empty: clean."""
    problems = await _claim_postings(pg)
    problems += await _claim_caps(pg)
    problems += await _claim_accounts(pg)
    return problems


async def _claim_postings(pg: asyncpg.Pool) -> list[str]:
    rows = await pg.fetch(_POSTINGS_SQL)
    problems = []
    for r in rows:
        amount = r["amount"]
        if (r["approved_receivable"], r["approved_payable"]) != (amount, -amount):
            problems.append(f"claim {r['id']}: approved for {amount} but the ledger moved "
                            f"{r['approved_receivable']} / {r['approved_payable']}")  # fmt: skip
        if r["status"] == "paid" and (r["insurer_cash"], r["payout_payee"], r["remit_cash"]) != (
            amount,
            -amount,
            -amount,
        ):
            problems.append(f"claim {r['id']}: paid {amount} but the ledger took in {r['insurer_cash']}, credited "
                            f"{-r['payout_payee']} and remitted {-r['remit_cash']}")  # fmt: skip
    for r in await pg.fetch(
        "SELECT t.id, t.idem_key FROM ledger_transactions t WHERE t.kind LIKE 'claim\\_%' AND NOT EXISTS ("
        "SELECT 1 FROM claims c WHERE t.id IN (c.approve_txn_id, c.insurer_txn_id, c.payout_txn_id, c.remit_txn_id))"
    ):
        problems.append(f"transaction {r['id']} ({r['idem_key']}): a claim posting that no claim records")
    return problems


async def _claim_caps(pg: asyncpg.Pool) -> list[str]:
    problems = []
    for r in await pg.fetch(
        "SELECT c.id, c.approved_amount, c.declared_value, coalesce(p.declared_value, s.declared_value, "
        "r.declared_value) AS insured FROM claims c LEFT JOIN shipments s ON s.id = c.shipment_id "
        "LEFT JOIN parcels p ON p.shipment_id = c.shipment_id AND p.parcel_no = c.parcel_no "
        "LEFT JOIN setting_removals r ON r.id = c.removal_id ORDER BY c.id"
    ):
        if r["declared_value"] != r["insured"]:
            problems.append(f"claim {r['id']}: declared {r['declared_value']} but what it is about was insured "
                            f"for {r['insured']}")  # fmt: skip
        if r["approved_amount"] is not None and r["approved_amount"] > r["insured"]:
            problems.append(f"claim {r['id']}: approved {r['approved_amount']}, above the declared {r['insured']}")
    for r in await pg.fetch(
        "SELECT what, insured, approved FROM (SELECT coalesce('shipment ' || s.id, 'custody ' || r.id) AS what, "
        "coalesce(s.declared_value, r.declared_value) AS insured, sum(c.approved_amount) AS approved FROM claims c "
        "LEFT JOIN shipments s ON s.id = c.shipment_id LEFT JOIN setting_removals r ON r.id = c.removal_id "
        "WHERE c.status IN ('approved', 'paid') GROUP BY 1, 2) x WHERE approved > insured ORDER BY what"
    ):
        problems.append(f"{r['what']}: claims approved for {r['approved']} together, above the declared {r['insured']}")
    return problems


async def _claim_accounts(pg: asyncpg.Pool) -> list[str]:
    """The two accounts only claims use hold exactly what approved, unpaid claims say."""
    owed = {
        r["currency"]: int(r["owed"])
        for r in await pg.fetch(
            "SELECT currency, sum(approved_amount) AS owed FROM claims WHERE status = 'approved' GROUP BY currency"
        )
    }
    problems = []
    for code, sign in ((ledger.INSURANCE_RECEIVABLE, 1), (ledger.CLAIMS_PAYABLE, -1)):
        actual = {
            r["currency"]: r["balance"]
            for r in await pg.fetch("SELECT currency, balance FROM ledger_accounts WHERE code = $1", code)
        }
        for currency in sorted(set(owed) | set(actual)):
            want, have = sign * owed.get(currency, 0), actual.get(currency, 0)
            if want != have:
                problems.append(f"account {code} ({currency.strip()}): approved unpaid claims say {want}, "
                                f"the ledger {have}")  # fmt: skip
    return problems
