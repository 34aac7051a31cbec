"""The verifier: is a sale's record a history the rules could have produced? Pure: it reads nothing itself.

Given a sale's journal (auction.engine.journal) in the order it was written and the recorded events of its
lots, it replays every command through `decide` against the state the record says the lot was in, and demands:
- each command was decided against the lot's version it names (the journal's order is the commit order);
- each command's context (a bid's bidder's and leader's standing and exposure on the other lots; opening a live
  lot, its absentee book's) and a live sale's rostrum (which lot is on the block) are what the standings and
  lots recorded before it imply: the store read nothing the record doesn't hold;
- deciding it again gives exactly the recorded answer: the same refusal, or the same events, which are the
  recorded events with the seqs it names;
- and every recorded event was made by some command: nothing was written that no decision explains.
A record that passes could have been produced by the pure core alone, fed the journal's commands in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce

from auction.engine.journal import AnyJournalEntry, Committed, LotCreated, StandingSet, Verdict
from auction.engine.lot import ON_THE_BLOCK, LotState, bidders_of, decide, evolve, exposure_of, new_lot
from auction.engine.messages import AnyEvent, OpenLot, Rejected, RevealTender
from auction.engine.standing import BidContext, BidderStanding, BookContext
from auction.engine.state import HOUSE, Rostrum
from auction.engine.tender_award import exclusions


@dataclass(frozen=True, slots=True)
class Problem:
    lot: int
    message: str

    def __str__(self) -> str:
        return f"lot {self.lot}: {self.message}"


@dataclass(slots=True)
class Replay:
    """The sale as the record has it so far."""

    lots: dict[int, LotState] = field(default_factory=dict)
    standings: dict[int, BidderStanding] = field(default_factory=dict)
    last_opened: int | None = None  # the live lot on the block last
    reveal: tuple[dict[int, BidderStanding], int] | None = None  # the standings when a tender was revealed, and when
    verdicts: int = 0
    problems: list[Problem] = field(default_factory=list)


def verify_sale(journal: Iterable[AnyJournalEntry], events: Mapping[int, Sequence[AnyEvent]]) -> Replay:
    """Replay the whole sale; `events` maps each lot to its recorded events in seq order."""
    replay = Replay()
    for lot, recorded in events.items():
        _check_sequence(replay, lot, recorded)
    for entry in journal:
        match entry:
            case LotCreated(terms=terms):
                if terms.lot not in replay.lots:
                    replay.lots[terms.lot] = new_lot(terms)
            case StandingSet(standing=standing):
                replay.standings[standing.bidder] = standing
            case Committed(verdicts=verdicts):
                for verdict in verdicts:
                    _replay_verdict(replay, verdict, events.get(verdict.lot, ()))
    _check_all_explained(replay, events)
    _check_tender_award(replay)
    return replay


def _check_sequence(replay: Replay, lot: int, recorded: Sequence[AnyEvent]) -> None:
    seqs = [event.seq for event in recorded]
    if seqs != list(range(1, len(seqs) + 1)):
        replay.problems.append(Problem(lot, f"recorded seqs are not 1..{len(seqs)} without gap: {seqs[:20]}"))


def _replay_verdict(replay: Replay, verdict: Verdict, recorded: Sequence[AnyEvent]) -> None:
    replay.verdicts += 1
    lot, problems = verdict.lot, replay.problems
    state = replay.lots.get(lot)
    if state is None:
        problems.append(Problem(lot, f"a command decided for a lot never created: {verdict.command}"))
        return
    if verdict.version != state.seq:
        problems.append(Problem(lot, f"decided against version {verdict.version}, but the lot was at {state.seq}"))
        return
    _check_context(replay, state, verdict)
    if isinstance(verdict.command, RevealTender) and replay.reveal is None:
        replay.reveal = (dict(replay.standings), verdict.command.at_ms)
    decision = decide(state, verdict.command, verdict.context, verdict.rostrum)
    if verdict.rejected is not None:
        if decision != verdict.rejected:
            problems.append(Problem(lot, f"{_name(verdict)} was refused {verdict.rejected}, the rules say {decision}"))
        return
    if isinstance(decision, Rejected):
        problems.append(Problem(lot, f"{_name(verdict)} was accepted, the rules refuse it: {decision}"))
        return
    written = tuple(recorded[verdict.first_seq - 1 : verdict.last_seq])
    if (verdict.first_seq, verdict.last_seq) != (state.seq + 1, state.seq + len(decision)) or written != decision:
        problems.append(Problem(lot, f"{_name(verdict)} recorded {written}, the rules make {decision}"))
        return
    after = reduce(evolve, decision, state)
    replay.lots[lot] = after
    if after.status in ON_THE_BLOCK and state.status not in ON_THE_BLOCK and after.terms.format == "live":
        replay.last_opened = lot


def _check_context(replay: Replay, state: LotState, verdict: Verdict) -> None:
    """The context and rostrum a command was decided with must be what the record before it implies."""
    lot, problems = verdict.lot, replay.problems
    if verdict.context is not None:
        expected = expected_context(replay, state, verdict)
        if expected != verdict.context:
            problems.append(Problem(lot, f"decided with context {verdict.context}, the record implies {expected}"))
    if verdict.rostrum is not None:
        rostrum = rostrum_from_record(replay)
        if rostrum != verdict.rostrum:
            problems.append(Problem(lot, f"decided with rostrum {verdict.rostrum}, the record implies {rostrum}"))


def expected_context(replay: Replay, state: LotState, verdict: Verdict) -> BidContext | BookContext | None:
    who = bidders_of(verdict.command, state)
    if not who:
        return None
    if isinstance(verdict.command, OpenLot):
        lot = state.terms.lot
        return BookContext({b: replay.standings.get(b) for b in who}, {b: _exposure(replay, b, lot) for b in who})
    return context_from_record(replay, state, who[0])


def rostrum_from_record(replay: Replay) -> Rostrum:
    """Which live lot is on the block (at most one), and which was on it last."""
    on_block = next(
        (lot for lot, state in replay.lots.items() if state.terms.format == "live" and state.status in ON_THE_BLOCK),
        None,
    )
    return Rostrum(on_block, replay.last_opened)


def context_from_record(replay: Replay, state: LotState, bidder: int) -> BidContext:
    """What the store must have read for a bid on `state`'s lot: the bidder's standing and their exposure on
    every other lot, and the same for the lot's leader."""
    lot = state.terms.lot
    standing = replay.standings.get(bidder)
    if state.leader in (None, HOUSE):
        return BidContext(standing, _exposure(replay, bidder, lot))
    leader = replay.standings.get(state.leader)
    return BidContext(standing, _exposure(replay, bidder, lot), leader, _exposure(replay, state.leader, lot))


