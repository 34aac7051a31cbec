"""A bid held to the buyer's standing and limit (issue 4): every refusal, the limit, and the leader's proxy that
stops at the leader's limit. Properties: under any sequence of bids across several lots, no buyer's exposure
passes their limit; and with generous limits the rules are exactly the unlimited ones."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction.engine.ladder import EBAY_LADDER_USD
from auction.engine.lot import LotState, LotTerms, decide, evolve, exposure_of, new_lot
from auction.engine.messages import BidKind, PlaceBid, Rejected
from auction.engine.premium import CHRISTIES_2023_USD, affordable, all_in, flat
from auction.engine.standing import BidContext, BidderStanding, Refusal

from ._lots import END, START, Summary, bid, close, max_bid, paddle, summary, terms
from .test_properties import PROPERTY_SETTINGS

T = START + 1
CONSIGNOR = 999  # the consignor of the lots that _lots.terms builds
PREMIUM = CHRISTIES_2023_USD  # the default: 26 % at these prices, so all_in(1000) == 1260


def standing(
    bidder: int,
    limit: int = 10**12,
    *,
    refusal: Refusal | None = None,
    until: int = END * 10,
    consignors: tuple[int, ...] = (),
) -> BidderStanding:
    return BidderStanding(bidder, paddle(bidder), limit, refusal, until, consignors)


@dataclass
class Sale:
    """One lot decided the way the store decides it: each bid with the context of the bidder and the leader.
    `elsewhere` is each buyer's exposure on the sale's other lots."""

    lot: LotTerms
    standings: dict[int, BidderStanding]
    elsewhere: dict[int, int] = field(default_factory=dict)

    def context(self, state: LotState, bidder: int) -> BidContext:
        leader = state.leader
        return BidContext(
            self.standings.get(bidder),
            self.elsewhere.get(bidder, 0),
            None if leader is None else self.standings.get(leader),
            0 if leader is None else self.elsewhere.get(leader, 0),
        )

    def run(self, *commands: PlaceBid) -> tuple[LotState, list[tuple[Summary, ...] | Rejected]]:
        state, outcomes = new_lot(self.lot), list[tuple[Summary, ...] | Rejected]()
        for command in commands:
            decision = decide(state, command, self.context(state, command.bidder))
            if isinstance(decision, Rejected):
                outcomes.append(decision)
                continue
            for event in decision:
                state = evolve(state, event)
            outcomes.append(tuple(summary(e) for e in decision if summary(e) != ("opened",)))
        return state, outcomes


# ---- who may bid ---------------------------------------------------------------------------------------------

REFUSALS: list[tuple[str, BidderStanding | None, str | None]] = [
    ("no standing: not registered", None, "not_registered"),
    *((f"identity says {r}", standing(1, refusal=r), r) for r in Refusal.__args__),  # type: ignore[attr-defined]
    ("approval lapses at the bid's time", standing(1, until=T), "approval_expired"),
    ("approval lapses just after it", standing(1, until=T + 1), None),
    ("the buyer's company consigned the lot", standing(1, consignors=(5, CONSIGNOR)), "own_lot"),
    ("linked to another consignor", standing(1, consignors=(5,)), None),
    ("eligible", standing(1), None),
]


@pytest.mark.parametrize(("case", "who", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
@pytest.mark.parametrize("kind", ["bid", "max"])
def test_who_may_bid(case: str, who: BidderStanding | None, reason: str | None, kind: BidKind) -> None:
    decision = decide(new_lot(terms()), bid(1, 100, T, kind), BidContext(who))
    if reason is None:
        assert not isinstance(decision, Rejected), case
    else:
        assert decision == Rejected(reason), case  # type: ignore[arg-type]


def test_the_standing_is_checked_before_the_lot() -> None:
    closed = new_lot(terms())
    for event in decide(closed, close(END)):  # type: ignore[union-attr]
        closed = evolve(closed, event)
    assert decide(closed, bid(1, 100, END + 1), BidContext(standing(1, refusal="suspended"))) == Rejected("suspended")
    assert decide(closed, bid(1, 100, END + 1), BidContext(standing(1))) == Rejected("lot_closed")


def test_a_refused_bid_opens_nothing() -> None:
    assert decide(new_lot(terms()), bid(1, 100, T), BidContext(None)) == Rejected("not_registered")


# ---- the limit -------------------------------------------------------------------------------------------------


def test_all_in_at_these_prices_is_price_plus_26_percent() -> None:
    assert [all_in(a, PREMIUM) for a in (100, 1000, 1500, 2000)] == [126, 1260, 1890, 2520]
    assert affordable(2520, PREMIUM) == 2000 and affordable(2519, PREMIUM) == 1999


@dataclass(frozen=True)
class LimitCase:
    name: str
    limits: dict[int, int]
    commands: list[PlaceBid]
    outcomes: list[tuple[Summary, ...] | Rejected]
    leader: int | None
    price: int
    elsewhere: dict[int, int] = field(default_factory=dict)
    reserve: int = 0


NEXT_AFTER_2000 = EBAY_LADDER_USD.next_bid(2000)  # 2050: eBay steps 50 cents from $5 to $25
LIMIT_CASES = [
    LimitCase(
        "a maximum counts at its price, not at its maximum",
        {1: all_in(100, PREMIUM)},
        [max_bid(1, 100_000, T)],
        [(("bid", 1, 100, 100_000),)],
        leader=1,
        price=100,
    ),
    LimitCase(
        "a plain bid exactly at the limit is accepted",
        {1: all_in(1000, PREMIUM)},
        [bid(1, 1000, T)],
        [(("bid", 1, 1000, 1000),)],
        leader=1,
        price=1000,
    ),
    LimitCase(
        "a plain bid that would pass the limit is refused, with the amount the lot would take",
        {1: all_in(1000, PREMIUM) - 1},
        [bid(1, 1000, T)],
        [Rejected("over_limit", 100)],
        leader=None,
        price=0,
    ),
    LimitCase(
        "a maximum whose limit doesn't reach the next minimum is refused",
        {1: all_in(100, PREMIUM) - 1},
        [max_bid(1, 10_000, T)],
        [Rejected("over_limit", 100)],
        leader=None,
        price=0,
    ),
    LimitCase(
        "exposure on other lots uses up the limit",
        {1: 2520},
        [bid(1, 1050, T), bid(1, 1000, T + 1)],
        [Rejected("over_limit", 100), (("bid", 1, 1000, 1000),)],
        leader=1,
        price=1000,
        elsewhere={1: 1260},
    ),
    LimitCase(
        "a buyer already over a lowered limit can't bid at all",
        {1: 1000},
        [bid(1, 100, T), max_bid(1, 100, T + 1)],
        [Rejected("over_limit", 100), Rejected("over_limit", 100)],
        leader=None,
        price=0,
        elsewhere={1: 1200},
    ),
    LimitCase(
        "a bid the leader's proxy answers is still held to the bidder's limit (no free price pushing)",
        {1: 10**9, 2: all_in(1000, PREMIUM)},
        [max_bid(1, 5000, T), bid(2, 1050, T + 1)],
        [(("bid", 1, 100, 5000),), Rejected("over_limit", EBAY_LADDER_USD.next_bid(100))],
        leader=1,
        price=100,
    ),
    LimitCase(
        "the leader's proxy stops at the leader's limit and a plain bid beyond it takes the lead",
        {1: all_in(2000, PREMIUM), 2: 10**9},
        [max_bid(1, 5000, T), bid(2, 3000, T + 1)],
        [(("bid", 1, 100, 5000),), (("proxy", 1, 2000, "answer"), ("bid", 2, 3000, 3000))],
        leader=2,
        price=3000,
    ),
    LimitCase(
        "the leader's proxy stops at the leader's limit and a maximum beyond it leads one step above",
        {1: all_in(2000, PREMIUM), 2: 10**9},
        [max_bid(1, 5000, T), max_bid(2, 10_000, T + 1)],
        [(("bid", 1, 100, 5000),), (("proxy", 1, 2000, "answer"), ("bid", 2, NEXT_AFTER_2000, 10_000))],
        leader=2,
        price=NEXT_AFTER_2000,
    ),
    LimitCase(
        "within the leader's limit the proxy answers as usual",
        {1: all_in(2000, PREMIUM), 2: 10**9},
        [max_bid(1, 5000, T), bid(2, 1500, T + 1)],
        [(("bid", 1, 100, 5000),), (("bid", 2, 1500, 1500), ("proxy", 1, 1550, "answer"))],
        leader=1,
        price=1550,
    ),
    LimitCase(
        "a bid equal to what the leader's limit allows: the earlier leads at it",
        {1: all_in(2000, PREMIUM), 2: 10**9},
        [max_bid(1, 5000, T), bid(2, 2000, T + 1)],
        [(("bid", 1, 100, 5000),), (("bid", 2, 2000, 2000), ("proxy", 1, 2000, "answer"))],
        leader=1,
        price=2000,
    ),
    LimitCase(
        "a challenger's maximum beyond its limit is bid only as far as the limit, then answered",
        {1: 10**9, 2: all_in(1500, PREMIUM)},
        [max_bid(1, 5000, T), max_bid(2, 10_000, T + 1)],
        [(("bid", 1, 100, 5000),), (("bid", 2, 1500, 10_000), ("proxy", 1, 1550, "answer"))],
        leader=1,
        price=1550,
    ),
    LimitCase(
        "the leader raising a maximum beyond the limit is accepted: it counts at the price",
        {1: all_in(100, PREMIUM)},
        [max_bid(1, 500, T), max_bid(1, 100_000, T + 1)],
        [(("bid", 1, 100, 500),), (("raised", 1, 100_000),)],
        leader=1,
        price=100,
    ),
    LimitCase(
        "the reserve jump happens only within the limit",
        {1: all_in(3000, PREMIUM)},
        [max_bid(1, 500, T), max_bid(1, 10_000, T + 1)],
        [(("bid", 1, 100, 500),), (("raised", 1, 10_000),)],
        leader=1,
        price=100,
        reserve=5000,
    ),
    LimitCase(
        "the reserve jump within the limit",
        {1: all_in(5000, PREMIUM)},
        [max_bid(1, 500, T), max_bid(1, 10_000, T + 1)],
        [(("bid", 1, 100, 500),), (("raised", 1, 10_000), ("proxy", 1, 5000, "reserve"))],
        leader=1,
        price=5000,
        reserve=5000,
    ),
    LimitCase(
        "a first maximum jumps to the reserve only within the limit",
        {1: all_in(3000, PREMIUM)},
        [max_bid(1, 10_000, T)],
        [(("bid", 1, 100, 10_000),)],
        leader=1,
        price=100,
        reserve=5000,
    ),
]


@pytest.mark.parametrize("case", LIMIT_CASES, ids=[c.name for c in LIMIT_CASES])
def test_the_limit(case: LimitCase) -> None:
    sale = Sale(
        terms(reserve=case.reserve),
        {bidder: standing(bidder, limit) for bidder, limit in case.limits.items()},
        case.elsewhere,
    )
    state, outcomes = sale.run(*case.commands)
    assert outcomes == case.outcomes
    assert (state.leader, state.price) == (case.leader, case.price)
    if state.leader is not None:
        owed = exposure_of(state)
        assert owed is not None and owed[1] <= case.limits[state.leader] - case.elsewhere.get(state.leader, 0)


def test_a_leader_no_longer_eligible_gets_no_proxy_answer() -> None:
    sale = Sale(terms(), {1: standing(1), 2: standing(2)})
    state, _ = sale.run(max_bid(1, 5000, T))
    sale.standings[1] = standing(1, refusal="suspended")
    assert _summaries(decide(state, bid(2, 200, T + 1), sale.context(state, 2))) == [("bid", 2, 200, 200)]
    nxt = EBAY_LADDER_USD.next_bid(100)
    assert _summaries(decide(state, max_bid(2, 900, T + 1), sale.context(state, 2))) == [("bid", 2, nxt, 900)]
    lapsed = standing(1, until=T + 1)  # approval lapses: the proxy stops at that moment
    sale.standings[1] = lapsed
    assert _summaries(decide(state, bid(2, 200, T), sale.context(state, 2)))[-1] == ("proxy", 1, 225, "answer")
    assert _summaries(decide(state, bid(2, 200, T + 1), sale.context(state, 2))) == [("bid", 2, 200, 200)]


def test_facts_about_someone_else_are_not_taken_for_the_leader() -> None:
    state = Sale(terms(), {1: standing(1)}).run(max_bid(1, 5000, T))[0]
    mixed_up = BidContext(standing(2), 0, standing(3), 0)  # the leader is 1, not 3
    assert _summaries(decide(state, bid(2, 200, T + 1), mixed_up)) == [("bid", 2, 200, 200)]


def test_the_maximum_recorded_stays_what_the_buyer_asked() -> None:
    """Their reach is worked out at every bid: room freed on another lot is used later."""
    sale = Sale(terms(), {1: standing(1, all_in(2000, PREMIUM)), 2: standing(2)}, {1: all_in(1000, PREMIUM)})
    state, _ = sale.run(max_bid(1, 5000, T))
    assert state.leader_max == 5000
    stopped = [("proxy", 1, 1000, "answer"), ("bid", 2, 1500, 1500)]
    assert _summaries(decide(state, bid(2, 1500, T + 1), sale.context(state, 2))) == stopped
    sale.elsewhere[1] = 0  # outbid on the other lot
    answered = [("bid", 2, 1500, 1500), ("proxy", 1, 1550, "answer")]
    assert _summaries(decide(state, bid(2, 1500, T + 1), sale.context(state, 2))) == answered


def _summaries(decision: object) -> list[Summary]:
    assert isinstance(decision, tuple), decision
    return [summary(e) for e in decision if summary(e) != ("opened",)]


# ---- properties ------------------------------------------------------------------------------------------------

BIDDERS = [1, 2, 3, 4]
LOTS = [1, 2, 3]


def _exposures(states: dict[int, LotState]) -> dict[int, int]:
    """Each buyer's exposure recomputed from the lots: all_in(price) summed over the lots they lead."""
    owed: dict[int, int] = {}
    for state in states.values():
        held = exposure_of(state)
        if held is not None:
            owed[held[0]] = owed.get(held[0], 0) + held[1]
    return owed


