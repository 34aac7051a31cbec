"""The two writer modes on a hot lot, with 1, 2 and 4 gateway processes: `python -m loadtest.writers`.

    python -m loadtest.writers [--quick] [--runs N] [--modes single,optimistic] [--gateways 1,2,4]
                               [--rates 500,1000,2000,4000,8000] [--step-s 5] [--buyers 800] [--out loadtest/results]

AUCTION_WRITERS chooses how a sale's commands are committed (auction/store): "single", one store holds each
sale's lease and commits for it while every other gateway forwards its commands to that one over Redis pub/sub;
or "optimistic", every gateway commits directly and the commit script's compare-and-set sorts out the races
(a loser is decided again, up to 10 times, then answered `busy`). This scenario measures both where they
differ most: one hot lot, bids spread evenly over N gateways' websockets.

For every run, every mode and every N (a "cell"), on one embedded Redis (`appendfsync always`) and one embedded
PostgreSQL shared by the whole matrix:
  1. N gateways (`python -m auction gateway`) and one worker (`python -m auction worker`), started with
     AUCTION_WRITERS set, and stopped again after the cell; a fresh sale of one hot lot and a few quiet ones,
     every buyer registered for it (the buyers and their tokens are made once);
  2. one warm-up bid per connection, then one open-loop step per offered rate, every bid on the hot lot, each a
     valid next bid (loadtest/generator.py: two increments above the last planned one, from another buyer than
     the last), connection i on gateway i mod N;
  3. per step: the answers by kind, ack latency from the bid's due time (HDR), the store counters of every
     gateway's /metrics (summed and per gateway), the pub/sub messages Redis relayed, the lease's changes of
     hands, and the CPU census of every process (loadtest/cpu.py);
  4. after the steps, the checks: every bid answered once, on its own connection; every ack in the lot's
     stream in Redis under its client id and seq; seqs gap-free and prices rising; once the persister has
     drained, every ack in PostgreSQL and the sale's record replayed by the verifier (`auction audit verify`);
     no process exited or logged a traceback.
Cells are interleaved (each run walks the whole matrix, starting one cell later than the run before), so a
noisy minute on this shared machine falls on different cells in different runs; each figure is the median of
the runs. The baseline is the 1-gateway single-writer cell of the same run: accepted bids/s are also given as
a ratio to it, run by run, at the same offered rate.

Writes writers.json and WRITERS.md in --out (loadtest/results by default); notes written by hand below the
marker line in WRITERS.md are kept when it is written again (loadtest/writers_report.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from auction import audit, keys
from auction.engine.journal import JOURNAL_DECODER, Committed
from auction.engine.messages import AnyEvent, BidAccepted, PlaceBid
from auction.redis_adapter import connect
from auction.sale_streams import all_acknowledged
from auction.store import BACKGROUND_PRIORITY, LotStore, service_store
from loadtest import one_address, own_cpu, scenarios, writers_report
from loadtest.chaos_cluster import free_port, in_daemon_thread, log_tail
from loadtest.cpu import store_counters
from loadtest.generator import AckRecord, BidderPool, PlannedBid, StepResult, raise_nofile, steady_schedule
from loadtest.own_cpu import OwnCensus
from ops.embedded import EmbeddedPostgres, EmbeddedRedis
from ops.migrate import migrate

MODES = ("single", "optimistic")
GATEWAYS = (1, 2, 4)
# 8,000: the first full run found no limit of the single-writer mode at 4,000 (every bid decided, no busy)
RATES = (500.0, 1000.0, 2000.0, 4000.0, 8000.0)
QUICK_RATES = (500.0, 2000.0)
BASELINE = ("single", 1)  # the cell every other is compared with, in the same run
HOT_LOT = 1
QUIET_LOTS = 3  # lots 2..4: they get a warm-up bid each and nothing else
STEP_PAUSE_S = 0.5
SERVER_START_TIMEOUT_S = 90.0
MIGRATE_TIMEOUT_S = 60.0
GATEWAY_READY_TIMEOUT_S = 45.0
STOP_GRACE_S = 8.0
SCRAPE_TIMEOUT_S = 10.0
SETUP_TIMEOUT_S = 120.0  # a cell's sale and its buyers' registrations, the connections, the warm-up
CHECK_TIMEOUT_S = 180.0  # the persister's drain and the verifier
DRAIN_WAIT_S = 60.0
LOG_LINES = 8
JOURNAL_CHUNK = 2000  # journal entries read from Redis at a time
RECORD_PAGE = 5000  # a lot's events read at a time
# The store counters each gateway's /metrics has (auction/gateway/metrics.py). It has exported `fenced`,
# `forwarded` and `served` too since the run in WRITERS.md, where forwarding was inferred as below.
COUNTERS = ("commits", "commands", "batches", "conflicts", "busy", "deciding_seconds", "committing_seconds")


@dataclass(frozen=True)
class WritersOptions:
    modes: tuple[str, ...] = MODES
    gateways: tuple[int, ...] = GATEWAYS
    rates: tuple[float, ...] = RATES
    step_s: float = 5.0
    runs: int = 3
    buyers: int = 800  # the gateway allows a connection 20 messages/s: 8,000 bids/s need 400 at least
    out: Path | None = Path(__file__).parent / "results"
    redis_url: str | None = None  # None: an embedded Redis with appendfsync always
    database_url: str | None = None  # None: an embedded PostgreSQL
    folder: Path | None = None  # servers' data and processes' logs; None: a temporary folder, removed after
    keep: bool = False  # keep the folder even after a clean run
    command: str = "python -m loadtest.writers"
    verbose: bool = True

    def cells(self) -> list[tuple[str, int]]:
        """Every (mode, gateways) asked for, and the baseline whatever was asked."""
        cells = [(mode, n) for mode in self.modes for n in self.gateways]
        return cells if BASELINE in cells else [BASELINE, *cells]


def say(options: WritersOptions, text: str) -> None:
    if options.verbose:
        print(f"[writers {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---- the servers, shared by the whole matrix ---------------------------------------------------------------------


@dataclass
class Servers:
    redis_url: str
    database_url: str
    started: list[EmbeddedRedis | EmbeddedPostgres] = field(default_factory=list)

    @staticmethod
    async def start(folder: Path, redis_url: str | None, database_url: str | None) -> Servers:
        """The URLs given, and an embedded server for each one missing (Redis with appendfsync always)."""
        redis = None if redis_url else EmbeddedRedis(folder / "redis", appendfsync="always")
        postgres = None if database_url else EmbeddedPostgres(folder / "postgres")
        servers = Servers(redis_url or "", database_url or "", [s for s in (redis, postgres) if s])
        try:
            await asyncio.gather(
                *(
                    in_daemon_thread(s.start, SERVER_START_TIMEOUT_S, f"start {type(s).__name__}")
                    for s in servers.started
                )
            )
            if redis is not None:
                servers.redis_url = redis.url
            if postgres is not None:
                servers.database_url = postgres.url
                await asyncio.wait_for(migrate(postgres.url), MIGRATE_TIMEOUT_S)
        except BaseException:
            await servers.stop()
            raise
        return servers

    async def stop(self) -> None:
        """Never raises: it runs on every way out."""
        for server in reversed(self.started):
            with contextlib.suppress(Exception):
                await in_daemon_thread(server.stop, SERVER_START_TIMEOUT_S, f"stop {type(server).__name__}")
        self.started.clear()


# ---- the processes of one cell ----------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    port: int | None = None
    process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


class Fleet:
    """N gateways and a worker with AUCTION_WRITERS=`mode`, each logging to a file of its own."""

    def __init__(self, folder: Path, servers: Servers, mode: str, gateways: int) -> None:
        self.folder = folder
        self.mode = mode
        python = [sys.executable, "-m", "auction"]
        self.gateways = []
        for index in range(gateways):
            port = free_port()
            argv = [*python, "gateway", "--host", "127.0.0.1", "--port", str(port)]
            self.gateways.append(Proc(f"gateway-{index + 1}", argv, folder / f"gateway-{index + 1}.log", port))
        self.worker = Proc("worker", [*python, "worker"], folder / "worker.log")
        self.env = dict(os.environ)
        self.env.update(
            AUCTION_REDIS_URL=servers.redis_url,
            AUCTION_DATABASE_URL=servers.database_url,
            AUCTION_WRITERS=mode,
            AUCTION_DURABILITY="redis",
            PYTHONUNBUFFERED="1",
            **one_address.ENV,
        )
        self.stop_codes: dict[str, int | None] = {}

    @property
    def procs(self) -> list[Proc]:
        return [self.worker, *self.gateways]

    @property
    def ws_urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{g.port}/ws" for g in self.gateways]

    def pids(self) -> list[int]:
        return [g.process.pid if g.process is not None else 0 for g in self.gateways]

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for proc in self.procs:
            with proc.log_path.open("ab") as log:
                proc.process = await asyncio.create_subprocess_exec(
                    *proc.argv,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,  # a Ctrl-C reaches only us; we stop them ourselves
                )
        await asyncio.gather(*(self._ready(g) for g in self.gateways))

    async def _ready(self, proc: Proc) -> None:
        deadline = time.monotonic() + GATEWAY_READY_TIMEOUT_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as http:
            while time.monotonic() < deadline:
                if not proc.running:
                    raise RuntimeError(f"{proc.name} exited while starting: {log_tail(proc.log_path, 5)}")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.get(f"http://127.0.0.1:{proc.port}/api/health") as reply:
                        if reply.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{proc.name} was not healthy within {GATEWAY_READY_TIMEOUT_S:.0f} s")

    def exits(self) -> list[dict[str, Any]]:
        """Processes that exited while they should have been running: a fault, with the tail of the log."""
        return [
            {"process": p.name, "code": p.process.returncode if p.process else None, "log": log_tail(p.log_path)}
            for p in self.procs
            if not p.running
        ]

    def log_lines(self) -> dict[str, dict[str, Any]]:
        """What each process wrote: nothing, normally (they log warnings and errors only). Per process that wrote
        something: how many lines, how many tracebacks, and the first few lines."""
        found: dict[str, dict[str, Any]] = {}
        for proc in self.procs:
            try:
                lines = [line for line in proc.log_path.read_text(errors="replace").splitlines() if line.strip()]
            except OSError:
                continue
            if lines:
                tracebacks = sum(1 for line in lines if line.startswith("Traceback"))
                found[proc.name] = {"lines": len(lines), "tracebacks": tracebacks, "first": lines[:LOG_LINES]}
        return found

    async def stop(self) -> None:
        """SIGTERM to every process, SIGKILL past the grace period; notes each exit code. Never raises."""
        for proc in self.procs:
            if proc.running and proc.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.process.terminate()
        for proc in self.procs:
            if proc.process is None:
                continue
            try:
                await asyncio.wait_for(proc.process.wait(), STOP_GRACE_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.process.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.process.wait(), STOP_GRACE_S)
            self.stop_codes[proc.name] = proc.process.returncode


# ---- one step, measured ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pids:
    """The run's own processes, for the CPU census: the servers' (found once) and the cell's."""

    redis: int | None
    postmaster: int | None

    @staticmethod
    async def find(redis: Redis, pg: asyncpg.Pool) -> Pids:
        """Redis's pid from INFO, PostgreSQL's postmaster as the parent of one of our backends; None for a
        server that is not a process on this machine."""
        info = await redis.info("server")
        redis_pid = int(info.get("process_id", 0)) or None
        if redis_pid is not None and "redis" not in own_cpu.command_of(redis_pid):
            redis_pid = None
        postmaster = own_cpu.parent_of(int(await pg.fetchval("SELECT pg_backend_pid()")))
        if postmaster is not None and "postgres" not in own_cpu.command_of(postmaster):
            postmaster = None
        return Pids(redis_pid, postmaster)

    def census(self, fleet: Fleet) -> OwnCensus:
        roles = {pid: "gateway" for pid in fleet.pids()}
        if fleet.worker.process is not None:
            roles[fleet.worker.process.pid] = "worker"
        if self.redis is not None:
            roles[self.redis] = "redis"
        children: dict[int, str] = {}
        if self.postmaster is not None:
            roles[self.postmaster] = children[self.postmaster] = "postgres"
        roles[os.getpid()] = "generator"
        return OwnCensus.take(roles, children)


