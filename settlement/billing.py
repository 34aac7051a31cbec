"""Invoices, payments, late interest, deposits, consignor statements and payouts: the database half.

Each function runs one PostgreSQL transaction that writes its rows and its ledger posting together, keyed so
that running it twice changes nothing the second time. Rules and arithmetic come from settlement.rules; the
clock is the `now_ms` / `at_ms` argument.
"""

from __future__ import annotations

import html
from typing import Literal

import asyncpg
import msgspec

from auction.catalog import SaleSettings
from settlement import agreements, ledger
from settlement.errors import InvalidState, NotFound
from settlement.rules import (
    DAY_MS,
    DEFAULT_TERMS,
    SettlementTerms,
    late_interest,
    lot_charges,
    payout_release_ms,
)

LineSource = Literal["hammer", "second_chance", "reaward", "post_sale"]


# ---- terms --------------------------------------------------------------------------------------------------


async def load_terms(conn: asyncpg.Connection | asyncpg.Pool, sale_id: int) -> SettlementTerms:
    raw = await conn.fetchval("SELECT terms::text FROM settlement_terms WHERE sale_id = $1", sale_id)
    return msgspec.json.decode(raw, type=SettlementTerms) if raw else DEFAULT_TERMS


async def set_terms(pg: asyncpg.Pool, sale_id: int, terms: SettlementTerms) -> None:
    await pg.execute(
        "INSERT INTO settlement_terms (sale_id, terms) VALUES ($1, $2::jsonb) "
        "ON CONFLICT (sale_id) DO UPDATE SET terms = EXCLUDED.terms",
        sale_id,
        msgspec.json.encode(terms).decode(),
    )


class SaleFacts(msgspec.Struct, frozen=True):
    currency: str
    settings: SaleSettings
    terms: SettlementTerms


async def sale_facts(conn: asyncpg.Connection | asyncpg.Pool, sale_id: int) -> SaleFacts:
    row = await conn.fetchrow("SELECT currency, settings::text AS settings FROM sales WHERE id = $1", sale_id)
    if row is None:
        raise NotFound(f"no sale {sale_id} in the catalogue")
    settings = msgspec.json.decode(row["settings"], type=SaleSettings)
    return SaleFacts(row["currency"].strip(), settings, await load_terms(conn, sale_id))


async def lot_consignor(conn: asyncpg.Connection | asyncpg.Pool, sale_id: int, lot_no: int) -> int:
    consignor: int | None = await conn.fetchval(
        "SELECT consignor_id FROM lots WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no
    )
    if consignor is None:
        raise NotFound(f"sale {sale_id} has no lot {lot_no} with a consignor")
    return consignor


# ---- billing a lot ------------------------------------------------------------------------------------------