def _context(states: dict[int, LotState], lot: int, bidder: int, standings: dict[int, BidderStanding]) -> BidContext:
    elsewhere = _exposures({no: s for no, s in states.items() if no != lot})
    leader = states[lot].leader
    return BidContext(
        standings.get(bidder),
        elsewhere.get(bidder, 0),
        None if leader is None else standings.get(leader),
        0 if leader is None else elsewhere.get(leader, 0),
    )


@st.composite
def amounts(draw: st.DrawFn, state: LotState) -> int:
    base = draw(st.sampled_from([state.next_minimum, state.leader_max, state.price, state.terms.opening, 2000]))
    return max(0, base + draw(st.integers(-200, 3000)))


@PROPERTY_SETTINGS
@given(st.data())
def test_no_exposure_ever_passes_its_limit(data: st.DataObject) -> None:
    premium = data.draw(st.sampled_from([PREMIUM, flat(0), flat(1500)]))
    reserve = data.draw(st.sampled_from([0, 1000, 3000]))
    states = {lot: new_lot(msgspec.structs.replace(terms(reserve=reserve), lot=lot, premium=premium)) for lot in LOTS}
    limits = {b: data.draw(st.integers(0, 12_000), label=f"limit {b}") for b in BIDDERS}
    standings = {b: standing(b, limits[b]) for b in BIDDERS}
    at = T
    for step in range(data.draw(st.integers(1, 40), label="steps")):
        at += data.draw(st.integers(0, 1000))
        if data.draw(st.integers(0, 15)) == 0:  # now and then a buyer is suspended or reinstated
            b = data.draw(st.sampled_from(BIDDERS))
            standings[b] = standing(b, limits[b], refusal=data.draw(st.sampled_from([None, "suspended"])))
        lot, bidder = data.draw(st.sampled_from(LOTS)), data.draw(st.sampled_from(BIDDERS))
        kind: BidKind = data.draw(st.sampled_from(["bid", "max"]))
        command = PlaceBid(at, bidder, paddle(bidder), data.draw(amounts(states[lot])), f"c{step}", kind)
        decision = decide(states[lot], command, _context(states, lot, bidder, standings))
        if isinstance(decision, Rejected):
            continue
        for event in decision:
            states[lot] = evolve(states[lot], event)
        for buyer, owed in _exposures(states).items():
            assert owed <= limits[buyer], (buyer, owed, limits[buyer], states)


