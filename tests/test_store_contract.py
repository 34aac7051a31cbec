"""The contract: LotStore (Redis) gives exactly what the pure core gives, event for event.

Each scenario is a list of commands for one lot. The reference is a fold of decide/evolve in memory; the store
runs the same commands against real Redis, once awaiting each command (one commit each) and once queued all
at once (so they share batches). Both must produce identical outcomes and the identical final state. Each
scenario also pins a fact or two (price, leader, end) so a rule broken in both places still shows.

Every scenario runs twice more against a store that enforces standings, every bidder registered with room to
spare: the limits machinery (context, exposure, bidder keys in the commit) must change nothing then.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import reduce

import pytest
from redis.asyncio import Redis

from auction.engine.lot import LotState, LotTerms, decide, evolve, new_lot
from auction.engine.messages import AnyCommand, CloseLot, OpenLot, PlaceBid, Rejected, WithdrawLot
from auction.engine.standing import BidderStanding
from auction.store import Accepted, LotStore, Outcome
from tests.lots import END, MINUTE, START, bid, dedupe_key, max_bid, terms_for


@dataclass(frozen=True)
class Scenario:
    name: str
    commands: list[AnyCommand]
    reserve: int = 0
    cap_ms: int | None = None
    price: int | None = None
    leader: int | None = None
    status: str | None = None
    end_ms: int | None = None
    rejections: list[str] = field(default_factory=list)


T = START + 1000  # a moment inside the lot
SCENARIOS = [
    Scenario(
        "ebay_proxy_answers_and_is_overtaken",
        [max_bid(T, 1, 1000), bid(T + 1, 2, 500), max_bid(T + 2, 2, 2000)],
        price=1050,  # 1000 + one eBay increment (50 cents, from $5 to $25)
        leader=2,
    ),
    Scenario(
        "ebay_outbid_by_less_than_an_increment",
        [max_bid(T, 1, 1010), bid(T + 1, 2, 1000)],
        price=1010,  # the answer is capped at the leader's maximum
        leader=1,
    ),
    Scenario(
        "reserve_jump_then_proxy_answer",
        [max_bid(T, 1, 8000), bid(T + 1, 2, 6000)],
        reserve=5000,
        price=6100,
        leader=1,
    ),
    Scenario(
        "equal_maxima_the_earlier_leads",
        [max_bid(T, 1, 3000), max_bid(T + 1, 2, 3000)],
        price=3000,
        leader=1,
    ),
    Scenario(
        "leader_raising_max_does_not_raise_price",
        [max_bid(T, 1, 1000), max_bid(T + 1, 1, 5000), bid(T + 2, 2, 1500)],
        price=1550,
        leader=1,
    ),
    Scenario(
        "leader_raising_max_meets_reserve",
        [max_bid(T, 1, 1000), max_bid(T + 1, 1, 5000)],
        reserve=2000,
        price=2000,
        leader=1,
    ),
    Scenario(
        "soft_close_extends_up_to_the_cap",
        [
            bid(END - MINUTE, 1, 100),  # -> END + 1 min
            bid(END + 30_000, 2, 200),  # -> END + 2.5 min
            bid(END + 140_000, 1, 300),  # would be END + 4m20s, capped at END + 3 min
            bid(END + 179_000, 2, 400),  # the cap holds: no extension
            bid(END + 180_000, 1, 500),  # too late
            CloseLot(at_ms=END + 179_999),  # not due
            CloseLot(at_ms=END + 180_000),
        ],
        cap_ms=3 * MINUTE,
        end_ms=END + 3 * MINUTE,
        status="sold",
        price=400,
        rejections=["too_late", "not_due"],
    ),
    Scenario(
        "rejections",
        [
            bid(START - 1, 1, 100),  # before the start: not open
            OpenLot(at_ms=START - 1),  # not due
            OpenLot(at_ms=START),
            bid(T, 1, 50),  # below the opening
            bid(T, 1, 100),
            bid(T + 1, 1, 200),  # already leading
            max_bid(T + 2, 1, 100),  # max not raised
            bid(T + 3, 2, 104),  # below 100 + 5
            bid(END, 2, 500),  # too late
            CloseLot(at_ms=END),
            bid(END + 1, 2, 500),  # lot closed
            CloseLot(at_ms=END + 2),
            OpenLot(at_ms=END + 3),
        ],
        price=100,
        leader=1,
        status="sold",
        rejections=[
            "lot_not_open",
            "not_due",
            "too_low",
            "already_leading",
            "max_not_raised",
            "too_low",
            "too_late",
            "lot_closed",
            "lot_closed",
            "lot_closed",
        ],
    ),
    Scenario(
        "close_passed_below_reserve",
        [bid(T, 1, 1000), CloseLot(at_ms=END)],
        reserve=5000,
        status="passed",
        price=1000,
    ),
    Scenario("close_passed_without_bids", [CloseLot(at_ms=END)], status="passed", price=0),
    Scenario(
        "withdrawn",
        [OpenLot(at_ms=START), WithdrawLot(at_ms=T, reason="consignor"), bid(T + 1, 1, 100)],
        status="withdrawn",
        rejections=["lot_closed"],
    ),
]


def run_core(terms: LotTerms, commands: list[AnyCommand]) -> tuple[list[Outcome], LotState]:
    """The reference: fold the pure core in memory."""
    state, outcomes = new_lot(terms), list[Outcome]()
    for command in commands:
        decision = decide(state, command)
        if isinstance(decision, Rejected):
            outcomes.append(decision)
            continue
        state = reduce(evolve, decision, state)
        outcomes.append(Accepted(decision, state))
    return outcomes, state


@pytest.fixture(params=[False, True], ids=["unvetted", "vetted"])
async def store(redis: Redis, request: pytest.FixtureRequest) -> AsyncIterator[LotStore]:
    lot_store = LotStore(redis, enforce_standing=request.param)
    try:
        yield lot_store
    finally:
        await lot_store.close()


async def run_one_by_one(store: LotStore, terms: LotTerms, commands: list[AnyCommand]) -> list[Outcome]:
    return [await store.execute(terms.sale, terms.lot, c, dedupe=dedupe_key(c)) for c in commands]


async def run_all_at_once(store: LotStore, terms: LotTerms, commands: list[AnyCommand]) -> list[Outcome]:
    """gather starts the calls in order and each queues before yielding, so the order is kept in one batch."""
    calls = [store.execute(terms.sale, terms.lot, c, dedupe=dedupe_key(c)) for c in commands]
    return list(await asyncio.gather(*calls))


@pytest.mark.parametrize("run", [run_one_by_one, run_all_at_once], ids=["one_by_one", "all_at_once"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_store_matches_the_core(
    store: LotStore,
    new_sale_id: Callable[[], int],
    scenario: Scenario,
    run: Callable[[LotStore, LotTerms, list[AnyCommand]], asyncio.Future[list[Outcome]]],
) -> None:
    terms = terms_for(new_sale_id(), reserve=scenario.reserve, cap_ms=scenario.cap_ms)
    expected, expected_state = run_core(terms, scenario.commands)
    await store.create_lots([terms])
    for bidder in {c.bidder for c in scenario.commands if isinstance(c, PlaceBid)}:
        await store.set_standing(terms.sale, BidderStanding(bidder, 100 + bidder, 10**15, None, END * 10))

    outcomes = await run(store, terms, scenario.commands)

    assert outcomes == expected
    assert await store.state(terms.sale, terms.lot) == expected_state
    recorded = await store.events_after(terms.sale, terms.lot, 0)
    assert recorded == [e for o in expected if isinstance(o, Accepted) for e in o.events]
    assert_scenario_facts(scenario, expected, expected_state)


def assert_scenario_facts(scenario: Scenario, outcomes: list[Outcome], state: LotState) -> None:
    assert [o.reason for o in outcomes if isinstance(o, Rejected)] == scenario.rejections
    if scenario.price is not None:
        assert state.price == scenario.price
    if scenario.leader is not None:
        assert state.leader == scenario.leader
    if scenario.status is not None:
        assert state.status == scenario.status
    if scenario.end_ms is not None:
        assert state.end_ms == scenario.end_ms
