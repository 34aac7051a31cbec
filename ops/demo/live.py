"""The demo's live sale: an auctioneer and a clerk at the rostrum, online bidders, and the absentee book.

Everyone works through the gateway as a person or a program would: the auctioneer and the clerk over the
websocket with the rostrum's messages, the online bidders bidding at the ask, commission bids entered by the
clerk over HTTP before the sale, the console's view read over HTTP. The script plays what a live sale must show
(issue 13): a fair warning answered by an online bid; a bid that comes just after the hammer, seen by the
auctioneer as a possible missed bid, and the lot reopened for it; a lot passed below its reserve; a lot
withdrawn; a lot won by a commission bid. Settlement bills the hammers as it bills a timed sale's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp
import asyncpg
import websockets

from auction import audit, identity, vetting
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.config import DEFAULT_SANCTIONED
from auction.engine.ladder import DIAMOND_LADDER_USD
from auction.engine.state import LiveTerms
from auction.store import LotStore
from ops.demo.house import house_desk
from ops.demo.people import PASSWORD, buyer_application
from ops.demo.sale import demo_lot

ANSWER_TIMEOUT_S = 10.0
MISSED_BID_WINDOW_MS = 1_500
BUYERS = 3  # paddles 201, 202, 203
FLOOR_PADDLE, ONLINE_PADDLE, LATE_PADDLE = 201, 202, 203


# ---- the people, as the gateway sees them -------------------------------------------------------------------


class Desk:
    """A websocket of one person: sends messages, waits for the answer that names each one."""

    def __init__(self, ws: Any, name: str) -> None:
        self.ws, self.name = ws, name
        self._ids = itertools.count(1)
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame)
            key = message.get("request_id") or message.get("client_id")
            if key is not None and key in self._answers and message["type"] != "event":
                self._answers.pop(key).set_result(message)
            elif message["type"] in ("event", "record"):
                self.events.append(message)

    async def send(self, message: dict[str, Any], key_field: str = "request_id") -> dict[str, Any]:
        key = f"{self.name}-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[key] = future
        await self.ws.send(json.dumps({**message, key_field: key}))
        return await asyncio.wait_for(future, ANSWER_TIMEOUT_S)

    async def rostrum(self, kind: str, sale: int, lot: int, **fields: Any) -> dict[str, Any]:
        answer = await self.send({"type": kind, "sale": sale, "lot": lot, **fields})
        if answer["type"] != "rostrum_ack":
            raise RuntimeError(f"the rostrum's {kind} on lot {lot} was refused: {answer}")
        return answer

    async def bid(self, sale: int, lot: int, amount: int) -> dict[str, Any]:
        return await self.send({"type": "bid", "sale": sale, "lot": lot, "amount": amount}, "client_id")

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()


@dataclass
class LiveSale:
    sale: NewSale
    tokens: dict[str, str]  # who -> API token: auctioneer, clerk, paddle numbers
    log: list[str] = field(default_factory=list)


async def build(base_url: str, pg: asyncpg.Pool, store: LotStore, rng: random.Random, now_ms: int) -> LiveSale:
    """A live sale of five lots, built over HTTP as the house builds one (ops/demo/house.py: its consignor, each
    stone taken in and made a lot, the sale published); its operators, and three vetted buyers registered with
    paddles 201-203."""
    async with house_desk(base_url, pg, str(now_ms + 1)) as desk:
        consignor = await desk.consignor("Live Demo Consignor", "Demo Consignments Ltd")
        sale = _planned(rng, consignor, now_ms)
        await desk.build(sale, by_file=False)
    tag = str(sale.id)
    tokens = {
        "auctioneer": await _operator_token(pg, "auctioneer", tag),
        "clerk": await _operator_token(pg, "clerk", tag),
    }
    officer = await identity.create_account(pg, f"vetting-{tag}@demo.invalid", "Demo Officer", PASSWORD,
                                            "vetting_officer")  # fmt: skip
    for index in range(BUYERS):
        paddle = FLOOR_PADDLE + index
        tokens[str(paddle)] = await _buyer_token(pg, store, sale.id, officer, paddle, tag)
    return LiveSale(sale, tokens)


def _planned(rng: random.Random, consignor: int, now_ms: int) -> NewSale:
    return NewSale(
        id=now_ms + 1,
        name="Important Diamonds: Live Demo Sale",
        currency="USD",
        starts_at_ms=now_ms,
        first_close_ms=now_ms + 3_600_000,
        lots=[_live_lot(rng, number, consignor) for number in range(1, 6)],
        format="live",
        settings=SaleSettings(ladder=DIAMOND_LADDER_USD, live=LiveTerms(missed_bid_window_ms=MISSED_BID_WINDOW_MS)),
    )


def _live_lot(rng: random.Random, number: int, consignor: int) -> NewLot:
    """The demo's stones; lot 3 has a reserve nobody will reach (it is passed)."""
    lot = demo_lot(rng, number, consignor)
    reserve = lot.low_estimate if number == 3 else lot.opening
    return NewLot(lot.lot, lot.title, lot.consignor_id, lot.diamond, lot.low_estimate, lot.high_estimate, reserve,
                  lot.opening, lot.details)  # fmt: skip