async def bill_lot(
    conn: asyncpg.Connection,
    *,
    sale_id: int,
    lot_no: int,
    buyer_id: int,
    hammer: int,
    at_ms: int,
    source: LineSource,
    idem_key: str,
) -> int | None:
    """Add a lot to its buyer's invoice for the sale and post it; the line id, or None if already billed.

    Call inside a transaction. The posting: the buyer owes hammer + premium + shipping + insurance + tax; the
    consignor is owed the hammer less commission and fees; the house earns the rest; tax is held for the state.
    """
    facts = await sale_facts(conn, sale_id)
    consignor_id = await lot_consignor(conn, sale_id, lot_no)
    terms = await agreements.consignor_terms(conn, consignor_id, facts.terms)  # commission as they agreed
    c = lot_charges(hammer, buyer_id, facts.settings.premium, terms)
    posting = ledger.Posting(
        idem_key=idem_key,
        kind=f"lot_{source}",
        currency=facts.currency,
        at_ms=at_ms,
        sale_id=sale_id,
        lot_no=lot_no,
        entries=ledger.entries(
            (ledger.buyer(buyer_id), c.total),
            (ledger.consignor(consignor_id), -c.consignor_net),
            (ledger.HOUSE_COMMISSION, -c.commission),
            (ledger.HOUSE_FEES, -c.consignor_fees),
            (ledger.HOUSE_PREMIUM, -c.premium),
            (ledger.HOUSE_SHIPPING, -c.shipping),
            (ledger.HOUSE_INSURANCE, -c.insurance),
            (ledger.TAX_PAYABLE, -c.tax),
        ),
    )
    txn_id = await ledger.post(conn, posting)
    if txn_id is None:
        return None
    due_ms = at_ms + facts.terms.due_days * DAY_MS
    invoice_id = await conn.fetchval(
        "INSERT INTO invoices (sale_id, buyer_id, currency, issued_ms, due_ms) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (sale_id, buyer_id) DO UPDATE SET due_ms = greatest(invoices.due_ms, EXCLUDED.due_ms), "
        "status = CASE WHEN invoices.status = 'paid' THEN 'open' ELSE invoices.status END, "
        "paid_ms = CASE WHEN invoices.status = 'paid' THEN NULL ELSE invoices.paid_ms END "
        "RETURNING id",
        sale_id,
        buyer_id,
        facts.currency,
        at_ms,
        due_ms,
    )
    line_id: int = await conn.fetchval(
        "INSERT INTO invoice_lines (invoice_id, sale_id, lot_no, source, hammer, premium, shipping, insurance, tax, "
        "total, consignor_id, commission, consignor_fees, consignor_net, at_ms, txn_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
        invoice_id,
        sale_id,
        lot_no,
        source,
        c.hammer,
        c.premium,
        c.shipping,
        c.insurance,
        c.tax,
        c.total,
        consignor_id,
        c.commission,
        c.consignor_fees,
        c.consignor_net,
        at_ms,
        txn_id,
    )
    await settle_if_covered(conn, invoice_id, at_ms)  # a credit a reopen left on the invoice may cover it
    return line_id


VoidReason = Literal["default", "reopened"]
# Why a line is voided -> its reversal's idempotency key prefix (the line's id follows) and ledger kind.
_VOIDS: dict[VoidReason, tuple[str, str]] = {
    "default": ("void-line", "lot_void"),  # its buyer defaulted
    "reopened": ("reopen-line", "lot_reopened"),  # the lot was reopened after the hammer: it was never sold so
}
REOPENED_KIND = _VOIDS["reopened"][1]


async def void_line(
    conn: asyncpg.Connection, line_id: int, at_ms: int, reason: str, why: VoidReason = "default"
) -> None:
    """Reverse a billed lot exactly (its buyer no longer owes it, its consignor is no longer owed it)."""
    line = await conn.fetchrow("SELECT * FROM invoice_lines WHERE id = $1 FOR UPDATE", line_id)
    if line is None:
        raise NotFound(f"no invoice line {line_id}")
    if line["status"] == "voided":
        return
    if await conn.fetchval("SELECT 1 FROM payout_lines WHERE line_id = $1", line_id):
        raise InvalidState(f"line {line_id} was already paid out to its consignor")
    rows = await conn.fetch(
        "SELECT a.code, e.amount, t.currency FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
        "JOIN ledger_transactions t ON t.id = e.txn_id WHERE e.txn_id = $1",
        line["txn_id"],
    )
    prefix, kind = _VOIDS[why]
    posting = ledger.Posting(
        idem_key=f"{prefix}:{line_id}",
        kind=kind,
        currency=rows[0]["currency"].strip(),
        at_ms=at_ms,
        sale_id=line["sale_id"],
        lot_no=line["lot_no"],
        memo=reason,
        entries=ledger.entries(*[(row["code"], -row["amount"]) for row in rows]),
    )
    txn_id = await ledger.post(conn, posting)
    await conn.execute("UPDATE invoice_lines SET status = 'voided', void_txn_id = $2 WHERE id = $1", line_id, txn_id)


