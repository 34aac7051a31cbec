"""The chaos run's checks: what must hold after any mix of crashes, and every failure found.

Each check returns a `CheckResult`: ok (True, False, or None when it could not run at all, as for a verifier
that doesn't exist yet), counts, and the failures as sentences naming the lot, the bid or the process. They
read the record (PostgreSQL: lot_events, invoice_lines, passed_lots), Redis (each lot's state), and the logs
the clients kept; nothing here trusts what the harness itself believed during the run.

- acked_bids_recorded        every acknowledged bid is in the record on its lot (a BidAccepted or MaxBidRaised
                             with its client_id), at or before the seq its ack named, with the ack's price there
- one_answer_per_bid         no client_id got two different answers, however often it was sent
- rejected_bids_not_recorded no bid refused by the rules is in the record anyway
- seqs_gap_free              each lot's recorded seqs are 1..n, no gap, no repeat
- closed_exactly_once        each lot has exactly one LotSold / LotPassed / LotWithdrawn, and it is its last event
- closed_on_time             each close came within a few seconds of the lot's end (soft close included)
- invoiced_once              each sold lot has one active invoice line, for its hammer and its buyer; nothing
                             else is billed; each passed lot is recorded as passed
- reconcile_clean            `auction settlement reconcile` exits 0
- rebuild_equals_redis       each lot rebuilt from the record alone (auction.record) equals its Redis state
- watchers_saw_every_event   no watcher saw a gap, a repeat or two different events at one seq, each ended at
                             every lot's last recorded seq, and what it saw is the record's public form
- verifier                   `auction audit verify SALE` exits 0
- no_process_gave_up         no gateway or worker exited unless the chaos schedule killed it
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from auction import catalog
from auction.engine.lot import LotState, LotTerms, evolve, new_lot
from auction.engine.messages import (
    EVENT_DECODER,
    AnyEvent,
    BidAccepted,
    LotExtended,
    LotPassed,
    LotSold,
    LotWithdrawn,
    MaxBidRaised,
)
from auction.engine.views import public_event
from auction.record import rebuild_from_record
from loadtest.chaos_clients import BidLog, WatcherProgram
from loadtest.chaos_cluster import UnexpectedExit

FAILURES_SHOWN = 10
SUBPROCESS_TIMEOUT_S = 180.0
VERIFIER_MISSING = "invalid choice: 'audit'"
CLOSES = (LotSold, LotPassed, LotWithdrawn)
# A close may be late by an outage: the worker killed and started again (a pause of up to 2 s, and its start),
# or Redis killed and restarted. Later than this, the scheduler stalled.
CLOSE_LATENESS_S = 6.0


@dataclass
class CheckResult:
    name: str
    ok: bool | None
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"ok": self.ok, "counts": self.counts, "failures_total": len(self.failures)}
        shown["first_failures"] = self.failures[:FAILURES_SHOWN]
        if self.note:
            shown["note"] = self.note
        return shown


def result(name: str, failures: list[str], counts: dict[str, int], note: str = "") -> CheckResult:
    return CheckResult(name, not failures, counts, failures, note)


# ---- what the checks read -----------------------------------------------------------------------------------------


@dataclass
class Evidence:
    """Everything the checks look at, read once after the run."""

    sale: int
    terms: dict[int, LotTerms]  # from the catalogue in PostgreSQL
    record: dict[int, list[AnyEvent]]  # lot -> its recorded events in seq order
    redis_states: dict[int, LotState]
    invoice_lines: list[asyncpg.Record]
    passed_rows: set[int]
    bids: list[BidLog]
    watchers: list[WatcherProgram]
    unexpected_exits: list[UnexpectedExit]
    read_at_ms: int  # when Redis was read (wall clock, as lots' ends are)


async def load_record(pg: asyncpg.Pool, sale: int) -> dict[int, list[AnyEvent]]:
    rows = await pg.fetch("SELECT lot_no, data::text FROM lot_events WHERE sale_id = $1 ORDER BY lot_no, seq", sale)
    record: dict[int, list[AnyEvent]] = defaultdict(list)
    for row in rows:
        record[row["lot_no"]].append(EVENT_DECODER.decode(row[1]))
    return dict(record)


async def load_billing(pg: asyncpg.Pool, sale: int) -> tuple[list[asyncpg.Record], set[int]]:
    lines = await pg.fetch(
        "SELECT l.lot_no, l.source, l.status, l.hammer, i.buyer_id FROM invoice_lines l "
        "JOIN invoices i ON i.id = l.invoice_id WHERE l.sale_id = $1 ORDER BY l.lot_no, l.id",
        sale,
    )
    passed = {row["lot_no"] for row in await pg.fetch("SELECT lot_no FROM passed_lots WHERE sale_id = $1", sale)}
    return lines, passed


async def stored_terms(pg: asyncpg.Pool, sale: int) -> dict[int, LotTerms]:
    return {terms.lot: terms for terms in await catalog.stored_terms(pg, sale)}


# ---- bids -----------------------------------------------------------------------------------------------------------


def _recorded_bids(record: dict[int, list[AnyEvent]]) -> dict[tuple[int, str], int]:
    """(lot, client_id) -> the seq of the event that recorded that bid."""
    found: dict[tuple[int, str], int] = {}
    for lot, events in record.items():
        for event in events:
            if isinstance(event, BidAccepted | MaxBidRaised):
                found.setdefault((lot, event.client_id), event.seq)
    return found


def _prices(record: dict[int, list[AnyEvent]], terms: dict[int, LotTerms]) -> dict[tuple[int, int], int]:
    """(lot, seq) -> the lot's price once that event was applied: what an ack naming that seq must say."""
    prices: dict[tuple[int, int], int] = {}
    for lot, events in record.items():
        if lot not in terms:
            continue
        state = new_lot(terms[lot])
        for event in events:
            try:
                state = evolve(state, event)
            except Exception:  # a gap: seqs_gap_free reports it; prices past it are unknown
                break
            prices[(lot, event.seq)] = state.price
    return prices


