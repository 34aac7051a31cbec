"""Properties of the bidding core under random sequences of bids and maximums from a few bidders.

A reference model kept in the test tracks each bidder's maximum from the commands the engine accepted (a plain
bid counts as a maximum equal to its amount; raising one's own maximum gives it a new timestamp) and checks the
engine's leader and price against DOMAIN.md "Maximum (proxy) bids" after every command."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction.engine.ladder import DIAMOND_LADDER_USD, EBAY_LADDER_USD, Ladder
from auction.engine.lot import LotState, LotTerms, SoftClose, decide, evolve, new_lot, replay
from auction.engine.messages import (
    EVENT_DECODER,
    EVENT_ENCODER,
    AnyCommand,
    AnyEvent,
    BidAccepted,
    BidKind,
    CloseLot,
    OpenLot,
    PlaceBid,
    ProxyBidPlaced,
    Rejected,
    WithdrawLot,
)

from ._lots import paddle, terms

BIDDERS = [1, 2, 3, 4]
KINDS: list[BidKind] = ["bid", "max"]
START, END = 10_000, 1_000_000

PROPERTY_SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@st.composite
def lot_terms(draw: st.DrawFn) -> LotTerms:
    ladder: Ladder = draw(st.sampled_from([EBAY_LADDER_USD, DIAMOND_LADDER_USD]))
    unit = ladder.bands[0].increment
    opening = draw(st.integers(0, 40)) * unit
    reserve = draw(st.one_of(st.just(0), st.integers(0, 120).map(lambda k: k * unit), st.integers(0, 200 * unit)))
    cap = draw(st.one_of(st.none(), st.integers(0, 300_000)))
    window = draw(st.sampled_from([0, 60_000, 120_000, 300_000]))
    extension = draw(st.sampled_from([0, 60_000, 120_000, 180_000]))
    return terms(
        ladder=ladder,
        opening=opening,
        reserve=reserve,
        start_ms=START,
        end_ms=END,
        soft_close=SoftClose(window_ms=window, extension_ms=extension, cap_ms=cap),
    )


def _amount(data: st.DataObject, state: LotState) -> int:
    """An amount worth trying now: around the next minimum, the leader's maximum, the reserve, or anything."""
    ladder = state.terms.ladder
    small = st.integers(-3, 3) | st.integers(-ladder.increment_at(state.price), 3 * ladder.increment_at(state.price))
    base = data.draw(
        st.sampled_from(
            [
                state.next_minimum,
                state.leader_max,
                ladder.next_bid(state.leader_max),
                state.terms.reserve,
                state.price,
                state.terms.opening,
            ]
        )
    )
    choice = data.draw(st.integers(0, 9))
    if choice == 0:
        return data.draw(st.integers(-(10**6), 10**9))
    if choice == 1:
        return base
    return max(0, base + data.draw(small))


@dataclass
class Model:
    """Each bidder's maximum, by the order it was set; only from commands the engine accepted."""

    maxima: dict[int, tuple[int, int]] = field(default_factory=dict)  # bidder -> (maximum, order set)

    def accept(self, command: PlaceBid, order: int) -> None:
        self.maxima[command.bidder] = (command.amount, order)

    def ranking(self) -> list[tuple[int, int]]:
        """(maximum, bidder), highest maximum first, earliest first on equal maximums."""
        ranked = sorted(self.maxima.items(), key=lambda item: (-item[1][0], item[1][1]))
        return [(maximum, bidder) for bidder, (maximum, _) in ranked]


def _check_invariants(state: LotState, before: LotState, command: PlaceBid, model: Model) -> None:
    terms_ = state.terms
    # (b) the price never falls; the end never comes earlier; the cap holds.
    assert state.price >= before.price
    assert state.end_ms >= before.end_ms
    if terms_.soft_close.cap_ms is not None:
        assert state.end_ms <= max(terms_.end_ms, terms_.end_ms + terms_.soft_close.cap_ms)
    if state.leader is None:
        assert state.price == 0
        assert not model.maxima
        return
    assert state.leader_paddle == paddle(state.leader)
    ranking = model.ranking()
    # (c) the leader is the bidder with the highest maximum so far, the earliest on equal maximums.
    assert state.leader == ranking[0][1], (ranking, state)
    assert state.leader_max == ranking[0][0]
    # (a) the price never exceeds the leader's maximum.
    assert state.price <= state.leader_max
    # The price reaches the opening price.
    assert state.price >= terms_.opening
    # The next minimum is above the price.
    assert state.next_minimum > state.price
    runner_up_max = ranking[1][0] if len(ranking) > 1 else None
    if runner_up_max is not None:
        # (f) the price is at least every other bidder's maximum ...
        assert state.price >= runner_up_max
    if state.price != before.price:
        # ... and when it moves, it moves to a value the rules give: the leader's maximum, one increment over
        # the runner-up's maximum, the reserve, the opening price or the amount of the plain bid just made.
        candidates = {state.leader_max, terms_.reserve, terms_.opening}
        if runner_up_max is not None:
            candidates.add(min(state.leader_max, terms_.ladder.next_bid(runner_up_max)))
        if command.kind == "bid":
            candidates.add(command.amount)
        assert state.price in candidates, (state.price, candidates, ranking)
        if command.bidder == before.leader:
            # The leader raising their own maximum moves the price only to the reserve.
            assert state.price == terms_.reserve
    # A maximum at or above the reserve means the reserve is met.
    if state.leader_max >= terms_.reserve:
        assert state.reserve_met


