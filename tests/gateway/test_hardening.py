"""Issue 12's attacks, each run against a real gateway (or two) through HTTP and the websocket: racing the login
throttle, a revoked or expired token's open websocket, account work flooding a bidding gateway, cross-site and
non-JSON logins, the cookie's Secure flag and the API's headers, and websockets held per address or opened slowly.

Each client here speaks from an address of its own in 127.0.0.0/8, so that one test's failures from an address
never lock another's out."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from aiohttp import web
from redis.asyncio import Redis

from auction import identity
from auction.config import SettingsError, environment_for, settings_from_env
from auction.gateway.edge import Edge
from auction.record import load_lot_events
from auction.store import LotStore
from ops.app import make_app
from ops.listening import DeadlineSite, listen
from tests.gateway.conftest import BidderMaker, Running, SaleMaker

PASSWORD = "the right password"
_ADDRESSES = itertools.count(secrets.randbelow(200) * 250)


def address() -> str:
    """A loopback address of this test's own (the gateway sees it as the client's)."""
    n = next(_ADDRESSES) % 50_000 + 2
    return f"127.{100 + n // 62_500}.{n // 250 % 250}.{n % 250 + 1}"


def session(base: str, source: str, **kwargs: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(local_addr=(source, 0), limit=0), **kwargs)


def email() -> str:
    return f"{secrets.token_hex(6)}@example.test"


@asynccontextmanager
async def serving(app: web.Application, head_timeout_s: float = 10.0) -> AsyncIterator[str]:
    """`app` served as `auction gateway` serves it (DeadlineSite on a listening socket); yields http://host:port."""
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    sock = listen("127.0.0.1", 0)
    await DeadlineSite(runner, sock, head_timeout_s, 128).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()


