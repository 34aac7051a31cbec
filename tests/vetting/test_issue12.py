"""Issue 12's vetting findings, each reproduced over HTTP against real Redis and PostgreSQL: deposits recorded once
per payment reference by the settlement officer (finding 3); a registration approved takes effect on the next bid
on every gateway (finding 4); documents within a quota, while the application is open (finding 11); who consigned
a lot hidden from the public (finding 12); a consignor applying as a buyer linked to their consignor record
(finding 16)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import websockets
from aiohttp import web
from redis.asyncio import Redis

from auction import catalog, vetting
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.gateway import access
from auction.store import LotStore
from ops.app import make_app
from tests.gateway.conftest import PeopleMaker, Running, SaleMaker, now_ms, stone
from tests.vetting.test_ties import two_consignor_sale
from tests.vetting.test_vetting import application, call, http, login

__all__ = ["http"]  # the fixture, used by name

README = Path(__file__).resolve().parents[2] / "README.md"


async def approved_company(
    http: aiohttp.ClientSession, officer: dict[str, str], form: dict[str, Any]
) -> tuple[int, dict[str, str]]:
    """A company applied and approved; (company, its representative's headers)."""
    company = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]
    await call(http, "POST", f"/api/companies/{company}/decisions", officer, 200,
               json={"decision": "approve", "reason": "documents in order"})  # fmt: skip
    return company, await login(http, form["representatives"][0]["email"])


async def register(
    http: aiohttp.ClientSession,
    officer: dict[str, str],
    rep: dict[str, str],
    sale: int,
    company: int,
    **approval: int,
) -> None:
    """The representative asks to bid in the sale and the officer approves it with `approval` (paddle, limit...)."""
    await call(http, "POST", f"/api/sales/{sale}/registrations", rep, 201)
    await call(http, "POST", f"/api/sales/{sale}/registrations/{company}/approval", officer, 200, json=approval)


# ---- finding 3: deposits, once per payment reference, recorded by the settlement officer ----------------------------


async def test_a_deposit_is_recorded_once_per_reference_and_over_payment_shows(
    http: aiohttp.ClientSession, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker
) -> None:
    people = await make_people()
    officer = await people["vetting_officer"].headers(pg)
    cashier = await people["settlement_officer"].headers(pg)
    sale = await make_sale(lots=1)
    company, rep = await approved_company(http, officer, application())
    await register(http, officer, rep, sale.id, company, paddle=12, limit=50_000_000)
    url = f"/api/sales/{sale.id}/registrations/{company}/deposit"

    refused = await call(http, "POST", url, officer, 403, json={"amount": 5_000_000, "reference": "W-1"})
    assert refused["error"]["code"] == "not_allowed"  # vetting decides; money received is the cashier's
    missing = await call(http, "POST", url, cashier, 400, json={"amount": 5_000_000})
    assert missing["error"]["field"] == "reference"

    first = await call(http, "POST", url, cashier, 200, json={"amount": 5_000_000, "reference": "W-1"})
    again = await call(http, "POST", url, cashier, 200, json={"amount": 5_000_000, "reference": "W-1"})
    assert again == first and (first["deposit_received"], first["deposit_over"]) == (5_000_000, 0)
    clash = await call(http, "POST", url, cashier, 409, json={"amount": 1_000_000, "reference": "W-1"})
    assert (clash["error"]["code"], clash["error"]["field"]) == ("conflict", "reference")

    more = await call(http, "POST", url, cashier, 200, json={"amount": 1_000_000, "reference": "W-2"})
    assert (more["deposit_required"], more["deposit_received"], more["deposit_over"]) == (5_000_000, 6_000_000,
                                                                                          1_000_000)  # fmt: skip
    (listed,) = await call(http, "GET", f"/api/sales/{sale.id}/registrations", cashier, 200)
    assert listed["deposit_over"] == 1_000_000
    recorded = await pg.fetch(
        "SELECT reference, amount FROM registration_deposits WHERE company_id = $1 ORDER BY reference", company
    )
    assert [(r["reference"], r["amount"]) for r in recorded] == [("W-1", 5_000_000), ("W-2", 1_000_000)]
    audited = await pg.fetch("SELECT details FROM audit_log WHERE action = 'deposit_received' AND target = $1",
                             f"sale:{sale.id}:company:{company}")  # fmt: skip
    assert len(audited) == 2  # the repeat wrote nothing