async def unbill_reopened(conn: asyncpg.Connection, line_id: int, at_ms: int, reason: str) -> None:
    """Take a lot off its buyer's invoice because it was reopened after the hammer, in the caller's transaction:
    the line reversed exactly, the interest recomputed without it, and the invoice paid if what was paid on it
    now covers it (any excess stays on it as the buyer's credit; docs/SETTLEMENT.md says why)."""
    invoice_id: int | None = await conn.fetchval("SELECT invoice_id FROM invoice_lines WHERE id = $1", line_id)
    if invoice_id is None:
        raise NotFound(f"no invoice line {line_id}")
    await _locked_invoice(conn, invoice_id)  # the invoice before its line, as payments and defaults lock them
    await void_line(conn, line_id, at_ms, reason, "reopened")
    await _interest_without(conn, invoice_id, line_id)
    await settle_if_covered(conn, invoice_id, at_ms)


# ---- invoices -----------------------------------------------------------------------------------------------


class LineView(msgspec.Struct, frozen=True):
    id: int
    lot: int
    source: str
    status: str
    hammer: int
    premium: int
    shipping: int
    insurance: int
    tax: int
    total: int


class PaymentView(msgspec.Struct, frozen=True):
    id: int
    amount: int
    received_ms: int
    reference: str


class InvoiceView(msgspec.Struct, frozen=True):
    id: int
    sale: int
    buyer: int
    currency: str
    issued_ms: int
    due_ms: int
    status: str
    lines: list[LineView]
    payments: list[PaymentView]
    hammer: int
    premium: int
    shipping: int
    insurance: int
    tax: int
    interest: int
    total: int
    paid: int
    outstanding: int
    paid_ms: int | None


async def invoice_id_for(pg: asyncpg.Pool | asyncpg.Connection, sale_id: int, buyer_id: int) -> int:
    found: int | None = await pg.fetchval(
        "SELECT id FROM invoices WHERE sale_id = $1 AND buyer_id = $2", sale_id, buyer_id
    )
    if found is None:
        raise NotFound(f"buyer {buyer_id} has no invoice in sale {sale_id}")
    return found


async def invoice(pg: asyncpg.Pool | asyncpg.Connection, invoice_id: int) -> InvoiceView:
    inv = await pg.fetchrow("SELECT * FROM invoices WHERE id = $1", invoice_id)
    if inv is None:
        raise NotFound(f"no invoice {invoice_id}")
    lines = [
        LineView(r["id"], r["lot_no"], r["source"], r["status"], r["hammer"], r["premium"], r["shipping"],
                 r["insurance"], r["tax"], r["total"])
        for r in await pg.fetch("SELECT * FROM invoice_lines WHERE invoice_id = $1 ORDER BY lot_no, id", invoice_id)
    ]  # fmt: skip
    payments = [
        PaymentView(r["id"], r["amount"], r["received_ms"], r["reference"])
        for r in await pg.fetch("SELECT * FROM payments WHERE invoice_id = $1 ORDER BY id", invoice_id)
    ]
    active = [line for line in lines if line.status == "active"]
    total = sum(line.total for line in active) + inv["interest_posted"]
    paid = sum(p.amount for p in payments)
    return InvoiceView(
        id=inv["id"],
        sale=inv["sale_id"],
        buyer=inv["buyer_id"],
        currency=inv["currency"].strip(),
        issued_ms=inv["issued_ms"],
        due_ms=inv["due_ms"],
        status=inv["status"],
        lines=lines,
        payments=payments,
        hammer=sum(line.hammer for line in active),
        premium=sum(line.premium for line in active),
        shipping=sum(line.shipping for line in active),
        insurance=sum(line.insurance for line in active),
        tax=sum(line.tax for line in active),
        interest=inv["interest_posted"],
        total=total,
        paid=paid,
        outstanding=total - paid if inv["status"] != "defaulted" else 0,
        paid_ms=inv["paid_ms"],
    )


def money(amount: int) -> str:
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units:,}.{cents:02d}"


