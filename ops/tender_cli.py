"""Sealed-bid tenders from the command line (auction/tender/; docs/RULES.md "Tenders").

    auction tender keygen --out FILE [--for EMAIL]   an officer key pair: the private half written to FILE (mode
                                                     600, never over a file that exists), the public half printed;
                                                     with --for, registered as that operator's officer key
    auction tender create FILE.json --by EMAIL       a tender sale with its key (a NewSale of format "tender")
    auction tender share SALE --file F [--url URL]   give your share to a running gateway; the token from
                                                     AUCTION_TOKEN. Your share is held in that gateway's memory
                                                     until k are in, then the gateway reveals
    auction tender reveal SALE --share F [--share F ...] --by EMAIL
                                                     the reveal here, in this process, with k shares given together

A share F is an officer's key file (their sealed share is fetched, from the gateway or the database, and opened
here with it: the share itself never rests in a file) or a file holding a share's text (`<x>-<hex>`). Exit
status: 0 done (for `share`, also a share held while fewer than k are in), 1 refused (why printed), 2 a bad
command (nothing done).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import msgspec

from auction import identity
from auction.catalog import NewSale
from auction.gateway.access import HTTP_RULES
from auction.redis_adapter import connect
from auction.store import BACKGROUND_PRIORITY, Writers, service_store
from auction.tender import records
from auction.tender.creation import create_tender
from auction.tender.errors import TenderRefused
from auction.tender.officers import fingerprint, new_key_file, private_from_key_file, register_key
from auction.tender.reveal import reveal_tender
from auction.tender.sealing import SealError, open_browser_seal, public_of
from auction.tender.shamir import Share, SharingError

DEFAULT_URL = "http://127.0.0.1:8080"


class BadCommand(Exception):
    """What is wrong with the command as given; nothing was done."""


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tender = commands.add_parser("tender", help="sealed-bid tenders: officer keys, creating, shares, the reveal")
    sub = tender.add_subparsers(dest="tender_command", required=True)
    keygen = sub.add_parser("keygen", help="an officer key pair: the private half to a file only you can read")
    keygen.add_argument("--out", required=True, type=Path, help="the private key's file (must not exist)")
    keygen.add_argument("--for", dest="for_email", metavar="EMAIL", help="register it as this operator's key")
    create = sub.add_parser("create", help="a tender sale with its key, split among its officers")
    create.add_argument("file", type=Path, help="the sale as JSON (NewSale, format tender)")
    create.add_argument("--by", required=True, metavar="EMAIL", help="the operator creating it (auctioneer, admin)")
    share = sub.add_parser("share", help="give your share to a running gateway (token: AUCTION_TOKEN)")
    share.add_argument("sale", type=_positive)
    share.add_argument("--file", required=True, type=Path, help="your officer key file, or your share's text")
    share.add_argument("--url", default=DEFAULT_URL, help=f"the gateway (default {DEFAULT_URL})")
    reveal = sub.add_parser("reveal", help="reveal here, with k shares given together")
    reveal.add_argument("sale", type=_positive)
    reveal.add_argument("--share", required=True, action="append", type=Path, dest="shares",
                        help="an officer key file or a share's text file; k of them")  # fmt: skip
    reveal.add_argument("--by", required=True, metavar="EMAIL", help="the operator running the reveal")


async def keygen(pg: asyncpg.Pool | None, args: argparse.Namespace) -> int:
    """Exit status. Needs the database only with --for."""
    text, public = new_key_file()
    try:
        with os.fdopen(os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(text)
    except FileExistsError:
        print(f"auction tender keygen: --out: {args.out} exists; a key file is never overwritten", file=sys.stderr)
        return 2
    encoded = base64.b64encode(public).decode()
    print(f"officer key written to {args.out}; public key {encoded} (fingerprint {fingerprint(public)})")
    if args.for_email is not None:
        assert pg is not None
        account = await identity.active_account_by_email(pg, args.for_email)
        if account is None:
            print(f"auction tender keygen: --for: no active account {args.for_email!r}", file=sys.stderr)
            return 2
        try:
            await register_key(pg, account.id, encoded)
        except TenderRefused as exc:
            print(f"refused: {exc.field}: {exc}", file=sys.stderr)
            return 1
        print(f"registered as the officer key of {account.email}")
    return 0


async def create(pg: asyncpg.Pool, redis_url: str, args: argparse.Namespace, writers: Writers) -> int:
    by = await _operator(pg, args.by, ("POST", "/api/tenders"))
    try:
        sale = msgspec.json.decode(args.file.read_bytes(), type=NewSale)
    except (OSError, msgspec.DecodeError) as exc:
        raise BadCommand(f"{args.file}: {exc}") from exc
    redis = connect(redis_url)
    store = service_store(redis, pg, writers=writers, priority=BACKGROUND_PRIORITY)
    try:
        created = await create_tender(pg, store, sale, by)
    finally:
        await store.close()
        await redis.aclose()
    print(msgspec.json.encode(created).decode())
    return 0


async def share(args: argparse.Namespace, token: str | None) -> int:
    """Give one share to a gateway, over HTTP as the console does."""
    if not token:
        raise BadCommand("set AUCTION_TOKEN to your API token (an operator's, one of the tender's officers)")
    headers = {"Authorization": f"Bearer {token}"}
    text = _read(args.file)
    async with aiohttp.ClientSession(args.url, headers=headers) as http:
        private = private_from_key_file(text)
        if private is not None:
            text = await _fetched_share(http, args.sale, private)
        async with http.post(f"/api/sales/{args.sale}/tender/shares", json={"shares": [text.strip()]}) as answer:
            body = await answer.json(content_type=None)
    return _printed(answer.status, body)


async def reveal(pg: asyncpg.Pool, redis_url: str, args: argparse.Namespace, writers: Writers, now_ms: int) -> int:
    by = await _operator(pg, args.by, ("POST", "/api/sales/{sale}/tender/shares"))
    kept = await records.shares_of(pg, args.sale)
    shares = [_share_from(_read(path), args.sale, kept) for path in args.shares]
    redis = connect(redis_url)
    store = service_store(redis, pg, writers=writers, priority=BACKGROUND_PRIORITY)
    try:
        report = await reveal_tender(pg, store, args.sale, shares, now_ms, by)
    finally:
        await store.close()
        await redis.aclose()
    print(msgspec.json.encode(report).decode())
    return 0


def refusal(exc: TenderRefused) -> str:
    return f"refused ({exc.code}): {exc.field}: {exc}"


async def _operator(pg: asyncpg.Pool, email: str, route: tuple[str, str]) -> identity.Account:
    operator = await identity.active_account_by_email(pg, email)
    if operator is None or operator.role not in HTTP_RULES[route]:
        allowed = ", ".join(sorted(HTTP_RULES[route]))
        raise BadCommand(f"--by: no active account {email!r} with a role that may do this ({allowed})")
    return operator


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise BadCommand(f"{path}: {exc.strerror}") from exc


def _share_from(text: str, sale: int, kept: list[records.SealedShare]) -> Share:
    """A share from its text, or from an officer key file: the share sealed to that key, opened here."""
    private = private_from_key_file(text)
    if private is None:
        try:
            return Share.decode(text)
        except SharingError as exc:
            raise BadCommand(f"not an officer key file nor a share: {exc}") from exc
    public = public_of(private)
    mine = next((row for row in kept if row.officer_key == public), None)
    if mine is None:
        raise BadCommand(f"the key with fingerprint {fingerprint(public)} holds no share of sale {sale}'s key")
    return _opened(mine.sealed, private, sale, mine.x, mine.officer)


async def _fetched_share(http: aiohttp.ClientSession, sale: int, private: bytes) -> str:
    async with http.get(f"/api/sales/{sale}/tender/shares/mine") as answer:
        body: dict[str, Any] = await answer.json(content_type=None)
    if answer.status != 200:
        raise BadCommand(f"your sealed share could not be fetched: {body.get('error', body)}")
    return _opened(body["sealed"], private, sale, body["x"], body["officer"]).encode()


def _opened(sealed: str, private: bytes, sale: int, x: int, officer: int) -> Share:
    try:
        return Share.decode(open_browser_seal(sealed, private, records.share_place(sale, x, officer)))
    except (SealError, SharingError) as exc:
        raise BadCommand(f"this key does not open share {x} of sale {sale}: {exc}") from exc


def _printed(status: int, body: Any) -> int:
    print(msgspec.json.encode(body).decode())
    return 0 if status in (200, 202) else 1
