"""The generator's parts offline: schedules, histograms, the fan-out join, the report (no servers)."""

from __future__ import annotations

import itertools
from pathlib import Path

from auction.engine.ladder import DIAMOND_LADDER_USD
from loadtest import report
from loadtest.generator import (
    AckRecord,
    AmountCursor,
    StepResult,
    fanout_histogram,
    new_histogram,
    percentiles_ms,
    record_us,
    steady_schedule,
)


def test_steady_schedule_is_evenly_spaced_and_climbs_the_ladder() -> None:
    cursor = AmountCursor(DIAMOND_LADDER_USD, {1: 100_000, 2: 100_000})
    plan = steady_schedule(1000.0, 0.5, [1, 2], 10, cursor, "t")
    assert len(plan) == 500
    assert [b.due_ns for b in plan[:3]] == [0, 1_000_000, 2_000_000]
    assert len({b.client_id for b in plan}) == 500
    for lot in (1, 2):
        bids = [b for b in plan if b.lot == lot]
        assert all(a.amount < b.amount for a, b in itertools.pairwise(bids))
        assert all(a.conn != b.conn for a, b in itertools.pairwise(bids))  # a leader never bids again
        assert all(
            b.amount - a.amount >= DIAMOND_LADDER_USD.increment_at(a.amount) for a, b in itertools.pairwise(bids)
        )


def test_a_cursor_continues_where_the_last_schedule_stopped() -> None:
    cursor = AmountCursor(DIAMOND_LADDER_USD, {1: 5_000})
    first = steady_schedule(100.0, 0.1, [1], 3, cursor, "a")
    second = steady_schedule(100.0, 0.1, [1], 3, cursor, "b")
    assert second[0].amount > first[-1].amount
    assert second[0].conn != first[-1].conn


def test_percentiles_come_from_the_histogram_in_ms() -> None:
    hist = new_histogram()
    for ms in range(1, 101):
        record_us(hist, ms * 1_000_000)
    p = percentiles_ms(hist)
    assert p["count"] == 100
    assert 49 <= p["p50"] <= 51 and 98 <= p["p99"] <= 100.1 and p["max"] >= 99.9
    assert percentiles_ms(new_histogram())["p99"] == 0.0


def test_fanout_joins_acks_to_receipts_and_counts_missing_deliveries() -> None:
    acks = [AckRecord(1, 2, 500, "c1", 1_000_000_000), AckRecord(1, 3, 700, "c2", 2_000_000_000)]
    receipts = {(1, 500): [1_005_000_000, 1_010_000_000, 999_000_000], (1, 700): [2_020_000_000]}
    hist, missing = fanout_histogram(acks, receipts, watchers=3)
    assert missing == 2
    assert hist.get_total_count() == 4
    assert 19.9 <= percentiles_ms(hist)["max"] <= 20.1


def _step(offered: float, acked: int, p99_us: int) -> dict[str, object]:
    result = StepResult(offered, 1.0, sent=int(offered), acked=acked, rejected=int(offered) - acked)
    result.reasons["busy"] = int(offered) - acked
    record_us(result.ack_hist, p99_us * 1000)
    return result.summary()


def test_report_writes_summary_markdown_and_chart(tmp_path: Path) -> None:
    ramp = [_step(1000, 1000, 3000), _step(8000, 7900, 20_000), _step(12000, 9000, 400_000)]
    fan = {
        "fanout_p99_ms_median": 12.0,
        "bid_due_to_watcher_p99_ms_median": 20.0,
        "rss_idle_mib": 250.0,
        "rss_before_mib": 80.0,
    }
    raw = {
        "started": "now",
        "cores": 2,
        "seconds": 100.0,
        "baseline": {"bare": {"calls_per_s": 10_000.0}, "redis_benchmark": {"set_per_s": 50_000.0}},
        "ramp": ramp,
        "steady_1000": [ramp[0], ramp[0], ramp[0]],
        "fanout_1000": fan,
        "fanout_10000": fan,
        "lost": {"lost_acked_bids": 0, "acked_bids_checked": 5},
        "tender": {"runs": [], "bids_per_s_median": 1_616.0, "reveal_s_median": 1.09, "recorded_s_median": 1.17},
    }
    summary = report.write_all(raw, tmp_path)
    assert (summary["tender_sealed_bids_per_s"], summary["tender_reveal_s"]) == (1_616.0, 1.09)
    assert "### tender" in (tmp_path / "REPORT.md").read_text()
    assert summary["accepted_bids_per_s"] == 9000
    assert summary["ratios"]["accepted_over_bare"] == 0.9
    assert summary["knee_offered_per_s"] == 8000
    assert summary["targets"]["lost_acked_bids"]["met"] is True
    for name in ("summary.json", "REPORT.md", "latency.png"):
        assert (tmp_path / name).stat().st_size > 0
