"""The report of `python -m loadtest.writers`: medians per cell, ratios to the baseline, faults; JSON and markdown.

A cell is one (mode, gateways) of one run; a row is one (mode, gateways, offered rate), the median of its runs.
Each row's `vs_baseline` is the median, over runs, of its accepted bids/s divided by the baseline cell's at the
same offered rate in the same run. WRITERS.md is written anew each time, except for what follows NOTES_MARKER:
notes written by hand after reading a run are kept.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NOTES_MARKER = "<!-- notes: everything below this line is written by hand and kept when the report is rewritten -->"
ROLES = ("gateway", "redis", "worker", "postgres", "generator", "other", "machine")


def _median(values: Sequence[float]) -> float:
    return round(float(statistics.median(values)), 2) if values else 0.0


def _pct(part: float, whole: float) -> float:
    return 100 * part / whole if whole else 0.0


# ---- faults ---------------------------------------------------------------------------------------------------


def cell_faults(cell: dict[str, Any]) -> list[str]:
    """What in a cell is a fault of the system (or of the run), worded for the report; [] for a clean cell."""
    name = f"run {cell['run']} {cell['mode']}/{cell['gateways']}"
    faults = []
    if "error" in cell:
        faults.append(f"{name}: the cell failed: {cell['error']}")
    for exit_ in cell.get("exits", []):
        faults.append(f"{name}: {exit_['process']} exited (code {exit_['code']}) while it should have been running")
    for process, code in cell.get("stop_codes", {}).items():
        if code not in (0, None):
            faults.append(f"{name}: {process} stopped with code {code} after SIGTERM (-9: killed after the grace)")
    for process, written in cell.get("log_lines", {}).items():
        if written["tracebacks"]:
            faults.append(f"{name}: {process} logged {written['tracebacks']} traceback(s): {written['first'][0]}")
    checks = cell.get("checks")
    if checks is None:
        return faults
    answers = checks["answers"]
    for key, words in (
        ("unanswered", "bids never answered (15 s)"),
        ("duplicates", "bids answered twice"),
        ("misrouted", "answers on another connection than the bid's"),
    ):
        if answers[key]:
            faults.append(f"{name}: {answers[key]} {words}")
    errors = _error_codes(cell)
    if errors:
        faults.append(f"{name}: bids answered with an error instead of a verdict: {errors}")
    record = checks["record"]
    for key, words in (
        ("acks_without_event", "acks with no BidAccepted of their client id in the lot's stream"),
        ("acks_not_matching_event", "acks whose seq or price is not their own event's"),
        ("seq_gaps", "gaps in a lot's seqs"),
        ("prices_not_rising", "accepted bids not above the one before"),
    ):
        if record[key]:
            faults.append(f"{name}: {record[key]} {words} ({'; '.join(record['examples'])})")
    journal = checks.get("journal", {})
    for key, words in (
        ("decided_twice", "commands decided more than once"),
        ("busy_but_decided", "bids answered busy that the store decided all the same"),
        ("answered_not_in_journal", "verdicts answered that no commit recorded"),
        ("answer_differs_from_journal", "answers that are not the verdict the journal records"),
        ("decided_not_answered", "commands decided whose answer never reached the bidder"),
        ("reordered_within_a_buyer", "commands of one buyer decided out of the order they were sent in"),
    ):
        if journal.get(key):
            faults.append(f"{name}: {journal[key]} {words} ({'; '.join(journal['examples'])})")
    persisted = checks["persisted"]
    if persisted["lost_acked_bids"]:
        faults.append(f"{name}: {persisted['lost_acked_bids']} acked bids not in PostgreSQL after the drain")
    if not persisted["verifier_ok"]:
        faults.append(f"{name}: the verifier refused the record: {' / '.join(persisted['verifier'])}")
    return faults


def _error_codes(cell: dict[str, Any]) -> dict[str, int]:
    codes: dict[str, int] = {}
    for step in cell["steps"]:
        for code, count in step["error_codes"].items():
            codes[code] = codes.get(code, 0) + count
    return codes


# ---- the rows -------------------------------------------------------------------------------------------------


def build(
    header: dict[str, Any],
    cells: list[dict[str, Any]],
    order: Sequence[tuple[str, int]],
    rates: Sequence[float],
    baseline: tuple[str, int],
) -> dict[str, Any]:
    base: dict[tuple[int, int], float] = {}  # (run, step) -> the baseline's accepted/s
    for cell in cells:
        if (cell["mode"], cell["gateways"]) == baseline:
            for index, step in enumerate(cell["steps"]):
                base[(cell["run"], index)] = step["accepted_per_s"]
    rows = []
    for mode, gateways in order:
        mine = [c for c in cells if c["mode"] == mode and c["gateways"] == gateways]
        for index, rate in enumerate(rates):
            steps = [(c["run"], c["steps"][index]) for c in mine if len(c["steps"]) > index]
            rows.append(_row(mode, gateways, rate, index, steps, base))
    faults = [fault for cell in cells for fault in cell_faults(cell)]
    code: dict[str, list[str]] = {}
    for cell in cells:
        code.setdefault(cell.get("code", "?"), []).append(f"run {cell['run']} {cell['mode']}/{cell['gateways']}")
    return {
        **header,
        "baseline": {"mode": baseline[0], "gateways": baseline[1]},
        "rows": rows,
        "checks": [_check_row(cell) for cell in cells],
        "faults": faults,
        "code_by_cell": code,
        "observations": observations(rows, order, rates),
        "cells": cells,
    }


def _row(
    mode: str, gateways: int, rate: float, index: int, steps: list[tuple[int, dict[str, Any]]], base: dict[Any, float]
) -> dict[str, Any]:
    runs = [step for _run, step in steps]
    ratios = [step["accepted_per_s"] / base[(run, index)] for run, step in steps if base.get((run, index))]
    reasons = sorted({reason for step in runs for reason in step["reasons"]})

    def med(get: Any) -> float:
        return _median([float(get(step)) for step in runs])

    return {
        "mode": mode,
        "gateways": gateways,
        "offered_per_s": rate,
        "runs": len(runs),
        "accepted_per_s": med(lambda s: s["accepted_per_s"]),
        "accepted_per_s_each_run": [step["accepted_per_s"] for step in runs],
        "decided_per_s": med(lambda s: s["answered_not_busy_per_s"]),
        **_acceptance(mode, gateways, runs),
        "vs_baseline": _median(ratios) if ratios else None,
        "busy_pct": med(lambda s: s["busy_pct"]),
        "rejected_pct": {r: med(lambda s, r=r: _pct(s["reasons"].get(r, 0), s["sent"])) for r in reasons},
        "errors": sum(step["errors"] for step in runs),
        "error_codes": _sum_dicts(step["error_codes"] for step in runs),
        "ack_ms": {p: med(lambda s, p=p: s["ack_ms"][p]) for p in ("p50", "p90", "p99", "p999", "max")},
        "busy_ms_p99": med(lambda s: s["busy_ms"]["p99"]),
        "send_lag_ms_p99": med(lambda s: s["send_lag_ms"]["p99"]),
        "store": {k: med(lambda s, k=k: s["store"][k]) for k in (runs[0]["store"] if runs else {})},
        "forwarded_inferred": med(lambda s: s["forwarded_inferred"]),
        "pubsub_messages": med(lambda s: s["pubsub_messages"]),
        "lease_changes": med(lambda s: s["lease_changes"]),
        "cores": {role: med(lambda s, role=role: s["cores"].get(role, 0.0)) for role in ROLES},
        "cores_total": med(lambda s: s["cores"].get("machine", 0.0)),
        "gateway_cpu_us_per_answer": med(lambda s: s["gateway_cpu_us_per_answer"]),
        "busiest_gateway_cores": med(lambda s: max((c for c in s["gateway_cores"] if c is not None), default=0.0)),
    }


def _acceptance(mode: str, gateways: int, runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """How often a bid was accepted by where it arrived: in the single mode, at the gateway that commits for the
    sale against the others (whose bids are forwarded); in the optimistic mode, the least and most favoured
    gateway. None where it doesn't apply (one gateway)."""
    if gateways < 2 or not runs:
        return {"acceptance_pct_committing": None, "acceptance_pct_others": None}
    committing, others = [], []
    for step in runs:
        pct = [_pct(a, n) for a, n in zip(step["acked_by_gateway"], step["sent_by_gateway"], strict=True)]
        if mode == "single":
            owner = step["committing_gateway"] - 1
            committing.append(pct[owner])
            others.append(statistics.mean(p for g, p in enumerate(pct) if g != owner))
        else:
            committing.append(max(pct))
            others.append(min(pct))
    return {"acceptance_pct_committing": _median(committing), "acceptance_pct_others": _median(others)}