@dataclass(frozen=True)
class Reading:
    """What is read before and after a step: the CPU census, each gateway's counters, Redis's view."""

    census: OwnCensus
    counters: list[dict[str, float]]
    publishes: int
    fence: int
    owner: str

    @staticmethod
    async def take(redis: Redis, pids: Pids, fleet: Fleet, sale: int) -> Reading:
        scrapes = await asyncio.gather(*(_scrape(url) for url in fleet.ws_urls))
        stats = await redis.info("commandstats")
        fence, owner = await redis.mget(keys.sale_fence(sale), keys.sale_owner(sale))
        owner_text = owner.decode() if isinstance(owner, bytes) else str(owner or "")
        return Reading(
            pids.census(fleet),
            scrapes,
            int(stats.get("cmdstat_publish", {}).get("calls", 0)),
            int(fence or 0),
            owner_text.split("|")[0],
        )


async def _scrape(ws_url: str) -> dict[str, float]:
    try:
        return await asyncio.wait_for(store_counters(ws_url), SCRAPE_TIMEOUT_S)
    except (aiohttp.ClientError, OSError, TimeoutError):
        return {}


def step_figures(
    result: StepResult,
    plan: Sequence[PlannedBid],
    before: Reading,
    after: Reading,
    fleet: Fleet,
) -> dict[str, Any]:
    """One step's row: the generator's counts and latencies, the store's counters, where the cores went."""
    mode, gateways, pids = fleet.mode, len(fleet.gateways), fleet.pids()
    wall = after.census.at - before.census.at
    gateway_of = {bid.client_id: bid.conn % gateways for bid in plan}
    sent_by_gateway = [0] * gateways
    for g in gateway_of.values():
        sent_by_gateway[g] += 1
    acked_by_gateway = [0] * gateways
    for ack in result.acks:
        acked_by_gateway[gateway_of[ack.client_id]] += 1
    per_gateway = [
        {name: round(a.get(name, 0.0) - b.get(name, 0.0), 3) for name in COUNTERS}
        for b, a in zip(before.counters, after.counters, strict=True)
    ]
    store = {name: round(sum(g[name] for g in per_gateway), 3) for name in COUNTERS}
    used = [after.census.pid_seconds_since(before.census, pid) for pid in pids]
    answered = result.acked + result.rejected
    # CPU per answer: the figure a busy, shared machine disturbs least (scenarios._run_timed says why)
    per_answer = sum(u for u in used if u is not None) / answered * 1e6 if answered else 0.0
    # In the single mode one gateway commits for the sale (the one whose store took the commands); every bid
    # that reached another gateway was forwarded to it. /metrics doesn't export StoreStats.forwarded, so this
    # is inferred from where the generator sent its bids: what the store should have forwarded.
    owner = max(range(gateways), key=lambda g: per_gateway[g]["commands"]) if per_gateway else 0
    forwarded = sum(n for g, n in enumerate(sent_by_gateway) if g != owner) if mode == "single" else 0
    busy = result.reasons["busy"]
    summary = result.summary()
    return {
        **summary,
        "accepted_per_s": round(result.acked / result.duration_s, 1),
        "busy_pct": round(100 * busy / result.sent, 2) if result.sent else 0.0,
        "sent_by_gateway": sent_by_gateway,
        "acked_by_gateway": acked_by_gateway,
        "store": store,
        "store_by_gateway": per_gateway,
        "committing_gateway": owner + 1,
        "forwarded_inferred": forwarded,
        "pubsub_messages": after.publishes - before.publishes,
        "lease_changes": after.fence - before.fence,
        "lease_owner_changed": before.owner != after.owner,
        "cores": after.census.cores_since(before.census),
        "gateway_cores": [after.census.pid_cores_since(before.census, pid) for pid in pids],
        "gateway_cpu_us_per_answer": round(per_answer, 1),
        "wall_s": round(wall, 2),
    }


