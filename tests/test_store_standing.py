"""LotStore holding bids to the buyer's standing and limit, against real Redis: standings set by identity, the
exposure kept per lot, and two stores (two gateway processes) bidding for one buyer at once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from auction import keys
from auction.engine.lot import LotState, LotTerms, exposure_of
from auction.engine.messages import AnyCommand, CloseLot, PlaceBid, Rejected
from auction.engine.premium import CHRISTIES_2023_USD, all_in
from auction.engine.standing import BidderStanding, Refusal
from auction.store import Accepted, LotStore, Outcome, Writers
from tests.lots import END, START, bid, dedupe_key, max_bid, terms_for

T = START + 1000


def owed(price: int) -> int:
    return all_in(price, CHRISTIES_2023_USD)


def standing(bidder: int, limit: int = 10**12, refusal: Refusal | None = None, **kw: object) -> BidderStanding:
    return BidderStanding(bidder, 100 + bidder, limit, refusal, approved_until_ms=END * 10, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["single", "optimistic"])
def writers(request: pytest.FixtureRequest) -> Writers:
    """Every test here runs with one writer per sale (the other store forwards to it) and with every store
    committing directly (the compare-and-set alone keeps the limits)."""
    mode: Writers = request.param
    return mode


@pytest.fixture
async def store(redis: Redis, writers: Writers) -> AsyncIterator[LotStore]:
    lot_store = LotStore(redis, enforce_standing=True, writers=writers)
    try:
        yield lot_store
    finally:
        await lot_store.close()


@pytest.fixture
async def other(redis_url: str, writers: Writers) -> AsyncIterator[LotStore]:
    """A second enforcing store on its own connection: another gateway process, as far as Redis can tell."""
    client = Redis.from_url(redis_url)
    lot_store = LotStore(client, enforce_standing=True, writers=writers)
    try:
        yield lot_store
    finally:
        await lot_store.close()
        await client.aclose()


async def new_sale(store: LotStore, new_sale_id: Callable[[], int], lots: int = 1, reserve: int = 0) -> list[LotTerms]:
    sale = new_sale_id()
    terms = [terms_for(sale, lot, reserve=reserve) for lot in range(1, lots + 1)]
    await store.create_lots(terms)
    return terms


async def send(store: LotStore, terms: LotTerms, command: AnyCommand) -> Outcome:
    return await store.execute(terms.sale, terms.lot, command, dedupe=dedupe_key(command))


async def exposures_agree(store: LotStore, sale: int, bidders: list[int]) -> dict[int, int]:
    """Each buyer's stored exposure equals all_in(price) over the lots they lead, recomputed from the states."""
    recomputed: dict[int, dict[int, int]] = {b: {} for b in bidders}
    for state in await store.states(sale):
        held = exposure_of(state)
        if held is not None:
            recomputed.setdefault(held[0], {})[state.terms.lot] = held[1]
    for bidder in bidders:
        assert await store.exposure(sale, bidder) == recomputed[bidder], bidder
    return {b: sum(lots.values()) for b, lots in recomputed.items()}


# ---- standings ---------------------------------------------------------------------------------------------


async def test_a_bidder_without_a_standing_is_not_registered(store: LotStore, new_sale_id: Callable[[], int]) -> None:
    (lot,) = await new_sale(store, new_sale_id)
    assert await store.standing(lot.sale, 1) is None
    assert await send(store, lot, bid(T, 1, 100)) == Rejected("not_registered")
    assert await store.events_after(lot.sale, lot.lot, 0) == []
    assert not await store._redis.exists(keys.bidder(lot.sale, 1)), "a refused stranger leaves nothing behind"


async def test_a_standing_round_trips_and_lets_the_buyer_bid(store: LotStore, new_sale_id: Callable[[], int]) -> None:
    (lot,) = await new_sale(store, new_sale_id)
    mine = standing(1, 5000, consignor_ids=(7, 8))
    await store.set_standing(lot.sale, mine)
    assert await store.standing(lot.sale, 1) == mine
    assert isinstance(await send(store, lot, bid(T, 1, 1000)), Accepted)
    assert await store.exposure(lot.sale, 1) == {lot.lot: owed(1000)}


