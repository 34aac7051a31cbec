"""Cancelling a buyer's bids for cause, end to end over HTTP and the command line against real Redis and
PostgreSQL: the engine recomputes the lot from everyone else's bids, watchers see `revised`, the record keeps the
reason and the audit log who decided; the engine's refusals come back as 409 with its reason, bad input as 400
naming the field."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import websockets

from auction.engine.messages import BidsCancelled, CloseLot
from auction.gateway.access import HTTP_RULES
from tests.gateway.conftest import BidderMaker, PeopleMaker, Running, SaleMaker

CANCEL = ("POST", "/api/sales/{sale}/lots/{lot}/cancellations")


async def call(http: aiohttp.ClientSession, path: str, headers: dict[str, str], status: int, body: Any) -> Any:
    async with http.post(path, json=body, headers=headers) as reply:
        answer = await reply.json()
        assert reply.status == status, answer
        return answer


async def bid(http: aiohttp.ClientSession, sale: int, lot: int, token: str, amount: int, kind: str = "bid") -> None:
    body = {"amount": amount, "client_id": f"{kind}-{amount}", "kind": kind}
    await call(http, f"/api/sales/{sale}/lots/{lot}/bids", {"Authorization": f"Bearer {token}"}, 200, body)


def test_cancelling_for_cause_is_the_auctioneers_ruling() -> None:
    assert HTTP_RULES[CANCEL] == frozenset({"auctioneer", "admin"})


async def test_an_auctioneer_cancels_a_buyers_bids_and_the_lot_is_recomputed_on_the_record(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker
) -> None:
    sale = await make_sale(lots=2)
    struck, struck_token = await make_bidder(sale.id, 11)
    other, other_token = await make_bidder(sale.id, 12)
    people = await make_people()
    auctioneer = await people["auctioneer"].headers(pg)
    cancel = f"/api/sales/{sale.id}/lots/1/cancellations"
    async with aiohttp.ClientSession(gateway.http) as http, websockets.connect(gateway.ws) as watcher:
        await bid(http, sale.id, 1, struck_token, 40_000, "max")  # leads at the opening, 10,000
        await bid(http, sale.id, 1, other_token, 15_000)  # answered by paddle 11's proxy at 20,000
        await watcher.send(json.dumps({"type": "subscribe", "sale": sale.id, "lots": [1]}))
        assert json.loads(await watcher.recv())["type"] == "welcome"
        assert json.loads(await watcher.recv())["lot_state"]["leader_paddle"] == 11

        reason = "bidding for the consignor, admitted on the phone"
        done = await call(http, cancel, auctioneer, 200, {"paddle": 11, "reason": reason})
        standing = (done["bidder"], done["lot_state"]["leader_paddle"], done["lot_state"]["price"])
        assert standing == (struck.id, 12, 15_000)
        shown = json.loads(await asyncio.wait_for(watcher.recv(), 10))
        assert shown["event"] == {"type": "revised", "seq": done["seq"], "at_ms": shown["event"]["at_ms"],
                                  "price": 15_000, "paddle": 12, "bid_count": 1, "reserve_met": False,
                                  "next_minimum": 20_000}  # fmt: skip

        # Asked again: nothing left to strike, and the engine says so. Neither is there anything on lot 2.
        again = await call(http, cancel, auctioneer, 409, {"bidder": struck.id, "reason": reason})
        assert (again["reason"], again["bidder"], again["lot"]) == ("no_bids", struck.id, 1)
        idle = f"/api/sales/{sale.id}/lots/2/cancellations"
        assert (await call(http, idle, auctioneer, 409, {"paddle": 12, "reason": reason}))["reason"] == "lot_not_open"

    recorded = (await gateway.store.events_after(sale.id, 1, 0))[-1]
    assert isinstance(recorded, BidsCancelled) and recorded.bidder == struck.id
    assert recorded.reason == f"for cause: {reason}"
    entries = await pg.fetch(
        "SELECT account_id, role, reason, details FROM audit_log WHERE action = 'bids_cancelled' AND target = $1",
        f"sale:{sale.id}:lot:1",
    )
    assert [(e["account_id"], e["role"], e["reason"]) for e in entries] == [
        (people["auctioneer"].account.id, "auctioneer", reason)  # type: ignore[union-attr]
    ]
    details = {"bidder": struck.id, "seq": done["seq"], "price": 15_000, "leader": other.id}
    assert json.loads(entries[0]["details"]) == details


async def test_a_closed_lot_is_not_cancelled_here(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker
) -> None:
    sale = await make_sale(lots=1)
    _, token = await make_bidder(sale.id, 21)
    admin = await (await make_people())["admin"].headers(pg)
    async with aiohttp.ClientSession(gateway.http) as http:
        await bid(http, sale.id, 1, token, 10_000)
        end = (await gateway.store.state(sale.id, 1)).end_ms  # type: ignore[union-attr]
        await gateway.store.execute(sale.id, 1, CloseLot(at_ms=end + 1))
        refused = await call(http, f"/api/sales/{sale.id}/lots/1/cancellations", admin, 409,
                             {"paddle": 21, "reason": "too late for that"})  # fmt: skip
    assert (refused["reason"], refused["message"].startswith("the lot is closed")) == ("lot_closed", True)


async def test_bad_requests_name_the_field(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker
) -> None:
    sale = await make_sale(lots=1)
    bidder, _ = await make_bidder(sale.id, 31)
    people = await make_people()
    auctioneer = await people["auctioneer"].headers(pg)
    cancel = f"/api/sales/{sale.id}/lots/1/cancellations"
    cases: list[tuple[str, dict[str, Any], int, str, str]] = [
        (cancel, {"paddle": 31}, 400, "invalid", "reason"),
        (cancel, {"paddle": 31, "reason": "no"}, 400, "invalid", "reason"),
        (cancel, {"paddle": 31, "reason": "x" * 501}, 400, "invalid", "reason"),
        (cancel, {"reason": "whose bids?"}, 400, "invalid", "bidder"),
        (cancel, {"paddle": 31, "bidder": bidder.id, "reason": "both named"}, 400, "invalid", "bidder"),
        (cancel, {"paddle": 0, "reason": "a paddle of none"}, 400, "invalid", "paddle"),
        (cancel, {"paddle": 31, "reason": "fine", "why": "unknown field"}, 400, "invalid", "why"),
        (cancel, {"paddle": 99, "reason": "nobody holds it"}, 404, "not_found", "paddle"),
        (f"/api/sales/{sale.id}/lots/9/cancellations", {"paddle": 31, "reason": "no such lot"}, 404, "not_found",
         "lot"),
    ]  # fmt: skip
    async with aiohttp.ClientSession(gateway.http) as http:
        for path, body, status, code, field in cases:
            error = (await call(http, path, auctioneer, status, body))["error"]
            assert (error["code"], error["field"]) == (code, field), body
        clerk = await people["clerk"].headers(pg)
        error = (await call(http, cancel, clerk, 403, {"paddle": 31, "reason": "the clerk may not"}))["error"]
        assert (error["code"], error["field"]) == ("not_allowed", "role")


async def test_the_command_line_cancels_as_the_operator_it_names(
    gateway: Running,
    pg: asyncpg.Pool,
    redis_url: str,
    database_url: str,
    tmp_path: Path,
    make_sale: SaleMaker,
    make_bidder: BidderMaker,
    make_people: PeopleMaker,
) -> None:
    sale = await make_sale(lots=1)
    _, token = await make_bidder(sale.id, 41)
    people = await make_people()
    async with aiohttp.ClientSession(gateway.http) as http:
        await bid(http, sale.id, 1, token, 15_000)

    async def auction(by: str) -> subprocess.CompletedProcess[str]:
        env = {"AUCTION_REDIS_URL": redis_url, "AUCTION_DATABASE_URL": database_url, "AUCTION_STATE_DIR": str(tmp_path)}
        argv = ["bids", "cancel", str(sale.id), "1", "--paddle", "41", "--reason", "shill bidding", "--by", by]
        return await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "auction", *argv], env={**_env(), **env}, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip

    clerk, admin = (people[role].account.email for role in ("clerk", "admin"))  # type: ignore[union-attr]
    refused = await auction(clerk)
    assert refused.returncode == 2 and "--by" in refused.stderr, refused.stderr
    done = await auction(admin)
    assert done.returncode == 0, done.stderr
    assert "bids cancelled; the lot stands at 0 led by paddle None" in done.stdout
    again = await auction(admin)
    assert (again.returncode, again.stdout.strip()) == (1, "refused: no_bids")
    assert (
        await pg.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'bids_cancelled' AND target = $1 AND role = 'admin'",
            f"sale:{sale.id}:lot:1",
        )
        == 1
    )


def _env() -> dict[str, str]:
    """This environment without any AUCTION_ setting: the command is told its servers, nothing else."""
    return {name: value for name, value in os.environ.items() if not name.startswith("AUCTION_")}
