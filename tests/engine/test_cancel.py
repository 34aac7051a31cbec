"""Cancelling a bidder's bids on an open lot (CancelBids -> BidsCancelled): the lot stands where everyone else's
recorded bids put it, as if that bidder had never bid. Tables for the rules, then a property against an
independent fold of the same bids."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.engine.lot import LotState, LotTerms, SoftClose, decide, evolve, exposure_of, new_lot, replay
from auction.engine.messages import (
    EVENT_DECODER,
    EVENT_ENCODER,
    AnyEvent,
    BidKind,
    BidsCancelled,
    CancelBids,
    PlaceBid,
    Rejected,
)
from auction.engine.premium import all_in
from auction.engine.record import has_live_bids, live_bids
from auction.engine.views import RevisedShown, lot_view, public_event

from ._lots import END, START, bid, close, max_bid, paddle, run, terms, withdraw

A, B, C, ABSENT = 1, 2, 3, 9


def cancel(record: list[AnyEvent], bidder: int, at_ms: int = 90_000, reason: str = "suspended") -> CancelBids:
    return CancelBids(at_ms=at_ms, bidder=bidder, reason=reason, record=tuple(record))


def position(state: LotState) -> tuple[int, int | None, int | None, int, int]:
    return state.price, state.leader, state.leader_paddle, state.leader_max, state.bid_count


def cancelled(lot: LotTerms, commands: list[PlaceBid], bidder: int) -> tuple[LotState, LotState, BidsCancelled]:
    """(state before, state after, the event) of cancelling `bidder` after `commands`."""
    before = run(lot, commands)
    decision = decide(before.state, cancel(before.events, bidder))
    assert isinstance(decision, tuple), decision
    (event,) = decision
    assert isinstance(event, BidsCancelled)
    return before.state, evolve(before.state, event), event


# A leads on a maximum of 5,000; C's plain 1,500 and B's maximum of 3,000 were both answered by A's proxy.
THREE_BIDDERS = [max_bid(A, 5000, 2000), bid(C, 1500, 3000), max_bid(B, 3000, 4000)]


def test_the_three_bidder_lot_as_built() -> None:
    state = run(terms(), THREE_BIDDERS).state
    assert position(state) == (3100, A, paddle(A), 5000, 5)


@pytest.mark.parametrize(
    ("struck", "expected", "why"),
    [
        (A, (1550, B, paddle(B), 3000, 2), "the leader: B's maximum takes the lead one increment over C's 1,500"),
        (B, (1550, A, paddle(A), 5000, 3), "an underbidder: the leader's price falls to answer C's 1,500 only"),
        (C, (3100, A, paddle(A), 5000, 3), "an underbidder whose bid no longer shapes the price"),
    ],
)
def test_cancelling_puts_the_lot_where_the_others_bids_put_it(
    struck: int, expected: tuple[int, int, int, int, int], why: str
) -> None:
    before, after, event = cancelled(terms(), THREE_BIDDERS, struck)
    assert position(after) == expected, why
    assert (event.bidder, event.reason, event.seq, event.at_ms) == (struck, "suspended", before.seq + 1, 90_000)
    assert after.status == "open" and after.end_ms == before.end_ms and after.extensions == before.extensions


def test_cancelling_the_only_bidder_leaves_nobody_leading() -> None:
    _, after, _ = cancelled(terms(), [max_bid(A, 5000, 2000)], A)
    assert position(after) == (0, None, None, 0, 0)
    assert after.next_minimum == after.terms.opening and exposure_of(after) is None
    assert isinstance(decide(after, bid(B, 100, 95_000)), tuple), "the opening price is open to all again"


def test_a_bidder_who_never_bid_is_a_no_op() -> None:
    result = run(terms(), THREE_BIDDERS)
    assert decide(result.state, cancel(result.events, ABSENT)) == Rejected("no_bids")


def test_cancelling_twice_changes_nothing_the_second_time() -> None:
    result = run(terms(), THREE_BIDDERS)
    (event,) = decide(result.state, cancel(result.events, A))  # type: ignore[misc]
    state = evolve(result.state, event)
    assert decide(state, cancel([*result.events, event], A)) == Rejected("no_bids")


@pytest.mark.parametrize(
    "record_of",
    [
        lambda events: events[:-1],  # read before the last bid
        lambda events: [*events, events[-1]],  # longer than the lot
        lambda events: [*events[:-1], msgspec.structs.replace(events[-1], amount=events[-1].amount + 1)],
        lambda events: [],
    ],
    ids=["behind", "ahead", "tampered", "empty"],
)
def test_a_record_that_is_not_the_lots_history_is_stale(record_of: object) -> None:
    result = run(terms(), THREE_BIDDERS)
    record = record_of(result.events)  # type: ignore[operator]
    assert decide(result.state, cancel(record, A)) == Rejected("stale")


def test_a_lot_that_moved_on_after_the_record_was_read_refuses_it() -> None:
    result = run(terms(), THREE_BIDDERS)
    read_then = list(result.events)
    moved = decide(result.state, bid(C, 9000, 5000))
    assert isinstance(moved, tuple)
    state = replay(result.state.terms, [*result.events, *moved])
    assert decide(state, cancel(read_then, A)) == Rejected("stale")
    assert isinstance(decide(state, cancel([*read_then, *moved], A)), tuple), "re-read, it goes through"


def test_with_a_reserve_the_lot_can_fall_back_below_it() -> None:
    """B's maximum of 1,500 is below the 2,000 reserve; A's maximum lifted the price to the reserve."""
    lot = terms(reserve=2000)
    before, after, event = cancelled(lot, [max_bid(B, 1500, 2000), max_bid(A, 5000, 3000)], A)
    assert position(before) == (2000, A, paddle(A), 5000, 3) and before.reserve_met
    assert position(after) == (100, B, paddle(B), 1500, 1) and not after.reserve_met
    shown = public_event(lot, event)
    assert shown == RevisedShown(event.seq, event.at_ms, 100, paddle(B), 1, False, lot.ladder.next_bid(100))


def test_with_a_reserve_a_maximum_that_reaches_it_still_lifts_the_price() -> None:
    lot = terms(reserve=2000)
    _, after, _ = cancelled(lot, [max_bid(B, 2500, 2000), max_bid(A, 5000, 3000)], A)
    assert position(after) == (2000, B, paddle(B), 2500, 1) and after.reserve_met


@pytest.mark.parametrize("ending", ["sold", "passed", "withdrawn"])
def test_a_closed_lot_is_refused(ending: str) -> None:
    lot = terms(reserve=10**9 if ending == "passed" else 0)
    last = withdraw(END - 1) if ending == "withdrawn" else close(END)
    result = run(lot, [*THREE_BIDDERS, last])
    assert result.state.status == ending
    assert decide(result.state, cancel(result.events, A, at_ms=END + 5)) == Rejected("lot_closed")


def test_a_lot_not_yet_open_is_refused() -> None:
    assert decide(new_lot(terms()), cancel([], A)) == Rejected("lot_not_open")


def test_the_end_is_not_shortened() -> None:
    """A's late maximum extended the lot; taking A out leaves the extension in place."""
    lot = terms(soft_close=SoftClose(window_ms=120_000, extension_ms=120_000))
    before, after, _ = cancelled(lot, [bid(B, 1000, 2000), max_bid(A, 5000, END - 1000)], A)
    assert before.end_ms == END - 1000 + 120_000 and before.extensions == 1
    assert (after.end_ms, after.extensions) == (before.end_ms, 1)
    assert position(after) == (1000, B, paddle(B), 1000, 1)