@pytest.mark.parametrize("refusal", ["suspended", "not_approved", "deposit_missing", "not_registered"])
async def test_a_change_set_through_one_process_holds_for_the_next_bid_in_another(
    store: LotStore, other: LotStore, new_sale_id: Callable[[], int], refusal: Refusal
) -> None:
    (lot,) = await new_sale(store, new_sale_id)
    await other.set_standing(lot.sale, standing(1))
    assert isinstance(await send(store, lot, max_bid(T, 1, 1000)), Accepted)  # store caches buyer 1's record
    await other.set_standing(lot.sale, standing(1, refusal=refusal))
    assert await send(store, lot, max_bid(T + 1, 1, 2000)) == Rejected(refusal)
    assert store.stats.conflicts == 1, "decided on the cached standing first, then again on the new one"
    await other.set_standing(lot.sale, standing(1))
    assert isinstance(await send(store, lot, max_bid(T + 2, 1, 2000)), Accepted)


async def test_a_lowered_limit_holds_for_the_next_bid(
    store: LotStore, other: LotStore, new_sale_id: Callable[[], int]
) -> None:
    first, second = await new_sale(store, new_sale_id, lots=2)
    await store.set_standing(first.sale, standing(1, owed(2000)))
    assert isinstance(await send(store, first, bid(T, 1, 1000)), Accepted)
    await other.set_standing(first.sale, standing(1, owed(1500)))
    assert await send(store, second, bid(T + 1, 1, 1000)) == Rejected("over_limit", 100)


async def test_own_lot_and_expiry(store: LotStore, new_sale_id: Callable[[], int]) -> None:
    (lot,) = await new_sale(store, new_sale_id)  # consignor 9
    await store.set_standing(lot.sale, standing(1, consignor_ids=(9,)))
    await store.set_standing(lot.sale, BidderStanding(2, 102, 10**9, None, approved_until_ms=T))
    assert await send(store, lot, bid(T, 1, 100)) == Rejected("own_lot")
    assert await send(store, lot, bid(T, 2, 100)) == Rejected("approval_expired")


# ---- exposure ----------------------------------------------------------------------------------------------


async def test_exposure_follows_the_lead_and_the_close(store: LotStore, new_sale_id: Callable[[], int]) -> None:
    sold, passed = await new_sale(store, new_sale_id, lots=2, reserve=0)
    passed = terms_for(sold.sale, 3, reserve=5000)
    await store.create_lots([passed])
    for bidder in (1, 2):
        await store.set_standing(sold.sale, standing(bidder))
    await send(store, sold, max_bid(T, 1, 1000))
    await send(store, passed, bid(T, 1, 300))
    assert await store.exposure(sold.sale, 1) == {sold.lot: owed(100), passed.lot: owed(300)}
    await send(store, sold, bid(T + 1, 2, 2000))  # the proxy answers 1000 and loses: buyer 2 leads
    assert await store.exposure(sold.sale, 1) == {passed.lot: owed(300)}
    assert await store.exposure(sold.sale, 2) == {sold.lot: owed(2000)}
    for lot in (sold, passed):
        await store.execute(lot.sale, lot.lot, CloseLot(at_ms=END))
    assert await store.exposure(sold.sale, 1) == {}, "a passed lot is owed by nobody"
    assert await store.exposure(sold.sale, 2) == {sold.lot: owed(2000)}, "a sold lot stays owed"
    await exposures_agree(store, sold.sale, [1, 2])


async def test_a_store_that_enforces_nothing_still_keeps_exposure_exact(
    redis: Redis, new_sale_id: Callable[[], int]
) -> None:
    plain = LotStore(redis)
    try:
        first, second = await new_sale(plain, new_sale_id, lots=2)
        await asyncio.gather(
            *(send(plain, lot, bid(T + i, i, 100 + 100 * i)) for lot in (first, second) for i in (1, 2, 3))
        )
        await exposures_agree(plain, first.sale, [1, 2, 3])
    finally:
        await plain.close()


