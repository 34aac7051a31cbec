"""The scenarios of the standard suite, each against the real process group (gateway + worker + servers).

Every scenario builds its own sale with `ops.demo.sale` lots (so lots, reserves and ladders are the demo's),
registers the bench's buyers for it, runs one or more open-loop schedules and returns plain dicts for the
report. The acks of every scenario are kept so that, at the end, `lost_acked_bids` can check each of them
against PostgreSQL's `lot_events` by client_id.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from redis.asyncio import Redis

from auction import catalog, vetting
from auction.catalog import NewSale, SaleSettings
from auction.engine.ladder import DIAMOND_LADDER_USD
from auction.engine.lot import SoftClose
from auction.store import LotStore
from loadtest.baseline import bare_commit_calls_per_s
from loadtest.cpu import Census, committer_figures, store_counters
from loadtest.generator import (
    AckRecord,
    AmountCursor,
    BidderPool,
    PlannedBid,
    StepResult,
    WatcherFleet,
    cpu_seconds,
    fanout_histogram,
    new_histogram,
    percentiles_ms,
    steady_schedule,
    vm_rss_mib,
)
from ops.demo.sale import demo_lot

FAR_MS = 6 * 3600 * 1000  # lots that must stay open for the whole suite close this far from now
_SALE_IDS = itertools.count(int(time.time() * 1000) * 10)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Bench:
    """What every scenario needs: the servers, the buyers' tokens, and every ack for the final check."""

    ws_url: str
    pg: asyncpg.Pool
    redis: Redis
    store: LotStore
    gateway_pid: int
    bidder_ids: list[int]
    tokens: list[str]
    consignor: int
    acks: dict[int, list[AckRecord]] = field(default_factory=dict)  # sale -> acks
    sales: list[int] = field(default_factory=list)

    def keep(self, sale: int, result: StepResult) -> None:
        self.acks.setdefault(sale, []).extend(result.acks)


async def make_bidders(pg: asyncpg.Pool, count: int) -> tuple[list[int], list[str], int]:
    consignor = await catalog.add_consignor(pg, "Bench Consignor", "Load Test Gems")
    made = await asyncio.gather(*(catalog.add_bidder(pg, f"bench{i:05d}", f"Bench Trading {i}") for i in range(count)))
    return [bidder.id for bidder, _ in made], [token for _, token in made], consignor


async def build_sale(
    bench: Bench, lots: int, *, first_close_ms: int | None = None, stagger_ms: int = 1, soft: SoftClose | None = None
) -> NewSale:
    """A sale of `lots` demo lots, open a moment from now, every bench buyer registered with a paddle."""
    sale_id = next(_SALE_IDS)
    rng = random.Random(sale_id)
    starts = now_ms() + 300
    sale = NewSale(
        id=sale_id,
        name="Load test sale",
        currency="USD",
        starts_at_ms=starts,
        first_close_ms=first_close_ms or starts + FAR_MS,
        lots=[demo_lot(rng, n, bench.consignor) for n in range(1, lots + 1)],
        settings=SaleSettings(ladder=DIAMOND_LADDER_USD, soft_close=soft or SoftClose(), stagger_ms=stagger_ms),
    )
    problems = catalog.sale_problems(sale)
    if problems:
        raise RuntimeError("; ".join(problems))
    await catalog.insert_sale(bench.pg, sale)
    await bench.store.create_lots(catalog.terms_for(sale))
    gate = asyncio.Semaphore(8)

    async def register(index: int, bidder: int) -> None:
        async with gate:
            await catalog.register(bench.pg, sale_id, bidder, 1000 + index)
            await vetting.publish_standing(bench.pg, bench.store, sale_id, bidder)  # what lets the engine know

    await asyncio.gather(*(register(i, b) for i, b in enumerate(bench.bidder_ids)))
    bench.sales.append(sale_id)
    await asyncio.sleep(max(0.0, (starts - now_ms()) / 1000 + 0.05))
    return sale


def cursor_for(sale: NewSale) -> AmountCursor:
    return AmountCursor(sale.settings.ladder, {lot.lot: lot.opening for lot in sale.lots})


async def warm(bench: Bench, pool: BidderPool, sale: NewSale, cursor: AmountCursor, conns: int) -> None:
    """One bid per connection (unrecorded), so that the gateway has every buyer's paddle cached."""
    lots = [lot.lot for lot in sale.lots]
    plan = steady_schedule(min(2000.0, conns * 2.0), conns / min(2000.0, conns * 2.0), lots, conns, cursor, "warm")
    plan = [PlannedBid(b.due_ns, i % conns, b.lot, b.amount, b.client_id) for i, b in enumerate(plan)]
    result = await pool.run(sale.id, plan, len(plan), 1.0)
    bench.keep(sale.id, result)


