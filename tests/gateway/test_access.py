"""The role table walked in full: every route of the router and every client message type, against every role.

A route or message type without an entry in auction/gateway/access.py fails here by name, so a new route can't
be added without deciding who may call it."""

from __future__ import annotations

import json
import re
from typing import Any, get_args

import aiohttp
import asyncpg
import pytest
import websockets

from auction.engine.state import LiveTerms
from auction.gateway.access import HTTP_RULES, MESSAGE_RULES
from auction.gateway.protocol import AnyClientMessage
from tests.gateway.conftest import PRINCIPALS, BidderMaker, PeopleMaker, Running, SaleMaker

NOWHERE = 999_999_999_999  # an id nothing has: allowed calls end in 404/400 and change nothing


def router_routes(app: Any) -> set[tuple[str, str]]:
    return {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}


def test_every_message_type_has_a_rule() -> None:
    tags = {t.__struct_config__.tag for t in get_args(AnyClientMessage)}
    assert tags - set(MESSAGE_RULES) == set(), "client message types without a rule in access.MESSAGE_RULES"
    assert set(MESSAGE_RULES) - tags == set(), "rules for message types that no longer exist"


async def test_every_route_has_a_rule(gateway: Running) -> None:
    routes = router_routes(gateway.app)
    assert routes - set(HTTP_RULES) == set(), "routes without a rule in access.HTTP_RULES"
    assert set(HTTP_RULES) - routes == set(), "rules for routes that no longer exist"


def refused_by_the_table(status: int, body: Any, role: str) -> bool:
    if not isinstance(body, dict) or "error" not in body:
        return False
    error = body["error"]
    if role == "anonymous":
        return status == 401 and (error["code"], error["field"]) == ("unauthorised", "token")
    return status == 403 and (error["code"], error["field"]) == ("not_allowed", "role")


async def test_every_route_against_every_role(gateway: Running, pg: asyncpg.Pool, make_people: PeopleMaker) -> None:
    people = await make_people()
    checked = 0
    async with aiohttp.ClientSession(gateway.http) as http:
        for method, path in sorted(router_routes(gateway.app)):
            url = re.sub(r"\{\w+\}", str(NOWHERE), path)
            for role in PRINCIPALS:
                headers = await people[role].headers(pg)
                async with http.request(method, url, headers=headers, data=b"{}") as reply:
                    try:
                        body = await reply.json(content_type=None)
                    except (ValueError, UnicodeDecodeError):
                        body = None
                    refused = refused_by_the_table(reply.status, body, role)
                allowed = role in HTTP_RULES[(method, path)]
                assert refused is not allowed, f"{role} {method} {path}: status {reply.status} {body}"
                checked += 1
    assert checked == len(router_routes(gateway.app)) * len(PRINCIPALS)


def message(kind: str, sale: int, live: int) -> dict[str, Any]:
    """A valid message of each type: the rostrum's for lot 1 of the live sale `live`, the rest for `sale`."""
    rostrum = {"sale": live, "lot": 1, "request_id": f"r-{kind}"}
    bodies: dict[str, dict[str, Any]] = {
        "subscribe": {"sale": sale, "lots": [1]},
        "unsubscribe": {"sale": sale},
        "bid": {"sale": sale, "lot": 1, "amount": 10_000, "client_id": "m1"},
        "max_bid": {"sale": sale, "lot": 1, "amount": 20_000, "client_id": "m2"},
        "tender_bid": {"sale": sale, "lot": 1, "per_carat": 20_000, "client_id": "m3"},  # refused: not a tender
        "quote": {"sale": sale, "lot": 1, "amount": 10_000},
        "time": {},
        "watch_shill_scores": {"sale": sale},
        "open_lot": {**rostrum, "ask": 10_000},
        "take_bid": {**rostrum, "paddle": 7, "source": "floor"},
        "set_ask": {**rostrum, "amount": 12_000},
        "set_increment": {**rostrum, "amount": 500},
        "accept_online_bid": rostrum,
        "decline_online_bid": {**rostrum, "reason": "no"},
        "fair_warning": rostrum,
        "hammer": rostrum,
        "pass_lot": rostrum,
        "reopen_lot": {**rostrum, "reason": "a missed bid"},
        "pause_lot": rostrum,
        "resume_lot": rostrum,
        "undo_bid": rostrum,
        "withdraw_lot": {**rostrum, "reason": "consignor withdrew"},
    }
    return {"type": kind, **bodies[kind]}