def acked_bids_recorded(evidence: Evidence) -> CheckResult:
    recorded = _recorded_bids(evidence.record)
    prices = _prices(evidence.record, evidence.terms)
    failures: list[str] = []
    counts = Counter(acked=0, recorded=0, missing=0, misplaced=0)
    for bid in evidence.bids:
        ack = next((answer for answer in bid.answers if answer.kind == "ack"), None)
        if ack is None:
            continue
        counts["acked"] += 1
        seq = recorded.get((bid.lot, bid.client_id))
        if seq is None:
            counts["missing"] += 1
            failures.append(f"lot {bid.lot}: bid {bid.client_id} ({bid.kind} {bid.amount}) got {ack.describe()}, "
                            "but no event of the lot records it")  # fmt: skip
        elif ack.seq is None or seq > ack.seq or prices.get((bid.lot, ack.seq)) != ack.price:
            counts["misplaced"] += 1
            price_there = prices.get((bid.lot, ack.seq or 0))
            failures.append(f"lot {bid.lot}: bid {bid.client_id} got {ack.describe()}, but the record has it at "
                            f"seq {seq} and the price at seq {ack.seq} is {price_there}")  # fmt: skip
        else:
            counts["recorded"] += 1
    return result("acked_bids_recorded", failures, dict(counts))


def one_answer_per_bid(evidence: Evidence) -> CheckResult:
    failures: list[str] = []
    counts = Counter(bids=len(evidence.bids), answered=0, answered_more_than_once=0, disagreeing=0)
    for bid in evidence.bids:
        if not bid.answers:
            continue
        counts["answered"] += 1
        counts["answered_more_than_once"] += len(bid.answers) > 1
        first = bid.answers[0]
        other = next((answer for answer in bid.answers[1:] if not answer.same_as(first)), None)
        if other is not None:
            counts["disagreeing"] += 1
            failures.append(f"lot {bid.lot}: bid {bid.client_id} ({bid.kind} {bid.amount}, sent {bid.sends} times) "
                            f"got {first.describe()}, then {other.describe()}")  # fmt: skip
    return result("one_answer_per_bid", failures, dict(counts))


def rejected_bids_not_recorded(evidence: Evidence) -> CheckResult:
    recorded = _recorded_bids(evidence.record)
    failures: list[str] = []
    counts = Counter(rejected=0, recorded_anyway=0)
    for bid in evidence.bids:
        if not bid.answers or any(answer.kind == "ack" for answer in bid.answers):
            continue
        counts["rejected"] += 1
        seq = recorded.get((bid.lot, bid.client_id))
        if seq is not None:
            counts["recorded_anyway"] += 1
            failures.append(f"lot {bid.lot}: bid {bid.client_id} got {bid.answers[0].describe()}, "
                            f"yet the record has it at seq {seq}")  # fmt: skip
    return result("rejected_bids_not_recorded", failures, dict(counts))


# ---- lots -------------------------------------------------------------------------------------------------------


