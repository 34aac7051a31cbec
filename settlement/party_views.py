"""What a buyer and a consignor read of their own settlement, across every sale: a buyer's invoices and the
second-chance offers made to them; a consignor's statements and payouts. Reading only: nothing here writes.

Each list is one party's, chosen by the caller's own company or consignor id (settlement/owners.py refuses any
other); figures come from the same rows and rules as billing's, so a summary never disagrees with the invoice
or the statement it sums up. The shipments of a party's stones are shipping.shipments_of's.
"""

from __future__ import annotations

import asyncpg
import msgspec

from auction.engine.premium import premium
from settlement import billing
from settlement.billing import ConsignorStatement, PayoutView
from settlement.rules import late_interest, premium_schedule_for

MAX_ROWS = 1_000  # a party's invoices, offers or payouts in one answer: far more than one company ever has


class InvoiceSummary(msgspec.Struct, frozen=True):
    """One of a buyer's invoices in figures. `interest` is what is posted; `interest_to_date` what the overdue
    balance has earned by now (the next sweep posts it); `outstanding` is 0 once defaulted, as billing has it."""

    id: int
    sale: int
    sale_name: str
    currency: str
    issued_ms: int
    due_ms: int
    status: str
    lots: int  # active lines
    total: int
    interest: int
    interest_to_date: int
    interest_bp_per_month: int
    paid: int
    outstanding: int
    paid_ms: int | None


_INVOICES = (
    "SELECT i.*, s.name AS sale_name, "
    "(SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id AND l.status = 'active') AS lots, "
    "(SELECT coalesce(sum(total), 0) FROM invoice_lines l WHERE l.invoice_id = i.id AND l.status = 'active') "
    "AS principal, "
    "(SELECT coalesce(array_agg(p.received_ms ORDER BY p.id), '{}') FROM payments p WHERE p.invoice_id = i.id) "
    "AS paid_at, "
    "(SELECT coalesce(array_agg(p.amount ORDER BY p.id), '{}') FROM payments p WHERE p.invoice_id = i.id) "
    "AS paid_amounts "
    "FROM invoices i JOIN sales s ON s.id = i.sale_id WHERE i.buyer_id = $1 ORDER BY i.issued_ms DESC, i.id DESC "
    f"LIMIT {MAX_ROWS}"
)


async def buyer_invoices(pg: asyncpg.Pool, buyer_id: int, now_ms: int) -> list[InvoiceSummary]:
    """Every invoice of the buyer company, newest first."""
    summaries = []
    for r in await pg.fetch(_INVOICES, buyer_id):
        terms = await billing.load_terms(pg, r["sale_id"])
        payments = list(zip(r["paid_at"], r["paid_amounts"], strict=True))
        principal, paid = int(r["principal"]), sum(r["paid_amounts"])
        to_date = (
            late_interest(principal, payments, r["due_ms"], now_ms, terms.interest_bp_per_month)
            if r["status"] == "open"
            else r["interest_posted"]
        )
        total = principal + r["interest_posted"]
        summaries.append(
            InvoiceSummary(r["id"], r["sale_id"], r["sale_name"], r["currency"].strip(), r["issued_ms"], r["due_ms"],
                           r["status"], r["lots"], total, r["interest_posted"], max(to_date, r["interest_posted"]),
                           terms.interest_bp_per_month, paid,
                           total - paid if r["status"] != "defaulted" else 0, r["paid_ms"])
        )  # fmt: skip
    return summaries


class SecondChance(msgspec.Struct, frozen=True):
    """A second-chance offer made to a buyer: the lot at their own last bid, after its buyer defaulted.
    `premium` is what they would pay on it, by the sale's schedule for them, as the invoice would charge it."""

    id: int
    sale: int
    sale_name: str
    currency: str
    lot: int
    title: str
    amount: int
    premium: int
    offered_ms: int
    expires_ms: int
    status: str  # open, accepted, declined, expired


async def buyer_second_chances(pg: asyncpg.Pool, buyer_id: int) -> list[SecondChance]:
    """Every second-chance offer made to the buyer company, newest first."""
    rows = await pg.fetch(
        "SELECT o.*, s.name AS sale_name, s.currency, l.title FROM second_chance_offers o "
        "JOIN sales s ON s.id = o.sale_id LEFT JOIN lots l ON l.sale_id = o.sale_id AND l.lot_no = o.lot_no "
        f"WHERE o.buyer_id = $1 ORDER BY o.id DESC LIMIT {MAX_ROWS}",
        buyer_id,
    )
    offers = []
    for r in rows:
        facts = await billing.sale_facts(pg, r["sale_id"])
        schedule = premium_schedule_for(buyer_id, facts.settings.premium, facts.terms)
        offers.append(
            SecondChance(r["id"], r["sale_id"], r["sale_name"], r["currency"].strip(), r["lot_no"],
                         r["title"] or f"Lot {r['lot_no']}", r["amount"], premium(r["amount"], schedule),
                         r["offered_ms"], r["expires_ms"], r["status"])
        )  # fmt: skip
    return offers


async def second_chance_buyer(pg: asyncpg.Pool, offer_id: int) -> int | None:
    """The buyer company a second-chance offer was made to; None if there is no such offer."""
    buyer: int | None = await pg.fetchval("SELECT buyer_id FROM second_chance_offers WHERE id = $1", offer_id)
    return buyer


async def consignor_statements(pg: asyncpg.Pool, consignor_id: int, now_ms: int) -> list[ConsignorStatement]:
    """The consignor's statement for every sale in which a lot of theirs has closed (sold and billed, or
    passed), newest sale first."""
    sales = await pg.fetch(
        "SELECT DISTINCT l.sale_id FROM lots l WHERE l.consignor_id = $1 AND ("
        "EXISTS (SELECT 1 FROM invoice_lines i WHERE i.sale_id = l.sale_id AND i.lot_no = l.lot_no) OR "
        "EXISTS (SELECT 1 FROM passed_lots p WHERE p.sale_id = l.sale_id AND p.lot_no = l.lot_no)) "
        f"ORDER BY l.sale_id DESC LIMIT {MAX_ROWS}",
        consignor_id,
    )
    return [await billing.consignor_statement(pg, consignor_id, r["sale_id"], now_ms) for r in sales]


async def consignor_payouts(pg: asyncpg.Pool, consignor_id: int) -> list[PayoutView]:
    """Every payout made to the consignor, newest first, with the lots it paid for."""
    rows = await pg.fetch(
        "SELECT p.*, coalesce(array_agg(l.lot_no ORDER BY l.lot_no) FILTER (WHERE l.lot_no IS NOT NULL), '{}') "
        "AS lots FROM payouts p LEFT JOIN payout_lines pl ON pl.payout_id = p.id "
        "LEFT JOIN invoice_lines l ON l.id = pl.line_id WHERE p.consignor_id = $1 "
        f"GROUP BY p.id ORDER BY p.at_ms DESC, p.id DESC LIMIT {MAX_ROWS}",
        consignor_id,
    )
    return [
        PayoutView(r["id"], r["consignor_id"], r["sale_id"], r["currency"].strip(), r["amount"], r["at_ms"],
                   list(r["lots"]))
        for r in rows
    ]  # fmt: skip
