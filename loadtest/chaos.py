"""`python -m loadtest.chaos` (`make chaos`): a timed sale under load while its servers and processes are killed.

    python -m loadtest.chaos [--lots 200] [--buyers 40] [--rate 300] [--kills 24] [--duration 90] [--seed 7]
                             [--watchers 4] [--out loadtest/results/chaos.json] [--keep]

1. Starts a private cluster in a temporary folder (loadtest/chaos_cluster.py): Redis (appendfsync always),
   PostgreSQL (migrated), two gateways and a worker, each a process of its own.
2. Builds a timed sale of `--lots` lots with staggered ends and `--buyers` vetted, registered buyers with API
   tokens (loadtest/chaos_sale.py).
3. Drives bids at `--rate` over real websockets through both gateways, and watches the sale, with clients that
   log every bid, answer and event, resend after `unavailable` or a drop, and resume after every reconnect
   (loadtest/chaos_clients.py).
4. Meanwhile, on a schedule drawn from `--seed`, SIGKILLs a gateway, the worker, Redis or PostgreSQL, each in
   turn, and restarts it after a short pause (Redis and PostgreSQL on the same data folder and port).
5. After the last lot closes and the worker has had time to persist and settle, runs every check
   (loadtest/chaos_checks.py) and writes the figures and each check's result to `--out`.

It exits 0 only if every check passed; a check that could not run (the verifier, until it exists) is not a
pass. Every wait is bounded, and the cluster is stopped on every way out, Ctrl-C included. The cluster's
folder (data and each process's log) is removed after a clean run and kept, and named, after any other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg

from auction.redis_adapter import connect
from auction.store import LotStore
from loadtest.chaos_checks import (
    CheckResult,
    Evidence,
    load_billing,
    load_record,
    run_checks,
    stored_terms,
)
from loadtest.chaos_clients import BidderProgram, BidLog, Dialer, Market, WatcherProgram
from loadtest.chaos_cluster import GATEWAYS, Cluster, Outage, Target
from loadtest.chaos_sale import ChaosSale, build_sale, now_ms

RESULTS = Path(__file__).parent / "results" / "chaos.json"
FINAL_STATUSES = frozenset({"sold", "passed", "withdrawn"})
TARGET_KINDS = ("gateway", "worker", "redis", "postgres")
PAUSE_RANGE_S = (0.5, 2.0)  # how long a killed target stays down before it is restarted
BID_FINISH_S = 30.0  # once bidding ends, how long a bid still in flight has to get its answer
STATUS_EVERY_S = 10.0


@dataclass(frozen=True)
class ChaosOptions:
    lots: int = 200
    buyers: int = 40
    watchers: int = 4
    rate: float = 300.0  # bids a second, offered across all buyers
    kills: int = 24
    targets: tuple[str, ...] = TARGET_KINDS  # which kinds of process the schedule kills
    duration_s: float = 90.0  # from the lots' opening to the last lot's scheduled close
    seed: int = 7
    close_wait_s: float = 60.0  # past the last possible close, how long the lots have to close (a late worker)
    settle_s: float = 60.0  # after the chaos, at most this long for the record, the bills and the watchers
    out: Path = RESULTS
    folder: Path | None = None  # the cluster's folder; default a new temporary one
    keep: bool = False  # keep the folder even after a clean run
    verbose: bool = True


@dataclass(frozen=True)
class PlannedKill:
    at_s: float  # on the cluster's clock
    target: Target
    pause_s: float


def kill_schedule(
    rng: random.Random, kills: int, first_s: float, last_s: float, targets: Sequence[str] = TARGET_KINDS
) -> list[PlannedKill]:
    """`kills` kills between `first_s` and `last_s`, evenly spread with jitter. The kinds (a gateway, the worker,
    Redis, PostgreSQL; or only `targets`) come in rounds, each round in its own shuffled order: every kind is
    hit as often as the others, and a run of four kills hits each once."""
    kinds: list[str] = []
    while len(kinds) < kills:
        round_ = list(targets)
        rng.shuffle(round_)
        kinds += round_
    span = (last_s - first_s) / max(kills, 1)
    plan = []
    for index, kind in enumerate(kinds[:kills]):
        target: Target = rng.choice(GATEWAYS) if kind == "gateway" else kind  # type: ignore[assignment]
        at_s = first_s + index * span + rng.uniform(0, span / 2)
        plan.append(PlannedKill(round(at_s, 2), target, round(rng.uniform(*PAUSE_RANGE_S), 2)))
    return plan


def code_under_test() -> dict[str, Any]:
    """The commit the cluster ran and the files under auction/, ops/ and settlement/ that differed from it: the
    working tree is shared with others at work, so a result must say which code it was."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
        return done.stdout.rstrip("\n")  # not strip(): a status line starts with a meaningful space

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        changed = git("status", "--porcelain", "--", "auction", "ops", "settlement").splitlines()
    except (OSError, subprocess.SubprocessError):
        return {"head": None, "uncommitted": []}
    return {"head": head or None, "uncommitted": sorted(line[3:] for line in changed)}


