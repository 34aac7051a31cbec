"""Consignors and the stones they hand in, end to end over HTTP against real Redis and PostgreSQL: a consignor and
their agreement, their account watching their own stones, intake with every rule of DOMAIN.md "A lot" (each
refusal naming every field), and the report rule with its override on the audit log."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from auction import identity
from tests.house.desk import USD, Desk, stone_body


async def test_a_consignor_their_agreement_their_account_and_their_stones(desk: Desk, pg: asyncpg.Pool) -> None:
    body = {"kind": "person", "name": "Ruth Abrams", "company": "Abrams Fine Gems", "email": "ruth@abrams.test",
            "country": "BE", "agreement": {"currency": "USD", "commission_bp": 1_200, "unsold_fee_bp": 250,
                                           "return_shipping": 80 * USD, "relist_consent": True}}  # fmt: skip
    ruth = await desk.call("POST", "/api/house/consignors", "vetting_officer", 201, body)
    assert (ruth["kind"], ruth["name"], ruth["company"]) == ("person", "Ruth Abrams", "Abrams Fine Gems")
    agreed = {"currency": "USD", "commission_bp": 1_200, "unsold_fee_bp": 250, "return_shipping": 8_000,
              "relist_consent": True, "relist_reserve_bp": 8_000}  # fmt: skip
    assert ruth["agreement"] == agreed
    # an account to watch her lots: an admin makes it, as for any consignor
    account = {"email": f"ruth-{ruth['id']}@abrams.test", "name": "Ruth Abrams", "password": "a long password here",
               "role": "consignor", "consignor_id": ruth["id"]}  # fmt: skip
    await desk.call("POST", "/api/accounts", "admin", 201, account)
    ruths = {"Authorization": f"Bearer {await _token(pg, account['email'])}"}

    loose = await desk.stone(ruth["id"])
    mounted = await desk.stone(ruth["id"], points=85, colour=None, clarity=None, cut=None, measurements=None,
                               lab=None, report_number=None, setting="set", colour_range="G-H",
                               clarity_range="VS")  # fmt: skip
    assert loose["currency"] == "USD" and loose["received_ms"] > 0  # in the house's custody from now
    assert (loose["title"], mounted["title"]) == ("1.52 ct Round G VS2", "0.85 ct Round G-H VS, set")
    file = await desk.call("GET", f"/api/house/consignors/{ruth['id']}", "settlement_officer", 200)
    assert [stone["id"] for stone in file["stones"]] == [loose["id"], mounted["id"]]

    desk.headers["ruth"] = ruths
    own = await desk.call("GET", "/api/consignor/stones", "ruth", 200)
    assert [stone["id"] for stone in own] == [loose["id"], mounted["id"]]
    assert await desk.call("GET", "/api/consignor/stones", "consignor", 200) == []  # someone else's stones: none

    # the agreement is the settlement desk's to change, with a reason kept with the terms before and after
    change = {"agreement": {**ruth["agreement"], "commission_bp": 1_000}, "reason": "renegotiated for 2026"}
    await desk.call("PUT", f"/api/house/consignors/{ruth['id']}/agreement", "vetting_officer", 403, change)
    changed = await desk.call("PUT", f"/api/house/consignors/{ruth['id']}/agreement", "settlement_officer", 200, change)
    assert changed["agreement"]["commission_bp"] == 1_000
    [created] = [e for e in await desk.audit("consignor_created") if e["target"] == f"consignor:{ruth['id']}"]
    [agreed] = [e for e in await desk.audit("agreement_set") if e["target"] == f"consignor:{ruth['id']}"]
    assert (created["role"], agreed["role"], agreed["reason"]) == ("vetting_officer", "settlement_officer",
                                                                   "renegotiated for 2026")  # fmt: skip
    taken = {e["target"] for e in await desk.audit("stone_taken_in")}
    assert {f"stone:{loose['id']}", f"stone:{mounted['id']}"} <= taken


async def test_the_report_rule_and_its_override_on_the_audit_log(desk: Desk, pg: asyncpg.Pool) -> None:
    consignor = (await desk.consignor())["id"]
    unreported = {"lab": None, "report_number": None}
    refused = await desk.stone(consignor, 400, **unreported)
    assert (refused["error"]["code"], refused["error"]["field"]) == ("invalid", "report_number")
    assert "over 1 ct needs a grading report" in refused["error"]["message"]
    assert await desk.stone(consignor, points=100, **unreported)  # 1.00 ct is not over 1 ct: no report needed

    reason = "the consignor's report was lost in transit; re-grading booked with HRD"
    overridden = await desk.stone(consignor, **unreported, report_override_reason=reason)
    assert overridden["stone"]["report_override_reason"] == reason
    [entry] = [e for e in await desk.audit("report_overridden") if e["target"] == f"stone:{overridden['id']}"]
    assert (entry["reason"], entry["role"]) == (reason, "auctioneer")
    assert entry["account_id"] == desk.people["auctioneer"].account.id  # type: ignore[union-attr]
    # an override is for a stone without a report, and a reason is a sentence
    both = await desk.stone(consignor, 400, report_override_reason=reason)
    assert both["error"]["field"] == "report_override_reason"
    terse = await desk.stone(consignor, 400, **unreported, report_override_reason="lost")
    assert terse["error"]["field"] == "report_override_reason"


async def test_a_stone_is_refused_naming_every_field_wrong(desk: Desk) -> None:
    consignor = (await desk.consignor())["id"]
    wrong = stone_body(
        reserve=9_000 * USD,  # above the low estimate
        measurements={"length": 650, "width": 650, "depth": 390},  # a 1.00 ct round's, not 1.52 ct's
        cut="Excellent", shape="Oval",  # a cut grade is for round brilliants
        colour_range="G-H",  # a grade and a range
        clarity=None, clarity_range="VS2-VS1",  # backwards
    )  # fmt: skip
    refused = await desk.call("POST", f"/api/house/consignors/{consignor}/stones", "auctioneer", 400, wrong)
    fields = [problem["field"] for problem in refused["problems"]]
    assert fields == ["reserve", "colour_range", "clarity_range", "measurements", "cut"], refused
    assert refused["error"]["field"] == "reserve"
    measured = next(p["message"] for p in refused["problems"] if p["field"] == "measurements")
    assert "fit a Oval of about" in measured and "within 20 %" in measured

    rough = await desk.stone(consignor, 400, shape="Rough", points=1_025, colour=None, clarity=None, cut="Good")
    assert [p["field"] for p in rough["problems"]] == ["cut", "polish", "symmetry", "kp_certificate"]
    assert await desk.stone(consignor, shape="Rough", points=1_025, colour=None, clarity=None, polish=None,
                            symmetry=None, kp_certificate="BW 0012345")  # fmt: skip
    mounted = await desk.stone(consignor, 400, setting="set", points=90, lab=None, report_number=None)
    assert [p["field"] for p in mounted["problems"]] == ["colour", "colour_range", "clarity_range"]


async def test_bad_input_is_a_4xx_naming_the_field(desk: Desk, new_sale_id: Callable[[], int]) -> None:
    consignor = (await desk.consignor())["id"]
    path = f"/api/house/consignors/{consignor}/stones"
    cases = [
        ({**stone_body(), "colour": "Q+"}, "colour"),
        ({**stone_body(), "provenance": "x" * 2001}, "provenance"),
        ({**stone_body(), "carat_points": 0}, "carat_points"),
        ({**stone_body(), "treatments": ["Oiling"]}, "treatments[0]"),
        ({**stone_body(), "low_estimate": 10**14}, "low_estimate"),
        ({**stone_body(), "sparkle": "lots"}, "sparkle"),
        ({**stone_body(), "measurements": {"length": 650, "width": 650}}, "measurements.depth"),
    ]
    for body, field in cases:
        refused = await desk.call("POST", path, "auctioneer", 400, body)
        assert (refused["error"]["code"], refused["error"]["field"]) == ("invalid", field), refused
    await desk.call("POST", "/api/house/consignors/999999999999/stones", "auctioneer", 404, stone_body())
    nameless = {"kind": "company", "name": "", "agreement": {"currency": "USD"}}
    refused = await desk.call("POST", "/api/house/consignors", "vetting_officer", 400, nameless)
    assert refused["error"]["field"] == "name"
    greedy = {"kind": "company", "name": "X", "agreement": {"currency": "USD", "commission_bp": 10_001}}
    refused = await desk.call("POST", "/api/house/consignors", "vetting_officer", 400, greedy)
    assert refused["error"]["field"] == "agreement.commission_bp"
    sale = await desk.draft(new_sale_id(), 400, currency="usd")
    assert sale["error"]["field"] == "terms.currency"


async def _token(pg: asyncpg.Pool, email: str) -> str:
    account = await identity.active_account_by_email(pg, email)
    assert account is not None
    return (await identity.issue_token(pg, account.id, "api")).token