async def _operator_token(pg: asyncpg.Pool, role: identity.Role, tag: str) -> str:
    account = await identity.create_account(pg, f"{role}-{tag}@demo.invalid", f"Demo {role}", PASSWORD, role)
    return (await identity.issue_token(pg, account.id, "api", name=f"demo {role}")).token


async def _buyer_token(pg: asyncpg.Pool, store: LotStore, sale: int, officer: identity.Account, paddle: int,
                       tag: str) -> str:  # fmt: skip
    application = buyer_application(f"Live Demo Buyer {paddle}", f"live{paddle}", tag)
    company, (representative,) = await vetting.apply(pg, application, DEFAULT_SANCTIONED)
    await vetting.decide(pg, store, company, "approve", "documents in order", officer, DEFAULT_SANCTIONED)
    await vetting.request_registration(pg, sale, representative)
    registered = await vetting.approve_registration(pg, store, sale, company, officer, paddle=paddle, limit=10**11)
    await vetting.record_deposit(pg, store, sale, company, officer, amount=registered.deposit_required,
                                 reference=f"live demo wire {sale}-{company}", reason="demo wire")  # fmt: skip
    return (await identity.issue_token(pg, representative.id, "api", name="live demo")).token


# ---- the sale, lot by lot -----------------------------------------------------------------------------------------


async def run(base_url: str, pg: asyncpg.Pool, store: LotStore, live: LiveSale, out: TextIO) -> dict[str, Any]:
    ws_url = base_url.replace("http://", "ws://") + "/ws"
    sale = live.sale.id
    async with aiohttp.ClientSession(base_url) as http:
        await _commission_bids(http, live)
        desks = {who: await _connect(ws_url, token, who) for who, token in live.tokens.items()}
        try:
            for desk in desks.values():
                await desk.ws.send(json.dumps({"type": "subscribe", "sale": sale, "lots": None, "resume": None}))
            lots = [_lot_one, _lot_two, _lot_three, _lot_four, _lot_five]
            notes = [await play(live, desks, http, lot_no) for lot_no, play in enumerate(lots, start=1)]
        finally:
            for desk in desks.values():
                await desk.close()
    for line in notes:
        print(f"live: {line}", file=out, flush=True)
    await _await_record(pg, store, sale)
    return await _summary(pg, live, notes)


async def _await_record(pg: asyncpg.Pool, store: LotStore, sale: int, timeout_s: float = 30.0) -> None:
    """Until PostgreSQL holds every event and journal entry of the sale that Redis has (the persister's copy)."""
    events = sum(state.seq for state in await store.states(sale))
    journal = await store.journal_length(sale)
    for _ in range(int(timeout_s / 0.2)):
        recorded = await pg.fetchval("SELECT count(*) FROM lot_events WHERE sale_id = $1", sale)
        entries = await pg.fetchval("SELECT count(*) FROM sale_journal WHERE sale_id = $1", sale)
        if recorded >= events and entries >= journal:
            return
        await asyncio.sleep(0.2)