class Reporter:
    """Progress lines on stderr, stamped with the cluster's clock."""

    def __init__(self, cluster: Cluster, verbose: bool) -> None:
        self.cluster = cluster
        self.verbose = verbose

    def say(self, text: str) -> None:
        if self.verbose:
            print(f"[chaos {self.cluster.elapsed_s():6.1f} s] {text}", file=sys.stderr, flush=True)


# ---- the run ---------------------------------------------------------------------------------------------------


async def run_chaos(options: ChaosOptions) -> dict[str, Any]:
    """The whole run; returns what is written to `options.out` (and writes it)."""
    folder = options.folder or Path(tempfile.mkdtemp(prefix="chaos-"))
    with _removed_if_interrupted(folder, options):
        return await _run_in(folder, options)


@contextlib.contextmanager
def _removed_if_interrupted(folder: Path, options: ChaosOptions) -> Iterator[None]:
    """A run cut short (Ctrl-C, SIGTERM) leaves no temporary folder behind; a finished one decides in _finish."""
    try:
        yield
    except BaseException:
        if options.folder is None and not options.keep:
            shutil.rmtree(folder, ignore_errors=True)
        raise


async def _run_in(folder: Path, options: ChaosOptions) -> dict[str, Any]:
    cluster = Cluster(folder)
    report = Reporter(cluster, options.verbose)
    started = time.time()
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "seed": options.seed,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "code": code_under_test(),
    }
    try:
        report.say(f"starting Redis, PostgreSQL, two gateways and a worker in {folder}")
        await cluster.start()
        results |= await _sale_under_chaos(cluster, options, report)
    except Exception as exc:  # the run itself broke: that is reported (and fails the run), never hidden
        report.say(f"the run broke: {type(exc).__name__}: {exc}")
        results |= {"error": f"{type(exc).__name__}: {exc}", "passed": False, "failed": ["the run itself"]}
        results.setdefault("not_available", [])
    finally:
        report.say("stopping the cluster")
        await cluster.close()
    results["duration_s"] = round(time.time() - started, 1)
    if code_under_test() != results["code"]:
        results["code_at_end"] = code_under_test()  # it changed under the run: the result is of mixed code
    results["unexpected_exits"] = [asdict(exit) for exit in cluster.unexpected_exits]
    _finish(results, folder, options)
    return results


async def _sale_under_chaos(cluster: Cluster, options: ChaosOptions, report: Reporter) -> dict[str, Any]:
    rng = random.Random(options.seed)
    async with _connections(cluster) as (pg, store):
        sale = await build_sale(pg, store, rng, options.lots, options.buyers, options.duration_s)
    report.say(f"sale {sale.id}: {options.lots} lots, {options.buyers} buyers; {options.kills} kills to come")
    drive = Drive(cluster, sale, options, rng, report)
    try:
        figures = await drive.run()
        async with _connections(cluster) as (pg, store):
            figures["settle"] = await await_settled(pg, store, sale.id, options.settle_s)
            report.say(f"record and bills: {figures['settle']}")
            # Watchers can only finish once every lot has closed; if some never did, a moment to catch up is all.
            await drive.finish_watching(options.settle_s if figures["all_lots_closed"] else min(5.0, options.settle_s))
            evidence = await _evidence(pg, store, sale, drive, cluster)
            report.say("checking")
            checks = await run_checks(pg, evidence, cluster.database_url, cluster.redis_url)
    finally:
        await drive.finish_watching(0.0)  # however the run ended, no watcher outlives it
    figures["watchers"] = drive.watcher_figures()
    figures["checks"] = {check.name: check.to_json() for check in checks}
    figures["failed"] = [check.name for check in checks if check.ok is False]
    figures["not_available"] = [check.name for check in checks if check.ok is None]
    figures["passed"] = all(check.ok is True for check in checks)
    _say_checks(report, checks)
    return figures