def seqs_gap_free(evidence: Evidence) -> CheckResult:
    failures: list[str] = []
    counts = Counter(lots=len(evidence.terms), events=0, lots_without_events=0, lots_with_gaps=0)
    for lot in sorted(evidence.terms):
        seqs = [event.seq for event in evidence.record.get(lot, [])]
        counts["events"] += len(seqs)
        if not seqs:
            counts["lots_without_events"] += 1
            failures.append(f"lot {lot}: nothing recorded")
        elif seqs != list(range(1, len(seqs) + 1)):
            counts["lots_with_gaps"] += 1
            failures.append(f"lot {lot}: recorded seqs are not 1..{len(seqs)}: {_seq_trouble(seqs)}")
    return result("seqs_gap_free", failures, dict(counts))


def _seq_trouble(seqs: Sequence[int]) -> str:
    expected = 1
    for seq in seqs:
        if seq != expected:
            return f"seq {seq} where {expected} was due"
        expected += 1
    return "?"


def closed_exactly_once(evidence: Evidence) -> CheckResult:
    failures: list[str] = []
    counts = Counter(sold=0, passed=0, withdrawn=0, never_closed=0, closed_more_than_once=0, events_after_close=0)
    for lot in sorted(evidence.terms):
        events = evidence.record.get(lot, [])
        closes = [event for event in events if isinstance(event, CLOSES)]
        for close in closes:
            counts[type(close).__name__.removeprefix("Lot").lower()] += 1
        if not closes:
            counts["never_closed"] += 1
            failures.append(f"lot {lot}: never closed ({len(events)} events recorded); {_in_redis(evidence, lot)}")
        elif len(closes) > 1:
            counts["closed_more_than_once"] += 1
            failures.append(f"lot {lot}: closed {len(closes)} times: {', '.join(_name(c) for c in closes)}")
        elif events[-1] is not closes[0]:
            counts["events_after_close"] += 1
            failures.append(f"lot {lot}: {_name(closes[0])} is followed by {_name(events[-1])}")
    return result("closed_exactly_once", failures, dict(counts))


def _in_redis(evidence: Evidence, lot: int) -> str:
    """What Redis says of a lot, and how long past its end it is: evidence for a close that never came."""
    state = evidence.redis_states.get(lot)
    if state is None:
        return "not in Redis"
    late_s = (evidence.read_at_ms - state.end_ms) / 1000
    return f"Redis has it {state.status} at seq {state.seq}, {late_s:.1f} s past its end"


