"""The pure half of a commit: deciding a batch of commands against known states, and the commit's arguments.

Nothing here touches Redis or a clock. The committer gives it the commands of one sale and what it knows (lot
states, bidder records); it decides each command in order with the pure core, each against what the commands
before it left, and returns a `Plan`: one outcome per command, what to write per lot and per bidder, the
verdicts for the journal. `commit_keys` and `commit_args` turn a plan into the commit script's KEYS and ARGV
(commit.lua); the load generator's baseline calls them exactly as the store does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import reduce
from typing import Protocol

import msgspec

from auction import keys
from auction.engine.journal import JOURNAL_ENCODER, Committed, Verdict
from auction.engine.lot import ON_THE_BLOCK, LotState, bidders_of, decide, evolve, exposure_of, timers
from auction.engine.messages import (
    EVENT_ENCODER,
    AnyCommand,
    AnyEvent,
    OpenLot,
    Rejected,
    ReopenLot,
)
from auction.engine.standing import BidContext, BookContext
from auction.engine.state import HOUSE, Rostrum

from .codec import Accepted, BidderRecord, Outcome, RostrumRecord, encode_answer, encode_state


class Command(Protocol):
    """A command of the batch: for which lot, what, and its dedupe key ("<bidder>:<client id>") if any."""

    @property
    def lot(self) -> int: ...
    @property
    def command(self) -> AnyCommand: ...
    @property
    def dedupe(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Planned:
    """A command as the baseline and tests hand it to the planner."""

    lot: int
    command: AnyCommand
    dedupe: str | None = None


# Per bidder, the exposure fields to set (lot -> all-in) and to delete (lots).
Writes = dict[int, tuple[dict[int, int], list[int]]]

# How long a command's first answer is kept for a resend with the same dedupe key: the idempotency window
# (docs/PROTOCOL.md). Long enough to ride out a dropped connection, a gateway's restart or a Redis failover and
# resend; short enough that a flood of bids costs at most ten minutes of answers (about 200 bytes each).
IDEMPOTENCY_WINDOW_MS = 10 * 60_000


@dataclass(slots=True)
class Plan:
    """A batch decided against known states: one outcome (and verdict) per command, per lot what to write, and
    which bidder records the decisions read (their versions are checked) and what exposure they change; for a
    live sale, its rostrum before and after."""

    outcomes: list[Outcome] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    before: dict[int, LotState] = field(default_factory=dict)
    after: dict[int, LotState] = field(default_factory=dict)
    events: dict[int, list[AnyEvent]] = field(default_factory=dict)
    read: set[int] = field(default_factory=set)
    exposure: dict[int, dict[int, int]] = field(default_factory=dict)  # working copy: bidder -> lot -> all-in
    rostrum_before: RostrumRecord | None = None  # read (and checked) when the batch touches a live lot
    rostrum: RostrumRecord | None = None  # working copy
    dedupes: list[str] = field(default_factory=list)  # the batch's dedupe keys, in order: its answers' keys

    def exposure_writes(self) -> Writes:
        """Per bidder, the exposure fields to set and to delete: each lot's holder before the batch against
        its holder after it (who held it in between never reached Redis)."""
        writes: Writes = {}
        for lot, before in self.before.items():
            held, holds = exposure_of(before), exposure_of(self.after[lot])
            if held == holds:
                continue
            if held is not None and (holds is None or holds[0] != held[0]):
                writes.setdefault(held[0], ({}, []))[1].append(lot)
            if holds is not None:
                writes.setdefault(holds[0], ({}, []))[0][lot] = holds[1]
        return writes

    def changed_lots(self) -> list[int]:
        return [lot for lot, before in self.before.items() if self.after[lot].seq != before.seq]

    def rostrum_changed(self) -> bool:
        return self.rostrum != self.rostrum_before


def plan_batch(
    items: Sequence[Command],
    known: dict[int, LotState],
    bidders: dict[int, BidderRecord] | None = None,
    rostrum: RostrumRecord | None = None,
) -> Plan:
    """Decide every command in order, each against the state (and exposures) the previous ones left. With
    `bidders` (enforcing standings), each bid gets its context from them, and the plan notes whom it read.
    `rostrum` is the live sale's, when the batch touches a live lot (needs_rostrum)."""
    plan = Plan(
        rostrum_before=rostrum, rostrum=rostrum, dedupes=[item.dedupe for item in items if item.dedupe is not None]
    )
    for item in items:
        state = plan.after.get(item.lot) or known[item.lot]
        plan.before.setdefault(item.lot, state)
        context = _context_for(plan, bidders, item, state) if bidders is not None else None
        consulted = _rostrum_for(plan, state, item.command)
        decision = decide(state, item.command, context, consulted)
        if isinstance(decision, Rejected):
            plan.outcomes.append(decision)
            plan.verdicts.append(Verdict(item.lot, state.seq, item.command, context, decision, rostrum=consulted))
            plan.after[item.lot] = state
            continue
        after = reduce(evolve, decision, state)
        plan.after[item.lot] = after
        plan.events.setdefault(item.lot, []).extend(decision)
        plan.outcomes.append(Accepted(decision, after))
        plan.verdicts.append(
            Verdict(item.lot, state.seq, item.command, context, None, state.seq + 1, after.seq, consulted)
        )
        if bidders is not None:
            _move_exposure(plan, bidders, item.lot, state, after)
        _move_rostrum(plan, state, after)
    return plan


