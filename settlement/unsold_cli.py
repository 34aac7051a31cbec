"""`auction settlement ...` commands for the post-sale window, for operators. Wired into settlement/cli.py by

    from settlement import unsold_cli
    unsold_cli.add_commands(sub)                        # in add_commands, `sub` being the settlement subparsers
    done = await unsold_cli.command(pg, command, args)  # in _command, before its own match; None: not ours

auction settlement passed SALE [--consignor ID]                   passed lots: offers, consent, relisting, return
auction settlement post-sale-offer SALE LOT BUYER AMOUNT CLIENT_ID   record a buyer's offer (told to the house)
auction settlement post-sale-answer OFFER {accept,decline}         record the answer of whoever answers it
auction settlement relist-consent SALE LOT RESERVE                 record the consignor's consent to relist
auction settlement relist-withdraw SALE LOT                        record its withdrawal
auction settlement relist-into SALE [--redis-url URL]              waiting stones become lots of this later sale
auction settlement unsold-sweep [--sale SALE]                      reserve offers, windows closed, returns

Each takes `--now MS` (default: the wall clock). `relist-into` creates the new lots in Redis too when the sale
is loaded there (`--redis-url`, default the Redis the command runs against; without one, whoever loads the
sale later reads them from the catalogue).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import asyncpg
import msgspec

from auction.redis_adapter import connect
from settlement import unsold_relisting, unsold_sweep, unsold_views, unsold_window
from settlement.errors import SettlementError
from settlement.service import wall_clock_ms

COMMANDS = ("passed", "post-sale-offer", "post-sale-answer", "relist-consent", "relist-withdraw", "relist-into",
            "unsold-sweep")  # fmt: skip


def add_commands(sub: Any) -> None:
    """Add the commands to the `auction settlement` subparsers."""
    passed = sub.add_parser("passed", help="a sale's passed lots: offers, relist consent, relisting, return")
    passed.add_argument("sale", type=int)
    passed.add_argument("--consignor", type=int, default=None, help="only this consignor's lots, as they see them")
    offer = sub.add_parser("post-sale-offer", help="record a registered buyer's offer for a passed lot")
    for name in ("sale", "lot", "buyer"):
        offer.add_argument(name, type=int)
    offer.add_argument("amount", type=int, help="minor units")
    offer.add_argument("client_id", help="the same id twice records one offer")
    answer = sub.add_parser("post-sale-answer", help="record the answer to a post-sale offer")
    answer.add_argument("offer", type=int)
    answer.add_argument("answer", choices=["accept", "decline"])
    consent = sub.add_parser("relist-consent", help="record the consignor's consent to relist at a lower reserve")
    consent.add_argument("sale", type=int)
    consent.add_argument("lot", type=int)
    consent.add_argument("reserve", type=int, help="minor units, below the reserve the stone failed to reach")
    withdraw = sub.add_parser("relist-withdraw", help="record the withdrawal of a consent to relist")
    withdraw.add_argument("sale", type=int)
    withdraw.add_argument("lot", type=int)
    relist = sub.add_parser("relist-into", help="relist every waiting stone into this later sale")
    relist.add_argument("sale", type=int)
    relist.add_argument("--redis-url", default=None, help="create the lots there if the sale is loaded")
    sweep = sub.add_parser("unsold-sweep", help="reserve offers, windows that have passed, returns")
    sweep.add_argument("--sale", type=int, default=None)
    for parser in (passed, offer, answer, consent, withdraw, relist, sweep):
        parser.add_argument("--now", type=int, default=None, help="epoch ms (default: now)")


def _print(value: Any) -> None:
    print(msgspec.json.encode(value).decode())


async def command(pg: asyncpg.Pool, name: str, args: argparse.Namespace, redis_url: str | None) -> int | None:
    """Run the command `name`; its exit status, or None if it is not one of these."""
    if name not in COMMANDS:
        return None
    now = args.now or wall_clock_ms()
    try:
        await _run(pg, name, args, now, getattr(args, "redis_url", None) or redis_url)
    except SettlementError as exc:
        field = getattr(exc, "field", None)
        print(f"auction settlement: {f'{field}: ' if field else ''}{exc}", file=sys.stderr)
        return 1
    return 0


async def _run(pg: asyncpg.Pool, name: str, args: argparse.Namespace, now: int, redis_url: str | None) -> None:
    match name:
        case "passed":
            _print(await unsold_views.passed_lots(pg, args.sale, consignor_id=args.consignor))
        case "post-sale-offer":
            _print(
                await unsold_window.make_offer(pg, args.sale, args.lot, args.buyer, args.amount, args.client_id, now)
            )
        case "post-sale-answer":
            print(await unsold_window.answer_offer(pg, args.offer, args.answer == "accept", now))
        case "relist-consent":
            _print(await unsold_relisting.consent_relist(pg, args.sale, args.lot, args.reserve, now))
        case "relist-withdraw":
            _print(await unsold_relisting.withdraw_relist(pg, args.sale, args.lot, now))
        case "relist-into":
            _print(await _relist_into(pg, args.sale, now, redis_url))
        case "unsold-sweep":
            print(json.dumps(await unsold_sweep.sweep(pg, now, args.sale)))


async def _relist_into(pg: asyncpg.Pool, sale: int, now: int, redis_url: str | None) -> list[unsold_views.Relisting]:
    if not redis_url:
        return await unsold_relisting.relist_into(pg, sale, now)
    from auction.store import BACKGROUND_PRIORITY, service_store

    redis = connect(redis_url)
    store = service_store(redis, pg, priority=BACKGROUND_PRIORITY)
    try:
        return await unsold_relisting.relist_into(pg, sale, now, store)
    finally:
        await store.close()
        await redis.aclose()
