"""Interleavings of two stores (two gateway processes) on one lot that once let a commit through on a state
that never existed: driven step by step against real Redis, with the wire held at chosen points (redis_faults).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from auction.engine.lot import replay
from auction.engine.messages import EVENT_DECODER, PlaceBid, Rejected
from auction.engine.standing import BidderStanding
from auction.store import Accepted, LotStore, Outcome
from tests.lots import END, START, bid, dedupe_key, terms_for
from tests.redis_faults import Gate, hooked_client, until

T = START + 1000


@pytest.fixture
async def gate_and_store(redis_url: str) -> AsyncIterator[tuple[Gate, LotStore]]:
    gate = Gate()
    client = hooked_client(redis_url, gate.hook)
    store = LotStore(client, enforce_standing=True, writers="optimistic")
    try:
        yield gate, store
    finally:
        for name, phase in list(gate._held):
            gate.release(name, phase)
        await store.close()
        await client.aclose()


async def test_a_batch_decided_on_a_commit_that_then_fails_is_decided_again(
    gate_and_store: tuple[Gate, LotStore], redis: Redis, new_sale_id: Callable[[], int]
) -> None:
    """B puts bidder 3 in the lead at 300 behind A's back. A, still seeing the lot at 100, sends X (bidder 2 at
    200), bound to come back stale, and while X is in flight decides Y (bidder 4 at 250) on X's assumed outcome,
    then waits to load bidder 4's record. X comes back stale meanwhile. Y must not be committed on X's assumed
    state (where 250 beats 200), although that state has the same seq as the real one: against the real lot,
    250 is too low."""
    gate, store_a = gate_and_store
    store_b = LotStore(redis, enforce_standing=True, writers="optimistic")
    terms = terms_for(new_sale_id())
    sale, lot = terms.sale, terms.lot
    await store_a.create_lots([terms])
    for bidder in (1, 2, 3, 4):
        await store_a.set_standing(sale, BidderStanding(bidder, 100 + bidder, 10**12, None, END * 10))

    async def send(store: LotStore, command: object) -> asyncio.Future:  # type: ignore[type-arg]
        return store.submit(sale, lot, command, dedupe=dedupe_key(command))  # type: ignore[arg-type]

    await (await send(store_a, bid(T, 1, 100)))
    await (await send(store_b, bid(T + 1, 3, 300)))  # A doesn't know: its cache still has the lot at 100
    gate.hold(b"EVAL", "read")
    x = await send(store_a, bid(T + 2, 2, 200))
    await gate.until_waiting(b"EVAL", "read")
    gate.hold(b"HGETALL", "read")
    y = await send(store_a, bid(T + 3, 4, 250))
    await gate.until_waiting(b"HGETALL", "read")
    gate.release(b"EVAL", "read")
    await until(lambda: store_a.stats.conflicts > 0)  # X has come back stale and been forgotten
    gate.release(b"HGETALL", "read")
    outcome_y, outcome_x = await asyncio.wait_for(y, 5), await asyncio.wait_for(x, 5)

    assert isinstance(outcome_y, Rejected) and outcome_y.reason == "too_low"
    assert isinstance(outcome_x, Rejected) and outcome_x.reason == "too_low"
    entries = await redis.xrange(f"sale:{{{sale}}}:lot:{lot}:events")
    events = [EVENT_DECODER.decode(fields[b"e"]) for _id, fields in entries]
    state = replay(terms, events)
    assert (state.price, state.leader) == (300, 3)
    assert state == await store_b.state(sale, lot)
    await store_b.close()


async def test_without_standings_a_lot_load_is_the_wait_and_the_same_holds(
    gate_and_store: tuple[Gate, LotStore], redis: Redis, new_sale_id: Callable[[], int]
) -> None:
    """The same race where no bidder record is read (and checked): Y's wait is loading a second lot it names."""
    gate, store_a = gate_and_store
    store_a = LotStore(store_a._redis, writers="optimistic")
    store_b = LotStore(redis, writers="optimistic")
    sale = new_sale_id()
    first, second = terms_for(sale, 1), terms_for(sale, 2)
    await store_b.create_lots([first, second])

    def send(store: LotStore, lot: int, command: PlaceBid) -> asyncio.Future[Outcome]:
        return store.submit(sale, lot, command, dedupe=dedupe_key(command))

    await send(store_a, 1, bid(T, 1, 100))
    await send(store_b, 1, bid(T + 1, 3, 300))
    gate.hold(b"EVAL", "read")
    x = send(store_a, 1, bid(T + 2, 2, 200))
    await gate.until_waiting(b"EVAL", "read")
    gate.hold(b"HGET", "read")
    y = send(store_a, 1, bid(T + 3, 4, 250))
    y_other_lot = send(store_a, 2, bid(T + 3, 4, 100))
    await gate.until_waiting(b"HGET", "read")
    gate.release(b"EVAL", "read")
    await until(lambda: store_a.stats.conflicts > 0)
    gate.release(b"HGET", "read")
    outcomes = [await asyncio.wait_for(f, 5) for f in (y, x, y_other_lot)]

    assert outcomes[0] == outcomes[1] == Rejected("too_low", 325)
    assert isinstance(outcomes[2], Accepted)
    entries = await redis.xrange(f"sale:{{{sale}}}:lot:1:events")
    state = replay(first, [EVENT_DECODER.decode(fields[b"e"]) for _id, fields in entries])
    assert (state.price, state.leader) == (300, 3)
    await store_a.close()
    await store_b.close()