def counting_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every password the gateway checks, counted as identity.login calls verify_password (which still runs)."""
    checked: list[int] = []
    real = identity.verify_password

    async def verify(stored: str | None, password: str) -> bool:
        checked.append(1)
        return await real(stored, password)

    monkeypatch.setattr(identity, "verify_password", verify)
    return checked


# ---- finding 5: the login throttle can't be raced ---------------------------------------------------------------


async def test_concurrent_guesses_at_one_account_check_no_more_than_the_throttle_allows(
    gateway: Running, pg: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = email()
    await identity.create_account(pg, who, "Op", PASSWORD, "admin")
    checked = counting_checks(monkeypatch)
    async with session(gateway.http, address()) as http:

        async def guess(n: int) -> int:
            async with http.post("/api/login", json={"email": who, "password": f"guess {n}"}) as reply:
                return reply.status

        statuses = await asyncio.gather(*(guess(n) for n in range(50)))
        assert len(checked) <= identity.ACCOUNT_FAILURES, f"{len(checked)} passwords checked"
        assert statuses.count(401) == len(checked) and statuses.count(429) == 50 - len(checked)
        async with http.post("/api/login", json={"email": who, "password": PASSWORD}) as reply:
            assert reply.status == 429 and int(reply.headers["Retry-After"]) > 1
    assert len(checked) <= identity.ACCOUNT_FAILURES


async def test_concurrent_guesses_from_one_address_check_no_more_than_its_count(
    gateway: Running, pg: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = email()
    await identity.create_account(pg, who, "Op", PASSWORD, "admin")
    checked = counting_checks(monkeypatch)
    async with session(gateway.http, address()) as http:

        async def guess() -> int:
            async with http.post("/api/login", json={"email": email(), "password": "guess"}) as reply:
                return reply.status

        statuses = await asyncio.gather(*(guess() for _ in range(60)))
        assert len(checked) <= identity.ADDRESS_FAILURES, f"{len(checked)} passwords checked"
        assert set(statuses) <= {401, 429} and 429 in statuses
        async with http.post("/api/login", json={"email": who, "password": PASSWORD}) as reply:
            assert reply.status == 429  # the address is locked: even a right password isn't checked
    assert len(checked) <= identity.ADDRESS_FAILURES


# ---- finding 6: a revoked or expired token's websockets close, on every gateway -----------------------------------

CLOSE_BOUND_S = 1.0


@asynccontextmanager
async def second_gateway(redis: Redis, pg: asyncpg.Pool) -> AsyncIterator[str]:
    store = LotStore(redis, pg=pg, enforce_standing=True)
    try:
        async with serving(make_app(redis, pg, store)) as base:
            yield base
    finally:
        await store.close()


async def closed_within(ws: websockets.ClientConnection, bound_s: float) -> tuple[float, list[dict[str, Any]]]:
    """Seconds until the server closes `ws` (the client sending nothing), and the frames it sent before."""
    started, frames = time.monotonic(), []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with asyncio.timeout(bound_s + 2):
            while True:
                frames.append(json.loads(await ws.recv()))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    return time.monotonic() - started, frames


async def test_a_token_revoked_on_one_gateway_closes_its_websocket_on_another_within_a_second(
    gateway: Running, redis: Redis, pg: asyncpg.Pool, make_sale: SaleMaker
) -> None:
    sale = await make_sale(lots=1)
    admin = await identity.create_account(pg, email(), "Admin", None, "admin")
    watcher = await identity.issue_token(pg, admin.id, "api", name="record feed")
    revoker = await identity.issue_token(pg, admin.id, "api", name="revoker")
    async with second_gateway(redis, pg) as other:
        ws_url = other.replace("http", "ws", 1) + "/ws"
        async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {watcher.token}"}) as ws:
            assert json.loads(await ws.recv())["role"] == "admin"
            await ws.send(json.dumps({"type": "subscribe", "sale": sale.id}))
            assert json.loads(await ws.recv())["type"] == "record_snapshot"
            bearer = {"Authorization": f"Bearer {revoker.token}"}
            async with (
                aiohttp.ClientSession(gateway.http, headers=bearer) as http,
                http.delete(f"/api/tokens/{watcher.id}") as reply,
            ):
                assert reply.status == 204
            took, frames = await closed_within(ws, CLOSE_BOUND_S)
        watcher_bearer = {"Authorization": f"Bearer {watcher.token}"}
        async with aiohttp.ClientSession(other) as http, http.get("/api/me", headers=watcher_bearer) as reply:
            # refused at once there too, though that gateway had the token's answer cached a moment ago
            assert reply.status == 401 and (await reply.json())["error"]["code"] == "token_revoked"
    assert took <= CLOSE_BOUND_S, f"closed {took:.2f} s after the revocation"
    assert [(f["type"], f.get("code")) for f in frames] == [("error", "token_revoked")]


async def test_an_expiring_tokens_websocket_closes_at_its_expiry(gateway: Running, pg: asyncpg.Pool) -> None:
    admin = await identity.create_account(pg, email(), "Admin", None, "admin")
    brief = await identity.issue_token(pg, admin.id, "api", timedelta(seconds=2), "brief")
    async with websockets.connect(gateway.ws, additional_headers={"Authorization": f"Bearer {brief.token}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        took, frames = await closed_within(ws, 2 + CLOSE_BOUND_S)
    left = brief.expires_ms / 1000 - time.time()
    assert left <= 0.05 and took <= 2 + CLOSE_BOUND_S, f"closed {took:.2f} s in, {left:.2f} s before expiry"
    assert [(f["type"], f.get("code")) for f in frames] == [("error", "token_expired")]


# ---- finding 7: account work never holds up bidding ---------------------------------------------------------------


def application(n: int) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    return {
        "legal_name": f"Flood {tag} {n}", "registration_number": f"FL-{tag}-{n}", "country": "BE",
        "trade_licence": "TL-1", "bank_reference": f"BE{tag}{n}", "kp_declaration": True, "aml_declaration": True,
        "representatives": [{"name": "Rep", "email": f"flood-{tag}-{n}@example.test", "password": "x" * 14}],
    }  # fmt: skip


async def test_a_flood_of_applications_leaves_bid_latency_as_it_was(
    redis: Redis, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    """Bids acknowledged only once PostgreSQL has them (durability postgres) need the pool the applications use:
    the flood used to hold its connections while hashing passwords."""
    sale = await make_sale(lots=1, opening=1_000)
    _, token = await make_bidder(sale.id, 7)
    store = LotStore(redis, pg=pg, enforce_standing=True, durability="postgres")
    unlimited = Edge(anonymous_rate_per_s=10_000, anonymous_burst=10_000)
    # one bidder raising their own maximum by 30 % each time: always past an increment
    amounts = (1_000 * int(100 * 1.3**k) for k in itertools.count())
    try:
        async with serving(make_app(redis, pg, store, edge=unlimited)) as base:
            bidder = aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {token}"})
            anonymous = aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=0))
            async with bidder, anonymous:

                async def latencies(count: int) -> list[float]:
                    taken = []
                    for _ in range(count):
                        amount = next(amounts)
                        started = time.perf_counter()
                        body = {"amount": amount, "client_id": f"b{amount}", "kind": "max"}
                        async with bidder.post(f"/api/sales/{sale.id}/lots/1/bids", json=body) as reply:
                            assert reply.status == 200, await reply.text()
                        taken.append(time.perf_counter() - started)
                        await asyncio.sleep(0.02)
                    return taken

                baseline = statistics.median(await latencies(15))
                gate, applied = asyncio.Semaphore(20), []

                async def apply(n: int) -> None:
                    async with gate, anonymous.post("/api/companies", json=application(n)) as reply:
                        applied.append(reply.status)

                flood = [asyncio.create_task(apply(n)) for n in range(100)]
                await asyncio.sleep(0.3)  # twenty applications in flight, the pool's connections wanted
                during = statistics.median(await latencies(15))
                for task in flood:
                    task.cancel()
                await asyncio.gather(*flood, return_exceptions=True)
    finally:
        await store.close()
    assert applied and set(applied) <= {201, 503}, applied
    assert during <= 5 * baseline, f"median bid {during * 1000:.1f} ms during the flood, {baseline * 1000:.1f} before"


async def test_anonymous_requests_that_change_something_are_limited_per_address(gateway: Running) -> None:
    async with session(gateway.http, address()) as http:
        statuses = []
        for _ in range(61):  # the default burst is 60
            async with http.post("/api/login", json={"email": "x@example.test"}) as reply:  # no password: 400
                statuses.append(reply.status)
                retry_after = reply.headers.get("Retry-After")
                body = await reply.json()
        assert statuses[:60] == [400] * 60
        assert statuses[60] == 429 and retry_after is not None and int(retry_after) >= 1
        assert (body["error"]["code"], body["error"]["field"]) == ("rate_limited", "address")
    async with (
        session(gateway.http, address()) as elsewhere,  # another address is not held up
        elsewhere.post("/api/login", json={"email": "x@example.test"}) as reply,
    ):
        assert reply.status == 400


# ---- finding 14: a login is JSON, from this site ------------------------------------------------------------------


async def test_a_login_must_be_json_and_from_this_site_when_a_browser_sends_it(
    gateway: Running, pg: asyncpg.Pool
) -> None:
    who = email()
    await identity.create_account(pg, who, "Op", PASSWORD, "vetting_officer")
    form = {"email": who, "password": PASSWORD}
    async with session(gateway.http, address()) as http:
        async with http.post("/api/login", data=form) as reply:  # what another site's form can send
            body = await reply.json()
            assert reply.status == 415 and body["error"]["code"] == "unsupported_media_type"
        async with http.post("/api/login", data=json.dumps(form), headers={"Content-Type": "text/plain"}) as reply:
            assert reply.status == 415
        for origin in ("https://evil.example", "null", "http://127.0.0.1.evil.example"):
            async with http.post("/api/login", json=form, headers={"Origin": origin}) as reply:
                body = await reply.json()
                assert reply.status == 403 and body["error"]["field"] == "origin", origin
        async with http.post("/api/login", json=form, headers={"Origin": gateway.http}) as reply:
            assert reply.status == 200  # this site's own page
        async with http.post("/api/login", json=form) as reply:
            assert reply.status == 200  # a program: no Origin
        async with http.post(
            "/api/companies", json=application(1), headers={"Origin": "https://evil.example"}
        ) as reply:
            assert reply.status == 403 and (await reply.json())["error"]["field"] == "origin"


# ---- finding 17: the cookie's Secure flag, and the API's headers ------------------------------------------------


async def test_the_session_cookie_is_secure_behind_an_https_public_address(
    redis: Redis, pg: asyncpg.Pool, gateway: Running
) -> None:
    who = email()
    await identity.create_account(pg, who, "Op", PASSWORD, "vetting_officer")
    async with (
        session(gateway.http, address()) as http,  # no public address, plain HTTP: not Secure
        http.post("/api/login", json={"email": who, "password": PASSWORD}) as reply,
    ):
        assert reply.status == 200 and "Secure" not in reply.headers["Set-Cookie"]
    store = LotStore(redis, pg=pg)
    edge = Edge(public_url="https://auction.example")
    try:
        async with serving(make_app(redis, pg, store, edge=edge)) as base, session(base, address()) as http:
            async with http.post("/api/login", json={"email": who, "password": PASSWORD}) as reply:
                cookie = reply.headers["Set-Cookie"]
                assert reply.status == 200 and "Secure" in cookie and "HttpOnly" in cookie, cookie
            origin = {"Origin": base}  # the Host it asked, but not the public address
            async with http.post("/api/login", json={"email": who, "password": PASSWORD}, headers=origin) as reply:
                assert reply.status == 403
            origin = {"Origin": "https://auction.example"}
            async with http.post("/api/login", json={"email": who, "password": PASSWORD}, headers=origin) as reply:
                assert reply.status == 200
    finally:
        await store.close()


async def test_api_answers_may_not_be_sniffed_or_framed(gateway: Running) -> None:
    async with aiohttp.ClientSession(gateway.http) as http:
        for method, path in (("GET", "/api/sales"), ("GET", "/api/me"), ("GET", "/api/nothing"),
                             ("POST", "/api/login"), ("GET", "/api/openapi.json"), ("GET", "/metrics")):  # fmt: skip
            async with http.request(method, path) as reply:
                assert reply.headers.get("X-Content-Type-Options") == "nosniff", (path, reply.status)
                assert reply.headers.get("X-Frame-Options") == "DENY", (path, reply.status)


# ---- finding 18: websockets per address, and slow handshakes ---------------------------------------------------


async def test_websockets_are_limited_per_address(redis: Redis, pg: asyncpg.Pool) -> None:
    store = LotStore(redis, pg=pg)
    try:
        async with serving(make_app(redis, pg, store, edge=Edge(websockets_per_address=3))) as base:
            url, crowded = base.replace("http", "ws", 1) + "/ws", address()
            held = [await websockets.connect(url, local_addr=(crowded, 0)) for _ in range(3)]
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(url, local_addr=(crowded, 0))
            response = refused.value.response
            assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
            assert json.loads(response.body)["error"]["field"] == "address"
            async with websockets.connect(url, local_addr=(address(), 0)) as other:  # another address gets in
                assert json.loads(await other.recv())["type"] == "welcome"
            await held.pop().close()
            await asyncio.sleep(0.2)
            async with websockets.connect(url, local_addr=(crowded, 0)) as again:  # a place was given back
                assert json.loads(await again.recv())["type"] == "welcome"
            for ws in held:
                await ws.close()
    finally:
        await store.close()


async def test_a_handshake_sent_too_slowly_is_cut_off(redis: Redis, pg: asyncpg.Pool) -> None:
    store = LotStore(redis, pg=pg)
    try:
        async with serving(make_app(redis, pg, store), head_timeout_s=0.5) as base:
            port = int(base.rsplit(":", 1)[1])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")  # and never the rest
            await writer.drain()
            started = time.monotonic()
            async with asyncio.timeout(3):
                while not await read_or_eof(reader, 0.2):
                    try:
                        writer.write(b"X-Slow: 1\r\n")  # a line now and then keeps nothing alive
                        await writer.drain()
                    except ConnectionError:
                        break
            assert time.monotonic() - started < 1.5
            writer.close()
            async with websockets.connect(base.replace("http", "ws", 1) + "/ws") as ws:  # a prompt one is served
                assert json.loads(await ws.recv())["type"] == "welcome"
    finally:
        await store.close()


async def read_or_eof(reader: asyncio.StreamReader, wait_s: float) -> bool:
    """True once the server has closed the connection."""
    try:
        return await asyncio.wait_for(reader.read(1024), wait_s) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


# ---- finding 20: a client_id reused on another lot of the sale ----------------------------------------------------


async def test_a_client_id_reused_on_another_lot_is_refused_over_http_and_the_websocket(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    """The answer used to be the first lot's, relabelled: 'ack, leading' on a lot the bidder had not bid on."""
    sale = await make_sale(lots=4, opening=1_000)
    _, token = await make_bidder(sale.id, 21)
    bids = f"/api/sales/{sale.id}/lots/{{}}/bids"
    async with aiohttp.ClientSession(gateway.http, headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.post(bids.format(1), json={"amount": 1_000, "client_id": "h-1"}) as reply:
            assert reply.status == 200 and (await reply.json())["leading"] is True
        async with http.post(bids.format(2), json={"amount": 1_000, "client_id": "h-1"}) as reply:
            refused = await reply.json()
            assert reply.status == 409, refused
        async with http.post(bids.format(1), json={"amount": 1_000, "client_id": "h-1"}) as reply:
            assert reply.status == 200 and (await reply.json())["lot"] == 1  # a resend on its own lot: first answer
        # two at once, in one batch of the store: one bids, the other is refused
        together = await asyncio.gather(*(bid_json(http, bids.format(lot), "h-2") for lot in (3, 4)))
    assert refused == {"type": "rejected", "client_id": "h-1", "sale": sale.id, "lot": 2,
                       "reason": "client_id_reused", "next_amount": 0}  # fmt: skip
    assert sorted(answer["type"] for answer in together) == ["ack", "rejected"], together
    assert [a["reason"] for a in together if a["type"] == "rejected"] == ["client_id_reused"]
    async with websockets.connect(f"{gateway.ws}?token={token}") as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "bid", "sale": sale.id, "lot": 2, "amount": 1_000, "client_id": "h-1"}))
        answer = json.loads(await ws.recv())
    assert (answer["type"], answer["lot"], answer["reason"]) == ("rejected", 2, "client_id_reused")
    lots = {entry["listing"]["lot"]: entry["live"] for entry in await lot_entries(gateway.http, sale.id)}
    assert lots[2]["bid_count"] == 0 and lots[1]["bid_count"] == 1