async def test_one_deposit_sent_many_times_at_once_is_counted_once(
    http: aiohttp.ClientSession, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker
) -> None:
    people = await make_people()
    officer = await people["vetting_officer"].headers(pg)
    cashier = await people["settlement_officer"].headers(pg)
    sale = await make_sale(lots=1)
    company, rep = await approved_company(http, officer, application())
    await register(http, officer, rep, sale.id, company, paddle=3, limit=1_000_000)
    url = f"/api/sales/{sale.id}/registrations/{company}/deposit"
    wire = {"amount": 100_000, "reference": "retried wire"}
    answers = await asyncio.gather(*(call(http, "POST", url, cashier, 200, json=wire) for _ in range(8)))
    assert {a["deposit_received"] for a in answers} == {100_000}


async def test_one_wire_cannot_pay_two_sales(
    http: aiohttp.ClientSession, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker
) -> None:
    people = await make_people()
    officer = await people["vetting_officer"].headers(pg)
    cashier = await people["settlement_officer"].headers(pg)
    company, rep = await approved_company(http, officer, application())
    sales = [await make_sale(lots=1), await make_sale(lots=1)]
    for paddle, sale in enumerate(sales, 1):
        await register(http, officer, rep, sale.id, company, paddle=paddle, limit=1_000_000)
    wire = {"amount": 100_000, "reference": "SWIFT 77"}
    await call(http, "POST", f"/api/sales/{sales[0].id}/registrations/{company}/deposit", cashier, 200, json=wire)
    clash = await call(http, "POST", f"/api/sales/{sales[1].id}/registrations/{company}/deposit", cashier, 409,
                       json=wire)  # fmt: skip
    assert clash["error"]["field"] == "reference"


def test_the_readme_gives_deposits_to_the_roles_the_access_table_does() -> None:
    rule = access.HTTP_RULES[("POST", "/api/sales/{sale}/registrations/{company}/deposit")]
    assert rule == frozenset({"settlement_officer", "admin"})
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$", README.read_text(), re.MULTILINE))
    assert "deposit" in rows["settlement_officer"]
    assert "deposit" not in rows["vetting_officer"]


# ---- finding 4: a registration approved takes effect on the next bid, on every gateway -------------------------------


@asynccontextmanager
async def another_gateway(redis: Redis, pg: asyncpg.Pool) -> AsyncIterator[str]:
    """A second gateway over the same Redis and PostgreSQL; its ws:// address."""
    store = LotStore(redis, pg=pg, enforce_standing=True)
    runner = web.AppRunner(make_app(redis, pg, store), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}/ws"
    finally:
        await runner.cleanup()
        await store.close()


async def test_a_registration_approved_lets_the_next_bid_in_on_every_gateway(
    http: aiohttp.ClientSession,
    gateway: Running,
    redis: Redis,
    pg: asyncpg.Pool,
    make_sale: SaleMaker,
    make_people: PeopleMaker,
) -> None:
    officer = await (await make_people())["vetting_officer"].headers(pg)
    sale = await make_sale(lots=2)
    company, rep = await approved_company(http, officer, application())
    await call(http, "POST", f"/api/sales/{sale.id}/registrations", rep, 201)
    bids = f"/api/sales/{sale.id}/lots/1/bids"
    async with another_gateway(redis, pg) as other, websockets.connect(other, additional_headers=rep) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        # Too early, on both gateways: each now holds "no paddle" for this company.
        early = await call(http, "POST", bids, rep, 403, json={"amount": 10_000, "client_id": "early-http"})
        assert early["reason"] == "not_registered"
        await ws.send(json.dumps({"type": "bid", "sale": sale.id, "lot": 2, "amount": 10_000, "client_id": "early"}))
        assert json.loads(await ws.recv())["reason"] == "not_registered"

        await call(http, "POST", f"/api/sales/{sale.id}/registrations/{company}/approval", officer, 200,
                   json={"paddle": 31, "limit": 10**9, "deposit": 0})  # fmt: skip
        # At once, not after the cache's seconds: over HTTP here, and over the other gateway's websocket.
        ack = await call(http, "POST", bids, rep, 200, json={"amount": 10_000, "client_id": "now-http"})
        assert ack["leading"] is True
        await ws.send(json.dumps({"type": "bid", "sale": sale.id, "lot": 2, "amount": 10_000, "client_id": "now"}))
        answer = json.loads(await ws.recv())
        assert (answer["type"], answer.get("leading")) == ("ack", True), answer