def _sum_dicts(dicts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in dicts:
        for key, value in one.items():
            total[key] = total.get(key, 0) + value
    return total


def _sum_of(found: dict[str, Any], *names: str) -> int | None:
    return sum(int(found[name]) for name in names) if all(name in found for name in names) else None


def _check_row(cell: dict[str, Any]) -> dict[str, Any]:
    checks = cell.get("checks") or {}
    record, persisted, answers = checks.get("record", {}), checks.get("persisted", {}), checks.get("answers", {})
    journal = checks.get("journal", {})
    return {
        "run": cell["run"],
        "mode": cell["mode"],
        "gateways": cell["gateways"],
        "sale": cell.get("sale"),
        "sent": sum(step["sent"] for step in cell["steps"]),
        "acked": sum(step["acked"] for step in cell["steps"]),
        "unanswered": answers.get("unanswered"),
        "duplicates": answers.get("duplicates"),
        "misrouted": answers.get("misrouted"),
        "errors": answers.get("errors"),
        "acks_checked_in_redis": record.get("acks"),
        "acks_without_event": _sum_of(record, "acks_without_event", "acks_not_matching_event"),
        "journal_mismatches": _sum_of(
            journal,
            "decided_twice",
            "busy_but_decided",
            "answered_not_in_journal",
            "answer_differs_from_journal",
            "decided_not_answered",
        ),
        "reordered_within_a_buyer": journal.get("reordered_within_a_buyer"),
        "stores_that_committed": journal.get("stores_that_committed"),
        "seq_gaps": record.get("seq_gaps"),
        "lost_acked_bids": persisted.get("lost_acked_bids"),
        "verifier_ok": persisted.get("verifier_ok"),
        "exits": len(cell.get("exits", [])),
        "log_lines": sum(w["lines"] for w in cell.get("log_lines", {}).values()),
        "faults": len(cell_faults(cell)),
        "seconds": cell.get("seconds"),
    }


# ---- what the numbers show (computed) ---------------------------------------------------------------------------


def observations(rows: list[dict[str, Any]], order: Sequence[tuple[str, int]], rates: Sequence[float]) -> list[str]:
    """Plain facts read off the rows: each cell's best step, the top step side by side, the machine's share."""
    found = []
    for mode, gateways in order:
        mine = [r for r in rows if r["mode"] == mode and r["gateways"] == gateways and r["runs"]]
        if not mine:
            continue
        best = max(mine, key=lambda r: r["accepted_per_s"])
        most = max(mine, key=lambda r: r["decided_per_s"])
        first_busy = next((r for r in mine if r["busy_pct"] >= 1.0), None)
        busy_note = (
            f"busy from {first_busy['offered_per_s']:.0f} offered ({first_busy['busy_pct']:.1f} %)"
            if first_busy
            else "busy < 1 % at every step"
        )
        found.append(
            f"{mode}, {gateways} gateway(s): best {best['accepted_per_s']:.0f} accepted/s at "
            f"{best['offered_per_s']:.0f} offered (ack p99 {best['ack_ms']['p99']:.0f} ms, "
            f"{best['cores_total']:.2f} of the cores busy); decided at most {most['decided_per_s']:.0f}/s (at "
            f"{most['offered_per_s']:.0f} offered); {busy_note}"
        )
    if rates:
        top = rates[-1]
        side = [r for r in rows if r["offered_per_s"] == top and r["runs"]]
        if side:
            parts = ", ".join(
                f"{r['mode']}/{r['gateways']} {r['accepted_per_s']:.0f}"
                + (f" (x{r['vs_baseline']:.2f})" if r["vs_baseline"] is not None else "")
                for r in side
            )
            found.append(f"at {top:.0f} offered, accepted/s (x the baseline): {parts}")
    return found


# ---- writing ----------------------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def markdown_table(report: dict[str, Any]) -> str:
    """The main table: mode x gateways x offered rate."""
    lines = [
        "| mode | gateways | offered/s | accepted/s | x baseline | decided/s | busy % | too_low % | other refusals % "
        "| errors | ack p50 ms | ack p99 ms | ack p99.9 ms | accepted % where committed / elsewhere | machine cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        rejected = dict(r["rejected_pct"])
        rejected.pop("busy", None)
        too_low = rejected.pop("too_low", 0.0)
        other = ", ".join(f"{k} {v:.1f}" for k, v in rejected.items() if v >= 0.05) or "-"
        ratio = f"{r['vs_baseline']:.2f}" if r["vs_baseline"] is not None else "-"
        where = (
            f"{r['acceptance_pct_committing']:.0f} / {r['acceptance_pct_others']:.0f}"
            if r["acceptance_pct_committing"] is not None and r["acceptance_pct_others"] is not None
            else "-"
        )
        lines.append(
            f"| {r['mode']} | {r['gateways']} | {r['offered_per_s']:,.0f} | {r['accepted_per_s']:,.0f} | {ratio} "
            f"| {r['decided_per_s']:,.0f} | {r['busy_pct']:.1f} | {too_low:.1f} | {other} | {r['errors']} "
            f"| {_ms(r['ack_ms']['p50'])} | {_ms(r['ack_ms']['p99'])} | {_ms(r['ack_ms']['p999'])} | {where} "
            f"| {r['cores_total']:.2f} |"
        )
    return "\n".join(lines)


def _store_table(report: dict[str, Any]) -> str:
    lines = [
        "| mode | gateways | offered/s | commits | conflicts | busy (store) | forwarded (inferred) | pub/sub msgs "
        "| lease changes | gateway CPU us/answer | gateways' cores (busiest) | redis | worker | postgres | generator "
        "| generator lag p99 ms | other | machine |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        s, c = r["store"], r["cores"]
        lines.append(
            f"| {r['mode']} | {r['gateways']} | {r['offered_per_s']:,.0f} | {s.get('commits', 0):,.0f} "
            f"| {s.get('conflicts', 0):,.0f} | {s.get('busy', 0):,.0f} | {r['forwarded_inferred']:,.0f} "
            f"| {r['pubsub_messages']:,.0f} | {r['lease_changes']:.0f} | {r['gateway_cpu_us_per_answer']:,.0f} "
            f"| {c['gateway']:.2f} ({r['busiest_gateway_cores']:.2f}) | {c['redis']:.2f} | {c['worker']:.2f} "
            f"| {c['postgres']:.2f} | {c['generator']:.2f} | {_ms(r['send_lag_ms_p99'])} | {c['other']:.2f} "
            f"| {r['cores_total']:.2f} |"
        )
    return "\n".join(lines)


def _checks_table(report: dict[str, Any]) -> str:
    lines = [
        "| run | mode | gateways | sent | acked | unanswered | answered twice | on another connection | errors "
        "| acks not matching the lot's stream | answers not matching the journal | a buyer's bids reordered "
        "| stores that committed | seq gaps | acked, not in PostgreSQL | verifier | processes exited | log lines "
        "| faults |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["checks"]:
        verifier = {True: "ok", False: "**refused**", None: "-"}[c["verifier_ok"]]
        lines.append(
            f"| {c['run']} | {c['mode']} | {c['gateways']} | {c['sent']:,} | {c['acked']:,} | {c['unanswered']} "
            f"| {c['duplicates']} | {c['misrouted']} | {c['errors']} | {c['acks_without_event']} "
            f"| {c['journal_mismatches']} | {c['reordered_within_a_buyer']} | {c['stores_that_committed']} "
            f"| {c['seq_gaps']} | {c['lost_acked_bids']} | {verifier} | {c['exits']} | {c['log_lines']} "
            f"| {c['faults']} |"
        )
    return "\n".join(lines)


def markdown(report: dict[str, Any], notes: str = "") -> str:
    options = report["options"]
    redis = report.get("redis", {})
    cores = report["cores"]
    head = [
        "# Writer modes on a hot lot: one writer per sale against every gateway committing",
        "",
        f"`{report['command']}` (`loadtest/writers.py`), started {report['started']}, {report['seconds']:.0f} s,"
        f" commit `{report['git']['commit']}`"
        + (
            f" (with uncommitted changes in auction/ or ops/: {', '.join(report['git']['uncommitted_in_auction_ops'])})"
            if report["git"]["uncommitted_in_auction_ops"]
            else ""
        )
        + ".",
        *(
            [
                "",
                "**The code changed during the run** (the working tree is shared): "
                + "; ".join(f"`{digest}`: {', '.join(names)}" for digest, names in report["code_by_cell"].items()),
            ]
            if len(report.get("code_by_cell", {})) > 1
            else []
        ),
        "",
        f"**This machine has {cores} cores**, shared by everything below: the N gateways, the worker, Redis"
        f" (appendfsync `{redis.get('appendfsync')}`), PostgreSQL and the load generator itself (and whatever"
        f" else runs on it: load average {report['loadavg_start']} at the start, {report['loadavg_end']} at the"
        " end). More gateway processes than cores can't add CPU; read the cores columns before crediting or"
        " blaming a design: a total near 2.0 means the machine, not the design, was the limit.",
        "",
        f"One hot lot (and {report['quiet_lots']} quiet lots, a warm-up bid each), {options['buyers']} buyers on"
        f" one websocket each, connection i on gateway i mod N; every bid a valid next bid from another buyer"
        f" than the last; open loop, {options['step_s']:.0f} s per offered rate; latency from each bid's due time."
        f" Each figure is the median of {options['runs']} run(s); cells are interleaved within a run. The baseline"
        f" is {report['baseline']['mode']} with {report['baseline']['gateways']} gateway, same run, same rate.",
        "",
        "## Accepted bids and latency",
        "",
        markdown_table(report),
        "",
        "*decided/s*: bids answered with a verdict other than `busy` (accepted or refused by the rules), a"
        " second; the store's capacity, whatever the order bids arrived in. `too_low`: a bid overtaken by a higher"
        " one on the way (the order bids reach the lot is not the order they were sent in); `busy`: refused by"
        " the store (its oldest waiting command older than 250 ms, or, in the optimistic mode, a command that"
        " lost the compare-and-set 10 times); *errors*: answers with an error instead of a verdict. *Accepted %"
        " where committed / elsewhere*: in the single mode, the share of bids accepted among those sent to the"
        " gateway that holds the sale, and among those sent to the others (forwarded); in the optimistic mode,"
        " the most and the least favoured gateway. *Machine cores*: all the CPU the machine used during the"
        f" step, of {cores}.",
        "",
        "## The store's counters and where the cores went",
        "",
        _store_table(report),
        "",
        "Store counters are summed over the gateways' /metrics, per step. /metrics exports commits, conflicts and"
        " busy, but not StoreStats' `forwarded`, `served` or `fenced`: *forwarded (inferred)* is the bids the"
        " generator sent to gateways other than the one that committed (single mode); *pub/sub msgs* is Redis's"
        " count of PUBLISH calls (forwarded batches and their answers); *lease changes* is how far the sale's"
        " fencing token moved during the step (each change of hands can fence a commit). *Gateway CPU us/answer*:"
        " the CPU time of all the gateways together per bid answered, the cost of a bid to the design whatever else"
        " the machine did. Cores are the CPU census of the run's own processes, by pid (loadtest/own_cpu.py): all"
        " gateways together, the busiest one in brackets; *other* is every process on the machine that is not"
        " part of the run (other sessions share it), *machine* all of it, out of"
        f" {cores}. *Generator lag*: how late the generator wrote its bids (due -> written), p99; latency is"
        " counted from the due time, so a late generator is charged to the system, not hidden.",
        "",
        "## Checks",
        "",
        _checks_table(report),
        "",
        "## What the numbers show (computed)",
        "",
        *[f"- {line}" for line in report["observations"]],
        "",
    ]
    if report["faults"]:
        head += ["## Faults", "", *[f"- {fault}" for fault in report["faults"]], ""]
    else:
        head += ["No faults: every bid answered once, every ack in the record, the verifier accepted every sale.", ""]
    return "\n".join([*head, NOTES_MARKER, notes.lstrip("\n")]).rstrip("\n") + "\n"


def write(report: dict[str, Any], out: Path) -> None:
    """writers.json and WRITERS.md in `out`, keeping the hand-written notes of an earlier WRITERS.md."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "writers.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    notes = ""
    md = out / "WRITERS.md"
    if md.exists():
        text = md.read_text()
        if NOTES_MARKER in text:
            notes = text.split(NOTES_MARKER, 1)[1]
    md.write_text(markdown(report, notes))