def closed_on_time(evidence: Evidence) -> CheckResult:
    """Each close within CLOSE_LATENESS_S of the lot's end as it stood (soft close included). Bidders lose
    nothing to a late close (a bid past the end is refused too_late), but a scheduler that stalls shows here
    first, and the buyers wait for their result."""
    failures: list[str] = []
    lateness = []
    for lot, events in sorted(evidence.record.items()):
        close = next((event for event in events if isinstance(event, CLOSES)), None)
        if close is None or lot not in evidence.terms:
            continue
        end_ms = _end_before(evidence.terms[lot], events, close.seq)
        late_s = (close.at_ms - end_ms) / 1000
        lateness.append(late_s)
        if late_s > CLOSE_LATENESS_S:
            failures.append(f"lot {lot}: {_name(close)} {late_s:.1f} s after its end")
    lateness.sort()
    counts = {"closes": len(lateness), "late": len(failures)}
    counts["median_ms"] = int(lateness[len(lateness) // 2] * 1000) if lateness else 0
    counts["max_ms"] = int(lateness[-1] * 1000) if lateness else 0
    return result("closed_on_time", failures, counts)


def _end_before(terms: LotTerms, events: Sequence[AnyEvent], seq: int) -> int:
    """The lot's end once every event before `seq` was applied (extensions move it)."""
    end_ms = terms.end_ms
    for event in events:
        if event.seq >= seq:
            break
        if isinstance(event, LotExtended):
            end_ms = event.end_ms
    return end_ms


def _name(event: AnyEvent) -> str:
    return f"{type(event).__name__} (seq {event.seq})"


def invoiced_once(evidence: Evidence) -> CheckResult:
    sold = {lot: e for lot, events in evidence.record.items() for e in events if isinstance(e, LotSold)}
    passed = {lot for lot, events in evidence.record.items() if any(isinstance(e, LotPassed) for e in events)}
    active: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for line in evidence.invoice_lines:
        if line["status"] == "active":
            active[line["lot_no"]].append(line)
    failures: list[str] = []
    counts = Counter(sold=len(sold), billed_once=0, unbilled=0, billed_twice=0, billed_wrong=0, billed_unsold=0)
    for lot, close in sorted(sold.items()):
        lines = active.pop(lot, [])
        failures += _billing_trouble(lot, close, lines, counts)
    for lot, lines in sorted(active.items()):
        counts["billed_unsold"] += 1
        failures.append(f"lot {lot}: {len(lines)} active invoice line(s) but the record has no LotSold")
    counts["passed"] = len(passed)
    unrecorded = sorted(passed - evidence.passed_rows)
    counts["passed_unrecorded"] = len(unrecorded)
    failures += [f"lot {lot}: passed in the record, not in passed_lots" for lot in unrecorded]
    return result("invoiced_once", failures, dict(counts))


def _billing_trouble(lot: int, close: LotSold, lines: list[asyncpg.Record], counts: Counter[str]) -> list[str]:
    if not lines:
        counts["unbilled"] += 1
        return [f"lot {lot}: sold at {close.hammer} to bidder {close.bidder}, never billed"]
    if len(lines) > 1:
        counts["billed_twice"] += 1
        return [f"lot {lot}: sold once, billed {len(lines)} times"]
    line = lines[0]
    if (line["hammer"], line["buyer_id"], line["source"]) != (close.hammer, close.bidder, "hammer"):
        counts["billed_wrong"] += 1
        return [f"lot {lot}: sold at {close.hammer} to {close.bidder}, billed {line['hammer']} to {line['buyer_id']}"
                f" ({line['source']})"]  # fmt: skip
    counts["billed_once"] += 1
    return []


def rebuild_equals_redis(rebuilt: dict[int, LotState], evidence: Evidence) -> CheckResult:
    failures: list[str] = []
    counts = Counter(lots=len(evidence.terms), equal=0, differ=0, missing_in_redis=0)
    for lot in sorted(evidence.terms):
        live = evidence.redis_states.get(lot)
        if live is None:
            counts["missing_in_redis"] += 1
            failures.append(f"lot {lot}: not in Redis")
        elif rebuilt[lot] != live:
            counts["differ"] += 1
            failures.append(f"lot {lot}: rebuilt from the record {_differences(rebuilt[lot], live)}")
        else:
            counts["equal"] += 1
    return result("rebuild_equals_redis", failures, dict(counts))


async def rebuild_all(pg: asyncpg.Pool, terms: Iterable[LotTerms]) -> dict[int, LotState]:
    return {t.lot: await rebuild_from_record(pg, t) for t in terms}


def _differences(rebuilt: LotState, live: LotState) -> str:
    ours, theirs = msgspec.structs.asdict(rebuilt), msgspec.structs.asdict(live)
    fields = [name for name in ours if ours[name] != theirs[name]]
    return "; ".join(f"{name} {ours[name]!r} vs Redis {theirs[name]!r}" for name in fields[:4])


# ---- watchers -------------------------------------------------------------------------------------------------------


def watchers_saw_every_event(evidence: Evidence) -> CheckResult:
    public = _public_record(evidence)
    failures: list[str] = []
    counts: Counter[str] = Counter(watchers=len(evidence.watchers))
    for watcher in evidence.watchers:
        counts["events_received"] += watcher.events
        counts["subscriptions"] += watcher.subscriptions
        counts["resumes"] += watcher.resumes
        counts.update(watcher.faults)
        failures += watcher.problems
        failures += _incomplete(watcher, evidence.record, counts)
        failures += _disagreements(watcher, public, counts)
    return result("watchers_saw_every_event", failures, dict(counts))


def _public_record(evidence: Evidence) -> dict[tuple[int, int], Any]:
    """(lot, seq) -> the recorded event in the public form a watcher should have received."""
    return {
        (lot, event.seq): msgspec.to_builtins(public_event(evidence.terms[lot], event))
        for lot, events in evidence.record.items()
        if lot in evidence.terms
        for event in events
    }


def _incomplete(watcher: WatcherProgram, record: dict[int, list[AnyEvent]], counts: Counter[str]) -> list[str]:
    failures = []
    for lot, events in sorted(record.items()):
        last = watcher.last_seq.get(lot, 0)
        if events and last != events[-1].seq:
            counts["lots_incomplete"] += 1
            failures.append(f"{watcher.name}: lot {lot}: last saw seq {last}, the record ends at {events[-1].seq}")
    return failures


def _disagreements(watcher: WatcherProgram, public: dict[tuple[int, int], Any], counts: Counter[str]) -> list[str]:
    failures = []
    for (lot, seq), seen in sorted(watcher.received.items()):
        expected = public.get((lot, seq))
        if seen != expected:
            counts["disagreements"] += 1
            failures.append(f"{watcher.name}: lot {lot} seq {seq}: saw {seen}, the record has {expected}")
    return failures


# ---- processes, tools -------------------------------------------------------------------------------------------


def no_process_gave_up(evidence: Evidence) -> CheckResult:
    by_process = Counter(exit.process for exit in evidence.unexpected_exits)
    failures = [exit.describe() for exit in evidence.unexpected_exits]
    return result("no_process_gave_up", failures, dict(by_process))


def _cli(args: Sequence[str], env: dict[str, str]) -> tuple[int | None, str]:
    """Run `python -m auction ARGS`; (exit code or None on a timeout, stdout and stderr together)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "auction", *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return None, f"timed out after {SUBPROCESS_TIMEOUT_S:.0f} s: {exc.stdout!r} {exc.stderr!r}"
    return done.returncode, (done.stdout + done.stderr).strip()


def run_verifier(database_url: str, sale: int, redis_url: str | None = None) -> tuple[bool | None, str]:
    """`auction audit verify SALE`: (True, output) if it exits 0, (False, output) otherwise, and (None, output)
    while the command doesn't exist yet (argparse refuses `audit`): not available, which is not a pass."""
    env = {"AUCTION_DATABASE_URL": database_url}
    if redis_url is not None:
        env["AUCTION_REDIS_URL"] = redis_url
    code, output = _cli(["audit", "verify", str(sale)], env)
    if code != 0 and VERIFIER_MISSING in output:
        return None, output
    return code == 0, output


def verifier(database_url: str, redis_url: str, sale: int) -> CheckResult:
    ok, output = run_verifier(database_url, sale, redis_url)
    lines = [line for line in output.splitlines() if line.strip()]
    if ok is None:
        return CheckResult("verifier", None, {}, [], "not available: `auction audit verify` does not exist yet")
    return CheckResult("verifier", ok, {"output_lines": len(lines)}, [] if ok else lines[-FAILURES_SHOWN * 2 :])


def reconcile_clean(database_url: str, redis_url: str) -> CheckResult:
    env = {"AUCTION_DATABASE_URL": database_url, "AUCTION_REDIS_URL": redis_url}
    code, output = _cli(["settlement", "reconcile"], env)
    problems = [line for line in output.splitlines() if line.strip() and line.strip() != "clean"]
    failures = [] if code == 0 else problems or [f"exit code {code}"]
    return result("reconcile_clean", failures, {"exit_code": -1 if code is None else code, "problems": len(failures)})


# ---- all of them ------------------------------------------------------------------------------------------------


async def run_checks(pg: asyncpg.Pool, evidence: Evidence, database_url: str, redis_url: str) -> list[CheckResult]:
    """Every check, each on its own: one that raises is reported as failed, with its exception."""
    pure: list[Callable[[Evidence], CheckResult]] = [
        acked_bids_recorded,
        one_answer_per_bid,
        rejected_bids_not_recorded,
        seqs_gap_free,
        closed_exactly_once,
        closed_on_time,
        invoiced_once,
    ]
    checks = [await _guarded(check.__name__, _now(check, evidence)) for check in pure]
    checks.append(await _guarded("reconcile_clean", asyncio.to_thread(reconcile_clean, database_url, redis_url)))
    checks.append(await _guarded("rebuild_equals_redis", _rebuild_check(pg, evidence)))
    checks.append(await _guarded("watchers_saw_every_event", _now(watchers_saw_every_event, evidence)))
    checks.append(await _guarded("verifier", asyncio.to_thread(verifier, database_url, redis_url, evidence.sale)))
    checks.append(no_process_gave_up(evidence))
    return checks


async def _now(check: Callable[[Evidence], CheckResult], evidence: Evidence) -> CheckResult:
    return check(evidence)


async def _rebuild_check(pg: asyncpg.Pool, evidence: Evidence) -> CheckResult:
    return rebuild_equals_redis(await rebuild_all(pg, evidence.terms.values()), evidence)


async def _guarded(name: str, check: Awaitable[CheckResult]) -> CheckResult:
    try:
        return await check
    except Exception as exc:
        return CheckResult(name, False, {}, [f"the check could not run: {type(exc).__name__}: {exc}"])