def _line(row: dict[str, Any]) -> str:
    reasons = " ".join(f"{k} {v}" for k, v in sorted(row["reasons"].items()))
    errors = " ".join(f"{k} {v}" for k, v in sorted(row["error_codes"].items()))
    cores = " ".join(f"{k} {v:.2f}" for k, v in row["cores"].items() if v >= 0.01)
    return (
        f"{row['offered_per_s']:>6.0f}/s: accepted {row['accepted_per_s']:>7.1f}/s, rejected {reasons or '-'},"
        f" errors {errors or '-'}; ack p50 {row['ack_ms']['p50']:.1f} p99 {row['ack_ms']['p99']:.1f}"
        f" p99.9 {row['ack_ms']['p999']:.1f} ms; conflicts {row['store']['conflicts']:.0f},"
        f" forwarded~{row['forwarded_inferred']}; cores {cores}; gateways {row['gateway_cores']}"
    )


# ---- the checks of one cell -----------------------------------------------------------------------------------


async def record_checks(store: LotStore, sale: int, lots: Sequence[int], acks: Sequence[AckRecord]) -> dict[str, Any]:
    """Every ack against the lots' events (their streams in Redis, and the record in PostgreSQL for what the
    janitor trimmed from them): its BidAccepted is there under its client id, at the seq and price the ack names
    (a plain bid and no maximums: one event per acceptance, the price its amount); each lot's seqs run 1, 2, 3...
    and the accepted amounts rise with them."""
    accepted: dict[tuple[int, str], BidAccepted] = {}
    gaps, not_rising, events = 0, 0, 0
    for lot in lots:
        last_amount = -1
        for expected_seq, event in enumerate(await _all_events(store, sale, lot), 1):
            events += 1
            if event.seq != expected_seq:
                gaps += 1
            if isinstance(event, BidAccepted):
                if event.amount <= last_amount:
                    not_rising += 1
                last_amount = event.amount
                accepted[(lot, event.client_id)] = event
    missing, mismatched = 0, 0
    examples: list[str] = []
    for ack in acks:
        found = accepted.get((ack.lot, ack.client_id))
        if found is None:
            missing += 1
            if len(examples) < 3:
                examples.append(f"ack of {ack.client_id} (lot {ack.lot} seq {ack.seq}) has no BidAccepted")
        elif (found.seq, found.amount) != (ack.seq, ack.price):
            mismatched += 1
            if len(examples) < 3:
                examples.append(
                    f"ack of {ack.client_id} says seq {ack.seq} at {ack.price}; its event: seq {found.seq} at"
                    f" {found.amount}"
                )
    return {
        "acks": len(acks),
        "events": events,
        "acks_without_event": missing,
        "acks_not_matching_event": mismatched,
        "seq_gaps": gaps,
        "prices_not_rising": not_rising,
        "examples": examples,
    }


