"""A buyer's invoice for a sale as a document: billing's figures with everything a buyer needs to accept it as an
invoice, gathered in one read. Who issued it (the house's particulars), who it is addressed to (the buyer
company as vetted), the sale, each lot with its stone, the premium schedule and rates it was charged at, the due
date and how to pay. Reading only: nothing here writes.

The figures are billing.invoice's, to the minor unit: this module adds words, never arithmetic, so the document
can't disagree with the ledger. settlement/invoice_print.py renders it for printing; the buyer's account page
renders the same JSON.
"""

from __future__ import annotations

import asyncpg
import msgspec

from auction import catalog
from auction.diamonds import description
from auction.engine.premium import PremiumBand
from auction.house_details import HouseDetails
from settlement import billing
from settlement.billing import InvoiceView
from settlement.errors import NotFound
from settlement.rules import premium_schedule_for


class BuyerParty(msgspec.Struct, frozen=True):
    """The company the invoice is addressed to, as vetting holds it (the engine's bidder id is `id`)."""

    id: int
    legal_name: str
    registration_number: str
    country: str  # ISO 3166-1 alpha-2
    address: list[str]  # postal, a line each; empty for a company that applied before it was asked
    paddle: int | None  # in this sale


class DocumentLine(msgspec.Struct, frozen=True):
    """An invoice line with the lot it bills: `status` 'voided' for a lot taken off the invoice (its buyer
    defaulted, or it was reopened), shown struck through and not counted."""

    lot: int
    title: str
    stone: str  # the stone in words (auction.diamonds.description)
    source: str  # hammer, second_chance, reaward, post_sale
    status: str
    hammer: int
    premium: int
    shipping: int
    insurance: int
    tax: int
    total: int


class ChargeRates(msgspec.Struct, frozen=True):
    """The rates the buyer was charged at, in basis points, for the document to state them."""

    premium: list[PremiumBand]  # marginal bands: each slice of the hammer from `starts_at` at `rate_bp`
    tax_bp: int  # on hammer, premium, shipping and insurance; 0 where the sale's jurisdiction doesn't tax
    insurance_bp: int  # on the hammer
    interest_bp_per_month: int  # on what is overdue, from the due date
    due_days: int


class InvoiceDocument(msgspec.Struct, frozen=True):
    number: str  # as printed and as the buyer quotes it when paying: "<sale>-<invoice id>"
    house: HouseDetails
    buyer: BuyerParty
    sale: int
    sale_name: str
    rates: ChargeRates
    lines: list[DocumentLine]
    invoice: InvoiceView  # the figures: totals, interest, payments, outstanding, dates (epoch ms)


async def invoice_document(pg: asyncpg.Pool, sale_id: int, buyer_id: int, house: HouseDetails) -> InvoiceDocument:
    """The buyer's invoice for the sale as a document; NotFound if they have none in it."""
    view = await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, buyer_id))
    facts = await billing.sale_facts(pg, sale_id)
    sale_name: str = await pg.fetchval("SELECT name FROM sales WHERE id = $1", sale_id)
    listings = {listing.lot: listing for listing in await catalog.lot_listings(pg, sale_id)}
    lines = []
    for line in view.lines:
        listing = listings.get(line.lot)
        lines.append(
            DocumentLine(line.lot, listing.title if listing else f"Lot {line.lot}",
                         description(listing.diamond) if listing else "", line.source, line.status, line.hammer,
                         line.premium, line.shipping, line.insurance, line.tax, line.total)
        )  # fmt: skip
    schedule = premium_schedule_for(buyer_id, facts.settings.premium, facts.terms)
    rates = ChargeRates(list(schedule.bands), facts.terms.tax_bp, facts.terms.insurance_bp,
                        facts.terms.interest_bp_per_month, facts.terms.due_days)  # fmt: skip
    return InvoiceDocument(
        f"{sale_id}-{view.id}", house, await _buyer(pg, sale_id, buyer_id), sale_id, sale_name, rates, lines, view
    )


async def _buyer(pg: asyncpg.Pool, sale_id: int, buyer_id: int) -> BuyerParty:
    row = await pg.fetchrow(
        "SELECT c.legal_name, c.registration_number, c.country, c.address, r.paddle FROM companies c "
        "LEFT JOIN registrations r ON r.company_id = c.id AND r.sale_id = $2 WHERE c.id = $1",
        buyer_id,
        sale_id,
    )
    if row is None:  # an invoice is only ever made out to a vetted company; this is a broken record
        raise NotFound(f"no company {buyer_id} on file for its invoice")
    address = [line.strip() for line in row["address"].splitlines() if line.strip()]
    return BuyerParty(
        buyer_id, row["legal_name"], row["registration_number"], row["country"].strip(), address, row["paddle"]
    )
