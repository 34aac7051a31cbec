"""The chaos run, short: 20 lots at 60 bids/s while a gateway, the worker, Redis and PostgreSQL are each killed
once; every check must pass. (`make chaos` is the long one: 200 lots, 300 bids/s, 24 kills.)

The run starts its own servers, in the test's folder: it kills them, so it can't share the session's.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

from loadtest.chaos import ChaosOptions, kill_schedule, run_chaos
from loadtest.chaos_checks import run_verifier


def test_the_kill_schedule_hits_every_kind_in_turn_and_is_seeded() -> None:
    plan = kill_schedule(random.Random(3), 8, 10.0, 50.0)
    kinds = ["gateway" if kill.target.startswith("gateway") else kill.target for kill in plan]
    assert sorted(kinds[:4]) == sorted(kinds[4:]) == ["gateway", "postgres", "redis", "worker"]
    assert all(10.0 <= kill.at_s <= 50.0 and 0.5 <= kill.pause_s <= 2.0 for kill in plan)
    assert [kill.at_s for kill in plan] == sorted(kill.at_s for kill in plan)
    assert plan == kill_schedule(random.Random(3), 8, 10.0, 50.0)


def test_a_verifier_that_does_not_exist_is_not_available_not_a_pass(tmp_path: Path) -> None:
    ok, output = run_verifier("postgresql://nobody@/nowhere?host=" + str(tmp_path), 1)
    if ok is None:
        assert "invalid choice: 'audit'" in output
    else:
        assert ok is False  # it exists: against no database at all it must fail, never pass


async def test_a_short_chaos_run_passes_every_check(tmp_path: Path) -> None:
    options = ChaosOptions(
        lots=20,
        buyers=8,
        watchers=2,
        rate=60.0,
        kills=4,
        duration_s=16.0,
        seed=11,
        close_wait_s=10.0,
        settle_s=20.0,
        out=tmp_path / "chaos.json",
        folder=tmp_path / "cluster",
    )
    results = await run_chaos(options)

    assert json.loads(options.out.read_text())["seed"] == 11
    assert "error" not in results, results["error"]
    assert results["kills"]["by_target"] == {"gateway": 1, "worker": 1, "redis": 1, "postgres": 1}
    assert results["kills"]["not_back"] == 0
    assert results["bids"]["acked"] > 0 and results["bids"]["rejected"] > 0
    failed = {name: check for name, check in results["checks"].items() if check["ok"] is False}
    assert not failed, json.dumps(failed, indent=2)
    if results["checks"]["verifier"]["ok"] is None:
        warnings.warn("the chaos run's verifier is not available yet: the record was not replayed", stacklevel=1)
    else:
        assert results["passed"] is True
