"""`auction demo --json` end to end: the real CLI, process group, websocket bots, scheduler and persister."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ops.demo.sale import PASSING_EVERY

LOTS = 9  # three per consignor: enough of one consignor's lots for the shill monitor to go on
BIDDERS = 6


def test_demo_runs_a_timed_sale_and_its_record_rebuilds(redis_url: str, database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "AUCTION_REDIS_URL": redis_url, "AUCTION_DATABASE_URL": database_url}
    env["AUCTION_STATE_DIR"] = str(tmp_path)
    argv = [sys.executable, "-m", "auction", "demo", "--json", "--duration", "10", "--lots", str(LOTS)]
    done = subprocess.run(
        [*argv, "--bidders", str(BIDDERS)], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)

    lots = summary["lots"]
    assert [row["lot"] for row in lots] == list(range(1, LOTS + 1))
    assert summary["record_verified"] is True
    assert summary["audit"]["problems"] == [] and summary["audit"]["commands"] >= summary["bids_accepted"]
    assert summary["bids_accepted"] > 0
    assert summary["events_recorded"] > summary["bids_accepted"] // 2
    paddles = range(101, 101 + BIDDERS)
    for row in lots:
        assert row["status"] in ("sold", "passed")
        if row["status"] == "sold":
            assert row["hammer"] >= row["reserve"]
            assert row["winner_paddle"] in paddles
            assert row["bids"] >= 1
        else:
            assert row["hammer"] == 0 and row["winner_paddle"] is None
    # The demo sets every sixth lot's reserve above what any bot will pay.
    assert lots[PASSING_EVERY - 1]["status"] == "passed"
    assert any(row["status"] == "sold" for row in lots)
    # The bots are vetted buyers; one company was rejected and one has a small limit, and the summary says so.
    reasons = summary["bids_rejected_by_reason"]
    assert reasons.get("not_registered", 0) > 0, reasons  # bot02: its company was rejected
    assert summary["bots_rejected_by_reason"]["bot02"].keys() == {"not_registered"}
    assert set(summary["vetting"]) == {"bot02", "bot03"}
    assert "over_limit" in summary["bots_rejected_by_reason"]["bot03"]  # bot03: a limit of one cheap lot
    # Settlement: every sold lot invoiced (premium on top of the hammer), one buyer defaulted and its lots were
    # offered to the underbidders, and the ledger reconciles.
    settled = summary["settlement"]
    assert settled["reconcile"] == "clean", settled
    assert settled["invoices"] >= 1
    assert settled["invoiced_total"] > settled["premium_total"] > 0
    # Christie's default schedule never charges more than 26 % of the hammer (one half-cent of rounding a lot).
    rest = settled["invoiced_total"] - settled["premium_total"]
    assert settled["premium_total"] * 10_000 <= 2_600 * rest + 5_000 * len(lots)
    assert settled["defaults"] >= 1
    # Nobody took up the passed lots in their window: every one is on its way back to its consignor. One parcel
    # to a buyer went missing, and its loss claim was paid.
    assert settled["returns"] == sum(row["status"] == "passed" for row in lots) >= 1
    assert settled["claims"] == 1
    # The shill bot (the last) bid only for one consignor, by the least step, early, rarely winning: the monitor
    # flags it, and no honest bot.
    shill = summary["shill"]
    assert shill["shill_bot"] == f"bot{BIDDERS:02d}" and shill["flagged"] == [shill["shill_bot"]], shill
    assert (
        shill["scores"][shill["shill_bot"]]
        >= shill["threshold"]
        > max(score for name, score in shill["scores"].items() if name != shill["shill_bot"])
    ), shill
    # The progress went to stderr, so stdout held nothing but the JSON object.
    assert "Watch it at http://127.0.0.1:" in done.stderr
    # The live sale: an auctioneer and a clerk at the rostrum, online bidders and the absentee book.
    live = summary["live"]
    assert live["record_verified"] is True
    outcomes = {row["lot"]: row["status"] for row in live["lots"]}
    assert outcomes == {1: "sold", 2: "sold", 3: "passed", 4: "withdrawn", 5: "sold"}
    assert live["reopened"] == 1 and live["missed_bids"] == 1  # a bid just after the hammer, and a reopen
    assert live["lots"][1]["paddle"] == 203  # the late bidder won the lot once it was reopened
    assert live["lots"][4]["paddle"] == 203  # the higher commission bid won lot 5
    assert live["fair_warnings"] >= 3
    assert live["billed"] == 3  # settlement billed the three hammers
    # The tender of rough parcels: per-carat bids sealed on receipt, three officers, two shares (one over HTTP,
    # one with the CLI) reveal it; a replaced bid, a tie, a lot accepted below its reserve and one declined.
    tender = summary["tender"]
    assert tender["record_verified"] is True
    assert (tender["officers"], tender["threshold"]) == (3, 2)
    assert sorted(tender["shares"].values()) == ["cli", "http"]  # two of the three gave their share
    assert [lot["kp_certificate"][:2] for lot in tender["lots"]] == ["BW", "BW", "ZA", "AO"]
    assert [(lot["lot"], lot["status"]) for lot in tender["lots"]] == [(1, "sold"), (2, "sold"), (3, "sold"),
                                                                      (4, "passed")]  # fmt: skip
    lot1, lot2, lot3, _ = tender["lots"]
    assert (lot1["per_carat"], lot1["amount"]) == (190_500, 1_981_200)  # B's replacement, at 10.40 ct
    assert lot2["amount"] == 170_000 * 1_266 // 100 and tender["won"]["A"] == [2]  # a tie: A bid first
    assert lot3["amount"] < lot3["reserve"] and tender["offers"] == {"3": "sold", "4": "passed"}
    assert tender["won"] == {"A": [2], "B": [1, 3], "C": []}
    assert tender["receipts_checked"] == 6 and tender["copies_opened"] == 2  # each buyer's latest per lot; A's copies
    assert tender["billed"] == 3  # settlement billed the three lots sold
    assert "revealed by officers" in done.stderr
