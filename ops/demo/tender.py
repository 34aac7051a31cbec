"""The demo's sealed-bid tender: rough parcels, each travelling under its Kimberley Process certificate, bid per
carat (docs/TENDER.md).

Everyone works through the gateway as a person or a program would. Three officers each register a key of their
own (PUT /api/tender/officer-key); the auctioneer creates the tender (POST /api/tenders), whose key is split
2 of 3 among them. Three vetted buyers bid per carat, over the websocket (`tender_bid`, one with a copy sealed to
its own key) and over HTTP; one replaces its bid, two tie. After the close each buyer finds its receipt's
commitment in the published list; one officer gives a share from the console's route, a second with
`auction tender share` (the CLI, in its own process), and the gateway reveals at two. Of the two lots below their
reserve the consignor accepts one and declines the other. Settlement bills the lots sold.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import asyncpg
import websockets

from auction import audit, identity, vetting
from auction.config import DEFAULT_SANCTIONED, environment_with_token
from auction.engine.formats.tender import total_of
from auction.store import LotStore
from auction.tender import records
from auction.tender.officers import new_key_file, private_from_key_file
from auction.tender.sealing import new_key_pair, open_browser_seal, public_of
from ops.demo.house import house_desk
from ops.demo.people import PASSWORD, buyer_application

ANSWER_TIMEOUT_S = 10.0
VIEWING_MS = 4_000  # from creation to the bid window: the buyers are vetted and registered meanwhile
WINDOW_MS = 3_000  # the bid window: a few seconds, so the demo stays short
OFFICERS, THRESHOLD = 3, 2
OFFICER_ROLES: tuple[identity.Role, ...] = ("vetting_officer", "settlement_officer", "admin")
BUYERS = ("A", "B", "C")
ACCEPTED_LOT, DECLINED_LOT = 3, 4


@dataclass(frozen=True)
class Parcel:
    lot: int
    title: str
    carat_points: int
    reserve: int
    kp: str  # the Kimberley Process certificate the parcel travels under


PARCELS = [
    Parcel(1, "Rough parcel, 10.40 ct, Orapa, 4 stones", 1_040, 1_500_000, "BW-KP-2026-001842"),
    Parcel(2, "Rough parcel, 12.66 ct, Jwaneng, 6 stones", 1_266, 2_000_000, "BW-KP-2026-001877"),
    Parcel(3, "Rough parcel, 7.25 ct, Venetia, 3 stones", 725, 1_500_000, "ZA-KP-2026-004410"),
    Parcel(4, "Rough parcel, 25.08 ct, Catoca, 1 stone", 2_508, 6_000_000, "AO-KP-2026-000931"),
]

# (buyer, lot, US cents per carat, over): in order of submission. B replaces its first bid on lot 1; A and C tie
# on lot 2 (A, earlier, wins); lots 3 and 4 end below their reserves.
BIDS: list[tuple[str, int, int, str]] = [
    ("A", 1, 185_000, "ws"),
    ("B", 1, 172_000, "http"),
    ("A", 2, 170_000, "ws"),
    ("C", 2, 170_000, "http"),
    ("B", 3, 190_000, "http"),
    ("C", 4, 210_000, "ws"),
    ("B", 1, 190_500, "http"),  # B's replacement: the latest counts
]


@dataclass
class Officer:
    account: identity.Account
    token: str
    key_file: str  # the officer's own key file's text (the private half stays with them)


@dataclass
class Buyer:
    name: str
    company: int
    token: str
    private: bytes  # the key their client holds: their copies are sealed to its public half
    receipts: dict[int, dict[str, Any]] = field(default_factory=dict)  # lot -> the latest receipt


@dataclass
class DemoTender:
    sale: int
    officers: list[Officer]
    buyers: dict[str, Buyer]
    consignor_token: str
    closes_ms: int


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _call(http: aiohttp.ClientSession, method: str, path: str, token: str, body: Any = None,
                expect: tuple[int, ...] = (200,)) -> Any:  # fmt: skip
    async with http.request(method, path, headers=_bearer(token), json=body) as reply:
        answer = await reply.json(content_type=None)
        if reply.status not in expect:
            raise RuntimeError(f"the tender's {method} {path} was answered {reply.status}: {answer}")
        return answer


# ---- the tender, created as the house creates one ---------------------------------------------------------------


async def build(base_url: str, pg: asyncpg.Pool, store: LotStore, now_ms: Callable[[], int]) -> DemoTender:
    """Officers with keys of their own, the consignor, the tender created over HTTP, and three buyers vetted and
    registered during its viewing."""
    tag = str(now_ms() + 2)
    async with house_desk(base_url, pg, tag) as desk:
        consignor = await desk.consignor("Kalahari Rough", "Kalahari Rough Producers Ltd")
        officers = [await _officer(desk.http, pg, role, tag) for role in OFFICER_ROLES]
        start = now_ms()
        body = _tender_body(int(tag), consignor, officers, start)
        await _call(desk.http, "POST", "/api/tenders", desk.tokens["auctioneer"], body, expect=(201,))
    sale = int(tag)
    account = await identity.create_account(pg, f"consignor-{tag}@demo.invalid", "Kalahari Rough", PASSWORD,
                                            "consignor", consignor_id=consignor)  # fmt: skip
    consignor_token = (await identity.issue_token(pg, account.id, "api", name="tender demo")).token
    vetter = await identity.create_account(pg, f"tender-vetting-{tag}@demo.invalid", "Demo Officer", PASSWORD,
                                           "vetting_officer")  # fmt: skip
    buyers = {name: await _buyer(pg, store, sale, vetter, name, tag) for name in BUYERS}
    return DemoTender(sale, officers, buyers, consignor_token, start + VIEWING_MS + WINDOW_MS)


async def _officer(http: aiohttp.ClientSession, pg: asyncpg.Pool, role: identity.Role, tag: str) -> Officer:
    account = await identity.create_account(pg, f"officer-{role}-{tag}@demo.invalid", f"Tender officer ({role})",
                                            PASSWORD, role)  # fmt: skip
    token = (await identity.issue_token(pg, account.id, "api", name="tender officer")).token
    key_file, public = new_key_file()  # as `auction tender keygen` makes it; only the officer keeps it
    await _call(http, "PUT", "/api/tender/officer-key", token, {"public_key": base64.b64encode(public).decode()})
    return Officer(account, token, key_file)


def _tender_body(sale: int, consignor: int, officers: list[Officer], start: int) -> dict[str, Any]:
    bids_from = start + VIEWING_MS
    tender = {"bids_from_ms": bids_from, "threshold": THRESHOLD, "officers": [o.account.id for o in officers]}
    return {
        "id": sale, "name": "Rough Diamonds: Sealed Tender", "currency": "USD", "format": "tender",
        "starts_at_ms": start, "first_close_ms": bids_from + WINDOW_MS,
        "settings": {"stagger_ms": 0, "tender": tender},
        "lots": [{"lot": p.lot, "title": p.title, "consignor_id": consignor,
                  "diamond": {"carat_points": p.carat_points, "shape": "Rough",
                              "report_override_reason": "rough parcel: viewed, not graded"},
                  "low_estimate": p.reserve, "high_estimate": p.reserve * 2, "reserve": p.reserve, "opening": 1,
                  "details": {"kp_certificate": p.kp}} for p in PARCELS],
    }  # fmt: skip


async def _buyer(pg: asyncpg.Pool, store: LotStore, sale: int, officer: identity.Account, name: str,
                 tag: str) -> Buyer:  # fmt: skip
    application = buyer_application(f"Tender Buyer {name}", f"tender{name}", tag)
    company, (representative,) = await vetting.apply(pg, application, DEFAULT_SANCTIONED)
    await vetting.decide(pg, store, company, "approve", "documents in order", officer, DEFAULT_SANCTIONED)
    await vetting.request_registration(pg, sale, representative)
    paddle = 301 + BUYERS.index(name)
    # no deposit asked: the timed and live sales show deposits; this one shows the seal
    await vetting.approve_registration(pg, store, sale, company, officer, paddle=paddle, limit=10**11, deposit=0)
    token = (await identity.issue_token(pg, representative.id, "api", name="tender demo")).token
    private, _ = new_key_pair()
    return Buyer(name, company, token, private)


# ---- the tender, from viewing to settlement ---------------------------------------------------------------------


async def run(base_url: str, pg: asyncpg.Pool, store: LotStore, tender: DemoTender, out: TextIO) -> dict[str, Any]:
    sale = tender.sale
    async with aiohttp.ClientSession(base_url) as http:
        await _until(store, sale, {"open"})
        print(f"tender {sale}: the bid window is open", file=out, flush=True)
        await _bid(base_url, http, tender, out)
        await _until(store, sale, {"awaiting_reveal"})
        checked = await _check_receipts(http, tender)
        print(f"tender: closed; {checked} receipts found in the published commitments", file=out, flush=True)
        copies = await _read_copies(http, tender)
        shares = await _reveal(base_url, http, tender, out)
        results = await _call(http, "GET", f"/api/sales/{sale}/tender/results", tender.consignor_token)
        answered = await _answer_offers(http, tender, results["offers"], out)
        final = await _call(http, "GET", f"/api/sales/{sale}/tender/results", tender.consignor_token)
        won = {name: await _won(http, sale, buyer) for name, buyer in tender.buyers.items()}
    await _await_record(pg, store, sale)
    verification = await audit.verify(pg, sale)
    lots = [_lot_summary(row) for row in final["lots"]]
    for row in lots:
        print(f"tender: lot {row['lot']} {row['status']:<6} ${row['amount'] // 100:,} "
              f"({row['kp_certificate']})", file=out, flush=True)  # fmt: skip
    return {
        "sale": sale, "lots": lots, "officers": len(tender.officers), "threshold": THRESHOLD, "shares": shares,
        "receipts_checked": checked, "copies_opened": copies, "offers": answered, "won": won,
        "record_verified": verification.ok,
    }  # fmt: skip


async def _until(store: LotStore, sale: int, statuses: set[str], timeout_s: float = 30.0) -> None:
    """Until every lot of the tender is in one of `statuses` (the scheduler moves them on time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(state.status in statuses for state in await store.states(sale)):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"tender {sale}: its lots did not reach {sorted(statuses)} in {timeout_s} s")


