"""The janitor: Redis's streams trimmed once every consumer has them, finished sales retired, then purged.

Tests share one Redis, so each janitor here looks only at its test's sale (`only_sales`); the persister drains
every active sale, as in test_persister. Settlement's consumer group is stood in for by a group that acknowledges
what it reads, as settlement does once it has billed a close.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import asyncpg
import pytest
from redis.asyncio import Redis

from auction import catalog, keys
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.diamonds import Diamond
from auction.engine.lot import LotTerms
from auction.engine.messages import CloseLot, PlaceBid, Rejected
from auction.gateway.fanout import Hub, Outbox, Watch
from auction.janitor import Janitor
from auction.persister import Persister
from auction.record import load_lot_events, rebuild_from_record
from auction.sale_streams import Entry, SaleStreamGroup, follow
from auction.store import Accepted, EventsTrimmed, LotNotFound, LotStore, StoreError
from tests.lots import END, START, bid, dedupe_key, terms_for

T = START + 1000
DAY_MS = 24 * 3_600_000


@dataclass
class Clock:
    now_ms: int = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now_ms


@dataclass
class Sale:
    id: int
    lots: list[LotTerms]
    store: LotStore
    janitor: Janitor
    clock: Clock
    settled: SaleStreamGroup

    async def settle(self) -> None:
        """Settlement's pass: read the sale's events through its group, and acknowledge them."""

        async def nothing_to_bill(_sale: int, _entries: list[Entry]) -> int:
            return 0

        await self.settled.drain_once(nothing_to_bill)


@pytest.fixture
async def pg_store(redis: Redis, pg: asyncpg.Pool) -> AsyncIterator[LotStore]:
    """A store that reads trimmed events from the record, as every service's store does (service_store)."""
    store = LotStore(redis, pg=pg)
    try:
        yield store
    finally:
        await store.close()


async def new_sale(
    store: LotStore,
    redis: Redis,
    pg: asyncpg.Pool,
    sale: int,
    *,
    lots: int = 2,
    in_catalogue: bool = False,
    **janitor: int,
) -> Sale:
    terms = await catalogued(pg, sale, lots) if in_catalogue else [terms_for(sale, lot) for lot in range(1, lots + 1)]
    await store.create_lots(terms)
    clock = Clock()
    only = frozenset({sale})
    settled = SaleStreamGroup(
        redis, keys.SETTLEMENT_GROUP, "settle-test", batch=500, claim_idle_ms=30_000, only_sales=only
    )
    tidy = Janitor(redis, pg, clock=clock, only_sales=only, **janitor)  # type: ignore[arg-type]
    return Sale(sale, terms, store, tidy, clock, settled)


async def send(store: LotStore, sale: int, lot: int, command: PlaceBid) -> object:
    return await store.execute(sale, lot, command, dedupe=dedupe_key(command))


async def rising(sale: Sale, lot: int, count: int, start: int = 100) -> None:
    """`count` accepted bids, two bidders taking turns, each the next step up."""
    amount = start
    for i in range(count):
        outcome = await send(sale.store, sale.id, lot, bid(T + i, 1 + i % 2, amount))
        assert isinstance(outcome, Accepted), outcome
        amount = outcome.state.next_minimum


async def close_all(sale: Sale) -> None:
    for terms in sale.lots:
        await sale.store.execute(sale.id, terms.lot, CloseLot(at_ms=terms.end_ms))


async def catalogued(pg: asyncpg.Pool, sale: int, lots: int) -> list[LotTerms]:
    """A sale in the catalogue (the record's terms: what a purged sale is rebuilt from), open START to END."""
    consignor = await catalog.add_consignor(pg, "Consignor", "Stones Ltd")
    stone = Diamond(carat_points=120, shape="Round", colour="G", clarity="VS2")
    new = NewSale(
        id=sale, name="Janitor test", currency="USD", starts_at_ms=START, first_close_ms=END,
        lots=[NewLot(lot=n, title=f"Lot {n}", consignor_id=consignor, diamond=stone, low_estimate=100_000,
                     high_estimate=200_000, reserve=0, opening=100) for n in range(1, lots + 1)],
        settings=SaleSettings(stagger_ms=1_000),
    )  # fmt: skip
    await catalog.insert_sale(pg, new)
    return catalog.terms_for(new)


async def record_and_settle(sale: Sale, persister: Persister) -> None:
    await persister.drain_once()
    await sale.settle()


