"""A buyer's and a consignor's own settlement through the real gateway: a buyer opens their invoice (JSON, the
document, the printable page) and nobody else's; a consignor reads their statements and nobody else's; a buyer
answers the second-chance offers made to them and no one else's. The role walk (test_access.py) covers who may
call each route at all; this is whose data each caller gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from auction import catalog, identity
from settlement import defaults, ledger
from settlement.service import SettlementService, wall_clock_ms
from tests.gateway.conftest import PeopleMaker, Running
from tests.settlement.helpers import USD, bid, forget, make_sale, publish, run_lot

NOWHERE = 999_999_999_999
LATE = 1_800_000_000_000  # long after the test sale's invoices fell due: the sweep puts them in default


@dataclass
class SoldSale:
    id: int
    consignor: int
    winner: int  # the company that bought lot 1
    runner: int  # the underbidder on lot 1
    winner_name: str


async def registered(pg: asyncpg.Pool, sale_id: int, count: int) -> list[int]:
    """`count` approved companies registered for the sale with paddles 11, 12, ...: real buyers, who may be made
    a second-chance offer."""
    companies = []
    for n in range(count):
        bidder, _token = await catalog.add_bidder(pg, f"Buyer {n}", f"Account Test Co {sale_id}-{n}")
        await catalog.register(pg, sale_id, bidder.id, 11 + n)
        companies.append(bidder.id)
    return companies


async def sold_sale(redis: Redis, pg: asyncpg.Pool, sale_id: int) -> SoldSale:
    """Lot 1 sold to one company over another's bid, lot 2 passed; both settled as the worker would."""
    sale, consignor = await make_sale(pg, sale_id, lots=2, reserve=500 * USD)
    winner, runner = await registered(pg, sale_id, 2)
    await publish(redis, pg, sale_id, 1, run_lot(sale, 1, [bid(runner, 1_000 * USD), bid(winner, 2_000 * USD)]))
    await publish(redis, pg, sale_id, 2, run_lot(sale, 2, [bid(runner, 100 * USD)]))
    try:
        assert await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once() == 2
    finally:
        await forget(redis, sale_id)
    await pg.execute("UPDATE companies SET address = $2 WHERE id = $1", winner, "Hoveniersstraat 30\n2018 Antwerpen")
    name = await pg.fetchval("SELECT legal_name FROM companies WHERE id = $1", winner)
    return SoldSale(sale_id, consignor, winner, runner, name)


async def company_headers(pg: asyncpg.Pool, company: int) -> dict[str, str]:
    account = await pg.fetchval("SELECT id FROM accounts WHERE company_id = $1 ORDER BY id LIMIT 1", company)
    return {"Authorization": f"Bearer {(await identity.issue_token(pg, account, 'api')).token}"}


async def consignor_headers(pg: asyncpg.Pool, consignor: int) -> dict[str, str]:
    made = await identity.create_account(pg, f"consignor-{consignor}@x.test", "Consignor", None, "consignor",
                                         consignor_id=consignor)  # fmt: skip
    return {"Authorization": f"Bearer {(await identity.issue_token(pg, made.id, 'api')).token}"}


async def get(http: aiohttp.ClientSession, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with http.get(path, headers=headers) as reply:
        if reply.content_type == "application/json":
            return reply.status, await reply.json()
        return reply.status, await reply.text()


def refused(status: int, body: Any, field: str) -> bool:
    return status == 403 and body["error"]["code"] == "not_allowed" and body["error"]["field"] == field


async def test_a_buyer_opens_their_own_invoice_and_no_one_elses(
    gateway: Running, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int], make_people: PeopleMaker
) -> None:
    sale = await sold_sale(redis, pg, new_sale_id())
    winner, runner = await company_headers(pg, sale.winner), await company_headers(pg, sale.runner)
    stranger = await (await make_people())["buyer"].headers(pg)
    invoice = f"/api/settlement/sales/{sale.id}/invoices/{sale.winner}"
    async with aiohttp.ClientSession(gateway.http) as http:
        status, view = await get(http, invoice, winner)
        assert status == 200
        assert view["total"] == await ledger.balance(pg, ledger.buyer(sale.winner), "USD")  # what the ledger says
        assert view["premium"] == 520 * USD  # 26 % of 2,000.00

        status, doc = await get(http, f"{invoice}/document", winner)
        assert status == 200 and doc["buyer"]["legal_name"] == sale.winner_name
        assert doc["buyer"]["address"] == ["Hoveniersstraat 30", "2018 Antwerpen"]
        assert doc["invoice"]["total"] == view["total"]
        assert doc["lines"][0]["stone"].startswith("0.90 ct Round, G, VS2")
        assert doc["rates"]["premium"][0] == [0, 2600]

        status, page = await get(http, f"{invoice}/print?tz=Europe/Brussels", winner)
        assert status == 200
        assert sale.winner_name in page and f"Invoice {doc['number']}" in page
        assert "Hoveniersstraat 30<br>2018 Antwerpen" in page  # the buyer company's address, as it applied
        assert "November 2023" in page and "Europe/Brussels" in page  # the sale closed on 14 November 2023
        assert str(view["due_ms"]) not in page and str(view["issued_ms"]) not in page  # never epoch ms
        assert f"buyer {sale.winner}" not in page.lower()
        assert "2,520.00" in page  # hammer and premium, from minor units
        status, body = await get(http, f"{invoice}/print?tz=Mars/Olympus_Mons", winner)
        assert status == 400 and body["error"]["field"] == "tz"

        for path in (invoice, f"{invoice}/document", f"{invoice}/print"):  # another buyer: refused, however asked
            for headers in (runner, stranger):
                status, body = await get(http, path, headers)
                assert refused(status, body, "buyer"), (path, status, body)
        # no invoice there and not theirs: the same refusal as for one that exists, so nothing is learnt
        status, body = await get(http, f"/api/settlement/sales/{sale.id}/invoices/{NOWHERE}", stranger)
        assert refused(status, body, "buyer")
        status, body = await get(http, f"/api/settlement/sales/{sale.id}/invoices/{sale.runner}", runner)
        assert status == 404  # their own, and they bought nothing

        status, listed = await get(http, f"/api/settlement/buyers/{sale.winner}/invoices", winner)
        assert status == 200 and [(i["sale"], i["total"], i["outstanding"]) for i in listed] == [
            (sale.id, view["total"], view["total"])
        ]
        assert listed[0]["sale_name"] == f"settlement test {sale.id}"
        status, body = await get(http, f"/api/settlement/buyers/{sale.winner}/invoices", runner)
        assert refused(status, body, "buyer")