async def _bid(base_url: str, http: aiohttp.ClientSession, tender: DemoTender, out: TextIO) -> None:
    """The buyers' sealed bids, per carat, each answered with a receipt (the amount is never in it)."""
    weights = {p.lot: p.carat_points for p in PARCELS}
    for index, (name, lot, per_carat, over) in enumerate(BIDS, start=1):
        buyer = tender.buyers[name]
        bid = {"sale": tender.sale, "lot": lot, "client_id": f"tender-{name}-{index}", "per_carat": per_carat}
        if name == "A":  # A's client keeps a copy sealed to its own key, to read its bids before the close
            bid["buyer_key"] = base64.b64encode(public_of(buyer.private)).decode()
        receipt = await (_ws_bid(base_url, buyer, bid) if over == "ws" else _http_bid(http, buyer, bid))
        buyer.receipts[lot] = receipt
        total = total_of(per_carat, weights[lot])
        print(f"tender: buyer {name} sealed a bid on lot {lot} ({over}): ${per_carat // 100:,}/ct = "
              f"${total // 100:,}; receipt {receipt['commitment'][:16]}...", file=out, flush=True)  # fmt: skip


async def _ws_bid(base_url: str, buyer: Buyer, bid: dict[str, Any]) -> dict[str, Any]:
    ws_url = base_url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(ws_url, additional_headers=_bearer(buyer.token)) as ws:
        await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT_S)  # welcome
        await ws.send(json.dumps({"type": "tender_bid", **bid}))
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT_S))
    if answer["type"] != "tender_receipt":
        raise RuntimeError(f"buyer {buyer.name}'s sealed bid was refused: {answer}")
    return answer