# ---- finding 11: documents within a quota per company, while its application is open ---------------------------------


def upload(company: int, n: int) -> str:
    return f"/api/companies/{company}/documents?kind=other&filename=doc{n}.pdf"


async def test_a_companys_documents_are_bounded_in_number_and_bytes(
    http: aiohttp.ClientSession, pg: asyncpg.Pool
) -> None:
    form = application()
    company = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]
    rep = await login(http, form["representatives"][0]["email"])
    for n in range(vetting.MAX_COMPANY_DOCUMENTS):
        await call(http, "POST", upload(company, n), rep, 201, data=b"page %d" % n)
    full = await call(http, "POST", upload(company, 99), rep, 409, data=b"one more")
    assert (full["error"]["code"], full["error"]["field"]) == ("refused", "documents")

    form = application()
    company = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]
    rep = await login(http, form["representatives"][0]["email"])
    biggest = b"x" * vetting.MAX_DOCUMENT_BYTES
    for n in range(vetting.MAX_COMPANY_DOCUMENT_BYTES // vetting.MAX_DOCUMENT_BYTES):
        await call(http, "POST", upload(company, n), rep, 201, data=biggest)
    over = await call(http, "POST", upload(company, 99), rep, 413, data=b"one byte more")
    assert (over["error"]["code"], over["error"]["field"]) == ("too_large", "content")
    kept = await pg.fetchval("SELECT sum(size) FROM company_documents WHERE company_id = $1", company)
    assert kept == vetting.MAX_COMPANY_DOCUMENT_BYTES


async def test_documents_are_taken_only_while_the_application_is_open(
    http: aiohttp.ClientSession, pg: asyncpg.Pool, make_people: PeopleMaker
) -> None:
    officer = await (await make_people())["vetting_officer"].headers(pg)
    form = application()
    company = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]
    rep = await login(http, form["representatives"][0]["email"])
    await call(http, "POST", upload(company, 1), rep, 201, data=b"licence")
    await call(http, "POST", f"/api/companies/{company}/decisions", officer, 200,
               json={"decision": "request_more", "reason": "the bank letter, please"})  # fmt: skip
    await call(http, "POST", upload(company, 2), rep, 201, data=b"bank letter")  # more requested: still open
    await call(http, "POST", f"/api/companies/{company}/decisions", officer, 200,
               json={"decision": "reject", "reason": "not a trade buyer"})  # fmt: skip
    closed = await call(http, "POST", upload(company, 3), rep, 409, data=b"after the decision")
    assert (closed["error"]["code"], closed["error"]["field"]) == ("refused", "company")
    assert await pg.fetchval("SELECT count(*) FROM company_documents WHERE company_id = $1", company) == 2


# ---- finding 12: the public cannot tell who consigned a lot -----------------------------------------------------


async def test_public_views_of_a_sale_do_not_say_who_consigned_each_lot(
    http: aiohttp.ClientSession,
    gateway: Running,
    pg: asyncpg.Pool,
    make_people: PeopleMaker,
    new_sale_id: Callable[[], int],
) -> None:
    sale, first, second = await two_consignor_sale(pg, gateway, new_sale_id())
    people = await make_people(consignor_id=first)
    consignors = {entry["listing"]["lot"]: entry["listing"]["consignor_id"]
                  for entry in await call(http, "GET", f"/api/sales/{sale.id}/lots", await people["auctioneer"]
                                          .headers(pg), 200)}  # fmt: skip
    assert consignors == {1: first, 2: second, 3: first}  # the house knows

    for role in ("anonymous", "buyer"):
        headers = await people[role].headers(pg)
        entries = await call(http, "GET", f"/api/sales/{sale.id}/lots", headers, 200)
        assert [e["listing"]["consignor_id"] for e in entries] == [None, None, None], role
        one = await call(http, "GET", f"/api/sales/{sale.id}/lots/1", headers, 200)
        assert one["listing"]["consignor_id"] is None, role
    own = await call(http, "GET", f"/api/sales/{sale.id}/lots", await people["consignor"].headers(pg), 200)
    assert [e["listing"]["consignor_id"] for e in own] == [first, None, first]  # their own lots, no one else's

    async with websockets.connect(gateway.ws) as ws:  # the public feed: snapshots name no consignor either
        await ws.recv()  # welcome
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id}))
        snapshot = await ws.recv()
        assert json.loads(snapshot)["type"] == "snapshot" and "consignor" not in str(snapshot)