def needs_rostrum(items: Sequence[Command], known: dict[int, LotState]) -> bool:
    """Whether the batch touches a live lot: then the sale's rostrum is read, checked and kept up to date."""
    return any(known[item.lot].terms.format == "live" for item in items if item.lot in known)


def _rostrum_for(plan: Plan, state: LotState, command: AnyCommand) -> Rostrum | None:
    """The rostrum, for the commands of a live lot that consult it (which lot is on the block)."""
    if plan.rostrum is None or state.terms.format != "live" or not isinstance(command, OpenLot | ReopenLot):
        return None
    return Rostrum(plan.rostrum.on_block, plan.rostrum.last_opened)


def _move_rostrum(plan: Plan, before: LotState, after: LotState) -> None:
    """A live lot that came onto the block is on it, and the last; one that left it leaves it empty."""
    if plan.rostrum is None or after.terms.format != "live":
        return
    lot, record = after.terms.lot, plan.rostrum
    if after.status in ON_THE_BLOCK and before.status not in ON_THE_BLOCK:
        plan.rostrum = replace(record, on_block=lot, last_opened=lot)
    elif before.status in ON_THE_BLOCK and after.status not in ON_THE_BLOCK and record.on_block == lot:
        plan.rostrum = replace(record, on_block=None)


def bidders_needed(items: Sequence[Command], known: dict[int, LotState]) -> set[int]:
    """Whose records the bids of a batch may read: the bidders (a clerk's floor bid's, the online bid waiting for
    the clerk's, an absentee book's when its lot opens), and the leaders of the lots they bid on. A lot's leader
    later in the batch is one of these, so nobody else is ever needed."""
    wanted: set[int] = set()
    for item in items:
        state = known[item.lot]
        bidders = bidders_of(item.command, state)
        wanted.update(bidders)
        if bidders and state.leader not in (None, HOUSE):
            wanted.add(state.leader)
    return wanted


def _working_exposure(plan: Plan, bidders: dict[int, BidderRecord], bidder: int) -> dict[int, int]:
    if bidder not in plan.exposure:
        plan.exposure[bidder] = dict(bidders[bidder].exposure)
    return plan.exposure[bidder]


def _context_for(
    plan: Plan, bidders: dict[int, BidderRecord], item: Command, state: LotState
) -> BidContext | BookContext | None:
    """The facts a command is decided on besides the lot; every record read here is checked at commit."""
    who = bidders_of(item.command, state)
    if isinstance(item.command, OpenLot):
        return _book(plan, bidders, item.lot, who) if who else None
    return _context(plan, bidders, item.lot, state, who[0]) if who else None