async def test_a_consignor_reads_their_own_statements_and_no_one_elses(
    gateway: Running, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int], make_people: PeopleMaker
) -> None:
    sale = await sold_sale(redis, pg, new_sale_id())
    people = await make_people()
    own, other = await consignor_headers(pg, sale.consignor), await people["consignor"].headers(pg)
    desk = await people["settlement_officer"].headers(pg)
    path = f"/api/settlement/consignors/{sale.consignor}/statements"
    async with aiohttp.ClientSession(gateway.http) as http:
        for headers in (own, desk):
            status, statements = await get(http, path, headers)
            assert status == 200 and [s["sale"] for s in statements] == [sale.id]
            lines = {line["lot"]: line for line in statements[0]["lines"]}
            assert (lines[1]["hammer"], lines[1]["commission"], lines[1]["net"]) == (2_000 * USD, 200 * USD,
                                                                                      1_800 * USD)  # fmt: skip
            assert lines[1]["status"] == "awaiting_payment" and lines[2]["status"] == "unsold"
        for route in ("statements", "payouts", "shipments"):
            status, body = await get(http, f"/api/settlement/consignors/{sale.consignor}/{route}", other)
            assert refused(status, body, "consignor"), (route, status, body)
            status, body = await get(http, f"/api/settlement/consignors/{NOWHERE}/{route}", other)
            assert refused(status, body, "consignor"), (route, status, body)
        status, payouts = await get(http, f"/api/settlement/consignors/{sale.consignor}/payouts", own)
        assert status == 200 and payouts == []  # the buyer has not paid: nothing paid out yet


async def test_a_buyer_answers_the_second_chance_offer_made_to_them_only(
    gateway: Running, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = await sold_sale(redis, pg, new_sale_id())
    await defaults.sweep(pg, LATE)  # the winner never paid: in default
    assert await defaults.resolve(pg, sale.id, 1, "second_chance", wall_clock_ms()) == "second_chance"
    winner, runner = await company_headers(pg, sale.winner), await company_headers(pg, sale.runner)
    async with aiohttp.ClientSession(gateway.http) as http:
        status, offers = await get(http, f"/api/settlement/buyers/{sale.runner}/second-chances", runner)
        assert status == 200 and [(o["lot"], o["amount"], o["status"]) for o in offers] == [(1, 1_000 * USD, "open")]
        assert offers[0]["premium"] == 260 * USD
        offer = offers[0]["id"]
        status, body = await get(http, f"/api/settlement/buyers/{sale.runner}/second-chances", winner)
        assert refused(status, body, "buyer")
        for headers, asked in ((winner, offer), (runner, NOWHERE)):  # not theirs, or none: the same answer
            async with http.post(f"/api/settlement/offers/{asked}", json={"accept": True}, headers=headers) as reply:
                body = await reply.json()
                assert reply.status == 404 and body["error"]["field"] == "offer", body
        async with http.post(f"/api/settlement/offers/{offer}", json={"accept": True}, headers=runner) as reply:
            assert reply.status == 200 and (await reply.json())["result"] == "second_chance_sold"
        status, view = await get(http, f"/api/settlement/sales/{sale.id}/invoices/{sale.runner}", runner)
        assert status == 200 and view["hammer"] == 1_000 * USD and view["premium"] == 260 * USD
