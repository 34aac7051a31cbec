"""The `auction` command. Settings are read from the environment here and nowhere else.

auction serve [--host H] [--port P]     everything, in one process group (embedded servers unless URLs)
auction demo [--duration S] [--lots N] [--bidders N] [--json]
auction db migrate
auction vetting resync [--sale S]       publish every registration's standing to the engine again
auction admin create EMAIL NAME         the house's first admin (password from AUCTION_ADMIN_PASSWORD or asked)
auction audit verify SALE [LOT]         replay the record through the engine; exit 1 on any difference
auction audit replay SALE [LOT]         each lot's result re-derived from the record against what was hammered
                                        and invoiced; exit 1 on any difference
auction bids cancel SALE LOT (--bidder B | --paddle P) --reason R --by EMAIL
                                        cancel a buyer's bids on a lot for cause (an auctioneer or admin)
auction consignor|stone|sale|catalogue ...   the house's desk: consignors, stones taken in and their photos, sales
                                        built, published and withdrawn, the catalogue file (ops/house_cli.py)
auction tender keygen|create|share|reveal ...   sealed-bid tenders: officer keys, a tender created with its
                                        key, officers' shares, the reveal (ops/tender_cli.py)
auction gateway / auction worker        the group's children, started by `serve`
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import asyncpg

from auction.config import Settings, SettingsError, admin_password, api_token, settings_from_env
from auction.tender.errors import TenderRefused
from ops.embedded import EmbeddedServerError
from ops.listening import ListenError
from ops.runner import StartError

T = TypeVar("T")


def _run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop where it is installed: it cuts the event loop's own cost on every message."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auction", description="Live online auctions for the diamond trade.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "gateway"):
        sub = commands.add_parser(name, help="run everything" if name == "serve" else "run one gateway process")
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=_positive, default=8080)
        if name == "gateway":
            sub.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)  # from `serve`
    commands.add_parser("worker", help="run the persister and the scheduler")
    demo = commands.add_parser("demo", help="a timed sale of diamonds with a crowd of bidder bots")
    demo.add_argument("--duration", type=_positive, default=60, help="seconds until the last lot's scheduled close")
    demo.add_argument("--lots", type=_positive, default=24)
    demo.add_argument("--bidders", type=_positive, default=12)
    demo.add_argument("--port", type=_positive, default=None, help="gateway port (default: a free one)")
    demo.add_argument("--json", action="store_true", help="print the final summary as one JSON object")
    demo.add_argument("--seed", type=int, default=7)
    from settlement.cli import add_commands as add_settlement_commands

    add_settlement_commands(commands)
    from ops.oversight_cli import add_commands as add_oversight_commands

    add_oversight_commands(commands)
    from ops.tender_cli import add_commands as add_tender_commands

    add_tender_commands(commands)
    from ops.house_cli import add_commands as add_house_commands

    add_house_commands(commands)
    db = commands.add_parser("db", help="database administration")
    db.add_subparsers(dest="db_command", required=True).add_parser("migrate", help="apply pending migrations")
    vet = commands.add_parser("vetting", help="buyer vetting administration")
    resync = vet.add_subparsers(dest="vetting_command", required=True).add_parser(
        "resync", help="publish every registration's standing to the engine again (e.g. after losing Redis)"
    )
    resync.add_argument("--sale", type=_positive, default=None)
    audit = commands.add_parser("audit", help="check the record")
    audits = audit.add_subparsers(dest="audit_command", required=True)
    verify = audits.add_parser(
        "verify", help="replay a sale's record (PostgreSQL alone) through the engine; exit 1 on any difference"
    )
    replay = audits.add_parser(
        "replay", help="re-derive every lot's result from the record and compare it with what was hammered and "
        "invoiced; exit 1 on any difference",
    )  # fmt: skip
    for sub in (verify, replay):
        sub.add_argument("sale", type=_positive)
        sub.add_argument("lot", type=_positive, nargs="?", default=None)
    admin = commands.add_parser("admin", help="the house's first admin account")
    create = admin.add_subparsers(dest="admin_command", required=True).add_parser(
        "create", help="create the first admin (refused once an admin exists: admins make accounts over HTTP)"
    )
    create.add_argument("email")
    create.add_argument("name")
    return parser


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    match args.command:
        case "serve":
            from ops.runner import serve_forever

            _run(serve_forever(settings, args.host, args.port))
        case "gateway":
            from auction.gateway.edge import Edge
            from ops.app import run_gateway

            redis_url, database_url = _required_urls(settings)
            edge = Edge(
                public_url=settings.public_url,
                websockets_per_address=settings.websockets_per_address,
                bids_per_s=settings.bids_per_s,
            )
            _run(
                run_gateway(
                    redis_url,
                    database_url,
                    args.host,
                    args.port,
                    settings.durability,
                    settings.sanctioned_countries,
                    settings.writers,
                    _inherited_socket(args.listen_fd),
                    edge,
                    shill_threshold=settings.shill_threshold,
                    house_details=settings.house_details,
                )
            )
        case "worker":
            from ops.worker import run_worker

            redis_url, database_url = _required_urls(settings)
            _run(run_worker(redis_url, database_url, settings.durability, settings.writers))
        case "demo":
            from ops.demo.run import DemoOptions, run_demo

            options = DemoOptions(args.duration, args.lots, args.bidders, args.port, args.json, args.seed)
            return _run(run_demo(settings, options))
        case "settlement":
            return _settlement(args, settings)
        case "bids":
            return _bids(args, settings)
        case "tender":
            return _tender(args, settings)
        case "consignor" | "stone" | "sale" | "catalogue":
            return _house(args, settings)
        case "db":
            return asyncio.run(_migrate(settings))
        case "vetting":
            return asyncio.run(_resync(settings, args.sale))
        case "admin":
            return asyncio.run(_create_admin(settings, args.email, args.name, _admin_password()))
        case "audit" if args.audit_command == "replay":
            return asyncio.run(_replay(settings, args.sale, args.lot))
        case "audit":
            return asyncio.run(_verify(settings, args.sale, args.lot))
    return 0


def _settlement(args: argparse.Namespace, settings: Settings) -> int:
    from settlement import cli
    from settlement.service import run_settlement

    if (args.settlement_command or "run") == "run":
        redis_url, database_url = _required_urls(settings)
        asyncio.run(run_settlement(redis_url, database_url))
        return 0
    return asyncio.run(_with_database(settings, lambda pg, redis_url: cli.command(pg, redis_url, args)))


def _bids(args: argparse.Namespace, settings: Settings) -> int:
    from ops import oversight_cli

    now_ms = time.time_ns() // 1_000_000  # the command's time, as the gateway stamps a request's

    async def cancel(pg: asyncpg.Pool, redis_url: str) -> int:
        return await oversight_cli.cancel(pg, redis_url, args, settings.writers, now_ms)

    return asyncio.run(_with_database(settings, cancel))


def _house(args: argparse.Namespace, settings: Settings) -> int:
    from ops import house_cli

    now_ms = time.time_ns() // 1_000_000  # the command's time, as the gateway stamps a request's

    async def run(pg: asyncpg.Pool, redis_url: str) -> int:
        return await house_cli.command(pg, redis_url, args, settings.writers, now_ms)

    return asyncio.run(_with_database(settings, run))


def _tender(args: argparse.Namespace, settings: Settings) -> int:
    from ops import tender_cli

    now_ms = time.time_ns() // 1_000_000  # the command's time, as the gateway stamps a request's

    async def run(pg: asyncpg.Pool, redis_url: str) -> int:
        match args.tender_command:
            case "keygen":
                return await tender_cli.keygen(pg, args)
            case "create":
                return await tender_cli.create(pg, redis_url, args, settings.writers)
            case _:
                return await tender_cli.reveal(pg, redis_url, args, settings.writers, now_ms)

    try:
        if args.tender_command == "share":  # over HTTP to a gateway: no servers of its own
            return asyncio.run(tender_cli.share(args, api_token()))
        if args.tender_command == "keygen" and args.for_email is None:
            return asyncio.run(tender_cli.keygen(None, args))
        return asyncio.run(_with_database(settings, run))
    except tender_cli.BadCommand as exc:
        print(f"auction tender {args.tender_command}: {exc}", file=sys.stderr)
        return 2
    except TenderRefused as exc:
        print(tender_cli.refusal(exc), file=sys.stderr)
        return 1


async def _with_database(settings: Settings, action: Callable[[asyncpg.Pool, str], Awaitable[int]]) -> int:
    """Run a command against the configured servers, or the state folder's embedded ones: those running (for
    `auction serve`, say) are used and left running; if none are, they are started for it and stopped after."""
    from ops.shared_services import start_configured_services

    services = await asyncio.to_thread(start_configured_services, settings)
    try:
        pg = await asyncpg.create_pool(services.database_url, min_size=1, max_size=2)
        try:
            return await action(pg, services.redis_url)
        finally:
            await pg.close()
    finally:
        services.stop()


def _inherited_socket(fd: int | None) -> socket.socket | None:
    """The listening socket `auction serve` bound and handed down, by its file descriptor."""
    return None if fd is None else socket.socket(fileno=fd)


def _required_urls(settings: Settings) -> tuple[str, str]:
    if not settings.redis_url or not settings.database_url:
        raise SettingsError("AUCTION_REDIS_URL and AUCTION_DATABASE_URL must be set (`auction serve` sets them)")
    return settings.redis_url, settings.database_url


async def _migrate(settings: Settings) -> int:
    from ops.migrate import migrate
    from ops.shared_services import start_configured_services

    services = await asyncio.to_thread(start_configured_services, settings)
    try:
        applied = await migrate(services.database_url)
    finally:
        services.stop()
    print("applied: " + (", ".join(applied) if applied else "nothing, the schema is current"))
    return 0


def _admin_password() -> str:
    """From AUCTION_ADMIN_PASSWORD (scripts), else asked twice on the terminal; never an argument (ps shows those)."""
    import getpass

    given = admin_password()
    if given is not None:
        return given
    password = getpass.getpass("password for the new admin: ")
    if getpass.getpass("the same again: ") != password:
        raise SettingsError("the two passwords differ")
    return password


async def _create_admin(settings: Settings, email: str, name: str, password: str) -> int:

    from auction import identity
    from ops.migrate import migrate
    from ops.shared_services import start_configured_services

    services = await asyncio.to_thread(start_configured_services, settings)
    try:
        await migrate(services.database_url)
        pg = await asyncpg.create_pool(services.database_url, min_size=1, max_size=1)
        try:
            account = await identity.create_first_admin(pg, email, name, password)
        except identity.AccountProblem as exc:
            print(f"auction admin: {exc.field}: {exc}", file=sys.stderr)
            return 1
        finally:
            await pg.close()
    finally:
        services.stop()
    print(f"admin {account.email} created (account {account.id}); log in at POST /api/login")
    return 0


async def _resync(settings: Settings, sale: int | None) -> int:
    from auction import vetting
    from auction.redis_adapter import connect
    from auction.store import BACKGROUND_PRIORITY, service_store

    async def resync(pg: asyncpg.Pool, redis_url: str) -> int:
        redis = connect(redis_url)
        store = service_store(redis, pg, writers=settings.writers, priority=BACKGROUND_PRIORITY)
        try:
            count = await vetting.resync(pg, store, sale)
        finally:
            await store.close()
            await redis.aclose()
        print(f"published {count} standings")
        return 0

    return await _with_database(settings, resync)


async def _verify(settings: Settings, sale: int, lot: int | None) -> int:
    from auction import audit

    async def verify(pg: asyncpg.Pool, _redis_url: str) -> int:
        verification = await audit.verify(pg, sale, lot)
        print(verification.report())
        return 0 if verification.ok else 1

    return await _with_database(settings, verify)


async def _replay(settings: Settings, sale: int, lot: int | None) -> int:
    from auction import audit

    async def replay(pg: asyncpg.Pool, _redis_url: str) -> int:
        replayed = await audit.replay(pg, sale, lot)
        print(replayed.report())
        return 0 if replayed.ok else 1

    return await _with_database(settings, replay)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_from_env()
        return _dispatch(args, settings)
    except SettingsError as exc:
        print(f"auction: {exc}", file=sys.stderr)
        return 2
    except (EmbeddedServerError, ListenError, StartError) as exc:
        print(f"auction {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