def _book(plan: Plan, bidders: dict[int, BidderRecord], lot: int, book: list[int]) -> BookContext:
    standings, exposures = {}, {}
    for bidder in book:
        plan.read.add(bidder)
        standings[bidder] = bidders[bidder].standing
        exposures[bidder] = sum(
            owed for other, owed in _working_exposure(plan, bidders, bidder).items() if other != lot
        )
    return BookContext(standings, exposures)


def _context(plan: Plan, bidders: dict[int, BidderRecord], lot: int, state: LotState, bidder: int) -> BidContext:
    plan.read.add(bidder)
    mine = _working_exposure(plan, bidders, bidder)
    exposure = sum(owed for other, owed in mine.items() if other != lot)
    if state.leader in (None, HOUSE):
        return BidContext(bidders[bidder].standing, exposure)
    plan.read.add(state.leader)
    theirs = _working_exposure(plan, bidders, state.leader)
    leader_exposure = sum(owed for other, owed in theirs.items() if other != lot)
    return BidContext(bidders[bidder].standing, exposure, bidders[state.leader].standing, leader_exposure)


def _move_exposure(plan: Plan, bidders: dict[int, BidderRecord], lot: int, before: LotState, after: LotState) -> None:
    """Keep the batch's working exposures in step with the lot, so the next bid in the batch sees them."""
    held, holds = exposure_of(before), exposure_of(after)
    if held is not None and held[0] in bidders:
        _working_exposure(plan, bidders, held[0]).pop(lot, None)
    if holds is not None and holds[0] in bidders:
        _working_exposure(plan, bidders, holds[0])[lot] = holds[1]


def touched_bidders(plan: Plan, writes: Writes) -> list[int]:
    return sorted(plan.read | writes.keys())


# ---- the commit script's arguments ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chain:
    """Who commits and on what it was decided: the store's id, this commit's token, the token of the commit
    still in flight that it was decided on ('' for none), and the sale's fencing token ('' to write without
    holding the sale: the optimistic mode)."""

    store: str = ""
    token: str = ""
    previous: str = ""
    fence: str = ""


def commit_keys(sale: int, plan: Plan, writes: Writes | None = None) -> list[str]:
    writes = plan.exposure_writes() if writes is None else writes
    lot_keys = [key for lot in plan.before for key in (keys.lot_state(sale, lot), keys.lot_events(sale, lot))]
    bidder_keys = [keys.bidder(sale, bidder) for bidder in touched_bidders(plan, writes)]
    answer_keys = [keys.answer(sale, dedupe) for dedupe in plan.dedupes]
    fixed = [
        keys.sale_retired(sale), keys.sale_events(sale), keys.sale_opens(sale), keys.sale_closes(sale),
        keys.sale_commits(sale), keys.sale_journal(sale), keys.sale_fence(sale), keys.sale_rostrum(sale),
    ]  # fmt: skip
    return [*fixed, *lot_keys, *bidder_keys, *answer_keys]


def commit_args(
    items: Sequence[Command],
    plan: Plan,
    writes: Writes | None = None,
    bidders: dict[int, BidderRecord] | None = None,
    chain: Chain = Chain(),
    journal: bytes | None = None,
    answer_ttl_ms: int = IDEMPOTENCY_WINDOW_MS,
) -> list[bytes]:
    """The script's ARGV: its arguments packed into one msgpack array (see commit.lua). `journal` is the
    commit's journal entry when the caller has already encoded it (journal_entry); each answer is kept for
    `answer_ttl_ms`."""
    journal = journal_entry(chain.store, plan) if journal is None else journal
    head: list[str | bytes | int] = [chain.store, chain.token, chain.previous, chain.fence, journal, answer_ttl_ms]
    return [pack_args([*head, *_body_args(items, plan, writes, bidders)])]


def journal_entry(store: str, plan: Plan) -> bytes:
    """The commit's entry in the sale's journal: every command's verdict, in the order decided."""
    return JOURNAL_ENCODER.encode(Committed(store, tuple(plan.verdicts)))


