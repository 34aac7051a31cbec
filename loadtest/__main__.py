"""`python -m loadtest` (`make bench`): the standard suite against a fresh process group, in under 5 minutes.

    python -m loadtest [--quick] [--runs N] [--profile] [--out loadtest/results]
    python -m loadtest --only ramp,steady [--rates 2000,4000,8000] [--out /tmp/bench]   # some scenarios only

It raises the open-files limit first (the gateway child inherits it), starts the process group with its own
embedded Redis and PostgreSQL, measures the ceiling, then runs the scenarios and writes summary.json,
REPORT.md and latency.png. `--profile` records the gateway with py-spy during the ramp's steps
(raw/gateway.collapsed), the 1,000 bids/s runs (raw/gateway-steady.collapsed) and the 10,000-watcher fan-out
(raw/gateway-fanout10k.collapsed);
`python -m loadtest.profile_top FILE` lists the top frames.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from auction.config import settings_from_env
from auction.redis_adapter import connect
from auction.store import BACKGROUND_PRIORITY, service_store
from loadtest import live, one_address, report, scenarios, tender
from loadtest.baseline import redis_benchmark
from loadtest.generator import BidderPool, raise_nofile
from ops.runner import process_group

RAMP_RATES = [500.0, 1000.0, 2000.0, 4000.0, 6000.0, 8000.0, 10000.0, 12000.0]
SCENARIOS = ("ramp", "steady", "hot", "spike", "fanout1k", "fanout10k", "live", "tender")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (few rates, fewer watchers)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure that is reported as a median")
    parser.add_argument("--connections", type=int, default=800, help="bidder connections (one buyer each)")
    parser.add_argument("--watcher-processes", type=int, default=4, help="client processes for 10,000 watchers")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the gateway during the ramp and the 10,000-watcher fan-out"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=list(SCENARIOS),
        help=f"comma-separated scenarios to run, of {','.join(SCENARIOS)} (default all); with fewer than all,"
        " only raw/results.json is written (the report needs every scenario)",
    )
    parser.add_argument(
        "--rates",
        type=lambda text: [float(rate) for rate in text.split(",")],
        default=None,
        help="the ramp's offered rates, comma-separated (default the standard ones)",
    )
    options = parser.parse_args(argv)
    unknown = sorted(set(options.only) - set(SCENARIOS))
    if unknown:
        parser.error(f"--only: unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    return options


async def suite(options: argparse.Namespace) -> dict[str, Any]:
    settings = settings_from_env()
    if settings.redis_url is None and settings.database_url is None:
        # a state folder of our own: a bench never touches the demo's data
        settings = type(settings)(
            state_dir=Path(tempfile.mkdtemp(prefix="bench-state-")),
            durability=settings.durability,
            appendfsync=settings.appendfsync,
        )
    started = time.time()
    raw: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "cores": os.cpu_count(),
        "nofile": raise_nofile(),
        "durability": settings.durability,
        "appendfsync": settings.appendfsync,
    }
    quick = options.quick
    settings = one_address.lifted(settings)
    async with process_group(settings, "127.0.0.1", _free_port()) as group:
        gateway = next(child for child in group.children if child.name == "gateway")
        assert gateway.process is not None
        redis = connect(group.services.redis_url)
        pg = await asyncpg.create_pool(group.services.database_url, min_size=2, max_size=8)
        store = service_store(redis, pg, priority=BACKGROUND_PRIORITY)
        try:
            conns = 60 if quick else options.connections
            ids, tokens, consignor = await scenarios.make_bidders(pg, conns)
            bench = scenarios.Bench(
                ws_url=group.base_url.replace("http://", "ws://") + "/ws",
                pg=pg,
                redis=redis,
                store=store,
                gateway_pid=gateway.process.pid,
                bidder_ids=ids,
                tokens=tokens,
                consignor=consignor,
            )
            print(f"[bench] gateway pid {bench.gateway_pid}, {conns} bidder connections", flush=True)
            raw["baseline"] = {
                "bare": await scenarios.bare_ceiling(bench, duration_s=2.0 if quick else 4.0),
                "redis_benchmark": await asyncio.to_thread(redis_benchmark, group.services.redis_url),
            }
            print(f"[bench] ceiling {raw['baseline']}", flush=True)
            async with BidderPool(bench.ws_url, tokens) as pool:
                await _scenarios(options, bench, pool, conns, raw)
            raw["lost"] = await scenarios.lost_acked_bids(bench)
            print(f"[bench] lost: {raw['lost']}", flush=True)
        finally:
            await store.close()
            await pg.close()
            await redis.aclose()
    raw["seconds"] = time.time() - started
    return raw


async def _scenarios(
    options: argparse.Namespace, bench: scenarios.Bench, pool: BidderPool, conns: int, raw: dict[str, Any]
) -> None:
    quick, only = options.quick, set(options.only)
    if "ramp" in only:
        rates = options.rates or ([200.0, 500.0, 1000.0] if quick else RAMP_RATES)
        step_s = 2.0 if quick else 4.0
        profiler: list[subprocess.Popen[bytes] | None] = []

        def start_profile() -> None:  # once the ramp's sale is built and warm: only the steps are sampled
            profiler.append(_start_profile(options, bench.gateway_pid, len(rates) * (step_s + 0.5), "gateway"))

        raw["ramp"] = await scenarios.ramp(bench, pool, rates, step_s, on_steps=start_profile)
        raw["profile"] = _stop_profile(profiler[0] if profiler else None, "gateway")
    if "steady" in only:
        seconds, runs = (2.0, 1) if quick else (8.0, options.runs)
        steady_profiler: list[subprocess.Popen[bytes] | None] = []

        def start_steady_profile() -> None:
            steady_profiler.append(_start_profile(options, bench.gateway_pid, runs * (seconds + 0.5), "gateway-steady"))

        raw["steady_1000"] = await scenarios.steady(
            bench, pool, 200.0 if quick else 1000.0, seconds, runs, on_runs=start_steady_profile
        )
        _stop_profile(steady_profiler[0] if steady_profiler else None, "gateway-steady")
    if "hot" in only:
        raw["hot_lot"] = await scenarios.hot_lot(
            bench, pool, 100.0 if quick else 1000.0, 2.0 if quick else 5.0, min(conns, 200), 50 if quick else 1000
        )
    if "spike" in only:
        raw["closing_spike"] = await scenarios.closing_spike(bench, pool, 4 if quick else 12, min(conns, 400), 1.5, 700)
    if "fanout1k" in only:
        raw["fanout_1000"] = await scenarios.fanout(
            bench, pool, 100 if quick else 1000, 1, 10.0, 2.0 if quick else 4.0, 1 if quick else options.runs
        )
    if "live" in only:
        raw["live_sale"] = await live.live_sale(
            bench, 1 if quick else options.runs, lots=2 if quick else 4, watchers=50 if quick else 200
        )
    if "tender" in only:  # sealed bids/s through the gateway, and the reveal of 10,000 (loadtest/tender.py)
        raw["tender"] = await tender.tender_runs(
            bench, 1 if quick else options.runs, bids=200 if quick else 10_000, bidders=min(conns, 20 if quick else 100)
        )
    if "fanout10k" in only and not quick:
        fan_profiler: list[subprocess.Popen[bytes] | None] = []

        def start_fan_profile() -> None:  # once the watchers are connected and idle
            fan_profiler.append(_start_profile(options, bench.gateway_pid, options.runs * 5.5, "gateway-fanout10k"))

        raw["fanout_10000"] = await scenarios.fanout(
            bench, pool, 10_000, options.watcher_processes, 4.0, 4.0, options.runs, on_runs=start_fan_profile
        )
        raw["fanout_10000"]["profile"] = _stop_profile(fan_profiler[0] if fan_profiler else None, "gateway-fanout10k")


def _start_profile(options: argparse.Namespace, pid: int, seconds: float, name: str) -> subprocess.Popen[bytes] | None:
    if not options.profile:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = options.out / "raw"
    out.mkdir(parents=True, exist_ok=True)
    argv = [
        spy,
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(seconds)),
        "-r",
        "200",
        "--format",
        "raw",
        "-o",
        str(out / f"{name}.collapsed"),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_profile(proc: subprocess.Popen[bytes] | None, name: str) -> str | None:
    if proc is None:
        return None
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.terminate()
    return f"raw/{name}.collapsed"


def main(argv: list[str] | None = None) -> int:
    options = _options(argv)
    try:
        import uvloop

        raw = uvloop.run(suite(options))
    except ImportError:
        raw = asyncio.run(suite(options))
    if set(options.only) != set(SCENARIOS):
        (options.out / "raw").mkdir(parents=True, exist_ok=True)
        (options.out / "raw" / "results.json").write_text(json.dumps(raw, indent=2, default=str))
        print(f"[bench] only {','.join(options.only)}: wrote {options.out}/raw/results.json (no report)")
        return 0
    summary = report.write_all(raw, options.out)
    print(f"[bench] wrote {options.out}/summary.json, REPORT.md, latency.png")
    for name, check in summary["targets"].items():
        print(f"  {name:<32} {summary.get(name)!s:>10}   target {check['target']:<10} met={check['met']}")
    print(f"  bare_redis_calls_per_s           {summary['bare_redis_calls_per_s']}   ratios {summary['ratios']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
