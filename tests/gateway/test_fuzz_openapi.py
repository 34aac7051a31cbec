"""Every route of the OpenAPI document the gateway serves, fuzzed as every role: no answer is a 5xx (issue 12,
finding 19). And every string and number a request carries is bounded in that document.

Requests are drawn by hypothesis from the document itself (fuzz_schema.py): bodies from their schemas, with now
and then a field swapped for a value past every bound (U+0000 in a string, 2^63 and beyond, a long string, a
wrong type); path ids from the sale the test builds, sometimes random. Every (route, role) pair is tried, and the
roles a route admits more often. The draw is derandomised, so a failure repeats; the failing request is printed.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections import Counter
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from auction.gateway.access import http_rule
from auction.gateway.edge import Edge
from ops.app import make_app
from tests.gateway.conftest import PRINCIPALS, BidderMaker, PeopleMaker, Person, Running, SaleMaker
from tests.gateway.fuzz_schema import Drawn, requests_for, unbounded_inputs

EXAMPLES_PER_ALLOWED_ROLE = 4  # beyond the one every role gets, per route: the roles that get past the door
UNLIMITED = Edge(anonymous_rate_per_s=100_000, anonymous_burst=100_000, bids_per_s=0)  # the fuzz, not the limits


def drawn(strategy: st.SearchStrategy[Drawn], count: int) -> list[Drawn]:
    """`count` requests drawn by hypothesis (reproducibly) outside any event loop's way."""
    found: list[Drawn] = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(request: Drawn) -> None:
        found.append(request)

    collect()
    return found[:count]


async def openapi(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(base) as http, http.get("/api/openapi.json") as reply:
        assert reply.status == 200
        document: dict[str, Any] = await reply.json()
        return document


def test_every_string_and_number_a_request_carries_is_bounded_in_the_document(served_document: dict[str, Any]) -> None:
    assert unbounded_inputs(served_document) == []


@pytest.fixture
async def served_document(gateway: Running) -> dict[str, Any]:
    return await openapi(gateway.http)


async def test_every_route_fuzzed_as_every_role_answers_without_a_server_error(
    gateway: Running,
    redis: Redis,
    pg: asyncpg.Pool,
    make_sale: SaleMaker,
    make_bidder: BidderMaker,
    make_people: PeopleMaker,
) -> None:
    sale = await make_sale(lots=3, opening=1_000)
    bidder, _ = await make_bidder(sale.id, 41)
    consignor = await pg.fetchval("SELECT consignor_id FROM lots WHERE sale_id = $1 LIMIT 1", sale.id)
    people = await make_people(consignor)
    known = {"sale": [sale.id], "lot": [1, 2, 3], "company": [bidder.id], "buyer": [bidder.id],
             "consignor": [consignor]}  # fmt: skip
    runner = web.AppRunner(make_app(redis, pg, gateway.store, edge=UNLIMITED), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        document = await openapi(base)
        failures, statuses = await fuzz(base, document, known, people, pg)
    finally:
        await runner.cleanup()
        # The fuzzer's failed logins all came from 127.0.0.1, and the throttle locks the address for every later
        # test of the session that signs in: forget them, as their lockout would lapse in time.
        await pg.execute("DELETE FROM login_throttle")
    if failures:
        pytest.fail(f"{len(failures)} requests failed:\n" + "\n".join(failures[:40]), pytrace=False)
    assert statuses[200] + statuses[201] + statuses[204] > 0 and statuses[400] > 0, statuses  # got past the door
    assert statuses.pop(0) == len(operations(document)) > 100  # each as every role (PRINCIPALS), and more


async def fuzz(
    base: str, document: dict[str, Any], known: dict[str, list[int]], people: dict[str, Person], pg: asyncpg.Pool
) -> tuple[list[str], Counter[int]]:
    tokens = {role: await person.token(pg) for role, person in people.items()}
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=8)) as http:
        for method, path, operation in operations(document):
            rule = http_rule(method, path) or frozenset()
            count = len(PRINCIPALS) + EXAMPLES_PER_ALLOWED_ROLE * len(rule)
            roles = [*PRINCIPALS, *sorted(rule) * EXAMPLES_PER_ALLOWED_ROLE]
            examples = drawn(requests_for(method, path, operation, document, known), count)
            # a route without inputs has one request to draw: every role still sends it
            for role, request in zip(roles, itertools.cycle(examples)):
                status = await send(http, request, tokens.get(role), role, failures)
                if status == 401 and role != "anonymous":  # a logout among the fuzzed routes: a new token
                    tokens[role] = await people[role].token(pg)
                statuses[status] += 1
            statuses[0] += 1  # the routes fuzzed
    return failures, statuses


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in sorted(document["paths"].items())
        for method, operation in sorted(item.items())
        if path != "/ws"  # the websocket: its frames are fuzzed in test_protocol.py and test_rostrum_fuzz.py
    ]