def message_refused_by_the_table(reply: dict[str, Any]) -> bool:
    """The table's refusal: `error not_allowed` naming the field `type` (a bid: `rejected not_allowed`)."""
    if reply["type"] == "rejected":
        return bool(reply["reason"] == "not_allowed")
    return (reply["type"], reply.get("code"), reply.get("field")) == ("error", "not_allowed", "type")


async def test_every_message_against_every_role(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=2)
    live = await make_sale(lots=1, live=LiveTerms())
    await make_bidder(live.id, 7)
    consignor = await pg.fetchval("SELECT consignor_id FROM lots WHERE sale_id = $1 AND lot_no = 1", sale.id)
    people = await make_people(consignor_id=consignor)
    for role in PRINCIPALS:
        headers = await people[role].headers(pg)
        async with websockets.connect(gateway.ws, additional_headers=headers) as ws:
            welcome = json.loads(await ws.recv())
            assert welcome["role"] == role
            for kind in MESSAGE_RULES:
                sent = message(kind, sale.id, live.id)
                await ws.send(json.dumps(sent))
                reply = json.loads(await ws.recv()) if kind != "unsubscribe" else None
                if reply is None:  # unsubscribe answers nothing: check it was not refused with a `time` after it
                    await ws.send(json.dumps({"type": "time"}))
                    reply = json.loads(await ws.recv())
                allowed = role in MESSAGE_RULES[kind]
                assert message_refused_by_the_table(reply) is not allowed, f"{role} {kind}: {reply}"
                if "request_id" in sent:  # every answer to a rostrum message names it, refusals included
                    assert reply["request_id"] == sent["request_id"], f"{role} {kind}: {reply}"
                if kind == "subscribe":  # drain the subscription's first frame (the snapshot of lot 1)
                    assert reply["type"] in ("snapshot", "record_snapshot"), reply
                    assert reply["type"] == ("record_snapshot" if role not in ("anonymous", "buyer", "consignor")
                                             else "snapshot")  # fmt: skip


def test_the_rostrum_is_the_auctioneers_and_the_clerk_has_the_consoles_jobs() -> None:
    rostrum = {kind for kind, roles in MESSAGE_RULES.items() if roles & {"auctioneer", "clerk"}}
    assert {kind for kind in rostrum if MESSAGE_RULES[kind] == frozenset({"auctioneer", "admin"})} == rostrum - {
        "take_bid", "accept_online_bid", "decline_online_bid", "undo_bid", "subscribe", "unsubscribe", "quote", "time",
        "watch_shill_scores",
    }  # fmt: skip
    for kind in ("take_bid", "accept_online_bid", "decline_online_bid", "undo_bid"):
        assert MESSAGE_RULES[kind] == frozenset({"auctioneer", "clerk", "admin"}), kind
    assert HTTP_RULES[("POST", "/api/sales/{sale}/lots/{lot}/absentee")] == frozenset({"auctioneer", "clerk", "admin"})
    assert "clerk" in HTTP_RULES[("GET", "/api/sales/{sale}/rostrum")]


@pytest.mark.parametrize("role", ["buyer", "consignor", "auctioneer", "clerk"])
async def test_http_refusals_name_the_role(
    gateway: Running, pg: asyncpg.Pool, make_people: PeopleMaker, role: str
) -> None:
    people = await make_people()
    headers = await people[role].headers(pg)
    async with aiohttp.ClientSession(gateway.http) as http, http.get("/api/audit", headers=headers) as reply:
        assert reply.status == 403
        assert (await reply.json())["error"]["field"] == "role"