async def lot_entries(base: str, sale: int) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession(base) as http, http.get(f"/api/sales/{sale}/lots") as reply:
        entries: list[dict[str, Any]] = await reply.json()
        return entries


async def bid_json(http: aiohttp.ClientSession, path: str, client_id: str) -> dict[str, Any]:
    async with http.post(path, json={"amount": 1_000, "client_id": client_id}) as reply:
        answer: dict[str, Any] = await reply.json()
        return answer


# ---- finding 9: one bid rate per company, whatever the transport and the gateway --------------------------------


@asynccontextmanager
async def limited_gateway(redis: Redis, pg: asyncpg.Pool, bids_per_s: int) -> AsyncIterator[str]:
    store = LotStore(redis, pg=pg, enforce_standing=True)
    try:
        async with serving(make_app(redis, pg, store, edge=Edge(bids_per_s=bids_per_s))) as base:
            yield base
    finally:
        await store.close()


async def test_a_companys_bids_share_one_rate_over_http_and_websockets_on_two_gateways(
    redis: Redis, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    """HTTP bids had no limit at all (3,000/s from one buyer) and the websocket's was per connection."""
    rate = 5  # bursts of 15
    sale = await make_sale(lots=2, opening=1_000)
    _, token = await make_bidder(sale.id, 31)
    _, other = await make_bidder(sale.id, 32)
    bearer = {"Authorization": f"Bearer {token}"}
    async with limited_gateway(redis, pg, rate) as one, limited_gateway(redis, pg, rate) as two:
        started = time.monotonic()
        async with aiohttp.ClientSession(one, headers=bearer) as http, aiohttp.ClientSession(two) as ws_http:
            ws = await ws_http.ws_connect(f"/ws?token={token}")
            assert (await ws.receive_json())["type"] == "welcome"

            async def over_http(n: int) -> tuple[int, dict[str, Any]]:
                body = {"amount": 1_000 * (n + 1), "client_id": f"h{n}", "kind": "max"}
                async with http.post(f"/api/sales/{sale.id}/lots/1/bids", json=body) as reply:
                    answer = await reply.json()
                    if reply.status == 429:
                        assert int(reply.headers["Retry-After"]) >= 1
                    return reply.status, answer

            async def over_ws(numbers: range) -> list[dict[str, Any]]:
                for n in numbers:
                    await ws.send_json({"type": "max_bid", "sale": sale.id, "lot": 2, "amount": 1_000 * 2**n,
                                        "client_id": f"w{n}"})  # fmt: skip
                return [await ws.receive_json() for _ in numbers]

            by_ws = await over_ws(range(10))  # ten of the fifteen
            by_http = await asyncio.gather(*(over_http(n) for n in range(10)))  # five left, on the other gateway
            by_ws += await over_ws(range(10, 20))
            elapsed = time.monotonic() - started
            await ws.close()
        async with aiohttp.ClientSession(one, headers={"Authorization": f"Bearer {other}"}) as http:
            body = {"amount": 1_000, "client_id": "o1"}
            async with http.post(f"/api/sales/{sale.id}/lots/1/bids", json=body) as reply:
                others = reply.status, await reply.json()
    limited = [a for _, a in by_http if "error" in a] + [a for a in by_ws if a["type"] == "error"]
    placed = 30 - len(limited)
    assert [a for a in by_ws[:10] if a["type"] == "error"] == []  # the bucket was full: none limited
    assert placed <= 15 + rate * elapsed + 1, (placed, elapsed)  # the burst, and what refilled meanwhile
    assert {(a.get("error", a)["code"], a.get("error", a)["field"]) for a in limited} == {("rate_limited", "company")}
    assert all(a.get("error", a)["retry_after"] >= 1 for a in limited)
    assert any(status == 429 for status, _ in by_http) and any(a["type"] == "error" for a in by_ws)
    assert others[0] != 429 and others[1]["type"] in {"ack", "rejected"}, others  # another company's: not held back


async def test_the_default_bid_rate_lets_a_program_bid_as_the_load_generator_does(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    """15 bids a second for two seconds (the ramp's top rate per buyer), over the websocket: none refused."""
    sale = await make_sale(lots=1, opening=1_000)
    _, token = await make_bidder(sale.id, 33)
    async with websockets.connect(f"{gateway.ws}?token={token}") as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        for n in range(30):
            await ws.send(json.dumps({"type": "max_bid", "sale": sale.id, "lot": 1, "amount": 1_000 * 2 ** (n // 2),
                                      "client_id": f"p{n}"}))  # fmt: skip
            await asyncio.sleep(1 / 15)
        answers = [json.loads(await ws.recv()) for _ in range(30)]
    assert [a for a in answers if a["type"] == "error"] == []


def test_the_bid_rate_is_a_bounded_setting_handed_to_child_processes() -> None:
    assert settings_from_env({}).bids_per_s == 20
    assert settings_from_env({"AUCTION_BIDS_PER_S": "0"}).bids_per_s == 0  # no limit
    for bad in ("100001", "-1", "2.5", "lots"):
        with pytest.raises(SettingsError, match="AUCTION_BIDS_PER_S"):
            settings_from_env({"AUCTION_BIDS_PER_S": bad})
    chosen = settings_from_env({"AUCTION_BIDS_PER_S": "7"})
    assert settings_from_env(environment_for(chosen, {})).bids_per_s == 7


async def test_a_companys_sealed_tender_bids_share_its_bid_rate(
    redis: Redis, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    """Sealing a tender bid is the costly part: a company over its rate is refused before it."""
    sale = await make_sale(lots=1, opening=1_000)
    _, token = await make_bidder(sale.id, 34)
    async with limited_gateway(redis, pg, 1) as base, aiohttp.ClientSession(base) as http:  # bursts of 3
        bearer = {"Authorization": f"Bearer {token}"}
        for n in range(4):
            body = {"amount": 1_000 * 2**n, "client_id": f"t{n}", "kind": "max"}
            async with http.post(f"/api/sales/{sale.id}/lots/1/bids", json=body, headers=bearer) as reply:
                await reply.read()
        ws = await http.ws_connect(f"/ws?token={token}")
        assert (await ws.receive_json())["type"] == "welcome"
        for n in range(4):
            await ws.send_json({"type": "tender_bid", "sale": sale.id, "lot": 1, "amount": 5_000, "client_id": f"s{n}"})
        answers = [await ws.receive_json() for _ in range(4)]
        await ws.close()
    limited = [a for a in answers if a.get("code") == "rate_limited"]
    assert len(limited) >= 3, answers  # at most one token came back meanwhile
    assert {(a["field"], a["client_id"]) for a in limited} <= {("company", f"s{n}") for n in range(4)}


async def test_a_reused_client_id_records_nothing_under_the_other_lot_in_postgres_durability(
    redis: Redis, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    """In postgres durability a repeat's events are written to PostgreSQL before it is answered: they used to be
    written under the lot the repeat named, which gave lot 2 lot 1's bid in the record."""
    sale = await make_sale(lots=2, opening=1_000)
    _, token = await make_bidder(sale.id, 35)
    store = LotStore(redis, pg=pg, enforce_standing=True, durability="postgres")
    try:
        async with (
            serving(make_app(redis, pg, store)) as base,
            aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {token}"}) as http,
        ):
            assert (await bid_json(http, f"/api/sales/{sale.id}/lots/1/bids", "pg-1"))["type"] == "ack"
            again = await bid_json(http, f"/api/sales/{sale.id}/lots/2/bids", "pg-1")
    finally:
        await store.close()
    assert (again["type"], again["reason"]) == ("rejected", "client_id_reused")
    assert all(getattr(event, "client_id", None) != "pg-1" for event in await load_lot_events(pg, sale.id, 2))
    assert any(getattr(event, "client_id", None) == "pg-1" for event in await load_lot_events(pg, sale.id, 1))
