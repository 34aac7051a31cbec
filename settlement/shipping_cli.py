"""`auction settlement ...` commands for shipments, setting removals and claims. Wired into settlement/cli.py by

    from settlement import shipping_cli
    shipping_cli.add_commands(sub)            # in add_commands, `sub` being the settlement subparsers
    done = await shipping_cli.command(pg, command, args)    # in _command, before its own match
    if done is not None: return done

auction settlement shipments SALE [--lot N]
auction settlement ship PURPOSE SALE LOT PARTY VALUE CURRENCY KEY [--carrier NAME] [--now MS]
auction settlement track SHIPMENT PARCEL STATE [--note TEXT] [--now MS]
auction settlement ship-paid [--sale SALE] [--now MS]   one shipment per paid lot, to its buyer
auction settlement poll-carriers
auction settlement removal-request SALE LOT VALUE REASON KEY [--now MS]
auction settlement removal-consent REMOVAL WHO [--now MS]
auction settlement removal-photo REMOVAL {before,after} FILE [--media-type T] [--now MS]
auction settlement removal-start REMOVAL [--now MS] | removal-complete REMOVAL [--now MS] | removal REMOVAL
auction settlement claim-file {loss,theft,damage} KEY (--shipment N [--parcel N] | --removal N) [--description T]
auction settlement claim-evidence CLAIM KIND FILE [--media-type T] [--now MS]
auction settlement claim-move CLAIM {documents_requested,under_review,approved,paid,denied} [--amount N] [--note T]
auction settlement claim CLAIM | claims SALE | claims-check
"""

from __future__ import annotations

import argparse
import mimetypes
import sys
from typing import Any

import asyncpg
import msgspec

from settlement import claims, custody, shipping
from settlement.errors import SettlementError, ShippingRefused
from settlement.service import wall_clock_ms
from settlement.shipping_rules import CLAIM_KINDS, EVIDENCE_KINDS, PURPOSES, TRACKING_STATES

MOVES = ("documents_requested", "under_review", "approved", "paid", "denied")


def add_commands(sub: Any) -> None:
    """Add the commands to the `settlement` subparsers."""
    _shipments(sub)
    _removals(sub)
    _claims(sub)