def invoice_html(view: InvoiceView) -> str:
    """A printable invoice: plain HTML with print styles, no scripts."""
    rows = "".join(
        f"<tr{' class=void' if line.status != 'active' else ''}><td>{line.lot}</td><td>{html.escape(line.source)}</td>"
        f"<td>{money(line.hammer)}</td><td>{money(line.premium)}</td><td>{money(line.shipping)}</td>"
        f"<td>{money(line.insurance)}</td><td>{money(line.tax)}</td><td>{money(line.total)}</td></tr>"
        for line in view.lines
    )
    pays = "".join(
        f"<tr><td>{html.escape(p.reference)}</td><td>{p.received_ms}</td><td>{money(p.amount)}</td></tr>"
        for p in view.payments
    )
    cur = html.escape(view.currency)
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>Invoice {view.id}</title><style>body{{font-family:serif;margin:2em}}"
        "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #999;padding:4px;text-align:right}"
        ".void{text-decoration:line-through;color:#888}@media print{a{display:none}}</style></head><body>"
        f"<h1>Invoice {view.id}</h1><p>Sale {view.sale} &middot; buyer {view.buyer} &middot; {cur} &middot; "
        f"status {html.escape(view.status)} &middot; due (epoch ms) {view.due_ms}</p>"
        "<table><tr><th>Lot</th><th>Source</th><th>Hammer</th><th>Premium</th><th>Shipping</th><th>Insurance</th>"
        f"<th>Tax</th><th>Total</th></tr>{rows}</table>"
        f"<p>Late interest: {money(view.interest)}<br>Total: {cur} {money(view.total)}<br>"
        f"Paid: {cur} {money(view.paid)}<br><strong>Outstanding: {cur} {money(view.outstanding)}</strong></p>"
        f"<h2>Payments</h2><table><tr><th>Reference</th><th>Received</th><th>Amount</th></tr>{pays}</table>"
        "</body></html>"
    )


# ---- payments and interest ----------------------------------------------------------------------------------


async def _locked_invoice(conn: asyncpg.Connection, invoice_id: int) -> asyncpg.Record:
    inv = await conn.fetchrow("SELECT * FROM invoices WHERE id = $1 FOR UPDATE", invoice_id)
    if inv is None:
        raise NotFound(f"no invoice {invoice_id}")
    return inv


async def _principal_and_payments(conn: asyncpg.Connection, invoice_id: int) -> tuple[int, list[tuple[int, int]]]:
    principal = await conn.fetchval(
        "SELECT coalesce(sum(total), 0) FROM invoice_lines WHERE invoice_id = $1 AND status = 'active'", invoice_id
    )
    payments = [
        (r["received_ms"], r["amount"])
        for r in await conn.fetch("SELECT received_ms, amount FROM payments WHERE invoice_id = $1", invoice_id)
    ]
    return int(principal), payments


async def accrue_interest(conn: asyncpg.Connection, inv: asyncpg.Record, now_ms: int) -> int:
    """Post the interest owed up to now_ms that isn't posted yet; returns the invoice's interest total. Call in
    the caller's transaction with the invoice row locked (a payment, and the defaults' sweep, do)."""
    if inv["status"] != "open":
        return int(inv["interest_posted"])
    terms = await load_terms(conn, inv["sale_id"])
    principal, payments = await _principal_and_payments(conn, inv["id"])
    owed = late_interest(principal, payments, inv["due_ms"], now_ms, terms.interest_bp_per_month)
    delta = owed - inv["interest_posted"]
    if delta <= 0:
        return int(inv["interest_posted"])
    await ledger.post(
        conn,
        ledger.Posting(
            idem_key=await _interest_key(conn, inv["id"], owed),
            kind="interest",
            currency=inv["currency"].strip(),
            at_ms=now_ms,
            sale_id=inv["sale_id"],
            entries=ledger.entries((ledger.buyer(inv["buyer_id"]), delta), (ledger.HOUSE_INTEREST, -delta)),
        ),
    )
    await conn.execute("UPDATE invoices SET interest_posted = $2 WHERE id = $1", inv["id"], owed)
    return owed


