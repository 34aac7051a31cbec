"""The writer-mode scenario (loadtest/writers.py) at toy size: both modes, 1 and 2 gateways, two 1 s steps.

It runs real gateway and worker processes over the session's Redis and PostgreSQL. No timing assertions (this
machine's speed is not the test's business), only that every cell is there, the numbers are sane, and the
checks found nothing. The report's arithmetic (medians, ratios, faults) is tested on made-up cells.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtest import writers_report
from loadtest.writers import MODES, WritersOptions, run_writers

RATES = (40.0, 120.0)
STEP_S = 1.0


async def test_the_toy_matrix_has_every_cell_and_sane_numbers(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    options = WritersOptions(
        modes=MODES, gateways=(1, 2), rates=RATES, step_s=STEP_S, runs=1, buyers=12, out=tmp_path / "out",
        redis_url=redis_url, database_url=database_url, folder=tmp_path / "fleet", verbose=False,
    )  # fmt: skip
    report = await run_writers(options)

    assert report["faults"] == [], report["faults"]
    cells = {(row["mode"], row["gateways"], row["offered_per_s"]) for row in report["rows"]}
    assert cells == {(mode, n, rate) for mode in MODES for n in (1, 2) for rate in RATES}
    for row in report["rows"]:
        assert row["runs"] == 1
        planned = row["offered_per_s"] * STEP_S
        assert 0.5 * row["offered_per_s"] <= row["accepted_per_s"] <= row["offered_per_s"], row
        assert row["vs_baseline"] is not None and 0.5 <= row["vs_baseline"] <= 2.0, row
        assert 0 < row["ack_ms"]["p50"] <= row["ack_ms"]["p99"] <= row["ack_ms"]["p999"] < 5_000, row
        assert row["busy_pct"] < 50.0 and row["errors"] == 0, row
        assert row["store"]["commits"] >= row["accepted_per_s"] * STEP_S * 0.5, row
        assert 0 < row["cores"]["gateway"] <= row["cores_total"] and row["cores"]["generator"] > 0, row
        assert row["decided_per_s"] >= row["accepted_per_s"], row
        if row["mode"] == "optimistic" or row["gateways"] == 1:
            assert row["forwarded_inferred"] == 0 and row["pubsub_messages"] == 0, row
        else:  # half the bids reached the gateway that does not hold the sale, and went over pub/sub
            assert row["forwarded_inferred"] == planned / 2, row
            assert row["pubsub_messages"] > 0, row
    baseline = [row for row in report["rows"] if (row["mode"], row["gateways"]) == ("single", 1)]
    assert all(row["vs_baseline"] == 1.0 for row in baseline)
    for check in report["checks"]:
        assert check["sent"] == sum(RATES) * STEP_S and check["acked"] > 0
        assert check["unanswered"] == check["duplicates"] == check["misrouted"] == check["errors"] == 0
        assert check["acks_without_event"] == check["seq_gaps"] == check["lost_acked_bids"] == 0
        assert check["journal_mismatches"] == check["reordered_within_a_buyer"] == 0
        assert check["stores_that_committed"] == (1 if check["mode"] == "single" else check["gateways"])
        assert check["verifier_ok"] is True and check["exits"] == 0

    written = json.loads((tmp_path / "out" / "writers.json").read_text())
    assert len(written["rows"]) == len(report["rows"])
    markdown = (tmp_path / "out" / "WRITERS.md").read_text()
    assert "2 cores" in markdown or f"{report['cores']} cores" in markdown
    for mode in MODES:
        for n in (1, 2):
            for rate in RATES:
                assert f"| {mode} | {n} | {rate:,.0f} |" in markdown


def _step(sent: int, acked: int, busy: int = 0, gateways: int = 1, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "answered_not_busy_per_s": float(sent - busy), "committing_gateway": 1,
        "sent_by_gateway": [sent // gateways] * gateways, "acked_by_gateway": [acked // gateways] * gateways,
        "sent": sent, "acked": acked, "errors": 0, "unanswered": 0, "duplicates": 0, "misrouted": 0,
        "accepted_per_s": float(acked), "busy_pct": 100 * busy / sent, "reasons": {"busy": busy} if busy else {},
        "error_codes": {}, "ack_ms": {"p50": 1.0, "p90": 2.0, "p99": 3.0, "p999": 4.0, "max": 5.0},
        "busy_ms": {"p99": 0.0}, "send_lag_ms": {"p99": 0.5}, "store": {"commits": float(acked), "conflicts": 0.0},
        "forwarded_inferred": 0, "pubsub_messages": 0, "lease_changes": 0, "cores": {"gateway": 0.5, "redis": 0.2},
        "gateway_cores": [0.5], "gateway_cpu_us_per_answer": 100.0,
    }  # fmt: skip
    step.update(extra)
    return step


def _cell(mode: str, gateways: int, run: int, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    clean = {"unanswered": 0, "duplicates": 0, "misrouted": 0, "errors": 0}
    record = {"acks": 1, "acks_without_event": 0, "acks_not_matching_event": 0, "seq_gaps": 0, "prices_not_rising": 0}
    checks = {
        "answers": clean,
        "record": {**record, "examples": []},
        "persisted": {"lost_acked_bids": 0, "verifier_ok": True, "verifier": ["ok"]},
    }
    cell = {"mode": mode, "gateways": gateways, "run": run, "steps": steps, "checks": checks, "stop_codes": {}}
    cell.update(extra)
    return cell


def test_rows_are_medians_of_runs_and_ratios_are_taken_within_a_run() -> None:
    cells = [
        _cell("single", 1, 1, [_step(100, 100)]),
        _cell("optimistic", 2, 1, [_step(100, 50, busy=50, gateways=2)]),
        _cell("single", 1, 2, [_step(100, 80)]),
        _cell("optimistic", 2, 2, [_step(100, 60, busy=40, gateways=2)]),
        _cell("single", 1, 3, [_step(100, 90)]),
        _cell("optimistic", 2, 3, [_step(100, 90, busy=10, gateways=2)]),
    ]
    order = [("single", 1), ("optimistic", 2)]
    report = writers_report.build({}, cells, order, [100.0], ("single", 1))
    single, optimistic = report["rows"]
    assert single["accepted_per_s"] == 90.0 and single["vs_baseline"] == 1.0
    assert optimistic["accepted_per_s"] == 60.0 and optimistic["busy_pct"] == 40.0
    assert optimistic["vs_baseline"] == 0.75  # median of 50/100, 60/80, 90/90: not 60/90
    assert optimistic["decided_per_s"] == 60.0 and optimistic["acceptance_pct_committing"] == 60.0
    assert single["acceptance_pct_committing"] is None  # one gateway: nothing to compare
    assert report["faults"] == []


def test_a_twice_answered_bid_a_lost_ack_and_a_dead_gateway_are_faults() -> None:
    cell = _cell("single", 2, 1, [_step(10, 10, gateways=2, error_codes={"unavailable": 2})])
    cell["checks"]["answers"] = {"unanswered": 0, "duplicates": 3, "misrouted": 0, "errors": 2}
    cell["checks"]["persisted"]["lost_acked_bids"] = 1
    cell["exits"] = [{"process": "gateway-2", "code": 1, "log": "boom"}]
    faults = writers_report.cell_faults(cell)
    assert any("3 bids answered twice" in fault for fault in faults)
    assert any("1 acked bids not in PostgreSQL" in fault for fault in faults)
    assert any("gateway-2 exited (code 1)" in fault for fault in faults)
    assert any("'unavailable': 2" in fault for fault in faults)
