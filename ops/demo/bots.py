"""Bidder bots for the demo: each holds its own websocket, as a trade buyer's program would.

Three temperaments, as buyers behave on the floor: `proxy` leaves a hidden maximum early and waits; `active`
answers every outbid with the next acceptable amount while it is worth it; `sniper` stays quiet until the
soft-close window and then bids. And one that no honest buyer has, for the shill monitor to catch: `shill` bids
only on one consignor's lots (its values say which), opens them and raises whoever leads by the least step, at
once, and only while at least half the lot's time is left, so that it pushes the price up and rarely wins. They
see only what the protocol shows a buyer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import websockets

Temperament = Literal["proxy", "active", "sniper", "shill"]


@dataclass
class LotSeen:
    price: int = 0
    next_minimum: int = 0
    leader_paddle: int | None = None
    end_ms: int = 0
    status: str = "scheduled"
    halfway_ms: int = 0  # half the lot's scheduled time gone (a shill bids only before it)


@dataclass
class Bot:
    name: str
    token: str
    paddle: int
    temperament: Temperament
    values: dict[int, int]  # lot -> the most this buyer will pay, in cents
    rng: random.Random
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    lots: dict[int, LotSeen] = field(default_factory=dict)
    _pending: set[int] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _sent: int = 0
    _clock_offset_ms: int = 0

    async def run(self, ws_url: str, sale: int, done: asyncio.Event) -> None:
        async with websockets.connect(f"{ws_url}?token={self.token}", max_size=2**20) as ws:
            await ws.send(json.dumps({"type": "subscribe", "sale": sale, "lots": None, "resume": None}))
            sender = asyncio.create_task(self._sniper_loop(ws, sale, done))
            try:
                async for frame in ws:
                    self._on_frame(ws, sale, json.loads(frame))
                    if done.is_set():
                        break
            finally:
                sender.cancel()

    def _on_frame(self, ws: Any, sale: int, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "welcome":
            self._clock_offset_ms = msg["server_ms"] - _now_ms()
        elif kind == "snapshot":
            view = msg["lot_state"]
            self.lots[view["lot"]] = LotSeen(
                view["price"], view["next_minimum"], view["leader_paddle"], view["end_ms"], view["status"],
                (view["start_ms"] + view["end_ms"]) // 2,
            )  # fmt: skip
            self._consider(ws, sale, view["lot"])
        elif kind == "event":
            self._apply(msg["lot"], msg["event"])
            self._consider(ws, sale, msg["lot"])
        elif kind == "ack":
            self.accepted += 1
            self._pending.discard(msg["lot"])
        elif kind == "rejected":
            self.rejected[msg["reason"]] += 1
            self._pending.discard(msg["lot"])

    def _apply(self, lot: int, event: dict[str, Any]) -> None:
        seen = self.lots.setdefault(lot, LotSeen())
        match event["type"]:
            case "bid":
                seen.price, seen.next_minimum = event["amount"], event["next_minimum"]
                seen.leader_paddle = event["paddle"]
            case "opened":
                seen.status, seen.end_ms = "open", event["end_ms"]
            case "extended":
                seen.end_ms = event["end_ms"]
            case "sold" | "passed" | "withdrawn":
                seen.status = event["type"]

    def _wants(self, lot: int) -> int | None:
        """The amount to bid on `lot` now, or None."""
        seen = self.lots.get(lot)
        value = self.values.get(lot, 0)
        if seen is None or seen.status != "open" or lot in self._pending:
            return None
        if seen.leader_paddle == self.paddle or seen.next_minimum > value:
            return None
        return seen.next_minimum

    def _consider(self, ws: Any, sale: int, lot: int) -> None:
        if self.temperament == "sniper":
            return
        if self.temperament == "shill":
            self._push(ws, sale, lot)
            return
        if self.temperament == "proxy":
            if self.lots[lot].leader_paddle != self.paddle and lot not in self._pending and self._wants(lot):
                self._send(ws, sale, lot, "max_bid", self.values[lot], delay_s=self.rng.uniform(0.1, 2.0))
            return
        amount = self._wants(lot)
        if amount is not None:
            self._send(ws, sale, lot, "bid", amount, delay_s=self.rng.uniform(0.2, 1.5))

    def _push(self, ws: Any, sale: int, lot: int) -> None:
        """The shill's move: while half the lot's time is left and the next step is within its ceiling, open the
        lot or raise whoever leads by the least step, at once (a proxy answers at once too, so it goes on)."""
        seen, amount = self.lots[lot], self._wants(lot)
        if amount is not None and _now_ms() + self._clock_offset_ms < seen.halfway_ms:
            self._send(ws, sale, lot, "bid", amount, delay_s=self.rng.uniform(0.02, 0.1))

    async def _sniper_loop(self, ws: Any, sale: int, done: asyncio.Event) -> None:
        """Snipers bid in the last seconds before a lot's end, which is what soft close answers."""
        while not done.is_set():
            await asyncio.sleep(0.25)
            now = _now_ms() + self._clock_offset_ms
            for lot, seen in list(self.lots.items()):
                amount = self._wants(lot)
                if self.temperament == "sniper" and amount is not None and 0 < seen.end_ms - now < 3_000:
                    self._send(ws, sale, lot, "bid", amount, delay_s=0)

    def _send(self, ws: Any, sale: int, lot: int, kind: str, amount: int, delay_s: float) -> None:
        self._pending.add(lot)
        self._sent += 1
        frame = {"type": kind, "sale": sale, "lot": lot, "amount": amount, "client_id": f"{self.name}-{self._sent}"}
        task = asyncio.create_task(_send_later(ws, frame, delay_s))
        self._tasks.add(task)  # a reference, so the task isn't collected mid-flight
        task.add_done_callback(self._tasks.discard)


async def _send_later(ws: Any, frame: dict[str, Any], delay_s: float) -> None:
    if delay_s:
        await asyncio.sleep(delay_s)
    with contextlib.suppress(websockets.ConnectionClosed):
        await ws.send(json.dumps(frame))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