@contextlib.asynccontextmanager
async def _connections(cluster: Cluster) -> AsyncIterator[tuple[asyncpg.Pool, LotStore]]:
    """A PostgreSQL pool and a store of the run's own, for building the sale and, later, for reading it back.
    Not held during the chaos: the run's own connections are not what is under test."""
    redis = connect(cluster.redis_url)
    pg = await asyncio.wait_for(asyncpg.create_pool(cluster.database_url, min_size=1, max_size=4), 30)
    store = LotStore(redis, pg=pg)
    try:
        yield pg, store
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(store.close(), 10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pg.close(), 10)
        with contextlib.suppress(Exception):
            await redis.aclose()


class Drive:
    """The bidders, the watchers and the kill schedule, from the sale's opening until every lot has closed."""

    def __init__(
        self, cluster: Cluster, sale: ChaosSale, options: ChaosOptions, rng: random.Random, report: Reporter
    ) -> None:
        self.cluster = cluster
        self.sale = sale
        self.options = options
        self.report = report
        self.market = Market(sale.terms, {buyer.paddle: buyer.company for buyer in sale.buyers})
        urls, names = cluster.gateway_urls(), [str(name) for name in GATEWAYS]
        interval_s = len(sale.buyers) / options.rate
        self.bidders = [
            BidderProgram(
                buyer, sale.id, Dialer(urls, names, i % len(urls), f"?token={buyer.token}"), self.market,
                random.Random(rng.random()), interval_s, cluster.elapsed_s,
            )
            for i, buyer in enumerate(sale.buyers)
        ]  # fmt: skip
        lots = [t.lot for t in sale.terms]
        self.watchers = [
            WatcherProgram(f"watcher-{i + 1}", sale.id, lots, Dialer(urls, names, i % len(urls)), self.market)
            for i in range(options.watchers)
        ]
        self.stop_bidding = asyncio.Event()
        self.stop_watching = asyncio.Event()
        self.watching: list[asyncio.Task[None]] = []
        self.outages: list[Outage] = []
        self.bidding_s = 0.0

    async def run(self) -> dict[str, Any]:
        """Bid, watch and kill until every lot has closed (or the time for it is up); the figures."""
        opens_s = self.cluster.elapsed_s() + (self.sale.opens_ms - now_ms()) / 1000
        closes_s = opens_s + (self.sale.last_close_ms - self.sale.opens_ms) / 1000
        plan = kill_schedule(
            random.Random(self.options.seed), self.options.kills, opens_s + 1.0, closes_s + 3.0, self.options.targets
        )
        self.watching = [asyncio.create_task(w.run(self.stop_watching)) for w in self.watchers]
        bidding = [asyncio.create_task(b.run(self.stop_bidding)) for b in self.bidders]
        chaos = asyncio.create_task(self._kill_on_schedule(plan))
        status = asyncio.create_task(self._status_lines())
        began = time.monotonic()
        try:
            closed = await self._await_closes()
            self.bidding_s = time.monotonic() - began
            self.report.say("every lot has closed" if closed else "NOT every lot closed in time")
            self.stop_bidding.set()
            await self._finish_bids(bidding)
            await asyncio.wait_for(chaos, _schedule_bound(plan))
        finally:
            self.stop_bidding.set()
            for task in [*bidding, chaos, status]:
                task.cancel()
            await asyncio.gather(*bidding, chaos, status, return_exceptions=True)
        return {
            "sale": self.sale.id,
            "lots": len(self.sale.terms),
            "buyers": len(self.bidders),
            "all_lots_closed": closed,
            "kills": self._kill_figures(plan),
            "bids": self.bid_figures(),
        }

    async def _kill_on_schedule(self, plan: Sequence[PlannedKill]) -> None:
        """Each kill at its time, or as soon as the previous target is back: one target down at a time."""
        for kill in plan:
            await asyncio.sleep(max(0.0, kill.at_s - self.cluster.elapsed_s()))
            self.report.say(f"kill -9 {kill.target} (down for {kill.pause_s:.1f} s)")
            outage = await self.cluster.knock_out(kill.target, kill.pause_s)
            self.outages.append(outage)
            self.report.say(f"{kill.target} back after {outage.down_s} s" if outage.error is None
                            else f"{kill.target} NOT back: {outage.error}")  # fmt: skip

    async def _await_closes(self) -> bool:
        """Poll Redis until every lot is final; False if the time allowed runs out first."""
        deadline = time.monotonic() + (self.sale.latest_close_ms - now_ms()) / 1000 + self.options.close_wait_s
        redis = connect(self.cluster.redis_url, socket_timeout=5.0)
        store = LotStore(redis)
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):  # Redis may be down this very moment
                    states = await asyncio.wait_for(store.states(self.sale.id), 10)
                    if len(states) == len(self.sale.terms) and all(s.status in FINAL_STATUSES for s in states):
                        return True
                await asyncio.sleep(0.5)
            return False
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(store.close(), 10)
            with contextlib.suppress(Exception):
                await redis.aclose()

    async def _finish_bids(self, bidding: list[asyncio.Task[None]]) -> None:
        abandon_at = time.monotonic() + BID_FINISH_S
        for bidder in self.bidders:
            bidder.abandon_at = abandon_at
        await asyncio.wait(bidding, timeout=BID_FINISH_S + 10)

    async def finish_watching(self, timeout_s: float) -> None:
        """Give the watchers until every one has seen every lot close, then stop them."""
        pending = [task for task in self.watching if not task.done()]
        if pending and timeout_s > 0:
            await asyncio.wait(pending, timeout=timeout_s)
        self.stop_watching.set()
        for task in self.watching:
            task.cancel()
        await asyncio.gather(*self.watching, return_exceptions=True)

    async def _status_lines(self) -> None:
        while True:
            await asyncio.sleep(STATUS_EVERY_S)
            bids = self.bid_figures()
            self.report.say(
                f"bids sent {bids['sent']} acked {bids['acked']} rejected {bids['rejected']}"
                f" resends {bids['resends']} hitches {dict(bids['hitches'])}; lots closed {len(self.market.closed)}"
            )

    # ---- figures ---------------------------------------------------------------------------------------------

    @property
    def bids(self) -> list[BidLog]:
        return [bid for bidder in self.bidders for bid in bidder.log.values()]

    def bid_figures(self) -> dict[str, Any]:
        bids = self.bids
        firsts = [bid.first_answer for bid in bids if bid.first_answer is not None]
        hitches: Counter[str] = sum((bid.hitches for bid in bids), Counter())
        reasons = Counter(a.reason or "" for a in firsts if a.kind == "rejected")
        seconds = self.bidding_s or max(self.cluster.elapsed_s(), 1.0)
        return {
            "sent": len(bids),
            "frames_sent": sum(bid.sends for bid in bids),
            "resends": sum(max(0, bid.sends - 1) for bid in bids),
            "acked": sum(1 for a in firsts if a.kind == "ack"),
            "rejected": sum(reasons.values()),
            "rejected_by_reason": dict(reasons.most_common()),
            "unavailable": hitches["unavailable"],
            "hitches": dict(hitches.most_common()),
            "unresolved": sum(1 for bid in bids if bid.unresolved),
            "answer_s": _spread([w for w in map(_wait_s, bids) if w is not None]),
            "stray_answers": sum(bidder.strays for bidder in self.bidders),
            "bidding_s": round(seconds, 1),
            "sent_per_s": round(len(bids) / seconds, 1),
            "connects": sum(bidder.dialer.connects for bidder in self.bidders),
            "failed_connects": sum(bidder.dialer.failures for bidder in self.bidders),
        }

    def _kill_figures(self, plan: Sequence[PlannedKill]) -> dict[str, Any]:
        by_kind = Counter("gateway" if o.target in GATEWAYS else o.target for o in self.outages)
        return {
            "planned": len(plan),
            "done": len(self.outages),
            "by_target": dict(by_kind),
            "by_process": dict(Counter(o.target for o in self.outages)),
            "not_back": sum(1 for o in self.outages if o.error is not None),
            "log": [self._outage_entry(o) for o in self.outages],
        }

    def _outage_entry(self, outage: Outage) -> dict[str, Any]:
        """The outage, with what the bidders got while it lasted, by gateway: acks, refusals, and what made
        them send a bid again."""
        entry: dict[str, Any] = {**asdict(outage), "down_s": outage.down_s}
        end = outage.back_at_s if outage.back_at_s is not None else float("inf")
        during = [a for bid in self.bids for a in bid.answers if outage.killed_at_s <= a.at_s <= end]
        entry["acks_while_down"] = dict(Counter(a.gateway for a in during if a.kind == "ack"))
        entry["rejections_while_down"] = dict(Counter(a.gateway for a in during if a.kind == "rejected"))
        hitches = Counter(
            f"{what} via {gateway}"
            for bid in self.bids
            for at_s, what, gateway in bid.hitch_log
            if outage.killed_at_s <= at_s <= end
        )
        entry["resent_while_down"] = dict(hitches.most_common())
        waits = [_wait_s(bid) for bid in self.bids if outage.killed_at_s <= bid.first_sent_s <= end]
        entry["longest_answer_s"] = max((w for w in waits if w is not None), default=None)
        return entry

    def watcher_figures(self) -> dict[str, Any]:
        return {
            "watchers": len(self.watchers),
            "events": sum(w.events for w in self.watchers),
            "subscriptions": sum(w.subscriptions for w in self.watchers),
            "resumes": sum(w.resumes for w in self.watchers),
            "errors": dict(sum((w.errors for w in self.watchers), Counter())),
            "saw_every_lot_close": sum(1 for w in self.watchers if w.done.is_set()),
        }


