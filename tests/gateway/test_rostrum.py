"""A live sale end to end, over real websockets and HTTP against the test gateway: the auctioneer at the rostrum,
the clerk at the console, buyers online, commission bids, the console's view; the sale's ladder is flat (1,000),
so after a bid at P the ask is P + 1,000. Each test's record is then replayed by the verifier (conftest)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets

from auction.engine.state import LiveTerms
from tests.gateway.conftest import BidderMaker, PeopleMaker, Person, Running, SaleMaker

ANSWERS = ("ack", "rejected", "bid_waiting", "rostrum_ack", "rostrum_refused", "error")
Frame = dict[str, Any]


class Peer:
    """One websocket: every frame it receives kept in order; asks are answered by their client or request id."""

    _ids = itertools.count(1)

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
                self._arrived.set()

    async def first(self, wanted: Callable[[Frame], bool], within_s: float = 10) -> Frame:
        """The first frame received (so far or from now on) that is `wanted`."""

        async def wait() -> Frame:
            while True:
                found = next((frame for frame in self.frames if wanted(frame)), None)
                if found is not None:
                    return found
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(wait(), within_s)

    async def ask(self, frame: Frame) -> Frame:
        """Send a bid (`client_id`) or a rostrum message (`request_id`, filled in if left out); its answer."""
        if frame["type"] not in ("bid", "max_bid") and "request_id" not in frame:
            frame = {**frame, "request_id": f"r-{next(self._ids)}"}
        key = "client_id" if "client_id" in frame else "request_id"
        await self.ws.send(json.dumps(frame))
        return await self.first(lambda f: f["type"] in ANSWERS and f.get(key) == frame[key])

    async def event(self, lot: int, kind: str, **fields: Any) -> Frame:
        """The public event of `lot` of this `kind` (with these fields) that the peer has been sent."""
        return await self.first(
            lambda f: f["type"] == "event" and f["lot"] == lot and f["event"]["type"] == kind
            and all(f["event"].get(k) == v for k, v in fields.items())
        )  # fmt: skip

    def close(self) -> None:
        self._task.cancel()


Connect = Callable[..., Awaitable[Peer]]


@pytest.fixture
async def connect(gateway: Running, pg: asyncpg.Pool) -> AsyncIterator[Connect]:
    """Open a peer as a person (or with a buyer's token), after its `welcome`; subscribed to `sale` if given."""
    async with contextlib.AsyncExitStack() as stack:
        peers: list[Peer] = []

        async def open_peer(who: Person | str, sale: int | None = None) -> Peer:
            headers = {"Authorization": f"Bearer {who}"} if isinstance(who, str) else await who.headers(pg)
            ws = await stack.enter_async_context(websockets.connect(gateway.ws, additional_headers=headers))
            peer = Peer(ws)
            peers.append(peer)
            await peer.first(lambda f: f["type"] == "welcome")
            if sale is not None:
                await ws.send(json.dumps({"type": "subscribe", "sale": sale}))
                await peer.first(lambda f: f["type"] in ("snapshot", "record_snapshot"))
            return peer

        yield open_peer
        for peer in peers:
            peer.close()


def rostrum(kind: str, sale: int, lot: int = 1, **fields: Any) -> Frame:
    return {"type": kind, "sale": sale, "lot": lot, **fields}


def bid(sale: int, amount: int, client_id: str, lot: int = 1) -> Frame:
    return {"type": "bid", "sale": sale, "lot": lot, "amount": amount, "client_id": client_id}


async def console(gateway: Running, pg: asyncpg.Pool, person: Person, sale: int) -> Frame:
    async with aiohttp.ClientSession(gateway.http) as http, http.get(
        f"/api/sales/{sale}/rostrum", headers=await person.headers(pg)
    ) as reply:  # fmt: skip
        assert reply.status == 200, await reply.text()
        view: Frame = await reply.json()
        return view


async def commission(gateway: Running, pg: asyncpg.Pool, person: Person, sale: int, body: Frame) -> tuple[int, Any]:
    async with aiohttp.ClientSession(gateway.http) as http, http.post(
        f"/api/sales/{sale}/lots/1/absentee", json=body, headers=await person.headers(pg)
    ) as reply:  # fmt: skip
        return reply.status, await reply.json()


# ---- the rostrum and buyers online --------------------------------------------------------------------------------


async def test_an_auto_accept_lot_from_the_open_to_the_hammer_a_late_bid_and_the_reopening(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker,
    connect: Connect,
) -> None:  # fmt: skip
    sale = (await make_sale(lots=2, live=LiveTerms(auto_accept=True, missed_bid_window_ms=30_000))).id
    people = await make_people()
    await make_bidder(sale, 11)  # in the room
    _, online = await make_bidder(sale, 12)
    _, rival = await make_bidder(sale, 13)
    auctioneer = await connect(people["auctioneer"], sale)
    clerk = await connect(people["clerk"], sale)
    buyer = await connect(online, sale)
    other = await connect(rival, sale)

    assert (await auctioneer.ask(rostrum("open_lot", sale, ask=10_000)))["type"] == "rostrum_ack"
    await buyer.event(1, "opened", ask=10_000)
    taken = await clerk.ask(rostrum("take_bid", sale, paddle=11, source="floor"))
    assert (taken["type"], taken["seq"]) == ("rostrum_ack", 3)  # the bid, then the ask after it
    await buyer.event(1, "bid", paddle=11, amount=10_000, source="floor")
    await buyer.event(1, "ask", ask=11_000)

    ack = await buyer.ask(bid(sale, 11_000, "b-1"))
    assert (ack["type"], ack["leading"], ack["price"]) == ("ack", True, 11_000)
    second = await other.ask(bid(sale, 11_000, "o-1"))  # the same ask, a moment later: the first committed won
    assert (second["type"], second["reason"], second["next_amount"]) == ("rejected", "another_bid_taken", 12_000)
    await other.event(1, "bid", paddle=12, amount=11_000, source="online")

    assert (await auctioneer.ask(rostrum("fair_warning", sale)))["type"] == "rostrum_ack"
    await other.event(1, "fair_warning")
    answered = await other.ask(bid(sale, 12_000, "o-2"))  # fair warning answered online: the lot goes on
    assert (answered["type"], answered["leading"]) == ("ack", True)
    hammer_too_soon = await auctioneer.ask(rostrum("hammer", sale))
    assert (hammer_too_soon["type"], hammer_too_soon["reason"]) == ("rostrum_refused", "reserve_not_met")

    await auctioneer.ask(rostrum("set_ask", sale, amount=50_000))  # the reserve
    await clerk.ask(rostrum("take_bid", sale, paddle=11, source="floor"))
    sold = await auctioneer.ask(rostrum("hammer", sale))
    assert sold["type"] == "rostrum_ack"
    await buyer.event(1, "sold", hammer=50_000, paddle=11)

    late = await buyer.ask(bid(sale, 51_000, "b-2"))  # just after the hammer
    assert (late["type"], late["reason"]) == ("rejected", "too_late")
    view = await console(gateway, pg, people["auctioneer"], sale)
    lot = view["lots"][0]
    assert view["on_block"] is None and view["watching"] >= 4
    assert [(m["paddle"], m["amount"], m["client_id"]) for m in lot["live"]["missed"]] == [(12, 51_000, "b-2")]
    assert (lot["lot_state"]["status"], lot["live"]["lead_source"]) == ("sold", "floor")

    reopened = await auctioneer.ask(rostrum("reopen_lot", sale, reason="a missed online bid"))
    assert reopened["type"] == "rostrum_ack"
    await other.event(1, "reopened")
    assert (await buyer.ask(bid(sale, 51_000, "b-3")))["type"] == "ack"
    await auctioneer.ask(rostrum("hammer", sale))
    await other.event(1, "sold", hammer=51_000, paddle=12)
    assert (await console(gateway, pg, people["clerk"], sale))["lots"][0]["live"]["missed"] == []

    await auctioneer.ask(rostrum("open_lot", sale, lot=2))
    too_late = await auctioneer.ask(rostrum("reopen_lot", sale, reason="once the next lot opens, no more"))
    assert (too_late["type"], too_late["reason"]) == ("rostrum_refused", "another_lot_open")


async def test_without_auto_accept_online_bids_wait_for_the_clerk(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker,
    connect: Connect,
) -> None:  # fmt: skip
    sale = (await make_sale(lots=1, live=LiveTerms(auto_accept=False))).id
    people = await make_people()
    await make_bidder(sale, 11)
    _, first_token = await make_bidder(sale, 12)
    _, second_token = await make_bidder(sale, 13)
    auctioneer, clerk = await connect(people["auctioneer"], sale), await connect(people["clerk"], sale)
    first, second = await connect(first_token, sale), await connect(second_token, sale)
    await auctioneer.ask(rostrum("open_lot", sale, ask=10_000))

    waiting = await first.ask(bid(sale, 10_000, "f-1"))
    assert waiting == {"type": "bid_waiting", "client_id": "f-1", "sale": sale, "lot": 1, "amount": 10_000}
    told = await second.ask(bid(sale, 10_000, "s-1"))  # the first online bid in holds the ask
    assert (told["type"], told["reason"], told["next_amount"]) == ("rejected", "another_bid_taken", 10_000)
    snapshot = (await console(gateway, pg, people["clerk"], sale))["lots"][0]["live"]
    assert snapshot["waiting"] == {"bidder": snapshot["waiting"]["bidder"], "paddle": 12, "amount": 10_000,
                                   "client_id": "f-1"}  # fmt: skip
    assert (await clerk.ask(rostrum("accept_online_bid", sale)))["type"] == "rostrum_ack"
    await first.event(1, "bid", paddle=12, amount=10_000, source="online")

    assert (await second.ask(bid(sale, 11_000, "s-2")))["type"] == "bid_waiting"
    floor = await clerk.ask(rostrum("take_bid", sale, paddle=11, source="floor"))  # taken while s-2 waits
    assert floor["type"] == "rostrum_ack"
    await second.event(1, "declined", paddle=13, why="another_bid_taken")
    await second.event(1, "bid", paddle=11, amount=11_000, source="floor")  # the floor bid stands

    assert (await second.ask(bid(sale, 12_000, "s-3")))["type"] == "bid_waiting"
    assert (await clerk.ask(rostrum("decline_online_bid", sale, reason="line dropped")))["type"] == "rostrum_ack"
    await second.event(1, "declined", paddle=13, why="declined")
    nothing = await clerk.ask(rostrum("accept_online_bid", sale))
    assert (nothing["type"], nothing["reason"]) == ("rostrum_refused", "no_pending_bid")

    async with aiohttp.ClientSession(gateway.http) as http, http.post(  # over HTTP: 202, not an ack
        f"/api/sales/{sale}/lots/1/bids", json={"amount": 12_000, "client_id": "h-1"},
        headers={"Authorization": f"Bearer {first_token}"},
    ) as reply:  # fmt: skip
        assert (reply.status, (await reply.json())["type"]) == (202, "bid_waiting")


async def test_a_bid_waiting_at_the_hammer_is_declined_too_late_and_noted(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker,
    connect: Connect,
) -> None:  # fmt: skip
    sale = (await make_sale(lots=1, reserve=10_000, live=LiveTerms(auto_accept=False))).id
    people = await make_people()
    await make_bidder(sale, 11)
    _, token = await make_bidder(sale, 12)
    auctioneer, clerk, buyer = [await connect(who, sale) for who in (people["auctioneer"], people["clerk"], token)]
    await auctioneer.ask(rostrum("open_lot", sale, ask=10_000))
    await clerk.ask(rostrum("take_bid", sale, paddle=11, source="phone"))
    assert (await buyer.ask(bid(sale, 11_000, "w-1")))["type"] == "bid_waiting"
    assert (await auctioneer.ask(rostrum("hammer", sale)))["type"] == "rostrum_ack"
    await buyer.event(1, "declined", paddle=12, why="too_late")
    await buyer.event(1, "sold", hammer=10_000, paddle=11)
    missed = (await console(gateway, pg, people["auctioneer"], sale))["lots"][0]["live"]["missed"]
    assert [(m["paddle"], m["after_hammer_ms"]) for m in missed] == [(12, 0)]


async def test_undo_displaces_the_newest_bidder_who_sees_it(
    make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker, connect: Connect
) -> None:
    sale = (await make_sale(lots=1, live=LiveTerms())).id
    people = await make_people()
    await make_bidder(sale, 11)
    _, token = await make_bidder(sale, 12)
    auctioneer, clerk, buyer = [await connect(who, sale) for who in (people["auctioneer"], people["clerk"], token)]
    await auctioneer.ask(rostrum("open_lot", sale, ask=10_000))
    await clerk.ask(rostrum("take_bid", sale, paddle=11, source="floor"))
    assert (await buyer.ask(bid(sale, 11_000, "u-1")))["leading"] is True
    undone = await clerk.ask(rostrum("undo_bid", sale))
    assert undone["type"] == "rostrum_ack"
    shown = await buyer.event(1, "undone", undone=12)
    assert (shown["event"]["paddle"], shown["event"]["price"], shown["event"]["ask"]) == (11, 10_000, 11_000)
    assert (await buyer.ask(bid(sale, 11_000, "u-2")))["leading"] is True  # the buyer may bid again


async def test_a_resent_rostrum_message_gets_the_first_answer_and_acts_once(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker, connect: Connect
) -> None:
    sale = (await make_sale(lots=1, live=LiveTerms())).id
    people = await make_people()
    await make_bidder(sale, 11)
    auctioneer, clerk = await connect(people["auctioneer"], sale), await connect(people["clerk"], sale)
    await auctioneer.ask(rostrum("open_lot", sale, ask=10_000))
    take = rostrum("take_bid", sale, paddle=11, source="floor", request_id="t-1")
    first = await clerk.ask(take)
    clerk.frames.clear()
    assert await clerk.ask(take) == first
    state = await gateway.store.state(sale, 1)
    assert state is not None and (state.bid_count, state.price) == (1, 10_000)


# ---- the clerk's refusals -----------------------------------------------------------------------------------------


async def test_a_floor_bid_for_a_paddle_over_its_limit_is_refused_to_the_clerk(
    make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker, connect: Connect
) -> None:
    sale = (await make_sale(lots=1, live=LiveTerms())).id
    people = await make_people()
    await make_bidder(sale, 11, limit=12_000)  # 10,000 plus a 26 % premium is 12,600: over it
    auctioneer, clerk = await connect(people["auctioneer"], sale), await connect(people["clerk"], sale)
    await auctioneer.ask(rostrum("open_lot", sale, ask=10_000))
    refused = await clerk.ask(rostrum("take_bid", sale, paddle=11, source="floor", request_id="lim-1"))
    assert refused == {"type": "rostrum_refused", "request_id": "lim-1", "sale": sale, "lot": 1,
                       "reason": "over_limit", "next_amount": 10_000}  # fmt: skip
    nobody = await clerk.ask(rostrum("take_bid", sale, paddle=77, source="phone", request_id="nobody-1"))
    assert (nobody["type"], nobody["code"], nobody["field"], nobody["request_id"]) == (
        "error", "not_found", "paddle", "nobody-1",
    )  # fmt: skip
    house = await clerk.ask(rostrum("take_bid", sale, paddle=1, source="house"))
    assert (house["type"], house["reason"]) == ("rostrum_refused", "house_bids_not_allowed")
    hammer = await clerk.ask(rostrum("hammer", sale, request_id="h-1"))  # not the clerk's to bring down
    assert (hammer["type"], hammer["code"], hammer["field"], hammer["request_id"]) == (
        "error", "not_allowed", "type", "h-1",
    )  # fmt: skip


async def test_a_timed_sale_has_no_rostrum(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker, connect: Connect
) -> None:
    sale = (await make_sale(lots=1)).id
    people = await make_people()
    auctioneer = await connect(people["auctioneer"])
    refused = await auctioneer.ask(rostrum("open_lot", sale, request_id="t-1"))
    assert (refused["type"], refused["code"], refused["field"]) == ("error", "refused", "sale")
    async with aiohttp.ClientSession(gateway.http) as http, http.get(
        f"/api/sales/{sale}/rostrum", headers=await people["auctioneer"].headers(pg)
    ) as reply:  # fmt: skip
        assert (reply.status, (await reply.json())["error"]["code"]) == (409, "refused")


# ---- commission bids and the console ------------------------------------------------------------------------------


async def test_a_commission_bid_entered_over_http_executes_at_the_open(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker,
    connect: Connect,
) -> None:  # fmt: skip
    sale = (await make_sale(lots=1, live=LiveTerms())).id
    people = await make_people()
    await make_bidder(sale, 11)
    await make_bidder(sale, 14)
    clerk = people["clerk"]
    status, entered = await commission(gateway, pg, clerk, sale, {"paddle": 14, "amount": 30_000, "client_id": "c-1"})
    assert (status, entered["paddle"], entered["max_amount"], entered["seq"]) == (200, 14, 30_000, 1)
    assert await commission(gateway, pg, clerk, sale, {"paddle": 14, "amount": 30_000, "client_id": "c-1"}) == (
        200, entered,
    )  # a resend: the first answer  # fmt: skip
    status, nobody = await commission(gateway, pg, clerk, sale, {"paddle": 99, "amount": 30_000, "client_id": "c-2"})
    assert (status, nobody["error"]["field"], nobody["error"]["client_id"]) == (404, "paddle", "c-2")
    status, low = await commission(gateway, pg, clerk, sale, {"paddle": 11, "amount": 5_000, "client_id": "c-3"})
    assert (status, low["reason"], low["next_amount"]) == (409, "too_low", 10_000)

    live = (await console(gateway, pg, clerk, sale))["lots"][0]["live"]
    assert [a["paddle"] for a in live["absentees"]] == [14] and live["commission_bar"]["max_amount"] == 30_000
    record = await (await connect(clerk, sale)).first(lambda f: f["type"] == "record_snapshot")
    assert record["live"]["absentees"] == live["absentees"]  # the record snapshot carries the same live fields

    auctioneer, watcher = await connect(people["auctioneer"], sale), await connect(people["buyer"], sale)
    await auctioneer.ask(rostrum("open_lot", sale, ask=10_000))
    await watcher.event(1, "bid", paddle=14, amount=10_000, source="absentee")
    await (await connect(people["clerk"], sale)).ask(rostrum("take_bid", sale, paddle=11, source="floor"))
    await watcher.event(1, "bid", paddle=14, amount=12_000, source="absentee")  # the book answers the room
    state = await gateway.store.state(sale, 1)
    assert state is not None and (state.leader_paddle, state.price, state.ask) == (14, 12_000, 13_000)
    status, late = await commission(gateway, pg, clerk, sale, {"paddle": 11, "amount": 40_000, "client_id": "c-4"})
    assert (status, late["reason"]) == (409, "not_the_ask")