async def _interest_key(conn: asyncpg.Connection, invoice_id: int, owed: int) -> str:
    """The key of the posting that brings the invoice's interest to `owed`. Between two reopens that gave interest
    back, what is posted only grows, so `owed` names the posting; after the n-th, the key says so too, so that a
    total reached again is not taken for one posted before."""
    given_back: int = await conn.fetchval(
        "SELECT count(*) FROM ledger_transactions WHERE kind = 'interest' AND idem_key LIKE $1",
        f"interest:{invoice_id}:back:%",
    )
    return f"interest:{invoice_id}:{owed}" + (f":{given_back}" if given_back else "")


async def _interest_without(conn: asyncpg.Connection, invoice_id: int, line_id: int) -> None:
    """Interest is owed only on what the buyer bought. With a line voided by a reopen, the interest posted is
    recomputed on the lines left, as of the last time interest was posted, and what it charged on the voided
    line is posted back. (A reopen comes before the next lot opens, days before the invoice falls due, so there
    is hardly ever any; only a reopen that reaches settlement very late meets posted interest.)"""
    inv = await conn.fetchrow("SELECT * FROM invoices WHERE id = $1", invoice_id)
    if inv is None or inv["interest_posted"] == 0 or inv["status"] == "defaulted":
        return
    last: int = await conn.fetchval(
        "SELECT max(at_ms) FROM ledger_transactions WHERE kind = 'interest' AND idem_key LIKE $1",
        f"interest:{invoice_id}:%",
    )
    terms = await load_terms(conn, inv["sale_id"])
    principal, payments = await _principal_and_payments(conn, invoice_id)
    fair = late_interest(principal, payments, inv["due_ms"], last, terms.interest_bp_per_month)
    back = inv["interest_posted"] - fair
    if back <= 0:
        return
    await ledger.post(
        conn,
        ledger.Posting(
            idem_key=f"interest:{invoice_id}:back:{line_id}",
            kind="interest",
            currency=inv["currency"].strip(),
            at_ms=last,
            sale_id=inv["sale_id"],
            memo=f"interest charged on line {line_id}, voided by a reopen",
            entries=ledger.entries((ledger.buyer(inv["buyer_id"]), -back), (ledger.HOUSE_INTEREST, back)),
        ),
    )
    await conn.execute("UPDATE invoices SET interest_posted = $2 WHERE id = $1", invoice_id, fair)


async def settle_if_covered(conn: asyncpg.Connection, invoice_id: int, at_ms: int) -> bool:
    """An open invoice that what was paid on it now covers (a line voided by a reopen; a line added to an invoice
    holding a credit) is paid, as of `at_ms`; True if so. An invoice left with nothing on it is paid too: nothing
    is owed, so nothing may fall into default. Call in the caller's transaction."""
    inv = await _locked_invoice(conn, invoice_id)
    if inv["status"] != "open":
        return False
    principal, payments = await _principal_and_payments(conn, invoice_id)
    if principal + inv["interest_posted"] - sum(amount for _, amount in payments) > 0:
        return False
    await conn.execute("UPDATE invoices SET status = 'paid', paid_ms = $2 WHERE id = $1", invoice_id, at_ms)
    return True


async def pay(pg: asyncpg.Pool, invoice_id: int, amount: int, reference: str, at_ms: int) -> InvoiceView:
    """Record a cleared payment (possibly partial). The same reference twice records it once."""
    if amount <= 0:
        raise InvalidState("a payment must be positive")
    async with pg.acquire() as conn, conn.transaction():
        inv = await _locked_invoice(conn, invoice_id)
        earlier = await conn.fetchval("SELECT invoice_id FROM payments WHERE reference = $1", reference)
        if earlier is not None:
            if earlier != invoice_id:
                raise InvalidState(f"payment reference {reference!r} was used for invoice {earlier}")
            return await invoice(conn, invoice_id)
        if inv["status"] != "open":
            raise InvalidState(f"invoice {invoice_id} is {inv['status']}")
        interest = await accrue_interest(conn, inv, at_ms)
        principal, payments = await _principal_and_payments(conn, invoice_id)
        outstanding = principal + interest - sum(a for _, a in payments)
        if amount > outstanding:
            raise InvalidState(f"payment of {amount} exceeds the {outstanding} outstanding on invoice {invoice_id}")
        txn_id = await ledger.post(
            conn,
            ledger.Posting(
                idem_key=f"payment:{reference}",
                kind="payment",
                currency=inv["currency"].strip(),
                at_ms=at_ms,
                sale_id=inv["sale_id"],
                entries=ledger.entries((ledger.CASH, amount), (ledger.buyer(inv["buyer_id"]), -amount)),
            ),
        )
        await conn.execute(
            "INSERT INTO payments (invoice_id, amount, received_ms, reference, txn_id) VALUES ($1, $2, $3, $4, $5)",
            invoice_id,
            amount,
            at_ms,
            reference,
            txn_id,
        )
        if amount == outstanding:
            await conn.execute("UPDATE invoices SET status = 'paid', paid_ms = $2 WHERE id = $1", invoice_id, at_ms)
        return await invoice(conn, invoice_id)