def _wait_s(bid: BidLog) -> float | None:
    """From a bid's first send to its first answer, resends and reconnects included."""
    answer = bid.first_answer
    return None if answer is None else round(answer.at_s - bid.first_sent_s, 3)


def _spread(values: list[float]) -> dict[str, float]:
    """Median, 99th percentile and maximum (nearest rank)."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]

    return {"p50": rank(0.5), "p99": rank(0.99), "max": ordered[-1]}


def _schedule_bound(plan: Sequence[PlannedKill]) -> float:
    """How long the rest of the kill schedule may take, at worst: each kill bounded by its restart's timeouts."""
    return 30.0 + 150.0 * len(plan)


async def await_settled(pg: asyncpg.Pool, store: LotStore, sale: int, timeout_s: float) -> dict[str, int]:
    """Wait until PostgreSQL holds every event Redis has, and every close is billed or recorded as passed; the
    last figures either way (`settled` 1 or 0)."""
    deadline = time.monotonic() + timeout_s
    figures: dict[str, int] = {}
    while True:
        with contextlib.suppress(Exception):  # a server still recovering: try again
            figures = await asyncio.wait_for(_settle_figures(pg, store, sale), 10)
        caught_up = bool(figures) and (
            figures["events_recorded"] >= figures["events_in_redis"]
            and figures["billed"] >= figures["sold"]
            and figures["passed_recorded"] >= figures["passed"]
        )
        if caught_up or time.monotonic() > deadline:
            return {**figures, "settled": int(caught_up)}
        await asyncio.sleep(0.5)


