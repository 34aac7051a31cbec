"""`auction settlement ...`: the service and the operators' commands. Wired into the CLI (ops/cli.py), which
starts the servers and hands over a pool:

    add_commands(commands)                             # `commands` being the top-level subparsers
    await command(pg, redis_url, args)                 # every command but `run`, which is the service

auction settlement run                          the service (needs AUCTION_REDIS_URL and AUCTION_DATABASE_URL)
auction settlement reconcile                    every check; prints problems, exits 1 if any
auction settlement sweep [--now MS]             everything time does: defaults (and suspensions reaching the
                                                engine), post-sale windows and returns, shipments, payouts due
auction settlement summary SALE                 the demo's JSON summary of a sale's settlement
auction settlement invoice SALE BUYER [--html]  one invoice, JSON or printable HTML
auction settlement pay INVOICE AMOUNT REFERENCE [--now MS]
auction settlement statement CONSIGNOR SALE
auction settlement resolve SALE LOT {second_chance,reaward,relist,cancel}
auction settlement offer OFFER {accept,decline}

and the commands of settlement/unsold_cli.py (the post-sale window) and settlement/shipping_cli.py (shipments,
setting removals, claims).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import asyncpg
import msgspec

from auction.redis_adapter import connect
from settlement import billing, defaults, shipping_cli, unsold_cli
from settlement.errors import SettlementError
from settlement.reconcile import reconcile, settlement_summary
from settlement.service import sweep, wall_clock_ms


def add_commands(subparsers: Any) -> None:
    top = subparsers.add_parser("settlement", help="after the hammer: invoices, payouts, defaults, the ledger")
    sub = top.add_subparsers(dest="settlement_command", required=False)
    sub.add_parser("run", help="run the settlement service (the default)")
    sub.add_parser("reconcile", help="check the ledger and every record against it")
    sweep = sub.add_parser("sweep", help="apply the passing of time: reminders, interest, defaults, payouts")
    sweep.add_argument("--now", type=int, default=None, help="epoch ms (default: now)")
    summary = sub.add_parser("summary", help="a sale's settlement as JSON")
    summary.add_argument("sale", type=int)
    inv = sub.add_parser("invoice", help="a buyer's invoice for a sale")
    inv.add_argument("sale", type=int)
    inv.add_argument("buyer", type=int)
    inv.add_argument("--html", action="store_true")
    pay = sub.add_parser("pay", help="record a cleared payment (partial allowed)")
    pay.add_argument("invoice", type=int)
    pay.add_argument("amount", type=int, help="minor units")
    pay.add_argument("reference", help="the bank's reference; the same reference twice records it once")
    pay.add_argument("--now", type=int, default=None)
    statement = sub.add_parser("statement", help="a consignor's statement for a sale")
    statement.add_argument("consignor", type=int)
    statement.add_argument("sale", type=int)
    resolve = sub.add_parser("resolve", help="the operator's choice for a defaulted lot")
    resolve.add_argument("sale", type=int)
    resolve.add_argument("lot", type=int)
    resolve.add_argument("choice", choices=["second_chance", "reaward", "relist", "cancel"])
    offer = sub.add_parser("offer", help="an underbidder's answer to a second-chance offer")
    offer.add_argument("offer", type=int)
    offer.add_argument("answer", choices=["accept", "decline"])
    unsold_cli.add_commands(sub)
    shipping_cli.add_commands(sub)


def _print(value: Any) -> None:
    print(msgspec.json.encode(value).decode())


async def command(pg: asyncpg.Pool, redis_url: str, args: argparse.Namespace) -> int:
    """Run one operator's command (not `run`: the service is the worker's, or `run_settlement`)."""
    command = args.settlement_command
    done = await unsold_cli.command(pg, command, args, redis_url)
    if done is None:
        done = await shipping_cli.command(pg, command, args)
    if done is not None:
        return done
    now = getattr(args, "now", None) or wall_clock_ms()
    try:
        match command:
            case "reconcile":
                problems = await reconcile(pg)
                for problem in problems:
                    print(problem)
                print("clean" if not problems else f"{len(problems)} problem(s)", file=sys.stderr)
                return 1 if problems else 0
            case "sweep":
                print(json.dumps(await _sweep(pg, redis_url, now)))
            case "summary":
                print(json.dumps(await settlement_summary(pg, args.sale)))
            case "invoice":
                view = await billing.invoice(pg, await billing.invoice_id_for(pg, args.sale, args.buyer))
                print(billing.invoice_html(view)) if args.html else _print(view)
            case "pay":
                _print(await billing.pay(pg, args.invoice, args.amount, args.reference, now))
            case "statement":
                _print(await billing.consignor_statement(pg, args.consignor, args.sale, now))
            case "resolve":
                print(await defaults.resolve(pg, args.sale, args.lot, args.choice, now))
            case "offer":
                print(await defaults.answer_offer(pg, args.offer, args.answer == "accept", now))
    except SettlementError as exc:
        print(f"auction settlement: {exc}", file=sys.stderr)
        return 1
    return 0


async def _sweep(pg: asyncpg.Pool, redis_url: str, now: int) -> dict[str, int]:
    redis = connect(redis_url)
    try:
        return await sweep(pg, redis, now)
    finally:
        await redis.aclose()