def test_bidding_goes_on_from_the_new_position() -> None:
    result = run(terms(), THREE_BIDDERS)
    (event,) = decide(result.state, cancel(result.events, A))  # type: ignore[misc]
    state = evolve(result.state, event)  # B leads at 1,550 on a maximum of 3,000
    answered = decide(state, bid(C, 2000, 95_000))
    assert isinstance(answered, tuple)
    assert [(type(e).__name__, e.amount) for e in answered] == [("BidAccepted", 2000), ("ProxyBidPlaced", 2050)]  # type: ignore[union-attr]


def test_a_struck_bidder_who_bids_again_starts_afresh() -> None:
    """Reinstated after review, A bids again: the new bid counts, the struck ones stay struck."""
    result = run(terms(), THREE_BIDDERS)
    (event,) = decide(result.state, cancel(result.events, A))  # type: ignore[misc]
    record = [*result.events, event]
    state = evolve(result.state, event)
    again = decide(state, bid(A, 1600, 95_000))
    assert isinstance(again, tuple)
    record += again
    state = replay(state.terms, record)
    assert [b.amount for b in live_bids(record) if b.bidder == A] == [1600]
    assert has_live_bids(record, A)
    (second,) = decide(state, cancel(record, A, at_ms=96_000))  # type: ignore[misc]
    assert position(evolve(state, second)) == (1550, B, paddle(B), 3000, 2)