_ARGS_ENCODER = msgspec.msgpack.Encoder()


def pack_args(args: list[str | bytes | int]) -> bytes:
    """A msgpack array of strings, as the script's `nextarg` reads them: numbers as their decimal text (the
    script compares them with what HGET returns), bytes as msgpack str, not bin, which Redis's cmsgpack can't
    read (a Lua string holds any bytes)."""
    return _ARGS_ENCODER.encode(
        [str(arg) if type(arg) is int else _lua_string(arg) if type(arg) is bytes else arg for arg in args]
    )


def _lua_string(data: bytes) -> msgspec.Raw:
    size = len(data)
    if size < 32:
        head = bytes((0xA0 | size,))
    elif size < 1 << 8:
        head = bytes((0xD9, size))
    elif size < 1 << 16:
        head = b"\xda" + size.to_bytes(2, "big")
    else:
        head = b"\xdb" + size.to_bytes(4, "big")
    return msgspec.Raw(head + data)


def _body_args(
    items: Sequence[Command], plan: Plan, writes: Writes | None, bidders: dict[int, BidderRecord] | None
) -> list[str | bytes | int]:
    writes = plan.exposure_writes() if writes is None else writes
    dedupe_keys = [item.dedupe for item in items if item.dedupe is not None]
    args: list[str | bytes | int] = [len(dedupe_keys), *dedupe_keys, len(plan.before)]
    for lot, before in plan.before.items():
        args += _lot_args(lot, before, plan.after[lot], plan.events.get(lot, []))
    touched = touched_bidders(plan, writes)
    args.append(len(touched))
    for bidder in touched:
        read = bidders is not None and bidder in plan.read
        args += [bidder, bidders[bidder].version if bidders is not None and read else ""]
        set_fields, del_fields = writes.get(bidder, ({}, []))
        args.append(len(set_fields))
        for lot, owed in set_fields.items():
            args += [keys.exposure_field(lot), owed]
        args += [len(del_fields), *(keys.exposure_field(lot) for lot in del_fields)]
    args += _rostrum_args(plan)
    outcomes = zip(items, plan.outcomes, strict=True)
    answers = [encode_answer(o, item.lot) for item, o in outcomes if item.dedupe is not None]
    return [*args, len(answers), *answers]  # in the order of the dedupe keys, as their keys are


def _rostrum_args(plan: Plan) -> list[str | bytes | int]:
    """'' when the batch touches no live lot; else the version read, and the rostrum to write if it moved."""
    before, after = plan.rostrum_before, plan.rostrum
    if before is None or after is None:
        return [""]
    if not plan.rostrum_changed():
        return [before.version, 0]
    return [before.version, 1, _lot_or_empty(after.on_block), _lot_or_empty(after.last_opened)]


def _lot_or_empty(lot: int | None) -> str | int:
    return "" if lot is None else lot


def _lot_args(lot: int, before: LotState, after: LotState, events: list[AnyEvent]) -> list[str | bytes | int]:
    if after.seq == before.seq:
        return [lot, before.seq, 0]
    args: list[str | bytes | int] = [lot, before.seq, 1, after.seq, encode_state(after)]
    args += [_open_score(after), _close_score(after), len(events)]
    for event in events:
        args += [event.seq, EVENT_ENCODER.encode(event)]
    return args


def _open_score(state: LotState) -> str | int:
    """When the scheduler must open the lot; "" takes it out of the opens set (a live lot: the rostrum opens it)."""
    opens, _closes = timers(state)
    return "" if opens is None else opens


def _close_score(state: LotState) -> str | int:
    """When the scheduler must close the lot; "" takes it out of the closes set."""
    _opens, closes = timers(state)
    return "" if closes is None else closes


__all__ = [
    "IDEMPOTENCY_WINDOW_MS",
    "Chain",
    "Command",
    "Plan",
    "Planned",
    "Writes",
    "bidders_needed",
    "commit_args",
    "commit_keys",
    "journal_entry",
    "needs_rostrum",
    "pack_args",
    "plan_batch",
    "touched_bidders",
]
