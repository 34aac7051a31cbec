"""The generator against the real stack for about 2 s at a low rate: the counts add up and nothing acked is lost.

No timing assertions: this machine's speed is not the test's business; `make bench` measures it.
"""

from __future__ import annotations

from pathlib import Path

from loadtest import live, scenarios, tender
from loadtest.generator import BidderPool
from tests.loadtest.stack import bench_stack


async def test_a_short_open_loop_run_adds_up(redis_url: str, database_url: str, tmp_path: Path) -> None:
    async with bench_stack(redis_url, database_url, tmp_path, buyers=8) as bench:
        async with BidderPool(bench.ws_url, bench.tokens) as pool:
            runs = await scenarios.steady(bench, pool, rate=40.0, seconds=2.0, runs=1, lots=10)
        lost = await scenarios.lost_acked_bids(bench)
    (run,) = runs
    assert run["sent"] == 80
    assert run["sent"] == run["acked"] + run["rejected"] + run["errors"]
    assert run["acked"] > 0
    assert lost["lost_acked_bids"] == 0


async def test_the_live_scenario_times_every_delivery(redis_url: str, database_url: str, tmp_path: Path) -> None:
    """Two lots of six bids each, alternately online and from the floor: every online bid is timed at the clerk
    and at each watcher, every floor bid at each online bidder, and none is missing or refused."""
    async with bench_stack(redis_url, database_url, tmp_path, buyers=4) as bench:
        result = await live.live_sale(bench, runs=1, lots=2, rounds=6, watchers=5, bidders=4)
    (run,) = result["runs"]
    online_bids = floor_bids = 2 * 3
    assert run["refused"] == {}
    assert run["missing_deliveries"] == 0
    assert run["online_ack_ms"]["count"] == online_bids
    assert run["online_to_clerk_ms"]["count"] == online_bids
    assert run["online_to_watchers_ms"]["count"] == online_bids * 5
    assert run["floor_to_bidders_ms"]["count"] == floor_bids * 4
    assert result["online_to_watchers_p99_median"] == run["online_to_watchers_ms"]["p99"]


async def test_the_tender_scenario_takes_sealed_bids_and_reveals_them(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    """Four buyers each seal a bid on each of six lots over the websocket; every one is answered with a receipt,
    the window closes, k shares reveal all six lots (every reserve is met: each is sold) and the record holds it."""
    async with bench_stack(redis_url, database_url, tmp_path, buyers=4) as bench:
        result = await tender.tender_runs(bench, runs=1, bids=24, bidders=4)
    (run,) = result["runs"]
    assert (run["lots"], run["bidders"], run["receipts"], run["refused"]) == (6, 4, 24, {})
    assert run["sold"] == 6
    assert run["bids_per_s"] > 0 and 0 < run["reveal_s"] <= run["recorded_s"]
    assert result["reveal_s_median"] == run["reveal_s"]