async def test_a_maximum_counts_at_its_price(store: LotStore, new_sale_id: Callable[[], int]) -> None:
    lots = await new_sale(store, new_sale_id, lots=3)
    await store.set_standing(lots[0].sale, standing(1, owed(100) * 3))
    outcomes = [await send(store, lot, max_bid(T, 1, 1_000_000)) for lot in lots]
    assert all(isinstance(o, Accepted) for o in outcomes)
    assert await store.exposure(lots[0].sale, 1) == {lot.lot: owed(100) for lot in lots}


# ---- concurrency -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bid", "max"])
async def test_two_processes_bidding_for_one_buyer_on_many_lots_never_pass_the_limit(
    store: LotStore, other: LotStore, new_sale_id: Callable[[], int], kind: str, writers: Writers
) -> None:
    """Room for exactly 3 lots at 1,000; 12 bids at once, on 12 lots, through two processes: 3 are accepted."""
    lots = await new_sale(store, new_sale_id, lots=12)
    sale = lots[0].sale
    price = 1000 if kind == "bid" else 100  # a maximum leads at the opening price, and counts at it
    await store.set_standing(sale, standing(1, owed(price) * 3))
    for lot in lots:  # both processes cache every lot and buyer 1's record, so both decide at once, from cache
        for process in (store, other):
            assert await send(process, lot, bid(T, 1, 50)) == Rejected("too_low", 100)
    commands = [bid(T, 1, 1000) if kind == "bid" else max_bid(T, 1, 1_000_000) for _ in lots]
    outcomes = await asyncio.gather(
        *(send((store, other)[i % 2], lot, c) for i, (lot, c) in enumerate(zip(lots, commands, strict=True)))
    )
    assert sum(isinstance(o, Accepted) for o in outcomes) == 3
    assert [o for o in outcomes if isinstance(o, Rejected)] == [Rejected("over_limit", 100)] * 9
    assert (await exposures_agree(store, sale, [1]))[1] == owed(price) * 3
    if writers == "optimistic":
        assert store.stats.conflicts + other.stats.conflicts > 0, "the two processes really did race"
    else:
        assert other.stats.forwarded > 0 and store.stats.served > 0, "one process decided for both"


@pytest.mark.parametrize("seed", range(6))
async def test_random_concurrent_bidding_keeps_every_exposure_exact_and_within_its_limit(
    store: LotStore, other: LotStore, new_sale_id: Callable[[], int], seed: int
) -> None:
    """Waves of bids and maximums from a few buyers with tight limits, on a few lots, through two processes at
    once, so that proxies answer for leaders whose exposure another process is changing meanwhile."""
    rng = random.Random(seed)
    lots = await new_sale(store, new_sale_id, lots=4, reserve=rng.choice([0, 1500]))
    sale = lots[0].sale
    bidders = [1, 2, 3, 4]
    limits = {b: rng.randrange(owed(100), owed(4000)) for b in bidders}
    for b in bidders:
        await store.set_standing(sale, standing(b, limits[b]))
    at = T
    for _wave in range(8):
        calls = []
        for _ in range(10):
            at += 1
            lot = rng.choice(lots)
            command: PlaceBid = rng.choice([bid, max_bid])(at, rng.choice(bidders), rng.randrange(100, 4000))
            calls.append(send(rng.choice((store, other)), lot, command))
        outcomes = await asyncio.gather(*calls)
        assert not [o for o in outcomes if o == Rejected("busy")]
        exposures = await exposures_agree(store, sale, bidders)
        assert all(exposures[b] <= limits[b] for b in bidders), (exposures, limits)
    states: list[LotState] = await store.states(sale)
    assert any(s.leader is not None for s in states)