async def _all_events(store: LotStore, sale: int, lot: int) -> list[AnyEvent]:
    found: list[AnyEvent] = []
    while page := await store.events_after(sale, lot, found[-1].seq if found else 0, RECORD_PAGE):
        found += page
    return found


def _step_key(client_id: str) -> tuple[int, int] | None:
    """`s<step>-<i>` -> (step, i): the order the generator sent it in (None for the warm-up's bids)."""
    if not client_id.startswith("s"):
        return None
    step, _, index = client_id[1:].partition("-")
    return (int(step), int(index)) if step.isdigit() and index.isdigit() else None


async def journal_checks(redis: Redis, sale: int, answers: Mapping[str, str]) -> dict[str, Any]:
    """Every answer of the steps against the sale's journal in Redis (what each store decided, in order, in the
    same atomic step as the commit). `answers`: client id -> "ack" or the refusal's reason.
    - each command decided at most once, and its answer the journal's verdict; a `busy` one never decided;
    - each buyer's commands decided in the order the buyer sent them (one connection: one order, which the
      store keeps, forwarding included);
    - which stores committed the steps' commands (one, in the single mode, unless the lease moved)."""
    verdicts: dict[str, list[str]] = {}
    last_of: dict[int, tuple[int, int]] = {}
    reordered = 0
    writers: Counter[str] = Counter()
    examples: list[str] = []
    start = "-"
    while True:
        chunk: list[tuple[bytes, dict[bytes, bytes]]]
        chunk = await redis.xrange(keys.sale_journal(sale), min=start, count=JOURNAL_CHUNK)  # type: ignore[assignment]
        for _id, fields in chunk:
            entry = JOURNAL_DECODER.decode(fields[keys.JOURNAL_FIELD.encode()])
            if not isinstance(entry, Committed):
                continue
            for verdict in entry.verdicts:
                command = verdict.command
                key = _step_key(command.client_id) if isinstance(command, PlaceBid) else None
                if key is None or not isinstance(command, PlaceBid):
                    continue
                writers[entry.writer] += 1
                outcome = "ack" if verdict.rejected is None else verdict.rejected.reason
                verdicts.setdefault(command.client_id, []).append(outcome)
                last = last_of.get(command.bidder)
                if last is not None and key < last:
                    reordered += 1
                    if len(examples) < 3:
                        examples.append(
                            f"buyer {command.bidder}: {command.client_id} decided after s{last[0]}-{last[1]}"
                        )
                last_of[command.bidder] = max(key, last) if last is not None else key
        if len(chunk) < JOURNAL_CHUNK:
            break
        start = "(" + chunk[-1][0].decode()
    twice = sum(1 for found in verdicts.values() if len(found) > 1)
    busy_decided, not_recorded, differs = 0, 0, 0
    for client_id, answer in answers.items():
        found = verdicts.get(client_id)
        if answer == "busy":
            if found:
                busy_decided += 1
                if len(examples) < 6:
                    examples.append(f"{client_id} was answered busy, but decided: {found}")
        elif found is None:
            not_recorded += 1
        elif found[0] != answer:
            differs += 1
            if len(examples) < 6:
                examples.append(f"{client_id} was answered {answer}, the journal says {found[0]}")
    return {
        "verdicts": sum(len(found) for found in verdicts.values()),
        "decided_twice": twice,
        "busy_but_decided": busy_decided,
        "answered_not_in_journal": not_recorded,
        "answer_differs_from_journal": differs,
        "decided_not_answered": sum(1 for client_id in verdicts if client_id not in answers),
        "reordered_within_a_buyer": reordered,
        "stores_that_committed": len(writers),
        "examples": examples,
    }