def _now(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--now", type=int, default=None, help="epoch ms (default: now)")
    return parser


def _shipments(sub: Any) -> None:
    listing = sub.add_parser("shipments", help="a sale's shipments with their parcels' tracking")
    listing.add_argument("sale", type=int)
    listing.add_argument("--lot", type=int, default=None)
    ship = _now(sub.add_parser("ship", help="create an insured shipment (idempotent by KEY)"))
    ship.add_argument("purpose", choices=PURPOSES)
    for name in ("sale", "lot", "party"):
        ship.add_argument(name, type=int)
    ship.add_argument("value", type=int, help="declared value, minor units")
    ship.add_argument("currency")
    ship.add_argument("key", help="idempotency key")
    ship.add_argument("--carrier", default="manual")
    track = _now(sub.add_parser("track", help="record a parcel's tracking state (the manual carrier)"))
    track.add_argument("shipment", type=int)
    track.add_argument("parcel", type=int)
    track.add_argument("state", choices=TRACKING_STATES)
    track.add_argument("--note", default="")
    paid = _now(sub.add_parser("ship-paid", help="ship every paid lot to its buyer (idempotent)"))
    paid.add_argument("--sale", type=int, default=None)
    sub.add_parser("poll-carriers", help="ask every carrier for its parcels' tracking")


def _removals(sub: Any) -> None:
    ask = _now(sub.add_parser("removal-request", help="ask to take a lot's stone out of its setting"))
    ask.add_argument("sale", type=int)
    ask.add_argument("lot", type=int)
    ask.add_argument("value", type=int, help="insured value in custody, minor units")
    ask.add_argument("reason")
    ask.add_argument("key", help="idempotency key")
    consent = _now(sub.add_parser("removal-consent", help="record the consignor's consent"))
    consent.add_argument("removal", type=int)
    consent.add_argument("who", help="who gave it, by name")
    photo = _now(sub.add_parser("removal-photo", help="keep a photo before or after (stored by its path)"))
    photo.add_argument("removal", type=int)
    photo.add_argument("stage", choices=("before", "after"))
    photo.add_argument("file")
    photo.add_argument("--media-type", default=None)
    for name, text in (("removal-start", "the work starts"), ("removal-complete", "the work is done")):
        _now(sub.add_parser(name, help=text)).add_argument("removal", type=int)
    sub.add_parser("removal", help="a setting removal").add_argument("removal", type=int)


def _claims(sub: Any) -> None:
    file = _now(sub.add_parser("claim-file", help="file an insurance claim against a shipment or custody"))
    file.add_argument("kind", choices=CLAIM_KINDS)
    file.add_argument("key", help="idempotency key")
    file.add_argument("--shipment", type=int, default=None)
    file.add_argument("--parcel", type=int, default=None)
    file.add_argument("--removal", type=int, default=None)
    file.add_argument("--description", default="")
    evidence = _now(sub.add_parser("claim-evidence", help="attach evidence to a claim (stored by its path)"))
    evidence.add_argument("claim", type=int)
    evidence.add_argument("kind", choices=EVIDENCE_KINDS)
    evidence.add_argument("file")
    evidence.add_argument("--media-type", default=None)
    move = _now(sub.add_parser("claim-move", help="documents, review, approve, pay or deny a claim"))
    move.add_argument("claim", type=int)
    move.add_argument("to", choices=MOVES)
    move.add_argument("--amount", type=int, default=None, help="for an approval, minor units")
    move.add_argument("--note", default="", help="for a denial: the reason")
    sub.add_parser("claim", help="a claim, its evidence and history").add_argument("claim", type=int)
    sub.add_parser("claims", help="a sale's claims").add_argument("sale", type=int)
    sub.add_parser("claims-check", help="do the claims agree with the ledger?")


def _print(value: Any) -> None:
    print(msgspec.json.encode(value).decode())


def _media(args: argparse.Namespace) -> str:
    return args.media_type or mimetypes.guess_type(args.file)[0] or "application/octet-stream"


async def command(pg: asyncpg.Pool, name: str, args: argparse.Namespace) -> int | None:
    """Run one of this module's commands; None when `name` is not one of them."""
    now = getattr(args, "now", None) or wall_clock_ms()
    try:
        result = await _shipping(pg, name, args, now)
        if result is None:
            result = await _custody(pg, name, args, now)
        if result is None:
            result = await _claim(pg, name, args, now)
    except ShippingRefused as exc:
        print(f"auction settlement: {exc.field or name}: {exc}", file=sys.stderr)
        return 1
    except SettlementError as exc:
        print(f"auction settlement: {exc}", file=sys.stderr)
        return 1
    if result is None:
        return None
    _print(result)
    return 1 if name == "claims-check" and result["problems"] else 0


async def _shipping(pg: asyncpg.Pool, name: str, args: argparse.Namespace, now: int) -> Any:
    match name:
        case "shipments":
            return await shipping.shipments_for(pg, args.sale, args.lot)
        case "ship":
            async with pg.acquire() as conn, conn.transaction():
                shipment_id = await shipping.create_shipment(
                    conn, purpose=args.purpose, sale_id=args.sale, lot_no=args.lot, party_id=args.party,
                    declared_value=args.value, currency=args.currency, at_ms=now, idem_key=args.key,
                    carrier=args.carrier,
                )  # fmt: skip
            return await shipping.shipment(pg, shipment_id)
        case "track":
            return await shipping.record_tracking(pg, args.shipment, args.parcel, args.state, now, args.note)
        case "ship-paid":
            return await shipping.ship_paid_invoices(pg, now, sale_id=args.sale)
        case "poll-carriers":
            return await shipping.poll_carriers(pg)
    return None


async def _custody(pg: asyncpg.Pool, name: str, args: argparse.Namespace, now: int) -> Any:
    match name:
        case "removal-request":
            return await custody.request_removal(pg, sale_id=args.sale, lot_no=args.lot, declared_value=args.value,
                                                 reason=args.reason, at_ms=now, idem_key=args.key)  # fmt: skip
        case "removal-consent":
            return await custody.record_consent(pg, args.removal, args.who, now)
        case "removal-photo":
            return await custody.add_photo(pg, args.removal, args.stage, _media(args), now, path=args.file)
        case "removal-start":
            return await custody.start_removal(pg, args.removal, now)
        case "removal-complete":
            return await custody.complete_removal(pg, args.removal, now)
        case "removal":
            return await custody.removal(pg, args.removal)
    return None


async def _claim(pg: asyncpg.Pool, name: str, args: argparse.Namespace, now: int) -> Any:
    match name:
        case "claim-file":
            return await claims.file_claim(pg, kind=args.kind, at_ms=now, idem_key=args.key,
                                           shipment_id=args.shipment, parcel_no=args.parcel,
                                           removal_id=args.removal, description=args.description)  # fmt: skip
        case "claim-evidence":
            return await claims.add_evidence(pg, args.claim, args.kind, _media(args), now, path=args.file)
        case "claim-move":
            return await _move(pg, args, now)
        case "claim":
            return await claims.claim(pg, args.claim)
        case "claims":
            return await claims.claims_for(pg, args.sale)
        case "claims-check":
            problems = await claims.claim_problems(pg)
            return {"clean": not problems, "problems": problems}
    return None


async def _move(pg: asyncpg.Pool, args: argparse.Namespace, now: int) -> claims.ClaimView:
    match args.to:
        case "documents_requested":
            return await claims.request_documents(pg, args.claim, now, args.note)
        case "under_review":
            return await claims.start_review(pg, args.claim, now, args.note)
        case "approved":
            if args.amount is None:
                raise ShippingRefused("amount", "an approval needs --amount", "invalid")
            return await claims.approve(pg, args.claim, args.amount, now, args.note)
        case "paid":
            return await claims.pay(pg, args.claim, now, args.note)
        case _:
            return await claims.deny(pg, args.claim, args.note, now)