async def _http_bid(http: aiohttp.ClientSession, buyer: Buyer, bid: dict[str, Any]) -> dict[str, Any]:
    path = f"/api/sales/{bid['sale']}/lots/{bid['lot']}/tender-bids"
    body = {key: value for key, value in bid.items() if key not in ("sale", "lot")}
    answer: dict[str, Any] = await _call(http, "POST", path, buyer.token, body)
    return answer


async def _check_receipts(http: aiohttp.ClientSession, tender: DemoTender) -> int:
    """Each buyer's latest receipt per lot is in the list published at the close, as any buyer can check."""
    published = await _call(http, "GET", f"/api/sales/{tender.sale}/tender/commitments", tender.consignor_token)
    listed = {row["lot"]: set(row["commitments"]) for row in published}
    checked = 0
    for buyer in tender.buyers.values():
        for lot, receipt in buyer.receipts.items():
            if receipt["commitment"] not in listed[lot]:
                raise RuntimeError(f"buyer {buyer.name}'s receipt for lot {lot} is not in the published list")
            checked += 1
    return checked


async def _read_copies(http: aiohttp.ClientSession, tender: DemoTender) -> int:
    """Buyer A reads its own bids before the reveal, from the copies only its key opens: each says what A bid."""
    buyer = tender.buyers["A"]
    bid_per_carat = {f"tender-{name}-{index}": figure for index, (name, _, figure, _) in enumerate(BIDS, start=1)}
    mine = await _call(http, "GET", f"/api/sales/{tender.sale}/tender/my-bids", buyer.token)
    opened = 0
    for bid in mine["bids"]:
        if bid["copy"] is not None:
            place = records.copy_place(tender.sale, bid["lot"], buyer.company, bid["client_id"])
            copy = json.loads(open_browser_seal(bid["copy"], buyer.private, place))
            if copy["per_carat"] != bid_per_carat[bid["client_id"]]:
                raise RuntimeError(f"buyer A's copy of {bid['client_id']} says {copy}")
            opened += 1
    return opened


