"""Issue 12, finding 8: after the sale, a buyer's limit and standing were not checked ("a buyer with a 292,500
limit accepted a reserve offer and owed 567,000, and offered 10^12 for a passed lot"). The engine's standing and
exposure rules apply to every way of buying: the reserve offer to the top bidder, buyers' offers on passed lots,
second-chance offers to underbidders. Each is reproduced here through the HTTP API, as a buyer or an operator
would meet it, against real Redis and PostgreSQL; each of these tests fails without the checks.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from auction import catalog, identity, vetting
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.diamonds import Diamond
from auction.engine.messages import CloseLot, LotPassed, PlaceBid
from auction.engine.premium import all_in
from auction.gateway.protocol import MAX_AMOUNT as PROTOCOL_MAX_AMOUNT
from auction.store import Accepted, LotStore
from ops.app import make_app
from settlement import billing, defaults, unsold_rules
from settlement.rules import DAY_MS, HOUR_MS
from settlement.service import SettlementService
from tests.settlement.helpers import USD, bid, forget, publish, run_lot

LIMIT = 292_500 * USD  # the issue's buyer


@pytest.fixture
async def store(redis: Redis) -> AsyncIterator[LotStore]:
    lot_store = LotStore(redis, enforce_standing=True)
    try:
        yield lot_store
    finally:
        await lot_store.close()


def _now() -> int:
    return time.time_ns() // 1_000_000


def _sale(sale_id: int, consignor: int, reserves: list[int], starts_at_ms: int, stagger_ms: int = 60_000) -> NewSale:
    stone = Diamond(carat_points=301, shape="Round", colour="E", clarity="VVS1")
    return NewSale(
        id=sale_id, name=f"limits {sale_id}", currency="USD", starts_at_ms=starts_at_ms,
        first_close_ms=starts_at_ms + HOUR_MS, settings=SaleSettings(stagger_ms=stagger_ms),
        lots=[NewLot(lot=n, title=f"stone {n}", consignor_id=consignor, diamond=stone, low_estimate=max(r, 1_000 * USD),
                     high_estimate=2 * max(r, 1_000 * USD), reserve=r, opening=100 * USD)
              for n, r in enumerate(reserves, start=1)],
    )  # fmt: skip


async def _company(pg: asyncpg.Pool, sale_id: int, paddle: int, limit: int | None) -> tuple[int, dict[str, str]]:
    """A buyer registered for the sale with `limit`, and the headers their API token signs requests with."""
    bidder, token = await catalog.add_bidder(pg, f"Buyer {paddle}", f"Limits Co {sale_id}-{paddle}")
    await catalog.register(pg, sale_id, bidder.id, paddle, limit)
    return bidder.id, {"Authorization": f"Bearer {token}"}


async def _officer(pg: asyncpg.Pool) -> dict[str, str]:
    account = await identity.create_account(pg, f"so-{secrets.token_hex(5)}@x.test", "SO", None, "settlement_officer")
    return {"Authorization": f"Bearer {(await identity.issue_token(pg, account.id, 'api')).token}"}


async def _settled(redis: Redis, pg: asyncpg.Pool, sale_id: int) -> None:
    try:
        await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once()
    finally:
        await forget(redis, sale_id)


def _error(body: dict[str, dict[str, str]]) -> tuple[str, str | None, str]:
    return body["error"]["code"], body["error"]["field"], body["error"]["message"]


def test_the_bound_on_amounts_is_the_protocols() -> None:
    assert unsold_rules.MAX_AMOUNT == PROTOCOL_MAX_AMOUNT
    assert unsold_rules.amount_refusal(PROTOCOL_MAX_AMOUNT) is None
    assert unsold_rules.amount_refusal(PROTOCOL_MAX_AMOUNT + 1) == "bad_amount"


# ---- the reserve offer, and buyers' offers on passed lots -------------------------------------------------------


async def test_the_issues_buyer_can_neither_take_the_reserve_offer_nor_offer_a_fortune(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    """The buyer won lot 1 at 150,000 (189,000 all-in) and led lot 2 at 80,000 (100,800 all-in), within their
    292,500; lot 2 passed below its reserve of 300,000, and the house offers it to them at the reserve: 378,000
    all-in more, 567,000 in all. Refused over_limit, as is their offer of 10^12 for it; more than the protocol's
    bound on any amount is malformed."""
    sale_id = new_sale_id()
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    sale = _sale(sale_id, consignor, [100_000 * USD, 300_000 * USD], _now() - 2 * HOUR_MS)
    await catalog.insert_sale(pg, sale)
    buyer, as_buyer = await _company(pg, sale_id, 10, LIMIT)
    rival, _ = await _company(pg, sale_id, 11, None)
    at = sale.starts_at_ms + 1000
    await publish(
        redis, pg, sale_id, 1, run_lot(sale, 1, [bid(rival, 140_000 * USD, at), bid(buyer, 150_000 * USD, at)])
    )
    passed = run_lot(sale, 2, [bid(rival, 70_000 * USD, at), bid(buyer, 80_000 * USD, at)])
    assert isinstance(passed[-1], LotPassed)
    await publish(redis, pg, sale_id, 2, passed)
    await _settled(redis, pg, sale_id)
    owed = all_in(150_000 * USD, sale.settings.premium)
    assert owed == 189_000 * USD and owed + all_in(300_000 * USD, sale.settings.premium) == 567_000 * USD

    base = f"/api/settlement/sales/{sale_id}"
    async with TestClient(TestServer(make_app(redis, pg, store))) as http:
        [reserve_offer] = (await (await http.get(f"{base}/post-sale", headers=as_buyer)).json())["offers"]
        assert (reserve_offer["kind"], reserve_offer["amount"]) == ("reserve", 300_000 * USD)
        taken = await http.post(f"/api/settlement/post-sale-offers/{reserve_offer['id']}", json={"accept": True},
                                headers=as_buyer)  # fmt: skip
        code, field, message = _error(await taken.json())
        assert (taken.status, code, field) == (409, "refused", "offer") and "over_limit" in message
        assert "378,000.00" in message and "189,000.00" in message and "292,500.00" in message

        fortune = await http.post(f"{base}/lots/2/offers", json={"amount": 10**12, "client_id": "f1"},
                                  headers=as_buyer)  # fmt: skip
        code, field, message = _error(await fortune.json())
        assert (fortune.status, code, field) == (409, "refused", "amount") and "over_limit" in message
        beyond = await http.post(f"{base}/lots/2/offers", json={"amount": PROTOCOL_MAX_AMOUNT + 1, "client_id": "f2"},
                                 headers=as_buyer)  # fmt: skip
        assert beyond.status == 400 and _error(await beyond.json())[:2] == ("invalid", "amount")

        within = 80_000 * USD  # 100,800 all-in: 289,800 with lot 1
        made = await http.post(f"{base}/lots/2/offers", json={"amount": within, "client_id": "f3"}, headers=as_buyer)
        assert made.status == 201 and (await made.json())["amount"] == within
    invoice = await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, buyer))
    assert [(line.lot, line.status) for line in invoice.lines] == [(1, "active")]  # lot 2 not billed to them


async def test_what_a_buyer_leads_in_the_running_sale_counts_against_their_limit(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    """Lot 1 of a timed sale has passed; lot 2 still runs and the buyer leads it at 200,000 (252,000 all-in, in
    the engine's exposure). An offer for lot 1 that would take them past 292,500 with it is refused."""
    sale_id = new_sale_id()
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    sale = _sale(sale_id, consignor, [50_000 * USD, 0], _now() - 2 * HOUR_MS, stagger_ms=3 * HOUR_MS)
    await catalog.insert_sale(pg, sale)
    await store.create_lots(catalog.terms_for(sale))
    buyer, as_buyer = await _company(pg, sale_id, 10, LIMIT)
    await vetting.publish_standing(pg, store, sale_id, buyer)
    lot1, lot2 = catalog.terms_for(sale)
    placed = await store.execute(sale_id, 2, PlaceBid(sale.starts_at_ms + 60_000, buyer, 10, 200_000 * USD, "x1"))
    assert isinstance(placed, Accepted)
    closed = await store.execute(sale_id, 1, CloseLot(lot1.end_ms))
    assert isinstance(closed, Accepted)
    assert lot2.end_ms > _now()  # lot 2 is still open
    await _settled(redis, pg, sale_id)
    assert await store.exposure(sale_id, buyer) == {2: 252_000 * USD}

    base = f"/api/settlement/sales/{sale_id}"
    async with TestClient(TestServer(make_app(redis, pg, store))) as http:
        over = await http.post(f"{base}/lots/1/offers", json={"amount": 50_000 * USD, "client_id": "o1"},
                               headers=as_buyer)  # 63,000 all-in: 315,000 with lot 2  # fmt: skip
        code, field, message = _error(await over.json())
        assert (over.status, code, field) == (409, "refused", "amount") and "over_limit" in message
        within = await http.post(f"{base}/lots/1/offers", json={"amount": 30_000 * USD, "client_id": "o2"},
                                 headers=as_buyer)  # 37,800 all-in: 289,800  # fmt: skip
        assert within.status == 201


async def test_a_suspended_buyer_may_not_take_the_reserve_offer(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    sale = _sale(sale_id, consignor, [300_000 * USD], _now() - 2 * HOUR_MS)
    await catalog.insert_sale(pg, sale)
    buyer, as_buyer = await _company(pg, sale_id, 10, None)
    await publish(redis, pg, sale_id, 1, run_lot(sale, 1, [bid(buyer, 80_000 * USD, sale.starts_at_ms + 1000)]))
    await _settled(redis, pg, sale_id)
    await pg.execute("UPDATE companies SET status = 'suspended' WHERE id = $1", buyer)  # by a vetting officer
    async with TestClient(TestServer(make_app(redis, pg, store))) as http:
        [offer] = (await (await http.get(f"/api/settlement/sales/{sale_id}/post-sale", headers=as_buyer)).json())[
            "offers"
        ]
        taken = await http.post(f"/api/settlement/post-sale-offers/{offer['id']}", json={"accept": True},
                                headers=as_buyer)  # fmt: skip
        code, field, message = _error(await taken.json())
        assert (taken.status, code, field) == (403, "refused", "buyer") and "suspended" in message


# ---- second chances ----------------------------------------------------------------------------------------------


async def _defaulted_with_underbidders(
    redis: Redis, pg: asyncpg.Pool, sale_id: int, under_limit: int | None
) -> tuple[int, int]:
    """Lot 1 (reserve 1,000) won by a buyer who never pays, over an underbidder (last bid 3,000) and a third
    (2,000); the underbidder also bought lot 2 at 7,000 (8,820 all-in). Returns (underbidder, third)."""
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    sale = _sale(sale_id, consignor, [1_000 * USD, 1_000 * USD], _now() - 2 * HOUR_MS)
    await catalog.insert_sale(pg, sale)
    winner, _ = await _company(pg, sale_id, 10, None)
    under, _ = await _company(pg, sale_id, 11, under_limit)
    third, _ = await _company(pg, sale_id, 12, None)
    at = sale.starts_at_ms + 1000
    bids = [bid(third, 2_000 * USD, at), bid(under, 3_000 * USD, at, kind="max"), bid(winner, 5_000 * USD, at, "max")]
    await publish(redis, pg, sale_id, 1, run_lot(sale, 1, bids))
    await publish(redis, pg, sale_id, 2, run_lot(sale, 2, [bid(under, 7_000 * USD, at)]))
    await _settled(redis, pg, sale_id)
    due = (await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, winner))).due_ms
    await defaults.sweep(pg, due + 14 * DAY_MS)  # the winner's invoice falls into default
    return under, third


