"""`auction demo`: a timed sale of diamonds run in compressed time by a crowd of bidder bots.

It starts the whole process group (embedded Redis and PostgreSQL unless URLs are set), builds the sale, and
vets the bots as trade buyers do: each bot's company applies, a vetting officer decides, the bot asks to
register for the sale, the officer approves it with a paddle, a bidding limit and a deposit, and a settlement
officer records the deposit received. One company is rejected (its bids are refused `not_registered`) and one
gets a limit that covers only the cheapest lot's opening (its other bids are refused `over_limit`). The bots
then bid with API tokens over the real websocket API while a watcher prints the sale as it happens. At the end
it waits for the record in PostgreSQL to catch up, checks that every lot rebuilt from PostgreSQL alone equals
its state in Redis, and prints a summary per lot.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, TextIO

import asyncpg
import websockets

from auction import audit, catalog, identity, vetting
from auction.catalog import NewSale
from auction.config import DEFAULT_SANCTIONED, Settings
from auction.engine.lot import LotState
from auction.engine.premium import all_in
from auction.record import rebuild_from_record
from auction.redis_adapter import connect
from auction.store import BACKGROUND_PRIORITY, LotStore, service_store
from ops.demo import live as live_demo
from ops.demo import shill
from ops.demo import tender as tender_demo
from ops.demo.bots import Bot, Temperament
from ops.demo.house import house_desk
from ops.demo.people import PASSWORD, buyer_application
from ops.demo.sale import demo_sale, valuation
from ops.demo.settlement import settle_demo_sale
from ops.runner import process_group

TEMPERAMENTS: list[Temperament] = ["proxy", "active", "active", "sniper"]
CONSIGNORS = [("Ruth Abrams", "Abrams Fine Gems"), ("Jan de Wit", "De Wit Diamonds BV"), ("Priya Shah", "Shah Exports")]


@dataclass(frozen=True)
class DemoOptions:
    duration_s: int
    lots: int
    bidders: int
    port: int | None
    json: bool
    seed: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _money(cents: int) -> str:
    return f"${cents // 100:,}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _build(base_url: str, pg: asyncpg.Pool, rng: random.Random, options: DemoOptions) -> NewSale:
    """The timed sale, built over HTTP as the house's operators build one (ops/demo/house.py): its consignors, then
    its stones and lots in one catalogue file, then published."""
    sale_id = _now_ms()  # unique enough for a demo, and sortable
    async with house_desk(base_url, pg, str(sale_id)) as desk:
        consignors = [await desk.consignor(name, company) for name, company in CONSIGNORS]
        sale = demo_sale(rng, sale_id, consignors, options.lots, _now_ms(), options.duration_s)
        await desk.build(sale, by_file=True)
    return sale


REJECTED_BOT = 1  # index of the bot whose company is rejected (with three or more bots)
LIMITED_BOT = 2  # index of the bot with a small bidding limit (with three or more bots)
LIMIT = 10**11  # a generous limit for the others (minor units, all-in)


async def _operators(pg: asyncpg.Pool, tag: str) -> tuple[identity.Account, identity.Account]:
    officer = await identity.create_account(
        pg, f"vetting-{tag}@demo.invalid", "Demo Vetting Officer", PASSWORD, "vetting_officer"
    )
    cashier = await identity.create_account(
        pg, f"settlement-{tag}@demo.invalid", "Demo Settlement Officer", PASSWORD, "settlement_officer"
    )
    return officer, cashier


async def _register_bots(
    pg: asyncpg.Pool, store: LotStore, sale: NewSale, rng: random.Random, count: int
) -> tuple[list[Bot], dict[str, str]]:
    """Vet and register `count` bots; (bots, what vetting did to the ones treated differently)."""
    tag = str(sale.id)
    officer, cashier = await _operators(pg, tag)
    sanctioned = DEFAULT_SANCTIONED
    cheapest = min(lot.opening for lot in sale.lots)
    notes: dict[str, str] = {}
    bots = []
    for index in range(count):
        name = f"bot{index + 1:02d}"
        company, (rep,) = await vetting.apply(pg, buyer_application(f"Demo Trading {index + 1}", name, tag), sanctioned)
        paddle = 101 + index
        if count >= 3 and index == REJECTED_BOT:
            await vetting.decide(pg, store, company, "reject", "bank reference could not be verified", officer,
                                 sanctioned)  # fmt: skip
            notes[name] = "company rejected: not registered"
        else:
            await vetting.decide(pg, store, company, "approve", "documents in order", officer, sanctioned)
            await vetting.request_registration(pg, sale.id, rep)
            limit = all_in(cheapest, sale.settings.premium) if count >= 3 and index == LIMITED_BOT else LIMIT
            registered = await vetting.approve_registration(
                pg, store, sale.id, company, officer, paddle=paddle, limit=limit
            )
            deposit = registered.deposit_required
            await vetting.record_deposit(
                pg,
                store,
                sale.id,
                company,
                cashier,
                amount=deposit,
                reference=f"demo wire {sale.id}-{company}",
                reason="demo wire",
            )
            if limit != LIMIT:
                notes[name] = f"small limit {_money(limit)} all-in"
        token = (await identity.issue_token(pg, rep.id, "api", name="demo bot")).token
        values = {lot.lot: valuation(rng, lot) for lot in sale.lots}
        temperament = TEMPERAMENTS[index % len(TEMPERAMENTS)]
        if index == shill.shill_index(count):  # one bot bids for a consignor (ops/demo/shill.py)
            temperament, values = "shill", shill.shill_values(sale)
        bots.append(Bot(name, token, paddle, temperament, values, random.Random(index)))
    return bots, notes


async def _watch(ws_url: str, sale: NewSale, out: TextIO, done: asyncio.Event) -> None:
    """An anonymous watcher: prints the sale as the public sees it, and notices when every lot is final."""
    final: set[int] = set()
    titles = {lot.lot: lot.title for lot in sale.lots}
    async with websockets.connect(ws_url, max_size=2**20) as ws:
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id, "lots": None, "resume": None}))
        async for frame in ws:
            msg = json.loads(frame)
            if msg["type"] == "snapshot" and msg["lot_state"]["status"] in ("sold", "passed", "withdrawn"):
                final.add(msg["lot"])
            if msg["type"] == "event":
                line = _describe(msg["lot"], titles[msg["lot"]], msg["event"])
                if line:
                    print(line, file=out, flush=True)
                if msg["event"]["type"] in ("sold", "passed", "withdrawn"):
                    final.add(msg["lot"])
            if len(final) == len(sale.lots):
                done.set()
                return


def _describe(lot: int, title: str, event: dict[str, Any]) -> str | None:
    match event["type"]:
        case "opened":
            return f"lot {lot:>3} open       {title}"
        case "bid":
            auto = " (auto)" if event["auto"] else ""
            met = "" if event["reserve_met"] else "  reserve not met"
            return f"lot {lot:>3} bid        paddle {event['paddle']} {_money(event['amount'])}{auto}{met}"
        case "extended":
            ends = time.strftime("%H:%M:%S", time.localtime(event["end_ms"] // 1000))
            return f"lot {lot:>3} extended   soft close: now ends {ends}"
        case "sold":
            return f"lot {lot:>3} SOLD       {_money(event['hammer'])} to paddle {event['paddle']}"
        case "passed":
            return f"lot {lot:>3} passed     reserve not reached"
    return None


async def _await_record(
    pg: asyncpg.Pool, store: LotStore, states: list[LotState], sale_id: int, timeout_s: float = 30.0
) -> int:
    """Waits until PostgreSQL holds every event and journal entry Redis has; returns how many events."""
    expected = sum(state.seq for state in states)
    journal = await store.journal_length(sale_id)
    deadline = time.monotonic() + timeout_s
    while True:
        recorded: int = await pg.fetchval("SELECT count(*) FROM lot_events WHERE sale_id = $1", sale_id)
        entries: int = await pg.fetchval("SELECT count(*) FROM sale_journal WHERE sale_id = $1", sale_id)
        if (recorded >= expected and entries >= journal) or time.monotonic() > deadline:
            return recorded
        await asyncio.sleep(0.2)


def _lot_summary(state: LotState) -> dict[str, Any]:
    sold = state.status == "sold"
    return {
        "lot": state.terms.lot,
        "status": state.status,
        "hammer": state.price if sold else 0,
        "reserve": state.terms.reserve,
        "winner_paddle": state.leader_paddle if sold else None,
        "bids": state.bid_count,
        "extensions": state.extensions,
    }


def _print_table(summary: dict[str, Any], titles: dict[int, str], out: TextIO) -> None:
    print("\n lot  result  hammer        reserve       paddle  bids  ext  stone", file=out)
    for row in summary["lots"]:
        paddle = row["winner_paddle"] or "-"
        print(
            f" {row['lot']:>3}  {row['status']:<6}  {_money(row['hammer']):>12}  {_money(row['reserve']):>12}"
            f"  {paddle!s:>6}  {row['bids']:>4}  {row['extensions']:>3}  {titles[row['lot']]}",
            file=out,
        )
    sold = [row for row in summary["lots"] if row["status"] == "sold"]
    print(
        f"\n{len(sold)} sold, {len(summary['lots']) - len(sold)} passed; total hammer "
        f"{_money(sum(r['hammer'] for r in sold))}; bids accepted {summary['bids_accepted']}, "
        f"rejected {summary['bids_rejected']} {dict(summary['bids_rejected_by_reason'])}",
        file=out,
    )


async def run_demo(settings: Settings, options: DemoOptions) -> int:
    out = sys.stderr if options.json else sys.stdout
    port = options.port or _free_port()
    rng = random.Random(options.seed)
    async with process_group(settings, "127.0.0.1", port) as group:
        redis = connect(group.services.redis_url)
        pg = await asyncpg.create_pool(group.services.database_url, min_size=1, max_size=4)
        store = service_store(redis, pg, priority=BACKGROUND_PRIORITY)
        try:
            summary = await _run_sale(group.base_url, pg, store, rng, options, out)
            summary["live"] = await _run_live(group.base_url, pg, store, rng, out)
            summary["tender"] = await _run_tender(group.base_url, pg, store, out)
        finally:
            await store.close()
            await pg.close()
            await redis.aclose()
    if options.json:
        print(json.dumps(summary))
    clean = summary["record_verified"] and summary["settlement"]["reconcile"] == "clean"
    return 0 if clean and summary["live"]["record_verified"] and summary["tender"]["record_verified"] else 1


async def _run_live(
    base_url: str, pg: asyncpg.Pool, store: LotStore, rng: random.Random, out: TextIO
) -> dict[str, Any]:
    """The live sale (ops/demo/live.py), after the timed one, and its bills once settlement has made them."""
    sale = await live_demo.build(base_url, pg, store, rng, _now_ms())
    print(f"\nlive sale {sale.sale.id}: the auctioneer takes the rostrum", file=out)
    summary = await live_demo.run(base_url, pg, store, sale, out)
    sold = sum(1 for lot in summary["lots"] if lot["status"] == "sold")
    summary["billed"] = await _await_bills(pg, sale.sale.id, sold)
    return summary


async def _run_tender(base_url: str, pg: asyncpg.Pool, store: LotStore, out: TextIO) -> dict[str, Any]:
    """The sealed-bid tender of rough parcels (ops/demo/tender.py), after the live sale, and its bills."""
    tender = await tender_demo.build(base_url, pg, store, _now_ms)
    print(f"\ntender {tender.sale}: rough parcels by sealed bid; viewing, then a bid window", file=out)
    summary = await tender_demo.run(base_url, pg, store, tender, out)
    sold = sum(1 for lot in summary["lots"] if lot["status"] == "sold")
    summary["billed"] = await _await_bills(pg, tender.sale, sold)
    return summary


async def _await_bills(pg: asyncpg.Pool, sale_id: int, sold: int, timeout_s: float = 20.0) -> int:
    """The lots of the sale settlement has billed, once it has billed every sold one (or the time is up)."""
    billed = 0
    for _ in range(int(timeout_s / 0.2)):
        billed = await pg.fetchval(
            "SELECT count(DISTINCT lot_no) FROM invoice_lines WHERE sale_id = $1 AND source = 'hammer'", sale_id
        )
        if billed >= sold:
            break
        await asyncio.sleep(0.2)
    return billed


async def _run_sale(
    base_url: str, pg: asyncpg.Pool, store: LotStore, rng: random.Random, options: DemoOptions, out: TextIO
) -> dict[str, Any]:
    sale = await _build(base_url, pg, rng, options)
    bots, notes = await _register_bots(pg, store, sale, rng, options.bidders)
    ws_url = base_url.replace("http://", "ws://") + "/ws"
    print(
        f"sale {sale.id}: {len(sale.lots)} lots, {len(bots)} bidders. Watch it at {base_url}/sales/{sale.id}", file=out
    )
    for name, note in notes.items():
        print(f"vetting: {name}: {note}", file=out)
    done = asyncio.Event()
    watcher = asyncio.create_task(_watch(ws_url, sale, out, done))
    bidding = [asyncio.create_task(bot.run(ws_url, sale.id, done)) for bot in bots]
    cap = max(lot.end_ms for lot in catalog.terms_for(sale)) - _now_ms() + 4 * sale.settings.soft_close.window_ms
    try:
        await asyncio.wait_for(done.wait(), timeout=cap / 1000 + 30)
    finally:
        for task in [watcher, *bidding]:
            task.cancel()
        await asyncio.gather(watcher, *bidding, return_exceptions=True)
    states = sorted(await store.states(sale.id), key=lambda s: s.terms.lot)
    recorded = await _await_record(pg, store, states, sale.id)
    rebuilt = [await rebuild_from_record(pg, state.terms) for state in states]
    audited = await audit.verify(pg, sale.id)
    verified = rebuilt == states and audited.ok
    rejected: Counter[str] = sum((bot.rejected for bot in bots), Counter())
    summary = {
        "sale": sale.id,
        "lots": [_lot_summary(state) for state in states],
        "bids_accepted": sum(bot.accepted for bot in bots),
        "bids_rejected": sum(rejected.values()),
        "bids_rejected_by_reason": dict(rejected),
        "bots_rejected_by_reason": {bot.name: dict(bot.rejected) for bot in bots if bot.rejected},
        "vetting": notes,
        "events_recorded": recorded,
        "record_verified": verified,
        "audit": {
            "commands": audited.commands,
            "events": audited.events,
            "problems": [str(p) for p in audited.problems],
        },
    }
    _print_table(summary, {lot.lot: lot.title for lot in sale.lots}, out)
    print(
        f"record: {recorded} events in PostgreSQL; every lot rebuilt from it "
        + ("equals its state in Redis" if rebuilt == states else "DIFFERS from Redis"),
        file=out,
    )
    print(f"audit: {audited.report()}", file=out)
    summary["shill"] = await shill.monitor_summary(base_url, pg, sale.id, bots, out)
    sold = sum(1 for state in states if state.status == "sold")
    summary["settlement"] = await settle_demo_sale(pg, sale.id, sold, out)
    return summary
