"""The printable invoice: an InvoiceDocument as one HTML page, pure (no database, no clock).

A buyer accepts it as an invoice: it says who issued it and to whom (names, addresses, tax number), its number,
the issue and due dates, each lot with its stone, hammer, premium and the other charges, the rates charged, the
totals, what was paid, what is outstanding and how to pay. Dates are written as people write them, in the time
zone the reader asked for (named on the page), never as epoch milliseconds; amounts in the sale's currency from
its minor units, with integer arithmetic only. No scripts, and no styles inline: the page links its stylesheet,
so it passes the pages' content security policy.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auction.engine.premium import PremiumBand
from settlement.invoice_document import DocumentLine, InvoiceDocument

STYLESHEET = "/static/account/invoice.css"

# ISO 4217 currencies whose minor unit is not the cent; every other has two decimals.
_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
                     "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}  # fmt: skip
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")
MAX_ZONE_LENGTH = 64


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA time zone `name` ("Europe/Antwerp"), UTC for None or "", or None if there is no such zone."""
    if not name:
        return ZoneInfo("UTC")
    if len(name) > MAX_ZONE_LENGTH or not _ZONE_NAME.match(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def money(amount: int, currency: str) -> str:
    """Minor units as the currency writes them, grouped by thousands: 123456 USD -> "1,234.56"."""
    exponent = _EXPONENTS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    units, minor = divmod(abs(amount), 10**exponent)
    return f"{sign}{units:,}" + (f".{minor:0{exponent}d}" if exponent else "")


def rate(rate_bp: int) -> str:
    """Basis points as a percentage, exactly: 2600 -> "26%", 1250 -> "12.5%", 5 -> "0.05%"."""
    whole, rest = divmod(rate_bp, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"


def day(ms: int, zone: ZoneInfo) -> str:
    at = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)
    return f"{at.day} {at:%B %Y}"


def moment(ms: int, zone: ZoneInfo) -> str:
    at = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)
    return f"{at.day} {at:%B %Y}, {at:%H:%M} {at.tzname()}"


def premium_terms(bands: list[PremiumBand], currency: str) -> str:
    """The schedule in words: "26% of the hammer up to 1,000,000.00; 21% from 1,000,000.00 to ...; 15% above"."""
    if len(bands) == 1:
        return f"{rate(bands[0].rate_bp)} of the hammer price"
    parts = []
    for band, following in zip(bands, [*bands[1:], None], strict=True):
        if following is None:
            parts.append(f"{rate(band.rate_bp)} above {money(band.starts_at, currency)}")
        elif band.starts_at == 0:
            parts.append(f"{rate(band.rate_bp)} of the hammer price up to {money(following.starts_at, currency)}")
        else:
            span = f"{money(band.starts_at, currency)} to {money(following.starts_at, currency)}"
            parts.append(f"{rate(band.rate_bp)} from {span}")
    return "; ".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text))


def _lines(lines: tuple[str, ...] | list[str]) -> str:
    return "<br>".join(_e(line) for line in lines)


def _parties(doc: InvoiceDocument, zone: ZoneInfo) -> str:
    inv, house, buyer = doc.invoice, doc.house, doc.buyer
    tax = f"<br>Tax number {_e(house.tax_id)}" if house.tax_id else ""
    paddle = f"<br>Paddle {buyer.paddle} in this sale" if buyer.paddle is not None else ""
    return (
        f'<header class="parties"><section class="issuer"><h1>{_e(house.name)}</h1>'
        f"<p>{_lines(house.address)}{tax}{'<br>' + _e(house.email) if house.email else ''}</p></section>"
        f'<section class="meta"><h2>Invoice {_e(doc.number)}</h2><dl>'
        f"<dt>Issued</dt><dd>{day(inv.issued_ms, zone)}</dd>"
        f"<dt>Due</dt><dd>{moment(inv.due_ms, zone)}</dd>"
        f"<dt>Sale</dt><dd>{_e(doc.sale_name)} (no. {doc.sale})</dd>"
        f"<dt>Status</dt><dd>{_e(_STATUS.get(inv.status, inv.status))}</dd></dl></section>"
        f'<section class="buyer"><h2>Bill to</h2><p><strong>{_e(buyer.legal_name)}</strong>'
        f"{'<br>' + _lines(buyer.address) if buyer.address else ''}"
        f"<br>Registration no. {_e(buyer.registration_number)}<br>Country {_e(buyer.country)}{paddle}</p></section>"
        "</header>"
    )


_STATUS = {"open": "Open", "paid": "Paid", "defaulted": "In default"}
_SOURCES = {"hammer": "", "second_chance": "second-chance offer", "reaward": "re-awarded", "post_sale": "post-sale"}


