"""The house's desk from the command line, for what an operator scripts: consignors, stones and their photos,
sales built, the catalogue file imported and exported, sales published and lots withdrawn.

    auction consignor create FILE.json --by EMAIL         a consignor and their agreement (NewConsignor)
    auction stone take-in CONSIGNOR FILE.json --by EMAIL  a stone into custody (StoneIntake)
    auction stone photos STONE PHOTO... --by EMAIL        photos of a stone, all or none
    auction sale create FILE.json --by EMAIL              a draft (NewDraft: {"terms": {...}, "id": ...})
    auction sale show SALE                                a sale as built, and what would stop its publication
    auction sale publish SALE --by EMAIL                  into the catalogue and the engine (a tender: with its
                                                          key, made then and split among its officers)
    auction sale withdraw SALE LOT --reason R --by EMAIL  a published lot, closed without a result
    auction catalogue import SALE FILE.csv --by EMAIL     the catalogue file: all or nothing, every bad cell named
    auction catalogue export SALE [--out FILE.csv]        the catalogue file

Each does what its HTTP route does (auction/gateway/house.py), through the same functions, under the same rule of
who may (access.HTTP_RULES for that route): the operator names themselves with `--by`, and the audit log names
their account. Exit status: 0 done, 1 refused (every problem printed), 2 a bad command (nothing done).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import msgspec

from auction import catalogue_file, consignments, consignors, identity, photos, sale_builder, vetting, withdrawals
from auction.catalogue_file import CatalogueRefused
from auction.gateway.access import HTTP_RULES
from auction.house_errors import HouseError, HouseInvalid
from auction.redis_adapter import connect
from auction.store import BACKGROUND_PRIORITY, LotStore, Writers, service_store

T = TypeVar("T")
Action = Callable[["Desk"], Awaitable[Any]]
COMMANDS = ("consignor", "stone", "sale", "catalogue")

# The route whose rule says who may run each command (None: reading, which anyone with the database may).
ROUTES: dict[tuple[str, str], tuple[str, str] | None] = {
    ("consignor", "create"): ("POST", "/api/house/consignors"),
    ("stone", "take-in"): ("POST", "/api/house/consignors/{consignor}/stones"),
    ("stone", "photos"): ("POST", "/api/house/stones/{stone}/photos"),
    ("sale", "create"): ("POST", "/api/house/sales"),
    ("sale", "show"): None,
    ("sale", "publish"): ("POST", "/api/house/sales/{sale}/publication"),
    ("sale", "withdraw"): ("POST", "/api/house/sales/{sale}/lots/{lot}/withdrawal"),
    ("catalogue", "import"): ("PUT", "/api/house/sales/{sale}/catalogue"),
    ("catalogue", "export"): None,
}


class BadCommand(Exception):
    """What is wrong with the command as given; nothing was done."""


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consignor = _group(commands, "consignor", "consignors and their agreements")
    _sub(consignor, "create", "a consignor with their agreement (JSON)", by=True).add_argument("file", type=Path)
    stone = _group(commands, "stone", "stones taken into custody, and their photos")
    take_in = _sub(stone, "take-in", "a consignor's stone into custody (JSON)", by=True)
    take_in.add_argument("consignor", type=_positive)
    take_in.add_argument("file", type=Path)
    photo = _sub(stone, "photos", "photos of a stone (JPEG, PNG, WebP), all or none", by=True)
    photo.add_argument("stone", type=_positive)
    photo.add_argument("photos", type=Path, nargs="+")
    sale = _group(commands, "sale", "sales built, published, and their lots withdrawn")
    _sub(sale, "create", "start building a sale (JSON)", by=True).add_argument("file", type=Path)
    _sub(sale, "show", "a sale as built").add_argument("sale", type=_positive)
    _sub(sale, "publish", "publish a sale: into the catalogue and the engine", by=True).add_argument(
        "sale", type=_positive
    )
    withdraw = _sub(sale, "withdraw", "withdraw a published lot: closed without a result", by=True)
    withdraw.add_argument("sale", type=_positive)
    withdraw.add_argument("lot", type=_positive)
    withdraw.add_argument("--reason", required=True, help="why, for the audit log (3-500 characters)")
    catalogue = _group(commands, "catalogue", "the catalogue file (CSV; docs/CATALOGUE.md)")
    imports = _sub(catalogue, "import", "a draft's lots from the file: all or nothing", by=True)
    imports.add_argument("sale", type=_positive)
    imports.add_argument("file", type=Path)
    export = _sub(catalogue, "export", "a sale's catalogue file")
    export.add_argument("sale", type=_positive)
    export.add_argument("--out", type=Path, default=None, help="write it here (default: standard output)")


def _group(commands: Any, name: str, help_text: str) -> Any:
    return commands.add_parser(name, help=help_text).add_subparsers(dest="house_command", required=True)


def _sub(group: Any, name: str, help_text: str, by: bool = False) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=help_text)
    if by:
        parser.add_argument("--by", required=True, metavar="EMAIL", help="the operator doing it")
    return parser


class Desk:
    """What a command works with: the database, the operator (if the command changes anything), the store."""

    def __init__(self, pg: asyncpg.Pool, args: argparse.Namespace, store: LotStore, operator: identity.Account | None,
                 now_ms: int) -> None:  # fmt: skip
        self.pg, self.args, self.store, self.now_ms = pg, args, store, now_ms
        self._operator = operator

    @property
    def operator(self) -> identity.Account:
        assert self._operator is not None
        return self._operator


async def command(pg: asyncpg.Pool, redis_url: str, args: argparse.Namespace, writers: Writers, now_ms: int) -> int:
    """Run one command; its exit status."""
    redis = connect(redis_url)
    store = service_store(redis, pg, writers=writers, priority=BACKGROUND_PRIORITY)
    try:
        desk = Desk(pg, args, store, await _operator(pg, args), now_ms)
        result = await ACTIONS[(args.command, args.house_command)](desk)
    except BadCommand as exc:
        print(f"auction {args.command} {args.house_command}: {exc}", file=sys.stderr)
        return 2
    except HouseError as exc:
        print(_refusal(exc), file=sys.stderr)
        return 1
    finally:
        await store.close()
        await redis.aclose()
    if isinstance(result, str):
        sys.stdout.write(result)
    elif result is not None:
        print(msgspec.json.encode(result).decode())
    return 0


async def _operator(pg: asyncpg.Pool, args: argparse.Namespace) -> identity.Account | None:
    route = ROUTES[(args.command, args.house_command)]
    if route is None:
        return None
    operator = await identity.active_account_by_email(pg, args.by)
    if operator is None or operator.role not in HTTP_RULES[route]:
        allowed = ", ".join(sorted(HTTP_RULES[route]))
        raise BadCommand(f"--by: no active account {args.by!r} with a role that may do this ({allowed})")
    return operator


def _refusal(exc: HouseError) -> str:
    if isinstance(exc, CatalogueRefused):
        return "\n".join(f"line {c.line}, {c.column or 'row'}: {c.message}" for c in exc.cells)
    if isinstance(exc, HouseInvalid):
        return "\n".join(f"{p.field}: {p.message}" for p in exc.problems)
    return f"{exc.code}: {exc.field}: {exc}"


def _json(path: Path, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except OSError as exc:
        raise BadCommand(f"{path}: {exc.strerror}") from exc
    except msgspec.DecodeError as exc:  # a ValidationError is one too
        raise BadCommand(f"{path}: {exc}") from exc


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadCommand(f"{path}: {exc.strerror}") from exc


# ---- the commands -------------------------------------------------------------------------------------------


async def _create_consignor(desk: Desk) -> Any:
    new = _json(desk.args.file, consignors.NewConsignor)
    made = await consignors.create_consignor(desk.pg, new, desk.operator)
    await vetting.publish_consignor_companies(desk.pg, desk.store, made.id)  # companies vetting found its own
    return made


async def _take_in(desk: Desk) -> Any:
    stone = _json(desk.args.file, consignments.StoneIntake)
    return await consignments.take_in(desk.pg, desk.args.consignor, stone, desk.operator, desk.now_ms)


async def _photos(desk: Desk) -> Any:
    files = [photos.PhotoFile(path.name, _bytes(path)) for path in desk.args.photos]
    return await photos.add_photos(desk.pg, desk.args.stone, files, desk.operator)


async def _create_sale(desk: Desk) -> Any:
    return await sale_builder.create_draft(desk.pg, _json(desk.args.file, sale_builder.NewDraft), desk.operator)


async def _show_sale(desk: Desk) -> Any:
    return await sale_builder.draft_view(desk.pg, desk.args.sale)


async def _publish(desk: Desk) -> Any:
    return await sale_builder.publish(desk.pg, desk.store, desk.args.sale, desk.operator, desk.now_ms)


async def _withdraw(desk: Desk) -> Any:
    args = desk.args
    if not 3 <= len(args.reason) <= 500:  # as the route bounds it (withdrawals.Reason)
        raise BadCommand("--reason: between 3 and 500 characters")
    return await withdrawals.withdraw_lot(desk.pg, desk.store, args.sale, args.lot, args.reason, desk.operator,
                                          desk.now_ms)  # fmt: skip


async def _import(desk: Desk) -> Any:
    content = _bytes(desk.args.file)
    return await catalogue_file.import_catalogue(desk.pg, desk.args.sale, content, desk.operator, desk.now_ms)


async def _export(desk: Desk) -> Any:
    text = await catalogue_file.export_catalogue(desk.pg, desk.args.sale)
    if desk.args.out is None:
        return text
    desk.args.out.write_text(text, encoding="utf-8")
    return None


ACTIONS: dict[tuple[str, str], Action] = {
    ("consignor", "create"): _create_consignor,
    ("stone", "take-in"): _take_in,
    ("stone", "photos"): _photos,
    ("sale", "create"): _create_sale,
    ("sale", "show"): _show_sale,
    ("sale", "publish"): _publish,
    ("sale", "withdraw"): _withdraw,
    ("catalogue", "import"): _import,
    ("catalogue", "export"): _export,
}
