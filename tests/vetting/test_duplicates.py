"""Applying with a registration number or an email that exists (issue 12, finding 15): the answer is a new
application's, the real company is not blocked, and the clash is flagged for a vetting officer, who must resolve
it before the company can be approved; two companies with one registration number are never both approved."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp
import asyncpg

from tests.gateway.conftest import PeopleMaker, Running
from tests.vetting.test_vetting import PASSWORD, application, call, login


def shape(applied: dict[str, Any]) -> dict[str, Any]:
    """An answer with what differs between any two applications (the company's id) taken out."""
    return {**applied, "company": None, "representatives": [sorted(r) for r in applied["representatives"]]}


async def test_a_duplicate_application_says_nothing_and_blocks_nobody(
    gateway: Running, pg: asyncpg.Pool, make_people: PeopleMaker
) -> None:
    people = await make_people()
    officer = await people["vetting_officer"].headers(pg)
    tag = secrets.token_hex(4)
    async with aiohttp.ClientSession(gateway.http) as http:
        # An impostor applies first, with the real company's registration number and its buyer's email.
        real_email = f"buyer-{tag}@real.test"
        impostor_form = application(registration_number=f"BE 0{tag}")
        impostor_form["representatives"] = [{"name": "Imp", "email": real_email, "password": PASSWORD}]
        impostor = await call(http, "POST", "/api/companies", {}, 201, json=impostor_form)

        # The real company applies after: the same answer as any new application, nothing refused.
        fresh = await call(http, "POST", "/api/companies", {}, 201, json=application())
        real_form = application(registration_number=f"be-0{tag}")  # the same number, spelled otherwise
        real_form["representatives"] = [
            {"name": "Real Buyer", "email": real_email.upper(), "password": "the real buyer's own"},
            {"name": "Second", "email": f"second-{tag}@real.test", "password": PASSWORD},
        ]
        real = await call(http, "POST", "/api/companies", {}, 201, json=real_form)
        assert shape(real)["representatives"][0] == shape(fresh)["representatives"][0]
        assert [r["email"] for r in real["representatives"]] == [real_email, f"second-{tag}@real.test"]
        assert real["status"] == fresh["status"] == "pending"

        # The vetting officer sees the flags (the buyer never does), and can't approve until they are resolved.
        file = await call(http, "GET", f"/api/companies/{real['company']}", officer, 200)
        flags = {flag["kind"]: flag for flag in file["duplicates"]}
        assert flags["registration_number"]["other_company_id"] == impostor["company"]
        assert (flags["email"]["email"], flags["email"]["other_company_id"]) == (real_email, impostor["company"])
        assert sorted(file["company"]["representatives"]) == ["Real Buyer", "Second"]  # both, as applied
        impostor_file = await call(http, "GET", f"/api/companies/{impostor['company']}", officer, 200)
        assert {f["id"] for f in impostor_file["duplicates"]} == {f["id"] for f in file["duplicates"]}
        rep = await login(http, f"second-{tag}@real.test")
        own = await call(http, "GET", f"/api/companies/{real['company']}", rep, 200)
        assert own["duplicates"] == [] and own["company"]["representatives"] == file["company"]["representatives"]

        approve = {"decision": "approve", "reason": "documents in order"}
        refused = await call(http, "POST", f"/api/companies/{real['company']}/decisions", officer, 409, json=approve)
        assert refused["error"]["field"] == "duplicates"
        for flag in file["duplicates"]:
            url = f"/api/companies/{real['company']}/duplicates/{flag['id']}"
            done = await call(http, "POST", url, officer, 200, json={"reason": "called the registry: ours is real"})
            assert done["resolved_by"] is not None
            again = await call(http, "POST", url, officer, 409, json={"reason": "twice"})
            assert again["error"]["field"] == "flag"
        await call(http, "POST", f"/api/companies/{real['company']}/decisions", officer, 200, json=approve)
        # The impostor, whose number the real company now holds approved, can't be approved as well.
        twin = await call(http, "POST", f"/api/companies/{impostor['company']}/decisions", officer, 409, json=approve)
        assert twin["error"]["field"] == "registration_number"
        await call(http, "POST", f"/api/companies/{impostor['company']}/decisions", officer, 200,
                   json={"decision": "reject", "reason": "an impostor"})  # fmt: skip
        await call(http, "POST", f"/api/companies/{real['company']}/duplicates/999999999", officer, 404,
                   json={"reason": "no such flag"})  # fmt: skip
