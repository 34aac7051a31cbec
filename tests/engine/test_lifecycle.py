"""The lifecycle transition table: what decide emits for timed lots is exactly what the table allows; final
statuses accept nothing (bar a live reopen) and can't be withdrawn; an illegal event raises IllegalTransition."""

from __future__ import annotations

import typing

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.engine import lifecycle
from auction.engine.lifecycle import FINAL, IllegalTransition, after, allows, next_status
from auction.engine.lot import SequenceGap, SoftClose, decide, evolve, new_lot
from auction.engine.messages import AnyCommand, AnyEvent, BidAccepted, CancelBids, LotOpened, Rejected

from ._lots import END, START, bid, close, max_bid, open_lot, run, terms, withdraw

FORMATS: list[lifecycle.Format] = list(typing.get_args(lifecycle.Format))
STATUSES: list[lifecycle.Status] = list(typing.get_args(lifecycle.Status))
EVENT_NAMES = sorted(
    {t.__name__ for t in typing.get_args(AnyEvent)}
    | {
        "FairWarningCalled",
        "IncrementChanged",
        "LotReopened",
        "LotPaused",
        "LotResumed",
        "ViewingOpened",
        "TenderBidSubmitted",
        "AcceptanceOffered",
    }
)

# What decide may emit for a timed lot: (status before, event) -> status after.
TIMED_TRANSITIONS: dict[tuple[lifecycle.Status, str], lifecycle.Status] = {
    ("scheduled", "LotOpened"): "open",
    ("scheduled", "LotPassed"): "passed",
    ("scheduled", "LotWithdrawn"): "withdrawn",
    ("open", "BidAccepted"): "open",
    ("open", "ProxyBidPlaced"): "open",
    ("open", "MaxBidRaised"): "open",
    ("open", "LotExtended"): "open",
    ("open", "BidsCancelled"): "open",
    ("open", "LotSold"): "sold",
    ("open", "LotPassed"): "passed",
    ("open", "LotWithdrawn"): "withdrawn",
}


@pytest.mark.parametrize(("transition", "target"), TIMED_TRANSITIONS.items(), ids=lambda x: str(x))
def test_timed_table_allows_what_decide_emits(transition: tuple[lifecycle.Status, str], target: str) -> None:
    status, event = transition
    assert allows("timed", status, event)
    assert next_status("timed", status, event) == target


def _emitted(commands: list[AnyCommand], soft_close: SoftClose | None = None) -> set[tuple[str, str]]:
    """(status before, event name) for every event decide emitted over these commands. A CancelBids is given the
    record so far."""
    lot = terms(end_ms=600_000, reserve=1500, soft_close=soft_close or SoftClose())
    state = new_lot(lot)
    pairs: set[tuple[str, str]] = set()
    record: list[AnyEvent] = []
    for command in commands:
        if isinstance(command, CancelBids):
            command = msgspec.structs.replace(command, record=tuple(record))
        decision = decide(state, command)
        if isinstance(decision, Rejected):
            continue
        for event in decision:
            pairs.add((state.status, type(event).__name__))
            state = evolve(state, event)
        record.extend(decision)
    return pairs


def cancel(at_ms: int, bidder: int) -> CancelBids:
    return CancelBids(at_ms=at_ms, bidder=bidder, reason="suspended", record=())


SCENARIOS: list[list[AnyCommand]] = [
    [max_bid(1, 1000, 2000), bid(2, 500, 3000), max_bid(1, 2000, 590_000), max_bid(2, 3000, 600_000), close(800_000)],
    [open_lot(START), close(600_000)],
    [close(600_000)],
    [withdraw(0)],
    [bid(1, 100, 2000), withdraw(3000)],
    [bid(1, 100, 2000), close(600_000)],
    [bid(1, 100, 2000), bid(2, 200, 3000), cancel(4000, 2), cancel(5000, 9), close(600_000), cancel(700_000, 1)],
]


def test_decide_emits_every_timed_transition_and_no_other() -> None:
    emitted: set[tuple[str, str]] = set()
    for commands in SCENARIOS:
        emitted |= _emitted(commands)
    assert emitted == set(TIMED_TRANSITIONS)