# ---- finding 16: a consignor who applies as a buyer cannot bid on their own lots ---------------------------------


async def consignor_over_http(http: aiohttp.ClientSession, officer: dict[str, str], **fields: Any) -> int:
    body = {"kind": "company", "agreement": {"currency": "USD"}, **fields}
    made = await call(http, "POST", "/api/house/consignors", officer, 201, json=body)
    return int(made["id"])


async def sale_of(pg: asyncpg.Pool, gateway: Running, sale_id: int, consignors: list[int]) -> NewSale:
    """A timed sale open now, lot n consigned by consignors[n - 1]."""
    sale = NewSale(
        id=sale_id, name="Own lots", currency="USD", starts_at_ms=now_ms() - 1_000, first_close_ms=now_ms() + 120_000,
        lots=[NewLot(lot=n, title=f"Lot {n}", consignor_id=c, diamond=stone(100 + n), low_estimate=100_000,
                     high_estimate=200_000, reserve=50_000, opening=10_000) for n, c in enumerate(consignors, 1)],
        settings=SaleSettings(),
    )  # fmt: skip
    await catalog.insert_sale(pg, sale)
    await gateway.store.create_lots(catalog.terms_for(sale))
    return sale


async def test_a_consignor_applying_as_a_buyer_is_linked_and_refused_on_their_own_lots(
    http: aiohttp.ClientSession,
    gateway: Running,
    pg: asyncpg.Pool,
    make_people: PeopleMaker,
    new_sale_id: Callable[[], int],
) -> None:
    officer = await (await make_people())["vetting_officer"].headers(pg)
    tag = secrets.token_hex(4)
    seller = await consignor_over_http(http, officer, name=f"Seller {tag} BVBA", registration_number=f"BE-0{tag}",
                                       bank_reference=f"BE68 5390 {tag}")  # fmt: skip
    stranger = await consignor_over_http(http, officer, name=f"Stranger {tag} Ltd")
    sale = await sale_of(pg, gateway, new_sale_id(), [seller, stranger])

    # The seller applies as a buyer without signing in, under another name, with its bank reference spelt its way.
    form = application(legal_name=f"Buying arm {tag}", bank_reference=f"be6853 90{tag}")
    company, rep = await approved_company(http, officer, form)
    file = await call(http, "GET", f"/api/companies/{company}", officer, 200)
    assert file["company"]["consignor_ids"] == [seller]  # linked, for the officer to see
    found = await pg.fetchrow("SELECT role, details FROM audit_log WHERE action = 'consignor_linked' AND target = $1",
                              f"company:{company}")  # fmt: skip
    assert found["role"] == "system" and "bank reference" in found["details"]

    await register(http, officer, rep, sale.id, company, paddle=8, limit=10**9, deposit=0)
    own = await call(http, "POST", f"/api/sales/{sale.id}/lots/1/bids", rep, 403,
                     json={"amount": 10_000, "client_id": "own"})  # fmt: skip
    assert own["reason"] == "own_lot"
    other = await call(http, "POST", f"/api/sales/{sale.id}/lots/2/bids", rep, 200,
                       json={"amount": 10_000, "client_id": "other"})  # fmt: skip
    assert other["leading"] is True


