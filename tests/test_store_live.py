"""A live sale through the store, against real Redis: the rostrum held across lots in the same atomic step as
the commands (one lot on the block at a time, only the last reopened), the absentee book and floor bids held to
standings, and the same events as the pure core."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import reduce

import msgspec
import pytest
from redis.asyncio import Redis

from auction import keys
from auction.engine.ladder import Band, Ladder
from auction.engine.lot import LotState, LotTerms, decide, evolve, new_lot
from auction.engine.messages import (
    AnyCommand,
    CallFairWarning,
    HammerLot,
    OpenLot,
    PassLot,
    PlaceBid,
    Rejected,
    ReopenLot,
    TakeBid,
    UndoBid,
)
from auction.engine.standing import BidderStanding
from auction.engine.state import LiveTerms, Rostrum, SoftClose
from auction.store import Accepted, LotStore, Outcome

T = 1_000_000
FLAT = Ladder((Band(0, 100),))


def live(sale: int, lot: int, **settings: object) -> LotTerms:
    return LotTerms(
        sale=sale, lot=lot, opening=1_000, reserve=0, start_ms=0, end_ms=0, ladder=FLAT, soft_close=SoftClose(0, 0),
        consignor=999, format="live", live=LiveTerms(**settings),  # type: ignore[arg-type]
    )  # fmt: skip


def standing(bidder: int, limit: int = 10**12) -> BidderStanding:
    return BidderStanding(bidder, 100 + bidder, limit, None, 10**15)


def floor(bidder: int, cid: str) -> TakeBid:
    return TakeBid(T, bidder, 100 + bidder, "floor", cid)


@pytest.fixture
async def store(redis: Redis) -> AsyncIterator[LotStore]:
    lot_store = LotStore(redis, enforce_standing=True)
    try:
        yield lot_store
    finally:
        await lot_store.close()


async def sale_of(store: LotStore, new_sale_id: Callable[[], int], lots: int = 2) -> list[LotTerms]:
    sale = new_sale_id()
    terms = [live(sale, lot) for lot in range(1, lots + 1)]
    await store.create_lots(terms)
    for bidder in (1, 2, 3):
        await store.set_standing(sale, standing(bidder))
    return terms


async def run(store: LotStore, terms: LotTerms, command: AnyCommand, dedupe: str | None = None) -> Outcome:
    return await store.execute(terms.sale, terms.lot, command, dedupe=dedupe)


async def test_one_lot_on_the_block_at_a_time_and_only_the_last_reopened(
    store: LotStore, redis: Redis, new_sale_id: Callable[[], int]
) -> None:
    first, second = await sale_of(store, new_sale_id)
    assert isinstance(await run(store, first, OpenLot(T)), Accepted)
    assert await run(store, second, OpenLot(T)) == Rejected("another_lot_open")
    assert isinstance(await run(store, first, floor(1, "f1")), Accepted)
    assert isinstance(await run(store, first, HammerLot(T)), Accepted)
    assert await redis.hgetall(keys.sale_rostrum(first.sale)) == {b"v": b"2", b"block": b"", b"last": b"1"}
    assert isinstance(await run(store, first, ReopenLot(T, "a missed bid")), Accepted)  # nothing else opened yet
    assert isinstance(await run(store, first, PassLot(T)), Accepted)
    assert isinstance(await run(store, second, OpenLot(T)), Accepted)
    assert await run(store, first, ReopenLot(T, "too late")) == Rejected("another_lot_open")
    assert isinstance(await run(store, second, PassLot(T)), Accepted)
    assert await run(store, first, ReopenLot(T, "too late")) == Rejected("not_last_lot")


async def test_the_absentee_book_and_floor_bids_are_held_to_standings(
    store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    (lot,) = await sale_of(store, new_sale_id, lots=1)
    await store.set_standing(lot.sale, standing(3, limit=1_500))  # room for 1,000 + 26 % premium, no more
    absentee = PlaceBid(T, 3, 103, 9_000, "a3", "max")
    assert isinstance(await run(store, lot, absentee, dedupe="3:a3"), Accepted)
    opened = await run(store, lot, OpenLot(T))
    assert isinstance(opened, Accepted) and (opened.state.leader, opened.state.price) == (3, 1_000)
    outcome = await run(store, lot, floor(1, "f1"))  # 1,100: the book answers, but only to 1,190 (its limit's reach)
    assert isinstance(outcome, Accepted) and (outcome.state.leader, outcome.state.price) == (3, 1_190)
    outcome = await run(store, lot, floor(2, "f2"))  # at the next ask the book can't answer at all
    assert isinstance(outcome, Accepted) and outcome.state.leader == 2
    unregistered = await run(store, lot, TakeBid(T, 9, 109, "floor", "f9"))
    assert unregistered == Rejected("not_registered")


async def test_the_store_gives_what_the_pure_core_gives(store: LotStore, new_sale_id: Callable[[], int]) -> None:
    (lot,) = await sale_of(store, new_sale_id, lots=1)
    commands: list[AnyCommand] = [
        PlaceBid(T, 2, 102, 2_500, "a2", "max"),
        OpenLot(T, ask=1_200),
        floor(1, "f1"),
        PlaceBid(T, 3, 103, 1_400, "o3", "bid"),
        UndoBid(T),
        CallFairWarning(T),
        floor(1, "f2"),
        HammerLot(T),
    ]
    state: LotState = new_lot(lot)
    for command in commands:
        expected = decide(state, command)
        if not isinstance(expected, Rejected):
            state = reduce(evolve, expected, state)
        dedupe = f"{command.bidder}:{command.client_id}" if isinstance(command, PlaceBid) else None
        got = await run(store, lot, command, dedupe=dedupe)
        if isinstance(expected, Rejected):
            assert got == expected, command
        else:
            assert isinstance(got, Accepted) and got.events == expected, command
    assert await store.state(lot.sale, lot.lot) == state
    assert msgspec.structs.replace(state.terms, live=LiveTerms()) == lot  # the sale's settings as made
    assert Rostrum() == Rostrum(None, None)
