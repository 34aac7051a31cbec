"""A sealed-bid tender end to end through the gateway (issue 16): created over HTTP with its key shared among its
officers, bids in total and per carat over the websocket and HTTP, replaced, receipts a buyer can check, the
commitments published after the close, fewer than k shares opening nothing, k shares revealing every lot, the
limit rule applied at the reveal, the consignor's answer below the reserve, and what each party reads. The
record is then verified (conftest), the reveal's exclusions included."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
import websockets
from redis.asyncio import Redis

from auction import catalog
from auction.engine.formats.tender import commitment, total_of
from auction.tender import records
from auction.tender.sealing import new_key_pair, open_browser_seal
from tests.gateway.conftest import BidderMaker, Running
from tests.gateway.tender_setup import TenderLot, call, create, scheduled, share_of, until_status
from tests.gateway.test_live import keys_in

LOTS = [TenderLot(1, 1_000_000, 250, "ZA-KP-2026-0001"), TenderLot(2, 9_000_000, 1_040, "BW-KP-2026-0417"),
        TenderLot(3, 9_000_000, 88, "NA-KP-2026-0932")]  # fmt: skip


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ws_bid(gateway: Running, token: str, message: dict[str, Any]) -> dict[str, Any]:
    async with websockets.connect(gateway.ws, additional_headers=bearer(token)) as ws:
        await ws.recv()  # welcome
        await ws.send(json.dumps({"type": "tender_bid", **message}))
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return answer


async def test_a_tender_end_to_end(
    gateway: Running, pg: asyncpg.Pool, redis: Redis, make_bidder: BidderMaker, new_sale_id: Callable[[], int]
) -> None:
    sale = new_sale_id()
    async with aiohttp.ClientSession(gateway.http) as http:
        tender = await create(pg, http, sale, LOTS)
        assert [o["x"] for o in tender.created["officers"]] == [1, 2, 3] and tender.created["threshold"] == 2
        info = await call(http, "GET", f"/api/sales/{sale}/tender")
        assert (info["public_key"], info["officers"], info["revealed_at_ms"]) == (tender.created["public_key"], 3, None)
        (a, a_token), (b, b_token), (c, c_token) = [
            await make_bidder(sale, paddle, limit) for paddle, limit in ((11, 10**12), (12, 10**12), (13, 3_000_000))
        ]  # C's limit covers 2,500,000 but not its premium
        _, outsider = await catalog.add_bidder(pg, "Outsider", "Not Registered Ltd")  # approved, not registered
        buyer_private, buyer_public = new_key_pair()
        buyer_key = base64.b64encode(buyer_public).decode()
        async with scheduled(gateway, redis, sale):
            early = await call(http, "POST", f"/api/sales/{sale}/lots/1/tender-bids", bearer(a_token),
                               {"client_id": "early", "amount": 5_000_000}, status=409)  # fmt: skip
            assert early["reason"] == "lot_not_open"  # still the viewing
            await until_status(gateway, sale, "open")
            first = await ws_bid(gateway, a_token, {"sale": sale, "lot": 1, "client_id": "a1", "per_carat": 700_000,
                                                    "buyer_key": buyer_key, "priority": 2})  # fmt: skip
            assert first["type"] == "tender_receipt" and first["copy_kept"], first
            replaced = await call(
                http,
                "POST",
                f"/api/sales/{sale}/lots/1/tender-bids",
                bearer(a_token),
                {"client_id": "a2", "amount": 1_900_001, "buyer_key": buyer_key, "priority": 2},
            )
            resent = await call(
                http, "POST", f"/api/sales/{sale}/lots/1/tender-bids", bearer(a_token), {"client_id": "a2", "amount": 1}
            )  # the same client id: the first answer
            assert (resent["commitment"], resent["salt"]) == (replaced["commitment"], None)
            assert replaced["commitment"] == commitment(sale, 1, a.id, "a2", 1_900_001, None, replaced["salt"])
            b1 = await call(
                http,
                "POST",
                f"/api/sales/{sale}/lots/1/tender-bids",
                bearer(b_token),
                {"client_id": "b1", "per_carat": 760_000},
            )  # 1,900,000 at 2.50 ct
            assert b1["commitment"] == commitment(sale, 1, b.id, "b1", total_of(760_000, 250), 760_000, b1["salt"])
            for lot, client, amount in ((2, "a3", 8_000_000), (3, "a4", 7_000_000)):
                await call(http, "POST", f"/api/sales/{sale}/lots/{lot}/tender-bids", bearer(a_token),
                           {"client_id": client, "amount": amount, "priority": 1})  # fmt: skip
            c1 = await ws_bid(gateway, c_token, {"sale": sale, "lot": 1, "client_id": "c1", "amount": 2_500_000})
            refused = await call(http, "POST", f"/api/sales/{sale}/lots/1/tender-bids", bearer(outsider),
                                 {"client_id": "o1", "amount": 9_999_999}, status=403)  # fmt: skip
            assert refused["reason"] == "not_registered"
            both = await call(http, "POST", f"/api/sales/{sale}/lots/1/tender-bids", bearer(a_token),
                              {"client_id": "a5", "amount": 5, "per_carat": 5}, status=400)  # fmt: skip
            assert both["error"]["field"] == "amount"
            shut = await call(http, "GET", f"/api/sales/{sale}/tender/commitments")
            assert [(lot["closed"], lot["commitments"]) for lot in shut] == [(False, [])] * 3
            early_share = await call(
                http,
                "POST",
                f"/api/sales/{sale}/tender/shares",
                tender.officers[0].headers,
                {"shares": [await share_of(http, tender.officers[0], sale)]},
                status=409,
            )
            assert early_share["error"]["field"] == "sale"  # the window is open: no share is even held
            await until_status(gateway, sale, "awaiting_reveal")

        # the list of commitments is fixed and public: each buyer finds the one their receipt gave
        published = {lot["lot"]: lot for lot in await call(http, "GET", f"/api/sales/{sale}/tender/commitments")}
        assert sorted(published[1]["commitments"]) == sorted([replaced["commitment"], b1["commitment"],
                                                              c1["commitment"]])  # fmt: skip
        assert first["commitment"] not in published[1]["commitments"]  # replaced: only the latest counts

        # a buyer reads their own bids before the reveal, from the copy only their key opens
        mine = (await call(http, "GET", f"/api/sales/{sale}/tender/my-bids", bearer(a_token)))["bids"]
        assert [(m["client_id"], m["counts"], m["amount"]) for m in mine if m["lot"] == 1] == [
            ("a1", False, None), ("a2", True, None)]  # fmt: skip
        copy = json.loads(open_browser_seal(mine[0]["copy"], buyer_private, records.copy_place(sale, 1, a.id, "a1")))
        assert (copy["amount"], copy["per_carat"], copy["salt"]) == (1_750_000, 700_000, first["salt"])

        # the reveal: a share that is not one, a caller who is not an officer, one share: nothing opened
        officer1, officer2, _ = tender.officers
        share1, share2 = await share_of(http, officer1, sale), await share_of(http, officer2, sale)
        wrong = await call(http, "POST", f"/api/sales/{sale}/tender/shares", officer1.headers,
                           {"shares": ["1-" + "ab" * 60]}, status=400)  # fmt: skip
        assert wrong["error"]["field"] == "shares[0]"
        stranger = await call(http, "POST", f"/api/sales/{sale}/tender/shares", tender.auctioneer_headers,
                              {"shares": [share1]}, status=403)  # fmt: skip
        assert stranger["error"]["code"] == "not_allowed"
        held = await call(http, "POST", f"/api/sales/{sale}/tender/shares", officer1.headers, {"shares": [share1]},
                          status=202)  # fmt: skip
        assert (held["held"], held["needed"]) == (1, 2)
        assert {s.status for s in await gateway.store.states(sale)} == {"awaiting_reveal"}
        assert all(not s.revealed for s in await gateway.store.states(sale))
        report = await call(http, "POST", f"/api/sales/{sale}/tender/shares", officer2.headers, {"shares": [share2]})
        assert report["officers"] == sorted([officer1.account.id, officer2.account.id]) and report["refused"] == {}
        again = await call(http, "POST", f"/api/sales/{sale}/tender/shares", officer1.headers, {"shares": [share1]},
                           status=409)  # fmt: skip
        assert "nothing left to reveal" in again["error"]["message"]

        # C's 2,500,000 would take them past their limit (3,150,000 all-in against 3,000,000): lot 1 goes to the
        # next bid, A's 1,900,001, one cent above B's per-carat bid
        results = await call(http, "GET", f"/api/sales/{sale}/tender/results")
        assert [(r["lot"], r["status"], r["amount"], r["per_carat"]) for r in results["lots"]] == [
            (1, "sold", 1_900_001, 760_000), (2, "awaiting_acceptance", 0, None), (3, "awaiting_acceptance", 0, None),
        ]  # fmt: skip
        assert results["offers"] == [] and results["bids"] == [] and results["revealed_at_ms"] is not None
        for party in (a_token, b_token):  # nothing names a bidder to a buyer or anyone else but operators
            seen = await call(http, "GET", f"/api/sales/{sale}/tender/results", bearer(party))
            assert not keys_in(seen) & {"bidder", "paddle", "client_id", "leader"}, seen
        ranks = (await call(http, "GET", f"/api/sales/{sale}/tender/my-bids", bearer(b_token)))["bids"]
        assert [(r["amount"], r["per_carat"], r["rank"], r["won"]) for r in ranks] == [(1_900_000, 760_000, 3, False)]
        c_bids = (await call(http, "GET", f"/api/sales/{sale}/tender/my-bids", bearer(c_token)))["bids"]
        assert [(r["rank"], r["won"], r["excluded"]) for r in c_bids] == [(1, False, True)]
        house = await call(http, "GET", f"/api/sales/{sale}/tender/results", officer1.headers)
        assert [(o["bidder"], o["rank"], o["excluded"]) for o in house["bids"] if o["lot"] == 1] == [
            (c.id, 1, True), (a.id, 2, False), (b.id, 3, False)]  # fmt: skip

        # below the reserve: the consignor, and only they, accepts lot 2 and declines lot 3
        offers = (await call(http, "GET", f"/api/sales/{sale}/tender/results", tender.consignor_headers))["offers"]
        assert [(o["lot"], o["amount"], o["reserve"]) for o in offers] == [(2, 8_000_000, 9_000_000),
                                                                            (3, 7_000_000, 9_000_000)]  # fmt: skip
        await call(http, "POST", f"/api/sales/{sale}/lots/2/tender/accept", bearer(a_token), status=403)
        taken = await call(http, "POST", f"/api/sales/{sale}/lots/2/tender/accept", tender.consignor_headers)
        assert (taken["status"], taken["amount"]) == ("sold", 8_000_000)
        declined = await call(http, "POST", f"/api/sales/{sale}/lots/3/tender/decline", tender.consignor_headers)
        assert declined["status"] == "passed"
        late = await call(http, "POST", f"/api/sales/{sale}/lots/3/tender/accept", tender.consignor_headers,
                          status=409)  # fmt: skip
        assert "lot_closed" in late["error"]["message"]
    states = {s.terms.lot: s for s in await gateway.store.states(sale)}
    assert [(states[n].status, states[n].leader, states[n].price) for n in (1, 2, 3)] == [
        ("sold", a.id, 1_900_001), ("sold", a.id, 8_000_000), ("passed", None, 0)]  # fmt: skip
