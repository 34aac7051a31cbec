"""Every HTTP route, its bad parameters, and the OpenAPI document agreeing with the router both ways."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis

from auction.catalog import NewSale
from auction.store import LotStore
from ops.app import make_app
from tests.gateway.conftest import BidderMaker, Running, SaleMaker


@pytest.fixture
async def http(gateway: Running) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(gateway.http) as session:
        yield session


async def get(http: aiohttp.ClientSession, path: str, status: int = 200) -> Any:
    async with http.get(path) as reply:
        assert reply.status == status, await reply.text()
        return await reply.json() if reply.content_type == "application/json" else await reply.text()


def assert_error(body: Any, code: str, field: str | None) -> None:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "field", "message"}, body
    assert (body["error"]["code"], body["error"]["field"]) == (code, field), body


@pytest.fixture
async def sale(make_sale: SaleMaker) -> NewSale:
    return await make_sale(lots=3, closes_in_s=3600)


async def test_health_and_time(http: aiohttp.ClientSession) -> None:
    assert await get(http, "/api/health") == {"ok": True, "redis": True, "postgres": True}
    assert (await get(http, "/api/time"))["server_ms"] > 1_600_000_000_000


async def test_health_names_what_is_down(redis: Redis, pg: asyncpg.Pool, redis_url: str) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    app = make_app(dead, pg, LotStore(dead))
    async with TestClient(TestServer(app)) as client:
        reply = await client.get("/api/health")
        assert reply.status == 503
        assert await reply.json() == {"ok": False, "redis": False, "postgres": True}
    await dead.aclose()


async def test_sales_sale_lots_and_lot(http: aiohttp.ClientSession, sale: NewSale) -> None:
    listed = await get(http, "/api/sales")
    assert sale.id in [s["id"] for s in listed]
    detail = await get(http, f"/api/sales/{sale.id}")
    assert (detail["sale"]["lots"], detail["sale"]["currency"]) == (3, "USD")
    assert detail["settings"]["premium"]["bands"][0] == [0, 2600]
    lots = await get(http, f"/api/sales/{sale.id}/lots")
    assert [lot["listing"]["lot"] for lot in lots] == [1, 2, 3]
    assert lots[0]["listing"]["diamond"]["clarity"] == "VS2"
    assert lots[0]["live"]["status"] == "scheduled" and lots[0]["live"]["seq"] == 0
    for entry in lots:
        assert "reserve" not in entry["listing"] and "reserve" not in entry["live"]
    one = await get(http, f"/api/sales/{sale.id}/lots/2")
    assert one == lots[1]


async def test_bids_over_http(http: aiohttp.ClientSession, sale: NewSale, make_bidder: BidderMaker) -> None:
    _, token = await make_bidder(sale.id, 21)
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/sales/{sale.id}/lots/1/bids"
    async with http.post(url, json={"amount": 10_000, "client_id": "h1"}, headers=auth) as reply:
        assert reply.status == 200
        ack = await reply.json()
        assert (ack["type"], ack["leading"], ack["price"], ack["your_max"]) == ("ack", True, 10_000, 10_000)
    async with http.post(url, json={"amount": 10_000, "client_id": "h1"}, headers=auth) as reply:
        assert (reply.status, await reply.json()) == (200, ack)  # a resend gets the first answer
    async with http.post(url, json={"amount": 40_000, "client_id": "h2", "kind": "max"}, headers=auth) as reply:
        raised = await reply.json()
        assert (raised["leading"], raised["your_max"], raised["price"]) == (
            True,
            40_000,
            10_000,
        )  # under the reserve: the price stays
    async with http.post(url, json={"amount": 10_000, "client_id": "h3"}, headers=auth) as reply:
        rejected = await reply.json()
        assert reply.status == 409
        # the leader can only raise their own maximum, by an increment at least: $400 plus the band's $50
        assert (rejected["reason"], rejected["next_amount"]) == ("already_leading", 45_000)

    _, rival = await make_bidder(sale.id, 22)
    rival_auth = {"Authorization": f"Bearer {rival}"}
    async with http.post(url, json={"amount": 10_000, "client_id": "r1"}, headers=rival_auth) as reply:
        assert reply.status == 409 and (await reply.json())["reason"] == "too_low"

    events = await get(http, f"/api/sales/{sale.id}/lots/1/events")
    assert [e["type"] for e in events["events"]] == ["opened", "bid", "hidden"]
    assert events["last_seq"] == 3
    page = await get(http, f"/api/sales/{sale.id}/lots/1/events?after=1&limit=1")
    assert [e["seq"] for e in page["events"]] == [2] and page["last_seq"] == 2
    assert (await get(http, f"/api/sales/{sale.id}/lots/1/events?after=3"))["events"] == []


BAD_BIDS: list[tuple[Any, int, str, str | None]] = [
    ({"amount": "10", "client_id": "a"}, 400, "invalid", "amount"),
    ({"amount": -1, "client_id": "a"}, 400, "invalid", "amount"),
    ({"amount": 10**14, "client_id": "a"}, 400, "invalid", "amount"),
    ({"amount": 100}, 400, "invalid", "client_id"),
    ({"amount": 100, "client_id": "a b"}, 400, "invalid", "client_id"),
    ({"amount": 100, "client_id": "a", "kind": "sealed"}, 400, "invalid", "kind"),
    ({"amount": 100, "client_id": "a", "bidder": 1}, 400, "invalid", "bidder"),
    ([1, 2], 400, "invalid", None),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), BAD_BIDS)
async def test_bad_bid_bodies(
    http: aiohttp.ClientSession, sale: NewSale, make_bidder: BidderMaker, body: Any, status: int, code: str,
    field: str | None,
) -> None:  # fmt: skip
    _, token = await make_bidder(sale.id, 30)
    async with http.post(
        f"/api/sales/{sale.id}/lots/1/bids", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as reply:
        assert reply.status == status
        assert_error(await reply.json(), code, field)


async def test_bid_authorisation_and_not_found(
    http: aiohttp.ClientSession, sale: NewSale, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    url = f"/api/sales/{sale.id}/lots/1/bids"
    body = {"amount": 10_000, "client_id": "z"}
    async with http.post(url, json=body) as reply:
        assert reply.status == 401
        assert_error(await reply.json(), "unauthorised", "token")
    for header in ("Bearer nope", "Basic abc", "Bearer "):
        async with http.post(url, json=body, headers={"Authorization": header}) as reply:
            assert reply.status == 401
    other = await make_sale(lots=1)
    _, outsider = await make_bidder(other.id, 1)
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {outsider}"}) as reply:
        assert reply.status == 403 and (await reply.json())["reason"] == "not_registered"
    _, token = await make_bidder(sale.id, 31)
    async with http.post(
        f"/api/sales/{sale.id}/lots/99/bids", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as reply:
        assert reply.status == 404
        error = (await reply.json())["error"]
        assert (error["code"], error["field"]) == ("not_found", "lot")
        assert (error["client_id"], error["sale"], error["lot"]) == ("z", sale.id, 99)  # it names the bid
    async with http.post(
        url, data=b'{"amount":1,"client_id":"' + b"x" * 5000 + b'"}', headers={"Authorization": f"Bearer {token}"}
    ) as reply:
        assert reply.status == 413


BAD_PARAMS: list[tuple[str, int, str, str | None]] = [
    ("/api/sales/abc", 400, "invalid", "sale"),
    ("/api/sales/0", 400, "invalid", "sale"),
    ("/api/sales/-4/lots", 400, "invalid", "sale"),
    ("/api/sales/{sale}/lots/x", 400, "invalid", "lot"),
    ("/api/sales/{sale}/lots/1/events?after=x", 400, "invalid", "after"),
    ("/api/sales/{sale}/lots/1/events?after=-1", 400, "invalid", "after"),
    ("/api/sales/{sale}/lots/1/events?limit=0", 400, "invalid", "limit"),
    ("/api/sales/{sale}/lots/1/events?limit=100000", 400, "invalid", "limit"),
    ("/api/sales/99999999999999999/lots/1/events", 400, "invalid", "sale"),
    ("/api/sales/999999999", 404, "not_found", "sale"),
    ("/api/sales/999999999/lots", 404, "not_found", "sale"),
    ("/api/sales/{sale}/lots/77", 404, "not_found", "lot"),
    ("/api/sales/{sale}/lots/77/events", 404, "not_found", "lot"),
    ("/api/nowhere", 404, "not_found", None),
]


@pytest.mark.parametrize(("path", "status", "code", "field"), BAD_PARAMS)
async def test_bad_parameters_are_named(
    http: aiohttp.ClientSession, sale: NewSale, path: str, status: int, code: str, field: str | None
) -> None:
    assert_error(await get(http, path.replace("{sale}", str(sale.id)), status), code, field)


async def test_wrong_method_is_a_json_405(http: aiohttp.ClientSession) -> None:
    async with http.delete("/api/sales") as reply:
        assert reply.status == 405
        assert (await reply.json())["error"]["code"] == "invalid"


async def test_metrics(http: aiohttp.ClientSession, sale: NewSale, make_bidder: BidderMaker) -> None:
    _, token = await make_bidder(sale.id, 40)
    async with http.post(
        f"/api/sales/{sale.id}/lots/1/bids", json={"amount": 1, "client_id": "lo"},
        headers={"Authorization": f"Bearer {token}"},
    ) as reply:  # fmt: skip
        assert reply.status == 409
    text = await get(http, "/metrics")
    assert 'auction_bids_total{outcome="rejected",reason="too_low"}' in text
    assert "auction_ack_seconds_bucket" in text
    assert "auction_watchers " in text
    assert re.search(r"^auction_stream_lag \d", text, re.M)
    for counter in ("commands", "commits", "committing_seconds"):  # the refused bid was decided and committed
        found = re.search(rf"^auction_store_{counter}_total (\S+)$", text, re.M)
        assert found is not None and float(found[1]) > 0, counter
    for counter in ("forwarded", "served", "fenced"):  # one gateway holds its sales: nothing forwarded or fenced
        assert re.search(rf"^auction_store_{counter}_total 0.0$", text, re.M), counter


# ---- the OpenAPI document -----------------------------------------------------------------------------------------


def router_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves; aiohttp's automatic HEAD for GET is not a route of ours."""
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        found.add((route.method, route.resource.canonical))
    return found