async def _settle_figures(pg: asyncpg.Pool, store: LotStore, sale: int) -> dict[str, int]:
    in_redis = sum(state.seq for state in await store.states(sale))
    row = await pg.fetchrow(
        "SELECT (SELECT count(*) FROM lot_events WHERE sale_id = $1) AS events_recorded, "
        "(SELECT count(*) FROM lot_events WHERE sale_id = $1 AND type = 'LotSold') AS sold, "
        "(SELECT count(*) FROM lot_events WHERE sale_id = $1 AND type = 'LotPassed') AS passed, "
        "(SELECT count(*) FROM invoice_lines WHERE sale_id = $1 AND source = 'hammer') AS billed, "
        "(SELECT count(*) FROM passed_lots WHERE sale_id = $1) AS passed_recorded",
        sale,
    )
    return {"events_in_redis": in_redis, **{key: int(value) for key, value in dict(row).items()}}


async def _evidence(pg: asyncpg.Pool, store: LotStore, sale: ChaosSale, drive: Drive, cluster: Cluster) -> Evidence:
    lines, passed = await load_billing(pg, sale.id)
    return Evidence(
        sale=sale.id,
        terms=await stored_terms(pg, sale.id),
        record=await load_record(pg, sale.id),
        redis_states={state.terms.lot: state for state in await store.states(sale.id)},
        invoice_lines=lines,
        passed_rows=passed,
        bids=drive.bids,
        watchers=drive.watchers,
        unexpected_exits=list(cluster.unexpected_exits),
        read_at_ms=now_ms(),
    )


