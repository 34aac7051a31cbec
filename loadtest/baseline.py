"""The machine's ceiling, measured in the same run as the gateway.

`bare_redis_calls_per_s`: the store's own commit step (decide in Python with the pure core, then one EVALSHA of
the store's CAS script with exactly the arguments the store would send), one bid per call, from this one
Python process with redis-py asyncio. `concurrency` callers run side by side, each on a lot of its own, so no
call ever conflicts and no call carries more than one bid: no batching, which is the gateway's advantage.

`redis-benchmark` (when on PATH) gives the server's own ceiling for a trivial command, for scale.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from typing import Any
from urllib.parse import urlparse

from redis.asyncio import Redis

from auction.engine.lot import LotState, LotTerms
from auction.engine.messages import PlaceBid
from auction.store import LotStore, decode_state
from auction.store.planner import Planned, commit_args, commit_keys, plan_batch
from auction.store.scripts import COMMIT_LUA


async def bare_commit_calls_per_s(
    redis: Redis, store: LotStore, terms: list[LotTerms], states: list[LotState], duration_s: float
) -> dict[str, Any]:
    """One EVALSHA of the commit script per bid, `len(terms)` callers at once; returns calls/s and failures."""
    script = redis.register_script(COMMIT_LUA)
    deadline = time.monotonic() + duration_s
    counts = {"calls": 0, "ok": 0, "stale": 0, "other": 0}

    async def caller(index: int, state: LotState) -> None:
        sale, lot = state.terms.sale, state.terms.lot
        known = {lot: state}
        amount = state.next_minimum
        bidders = (10_000_000 + 2 * index, 10_000_001 + 2 * index)
        n = 0
        while time.monotonic() < deadline:
            bidder = bidders[n % 2]
            command = PlaceBid(int(time.time() * 1000), bidder, bidder % 10_000, amount, f"bare-{index}-{n}", "bid")
            item = Planned(lot, command, f"{bidder}:bare-{index}-{n}")
            plan = plan_batch([item], known)
            reply = await script(keys=commit_keys(sale, plan), args=commit_args([item], plan))
            counts["calls"] += 1
            if reply[0] == b"ok":
                counts["ok"] += 1
                known.update(plan.after)
                amount = known[lot].next_minimum
            elif reply[0] == b"stale":  # the scheduler opened the lot meanwhile: take the state the script sent
                counts["stale"] += 1
                known[lot] = decode_state(reply[1][0][2])
                amount = known[lot].next_minimum
            else:
                counts["other"] += 1
            n += 1

    started = time.monotonic()
    await asyncio.gather(*(caller(i, s) for i, s in enumerate(states)))
    elapsed = time.monotonic() - started
    return {
        "calls": counts["calls"],
        "calls_per_s": round(counts["calls"] / elapsed, 1),
        "committed_per_s": round(counts["ok"] / elapsed, 1),
        "stale": counts["stale"],
        "other": counts["other"],
        "concurrency": len(states),
        "seconds": round(elapsed, 2),
    }


def redis_benchmark(redis_url: str, timeout_s: float = 60.0) -> dict[str, Any] | None:
    """`redis-benchmark -t set -P 1 -c 50 -n 100000 -q` against the run's Redis; None when not installed."""
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return None
    url = urlparse(redis_url)
    if url.scheme == "unix":
        target = ["-s", url.path]
    else:
        target = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 6379)]
    if url.password:
        # The embedded Redis wants its password; redis-benchmark takes it only as an argument (it ignores
        # REDISCLI_AUTH). A throwaway server's, for the seconds the baseline runs; kept out of the results.
        target += ["-a", url.password]
    argv = [exe, *target, "-t", "set", "-P", "1", "-c", "50", "-n", "100000", "-q"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False).stdout
    except subprocess.TimeoutExpired:
        return {"command": " ".join(argv), "error": "timed out"}
    found = re.findall(r"([\d.]+) requests per second", out.replace("\r", "\n"))
    return {"command": " ".join(argv[0:1] + argv[len(target) + 1 :]), "set_per_s": float(found[-1]) if found else None}