async def sale_keys(redis: Redis, sale: int) -> set[str]:
    return {key.decode() async for key in redis.scan_iter(match=f"{keys.sale_prefix(sale)}:*", count=1000)}


async def only_the_newest_millisecond(redis: Redis, stream: str) -> bool:
    """What a stream keeps with no tail: the entries of its newest millisecond (ids are `<ms>-<n>`)."""
    ids = [entry_id.split(b"-")[0] for entry_id, _ in await redis.xrange(stream)]
    return len(set(ids)) == 1


async def is_active(redis: Redis, sale: int) -> bool:
    return bool(await redis.sismember(keys.ACTIVE_SALES, str(sale)))


# ---- trimming ------------------------------------------------------------------------------------------------


async def test_a_sale_stream_loses_only_what_every_group_acknowledged(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = await new_sale(store, redis, pg, new_sale_id(), stream_tail_ms=0)
    await rising(sale, 1, 6)
    await asyncio.sleep(0.01)  # the newest entries a millisecond of their own: all that a stream without tail keeps
    await store.execute(sale.id, 1, CloseLot(at_ms=END))
    events, journal = keys.sale_events(sale.id), keys.sale_journal(sale.id)
    await Persister(redis, pg).drain_once()
    written = await store.journal_length(sale.id)

    await sale.janitor.tidy_sale(sale.id)  # settlement has read nothing yet: every event stays
    assert await redis.xlen(events) == 8  # opened, 6 bids, sold
    assert await only_the_newest_millisecond(redis, journal)  # the persister has it all
    assert await redis.xlen(journal) < written == await store.journal_length(sale.id)  # what went is counted

    await redis.xgroup_create(events, keys.SETTLEMENT_GROUP, id="0")
    await redis.xreadgroup(keys.SETTLEMENT_GROUP, "slow", {events: ">"}, count=3)  # read, not acknowledged
    await sale.janitor.tidy_sale(sale.id)
    assert await redis.xlen(events) == 8  # the group still needs all of them

    await sale.settle()  # another consumer of the group: the three "slow" holds stay pending
    await sale.janitor.tidy_sale(sale.id)
    assert await redis.xlen(events) == 8
    held = [entry_id for entry_id, _ in await redis.xrange(events, count=3)]
    await redis.xack(events, keys.SETTLEMENT_GROUP, *held)
    await sale.janitor.tidy_sale(sale.id)
    assert await only_the_newest_millisecond(redis, events)


async def test_a_sale_stream_keeps_its_tail_however_recorded(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = await new_sale(store, redis, pg, new_sale_id(), stream_tail_ms=60_000)
    await rising(sale, 1, 4)
    await record_and_settle(sale, Persister(redis, pg))
    assert (await sale.janitor.tidy_sale(sale.id)).trimmed == 0  # all written within the last minute
    assert await redis.xlen(keys.sale_events(sale.id)) == 5


async def test_a_lot_stream_keeps_its_tail_and_whatever_the_record_lacks(
    pg_store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = await new_sale(pg_store, redis, pg, new_sale_id(), lots=1, lot_stream_tail=10)
    await rising(sale, 1, 29)  # 30 events
    stream = keys.lot_events(sale.id, 1)
    await sale.janitor.tidy_sale(sale.id)
    assert await redis.xlen(stream) == 30  # nothing recorded yet: nothing goes

    await Persister(redis, pg).drain_once()
    await sale.janitor.tidy_sale(sale.id)
    assert await redis.xlen(stream) == 10
    recorded = await load_lot_events(pg, sale.id, 1)
    assert len(recorded) == 30
    assert await pg_store.events_after(sale.id, 1, 0) == recorded  # what the stream lost, from the record
    assert await pg_store.events_after(sale.id, 1, 5, limit=7) == recorded[5:12]  # across the seam, paged
    assert await pg_store.stream_events_after(sale.id, 1, 25) == recorded[25:]
    with pytest.raises(EventsTrimmed):
        await pg_store.stream_events_after(sale.id, 1, 0)
    without_record = LotStore(redis)
    try:
        with pytest.raises(EventsTrimmed):
            await without_record.events_after(sale.id, 1, 0)
    finally:
        await without_record.close()


# ---- retiring and purging ------------------------------------------------------------------------------------


async def test_a_finished_sale_is_retired_once_recorded_and_settled_and_purged_after_the_grace(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = await new_sale(store, redis, pg, new_sale_id())
    persister = Persister(redis, pg)
    await rising(sale, 1, 3)
    await record_and_settle(sale, persister)
    assert (await sale.janitor.tidy_sale(sale.id)).retired == 0  # its lots are open

    await close_all(sale)
    assert (await sale.janitor.tidy_sale(sale.id)).retired == 0  # the closes are neither recorded nor settled
    await persister.drain_once()
    assert (await sale.janitor.tidy_sale(sale.id)).retired == 0  # recorded, not settled
    await sale.settle()
    assert (await sale.janitor.pass_once()).retired == 1
    assert not await is_active(redis, sale.id)
    assert await redis.zscore(keys.RETIRED_SALES, str(sale.id)) == sale.clock.now_ms
    states = await store.states(sale.id)
    assert len(states) == 2  # still readable through the grace

    sale.clock.now_ms += DAY_MS - 1
    assert (await sale.janitor.pass_once()).purged == 0
    sale.clock.now_ms += 1
    assert (await sale.janitor.pass_once()).purged == 1
    assert await sale_keys(redis, sale.id) == {keys.sale_retired(sale.id), keys.sale_fence(sale.id)}
    assert await redis.zscore(keys.RETIRED_SALES, str(sale.id)) is None
    assert not await is_active(redis, sale.id)
    for terms, state in zip(sale.lots, states, strict=True):
        assert await rebuild_from_record(pg, terms) == state  # what went can be rebuilt from the record
    assert (await sale.janitor.pass_once()).purged == 0


async def test_a_purged_sale_reads_from_the_record(
    pg_store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    """For a store with a pool (every service's): its lots rebuilt, its events, and watchers given snapshots."""
    sale = await new_sale(pg_store, redis, pg, new_sale_id(), in_catalogue=True)
    await rising(sale, 1, 5)
    await close_all(sale)
    states, events = await pg_store.states(sale.id), await pg_store.events_after(sale.id, 1, 0)
    await record_and_settle(sale, Persister(redis, pg))
    await sale.janitor.pass_once()
    sale.clock.now_ms += DAY_MS
    assert (await sale.janitor.pass_once()).purged == 1

    assert await pg_store.states(sale.id) == states
    assert await pg_store.state(sale.id, 2) == states[1]
    assert await pg_store.events_after(sale.id, 1, 0) == events
    assert await pg_store.events_after(sale.id, 1, 3, limit=2) == events[3:5]
    with pytest.raises(LotNotFound):  # nothing to bid on, and nothing written
        await pg_store.execute(sale.id, 1, bid(END + 1, 1, 10_000))
    assert not await is_active(redis, sale.id)
    hub = Hub(redis, pg_store)
    try:
        watch = Watch(sale.id, None, Outbox())
        assert await hub.subscribe(watch, {1: 2}) is None
        frames = [json.loads(frame) for frame in await watch.outbox.take()]
        assert [(f["type"], f["lot"], f["lot_state"]["seq"]) for f in frames] == [
            ("snapshot", 1, states[0].seq),
            ("snapshot", 2, states[1].seq),
        ]
    finally:
        await hub.close()


async def test_a_sale_whose_lots_are_not_loaded_yet_is_never_retired(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    await redis.sadd(keys.ACTIVE_SALES, sale_id)
    janitor = Janitor(redis, pg, only_sales=frozenset({sale_id}))
    assert (await janitor.tidy_sale(sale_id)).retired == 0
    assert await is_active(redis, sale_id)
    await redis.srem(keys.ACTIVE_SALES, sale_id)


async def test_a_write_to_a_retired_sale_brings_it_back_until_recorded(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = await new_sale(store, redis, pg, new_sale_id())
    persister = Persister(redis, pg)
    await close_all(sale)
    await record_and_settle(sale, persister)
    assert (await sale.janitor.pass_once()).retired == 1

    late = bid(END + 10_000, 1, 500)  # long after the hammer: refused, but journalled
    assert await send(store, sale.id, 1, late) == Rejected("lot_closed", 0)
    assert await is_active(redis, sale.id)
    assert not await redis.hexists(keys.sale_retired(sale.id), keys.RETIRED_AT_FIELD)
    sale.clock.now_ms += DAY_MS
    assert (await sale.janitor.pass_once()).purged == 0  # the mark moved: nothing goes
    assert (await sale.janitor.pass_once()).retired == 0  # the late bid's journal entry is not recorded yet
    await persister.drain_once()
    assert (await sale.janitor.pass_once()).retired == 1


async def test_a_standing_published_after_the_purge_is_recorded_and_purged_in_turn(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    from auction.engine.standing import BidderStanding

    sale = await new_sale(store, redis, pg, new_sale_id())
    persister = Persister(redis, pg)
    await close_all(sale)
    await record_and_settle(sale, persister)
    await sale.janitor.pass_once()
    sale.clock.now_ms += DAY_MS
    assert (await sale.janitor.pass_once()).purged == 1

    await store.set_standing(sale.id, BidderStanding(7, 107, 1000, "suspended", 0, ()))  # vetting republishes
    assert await is_active(redis, sale.id)
    for _ in range(2):  # the first pass finds the groups gone with the purge, and makes them again
        await record_and_settle(sale, persister)
    assert (await sale.janitor.pass_once()).retired == 1
    sale.clock.now_ms += DAY_MS
    assert (await sale.janitor.pass_once()).purged == 1
    assert await sale_keys(redis, sale.id) == {keys.sale_retired(sale.id), keys.sale_fence(sale.id)}


async def test_a_write_after_the_janitor_checked_puts_the_sale_back(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    """The race retiring guards against: the sale is finished when checked, and written to before it leaves."""
    sale = await new_sale(store, redis, pg, new_sale_id())
    await close_all(sale)
    await record_and_settle(sale, Persister(redis, pg))
    checks = 0

    class WrittenToMeanwhile(Janitor):
        async def _finished(self, sale_id: int, lots: list[int]) -> bool:
            nonlocal checks
            finished = await super()._finished(sale_id, lots)
            checks += 1
            if checks == 2:  # the check after the mark: a late bid lands right after it
                await send(store, sale_id, 1, bid(END + 10_000, 1, 500))
            return finished

    janitor = WrittenToMeanwhile(redis, pg, only_sales=frozenset({sale.id}), clock=sale.clock)
    assert (await janitor.pass_once()).retired == 0
    assert await is_active(redis, sale.id)


async def test_two_janitors_at_once_keep_every_event_and_retire_the_sale_once(
    store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = await new_sale(store, redis, pg, new_sale_id(), stream_tail_ms=0, lot_stream_tail=3)
    second = Janitor(redis, pg, clock=sale.clock, only_sales=frozenset({sale.id}), stream_tail_ms=0, lot_stream_tail=3)
    persister = Persister(redis, pg)
    for round_ in range(5):
        await rising(sale, 1, 4, start=100 + 10_000 * round_)
        await asyncio.gather(record_and_settle(sale, persister), sale.janitor.pass_once(), second.pass_once())
    await close_all(sale)
    await record_and_settle(sale, persister)
    done = await asyncio.gather(sale.janitor.pass_once(), second.pass_once())
    done += await asyncio.gather(sale.janitor.pass_once(), second.pass_once())
    assert not await is_active(redis, sale.id)
    assert await redis.zscore(keys.RETIRED_SALES, str(sale.id)) is not None
    recorded = await load_lot_events(pg, sale.id, 1)
    assert [event.seq for event in recorded] == list(range(1, len(recorded) + 1))
    assert recorded[-1].seq == (await store.state(sale.id, 1)).seq  # type: ignore[union-attr]


# ---- the live feed past the tail -----------------------------------------------------------------------------


async def test_a_watcher_resuming_from_before_the_stream_gets_a_snapshot_and_a_gap_drops_it(
    pg_store: LotStore, redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale = await new_sale(pg_store, redis, pg, new_sale_id(), lots=1, lot_stream_tail=5)
    await rising(sale, 1, 19)
    await Persister(redis, pg).drain_once()
    await sale.janitor.tidy_sale(sale.id)
    hub = Hub(redis, pg_store)
    try:
        far_behind = Watch(sale.id, None, Outbox())
        assert await hub.subscribe(far_behind, {1: 3}) is None
        frames = [json.loads(frame) for frame in await far_behind.outbox.take()]
        assert [(f["type"], f["lot_state"]["seq"]) for f in frames] == [("snapshot", 20)]

        recent = Watch(sale.id, None, Outbox())
        assert await hub.subscribe(recent, {1: 17}) is None
        frames = [json.loads(frame) for frame in await recent.outbox.take()]
        assert [(f["type"], f["seq"]) for f in frames] == [("event", 18), ("event", 19), ("event", 20)]

        behind = Watch(sale.id, None, Outbox())
        behind.priming, behind.last_seq[1] = False, 2
        last = (await pg_store.events_after(sale.id, 1, 19))[0]
        frame = await hub.event_frame(sale.id, 1, last)
        assert frame is not None
        await hub.offer(behind, 1, last.seq, frame)  # seqs 3..19 are gone from the stream: never a silent gap
        assert behind.outbox.lagged
    finally:
        await hub.close()


# ---- memory under a steady stream of bids --------------------------------------------------------------------

ROUNDS = 30
FLOOD_PER_ROUND = 180  # one buyer's refused bids (too low), each with a fresh client id: an answer and a verdict
RAISES_PER_ROUND = 20  # accepted bids, two buyers taking turns: an event in two streams, an answer, a verdict
ROUND_S = 0.15  # about 1,300 bids a second
WINDOW_MS = 300  # the idempotency window, shrunk to fit a test (production: 10 minutes)


async def sale_memory(redis: Redis, sale: int) -> dict[str, int]:
    """The sale's keys: how many, their bytes (MEMORY USAGE), its answers, and its streams' lengths."""
    names = sorted(await sale_keys(redis, sale))
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.memory_usage(name, samples=0)
        sizes = await pipe.execute()
    answers = sum(1 for name in names if ":answer:" in name)
    return {
        "bytes": sum(size or 0 for size in sizes),
        "answers": answers,
        "journal": await redis.xlen(keys.sale_journal(sale)),
        "sale_events": await redis.xlen(keys.sale_events(sale)),
        "lot_events": await redis.xlen(keys.lot_events(sale, 1)),
    }


async def flood_and_raise(store: LotStore, sale: int, round_: int, price: int) -> int:
    """One round of bids; returns the lot's next minimum after it."""
    flood = [bid(T + round_, 1, 1) for _ in range(FLOOD_PER_ROUND)]
    refused = [store.submit(sale, 1, command, dedupe_key(command)) for command in flood]
    for i in range(RAISES_PER_ROUND):
        outcome = await send(store, sale, 1, bid(T + round_, 2 + i % 2, price))
        assert isinstance(outcome, Accepted), outcome
        price = outcome.state.next_minimum
    assert all(isinstance(answer, Rejected) for answer in await asyncio.gather(*refused))
    return price


async def test_memory_stays_bounded_under_a_steady_stream_of_bids(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    """Six thousand bids on one hot lot, nine in ten a buyer's flood of refusals, while the persister, settlement
    and the janitor run as the worker runs them, with the windows shrunk to fit a test: the sale's keys stay
    under a bound set by the windows, however many bids have gone by. Without the janitor and the answers'
    expiry the same bids leave well over a megabyte, growing with every bid."""
    store = LotStore(redis, pg=pg, idempotency_window_ms=WINDOW_MS)
    sale = await new_sale(store, redis, pg, new_sale_id(), lots=1, stream_tail_ms=100, lot_stream_tail=50)
    stop = asyncio.Event()

    async def settle_pass() -> int:
        await sale.settle()
        return 0

    loops = [
        asyncio.create_task(Persister(redis, pg, only_sales=frozenset({sale.id})).run(stop)),
        asyncio.create_task(follow(stop, settle_pass, retry_on=StoreError, name="settlement", idle_s=0.05)),
        asyncio.create_task(sale.janitor.run(stop, every_s=0.1)),
    ]
    samples: list[dict[str, int]] = []
    try:
        price = 100
        for round_ in range(ROUNDS):
            started = asyncio.get_running_loop().time()
            price = await flood_and_raise(store, sale.id, round_, price)
            samples.append(await sale_memory(redis, sale.id))
            await asyncio.sleep(max(0.0, ROUND_S - (asyncio.get_running_loop().time() - started)))
    finally:
        stop.set()
        await asyncio.gather(*loops)
        await store.close()
    third = ROUNDS // 3
    early, late = samples[third : 2 * third], samples[2 * third :]
    peak = {name: max(sample[name] for sample in samples[third:]) for name in samples[0]}
    print(f"after {ROUNDS * (FLOOD_PER_ROUND + RAISES_PER_ROUND)} bids, peaks past the warm-up: {peak}")
    assert peak["bytes"] < 400_000
    assert peak["answers"] < 3 * (FLOOD_PER_ROUND + RAISES_PER_ROUND) * WINDOW_MS / (1000 * ROUND_S)
    assert peak["lot_events"] < 50 + 3 * RAISES_PER_ROUND
    assert max(sample["bytes"] for sample in late) < 1.5 * max(sample["bytes"] for sample in early)  # flat