# ---- deposits -----------------------------------------------------------------------------------------------


async def take_deposit(pg: asyncpg.Pool, buyer_id: int, currency: str, amount: int, reference: str, at_ms: int) -> None:
    if amount <= 0:
        raise InvalidState("a deposit must be positive")
    async with pg.acquire() as conn, conn.transaction():
        txn_id = await ledger.post(
            conn,
            ledger.Posting(
                idem_key=f"deposit:{reference}",
                kind="deposit_taken",
                currency=currency,
                at_ms=at_ms,
                entries=ledger.entries((ledger.CASH, amount), (ledger.deposits(buyer_id), -amount)),
            ),
        )
        if txn_id is not None:
            await conn.execute(
                "INSERT INTO deposits (buyer_id, currency, kind, amount, at_ms, txn_id) "
                "VALUES ($1, $2, 'taken', $3, $4, $5)",
                buyer_id,
                currency,
                amount,
                at_ms,
                txn_id,
            )


async def deposit_held(conn: asyncpg.Connection | asyncpg.Pool, buyer_id: int, currency: str) -> int:
    held = await conn.fetchval(
        "SELECT coalesce(sum(CASE WHEN kind = 'taken' THEN amount ELSE -amount END), 0) FROM deposits "
        "WHERE buyer_id = $1 AND currency = $2",
        buyer_id,
        currency,
    )
    return int(held)


# ---- consignors ---------------------------------------------------------------------------------------------


class PayoutView(msgspec.Struct, frozen=True):
    id: int
    consignor: int
    sale: int
    currency: str
    amount: int
    at_ms: int
    lots: list[int]


async def release_payouts(pg: asyncpg.Pool, now_ms: int) -> list[PayoutView]:
    """Pay every consignor what has become payable: lots whose buyer paid in full, the hold having passed."""
    made: list[PayoutView] = []
    async with pg.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT l.id, l.sale_id, l.lot_no, l.consignor_id, l.consignor_net, i.currency, i.paid_ms "
            "FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id "
            "LEFT JOIN payout_lines p ON p.line_id = l.id "
            "WHERE l.status = 'active' AND i.status = 'paid' AND p.line_id IS NULL "
            "ORDER BY l.sale_id, l.consignor_id, l.id FOR UPDATE OF l SKIP LOCKED"
        )
        groups: dict[tuple[int, int, str], list[asyncpg.Record]] = {}
        for row in rows:
            terms = await load_terms(conn, row["sale_id"])
            if payout_release_ms(row["paid_ms"], terms) <= now_ms:
                groups.setdefault((row["sale_id"], row["consignor_id"], row["currency"].strip()), []).append(row)
        for (sale_id, consignor_id, currency), lines in groups.items():
            amount = sum(r["consignor_net"] for r in lines)
            if amount <= 0:
                continue
            ids = [r["id"] for r in lines]
            txn_id = await ledger.post(
                conn,
                ledger.Posting(
                    idem_key=f"payout:{sale_id}:{consignor_id}:{min(ids)}:{len(ids)}",
                    kind="payout",
                    currency=currency,
                    at_ms=now_ms,
                    sale_id=sale_id,
                    entries=ledger.entries((ledger.consignor(consignor_id), amount), (ledger.CASH, -amount)),
                ),
            )
            payout_id = await conn.fetchval(
                "INSERT INTO payouts (consignor_id, sale_id, currency, amount, at_ms, txn_id) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                consignor_id,
                sale_id,
                currency,
                amount,
                now_ms,
                txn_id,
            )
            await conn.executemany(
                "INSERT INTO payout_lines (line_id, payout_id) VALUES ($1, $2)", [(i, payout_id) for i in ids]
            )
            made.append(
                PayoutView(payout_id, consignor_id, sale_id, currency, amount, now_ms, [r["lot_no"] for r in lines])
            )
    return made