@PROPERTY_SETTINGS
@given(st.data())
def test_with_room_to_spare_the_rules_are_the_unlimited_ones(data: st.DataObject) -> None:
    state = new_lot(terms(reserve=data.draw(st.sampled_from([0, 1000, 5000]))))
    standings = {b: standing(b) for b in BIDDERS}
    at = T
    for step in range(data.draw(st.integers(1, 30))):
        at += data.draw(st.integers(0, 1000))
        bidder = data.draw(st.sampled_from(BIDDERS))
        kind: BidKind = data.draw(st.sampled_from(["bid", "max"]))
        command = PlaceBid(at, bidder, paddle(bidder), data.draw(amounts(state)), f"c{step}", kind)
        plain = decide(state, command)
        assert decide(state, command, _context({1: state}, 1, bidder, standings)) == plain
        if not isinstance(plain, Rejected):
            for event in plain:
                state = evolve(state, event)


@given(st.integers(-5, 10**13), st.sampled_from([PREMIUM, flat(0), flat(10_000), flat(1), flat(2599)]))
def test_affordable_is_the_highest_hammer_that_fits(budget: int, schedule: object) -> None:
    assert isinstance(schedule, type(PREMIUM))
    h = affordable(budget, schedule)
    if budget < 0:
        assert h == -1
    else:
        assert all_in(h, schedule) <= budget < all_in(h + 1, schedule)
