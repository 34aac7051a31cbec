"""The demo's people: the one password of every account it makes, and its buyer companies' applications."""

from __future__ import annotations

from auction import vetting

PASSWORD = "demo password, not for production"


def buyer_application(company: str, representative: str, tag: str) -> vetting.Application:
    """A buyer company's application: `company` names it, `representative` its one representative (and their
    email, under the run's `tag`). Every identifying field is the company's own: a registration number or bank
    reference two companies shared would tie them (docs/RULES.md), and the shill monitor would see one bidder."""
    key = representative.upper()
    return vetting.Application(
        legal_name=f"{company} Ltd",
        registration_number=f"{key}-{tag}",
        country="BE",
        trade_licence=f"TL-{key}",
        bank_reference=f"DEMO BANK {key}-{tag}",
        representatives=[vetting.Representative(representative, f"{representative}-{tag}@demo.invalid", PASSWORD)],
        kp_declaration=True,
        aml_declaration=True,
        owners=[vetting.Owner(f"Owner of {company}", 10_000)],
    )
