"""The verifier: a record made by the rules passes; each kind of record the rules could not make is named."""

from __future__ import annotations

from functools import reduce

import msgspec

from auction.engine.journal import AnyJournalEntry, Committed, LotCreated, StandingSet, Verdict
from auction.engine.lot import LotState, decide, evolve, new_lot
from auction.engine.messages import AnyCommand, AnyEvent, BidAccepted, CloseLot, PlaceBid, Rejected
from auction.engine.standing import BidContext, BidderStanding
from auction.engine.verify import context_from_record, verify_sale
from tests.engine._lots import END, START, terms

T = START + 10


def standing(bidder: int, limit: int = 10**12) -> BidderStanding:
    return BidderStanding(bidder, 100 + bidder, limit, None, END * 10)


def bid(bidder: int, amount: int, at: int = T, kind: str = "bid") -> PlaceBid:
    return PlaceBid(at, bidder, 100 + bidder, amount, f"c{bidder}-{amount}", kind)  # type: ignore[arg-type]


class Recorder:
    """Runs commands through the pure core the way the store does, keeping the journal and the events."""

    def __init__(self, *standings: BidderStanding) -> None:
        lot_terms = terms()
        self.lot = lot_terms.lot
        self.state: LotState = new_lot(lot_terms)
        self.journal: list[AnyJournalEntry] = [LotCreated(lot_terms), *(StandingSet(s) for s in standings)]
        self.standings = {s.bidder: s for s in standings}
        self.events: list[AnyEvent] = []

    def run(self, *commands: AnyCommand) -> None:
        verdicts = []
        for command in commands:
            context = self._context(command)
            decision = decide(self.state, command, context)
            if isinstance(decision, Rejected):
                verdicts.append(Verdict(self.lot, self.state.seq, command, context, rejected=decision))
                continue
            first = self.state.seq + 1
            self.state = reduce(evolve, decision, self.state)
            self.events.extend(decision)
            verdicts.append(Verdict(self.lot, first - 1, command, context, None, first, self.state.seq))
        self.journal.append(Committed("test", tuple(verdicts)))

    def _context(self, command: AnyCommand) -> BidContext | None:
        if not isinstance(command, PlaceBid):
            return None
        leader = self.standings.get(self.state.leader) if self.state.leader is not None else None
        if self.state.leader is None:
            return BidContext(self.standings.get(command.bidder))
        return BidContext(self.standings.get(command.bidder), 0, leader, 0)


def recorded_sale() -> Recorder:
    record = Recorder(standing(1), standing(2), standing(3))
    record.run(bid(1, 100), bid(2, 50))
    record.run(bid(2, 300, kind="max"), bid(3, 200))
    record.run(bid(1, 600, T + 1), CloseLot(END))
    return record


def problems(journal: list[AnyJournalEntry], events: list[AnyEvent]) -> list[str]:
    return [p.message for p in verify_sale(journal, {7: events}).problems]


def replace_verdict(journal: list[AnyJournalEntry], entry: int, index: int, **changes: object) -> None:
    committed = journal[entry]
    assert isinstance(committed, Committed)
    verdicts = list(committed.verdicts)
    verdicts[index] = msgspec.structs.replace(verdicts[index], **changes)
    journal[entry] = Committed(committed.writer, tuple(verdicts))


def test_a_record_the_rules_made_passes() -> None:
    record = recorded_sale()
    replay = verify_sale(record.journal, {7: record.events})
    assert replay.problems == []
    assert replay.verdicts == 6
    assert replay.lots[7] == record.state and record.state.status == "sold"


def test_an_accepted_bid_the_rules_refuse_is_named() -> None:
    record = recorded_sale()
    # The first commit's second verdict refused a too-low bid; claim it was accepted instead.
    replace_verdict(record.journal, 4, 1, rejected=None, first_seq=3, last_seq=3)
    assert any("was accepted, the rules refuse it" in p for p in problems(record.journal, record.events))


def test_a_refusal_the_rules_would_not_give_is_named() -> None:
    record = recorded_sale()
    replace_verdict(record.journal, 4, 0, rejected=Rejected("max_not_raised", 1), first_seq=0, last_seq=0)
    assert any("was refused" in p for p in problems(record.journal, record.events))


def test_events_that_differ_from_what_the_rules_make_are_named() -> None:
    record = recorded_sale()
    forged = [e if not isinstance(e, BidAccepted) else msgspec.structs.replace(e, amount=e.amount + 5)
              for e in record.events]  # fmt: skip
    assert any("the rules make" in p for p in problems(record.journal, forged))


def test_events_no_command_made_are_named() -> None:
    record = recorded_sale()
    extra = msgspec.structs.replace(record.events[-1], seq=len(record.events) + 1)
    assert any("made by no command" in p for p in problems(record.journal, [*record.events, extra]))


def test_a_gap_in_the_seqs_is_named() -> None:
    record = recorded_sale()
    assert any("without gap" in p for p in problems(record.journal, record.events[:2] + record.events[3:]))


def test_a_command_decided_against_another_version_is_named() -> None:
    record = recorded_sale()
    replace_verdict(record.journal, 5, 0, version=1)
    assert any("decided against version 1" in p for p in problems(record.journal, record.events))


def test_a_context_the_record_does_not_imply_is_named() -> None:
    """The store read a standing nobody set: a limit that the journal never recorded."""
    record = recorded_sale()
    forged = BidContext(standing(2, limit=5), 0, standing(1), 0)
    replace_verdict(record.journal, 4, 0, context=forged)
    found = problems(record.journal, record.events)
    assert any("the record implies" in p for p in found)


def test_the_context_counts_the_bidders_exposure_on_other_lots() -> None:
    from auction.engine.verify import Replay

    lot_terms = terms()
    other = msgspec.structs.replace(lot_terms, lot=8)
    replay = Replay()
    replay.lots[7] = new_lot(lot_terms)
    replay.lots[8] = msgspec.structs.replace(new_lot(other), status="open", leader=1, leader_paddle=101, price=1000)
    replay.standings[1] = standing(1)
    context = context_from_record(replay, replay.lots[7], 1)
    assert context.exposure == 1260  # 1,000 hammer plus the 26 % premium on lot 8; nothing on lot 7 itself
