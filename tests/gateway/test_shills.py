"""The shill monitor for operators, end to end against real Redis and PostgreSQL: bids over HTTP, the record copied
by the persister, the scores over HTTP (`GET /api/sales/{sale}/shill-scores`) and live on the websocket
(`watch_shill_scores`). A bidder who pushes one consignor's lots by the least step, early, and loses them is
flagged; the proxy bidder they push and a bidder spread across consignors are not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
import websockets
from redis.asyncio import Redis

from auction import catalog
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.engine.messages import CloseLot
from auction.persister import Persister
from tests.gateway.conftest import BidderMaker, PeopleMaker, Running, now_ms, stone

PUSHED, HONEST = (1, 2, 3), (4, 5, 7)  # lots 1-3 are one consignor's, 4-6 another's, 7-9 a third's


async def nine_lots(pg: asyncpg.Pool, gateway: Running, sale_id: int) -> NewSale:
    consignors = [await catalog.add_consignor(pg, f"Consignor {n}", "Stones Ltd") for n in range(3)]
    sale = NewSale(
        id=sale_id, name="Shills", currency="USD", starts_at_ms=now_ms() - 1_000, first_close_ms=now_ms() + 600_000,
        lots=[NewLot(lot=n, title=f"Lot {n}", consignor_id=consignors[(n - 1) // 3], diamond=stone(100 + n),
                     low_estimate=100_000, high_estimate=200_000, reserve=10_000, opening=10_000)
              for n in range(1, 10)],
        settings=SaleSettings(),
    )  # fmt: skip
    await catalog.insert_sale(pg, sale)
    await gateway.store.create_lots(catalog.terms_for(sale))
    return sale


async def bid(http: aiohttp.ClientSession, sale: int, lot: int, token: str, amount: int, kind: str = "bid") -> None:
    body = {"amount": amount, "client_id": f"{lot}-{kind}-{amount}", "kind": kind}
    async with http.post(f"/api/sales/{sale}/lots/{lot}/bids", json=body,
                         headers={"Authorization": f"Bearer {token}"}) as reply:  # fmt: skip
        assert reply.status == 200, await reply.text()


async def bid_like_a_shill(http: aiohttp.ClientSession, sale: int, shill: str, pushed: str, honest: str) -> None:
    """On each of one consignor's lots the pushed bidder leaves a maximum and the shill raises it three times by
    the least step (5,000 at these prices); the honest bidder opens one lot of each consignor."""
    for lot in PUSHED:
        await bid(http, sale, lot, pushed, 100_000, "max")
        for amount in (15_000, 25_000, 35_000):  # the proxy answers each at 5,000 more
            await bid(http, sale, lot, shill, amount)
    for lot in HONEST:
        await bid(http, sale, lot, honest, 10_000)


def by_paddle(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {score["paddle"]: score for score in report["bidders"]}


async def test_the_scores_flag_the_shill_and_nobody_else(
    gateway: Running,
    redis: Redis,
    pg: asyncpg.Pool,
    make_bidder: BidderMaker,
    make_people: PeopleMaker,
    new_sale_id: Callable[[], int],
) -> None:
    sale = await nine_lots(pg, gateway, new_sale_id())
    tokens = {paddle: (await make_bidder(sale.id, paddle))[1] for paddle in (61, 62, 63)}
    people = await make_people()
    clerk = await people["clerk"].headers(pg)
    async with aiohttp.ClientSession(gateway.http) as http:
        await bid_like_a_shill(http, sale.id, tokens[61], tokens[62], tokens[63])
        for lot in PUSHED:  # the pushed bidder wins them: the shill lost every lot it raised
            end = (await gateway.store.state(sale.id, lot)).end_ms  # type: ignore[union-attr]
            await gateway.store.execute(sale.id, lot, CloseLot(at_ms=end + 1))
        await Persister(redis, pg, only_sales=frozenset({sale.id})).drain_once()

        async with http.get(f"/api/sales/{sale.id}/shill-scores", headers=clerk) as reply:
            assert reply.status == 200, await reply.text()
            report = await reply.json()
        async with http.get(f"/api/sales/{sale.id}/shill-scores", headers=await people["buyer"].headers(pg)) as reply:
            assert (reply.status, (await reply.json())["error"]["field"]) == (403, "role")
        async with http.get("/api/sales/999999999999/shill-scores", headers=clerk) as reply:
            assert (reply.status, (await reply.json())["error"]["field"]) == (404, "sale")

    assert report["threshold"] == 50
    scores = by_paddle(report)
    shill, pushed, honest = scores[61], scores[62], scores[63]
    assert (shill["flagged"], shill["score"]) == (True, 100), shill
    assert {s["name"]: s["value"] for s in shill["signals"]} == {
        "concentration": 100, "least_step": 100, "early": 100, "low_wins": 100,
    }  # fmt: skip
    assert shill["signals"][1]["explanation"].startswith("9 of 9 bids raised bidder ")
    assert not pushed["flagged"] and not honest["flagged"], (pushed, honest)
    assert report["bidders"][0]["paddle"] == 61  # highest score first


async def test_operators_watch_the_scores_live(
    gateway: Running,
    redis: Redis,
    pg: asyncpg.Pool,
    make_bidder: BidderMaker,
    make_people: PeopleMaker,
    new_sale_id: Callable[[], int],
) -> None:
    sale = await nine_lots(pg, gateway, new_sale_id())
    tokens = {paddle: (await make_bidder(sale.id, paddle))[1] for paddle in (71, 72, 73)}
    auctioneer = await (await make_people())["auctioneer"].headers(pg)
    async with websockets.connect(gateway.ws, additional_headers=auctioneer) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "watch_shill_scores", "sale": sale.id}))
        first = json.loads(await ws.recv())
        assert (first["type"], first["sale"], first["bidders"]) == ("shill_scores", sale.id, [])
        await ws.send(json.dumps({"type": "watch_shill_scores", "sale": 999_999_999_999}))
        assert (json.loads(await ws.recv())["code"], "not_found") == ("not_found", "not_found")

        async with aiohttp.ClientSession(gateway.http) as http:
            await bid_like_a_shill(http, sale.id, tokens[71], tokens[72], tokens[73])
        await Persister(redis, pg, only_sales=frozenset({sale.id})).drain_once()
        seen = await until_scored(ws, {71, 72, 73})
        assert by_paddle(seen)[71]["score"] > by_paddle(seen)[73]["score"]
        assert seen["events"] > 0 and seen["server_ms"] > first["server_ms"]


async def until_scored(ws: websockets.ClientConnection, paddles: set[int], within_s: float = 15) -> dict[str, Any]:
    """The first `shill_scores` frame that scores every one of `paddles`."""
    async with asyncio.timeout(within_s):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "shill_scores" and paddles <= set(by_paddle(frame)):
                return frame  # type: ignore[no-any-return]