def answers_of(results: Sequence[StepResult]) -> dict[str, str]:
    """client id -> "ack" or the refusal's reason, over the steps."""
    answers: dict[str, str] = {}
    for result in results:
        answers.update((ack.client_id, "ack") for ack in result.acks)
        answers.update(result.refusals)
    return answers


async def persisted_checks(bench: scenarios.Bench, redis: Redis, sale: int) -> dict[str, Any]:
    """Once the persister has drained the sale (bounded): every ack in lot_events, and the verifier's replay."""
    lost = await scenarios.lost_acked_bids(bench, DRAIN_WAIT_S)
    wanted = int(await redis.xlen(keys.sale_journal(sale)))  # what Redis still holds (the janitor trims the rest)
    deadline = time.monotonic() + DRAIN_WAIT_S
    while time.monotonic() < deadline:
        if await all_acknowledged(redis, keys.sale_journal(sale), [keys.PERSISTER_GROUP]):
            break
        await asyncio.sleep(0.2)
    copied = int(await bench.pg.fetchval("SELECT count(*) FROM sale_journal WHERE sale_id = $1", sale))
    verification = await audit.verify(bench.pg, sale)
    return {
        "lost_acked_bids": lost["lost_acked_bids"],
        "acked_bids_checked": lost["acked_bids_checked"],
        "journal_in_redis": wanted,
        "journal_copied": copied,
        "verifier_ok": verification.ok,
        "verifier": verification.report().splitlines()[:6],
    }