async def _connect(ws_url: str, token: str, who: str) -> Desk:
    return Desk(await websockets.connect(f"{ws_url}?token={token}", max_size=2**20), who)


async def _commission_bids(http: aiohttp.ClientSession, live: LiveSale) -> None:
    """Before the sale the clerk enters two written commission bids on lot 5."""
    auth = {"Authorization": f"Bearer {live.tokens['clerk']}"}
    lots = {lot.lot: lot for lot in live.sale.lots}
    for lot_no, paddle, amount in ((5, LATE_PADDLE, lots[5].high_estimate), (5, FLOOR_PADDLE, lots[5].low_estimate)):
        body = {"paddle": paddle, "amount": amount, "client_id": f"commission-{lot_no}-{paddle}"}
        async with http.post(f"/api/sales/{live.sale.id}/lots/{lot_no}/absentee", json=body, headers=auth) as reply:
            if reply.status >= 300:
                raise RuntimeError(f"a commission bid on lot {lot_no} was refused: {await reply.text()}")


Desks = dict[str, Desk]
Play = Callable[[LiveSale, Desks, aiohttp.ClientSession, int], Awaitable[str]]


async def _ask(http: aiohttp.ClientSession, live: LiveSale, lot_no: int) -> dict[str, Any]:
    """The console's view of a lot (and of the sale: how many watch), as the auctioneer's screen shows it."""
    auth = {"Authorization": f"Bearer {live.tokens['auctioneer']}"}
    async with http.get(f"/api/sales/{live.sale.id}/rostrum", headers=auth) as reply:
        console: dict[str, Any] = await reply.json()
    lot = next(entry for entry in console["lots"] if entry["lot_state"]["lot"] == lot_no)
    shown: dict[str, Any] = lot["live"]
    return shown | {"watching": console["watching"], "status": lot["lot_state"]["status"]}


async def _lot_one(live: LiveSale, desks: Desks, http: aiohttp.ClientSession, lot_no: int) -> str:
    """A floor bid, an online bid, fair warning answered by an online bid, and the hammer."""
    sale, auctioneer, clerk = live.sale.id, desks["auctioneer"], desks["clerk"]
    await auctioneer.rostrum("open_lot", sale, lot_no)
    await clerk.rostrum("take_bid", sale, lot_no, paddle=FLOOR_PADDLE, source="floor")
    await _online_at_the_ask(live, desks, http, lot_no, ONLINE_PADDLE)
    await clerk.rostrum("take_bid", sale, lot_no, paddle=FLOOR_PADDLE, source="floor")
    await auctioneer.rostrum("fair_warning", sale, lot_no)
    answered = await _online_at_the_ask(live, desks, http, lot_no, ONLINE_PADDLE)  # after fair warning
    await auctioneer.rostrum("fair_warning", sale, lot_no)
    await auctioneer.rostrum("hammer", sale, lot_no)
    return f"lot {lot_no}: fair warning answered online by paddle {ONLINE_PADDLE} ({answered['type']}); sold"


async def _online_at_the_ask(live: LiveSale, desks: Desks, http: aiohttp.ClientSession, lot_no: int,
                             paddle: int) -> dict[str, Any]:  # fmt: skip
    ask = (await _ask(http, live, lot_no))["ask"]
    answer = await desks[str(paddle)].bid(live.sale.id, lot_no, ask)
    if answer["type"] != "ack":
        raise RuntimeError(f"paddle {paddle}'s online bid on lot {lot_no} was not taken: {answer}")
    return answer


