"""Building a sale, end to end over HTTP against real Redis and PostgreSQL: a draft edited freely (terms, lots made
of consigned stones, their order), published into the catalogue and the engine, bid on; a lot withdrawn with
bidders in it (closed without a result, its bidders told, their exposure released); a live sale built the same
way, and a tender of rough (published with its key split among its officers, then taking a sealed bid); and what is
refused, naming the field."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import websockets
from redis.asyncio import Redis

from auction import identity
from auction.engine.ladder import Band, Ladder
from tests.gateway.conftest import BidderMaker, Running
from tests.gateway.tender_setup import officers, scheduled, until_status
from tests.house.desk import USD, Desk, now_ms, sale_terms

LADDER = [{"starts_at": 0, "increment": 100 * USD}, {"starts_at": 10_000 * USD, "increment": 500 * USD}]
PREMIUM = [{"starts_at": 0, "rate_bp": 2_000}, {"starts_at": 1_000_000 * USD, "rate_bp": 1_500}]
ROUGH = {"points": 1_040, "shape": "Rough", "polish": None, "symmetry": None, "colour": None, "clarity": None,
         "fluorescence": None, "lab": None, "report_number": None, "kp_certificate": "BW-KP-2026-0417",
         "report_override_reason": "rough parcel: viewed, not graded"}  # fmt: skip


async def _stones(desk: Desk, count: int) -> list[int]:
    consignor = (await desk.consignor())["id"]
    return [(await desk.stone(consignor, points=100 + n, report_number=f"77{n}01"))["id"] for n in range(count)]


async def bid(desk: Desk, token: str, sale: int, lot: int, amount: int, status: int = 200, kind: str = "bid") -> Any:
    body = {"amount": amount, "client_id": f"{kind}-{lot}-{amount}", "kind": kind}
    desk.headers["bidder"] = {"Authorization": f"Bearer {token}"}
    return await desk.call("POST", f"/api/sales/{sale}/lots/{lot}/bids", "bidder", status, body)


async def test_a_sale_built_published_and_bid_on(
    desk: Desk, gateway: Running, make_bidder: BidderMaker, new_sale_id: Callable[[], int]
) -> None:
    stones = await _stones(desk, 3)
    sale_id = new_sale_id()
    draft = await desk.draft(sale_id, ladder=LADDER, premium=PREMIUM, stagger_ms=30_000)
    assert draft["status"] == "draft" and draft["problems"] == [
        {"field": "lots", "message": "a sale has at least one lot"}
    ]
    assert await desk.call("GET", f"/api/sales/{sale_id}", "anonymous", 404)  # nobody outside the house sees a draft
    for lot, stone in enumerate(stones, start=1):
        await desk.put_lot(sale_id, lot, stone, opening=(300 + lot) * USD)
    clash = await desk.put_lot(sale_id, 4, stones[0], status=409)
    assert (clash["error"]["field"], clash["error"]["message"]) == (
        "stone",
        f"stone {stones[0]} is lot 1 of this sale already",
    )
    high = await desk.put_lot(sale_id, 1, stones[0], opening=9_000 * USD, status=400)  # above its low estimate
    assert high["error"]["field"] == "opening"
    ordered = await desk.call("POST", f"/api/house/sales/{sale_id}/order", "auctioneer", 200, {"lots": [3, 1, 2]})
    assert [(lot["lot"], lot["stone_id"]) for lot in ordered["lots"]] == list(
        zip([1, 2, 3], [stones[2], stones[0], stones[1]], strict=True)
    )
    await desk.call("POST", f"/api/house/sales/{sale_id}/order", "auctioneer", 409, {"lots": [1, 2]})
    removed = await desk.call("DELETE", f"/api/house/sales/{sale_id}/lots/3", "auctioneer", 200)
    assert [lot["lot"] for lot in removed["lots"]] == [1, 2]
    renamed = {
        **draft["terms"],
        "name": "Magnificent Diamonds",
        "soft_close": {"window_ms": 60_000, "extension_ms": 90_000},
    }
    edited = await desk.call("PUT", f"/api/house/sales/{sale_id}", "auctioneer", 200, renamed)
    assert edited["terms"]["name"] == "Magnificent Diamonds" and edited["problems"] == []

    published = await desk.publish(sale_id)
    assert published["status"] == "published" and published["published_ms"] > 0
    detail = await desk.call("GET", f"/api/sales/{sale_id}", "anonymous", 200)
    assert (detail["sale"]["name"], detail["sale"]["lots"]) == ("Magnificent Diamonds", 2)
    assert detail["settings"]["soft_close"] == {"window_ms": 60_000, "extension_ms": 90_000, "cap_ms": None}
    assert detail["settings"]["stagger_ms"] == 30_000
    lots = await desk.call("GET", f"/api/sales/{sale_id}/lots", "anonymous", 200)
    assert [entry["listing"]["title"] for entry in lots] == ["1.02 ct Round G VS2", "1.00 ct Round G VS2"]
    first = lots[0]["listing"]
    assert first["details"] == {"treatments": "none declared", "setting": "loose", "origin": "Botswana"}
    assert "reserve" not in first and first["end_ms"] + 30_000 == lots[1]["listing"]["end_ms"]
    states = {state.terms.lot: state for state in await gateway.store.states(sale_id)}
    assert states[1].terms.ladder == Ladder((Band(0, 10_000), Band(1_000_000, 50_000)))
    assert (states[1].terms.opening, states[1].terms.reserve, states[1].status) == (303 * USD, 6_000 * USD, "scheduled")

    _, token = await make_bidder(sale_id, 21)
    accepted = await bid(desk, token, sale_id, 1, 303 * USD)
    assert accepted["type"] == "ack"
    refused = await bid(desk, token, sale_id, 2, 300 * USD, status=409)  # its opening is 301: too low
    assert refused["reason"] == "too_low"
    # published, the sale is settled: its lots are withdrawn, not edited; publishing again changes nothing
    await desk.put_lot(sale_id, 3, stones[1], status=409)
    assert (await desk.publish(sale_id))["published_ms"] == published["published_ms"]
    assert [e["target"] for e in await desk.audit("sale_published")].count(f"sale:{sale_id}") == 1


async def test_a_lot_withdrawn_with_bidders_in_it(
    desk: Desk, gateway: Running, pg: asyncpg.Pool, make_bidder: BidderMaker, new_sale_id: Callable[[], int]
) -> None:
    stones = await _stones(desk, 2)
    sale_id = new_sale_id()
    await desk.draft(sale_id)
    for lot, stone in enumerate(stones, start=1):
        await desk.put_lot(sale_id, lot, stone)
    await desk.publish(sale_id)
    first, first_token = await make_bidder(sale_id, 31)
    second, second_token = await make_bidder(sale_id, 32)
    await bid(desk, first_token, sale_id, 1, 900 * USD, kind="max")
    await bid(desk, second_token, sale_id, 1, 600 * USD)  # answered by the first's maximum
    await bid(desk, second_token, sale_id, 2, 500 * USD)
    assert set(await gateway.store.exposure(sale_id, first.id)) == {1}
    assert set(await gateway.store.exposure(sale_id, second.id)) == {2}

    async with websockets.connect(gateway.ws) as watcher:
        await watcher.send(json.dumps({"type": "subscribe", "sale": sale_id, "lots": [1]}))
        frames = [json.loads(await watcher.recv()) for _ in range(2)]  # welcome, the lot's snapshot
        assert frames[1]["lot_state"]["leader_paddle"] == 31
        reason = "the consignor's title to the stone is disputed"
        withdrawn = await desk.call(
            "POST", f"/api/house/sales/{sale_id}/lots/1/withdrawal", "auctioneer", 200, {"reason": reason}
        )
        event = await _next_event(watcher)
    assert (withdrawn["lot"], withdrawn["reason"]) == (1, reason)
    assert event["type"] == "withdrawn"  # the public event: every bidder watching is told
    assert await gateway.store.exposure(sale_id, first.id) == {}  # what they led is released
    assert set(await gateway.store.exposure(sale_id, second.id)) == {2}  # the other lot's untouched
    assert (await bid(desk, second_token, sale_id, 1, 2_000 * USD, status=409))["reason"] == "lot_closed"
    again = await desk.call(
        "POST", f"/api/house/sales/{sale_id}/lots/1/withdrawal", "auctioneer", 200, {"reason": "again"}
    )
    assert again == withdrawn  # asked again: the first withdrawal
    [entry] = [e for e in await desk.audit("lot_withdrawn") if e["target"] == f"sale:{sale_id}"]
    assert (entry["reason"], entry["role"]) == (reason, "auctioneer")

    # the withdrawn lot's stone may go into a later sale; a stone still in this one may not
    later = new_sale_id()
    await desk.draft(later)
    await desk.put_lot(later, 1, stones[0])
    taken = await desk.put_lot(later, 2, stones[1], status=409)
    assert taken["error"]["message"] == f"stone {stones[1]} is in sale {sale_id} lot 2 already"
    sold_or_missing = await desk.call("POST", f"/api/house/sales/{sale_id}/lots/9/withdrawal", "auctioneer", 404,
                                      {"reason": "no such lot"})  # fmt: skip
    assert sold_or_missing["error"]["field"] == "lot"


async def test_a_live_sale_is_built_the_same_way_and_a_tender_needs_its_settings(
    desk: Desk, gateway: Running, new_sale_id: Callable[[], int]
) -> None:
    [stone] = await _stones(desk, 1)
    sale_id = new_sale_id()
    live = {"auto_accept": False, "missed_bid_window_ms": 2_000, "house_bids": True}
    await desk.draft(sale_id, format="live", live=live)
    await desk.put_lot(sale_id, 1, stone)
    await desk.publish(sale_id)
    [state] = await gateway.store.states(sale_id)
    assert (state.terms.format, state.status, state.terms.live.auto_accept, state.terms.live.house_bids) == (
        "live", "scheduled", False, True
    )  # fmt: skip
    settings = {"bids_from_ms": now_ms() + 300, "threshold": 2, "officers": [1, 2]}
    misplaced = await desk.draft(new_sale_id(), 400, tender=settings)
    assert misplaced["error"]["field"] == "tender"  # a timed sale has no officers
    unnamed = await desk.draft(new_sale_id(), 400, format="tender")
    assert unnamed["error"]["field"] == "tender"
    late = new_sale_id()
    await desk.draft(late, starts_at_ms=now_ms() - 10_000, first_close_ms=now_ms() + 500)
    await desk.put_lot(late, 1, (await _stones(desk, 1))[0])
    await asyncio.sleep(0.6)
    refused = await desk.publish(late, status=400)
    assert refused["error"]["field"] == "first_close_ms"  # its first lot would close before it was published
    assert await gateway.store.states(late) == []  # nothing of it reached the engine


async def test_a_tender_of_rough_built_published_and_bid_on(
    desk: Desk, gateway: Running, pg: asyncpg.Pool, redis: Redis, make_bidder: BidderMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    consignor = (await desk.consignor("Okavango Rough"))["id"]
    parcel = await desk.stone(consignor, **ROUGH)
    crew = [officer.account.id for officer in await officers(pg, desk.http, 3)]
    keyless = (await identity.create_account(pg, f"k-{now_ms()}@x.test", "No Key", None, "clerk")).id
    sale_id = new_sale_id()
    too_many = {"bids_from_ms": now_ms() + 400, "threshold": 4, "officers": crew}
    over = await desk.draft(sale_id, 400, format="tender", tender=too_many)
    assert over["error"]["field"] == "tender.threshold"  # 4 of 3 officers could never open it
    tender = {"bids_from_ms": now_ms() + 400, "acceptance_window_ms": 3_600_000, "threshold": 2,
              "officers": [*crew[:2], keyless]}  # fmt: skip
    draft = await desk.draft(sale_id, format="tender", tender=tender)
    await desk.put_lot(sale_id, 1, parcel["id"], opening=1)
    assert [p["field"] for p in (await desk.call("GET", f"/api/house/sales/{sale_id}", "auctioneer", 200))["problems"]
            ] == ["tender.officers[2]"]  # fmt: skip
    no_key = await desk.publish(sale_id, status=400)
    assert no_key["error"]["field"] == "tender.officers[2]" and "no officer key" in no_key["error"]["message"]
    assert await pg.fetchval("SELECT count(*) FROM sales WHERE id = $1", sale_id) == 0  # nothing was written
    fixed = {**draft["terms"], "tender": {**tender, "officers": crew}}
    assert (await desk.call("PUT", f"/api/house/sales/{sale_id}", "auctioneer", 200, fixed))["problems"] == []

    published = await desk.publish(sale_id)
    assert published["status"] == "published"
    info = await desk.call("GET", f"/api/sales/{sale_id}/tender", "anonymous", 200)
    assert (info["threshold"], info["officers"]) == (2, 3)
    assert await pg.fetchval("SELECT count(*) FROM tender_shares WHERE sale_id = $1", sale_id) == 3
    [state] = await gateway.store.states(sale_id)
    assert (state.terms.format, state.terms.tender.carat_points, state.terms.tender.acceptance_window_ms) == (
        "tender", 1_040, 3_600_000
    )  # fmt: skip
    [entry] = await desk.call("GET", f"/api/sales/{sale_id}/lots", "anonymous", 200)
    assert entry["listing"]["details"]["kp_certificate"] == "BW-KP-2026-0417"

    _, token = await make_bidder(sale_id, 41)
    async with scheduled(gateway, redis, sale_id):
        await until_status(gateway, sale_id, "open")
        desk.headers["bidder"] = {"Authorization": f"Bearer {token}"}
        receipt = await desk.call("POST", f"/api/sales/{sale_id}/lots/1/tender-bids", "bidder", 200,
                                  {"client_id": "t1", "per_carat": 500_000})  # fmt: skip
    assert receipt["type"] == "tender_receipt" and len(receipt["commitment"]) == 64
    assert (await desk.publish(sale_id))["published_ms"] == published["published_ms"]  # again: only loaded again
    assert await pg.fetchval("SELECT count(*) FROM tenders WHERE sale_id = $1", sale_id) == 1


async def test_the_command_line_builds_and_publishes_a_tender_naming_an_officer_without_a_key(
    desk: Desk, pg: asyncpg.Pool, redis_url: str, database_url: str, tmp_path: Path, new_sale_id: Callable[[], int]
) -> None:
    consignor = (await desk.consignor("Okavango Rough"))["id"]
    parcel = await desk.stone(consignor, **ROUGH)
    crew = [officer.account.id for officer in await officers(pg, desk.http, 2)]
    keyless = (await identity.create_account(pg, f"k-{now_ms()}@x.test", "No Key", None, "clerk")).id
    sale_id = new_sale_id()
    tender = {"bids_from_ms": now_ms() + 60_000, "threshold": 2, "officers": [crew[0], keyless]}
    terms = sale_terms(format="tender", tender=tender)
    (tmp_path / "tender.json").write_text(json.dumps({"id": sale_id, "terms": terms}))

    async def auction(*argv: str) -> subprocess.CompletedProcess[str]:
        env = {"AUCTION_REDIS_URL": redis_url, "AUCTION_DATABASE_URL": database_url, "AUCTION_STATE_DIR": str(tmp_path)}
        clean = {name: value for name, value in os.environ.items() if not name.startswith("AUCTION_")}
        return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "auction", *argv], env={**clean, **env},
                                       capture_output=True, text=True, timeout=60, check=False)  # fmt: skip

    auctioneer = desk.people["auctioneer"].account
    assert auctioneer is not None
    made = await auction("sale", "create", str(tmp_path / "tender.json"), "--by", auctioneer.email)
    assert made.returncode == 0 and '"format":"tender"' in made.stdout, made.stderr
    await desk.put_lot(sale_id, 1, parcel["id"], opening=1)
    refused = await auction("sale", "publish", str(sale_id), "--by", auctioneer.email)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith(f"tender.officers[1]: account {keyless} has no officer key"), refused.stderr
    await desk.call(
        "PUT", f"/api/house/sales/{sale_id}", "auctioneer", 200, {**terms, "tender": {**tender, "officers": crew}}
    )
    published = await auction("sale", "publish", str(sale_id), "--by", auctioneer.email)
    assert published.returncode == 0 and '"status":"published"' in published.stdout, published.stderr
    assert await pg.fetchval("SELECT threshold FROM tenders WHERE sale_id = $1", sale_id) == 2
    assert await pg.fetchval("SELECT count(*) FROM tender_shares WHERE sale_id = $1", sale_id) == 2


async def _next_event(ws: Any) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == "event":
            event: dict[str, Any] = frame["event"]
            return event