async def send(http: aiohttp.ClientSession, request: Drawn, token: str | None, role: str, failures: list[str]) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if request.media is not None:
        headers["Content-Type"] = request.media
    async with http.request(request.method, request.url, data=request.body, headers=headers,
                            allow_redirects=False) as reply:  # fmt: skip
        text = await reply.text(errors="replace")
        if reply.status >= 500 and not (reply.status == 503 and '"busy"' in text):
            failures.append(
                f"{reply.status} as {role}: {request.method} {request.url} {request.body!r:.600} -> {text:.300}"
            )
        elif reply.status >= 400 and reply.content_type == "application/json" and request.url.startswith("/api/"):
            answer = json.loads(text)
            error = answer.get("error") if isinstance(answer, dict) else None
            refused = isinstance(answer, dict) and answer.get("type") == "rejected"  # a refused bid, as documented
            if not refused and (error is None or "code" not in error):
                failures.append(f"{reply.status} without an error body: {request.method} {request.url} -> {text:.300}")
        return reply.status


# ---- the two the fuzzer first found, and U+0000 wherever a string is taken ------------------------------------------


async def test_a_nul_in_any_string_of_a_body_or_frame_is_refused_naming_the_field(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker
) -> None:
    """An application with U+0000 in a name was a 500 (PostgreSQL refuses NUL in text); now every JSON body and
    websocket frame is checked once, at the decoder, before any handler sees it."""
    sale = await make_sale(lots=1)
    people = await make_people()
    tag = secrets.token_hex(4)
    application = {
        "legal_name": f"Nul {tag}", "registration_number": f"NUL-{tag}", "country": "BE", "trade_licence": "TL-1",
        "bank_reference": f"BE{tag}", "kp_declaration": True, "aml_declaration": True,
        "representatives": [{"name": "Rep\x00", "email": f"nul-{tag}@example.test", "password": "x" * 14}],
    }  # fmt: skip
    async with aiohttp.ClientSession(gateway.http) as http:
        async with http.post("/api/companies", json=application) as reply:
            refused = reply.status, (await reply.json())["error"]
        application["representatives"][0]["name"] = "Rep"  # type: ignore[index]
        async with http.post("/api/companies", json=application) as reply:
            assert reply.status == 201, await reply.text()  # the same without it is taken
    message = "representatives[0].name must not contain the NUL character (U+0000)"
    assert refused == (400, {"code": "invalid", "field": "representatives[0].name", "message": message})
    headers = await people["auctioneer"].headers(pg)
    async with websockets.connect(gateway.ws, additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        frame = {"type": "withdraw_lot", "sale": sale.id, "lot": 1, "reason": "a\x00b", "request_id": "r-nul"}
        await ws.send(json.dumps(frame))
        answer = json.loads(await ws.recv())
    assert (answer["type"], answer["code"], answer["field"], answer["request_id"]) == ("error", "invalid", "reason",
                                                                                        "r-nul")  # fmt: skip
    officer = await people["vetting_officer"].headers(pg)
    async with aiohttp.ClientSession(gateway.http, headers=officer) as http:
        for url, field in (("/api/companies?status=pending%00", "status"), ("/static/app%00.css", "path"),
                           (f"/api/sales/{sale.id}%00", "sale")):  # fmt: skip
            async with http.get(url) as reply:
                assert reply.status == 400 and (await reply.json())["error"]["field"] == field, await reply.text()


async def test_amounts_past_the_protocols_bound_are_refused_naming_the_field(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker
) -> None:
    """2^63 as a shipment's declared value was a 500; every amount a request carries has the protocol's bound."""
    sale = await make_sale(lots=1)
    people = await make_people()
    headers = await people["settlement_officer"].headers(pg)
    shipment = {"purpose": "to_buyer", "sale": sale.id, "lot": 1, "party": 1, "currency": "USD", "idem_key": "k-1"}
    async with aiohttp.ClientSession(gateway.http, headers=headers) as http:
        for value in (2**63, 2**64, 10**13 + 1):
            async with http.post("/api/settlement/shipments", json={**shipment, "declared_value": value}) as reply:
                assert reply.status == 400, await reply.text()
                assert (await reply.json())["error"]["field"] == "declared_value"
        async with http.post("/api/settlement/invoices/1/payments", json={"amount": 2**63, "reference": "r"}) as reply:
            assert reply.status == 400 and (await reply.json())["error"]["field"] == "amount"
