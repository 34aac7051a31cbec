"""One writer per sale: leases, forwarding, fencing, a dead owner replaced, one clock; against real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from redis.asyncio import Redis

from auction import keys
from auction.engine.journal import JOURNAL_DECODER, Committed
from auction.engine.lot import LotTerms
from auction.engine.messages import PlaceBid
from auction.record import load_lot_events
from auction.store import BACKGROUND_PRIORITY, Accepted, LotStore, Outcome, StoreUnavailable
from tests.lots import START, bid, dedupe_key, terms_for

T = START + 1000


@pytest.fixture
async def stores(redis_url: str) -> AsyncIterator[Callable[..., LotStore]]:
    """Stores on connections of their own (other processes, as far as Redis can tell), closed at the end."""
    made: list[tuple[LotStore, Redis]] = []

    def make(**options: object) -> LotStore:
        client = Redis.from_url(redis_url)
        store = LotStore(client, **options)  # type: ignore[arg-type]
        made.append((store, client))
        return store

    yield make
    for store, client in made:
        await store.close()
        await client.aclose()


@pytest.fixture
async def lot(redis: Redis, new_sale_id: Callable[[], int]) -> LotTerms:
    terms = terms_for(new_sale_id())
    creator = LotStore(redis)
    await creator.create_lots([terms])
    await creator.close()
    return terms


def send(store: LotStore, terms: LotTerms, command: PlaceBid) -> asyncio.Future[Outcome]:
    return store.submit(terms.sale, terms.lot, command, dedupe=dedupe_key(command))


async def owner_of(redis: Redis, sale: int) -> str:
    value = await redis.get(keys.sale_owner(sale))
    return "" if value is None else value.decode().split("|")[0]


async def test_the_first_store_holds_the_sale_and_the_second_forwards_in_order(
    stores: Callable[..., LotStore], redis: Redis, lot: LotTerms
) -> None:
    owner, other = stores(), stores()
    assert isinstance(await send(owner, lot, bid(T, 1, 100)), Accepted)
    assert await owner_of(redis, lot.sale) == owner.id
    # 40 rising bids sent at once through the store that doesn't hold the sale: each is decided after the one
    # before it (order kept), so every one is accepted.
    amounts = range(200, 200 + 40 * 100, 100)
    outcomes = await asyncio.gather(*(send(other, lot, bid(T + 1, 2 + i % 2, a)) for i, a in enumerate(amounts)))
    assert all(isinstance(o, Accepted) for o in outcomes), outcomes
    assert other.stats.forwarded == 40 and owner.stats.served == 40 and other.stats.commits == 0


async def test_a_gateway_takes_a_sale_from_the_background_and_the_fence_moves(
    stores: Callable[..., LotStore], redis: Redis, lot: LotTerms
) -> None:
    background, gateway = stores(priority=BACKGROUND_PRIORITY), stores()
    assert isinstance(await send(background, lot, bid(T, 1, 100)), Accepted)
    fence = int(await redis.get(keys.sale_fence(lot.sale)))
    assert isinstance(await send(gateway, lot, bid(T + 1, 2, 200)), Accepted)
    assert await owner_of(redis, lot.sale) == gateway.id
    assert int(await redis.get(keys.sale_fence(lot.sale))) == fence + 1
    # The background store still trusts its lease: its commit is refused as fenced and forwarded instead.
    third = await send(background, lot, bid(T + 2, 3, 300))
    assert isinstance(third, Accepted) and third.state.price == 300
    assert background.stats.fenced == 1 and background.stats.forwarded == 1 and gateway.stats.served == 1


async def test_a_dead_owner_is_replaced_once_its_lease_lapses(
    stores: Callable[..., LotStore], redis: Redis, lot: LotTerms
) -> None:
    lease_ms = 600
    dead, heir = stores(lease_ms=lease_ms), stores(lease_ms=lease_ms)
    assert isinstance(await send(dead, lot, bid(T, 1, 100)), Accepted)
    await dead._forwarder.close()  # as if killed: it neither answers nor renews, and never gives the sale back
    assert dead._leases is not None and dead._leases._renewer is not None
    dead._leases._renewer.cancel()
    started = time.monotonic()
    outcome = await send(heir, lot, bid(T + 1, 2, 200))
    waited = time.monotonic() - started
    assert isinstance(outcome, Accepted) and outcome.state.price == 200
    assert await owner_of(redis, lot.sale) == heir.id
    assert waited < lease_ms / 1000 + 1.0


async def test_a_command_forwarded_during_a_handover_is_decided_once(
    stores: Callable[..., LotStore], redis: Redis, lot: LotTerms
) -> None:
    """The old owner still trusts its lease when the new one takes the sale: a command forwarded then goes to
    the new owner alone and is decided once, even without a dedupe key to catch a second decision."""
    old, new, sender = stores(lease_ms=30_000), stores(lease_ms=30_000), stores(lease_ms=30_000)
    assert isinstance(await send(old, lot, bid(T, 1, 100)), Accepted)
    await redis.delete(keys.sale_owner(lot.sale))  # the old owner paused past its lease, as far as Redis knows
    assert isinstance(await send(new, lot, bid(T + 1, 2, 200)), Accepted)
    assert await owner_of(redis, lot.sale) == new.id
    command = bid(T + 2, 3, 300)
    outcome = await sender.submit(lot.sale, lot.lot, command, dedupe=None)
    assert isinstance(outcome, Accepted) and outcome.state.price == 300
    decided = [
        verdict.command
        for _id, fields in await redis.xrange(keys.sale_journal(lot.sale))
        if isinstance(entry := JOURNAL_DECODER.decode(fields[b"j"]), Committed)
        for verdict in entry.verdicts
    ]
    assert decided.count(command) == 1, decided
    assert old.stats.served == 0 and new.stats.served == 1


async def test_a_sales_time_never_goes_backwards(stores: Callable[..., LotStore], redis: Redis, lot: LotTerms) -> None:
    """A bid received by a gateway whose clock lags is decided no earlier than what the sale already decided."""
    owner = stores(monotonic_time=True)
    other = stores()
    assert isinstance(await send(owner, lot, bid(T + 5_000, 1, 100)), Accepted)
    outcome = await send(other, lot, bid(T - 999, 2, 200))  # a skewed gateway clock
    assert isinstance(outcome, Accepted)
    assert {event.at_ms for event in outcome.events} == {T + 5_000}
    later = await send(other, lot, bid(T + 9_000, 3, 300))  # a later stamp is kept as it is
    assert isinstance(later, Accepted) and {event.at_ms for event in later.events} == {T + 9_000}
    entries = await redis.xrange(keys.sale_journal(lot.sale))
    commands = [v.command for _id, f in entries if isinstance(e := JOURNAL_DECODER.decode(f[b"j"]), Committed)
                for v in e.verdicts]  # fmt: skip
    assert [c.at_ms for c in commands] == [T + 5_000, T + 5_000, T + 9_000]


async def test_in_postgres_durability_a_resend_answered_from_redis_is_recorded_first(
    redis: Redis, pg: asyncpg.Pool, database_url: str, lot: LotTerms
) -> None:
    """The commit ran but PostgreSQL failed before the answer; the resend gets the stored answer, and only
    once PostgreSQL has its events."""
    broken = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    await broken.close()  # every write through it fails
    first = LotStore(redis, durability="postgres", pg=broken, writers="optimistic")
    command = bid(T, 1, 100)
    with pytest.raises(StoreUnavailable):
        await send(first, lot, command)
    await first.close()
    assert await load_lot_events(pg, lot.sale, lot.lot) == []
    again = LotStore(redis, durability="postgres", pg=pg, writers="optimistic")
    outcome = await send(again, lot, command)
    await again.close()
    assert isinstance(outcome, Accepted)
    assert await load_lot_events(pg, lot.sale, lot.lot) == list(outcome.events)


async def test_forwarding_comes_back_after_redis_restarts(
    embedded_redis_factory: Callable[..., object], new_sale_id: Callable[[], int]
) -> None:
    """Redis killed and started again on its data: the owner listens again, so forwarded commands are answered
    (not left waiting for a lease its owner keeps renewing)."""
    server = embedded_redis_factory()
    url = server.url  # type: ignore[attr-defined]
    owner_client, other_client = Redis.from_url(url), Redis.from_url(url)
    owner, other = LotStore(owner_client), LotStore(other_client)
    try:
        terms = terms_for(new_sale_id())
        await owner.create_lots([terms])
        assert isinstance(await send(owner, terms, bid(T, 1, 100)), Accepted)
        assert isinstance(await send(other, terms, bid(T + 1, 2, 200)), Accepted)
        server.kill()  # type: ignore[attr-defined]
        server.start()  # type: ignore[attr-defined]
        outcome: Outcome | None = None
        third = bid(T + 2, 3, 300)
        for _attempt in range(40):  # the first tries may meet the restart; a resend with the same id is safe
            try:
                outcome = await send(other, terms, third)
                break
            except StoreUnavailable:
                await asyncio.sleep(0.25)
        assert isinstance(outcome, Accepted) and outcome.state.price == 300
        assert other.stats.forwarded >= 2
    finally:
        for store in (owner, other):
            await store.close()
        for client in (owner_client, other_client):
            await client.aclose()