def _exposure(replay: Replay, bidder: int, except_lot: int) -> int:
    total = 0
    for lot, state in replay.lots.items():
        held = exposure_of(state)
        if lot != except_lot and held is not None and held[0] == bidder:
            total += held[1]
    return total


def _check_all_explained(replay: Replay, events: Mapping[int, Sequence[AnyEvent]]) -> None:
    for lot, recorded in events.items():
        state = replay.lots.get(lot)
        explained = 0 if state is None else state.seq
        if len(recorded) > explained:
            extra = recorded[explained]
            replay.problems.append(Problem(lot, f"{len(recorded) - explained} recorded events from seq {extra.seq} "
                                                f"were made by no command in the journal: {extra}"))  # fmt: skip


def _check_tender_award(replay: Replay) -> None:
    """The buyers each revealed tender lot excluded (their limit reached on lots they put first) are those the
    award rule gives, from every lot's opened bids and the standings at the reveal."""
    if replay.reveal is None:
        return
    standings, at_ms = replay.reveal
    revealed = {
        lot: state for lot, state in replay.lots.items() if state.terms.format == "tender" and _was_revealed(state)
    }
    expected = exclusions(revealed, dict(standings), at_ms)
    for lot, state in revealed.items():
        recorded = _recorded_exclusions(state)
        if recorded is not None and recorded != expected[lot]:
            replay.problems.append(
                Problem(lot, f"the reveal excluded {recorded}, the award rule excludes {expected[lot]}")
            )


def _was_revealed(state: LotState) -> bool:
    return state.status in ("sold", "passed", "awaiting_acceptance") and bool(state.revealed or state.sealed)


def _recorded_exclusions(state: LotState) -> tuple[int, ...] | None:
    return state.excluded if state.revealed_at_ms else None


def _name(verdict: Verdict) -> str:
    return f"{type(verdict.command).__name__} at version {verdict.version}"


__all__ = ["Problem", "Replay", "context_from_record", "expected_context", "rostrum_from_record", "verify_sale"]