async def test_a_second_chance_skips_underbidders_who_may_not_buy(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    """The underbidder's limit of 12,000 holds lot 2's 8,820 but not 3,780 more for lot 1; the third is
    suspended by a vetting officer. Nobody may take the second chance, so the lot joins the passed lots."""
    sale_id = new_sale_id()
    _, third = await _defaulted_with_underbidders(redis, pg, sale_id, 12_000 * USD)
    await pg.execute("UPDATE companies SET status = 'suspended' WHERE id = $1", third)
    as_officer = await _officer(pg)
    async with TestClient(TestServer(make_app(redis, pg, store))) as http:
        resolved = await http.post(f"/api/settlement/sales/{sale_id}/lots/1/default", json={"choice": "second_chance"},
                                   headers=as_officer)  # fmt: skip
        assert resolved.status == 200 and await resolved.json() == {"result": "unsold"}
    assert await defaults.offers(pg, sale_id, 1) == []
    passed = await pg.fetchval("SELECT status FROM passed_lots WHERE sale_id = $1 AND lot_no = 1", sale_id)
    assert passed == "post_sale"


async def test_a_second_chance_accepted_is_checked_again(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    """Offered within their limit, the underbidder's limit is lowered before they accept (a vetting officer
    reviewed them): the acceptance is refused over_limit, and nothing is billed."""
    sale_id = new_sale_id()
    under, _ = await _defaulted_with_underbidders(redis, pg, sale_id, 20_000 * USD)
    as_officer = await _officer(pg)
    async with TestClient(TestServer(make_app(redis, pg, store))) as http:
        resolved = await http.post(f"/api/settlement/sales/{sale_id}/lots/1/default", json={"choice": "second_chance"},
                                   headers=as_officer)  # fmt: skip
        assert await resolved.json() == {"result": "second_chance"}
        [offer] = await defaults.offers(pg, sale_id, 1)
        assert (offer.buyer, offer.amount) == (under, 3_000 * USD)
        await pg.execute("UPDATE registrations SET bid_limit = $3 WHERE sale_id = $1 AND company_id = $2", sale_id,
                         under, 12_000 * USD)  # fmt: skip
        taken = await http.post(f"/api/settlement/offers/{offer.id}", json={"accept": True}, headers=as_officer)
        code, field, message = _error(await taken.json())
        assert (taken.status, code, field) == (409, "refused", "offer") and "over_limit" in message
    lines = await pg.fetch("SELECT source, status FROM invoice_lines WHERE sale_id = $1 AND lot_no = 1", sale_id)
    assert [(r["source"], r["status"]) for r in lines] == [("hammer", "voided")]


async def test_a_reaward_passes_over_a_new_winner_who_may_not_buy(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    """Re-awarded without the defaulter, the lot would go to the underbidder, whom a vetting officer has since
    suspended: their bids are struck too, as the engine would refuse them, and the third buyer wins it."""
    sale_id = new_sale_id()
    under, third = await _defaulted_with_underbidders(redis, pg, sale_id, None)
    await pg.execute("UPDATE companies SET status = 'suspended' WHERE id = $1", under)
    as_officer = await _officer(pg)
    async with TestClient(TestServer(make_app(redis, pg, store))) as http:
        resolved = await http.post(f"/api/settlement/sales/{sale_id}/lots/1/default", json={"choice": "reaward"},
                                   headers=as_officer)  # fmt: skip
        assert resolved.status == 200 and await resolved.json() == {"result": "reawarded"}
    rows = await pg.fetch(
        "SELECT i.buyer_id, l.source, l.status FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id "
        "WHERE l.sale_id = $1 AND l.lot_no = 1 ORDER BY l.id",
        sale_id,
    )
    assert [(r["buyer_id"], r["source"], r["status"]) for r in rows][-1] == (third, "reaward", "active")
