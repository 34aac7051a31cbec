"""The printable invoice, pure: a document in, a page a buyer accepts as an invoice out."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from auction.engine.premium import CHRISTIES_2023_USD
from auction.house_details import HouseDetails
from settlement.billing import InvoiceView, LineView, PaymentView
from settlement.invoice_document import BuyerParty, ChargeRates, DocumentLine, InvoiceDocument
from settlement.invoice_print import invoice_html, moment, money, premium_terms, rate, zone_named

HOUSE = HouseDetails(
    name="Brilliant & Co. Diamond Auctions NV",
    address=("Hoveniersstraat 2", "2018 Antwerpen", "Belgium"),
    tax_id="BE0123.456.789",
    payment=("KBC Bank", "IBAN BE71 0961 2345 6769", "BIC KREDBEBB"),
    email="accounts@brilliant.example",
)
ISSUED, DUE, PAID_AT = 1_700_000_000_000, 1_700_604_800_000, 1_700_300_000_000


def document() -> InvoiceDocument:
    lines = [
        LineView(1, 3, "hammer", "active", 1_000_000, 260_000, 5_000, 1_000, 53_200, 1_319_200),
        LineView(2, 5, "hammer", "voided", 200_000, 52_000, 0, 0, 0, 252_000),
    ]
    view = InvoiceView(7, 42, 9, "EUR", ISSUED, DUE, "open", lines, [PaymentView(1, 300_000, PAID_AT, "wire <1>")],
                       1_000_000, 260_000, 5_000, 1_000, 53_200, 0, 1_319_200, 300_000, 1_019_200, None)  # fmt: skip
    buyer = BuyerParty(9, "Antwerp Gems & Sons NV", "BE-0999", "BE", ["Pelikaanstraat 62", "2018 Antwerpen"], 31)
    rates = ChargeRates(list(CHRISTIES_2023_USD.bands), 420, 10, 100, 7)
    doc_lines = [
        DocumentLine(3, "Round diamond", "1.52 ct Round, G, VS2", "hammer", "active", 1_000_000, 260_000, 5_000,
                     1_000, 53_200, 1_319_200),
        DocumentLine(5, "Pear diamond", "0.90 ct Pear, F, VVS2", "hammer", "voided", 200_000, 52_000, 0, 0, 0,
                     252_000),
    ]  # fmt: skip
    return InvoiceDocument("42-7", HOUSE, buyer, 42, "Spring Whites", rates, doc_lines, view)


def test_the_page_names_both_parties_the_dates_the_lots_the_rates_and_how_to_pay() -> None:
    page = invoice_html(document(), ZoneInfo("Europe/Brussels"))
    text = re.sub(r"<[^>]+>", " ", page)
    expected = [
        "Brilliant &amp; Co. Diamond Auctions NV", "Hoveniersstraat 2", "Tax number BE0123.456.789",
        "Antwerp Gems &amp; Sons NV", "Pelikaanstraat 62", "Registration no. BE-0999", "Paddle 31", "Invoice 42-7",
        "Spring Whites", "1.52 ct Round, G, VS2", "IBAN BE71 0961 2345 6769", "Tax (4.2%)", "quoting invoice 42-7",
        "1% a month", "Transit insurance: 0.1% of the hammer",
    ]  # fmt: skip
    for words in expected:
        assert words in text, words
    assert "14 November 2023" in text and "21 November 2023, 23:13 CET" in text  # issued, and due in Brussels
    assert "18 November 2023, 10:33 CET" in text  # the payment received
    assert "EUR 13,192.00" in text and "EUR 10,192.00" in text  # total and outstanding, from minor units
    assert 'class="void"' in page and "taken off this invoice" in text  # the voided lot, struck through
    assert "wire &lt;1&gt;" in page  # what people typed is text, never markup
    assert not re.search(r"\b1\d{12}\b", text), "an epoch-milliseconds time on the invoice"
    assert "<script" not in page and "<style" not in page and 'href="/static/account/invoice.css"' in page
    assert "Dates and times are in Europe/Brussels." in text


def test_rates_amounts_and_times_are_written_as_people_write_them() -> None:
    assert [rate(bp) for bp in (2600, 1250, 5, 10, 0)] == ["26%", "12.5%", "0.05%", "0.1%", "0%"]
    assert (money(123_456_789, "USD"), money(1234, "JPY"), money(-5, "USD"), money(1_234_567, "KWD")) == (
        "1,234,567.89", "1,234", "-0.05", "1,234.567",
    )  # fmt: skip
    assert premium_terms(list(CHRISTIES_2023_USD.bands), "USD") == (
        "26% of the hammer price up to 1,000,000.00; 21% from 1,000,000.00 to 6,000,000.00; 15% above 6,000,000.00"
    )
    assert moment(1_700_000_000_000, ZoneInfo("Asia/Tokyo")) == "15 November 2023, 07:13 JST"
    assert zone_named("") == ZoneInfo("UTC") and zone_named("../../etc/passwd") is None
    assert zone_named("Mars/Olympus_Mons") is None and zone_named("x" * 65) is None