def document_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}


async def test_openapi_and_router_agree_both_ways(gateway: Running, http: aiohttp.ClientSession) -> None:
    doc = await get(http, "/api/openapi.json")
    assert doc["openapi"].startswith("3.1")
    assert router_routes(gateway.app) == document_routes(doc)


async def test_openapi_schemas_resolve(http: aiohttp.ClientSession) -> None:
    doc = await get(http, "/api/openapi.json")
    text = str(doc)
    for ref in re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", text):
        assert ref in doc["components"]["schemas"], ref
    bid = doc["paths"]["/api/sales/{sale}/lots/{lot}/bids"]["post"]
    assert bid["security"] == [{"bearer": []}, {"session": []}]
    assert {"200", "400", "401", "403", "404", "409"} <= set(bid["responses"])
    body = doc["components"]["schemas"]["BidBody"]
    assert body["properties"]["amount"]["maximum"] == 10**13
    assert {p["name"] for p in doc["paths"]["/api/sales/{sale}/lots/{lot}/events"]["get"]["parameters"]} == {
        "sale", "lot", "after", "limit",
    }  # fmt: skip


async def test_a_route_without_a_document_is_caught(redis: Redis, pg: asyncpg.Pool) -> None:
    """The agreement check has teeth: a route added behind the table's back shows up as a difference."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    async def sneaky(request: web.Request) -> web.Response:
        return web.Response()

    app = make_app(redis, pg, LotStore(redis))
    app.router.add_get("/api/undocumented", sneaky)
    async with TestClient(TestServer(app)) as client:
        doc = await (await client.get("/api/openapi.json")).json()
    assert router_routes(app) - document_routes(doc) == {("GET", "/api/undocumented")}