# ---- reporting ---------------------------------------------------------------------------------------------------


def _say_checks(report: Reporter, checks: Sequence[CheckResult]) -> None:
    for check in checks:
        verdict = {True: "ok", False: "FAILED", None: "not available"}[check.ok]
        report.say(f"check {check.name:<28} {verdict:<13} {check.counts}")
        for failure in check.failures[:3]:
            report.say(f"    {failure}")
        if check.note:
            report.say(f"    {check.note}")


def _finish(results: dict[str, Any], folder: Path, options: ChaosOptions) -> None:
    """Write the results; remove the cluster's folder after a clean run, keep it (and say where) otherwise."""
    options.out.parent.mkdir(parents=True, exist_ok=True)
    if options.keep or not results.get("passed"):
        results["folder"] = str(folder)
    options.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if "folder" not in results:
        shutil.rmtree(folder, ignore_errors=True)


# ---- the command -------------------------------------------------------------------------------------------------


def _options(argv: Sequence[str] | None) -> ChaosOptions:
    defaults = ChaosOptions()
    parser = argparse.ArgumentParser(prog="python -m loadtest.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=defaults.lots)
    parser.add_argument("--buyers", type=int, default=defaults.buyers)
    parser.add_argument("--watchers", type=int, default=defaults.watchers)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="bids a second, offered in all")
    parser.add_argument("--kills", type=int, default=defaults.kills)
    parser.add_argument(
        "--targets",
        type=lambda text: tuple(name.strip() for name in text.split(",") if name.strip()),
        default=defaults.targets,
        help=f"comma-separated kinds to kill, of {','.join(TARGET_KINDS)} (default all: one kind at a time, to"
        " find which kill a fault follows)",
    )
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="seconds, opening to last close")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--close-wait", type=float, default=defaults.close_wait_s, help="seconds past the last close")
    parser.add_argument("--settle", type=float, default=defaults.settle_s, help="seconds allowed to catch up")
    parser.add_argument("--out", type=Path, default=defaults.out)
    parser.add_argument("--folder", type=Path, default=None, help="the cluster's folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's folder after a clean run too")
    args = parser.parse_args(argv)
    if min(args.lots, args.buyers, args.rate) <= 0 or min(args.kills, args.watchers) < 0:
        parser.error("--lots, --buyers and --rate must be positive; --kills and --watchers at least 0")
    if not args.targets or set(args.targets) - set(TARGET_KINDS):
        parser.error(f"--targets: choose from {','.join(TARGET_KINDS)}")
    if args.folder is not None and "," in str(args.folder.resolve()):
        parser.error("--folder: no comma in the path (PostgreSQL would take it for two socket folders)")
    return replace(
        defaults, lots=args.lots, buyers=args.buyers, watchers=args.watchers, rate=args.rate, kills=args.kills,
        targets=args.targets, duration_s=args.duration, seed=args.seed, close_wait_s=args.close_wait,
        settle_s=args.settle, out=args.out, folder=args.folder, keep=args.keep,
    )  # fmt: skip


async def _main(options: ChaosOptions) -> dict[str, Any]:
    """The run, cancelled (and so cleaned up) by SIGTERM as asyncio.run already does for Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run_chaos(options)


def main(argv: Sequence[str] | None = None) -> int:
    options = _options(argv)
    try:
        results = asyncio.run(_main(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("chaos run interrupted; the cluster was stopped", file=sys.stderr)
        return 130
    print(f"chaos run: {'PASSED' if results['passed'] else 'FAILED'}; wrote {options.out}")
    if results["failed"]:
        print(f"  failed: {', '.join(results['failed'])}")
    if results["not_available"]:
        print(f"  not available (not a pass): {', '.join(results['not_available'])}")
    if "folder" in results:
        print(f"  the cluster's data and logs are in {results['folder']}")
    return 0 if results["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