def test_the_public_form_names_neither_the_bidder_nor_a_maximum() -> None:
    lot = terms()
    _, _, event = cancelled(lot, THREE_BIDDERS, A)
    shown = public_event(lot, event)
    fields = msgspec.json.decode(msgspec.json.encode(shown))
    assert fields == {
        "type": "revised",
        "seq": event.seq,
        "at_ms": event.at_ms,
        "price": 1550,
        "paddle": paddle(B),
        "bid_count": 2,
        "reserve_met": True,
        "next_minimum": 1600,
    }
    assert "3000" not in msgspec.json.encode(shown).decode(), "B's maximum"


def test_the_event_round_trips_through_json() -> None:
    _, _, event = cancelled(terms(), THREE_BIDDERS, A)
    assert EVENT_DECODER.decode(EVENT_ENCODER.encode(event)) == event


# ---- the property ---------------------------------------------------------------------------------------------

BIDDERS = [1, 2, 3, 4]
KINDS: list[BidKind] = ["bid", "max"]


@st.composite
def bidding(draw: st.DrawFn) -> tuple[LotTerms, list[PlaceBid]]:
    """A lot with or without a reserve, and bids around its moving price (plain bids and maximums)."""
    lot = terms(reserve=draw(st.sampled_from([0, 300, 2000, 10_000])), opening=draw(st.sampled_from([0, 100, 500])))
    commands: list[PlaceBid] = []
    at = START + 1000
    for order in range(draw(st.integers(1, 25))):
        at += draw(st.integers(1, 10_000))
        bidder = draw(st.sampled_from(BIDDERS))
        kind = draw(st.sampled_from(KINDS))
        amount = draw(st.integers(0, 6000) | st.sampled_from([100, 300, 2000, 2050, 10_000]))
        commands.append(PlaceBid(at, bidder, paddle(bidder), amount, f"p{order}", kind))
    return lot, commands


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bidding(), st.data())
def test_cancel_then_replay_equals_the_fold_without_that_bidder(
    case: tuple[LotTerms, list[PlaceBid]], data: st.DataObject
) -> None:
    lot, commands = case
    cut = data.draw(st.integers(0, len(commands)), label="cancel after")
    state, events = new_lot(lot), []  # type: ignore[var-annotated]
    standing: list[PlaceBid] = []  # the accepted bids not struck since: what the lot must stand on
    for index, command in enumerate([*commands[:cut], None, *commands[cut:]]):
        if command is None:  # the cancellation, of someone who bid or not
            who = data.draw(st.sampled_from(BIDDERS), label="struck")
            decision = decide(state, cancel(events, who, at_ms=commands[cut - 1].at_ms if cut else START + 1))
            if any(c.bidder == who for c in standing) and state.status == "open":
                assert isinstance(decision, tuple), decision
                standing = [c for c in standing if c.bidder != who]
            else:
                assert isinstance(decision, Rejected) and decision.reason in {"no_bids", "lot_not_open"}
                continue
        else:
            decision = decide(state, command)
            if isinstance(decision, Rejected):
                continue
            standing.append(command)
        for event in decision:
            state = evolve(state, event)
        events.extend(decision)
        assert replay(lot, events) == state, index
        reference = run(lot, standing).state  # independent: those bids decided from a fresh lot
        assert position(state) == position(reference), index
        if state.leader is not None:
            assert exposure_of(state) == (state.leader, all_in(state.price, lot.premium))
        assert lot_view(state).price == state.price


def test_every_accepted_bid_is_a_live_bid_until_struck() -> None:
    result = run(terms(), THREE_BIDDERS)
    assert [(b.bidder, b.amount, b.kind) for b in live_bids(result.events)] == [
        (A, 5000, "max"),
        (C, 1500, "bid"),
        (B, 3000, "max"),
    ]