# ---- the ceiling ------------------------------------------------------------------------------------------------


async def bare_ceiling(bench: Bench, concurrency: int = 64, duration_s: float = 4.0) -> dict[str, Any]:
    sale = await build_sale(bench, concurrency)
    await asyncio.sleep(1.0)  # the scheduler opens the lots
    states = await bench.store.states(sale.id)
    return await bare_commit_calls_per_s(bench.redis, bench.store, catalog.terms_for(sale), states, duration_s)


# ---- many lots: the ramp and the 1,000 bids/s latency ----------------------------------------------------------


async def ramp(
    bench: Bench,
    pool: BidderPool,
    rates: Sequence[float],
    step_s: float,
    lots: int = 1000,
    on_steps: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Raise the offered rate step by step over `lots` lots and every connection; one result per step.
    `on_steps` is called once the sale is built and warm, just before the first step (the profiler starts)."""
    return await _timed_steps(bench, pool, "ramp", rates, step_s, lots, on_steps)


async def steady(
    bench: Bench,
    pool: BidderPool,
    rate: float,
    seconds: float,
    runs: int,
    lots: int = 1000,
    on_runs: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """`runs` runs at one offered rate, over many lots; the report takes medians. `on_runs` as in `ramp`."""
    return await _timed_steps(bench, pool, "steady", [rate] * runs, seconds, lots, on_runs)


async def _timed_steps(
    bench: Bench,
    pool: BidderPool,
    name: str,
    rates: Sequence[float],
    seconds: float,
    lots: int,
    on_start: Callable[[], None] | None,
) -> list[dict[str, Any]]:
    """One sale of `lots` lots, warmed, then one timed step per rate over every connection."""
    sale = await build_sale(bench, lots)
    cursor = cursor_for(sale)
    conns = len(pool.sockets)
    await warm(bench, pool, sale, cursor, conns)
    if on_start is not None:
        on_start()
    steps = []
    for step, rate in enumerate(rates):  # client ids unique per step: a repeated rate must not be deduped
        plan = steady_schedule(rate, seconds, [lot.lot for lot in sale.lots], conns, cursor, f"{name}{step}")
        result, cpu = await _run_timed(bench, pool, sale.id, plan, rate, seconds)
        bench.keep(sale.id, result)
        steps.append({**result.summary(), **cpu})
        print(f"  {name} {rate:>7.0f}/s step {step + 1}: {_line(result)}{_cpu(cpu)}", flush=True)
        await asyncio.sleep(0.5)
    return steps


async def _run_timed(
    bench: Bench, pool: BidderPool, sale: int, plan: list[PlannedBid], rate: float, seconds: float
) -> tuple[StepResult, dict[str, Any]]:
    """Run a schedule and note the gateway's CPU time for it: CPU per answer is the figure that a busy, shared
    machine disturbs least (throughput and latency move with whatever else runs; the work per bid does not)."""
    before, census, counters = cpu_seconds(bench.gateway_pid), Census.take(), await store_counters(bench.ws_url)
    result = await pool.run(sale, plan, rate, seconds)
    used = cpu_seconds(bench.gateway_pid) - before
    answered = result.acked + result.rejected
    per_answer_us = round(used / answered * 1e6, 1) if answered else 0.0
    after = Census.take()
    committer = committer_figures(counters, await store_counters(bench.ws_url), after.at - census.at)
    return result, {
        "gateway_cpu_s": round(used, 2),
        "gateway_cpu_us_per_answer": per_answer_us,
        "cores": after.cores_since(census),
        "committer": committer,
    }


# ---- a hot lot ----------------------------------------------------------------------------------------------------


async def hot_lot(
    bench: Bench, pool: BidderPool, rate: float, seconds: float, bidders: int, watchers: int
) -> dict[str, Any]:
    """`bidders` buyers on one lot at `rate` bids/s, `watchers` watching it (one watcher process)."""
    sale = await build_sale(bench, 1)
    cursor = cursor_for(sale)
    fleet = WatcherFleet(bench.ws_url, sale.id, [1], watchers, 1)
    try:
        await fleet.start()
        plan = steady_schedule(rate, seconds, [1], bidders, cursor, "hot")
        census = Census.take()
        result = await pool.run(sale.id, plan, rate, seconds)
        cores = Census.take().cores_since(census)
        await asyncio.sleep(0.5)
        receipts = await fleet.collect()
    finally:
        fleet.kill()
    bench.keep(sale.id, result)
    e2e = new_histogram()
    hist, missing = fanout_histogram(result.acks, receipts, fleet.connected, e2e)
    shares = " ".join(f"{role} {used:.2f}" for role, used in cores.items() if used >= 0.01)
    print(
        f"  hot lot: {_line(result)}; fan-out p99 {percentiles_ms(hist)['p99']:.1f} ms; cores used: {shares}",
        flush=True,
    )
    return {
        **result.summary(),
        "cores": cores,
        "watchers": watchers,
        "bidders": bidders,
        "fanout_ms": percentiles_ms(hist),
        "bid_due_to_watcher_ms": percentiles_ms(e2e),
        "fanout_missing": missing,
        "watchers_dropped": dict(fleet.lagged),
        **connecting(fleet),
    }


# ---- the closing spike ----------------------------------------------------------------------------------------------


async def closing_spike(
    bench: Bench, pool: BidderPool, lots: int, bidders: int, last_s: float, stagger_ms: int
) -> dict[str, Any]:
    """Every one of `bidders` buyers bids once on every lot in its last `last_s` seconds, with soft close on.

    Lots close `stagger_ms` apart; bids are due at their planned times whatever the extensions did (open loop),
    so bids due after an unextended end but before the extended one are accepted, and later ones `too_late`.
    """
    window = int(last_s * 1000)
    lead_ms = 3_000 + window
    soft = SoftClose(window_ms=window, extension_ms=window, cap_ms=window * 3)
    sale = await build_sale(bench, lots, first_close_ms=now_ms() + lead_ms + 500, stagger_ms=stagger_ms, soft=soft)
    cursor = cursor_for(sale)
    terms = catalog.terms_for(sale)
    start_ms = now_ms() + 50
    plan: list[PlannedBid] = []
    rng = random.Random(sale.id)
    for t in terms:
        for b in range(bidders):
            due_ms = t.end_ms - window + rng.random() * (window - 20)
            plan.append(PlannedBid(int((due_ms - start_ms) * 1e6), b, t.lot, 0, f"cs-{t.lot}-{b}"))
    plan.sort(key=lambda bid: bid.due_ns)
    plan = [
        PlannedBid(b.due_ns, cursor.bidder(b.lot, b.conn, bidders), b.lot, cursor.take(b.lot), b.client_id)
        for b in plan
    ]
    span_s = (plan[-1].due_ns - plan[0].due_ns) / 1e9
    peak = _peak_rate(plan)
    result = await pool.run(sale.id, plan, len(plan) / span_s, span_s)
    bench.keep(sale.id, result)
    await asyncio.sleep(window * 3 / 1000 + 1.5)  # let the extended lots close
    states = await bench.store.states(sale.id)
    print(f"  closing spike: {_line(result)}; peak {peak:.0f}/s", flush=True)
    return {
        **result.summary(),
        "lots": lots,
        "bidders": bidders,
        "last_s": last_s,
        "peak_offered_per_s": peak,
        "extensions": sum(s.extensions for s in states),
        "final": dict(_count(s.status for s in states)),
    }


def _peak_rate(plan: Sequence[PlannedBid], window_ns: int = 100_000_000) -> float:
    """The highest offered rate over any 100 ms of the plan."""
    dues = [b.due_ns for b in plan]
    best, j = 0, 0
    for i, due in enumerate(dues):
        while dues[j] < due - window_ns:
            j += 1
        best = max(best, i - j + 1)
    return best * 1e9 / window_ns


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


# ---- fan-out ------------------------------------------------------------------------------------------------------


async def fanout(
    bench: Bench,
    pool: BidderPool,
    watchers: int,
    processes: int,
    rate: float,
    seconds: float,
    runs: int,
    on_runs: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """`watchers` on one lot in `processes` client processes; `runs` bursts of bids; the gateway's RSS idle.
    `on_runs` is called once the watchers are connected and the idle RSS taken (the profiler starts)."""
    sale = await build_sale(bench, 1)
    cursor = cursor_for(sale)
    rss_before = vm_rss_mib(bench.gateway_pid)
    fleet = WatcherFleet(bench.ws_url, sale.id, [1], watchers, processes)
    started = time.monotonic()
    per_run: list[dict[str, Any]] = []
    try:
        await fleet.start(timeout_s=240)
        connect_s = time.monotonic() - started
        await asyncio.sleep(2.0)
        rss_idle = vm_rss_mib(bench.gateway_pid)
        if on_runs is not None:
            on_runs()
        results = []
        for run in range(runs):
            plan = steady_schedule(rate, seconds, [1], min(10, len(pool.sockets)), cursor, f"fo{watchers}-{run}")
            result = await pool.run(sale.id, plan, rate, seconds)
            bench.keep(sale.id, result)
            results.append(result)
            await asyncio.sleep(1.5)  # let the last event reach every watcher
        rss_busy = vm_rss_mib(bench.gateway_pid)
        receipts = await fleet.collect()
    finally:
        fleet.kill()
    for result in results:
        e2e = new_histogram()
        hist, missing = fanout_histogram(result.acks, receipts, fleet.connected, e2e)
        per_run.append(
            {
                "acked": result.acked,
                "ack_ms": percentiles_ms(result.ack_hist),
                "fanout_ms": percentiles_ms(hist),
                "bid_due_to_watcher_ms": percentiles_ms(e2e),
                "missing": missing,
            }
        )
    p99s = [float(r["fanout_ms"]["p99"]) for r in per_run]
    e2e_p99s = [float(r["bid_due_to_watcher_ms"]["p99"]) for r in per_run]
    print(
        f"  fan-out {watchers}: p99 per run {p99s} ms (bid due -> watcher {e2e_p99s});"
        f" RSS idle {rss_idle:.0f} MiB (before {rss_before:.0f});"
        f" connect {connect_s:.1f} s ({fleet.connected} connected, retried {dict(fleet.retried)},"
        f" failed {dict(fleet.failed)}); dropped {dict(fleet.lagged)}",
        flush=True,
    )
    return {
        "watchers": watchers,
        "processes": processes,
        "bids_per_s": rate,
        "seconds": seconds,
        "runs": per_run,
        "fanout_p99_ms_median": statistics.median(p99s),
        "bid_due_to_watcher_p99_ms_median": statistics.median(e2e_p99s),
        "rss_before_mib": round(rss_before, 1),
        "rss_idle_mib": round(rss_idle, 1),
        "rss_after_mib": round(rss_busy, 1),
        "connect_s": round(connect_s, 2),
        "watchers_dropped": dict(fleet.lagged),
        **connecting(fleet),
    }


def connecting(fleet: WatcherFleet) -> dict[str, Any]:
    """How the watchers' connections went, as figures: connected, retries by cause (`busy` answers among them),
    and watchers that never connected, by cause. A storm the gateway can't absorb is reported, never a crash."""
    return {
        "watchers_connected": fleet.connected,
        "watcher_connect_retries": dict(fleet.retried),
        "watchers_failed": dict(fleet.failed),
    }


# ---- nothing acknowledged is lost ---------------------------------------------------------------------------------


async def lost_acked_bids(bench: Bench, timeout_s: float = 60.0) -> dict[str, Any]:
    """Every acked bid must be in lot_events once the persister has drained: its (lot, seq), and its client_id."""
    lost, checked = 0, 0
    deadline = time.monotonic() + timeout_s
    for sale in bench.sales:
        expected = sum(s.seq for s in await bench.store.states(sale))
        while True:
            recorded = await bench.pg.fetchval("SELECT count(*) FROM lot_events WHERE sale_id = $1", sale)
            if recorded >= expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        rows = await bench.pg.fetch(
            "SELECT lot_no, seq, data->>'client_id' AS client_id FROM lot_events WHERE sale_id = $1", sale
        )
        seqs = {(r["lot_no"], r["seq"]) for r in rows}
        ids = {(r["lot_no"], r["client_id"]) for r in rows if r["client_id"] is not None}
        for ack in bench.acks.get(sale, []):
            checked += 1
            if (ack.lot, ack.seq) not in seqs or (ack.lot, ack.client_id) not in ids:
                lost += 1
    return {"lost_acked_bids": lost, "acked_bids_checked": checked, "sales": len(bench.sales)}


def _line(result: StepResult) -> str:
    s = result.summary()
    return (
        f"sent {s['sent']} acked {s['acked']} ({s['acked_per_s']}/s) rejected {s['rejected']} {s['reasons']}"
        f" errors {s['errors']} {s['error_codes']}; ack p50 {s['ack_ms']['p50']:.1f} p99 {s['ack_ms']['p99']:.1f}"
        f" p99.9 {s['ack_ms']['p999']:.1f} ms; send lag p99 {s['send_lag_ms']['p99']:.1f} ms"
    )


def _shares(cores: dict[str, float]) -> str:
    return " ".join(f"{role} {used:.2f}" for role, used in cores.items() if used >= 0.01)


def _cpu(cpu: dict[str, Any]) -> str:
    shares = _shares(cpu["cores"])
    c = cpu["committer"]
    return (
        f"; gateway CPU {cpu['gateway_cpu_s']:.1f} s = {cpu['gateway_cpu_us_per_answer']:.0f} us/answer;"
        f" cores used: {shares}; committer: {c['commits_per_s']:.0f} commits/s of {c['mean_batch']:.0f},"
        f" deciding {c['deciding_share']:.0%} waiting {c['committing_share']:.0%} (mean {c['mean_commit_ms']:.1f} ms)"
    )


__all__ = ["Bench", "new_histogram"]