async def test_a_consignor_entered_after_the_application_is_linked_at_approval(
    http: aiohttp.ClientSession, pg: asyncpg.Pool, make_people: PeopleMaker
) -> None:
    officer = await (await make_people())["vetting_officer"].headers(pg)
    tag = secrets.token_hex(4)
    form = application(registration_number=f"NL-{tag}")
    company = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]
    seller = await consignor_over_http(http, officer, name=f"Other name {tag}", registration_number=f"nl {tag}",
                                       country="BE")  # fmt: skip
    await call(http, "POST", f"/api/companies/{company}/decisions", officer, 200,
               json={"decision": "approve", "reason": "documents in order"})  # fmt: skip
    file = await call(http, "GET", f"/api/companies/{company}", officer, 200)
    assert file["company"]["consignor_ids"] == [seller]


async def test_a_consignor_entered_later_is_linked_to_their_company_and_its_standing_published(
    http: aiohttp.ClientSession,
    gateway: Running,
    pg: asyncpg.Pool,
    make_people: PeopleMaker,
    new_sale_id: Callable[[], int],
) -> None:
    officer = await (await make_people())["vetting_officer"].headers(pg)
    tag = secrets.token_hex(4)
    stranger = await consignor_over_http(http, officer, name=f"Stranger {tag} Ltd")
    sale = await sale_of(pg, gateway, new_sale_id(), [stranger])
    form = application(owners=[{"name": f"Miriam  Katz {tag}", "share_bp": 10_000}])
    company, rep = await approved_company(http, officer, form)
    await register(http, officer, rep, sale.id, company, paddle=9, limit=10**9, deposit=0)

    # The company's owner is then entered as a consignor, in person: the company is hers.
    seller = await consignor_over_http(http, officer, kind="person", name=f"miriam katz {tag}")
    file = await call(http, "GET", f"/api/companies/{company}", officer, 200)
    assert file["company"]["consignor_ids"] == [seller]
    standing = await gateway.store.standing(sale.id, company)
    assert standing is not None and seller in standing.consignor_ids  # the engine knows at once


async def test_a_consignor_applying_with_their_own_accounts_email_is_linked(
    http: aiohttp.ClientSession, pg: asyncpg.Pool, make_people: PeopleMaker
) -> None:
    officer = await (await make_people())["vetting_officer"].headers(pg)
    seller = await consignor_over_http(http, officer, name=f"Seller {secrets.token_hex(4)} NV")
    account = (await make_people(consignor_id=seller))["consignor"].account
    assert account is not None
    form = application()
    form["representatives"][0]["email"] = account.email.upper()  # signed out, and spelt another way
    company = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]
    file = await call(http, "GET", f"/api/companies/{company}", officer, 200)
    assert file["company"]["consignor_ids"] == [seller]


async def test_a_consignor_entered_from_the_command_line_bars_their_company_at_once(
    http: aiohttp.ClientSession,
    gateway: Running,
    pg: asyncpg.Pool,
    make_people: PeopleMaker,
    new_sale_id: Callable[[], int],
    redis_url: str,
    database_url: str,
    tmp_path: Path,
) -> None:
    """`auction consignor create` publishes the standings of the companies vetting links, as the route does: the
    engine bars them from the consignor's lots at once, not at the next `auction vetting resync`."""
    people = await make_people()
    officer = await people["vetting_officer"].headers(pg)
    tag = secrets.token_hex(4)
    sale = await sale_of(pg, gateway, new_sale_id(), [await consignor_over_http(http, officer, name=f"Other {tag}")])
    company, rep = await approved_company(http, officer, application(registration_number=f"GB-{tag}", country="GB"))
    await register(http, officer, rep, sale.id, company, paddle=11, limit=10**9, deposit=0)
    file = tmp_path / "consignor.json"
    file.write_text(json.dumps({"kind": "company", "name": f"Seller {tag} plc", "country": "GB",
                                "registration_number": f"gb {tag}", "agreement": {"currency": "USD"}}))  # fmt: skip
    env = {"AUCTION_REDIS_URL": redis_url, "AUCTION_DATABASE_URL": database_url, "AUCTION_STATE_DIR": str(tmp_path)}
    by = people["vetting_officer"].account.email  # type: ignore[union-attr]
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "auction", "consignor", "create", str(file), "--by", by],
        env={**clean_environment(), **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seller = json.loads(done.stdout)["id"]
    standing = await gateway.store.standing(sale.id, company)
    assert standing is not None and seller in standing.consignor_ids  # the engine knows at once


def clean_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("AUCTION_")}
