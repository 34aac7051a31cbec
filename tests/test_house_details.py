"""The house's particulars as settings (AUCTION_HOUSE_*): read from the environment, handed on to a child process
unchanged, bounded, and what the printable invoice prints."""

from __future__ import annotations

import pytest

from auction.config import SettingsError, environment_for, settings_from_env
from auction.house_details import DEFAULT_HOUSE, HouseDetails

ENV = {
    "AUCTION_HOUSE_NAME": " Brilliant & Co. Diamond Auctions NV ",
    "AUCTION_HOUSE_ADDRESS": "Hoveniersstraat 2| 2018 Antwerpen |Belgium||",
    "AUCTION_HOUSE_TAX_ID": "BE0123.456.789",
    "AUCTION_HOUSE_PAYMENT": "KBC Bank|IBAN BE71 0961 2345 6769|BIC KREDBEBB",
    "AUCTION_HOUSE_EMAIL": "accounts@brilliant.example",
}


def test_the_particulars_come_from_the_environment_and_go_to_children_unchanged() -> None:
    settings = settings_from_env(ENV)
    assert settings.house_details == HouseDetails(
        name="Brilliant & Co. Diamond Auctions NV",
        address=("Hoveniersstraat 2", "2018 Antwerpen", "Belgium"),
        tax_id="BE0123.456.789",
        payment=("KBC Bank", "IBAN BE71 0961 2345 6769", "BIC KREDBEBB"),
        email="accounts@brilliant.example",
    )
    assert settings_from_env(environment_for(settings, {})) == settings
    assert settings_from_env({}).house_details == DEFAULT_HOUSE
    assert settings_from_env(environment_for(settings_from_env({}), {})).house_details == DEFAULT_HOUSE


@pytest.mark.parametrize(
    "name, value",
    [("AUCTION_HOUSE_NAME", "x" * 201), ("AUCTION_HOUSE_ADDRESS", "|".join(["line"] * 13)),
     ("AUCTION_HOUSE_PAYMENT", "y" * 201)],
)  # fmt: skip
def test_particulars_out_of_bounds_are_refused_naming_them(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match="AUCTION_HOUSE_"):
        settings_from_env({name: value})
