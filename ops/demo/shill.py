"""The demo's shill bot, and what the shill monitor made of the sale.

One bot of the crowd (the last, once there are five or more) bids for a consignor instead of for itself: only on
that consignor's lots (the first lot's consignor), up to the lot's low estimate (the consignor wants the price
there; most buyers value a stone above it, so they outbid the shill in the end), raising whoever leads by the
least step while at least half the lot's time is left (ops/demo/bots.py, `shill`).
After the sale the demo asks the monitor, as an operator would (`GET /api/sales/{sale}/shill-scores`), and the
summary says whom it flagged: the shill bot, and no honest one.
"""

from __future__ import annotations

import secrets
from typing import Any, TextIO

import aiohttp
import asyncpg

from auction import identity
from auction.catalog import NewSale
from ops.demo.bots import Bot

MIN_CROWD = 5  # bots, from which one is a shill (the two before it are kept for vetting's rejected and limited)


def shill_index(count: int) -> int | None:
    """Which of `count` bots is the shill, if any."""
    return count - 1 if count >= MIN_CROWD else None


def shill_values(sale: NewSale) -> dict[int, int]:
    """The shill's ceilings: each lot's low estimate, on the lots of the first lot's consignor only."""
    consignor = sale.lots[0].consignor_id
    return {lot.lot: lot.low_estimate for lot in sale.lots if lot.consignor_id == consignor}


async def monitor_summary(base_url: str, pg: asyncpg.Pool, sale: int, bots: list[Bot], out: TextIO) -> dict[str, Any]:
    """The monitor's scores of the sale's bots, read over HTTP by an auctioneer, and whom it flagged."""
    report = await _scores(base_url, pg, sale)
    names = {bot.paddle: bot.name for bot in bots}
    scores = {names[s["paddle"]]: s["score"] for s in report["bidders"] if s["paddle"] in names}
    flagged = sorted(names[s["paddle"]] for s in report["bidders"] if s["flagged"] and s["paddle"] in names)
    shill = next((bot.name for bot in bots if bot.temperament == "shill"), None)
    summary = {"threshold": report["threshold"], "shill_bot": shill, "flagged": flagged, "scores": scores}
    print(f"shill monitor: flagged {', '.join(flagged) or 'nobody'} (threshold {report['threshold']}); the shill "
          f"bot is {shill or 'absent'}; scores {scores}", file=out)  # fmt: skip
    return summary


async def _scores(base_url: str, pg: asyncpg.Pool, sale: int) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    auctioneer = await identity.create_account(pg, f"monitor-{tag}@demo.invalid", "Demo Auctioneer", None, "auctioneer")
    token = (await identity.issue_token(pg, auctioneer.id, "api", name="demo shill monitor")).token
    async with (
        aiohttp.ClientSession(base_url) as http,
        http.get(f"/api/sales/{sale}/shill-scores", headers={"Authorization": f"Bearer {token}"}) as reply,
    ):
        reply.raise_for_status()
        report: dict[str, Any] = await reply.json()
    return report