async def _lot_two(live: LiveSale, desks: Desks, http: aiohttp.ClientSession, lot_no: int) -> str:
    """The hammer falls; an online bid arrives just after it and is shown to the auctioneer as a possible missed
    bid; the auctioneer reopens, the bidder bids again, and wins."""
    sale, auctioneer, clerk = live.sale.id, desks["auctioneer"], desks["clerk"]
    await auctioneer.rostrum("open_lot", sale, lot_no)
    await clerk.rostrum("take_bid", sale, lot_no, paddle=FLOOR_PADDLE, source="floor")
    ask = (await _ask(http, live, lot_no))["ask"]
    await auctioneer.rostrum("hammer", sale, lot_no)
    late = await desks[str(LATE_PADDLE)].bid(sale, lot_no, ask)  # sent before it saw the hammer
    missed = (await _ask(http, live, lot_no))["missed"]
    if late.get("reason") != "too_late" or not missed:
        raise RuntimeError(f"the late bid was not noted as a possible missed bid: {late}, {missed}")
    await auctioneer.rostrum("reopen_lot", sale, lot_no, reason="a missed online bid")
    await _online_at_the_ask(live, desks, http, lot_no, LATE_PADDLE)
    await auctioneer.rostrum("fair_warning", sale, lot_no)
    await auctioneer.rostrum("hammer", sale, lot_no)
    after = missed[0]["after_hammer_ms"]
    return f"lot {lot_no}: paddle {LATE_PADDLE}'s bid came {after} ms after the hammer; reopened; sold"


async def _lot_three(live: LiveSale, desks: Desks, http: aiohttp.ClientSession, lot_no: int) -> str:
    """Bids stop below the reserve: the lot is passed."""
    sale, auctioneer, clerk = live.sale.id, desks["auctioneer"], desks["clerk"]
    await auctioneer.rostrum("open_lot", sale, lot_no)
    await clerk.rostrum("take_bid", sale, lot_no, paddle=FLOOR_PADDLE, source="phone")
    await auctioneer.rostrum("fair_warning", sale, lot_no)
    await auctioneer.rostrum("pass_lot", sale, lot_no)
    return f"lot {lot_no}: passed below its reserve"


async def _lot_four(live: LiveSale, desks: Desks, http: aiohttp.ClientSession, lot_no: int) -> str:
    await desks["auctioneer"].rostrum("withdraw_lot", live.sale.id, lot_no, reason="consignor withdrew the stone")
    return f"lot {lot_no}: withdrawn"


async def _lot_five(live: LiveSale, desks: Desks, http: aiohttp.ClientSession, lot_no: int) -> str:
    """Two commission bids: the higher one wins against the room."""
    sale, auctioneer, clerk = live.sale.id, desks["auctioneer"], desks["clerk"]
    await auctioneer.rostrum("open_lot", sale, lot_no)
    console = await _ask(http, live, lot_no)
    await clerk.rostrum("take_bid", sale, lot_no, paddle=ONLINE_PADDLE, source="floor")
    await auctioneer.rostrum("fair_warning", sale, lot_no)
    await auctioneer.rostrum("hammer", sale, lot_no)
    return f"lot {lot_no}: the book opened it at {console['ask']}; the commission bid of paddle {LATE_PADDLE} won"


async def _summary(pg: asyncpg.Pool, live: LiveSale, notes: list[str]) -> dict[str, Any]:
    sale = live.sale.id
    rows = await pg.fetch(
        "SELECT lot_no, type, data::text FROM lot_events WHERE sale_id = $1 AND type IN ('LotSold', 'LotPassed', "
        "'LotWithdrawn', 'LotReopened', 'LateBidNoted', 'FairWarningCalled') ORDER BY lot_no, seq",
        sale,
    )
    counts: dict[str, int] = {}
    outcomes: dict[int, dict[str, Any]] = {}
    for lot_no, kind, data in rows:
        counts[kind] = counts.get(kind, 0) + 1
        if kind in ("LotSold", "LotPassed", "LotWithdrawn"):
            event = json.loads(data)
            outcomes[lot_no] = {"lot": lot_no, "status": kind.removeprefix("Lot").lower(),
                                "hammer": event.get("hammer", 0), "paddle": event.get("paddle")}  # fmt: skip
    verification = await audit.verify(pg, sale)
    return {
        "sale": sale,
        "lots": [outcomes[lot] for lot in sorted(outcomes)],
        "reopened": counts.get("LotReopened", 0),
        "missed_bids": counts.get("LateBidNoted", 0),
        "fair_warnings": counts.get("FairWarningCalled", 0),
        "notes": notes,
        "record_verified": verification.ok,
    }


__all__ = ["LiveSale", "build", "run"]
