"""The auction house's own particulars, as its documents print them: its legal name, postal address, tax number
and how a buyer pays it.

They are settings of the deployment (auction/config.py reads them from the environment), not data an operator
edits sale by sale: an invoice names the house that issued it, and a house has one name and one address. A
house that collects in several currencies names every account in `payment`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Line = Annotated[str, msgspec.Meta(max_length=200)]
Lines = Annotated[tuple[Line, ...], msgspec.Meta(max_length=12)]


class HouseDetails(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "Brilliant & Co. Diamond Auctions"
    address: Lines = ()  # postal address, a line each
    tax_id: Line = ""  # VAT or other tax registration number, printed on invoices when set
    payment: Lines = ()  # how to pay: bank, account (IBAN), SWIFT/BIC, a line each
    email: Line = ""  # where buyers and consignors write about their accounts


DEFAULT_HOUSE = HouseDetails()


def house_from_lines(name: str, address: str, tax_id: str, payment: str, email: str) -> HouseDetails:
    """The particulars from their settings' text form, where `address` and `payment` hold lines separated by
    `|` (one environment variable each); raises msgspec.ValidationError naming the field that breaks a bound."""
    return msgspec.convert(
        {
            "name": name.strip() or DEFAULT_HOUSE.name,
            "address": _lines(address),
            "tax_id": tax_id.strip(),
            "payment": _lines(payment),
            "email": email.strip(),
        },
        HouseDetails,
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("|") if line.strip()]