def _line(line: DocumentLine, currency: str) -> str:
    how = _SOURCES.get(line.source, line.source)
    note = f'<span class="note">{_e(how)}</span>' if how else ""
    if line.status != "active":
        note += '<span class="note">taken off this invoice</span>'
    amounts = (line.hammer, line.premium, line.shipping, line.insurance, line.tax, line.total)
    cells = "".join(f'<td class="num">{money(a, currency)}</td>' for a in amounts)
    css = ' class="void"' if line.status != "active" else ""
    return (
        f"<tr{css}><td>{line.lot}</td><td><strong>{_e(line.title)}</strong><br>{_e(line.stone)}{note}</td>{cells}</tr>"
    )


def _lots(doc: InvoiceDocument) -> str:
    cur = doc.invoice.currency
    head = "".join(
        f'<th scope="col" class="num">{name}</th>'
        for name in ("Hammer", "Premium", "Shipping", "Insurance", "Tax", "Total")
    )
    rows = "".join(_line(line, cur) for line in doc.lines)
    return (
        f'<table class="lots"><caption>Lots bought, in {_e(cur)}</caption><thead><tr><th scope="col">Lot</th>'
        f'<th scope="col">Description</th>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


def _totals(doc: InvoiceDocument) -> str:
    inv, cur = doc.invoice, doc.invoice.currency
    tax_label = f"Tax ({rate(doc.rates.tax_bp)})" if doc.rates.tax_bp else "Tax"
    rows = [
        ("Hammer", inv.hammer),
        ("Buyer's premium", inv.premium),
        ("Shipping", inv.shipping),
        ("Insurance", inv.insurance),
        (tax_label, inv.tax),
        ("Late payment interest", inv.interest),
    ]
    body = "".join(f'<tr><th scope="row">{_e(n)}</th><td class="num">{money(a, cur)}</td></tr>' for n, a in rows)
    return (
        f'<table class="totals"><tbody>{body}'
        f'<tr class="total"><th scope="row">Total</th><td class="num">{_e(cur)} {money(inv.total, cur)}</td></tr>'
        f'<tr><th scope="row">Paid</th><td class="num">{money(inv.paid, cur)}</td></tr>'
        f'<tr class="total"><th scope="row">Outstanding</th>'
        f'<td class="num">{_e(cur)} {money(inv.outstanding, cur)}</td></tr></tbody></table>'
    )


def _payments(doc: InvoiceDocument, zone: ZoneInfo) -> str:
    cur = doc.invoice.currency
    if not doc.invoice.payments:
        return "<p>No payment received yet.</p>"
    rows = "".join(
        f'<tr><td>{moment(p.received_ms, zone)}</td><td>{_e(p.reference)}</td><td class="num">{money(p.amount, cur)}'
        "</td></tr>"
        for p in doc.invoice.payments
    )
    return (
        '<table class="payments"><thead><tr><th scope="col">Received</th><th scope="col">Reference</th>'
        f'<th scope="col" class="num">Amount</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _terms(doc: InvoiceDocument, zone: ZoneInfo) -> str:
    inv, rates, cur = doc.invoice, doc.rates, doc.invoice.currency
    how = _lines(doc.house.payment) if doc.house.payment else "Ask the house for its bank details."
    insurance = f" Transit insurance: {rate(rates.insurance_bp)} of the hammer." if rates.insurance_bp else ""
    return (
        '<section class="terms"><h2>Payment</h2>'
        f"<p>Please pay {_e(cur)} {money(inv.outstanding, cur)} by {moment(inv.due_ms, zone)}, quoting invoice "
        f"{_e(doc.number)}.</p><p>{how}</p>"
        f"<p>Buyer's premium: {_e(premium_terms(rates.premium, cur))}.{insurance} Payment is due "
        f"{rates.due_days} days after the sale; overdue amounts bear interest of "
        f"{rate(rates.interest_bp_per_month)} a month from the due date.</p></section>"
    )


def invoice_html(doc: InvoiceDocument, zone: ZoneInfo) -> str:
    """The invoice as a printable page, its dates in `zone`."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Invoice {_e(doc.number)} - {_e(doc.house.name)}</title>"
        f'<link rel="stylesheet" href="{STYLESHEET}"></head><body><main class="invoice">'
        f"{_parties(doc, zone)}{_lots(doc)}{_totals(doc)}"
        f"<section><h2>Payments received</h2>{_payments(doc, zone)}</section>{_terms(doc, zone)}"
        f'<p class="zone">Dates and times are in {_e(zone.key)}.</p></main></body></html>'
    )
