"""CancelBids through the LotStore against real Redis (and the record in PostgreSQL): one atomic step per lot,
the exposure moving from the struck bidder to the new leader, a stale record refused without writing anything,
and the lot rebuilt from PostgreSQL equal to Redis afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from redis.asyncio import Redis

from auction.engine.lot import LotTerms, exposure_of
from auction.engine.messages import AnyEvent, BidsCancelled, CancelBids, Rejected
from auction.engine.premium import CHRISTIES_2023_USD, all_in
from auction.engine.standing import BidderStanding
from auction.persister import Persister
from auction.record import rebuild_from_record
from auction.store import Accepted, LotStore
from tests.lots import END, START, bid, dedupe_key, max_bid, terms_for

T = START + 1000
A, B, C = 1, 2, 3


@pytest.fixture
async def store(redis: Redis) -> AsyncIterator[LotStore]:
    lot_store = LotStore(redis, enforce_standing=True)
    try:
        yield lot_store
    finally:
        await lot_store.close()


def owed(price: int) -> int:
    return all_in(price, CHRISTIES_2023_USD)


async def bid_on(store: LotStore, lots: list[LotTerms]) -> None:
    """Lot 1: A leads at 3,100 on a maximum of 5,000 over C's 1,500 and B's maximum of 3,000.
    Lot 2: B leads at 1,050 on a maximum of 2,000 over A's 1,000."""
    sale = lots[0].sale
    for standing in (BidderStanding(b, 100 + b, 10**12, None, END * 10) for b in (A, B, C)):
        await store.set_standing(sale, standing)
    for lot, command in [
        (1, max_bid(T, A, 5000)),
        (1, bid(T + 1, C, 1500)),
        (1, max_bid(T + 2, B, 3000)),
        (2, max_bid(T + 3, B, 2000)),
        (2, bid(T + 4, A, 1000)),
    ]:
        assert isinstance(await store.execute(sale, lot, command, dedupe=dedupe_key(command)), Accepted)


async def record(store: LotStore, terms: LotTerms) -> tuple[AnyEvent, ...]:
    return tuple(await store.events_after(terms.sale, terms.lot, 0))


async def new_lots(store: LotStore, new_sale_id: Callable[[], int]) -> list[LotTerms]:
    sale = new_sale_id()
    lots = [terms_for(sale, 1), terms_for(sale, 2)]
    await store.create_lots(lots)
    await bid_on(store, lots)
    return lots


async def test_cancelling_moves_the_exposure_to_the_new_leaders(
    store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    one, two = await new_lots(store, new_sale_id)
    sale = one.sale
    assert await store.exposure(sale, A) == {1: owed(3100)}
    assert await store.exposure(sale, B) == {2: owed(1050)}
    for lot in (one, two):
        outcome = await store.execute(sale, lot.lot, CancelBids(T + 10, A, "suspended", await record(store, lot)))
        assert isinstance(outcome, Accepted) and isinstance(outcome.events[0], BidsCancelled)
    assert await store.exposure(sale, A) == {}
    assert await store.exposure(sale, B) == {1: owed(1550), 2: owed(100)}
    for state in await store.states(sale):
        assert exposure_of(state) == (B, owed(state.price))
    # B, now leading lot 1 on a maximum of 3,000, is answered by their proxy; C can outbid them within limits.
    assert isinstance(await store.execute(sale, 1, bid(T + 20, C, 3500)), Accepted)
    assert await store.exposure(sale, B) == {2: owed(100)}
    assert await store.exposure(sale, C) == {1: owed(3500)}


async def test_a_stale_record_is_refused_and_nothing_is_written(
    store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    one, _ = await new_lots(store, new_sale_id)
    read_then = await record(store, one)
    assert isinstance(await store.execute(one.sale, 1, bid(T + 5, C, 4000)), Accepted)  # the lot moves on
    before = await store.state(one.sale, 1)
    assert await store.execute(one.sale, 1, CancelBids(T + 10, A, "x", read_then)) == Rejected("stale")
    assert await store.state(one.sale, 1) == before
    assert await store.exposure(one.sale, A) == {1: owed(4100)}  # A's proxy answered C at 4,100
    fresh = await store.execute(one.sale, 1, CancelBids(T + 10, A, "x", await record(store, one)))
    assert isinstance(fresh, Accepted)
    assert (fresh.state.leader, fresh.state.price) == (C, 4000)
    assert await store.execute(one.sale, 1, CancelBids(T + 11, A, "x", await record(store, one))) == Rejected("no_bids")


async def test_the_record_rebuilds_the_lot_after_a_cancel(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    one, two = await new_lots(store, new_sale_id)
    for lot in (one, two):
        assert isinstance(
            await store.execute(lot.sale, lot.lot, CancelBids(T + 10, A, "suspended", await record(store, lot))),
            Accepted,
        )
    assert isinstance(await store.execute(one.sale, 1, bid(T + 20, C, 3500)), Accepted)
    await Persister(redis, pg).drain_once()
    for lot in (one, two):
        rebuilt = await rebuild_from_record(pg, lot)
        assert rebuilt == await store.state(lot.sale, lot.lot)
        assert rebuilt.seq == len(await record(store, lot))