COMMANDS = st.one_of(
    st.builds(
        lambda b, amount, at, kind: bid(b, amount, at, kind),
        st.sampled_from([1, 2, 3]),
        st.integers(0, 3000),
        st.integers(0, 800_000),
        st.sampled_from(["bid", "max"]),
    ),
    st.builds(close, st.integers(0, 800_000)),
    st.builds(open_lot, st.integers(0, 800_000)),
    st.builds(withdraw, st.integers(0, 800_000)),
    st.builds(cancel, st.integers(0, 800_000), st.sampled_from([1, 2, 3])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(COMMANDS, max_size=25))
def test_random_commands_emit_only_table_transitions(commands: list[AnyCommand]) -> None:
    commands = sorted(commands, key=lambda c: c.at_ms)
    assert _emitted(commands) <= set(TIMED_TRANSITIONS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("status", sorted(FINAL))
@pytest.mark.parametrize("event", EVENT_NAMES)
def test_final_statuses_accept_nothing(fmt: lifecycle.Format, status: lifecycle.Status, event: str) -> None:
    if fmt == "live" and status in {"sold", "passed"} and event == "LotReopened":
        assert after(fmt, status, event) == "open"  # DOMAIN.md: a live lot may be reopened before the next one
        return
    if fmt == "live" and status in {"sold", "passed"} and event == "LateBidNoted":
        assert after(fmt, status, event) == status  # a bid just too late for the hammer is noted, nothing more
        return
    assert not allows(fmt, status, event)
    with pytest.raises(IllegalTransition):
        next_status(fmt, status, event)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("status", sorted(FINAL))
def test_final_statuses_are_not_withdrawable(fmt: lifecycle.Format, status: lifecycle.Status) -> None:
    assert after(fmt, status, "LotWithdrawn") is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("status", [s for s in STATUSES if s not in FINAL])
def test_every_other_status_is_withdrawable(fmt: lifecycle.Format, status: lifecycle.Status) -> None:
    assert next_status(fmt, status, "LotWithdrawn") == "withdrawn"


@pytest.mark.parametrize(
    ("fmt", "status", "event"),
    [
        ("timed", "scheduled", "BidAccepted"),
        ("timed", "scheduled", "ProxyBidPlaced"),
        ("timed", "scheduled", "MaxBidRaised"),
        ("timed", "scheduled", "LotExtended"),
        ("timed", "scheduled", "LotSold"),
        ("timed", "open", "LotOpened"),
        ("timed", "open", "FairWarningCalled"),
        ("timed", "open", "LotReopened"),
        ("timed", "sold", "LotReopened"),
        ("timed", "sold", "BidAccepted"),
        ("timed", "passed", "LotOpened"),
        ("timed", "withdrawn", "LotWithdrawn"),
        ("timed", "viewing", "LotOpened"),
        ("live", "paused", "BidAccepted"),
        ("live", "withdrawn", "LotReopened"),
        ("live", "scheduled", "LotSold"),
        ("tender", "scheduled", "LotOpened"),
        ("tender", "open", "BidAccepted"),
        ("tender", "open", "LotExtended"),
        ("tender", "sold", "LotReopened"),
    ],
)
def test_illegal_transition_raises(fmt: lifecycle.Format, status: lifecycle.Status, event: str) -> None:
    assert not allows(fmt, status, event)
    with pytest.raises(IllegalTransition):
        next_status(fmt, status, event)


@pytest.mark.parametrize(
    ("fmt", "status", "event", "target"),
    [
        ("live", "scheduled", "LotOpened", "open"),
        ("live", "open", "FairWarningCalled", "fair_warning"),
        ("live", "fair_warning", "BidAccepted", "open"),
        ("live", "fair_warning", "LotSold", "sold"),
        ("live", "sold", "LotReopened", "open"),
        ("live", "open", "LotPaused", "paused"),
        ("live", "paused", "LotResumed", "open"),
        ("live", "open", "IncrementChanged", "open"),
        ("tender", "scheduled", "ViewingOpened", "viewing"),
        ("tender", "viewing", "LotOpened", "open"),
        ("tender", "open", "TenderBidSubmitted", "open"),
        ("tender", "open", "BidsClosed", "awaiting_reveal"),
        ("tender", "awaiting_reveal", "TenderRevealed", "awaiting_reveal"),
        ("tender", "awaiting_reveal", "LotSold", "sold"),
        ("tender", "awaiting_reveal", "AcceptanceOffered", "awaiting_acceptance"),
        ("tender", "awaiting_acceptance", "LotSold", "sold"),
        ("tender", "awaiting_acceptance", "LotPassed", "passed"),
    ],
)
def test_live_and_tender_rows(fmt: lifecycle.Format, status: lifecycle.Status, event: str, target: str) -> None:
    assert next_status(fmt, status, event) == target


def test_evolve_refuses_an_illegal_event() -> None:
    state = new_lot(terms())
    with pytest.raises(IllegalTransition):
        evolve(
            state,
            BidAccepted(
                seq=1, at_ms=START, bidder=1, paddle=101, amount=100, max_amount=100, client_id="c", kind="bid"
            ),
        )


def test_evolve_refuses_a_sequence_gap() -> None:
    state = new_lot(terms())
    with pytest.raises(SequenceGap):
        evolve(state, LotOpened(seq=2, at_ms=START))
    opened = evolve(state, LotOpened(seq=1, at_ms=START))
    with pytest.raises(SequenceGap):
        evolve(opened, LotOpened(seq=1, at_ms=START))


def test_closed_lot_stays_closed() -> None:
    result = run(terms(), [bid(1, 100, 2000), close(END)])
    assert result.state.status == "sold"
    commands: list[AnyCommand] = [
        bid(2, 10_000, END + 1),
        max_bid(2, 10_000, 3000),
        close(END + 1),
        open_lot(START),
        withdraw(END),
    ]
    for command in commands:
        outcome = decide(result.state, command)
        assert isinstance(outcome, Rejected)
        assert outcome.reason in {"lot_closed", "lot_not_open"}