def answer_checks(steps: Sequence[dict[str, Any]]) -> dict[str, int]:
    return {
        name: sum(int(step[name]) for step in steps) for name in ("unanswered", "duplicates", "misrouted", "errors")
    }


# ---- a cell ---------------------------------------------------------------------------------------------------


@dataclass
class Context:
    options: WritersOptions
    folder: Path
    servers: Servers
    redis: Redis
    pg: asyncpg.Pool
    store: LotStore
    pids: Pids
    bidder_ids: list[int]
    tokens: list[str]
    consignor: int


async def run_cell(ctx: Context, mode: str, gateways: int, run: int) -> dict[str, Any]:
    """One (mode, gateways) cell of one run: its processes, its sale, its steps, its checks. Never raises
    (but for cancellation): a failure is reported in the cell, and the processes are stopped whatever happens."""
    fleet = Fleet(ctx.folder / f"run{run + 1}-{mode}-{gateways}", ctx.servers, mode, gateways)
    cell: dict[str, Any] = {"mode": mode, "gateways": gateways, "run": run + 1, "code": code_fingerprint(), "steps": []}
    started = time.monotonic()
    say(ctx.options, f"run {run + 1}: {mode}, {gateways} gateway(s)")
    try:
        await _cell(ctx, fleet, cell)
    except Exception as exc:  # reported in the cell; the matrix goes on
        cell["error"] = f"{type(exc).__name__}: {exc}"
        say(ctx.options, f"  the cell failed: {cell['error']}")
    finally:
        cell.setdefault("exits", fleet.exits())
        await fleet.stop()
        cell["log_lines"] = fleet.log_lines()
        cell["stop_codes"] = fleet.stop_codes
        cell["seconds"] = round(time.monotonic() - started, 1)
    return cell


