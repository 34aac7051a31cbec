"""The vetting flow over HTTP: apply -> documents -> decisions -> registration -> paddle, limit, deposit ->
the standing the engine bids on; sanctions, expiry, unique paddles, the consignor's view, the operators' record
feed, and the audit log."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets

from auction import identity, vetting
from tests.gateway.conftest import PeopleMaker, Running, SaleMaker

PASSWORD = "a long enough password"


def application(country: str = "BE", reps: int = 1, **changes: Any) -> dict[str, Any]:
    tag = secrets.token_hex(5)
    return {
        "legal_name": f"Antwerp Gems {tag} NV",
        "registration_number": f"BE-{tag}",
        "country": country,
        "trade_licence": "TL-123",
        "bourse_membership": "Antwerpsche Diamantkring",
        "owners": [{"name": "A. Owner", "share_bp": 6000}],
        "bank_reference": "KBC ref 77",
        "representatives": [
            {"name": f"Rep {n}", "email": f"rep{n}-{tag}@gems.test", "password": PASSWORD} for n in range(reps)
        ],
        "kp_declaration": True,
        "aml_declaration": True,
        **changes,
    }


async def call(http: aiohttp.ClientSession, method: str, path: str, headers: dict[str, str], status: int,
               **kwargs: Any) -> Any:  # fmt: skip
    async with http.request(method, path, headers=headers, **kwargs) as reply:
        body = await reply.json(content_type=None) if reply.status != 204 else None
        assert reply.status == status, body
        return body


@pytest.fixture
async def http(gateway: Running) -> Any:
    async with aiohttp.ClientSession(gateway.http) as session:
        yield session


async def login(http: aiohttp.ClientSession, email: str) -> dict[str, str]:
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(str(http._base_url), cookie_jar=jar) as fresh:
        await call(fresh, "POST", "/api/login", {}, 200, json={"email": email, "password": PASSWORD})
        token = await call(fresh, "POST", "/api/tokens", {}, 201, json={"name": "t"})
    return {"Authorization": f"Bearer {token['token']}"}


async def test_application_to_bidding_end_to_end(
    http: aiohttp.ClientSession, gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker
) -> None:
    people = await make_people()
    officer = await people["vetting_officer"].headers(pg)
    money = await people["settlement_officer"].headers(pg)
    form = application(reps=2)
    applied = await call(http, "POST", "/api/companies", {}, 201, json=form)
    company = applied["company"]
    assert [r["role"] for r in applied["representatives"]] == ["buyer", "buyer"]
    rep = await login(http, form["representatives"][0]["email"])

    # Documents: kept with size and SHA-256; a buyer sees only their own company's file.
    pdf = b"%PDF-1.4 licence " + secrets.token_bytes(100)
    doc = await call(http, "POST", f"/api/companies/{company}/documents?kind=trade_licence&filename=licence.pdf",
                     {**rep, "Content-Type": "application/pdf"}, 201, data=pdf)  # fmt: skip
    assert (doc["size"], doc["sha256"]) == (len(pdf), hashlib.sha256(pdf).hexdigest())
    async with http.get(f"/api/companies/{company}/documents/{doc['id']}", headers=officer) as reply:
        assert await reply.read() == pdf
    other = await call(http, "POST", "/api/companies", {}, 201, json=application())
    await call(http, "GET", f"/api/companies/{other['company']}", rep, 403)
    big = b"x" * (vetting.MAX_DOCUMENT_BYTES + 1)
    await call(http, "POST", f"/api/companies/{company}/documents?kind=other&filename=big.bin", rep, 413, data=big)

    # Decisions, each with a reason; the transition table refuses what doesn't follow.
    sale = await make_sale(lots=2)
    await call(http, "POST", f"/api/sales/{sale.id}/registrations", rep, 409)  # not approved yet
    more = {"decision": "request_more", "reason": "bank reference unreadable"}
    assert (await call(http, "POST", f"/api/companies/{company}/decisions", officer, 200, json=more))["company"][
        "status"
    ] == "more_requested"
    await call(http, "POST", f"/api/companies/{company}/documents?kind=bank_reference&filename=b.pdf", rep, 201,
               data=b"bank letter")  # fmt: skip
    await call(http, "POST", f"/api/companies/{company}/decisions", officer, 409,
               json={"decision": "reinstate", "reason": "not suspended"})  # fmt: skip
    approved = await call(http, "POST", f"/api/companies/{company}/decisions", officer, 200,
                          json={"decision": "approve", "reason": "all documents in order"})  # fmt: skip
    until = approved["company"]["approved_until_ms"]
    assert abs(until - (identity.now() + timedelta(days=365)).timestamp() * 1000) < 60_000
    assert [d["decision"] for d in approved["decisions"]] == ["request_more", "approve"]

    # Registration: asked by the buyer, approved with paddle, limit and the default 10 % deposit.
    await call(http, "POST", f"/api/sales/{sale.id}/registrations", rep, 201)
    terms = {"paddle": 77, "limit": 5_000_000}
    reg = await call(http, "POST", f"/api/sales/{sale.id}/registrations/{company}/approval", officer, 200, json=terms)
    assert (reg["paddle"], reg["deposit_required"], reg["deposit_received"]) == (77, 500_000, 0)
    standing = await gateway.store.standing(sale.id, company)
    assert standing is not None and standing.refusal == "deposit_missing" and standing.paddle == 77
    assert standing.approved_until_ms == until and standing.limit == 5_000_000

    bid = {"type": "bid", "sale": sale.id, "lot": 1, "amount": 10_000, "client_id": "e2e-1"}
    async with websockets.connect(gateway.ws, additional_headers=rep) as ws:
        assert json.loads(await ws.recv())["bidder"]["id"] == company
        await ws.send(json.dumps(bid))
        assert json.loads(await ws.recv())["reason"] == "deposit_missing"
        await call(http, "POST", f"/api/sales/{sale.id}/registrations/{company}/deposit", money, 200,
                   json={"amount": 500_000, "reference": "KBC 2026-0001", "reason": "wire received"})  # fmt: skip
        assert (await gateway.store.standing(sale.id, company)).refusal is None  # type: ignore[union-attr]
        await ws.send(json.dumps({**bid, "client_id": "e2e-2"}))
        ack = json.loads(await ws.recv())
        assert (ack["type"], ack["leading"]) == ("ack", True)

        # Suspension reaches the engine at once: the next bid is refused for it.
        await call(http, "POST", f"/api/companies/{company}/decisions", officer, 200,
                   json={"decision": "suspend", "reason": "unpaid invoice"})  # fmt: skip
        await ws.send(json.dumps({**bid, "lot": 2, "client_id": "e2e-3"}))
        assert json.loads(await ws.recv())["reason"] == "suspended"

    # Every operator action is in the audit log, with who and why.
    admin = await people["admin"].headers(pg)
    entries = await call(http, "GET", "/api/audit", admin, 200)
    mine = [e for e in entries if e["target"] in (f"company:{company}", f"sale:{sale.id}:company:{company}")]
    assert [e["action"] for e in mine] == ["company_request_more", "company_approve", "registration_approved",
                                           "deposit_received", "company_suspend"]  # fmt: skip
    assert {e["role"] for e in mine} == {"vetting_officer", "settlement_officer"}
    assert mine[0]["reason"] == "bank reference unreadable"


async def test_paddles_are_unique_in_a_sale(
    http: aiohttp.ClientSession, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker
) -> None:
    people = await make_people()
    officer = await people["vetting_officer"].headers(pg)
    sale = await make_sale(lots=1)
    companies = []
    for _ in range(2):
        form = application()
        company = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]
        await call(http, "POST", f"/api/companies/{company}/decisions", officer, 200,
                   json={"decision": "approve", "reason": "fine"})  # fmt: skip
        rep = await login(http, form["representatives"][0]["email"])
        await call(http, "POST", f"/api/sales/{sale.id}/registrations", rep, 201)
        await call(http, "POST", f"/api/sales/{sale.id}/registrations", rep, 409)  # asked twice
        companies.append(company)
    url = f"/api/sales/{sale.id}/registrations/{{}}/approval"
    await call(http, "POST", url.format(companies[0]), officer, 200, json={"paddle": 5, "limit": 100_000})
    clash = await call(http, "POST", url.format(companies[1]), officer, 409, json={"paddle": 5, "limit": 100_000})
    assert (clash["error"]["code"], clash["error"]["field"]) == ("conflict", "paddle")
    assert len(await call(http, "GET", f"/api/sales/{sale.id}/registrations", officer, 200)) == 2


async def test_sanctioned_countries_and_declarations_are_refused_at_once(
    http: aiohttp.ClientSession, pg: asyncpg.Pool, make_people: PeopleMaker
) -> None:
    refused = await call(http, "POST", "/api/companies", {}, 422, json=application("IR"))
    assert (refused["error"]["code"], refused["error"]["field"]) == ("sanctioned", "country")
    no_kp = await call(http, "POST", "/api/companies", {}, 400, json=application(kp_declaration=False))
    assert no_kp["error"]["field"] == "kp_declaration"
    three = await call(http, "POST", "/api/companies", {}, 400, json=application(reps=3))
    assert three["error"]["field"] == "representatives"
    # The list may grow after an application: approval checks it again.
    people = await make_people()
    officer = people["vetting_officer"].account
    assert officer is not None
    company = (await call(http, "POST", "/api/companies", {}, 201, json=application("BE")))["company"]
    with pytest.raises(vetting.VettingRefused) as late:
        await vetting.decide(pg, None, company, "approve", "looks fine", officer, frozenset({"BE"}))
    assert late.value.field == "country"
    assert await pg.fetchval("SELECT count(*) FROM audit_log WHERE action = 'application_refused'") >= 1


async def test_approval_expiry_reaches_the_engine(pg: asyncpg.Pool, make_people: PeopleMaker, gateway: Running,
                                                  make_sale: SaleMaker) -> None:  # fmt: skip
    people = await make_people()
    officer = people["vetting_officer"].account
    assert officer is not None
    form = msgspec_application()
    company, (rep,) = await vetting.apply(pg, form, frozenset())
    long_ago = identity.now() - timedelta(days=400)
    await vetting.decide(pg, gateway.store, company, "approve", "fine then", officer, frozenset(), at=long_ago)
    sale = await make_sale(lots=1)
    await pg.execute("INSERT INTO registrations (sale_id, company_id, status, paddle, bid_limit) "
                     "VALUES ($1, $2, 'approved', 9, 1000000)", sale.id, company)  # fmt: skip
    standing = await vetting.publish_standing(pg, gateway.store, sale.id, company)
    assert standing.refusal is None  # the record says approved; the date says it lapsed, and the engine checks it
    assert standing.approved_until_ms < identity.now().timestamp() * 1000
    token = (await identity.issue_token(pg, rep.id, "api")).token
    async with websockets.connect(f"{gateway.ws}?token={token}") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "bid", "sale": sale.id, "lot": 1, "amount": 10_000, "client_id": "x"}))
        answer = json.loads(await ws.recv())
        assert answer.get("reason") == "approval_expired", answer
    with pytest.raises(vetting.VettingRefused) as expired:
        await vetting.request_registration(pg, sale.id, rep)
    assert expired.value.code == "approval_expired"


def msgspec_application() -> vetting.Application:
    import msgspec

    return msgspec.convert(application(), vetting.Application)


async def test_consignors_see_and_watch_only_their_own_lots(
    http: aiohttp.ClientSession, gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker
) -> None:
    sale = await make_sale(lots=3)
    theirs = await pg.fetchval("SELECT consignor_id FROM lots WHERE sale_id = $1 AND lot_no = 1", sale.id)
    await pg.execute("UPDATE lots SET consignor_id = $1 WHERE sale_id = $2 AND lot_no = 3",
                     await pg.fetchval("INSERT INTO consignors (name, company) VALUES ('B', 'B') RETURNING id"),
                     sale.id)  # fmt: skip
    people = await make_people(consignor_id=theirs)
    mine = await people["consignor"].headers(pg)
    listed = await call(http, "GET", "/api/consignor/lots", mine, 200)
    assert sorted((e["listing"]["sale"], e["listing"]["lot"]) for e in listed) == [(sale.id, 1), (sale.id, 2)]
    assert all("reserve" not in e["live"] for e in listed)
    async with websockets.connect(gateway.ws, additional_headers=mine) as ws:
        assert json.loads(await ws.recv())["role"] == "consignor"
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id, "lots": [1, 3]}))
        refused = json.loads(await ws.recv())
        assert (refused["code"], refused["field"]) == ("not_allowed", "lots")
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id}))
        snapshots = [json.loads(await ws.recv()) for _ in range(2)]
        assert [s["lot"] for s in snapshots] == [1, 2] and {s["type"] for s in snapshots} == {"snapshot"}
        # A bid on lot 3 (someone else's) is not shown; one on lot 1 is, by paddle.
        for lot in (3, 1):
            bidder_company = await _registered_bidder(pg, sale.id, 40 + lot)
            await _bid(gateway, pg, sale.id, lot, bidder_company, 40 + lot)
        event = json.loads(await ws.recv())
        while event["event"]["type"] == "opened":  # the bid opened the lot first (no scheduler here)
            event = json.loads(await ws.recv())
        assert (event["lot"], event["event"]["type"], event["event"]["paddle"]) == (1, "bid", 41)
        assert "bidder" not in event["event"] and "max_amount" not in event["event"]


async def _registered_bidder(pg: asyncpg.Pool, sale: int, paddle: int) -> int:
    from auction import catalog

    bidder, _ = await catalog.add_bidder(pg, f"B{paddle}", f"Co {paddle}")
    await catalog.register(pg, sale, bidder.id, paddle)
    return bidder.id


async def _bid(gateway: Running, pg: asyncpg.Pool, sale: int, lot: int, company: int, paddle: int) -> None:
    import time

    from auction.engine.messages import PlaceBid

    await vetting.publish_standing(pg, gateway.store, sale, company)
    now = int(time.time() * 1000)
    await gateway.store.execute(sale, lot, PlaceBid(now, company, paddle, 20_000, f"c{lot}", "max"))


async def test_operators_watch_the_record(gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker,
                                          make_people: PeopleMaker) -> None:  # fmt: skip
    sale = await make_sale(lots=1)
    people = await make_people()
    async with websockets.connect(gateway.ws, additional_headers=await people["auctioneer"].headers(pg)) as ws, \
            websockets.connect(gateway.ws) as public:  # fmt: skip
        await ws.recv()
        await public.recv()
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id}))
        await public.send(json.dumps({"type": "subscribe", "sale": sale.id}))
        snap = json.loads(await ws.recv())
        assert snap["type"] == "record_snapshot" and snap["reserve"] == 50_000
        assert json.loads(await public.recv())["type"] == "snapshot"
        company = await _registered_bidder(pg, sale.id, 12)
        await _bid(gateway, pg, sale.id, 1, company, 12)
        record = json.loads(await ws.recv())
        while record["event"]["type"] == "LotOpened":
            record = json.loads(await ws.recv())
        assert record["type"] == "record" and record["event"]["bidder"] == company
        assert record["event"]["max_amount"] == 20_000
        shown = json.loads(await public.recv())
        while shown["event"]["type"] == "opened":
            shown = json.loads(await public.recv())
        assert shown["type"] == "event" and "max_amount" not in shown["event"]


async def test_resync_republishes_lost_standings(gateway: Running, pg: asyncpg.Pool, redis: Any,
                                                 make_sale: SaleMaker) -> None:  # fmt: skip
    from auction import catalog, keys

    sale = await make_sale(lots=1)
    company = await _registered_bidder(pg, sale.id, 3)
    await redis.delete(keys.bidder(sale.id, company))  # Redis lost it
    assert await gateway.store.standing(sale.id, company) is None
    assert await vetting.resync(pg, gateway.store, sale.id) == 1
    standing = await gateway.store.standing(sale.id, company)
    assert standing is not None and (standing.paddle, standing.refusal) == (3, None)
    assert await catalog.paddle_of(pg, sale.id, company) == 3


def test_the_sanctions_list_comes_from_the_environment() -> None:
    from auction.config import DEFAULT_SANCTIONED, SettingsError, settings_from_env

    assert settings_from_env({}).sanctioned_countries == DEFAULT_SANCTIONED
    assert settings_from_env({"AUCTION_SANCTIONED_COUNTRIES": "kp, ir"}).sanctioned_countries == {"KP", "IR"}
    assert settings_from_env({"AUCTION_SANCTIONED_COUNTRIES": ""}).sanctioned_countries == frozenset()
    with pytest.raises(SettingsError):
        settings_from_env({"AUCTION_SANCTIONED_COUNTRIES": "Iran"})