async def _reveal(base_url: str, http: aiohttp.ClientSession, tender: DemoTender, out: TextIO) -> dict[str, str]:
    """The first officer's share from the console's route (fetched sealed, opened with their key); the second's
    with `auction tender share` in its own process: the gateway reveals at the second. The third gives none."""
    first, second, _ = tender.officers
    sale = tender.sale
    mine = await _call(http, "GET", f"/api/sales/{sale}/tender/shares/mine", first.token)
    private = private_from_key_file(first.key_file)
    assert private is not None
    share = open_browser_seal(mine["sealed"], private, records.share_place(sale, mine["x"], mine["officer"]))
    held = await _call(http, "POST", f"/api/sales/{sale}/tender/shares", first.token, {"shares": [share]},
                       expect=(202,))  # fmt: skip
    print(f"tender: officer {first.account.id} gave a share over HTTP: {held['held']} of {held['needed']}; "
          "nothing is opened yet", file=out, flush=True)  # fmt: skip
    report = await asyncio.to_thread(_cli_share, base_url, sale, second)
    print(f"tender: officer {second.account.id} gave a share with `auction tender share`: revealed by officers "
          f"{report['officers']}", file=out, flush=True)  # fmt: skip
    return {str(first.account.id): "http", str(second.account.id): "cli"}


def _cli_share(base_url: str, sale: int, officer: Officer) -> dict[str, Any]:
    """`auction tender share SALE --file KEYFILE`, as the officer runs it: their key file exists only for it."""
    with tempfile.TemporaryDirectory(prefix="tender-officer-") as folder:
        path = Path(folder) / "officer.key"
        path.touch(mode=0o600)
        path.write_text(officer.key_file)
        argv = [sys.executable, "-m", "auction", "tender", "share", str(sale), "--file", str(path), "--url", base_url]
        done = subprocess.run(argv, env=environment_with_token(officer.token), capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"auction tender share failed ({done.returncode}): {done.stderr or done.stdout}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


async def _answer_offers(http: aiohttp.ClientSession, tender: DemoTender, offers: list[dict[str, Any]],
                         out: TextIO) -> dict[str, str]:  # fmt: skip
    """The consignor takes the top bid below the reserve on one lot and declines it on the other."""
    answered = {}
    for offer in offers:
        verb = "accept" if offer["lot"] == ACCEPTED_LOT else "decline"
        path = f"/api/sales/{tender.sale}/lots/{offer['lot']}/tender/{verb}"
        answer = await _call(http, "POST", path, tender.consignor_token)
        answered[str(offer["lot"])] = answer["status"]
        amount, reserve = offer["amount"] // 100, offer["reserve"] // 100
        print(f"tender: lot {offer['lot']}: the consignor chose to {verb} ${amount:,} against a reserve of "
              f"${reserve:,}: {answer['status']}", file=out, flush=True)  # fmt: skip
    return answered


async def _won(http: aiohttp.ClientSession, sale: int, buyer: Buyer) -> list[int]:
    """The lots a buyer won, as their own bids' ranks show them (results name no bidder)."""
    mine = await _call(http, "GET", f"/api/sales/{sale}/tender/my-bids", buyer.token)
    return sorted(bid["lot"] for bid in mine["bids"] if bid["counts"] and bid["won"])


async def _await_record(pg: asyncpg.Pool, store: LotStore, sale: int, timeout_s: float = 30.0) -> None:
    """Until PostgreSQL holds every event and journal entry of the tender that Redis has (the persister's copy)."""
    events = sum(state.seq for state in await store.states(sale))
    journal = await store.journal_length(sale)
    for _ in range(int(timeout_s / 0.2)):
        recorded = await pg.fetchval("SELECT count(*) FROM lot_events WHERE sale_id = $1", sale)
        entries = await pg.fetchval("SELECT count(*) FROM sale_journal WHERE sale_id = $1", sale)
        if recorded >= events and entries >= journal:
            return
        await asyncio.sleep(0.2)


def _lot_summary(row: dict[str, Any]) -> dict[str, Any]:
    parcel = next(p for p in PARCELS if p.lot == row["lot"])
    return {"lot": row["lot"], "status": row["status"], "amount": row["amount"], "per_carat": row["per_carat"],
            "reserve": parcel.reserve, "carat_points": parcel.carat_points, "kp_certificate": parcel.kp,
            "bids": row["bids"]}  # fmt: skip


__all__ = ["DemoTender", "build", "run"]