async def _cell(ctx: Context, fleet: Fleet, cell: dict[str, Any]) -> None:
    options = ctx.options
    async with asyncio.timeout(SETUP_TIMEOUT_S):
        await fleet.start()
        bench = scenarios.Bench(
            ws_url=fleet.ws_urls[0], pg=ctx.pg, redis=ctx.redis, store=ctx.store, gateway_pid=fleet.pids()[0],
            bidder_ids=ctx.bidder_ids, tokens=ctx.tokens, consignor=ctx.consignor,
        )  # fmt: skip
        sale = await scenarios.build_sale(bench, 1 + QUIET_LOTS)
    cell["sale"] = sale.id
    cursor = scenarios.cursor_for(sale)
    async with BidderPool(fleet.ws_urls, ctx.tokens) as pool:  # every connect and handshake is bounded
        conns = len(pool.sockets)
        async with asyncio.timeout(SETUP_TIMEOUT_S):
            await scenarios.warm(bench, pool, sale, cursor, conns)
        results: list[StepResult] = []
        for step, rate in enumerate(options.rates):
            plan = steady_schedule(rate, options.step_s, [HOT_LOT], conns, cursor, f"s{step}")
            before = await Reading.take(ctx.redis, ctx.pids, fleet, sale.id)
            result = await pool.run(sale.id, plan, rate, options.step_s)  # bounded: its drain times out
            after = await Reading.take(ctx.redis, ctx.pids, fleet, sale.id)
            bench.keep(sale.id, result)
            results.append(result)
            row = step_figures(result, plan, before, after, fleet)
            cell["steps"].append(row)
            say(options, f"  {_line(row)}")
            await asyncio.sleep(STEP_PAUSE_S)
    cell["exits"] = fleet.exits()  # before the checks: a process that died under load is the finding
    async with asyncio.timeout(CHECK_TIMEOUT_S):
        acks = bench.acks.get(sale.id, [])
        cell["checks"] = {
            "answers": answer_checks(cell["steps"]),
            "record": await record_checks(ctx.store, sale.id, [lot.lot for lot in sale.lots], acks),
            "journal": await journal_checks(ctx.redis, sale.id, answers_of(results)),
            "persisted": await persisted_checks(bench, ctx.redis, sale.id),
        }


# ---- the matrix -----------------------------------------------------------------------------------------------


async def run_writers(options: WritersOptions) -> dict[str, Any]:
    """The whole matrix; returns the report (and writes it when options.out is set)."""
    raise_nofile()
    folder = options.folder or Path(tempfile.mkdtemp(prefix="writers-"))
    began = time.time()
    header = _header(options, began)
    cells: list[dict[str, Any]] = []
    clean = interrupted = False
    servers: Servers | None = None
    try:
        servers = await Servers.start(folder, options.redis_url, options.database_url)
        header["redis"] = await _redis_facts(servers.redis_url)
        say(options, f"servers up ({header['redis']}); {options.buyers} buyers")
        cells = await _matrix(options, folder, servers)
        clean = True
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
        raise
    except Exception:
        say(options, f"the run failed; the servers' data and the processes' logs are in {folder}")
        raise
    finally:
        if servers is not None:
            await servers.stop()
        # A temporary folder goes after a clean run, or one cut short (Ctrl-C, SIGTERM); after a fault or a
        # failure it stays, with the logs and the data that show it.
        if options.folder is None and not options.keep and (interrupted or (clean and not _faulty(cells))):
            shutil.rmtree(folder, ignore_errors=True)
        else:
            header["folder"] = str(folder)
    header["seconds"] = round(time.time() - began, 1)
    header["loadavg_end"] = _loadavg()
    report = writers_report.build(header, cells, options.cells(), options.rates, BASELINE)
    if options.out is not None:
        writers_report.write(report, options.out)
    return report


async def _matrix(options: WritersOptions, folder: Path, servers: Servers) -> list[dict[str, Any]]:
    redis = connect(servers.redis_url)
    pg = await asyncpg.create_pool(servers.database_url, min_size=1, max_size=8)
    store = service_store(redis, pg, priority=BACKGROUND_PRIORITY)  # lots and standings only
    try:
        async with asyncio.timeout(SETUP_TIMEOUT_S):
            ids, tokens, consignor = await scenarios.make_bidders(pg, options.buyers)
        pids = await Pids.find(redis, pg)
        ctx = Context(options, folder, servers, redis, pg, store, pids, ids, tokens, consignor)
        order = options.cells()
        cells = []
        for run in range(options.runs):
            shift = run % len(order)  # each run starts one cell later: drift falls on different cells
            for mode, gateways in order[shift:] + order[:shift]:
                cells.append(await run_cell(ctx, mode, gateways, run))
        return cells
    finally:
        await store.close()
        await pg.close()
        await redis.aclose()


def _faulty(cells: Sequence[dict[str, Any]]) -> bool:
    return any(writers_report.cell_faults(cell) for cell in cells)