# A lot on a consignor's statement: awaiting its buyer's payment, held, payable, paid out; its sale undone by a
# default or by a reopen (the lot then appears again as it was sold after, or as unsold); unsold.
StatementStatus = Literal["awaiting_payment", "held", "payable", "paid_out", "defaulted", "reopened", "unsold"]


class StatementLine(msgspec.Struct, frozen=True):
    lot: int
    status: StatementStatus
    hammer: int
    commission: int
    fees: int
    net: int
    release_ms: int | None = None


class ConsignorStatement(msgspec.Struct, frozen=True):
    consignor: int
    sale: int
    currency: str
    lines: list[StatementLine]
    hammer: int
    commission: int
    fees: int
    net: int
    paid_out: int
    balance_owed: int  # what the ledger says the house owes this consignor now (negative: they owe the house)


async def consignor_statement(pg: asyncpg.Pool, consignor_id: int, sale_id: int, now_ms: int) -> ConsignorStatement:
    facts = await sale_facts(pg, sale_id)
    lines: list[StatementLine] = []
    rows = await pg.fetch(
        "SELECT l.*, i.status AS invoice_status, i.paid_ms, p.line_id AS paid_out, v.kind AS void_kind "
        "FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id LEFT JOIN payout_lines p ON p.line_id = l.id "
        "LEFT JOIN ledger_transactions v ON v.id = l.void_txn_id "
        "WHERE l.consignor_id = $1 AND l.sale_id = $2 ORDER BY l.lot_no, l.id",
        consignor_id,
        sale_id,
    )
    for r in rows:
        release = payout_release_ms(r["paid_ms"], facts.terms) if r["paid_ms"] is not None else None
        status: StatementStatus
        if r["status"] == "voided":
            status = "reopened" if r["void_kind"] == REOPENED_KIND else "defaulted"
        elif r["paid_out"] is not None:
            status = "paid_out"
        elif release is None:
            status = "awaiting_payment"
        else:
            status = "payable" if release <= now_ms else "held"
        lines.append(
            StatementLine(r["lot_no"], status, r["hammer"], r["commission"], r["consignor_fees"], r["consignor_net"],
                          release)
        )  # fmt: skip
    for r in await pg.fetch(
        "SELECT p.lot_no, p.highest_bid FROM passed_lots p JOIN lots l ON l.sale_id = p.sale_id AND "
        "l.lot_no = p.lot_no WHERE p.sale_id = $1 AND l.consignor_id = $2 AND p.status NOT IN ('sold', 'reopened') "
        "ORDER BY p.lot_no",
        sale_id,
        consignor_id,
    ):
        lines.append(StatementLine(r["lot_no"], "unsold", 0, 0, 0, 0))
    live = [line for line in lines if line.status not in ("defaulted", "reopened", "unsold")]
    paid_out = await pg.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM payouts WHERE consignor_id = $1 AND sale_id = $2", consignor_id, sale_id
    )
    owed = -await ledger.balance(pg, ledger.consignor(consignor_id), facts.currency)
    return ConsignorStatement(
        consignor=consignor_id,
        sale=sale_id,
        currency=facts.currency,
        lines=lines,
        hammer=sum(line.hammer for line in live),
        commission=sum(line.commission for line in live),
        fees=sum(line.fees for line in live),
        net=sum(line.net for line in live),
        paid_out=int(paid_out),
        balance_owed=owed,
    )