@PROPERTY_SETTINGS
@given(lot_terms(), st.data())
def test_random_bidding_keeps_the_rules(lot: LotTerms, data: st.DataObject) -> None:
    state = new_lot(lot)
    model = Model()
    events: list[AnyEvent] = []
    at = data.draw(st.integers(START - 5_000, START + 5_000), label="first at")
    steps = data.draw(st.integers(1, 30), label="steps")
    for order in range(steps):
        at += data.draw(st.integers(0, 80_000), label="dt")
        bidder = data.draw(st.sampled_from(BIDDERS), label="bidder")
        kind: BidKind = data.draw(st.sampled_from(KINDS), label="kind")
        amount = _amount(data, state)
        command = PlaceBid(
            at_ms=at, bidder=bidder, paddle=paddle(bidder), amount=amount, client_id=f"{order}", kind=kind
        )
        # (g) on the way, garbage against this very state must be refused or decided, never raise.
        garbage = data.draw(any_command(), label="garbage")
        assert isinstance(decide(state, garbage), Rejected | tuple)
        before = state
        decision = decide(state, command)
        if isinstance(decision, Rejected):
            assert decision.reason in {"too_low", "lot_not_open", "too_late", "already_leading", "max_not_raised"}
            if decision.reason == "too_low":
                assert decision.next_amount == state.next_minimum > amount
            continue
        # A command that is not refused must be a valid bid.
        assert state.terms.start_ms <= at < state.end_ms
        assert bidder == state.leader or amount >= state.next_minimum
        for event in decision:
            assert event.seq == state.seq + 1  # (e)
            state = evolve(state, event)
        events.extend(decision)
        model.accept(command, order)
        _check_invariants(state, before, command, model)

    # A close at (or after) the end settles the lot.
    close_at = max(at, state.end_ms) + data.draw(st.integers(0, 10), label="close delay")
    decision = decide(state, CloseLot(at_ms=close_at))
    assert not isinstance(decision, Rejected)
    (closing,) = decision
    state = evolve(state, closing)
    events.append(closing)
    if model.maxima and state.price >= lot.reserve:
        assert state.status == "sold"
        assert closing.hammer == state.price and closing.bidder == model.ranking()[0][1]  # type: ignore[union-attr]
    else:
        assert state.status == "passed"

    # (e) one gap-free sequence; (d) the record replays to exactly the state obtained while deciding,
    # and survives its JSON encoding.
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert replay(lot, events) == state
    assert replay(lot, [EVENT_DECODER.decode(EVENT_ENCODER.encode(e)) for e in events]) == state
    # A bid is never shown above the maximum behind it.
    assert all(e.amount <= e.max_amount for e in events if isinstance(e, BidAccepted | ProxyBidPlaced))


# --------------------------------------------------------------------------------------------------------------
# (g) decide never raises: any command, in any state reachable by any commands, garbage included.

GARBAGE_INTS = st.one_of(
    st.integers(-(10**20), 10**20),
    st.sampled_from([0, -1, 1, -(2**63), 2**63 - 1, 2**64, 10**30, -(10**30)]),
    st.integers(0, 5_000),
)
TIMES = st.one_of(st.integers(-(10**15), 10**15), st.integers(0, 2 * END), st.sampled_from([0, START, END, END - 1]))


def any_command() -> st.SearchStrategy[AnyCommand]:
    place = st.builds(
        PlaceBid,
        at_ms=TIMES,
        bidder=st.sampled_from([*BIDDERS, 0, -1]),
        paddle=st.integers(-5, 500),
        amount=GARBAGE_INTS,
        client_id=st.text(max_size=5),
        kind=st.sampled_from(KINDS),
    )
    return st.one_of(
        place,
        place,
        place,
        st.builds(CloseLot, at_ms=TIMES),
        st.builds(OpenLot, at_ms=TIMES),
        st.builds(WithdrawLot, at_ms=TIMES, reason=st.text(max_size=5)),
    )


@PROPERTY_SETTINGS
@given(lot_terms(), st.lists(any_command(), max_size=40))
def test_decide_never_raises(lot: LotTerms, commands: list[AnyCommand]) -> None:
    state = new_lot(lot)
    events: list[AnyEvent] = []
    for command in commands:
        decision = decide(state, command)  # must not raise
        assert isinstance(decision, Rejected | tuple)
        if isinstance(decision, Rejected):
            continue
        assert decision
        for event in decision:
            state = evolve(state, event)
        events.extend(decision)
        assert state.price <= state.leader_max or state.leader is None
    assert replay(lot, events) == state