def _header(options: WritersOptions, began: float) -> dict[str, Any]:
    return {
        "scenario": "writers",
        "command": options.command,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(began)),
        "cores": os.cpu_count(),
        "loadavg_start": _loadavg(),
        "git": _git(),
        "options": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(options).items()
            if k not in ("redis_url", "database_url", "verbose")
        },
        "hot_lot": HOT_LOT,
        "quiet_lots": QUIET_LOTS,
    }


def code_fingerprint() -> str:
    """A digest of the code the gateways and the worker run (auction/ and ops/, as the files are now): the working
    tree is shared, so the code can change between cells, and the report says when it did."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha1()
    for folder in ("auction", "ops"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in (".py", ".lua", ".sql") and path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _git() -> dict[str, Any]:
    """The commit measured, and whether the store's code had changes not committed (the tree is shared)."""
    root = Path(__file__).resolve().parent.parent

    def run(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip()

    return {
        "commit": run("rev-parse", "--short", "HEAD"),
        "uncommitted_in_auction_ops": run("status", "--porcelain", "--", "auction", "ops").splitlines(),
    }


async def _redis_facts(url: str) -> dict[str, Any]:
    redis = connect(url, decode_responses=True)
    try:
        config = await redis.config_get("appendfsync")
        info = await redis.info("server")
        return {"appendfsync": config.get("appendfsync"), "version": info.get("redis_version")}
    finally:
        await redis.aclose()


# ---- the command ------------------------------------------------------------------------------------------------


def _numbers(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> tuple[float, ...] | tuple[int, ...]:
        values = tuple(kind(part) for part in text.split(",") if part.strip())
        if not values or min(values) <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: expected positive numbers, comma-separated")
        return values

    return parse


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"{text!r}: modes are {', '.join(MODES)}")
    return modes


def options_from(argv: Sequence[str] | None) -> WritersOptions:
    parser = argparse.ArgumentParser(prog="python -m loadtest.writers", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: two rates, 2 s steps, one run, 200 buyers")
    parser.add_argument("--runs", type=int, default=None, help="runs of the whole matrix; medians (default 3)")
    parser.add_argument("--modes", type=_modes, default=MODES, help="comma-separated (default single,optimistic)")
    parser.add_argument("--gateways", type=_numbers(int), default=GATEWAYS, help="gateway counts (default 1,2,4)")
    parser.add_argument("--rates", type=_numbers(float), default=None, help="offered bids/s per step")
    parser.add_argument("--step-s", type=float, default=None, help="seconds per step (default 5; quick 2)")
    parser.add_argument("--buyers", type=int, default=None, help="buyers, one websocket each (default 800)")
    parser.add_argument("--out", type=Path, default=WritersOptions.out)
    parser.add_argument("--folder", type=Path, default=None, help="servers' data and logs (default: temporary)")
    parser.add_argument("--keep", action="store_true", help="keep the folder after a clean run")
    args = parser.parse_args(argv)
    quick = args.quick
    options = WritersOptions(
        modes=args.modes,
        gateways=args.gateways,
        rates=args.rates or (QUICK_RATES if quick else RATES),
        step_s=args.step_s or (2.0 if quick else 5.0),
        runs=args.runs or (1 if quick else 3),
        buyers=args.buyers or (200 if quick else 800),
        out=args.out,
        redis_url=os.environ.get("AUCTION_REDIS_URL") or None,
        database_url=os.environ.get("AUCTION_DATABASE_URL") or None,
        folder=args.folder,
        keep=args.keep,
        command=" ".join(["python -m loadtest.writers", *(argv if argv is not None else sys.argv[1:])]),
    )
    if options.runs < 1 or options.buyers < 1 or options.step_s <= 0:
        parser.error("--runs, --buyers and --step-s must be positive")
    return options


async def _main(options: WritersOptions) -> dict[str, Any]:
    """The run, cancelled (and so cleaned up) by SIGTERM as asyncio.run already does for Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run_writers(options)


def main(argv: Sequence[str] | None = None) -> int:
    options = options_from(argv)
    try:
        import uvloop

        report = uvloop.run(_main(options))
    except ImportError:
        report = asyncio.run(_main(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("writers run interrupted; every process and server it started was stopped", file=sys.stderr)
        return 130
    print(writers_report.markdown_table(report))
    if options.out is not None:
        print(f"wrote {options.out / 'writers.json'} and {options.out / 'WRITERS.md'}")
    faults = report["faults"]
    for fault in faults:
        print(f"FAULT: {fault}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
