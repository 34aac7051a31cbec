"""What the settlement desk lists for a sale: its invoices, one row each, and its defaulted lots with the
second-chance offers made for them. Reading only: nothing here writes.

Each row names the buyer as people know them (the company's legal name and its paddle in the sale) beside the
id the record keeps, so that a desk never has to show "buyer 4". One invoice in full is billing.invoice's; an
offer is defaults.OfferView, as the offers' own route shows it.
"""

from __future__ import annotations

import asyncpg
import msgspec

from settlement.defaults import OfferView

MAX_ROWS = 2_000  # a sale's invoices or defaults on one page; a sale has far fewer buyers than this


class InvoiceRow(msgspec.Struct, frozen=True):
    """One buyer's invoice for the sale, in figures: `total` with interest, `outstanding` 0 once defaulted."""

    id: int
    sale: int
    buyer: int
    buyer_name: str
    paddle: int | None
    currency: str
    issued_ms: int
    due_ms: int
    status: str
    lots: int  # active lines
    total: int
    paid: int
    outstanding: int
    paid_ms: int | None


class DefaultRow(msgspec.Struct, frozen=True):
    """A lot whose buyer defaulted: who, when, what the desk chose (`pending` until it chooses), and the offers."""

    sale: int
    lot: int
    defaulter: int
    defaulter_name: str
    hammer: int
    at_ms: int
    resolution: str
    resolved_ms: int | None
    offers: list[OfferView]


_INVOICES = """
SELECT i.id, i.sale_id, i.buyer_id, coalesce(c.legal_name, '') AS buyer_name, r.paddle, i.currency, i.issued_ms,
       i.due_ms, i.status, i.paid_ms, i.interest_posted,
       coalesce((SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id AND l.status = 'active'), 0) AS lots,
       coalesce((SELECT sum(total) FROM invoice_lines l WHERE l.invoice_id = i.id AND l.status = 'active'), 0)
         AS principal,
       coalesce((SELECT sum(amount) FROM payments p WHERE p.invoice_id = i.id), 0) AS paid
FROM invoices i
LEFT JOIN companies c ON c.id = i.buyer_id
LEFT JOIN registrations r ON r.sale_id = i.sale_id AND r.company_id = i.buyer_id
WHERE i.sale_id = $1 ORDER BY i.id LIMIT $2
"""


async def sale_invoices(pg: asyncpg.Pool, sale_id: int) -> list[InvoiceRow]:
    """The sale's invoices, oldest first, each summed as billing.invoice sums it."""
    return [_invoice_row(r) for r in await pg.fetch(_INVOICES, sale_id, MAX_ROWS)]


def _invoice_row(r: asyncpg.Record) -> InvoiceRow:
    total = int(r["principal"]) + r["interest_posted"]
    paid = int(r["paid"])
    outstanding = 0 if r["status"] == "defaulted" else total - paid
    return InvoiceRow(
        r["id"], r["sale_id"], r["buyer_id"], r["buyer_name"], r["paddle"], r["currency"].strip(), r["issued_ms"],
        r["due_ms"], r["status"], int(r["lots"]), total, paid, outstanding, r["paid_ms"],
    )  # fmt: skip


_DEFAULTS = """
SELECT d.line_id, d.sale_id, d.lot_no, d.defaulter, coalesce(c.legal_name, '') AS defaulter_name, l.hammer, d.at_ms,
       d.resolution, d.resolved_ms
FROM lot_defaults d
JOIN invoice_lines l ON l.id = d.line_id
LEFT JOIN companies c ON c.id = d.defaulter
WHERE d.sale_id = $1 ORDER BY d.lot_no, d.at_ms LIMIT $2
"""


async def sale_defaults(pg: asyncpg.Pool, sale_id: int) -> list[DefaultRow]:
    """The sale's defaulted lots, by lot, each with the second-chance offers made for it, in the order made. The
    offers are matched by the defaulted line they replace, so a lot that defaulted twice shows each its own."""
    by_line: dict[int, list[OfferView]] = {}
    for o in await pg.fetch("SELECT * FROM second_chance_offers WHERE sale_id = $1 ORDER BY id", sale_id):
        by_line.setdefault(o["line_id"], []).append(
            OfferView(o["id"], o["sale_id"], o["lot_no"], o["rank"], o["buyer_id"], o["amount"], o["expires_ms"],
                      o["status"])
        )  # fmt: skip
    return [
        DefaultRow(r["sale_id"], r["lot_no"], r["defaulter"], r["defaulter_name"], r["hammer"], r["at_ms"],
                   r["resolution"], r["resolved_ms"], by_line.get(r["line_id"], []))
        for r in await pg.fetch(_DEFAULTS, sale_id, MAX_ROWS)
    ]  # fmt: skip
