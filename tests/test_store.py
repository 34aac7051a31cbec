"""LotStore against real Redis (and PostgreSQL): dedupe, batching, CAS between processes, limits, durability."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from auction import keys
from auction.engine.ladder import EBAY_LADDER_USD
from auction.engine.lot import LotTerms, replay
from auction.engine.messages import AnyEvent, PlaceBid, Rejected
from auction.store import (
    FOREIGN_ERRORS,
    MAX_QUEUE_AGE_NS,
    Accepted,
    LotNotFound,
    LotStore,
    Outcome,
    StoreClosed,
    StoreUnavailable,
    translate_errors,
)
from auction.store.planner import pack_args
from ops.embedded import EmbeddedRedis
from tests.lots import END, START, bid, dedupe_key, max_bid, terms_for

T = START + 1000


@pytest.fixture
async def other(redis_url: str) -> AsyncIterator[LotStore]:
    """A second store on its own connection: another gateway process, as far as Redis can tell. It forwards
    the commands of a sale that `store` holds."""
    client = Redis.from_url(redis_url)
    lot_store = LotStore(client)
    try:
        yield lot_store
    finally:
        await lot_store.close()
        await client.aclose()


@pytest.fixture
async def racers(redis: Redis, redis_url: str) -> AsyncIterator[tuple[LotStore, LotStore]]:
    """Two stores that both commit directly (the optimistic mode): only the compare-and-set keeps them right."""
    client = Redis.from_url(redis_url)
    first, second = LotStore(redis, writers="optimistic"), LotStore(client, writers="optimistic")
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()
        await client.aclose()


@pytest.fixture
async def lot(store: LotStore, new_sale_id: Callable[[], int]) -> LotTerms:
    terms = terms_for(new_sale_id())
    await store.create_lots([terms])
    return terms


async def send(store: LotStore, terms: LotTerms, command: PlaceBid) -> Outcome:
    return await store.execute(terms.sale, terms.lot, command, dedupe=dedupe_key(command))


def rising_bids(count: int, at_ms: int = T) -> list[PlaceBid]:
    """Each from a new bidder, each exactly one eBay step above the last: in order, every one is accepted."""
    amounts = list(
        itertools.accumulate(range(count - 1), lambda price, _: EBAY_LADDER_USD.next_bid(price), initial=100)
    )
    return [bid(at_ms + i, bidder=i + 1, amount=amount) for i, amount in enumerate(amounts)]


def events_of(outcomes: list[Outcome]) -> list[AnyEvent]:
    events = [e for o in outcomes if isinstance(o, Accepted) for e in o.events]
    return sorted(events, key=lambda e: e.seq)


async def stream_seqs(redis: Redis, terms: LotTerms) -> list[int]:
    entries: list[tuple[bytes, dict[bytes, bytes]]]
    entries = await redis.xrange(keys.lot_events(terms.sale, terms.lot))  # type: ignore[assignment]
    return [int(entry_id.split(b"-")[0]) for entry_id, _ in entries]


async def assert_consistent(store: LotStore, redis: Redis, terms: LotTerms) -> list[AnyEvent]:
    """Gap-free seqs 1..N in the stream, state version N, and state == replay of the stream."""
    recorded = await store.events_after(terms.sale, terms.lot, 0, limit=100_000)
    state = await store.state(terms.sale, terms.lot)
    assert await stream_seqs(redis, terms) == list(range(1, len(recorded) + 1))
    assert state is not None and state.seq == len(recorded)
    assert await redis.hget(keys.lot_state(terms.sale, terms.lot), keys.VERSION_FIELD) == str(state.seq).encode()
    assert replay(terms, recorded) == state
    return recorded


# ---- dedupe -----------------------------------------------------------------------------------------------


async def test_a_repeated_bid_gets_the_first_answer_and_changes_nothing(store: LotStore, lot: LotTerms) -> None:
    first_bid = bid(T, 1, 100)
    first = await send(store, lot, first_bid)
    await send(store, lot, bid(T + 1, 2, 500))  # the lot moves on
    again = await send(store, lot, first_bid)
    assert isinstance(first, Accepted)
    assert again == first
    assert len(await assert_consistent(store, store._redis, lot)) == 3  # opened, bid, bid: the repeat added nothing


async def test_a_repeated_rejection_stays_rejected(store: LotStore, lot: LotTerms) -> None:
    low = bid(T, 1, 50)
    assert await send(store, lot, low) == Rejected("too_low", 100)
    assert await send(store, lot, low) == Rejected("too_low", 100)
    assert await store.events_after(lot.sale, lot.lot, 0) == []


async def test_concurrent_repeats_get_one_answer_and_one_set_of_events(
    store: LotStore, other: LotStore, redis: Redis, lot: LotTerms
) -> None:
    command = max_bid(T, 1, 1000)
    answers = await asyncio.gather(*[send(s, lot, command) for s in (store, other) * 5])
    assert all(answer == answers[0] for answer in answers)
    assert isinstance(answers[0], Accepted)
    assert await assert_consistent(store, redis, lot) == list(answers[0].events)


async def test_an_answer_is_kept_for_the_idempotency_window_then_a_resend_is_decided_afresh(
    redis: Redis, new_sale_id: Callable[[], int]
) -> None:
    store = LotStore(redis, idempotency_window_ms=400)
    try:
        terms = terms_for(new_sale_id())
        await store.create_lots([terms])
        first_bid = bid(T, 1, 100)
        first = await send(store, terms, first_bid)
        assert isinstance(first, Accepted)
        answer = keys.answer(terms.sale, str(dedupe_key(first_bid)))
        assert 0 < await redis.pttl(answer) <= 400  # each answer a key of its own, expiring on its own
        assert await send(store, terms, first_bid) == first  # within the window: the first answer

        await asyncio.sleep(0.5)
        assert not await redis.exists(answer)
        again = await send(store, terms, first_bid)  # decided afresh: the bidder leads already
        assert isinstance(again, Rejected) and again.reason == "already_leading"
    finally:
        await store.close()


# ---- batching and CAS --------------------------------------------------------------------------------------


async def test_200_concurrent_bids_commit_gap_free_in_batches(store: LotStore, redis: Redis, lot: LotTerms) -> None:
    outcomes = await asyncio.gather(*[send(store, lot, command) for command in rising_bids(200)])
    assert all(isinstance(o, Accepted) for o in outcomes)
    recorded = await assert_consistent(store, redis, lot)
    assert recorded == events_of(outcomes)
    assert store.stats.largest_batch > 1, "concurrent commands should share commits"
    assert store.stats.batches < 200


async def test_a_lone_command_is_not_delayed(store: LotStore, lot: LotTerms) -> None:
    await send(store, lot, bid(T, 1, 100))
    assert (store.stats.batches, store.stats.largest_batch) == (1, 1)


async def test_a_stale_cache_is_refreshed_from_the_conflict_reply(
    racers: tuple[LotStore, LotStore], redis: Redis, lot: LotTerms
) -> None:
    store, other = racers
    await send(store, lot, bid(T, 1, 100))  # store caches the lot at version 2
    await send(other, lot, bid(T + 1, 2, 200))  # other moves it to version 3
    third = await send(store, lot, bid(T + 2, 3, 300))  # decided on a stale state first
    assert store.stats.conflicts == 1
    assert isinstance(third, Accepted) and third.state.price == 300
    await assert_consistent(store, redis, lot)


async def test_two_stores_bidding_on_one_lot_lose_and_duplicate_nothing(
    store: LotStore, other: LotStore, redis: Redis, lot: LotTerms
) -> None:
    """One writer: `other` forwards everything to `store`, which holds the sale; none is refused busy."""
    commands = rising_bids(200)
    outcomes = await asyncio.gather(*[send((store, other)[i % 2], lot, c) for i, c in enumerate(commands)])
    recorded = await assert_consistent(store, redis, lot)
    assert recorded == events_of(outcomes), "every committed event answered exactly once, nothing else recorded"
    assert all(isinstance(o, Accepted) or o.reason == "too_low" for o in outcomes)
    assert other.stats.forwarded > 0 and store.stats.served == other.stats.forwarded
    assert store.stats.conflicts == other.stats.conflicts == 0


async def test_two_racing_stores_on_one_lot_lose_and_duplicate_nothing(
    racers: tuple[LotStore, LotStore], redis: Redis, lot: LotTerms
) -> None:
    """Both commit directly (optimistic): the compare-and-set alone keeps the record right."""
    store, other = racers
    commands = rising_bids(200)
    outcomes = await asyncio.gather(*[send((store, other)[i % 2], lot, c) for i, c in enumerate(commands)])
    recorded = await assert_consistent(store, redis, lot)
    assert recorded == events_of(outcomes), "every committed event answered exactly once, nothing else recorded"
    assert all(isinstance(o, Accepted) or o.reason in ("too_low", "busy") for o in outcomes)


# ---- limits and errors -------------------------------------------------------------------------------------


async def test_past_max_pending_it_says_busy_at_once(redis: Redis, lot: LotTerms) -> None:
    small = LotStore(redis, max_pending=5)
    try:
        outcomes = await asyncio.gather(*[send(small, lot, c) for c in rising_bids(50)])
    finally:
        await small.close()
    assert [o for o in outcomes if o == Rejected("busy")] == [Rejected("busy")] * 45
    assert small.stats.busy == 45


async def test_once_the_oldest_command_has_waited_too_long_new_ones_are_busy_at_once(
    redis: Redis, store: LotStore, lot: LotTerms
) -> None:
    """A stalled Redis (here paused on purpose) must not let the queue grow for seconds: shed at the door."""
    first, second, third = rising_bids(3)
    await redis.execute_command("CLIENT", "PAUSE", 400, "ALL")  # the store's commit now waits ~400 ms
    waiting = asyncio.create_task(send(store, lot, first))
    await asyncio.sleep(MAX_QUEUE_AGE_NS / 1e9 + 0.05)
    refused = await asyncio.wait_for(send(store, lot, second), timeout=0.05)  # at once, not after the pause
    assert refused == Rejected("busy")
    assert isinstance(await waiting, Accepted)  # what was queued is still committed
    await asyncio.sleep(0.01)  # let the committer finish its turn (answers resolve before it does)
    assert isinstance(await send(store, lot, third), Accepted)  # and the door opens again once it drains


async def test_an_unknown_lot_raises_without_harming_the_batch(store: LotStore, lot: LotTerms) -> None:
    missing = store.execute(lot.sale, 999, bid(T, 1, 100))
    present = send(store, lot, bid(T, 1, 100))
    results = await asyncio.gather(missing, present, return_exceptions=True)
    assert isinstance(results[0], LotNotFound)
    assert isinstance(results[1], Accepted)


async def test_create_lots_is_idempotent_and_states_lists_them(store: LotStore, new_sale_id: Callable[[], int]) -> None:
    sale = new_sale_id()
    lots = [terms_for(sale, lot_no) for lot_no in (3, 1, 2)]
    await store.create_lots(lots)
    await store.execute(sale, 2, bid(T, 1, 100))
    await store.create_lots(lots)  # again: lot 2 keeps its bid
    states = await store.states(sale)
    assert [s.terms.lot for s in states] == [1, 2, 3]
    assert [s.seq for s in states] == [0, 2, 0]
    assert sale in {int(s) for s in await store._redis.smembers(keys.ACTIVE_SALES)}
    assert await store.state(sale, 4) is None


async def test_every_foreign_error_becomes_store_unavailable() -> None:
    for foreign in FOREIGN_ERRORS:
        with pytest.raises(StoreUnavailable) as caught, translate_errors("testing"):
            raise foreign("boom")
        assert isinstance(caught.value.__cause__, foreign)


async def test_an_unreachable_redis_raises_store_unavailable(new_sale_id: Callable[[], int]) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))  # fail at once, no backoff
    dead = LotStore(client)
    try:
        with pytest.raises(StoreUnavailable):
            await dead.execute(new_sale_id(), 1, bid(T, 1, 100))
    finally:
        await dead.close()
        await client.aclose()


async def test_a_closed_store_takes_no_commands(redis: Redis, lot: LotTerms) -> None:
    closing = LotStore(redis)
    await closing.close()
    with pytest.raises(StoreClosed):
        await send(closing, lot, bid(T, 1, 100))


def test_a_decoding_client_is_refused() -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        LotStore(Redis(decode_responses=True))


# ---- durability ---------------------------------------------------------------------------------------------


async def test_acknowledged_bids_survive_kill_9_of_redis(
    embedded_redis_factory: Callable[..., EmbeddedRedis], new_sale_id: Callable[[], int]
) -> None:
    server = embedded_redis_factory(appendfsync="always")
    terms = terms_for(new_sale_id())
    async with Redis.from_url(server.url) as client:
        acked = LotStore(client)
        await acked.create_lots([terms])
        outcomes = await asyncio.gather(*[send(acked, terms, c) for c in rising_bids(50)])
        server.kill()
        await server.astart()

        async with Redis.from_url(server.url) as fresh:  # a gateway started after the crash
            assert await LotStore(fresh).events_after(terms.sale, terms.lot, 0) == events_of(outcomes)
        after = await resend_until_answered(acked, terms, bid(T + 100, 99, 100_000))
        assert isinstance(after, Accepted) and after.events[0].seq == len(events_of(outcomes)) + 1
        await acked.close()


async def resend_until_answered(store: LotStore, terms: LotTerms, command: PlaceBid) -> Outcome:
    """What a client does after StoreUnavailable: send the same bid again. Here the first try may meet the
    connection that died with the server; the next one reconnects and reloads the script (NOSCRIPT)."""
    for _ in range(3):
        try:
            return await send(store, terms, command)
        except StoreUnavailable:
            continue
    raise AssertionError("the store did not recover after Redis restarted")


async def test_postgres_mode_records_events_before_answering(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    terms = terms_for(new_sale_id())
    durable = LotStore(redis, durability="postgres", pg=pg)
    await durable.create_lots([terms])
    try:
        outcomes = await asyncio.gather(*[send(durable, terms, c) for c in rising_bids(20)])
        rows = await pg.fetch("SELECT seq, type FROM lot_events WHERE sale_id = $1 ORDER BY seq", terms.sale)
    finally:
        await durable.close()
    assert [(r["seq"], r["type"]) for r in rows] == [(e.seq, type(e).__name__) for e in events_of(outcomes)]


def test_postgres_mode_needs_a_pool(redis: Redis) -> None:
    with pytest.raises(ValueError, match="pool"):
        LotStore(redis, durability="postgres")


async def test_a_bid_at_the_end_is_too_late(store: LotStore, lot: LotTerms) -> None:
    await send(store, lot, bid(T, 1, 100))
    assert await send(store, lot, bid(END, 2, 200)) == Rejected("too_late")


# ---- the commit script's packed arguments ----------------------------------------------------------------------


async def test_packed_arguments_reach_the_script_as_the_strings_redis_would_have_had(redis: Redis) -> None:
    """Every msgpack string length class, binary bytes (not UTF-8), numbers as their decimal text, in order."""
    binary = [bytes(range(size)) for size in (0, 1, 31)]  # fixstr
    binary += [bytes([0xFF, 0x00]) * half for half in (16, 127, 128, 32_767, 32_768)]  # str8, str8, str16, str16, str32
    args: list[str | bytes | int] = [0, -7, 12_345_678_901_234, "", "lot:12", "caf\u00e9", *binary]
    unpacked = await redis.eval("return cmsgpack.unpack(ARGV[1])", 0, pack_args(args))  # type: ignore[misc]
    expected = [
        str(arg).encode() if isinstance(arg, int) else arg.encode() if isinstance(arg, str) else arg for arg in args
    ]
    assert [len(value) for value in unpacked] == [len(value) for value in expected]
    assert unpacked == expected


# ---- pipelined commits ----------------------------------------------------------------------------------------


async def in_flight(store: LotStore, count: int) -> None:
    """Wait until `count` commits of `store` are sent and unanswered (Redis is paused for writes)."""
    for _ in range(500):
        if store.in_flight() >= count:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never {count} commits in flight")


async def test_a_commit_decided_on_one_that_fails_fails_too_and_both_are_decided_again(
    redis: Redis, racers: tuple[LotStore, LotStore], lot: LotTerms
) -> None:
    store, other = racers
    first, second, a, b = rising_bids(4)
    assert isinstance(await send(store, lot, first), Accepted)  # `store` now knows the lot at seq 2
    assert isinstance(await send(other, lot, second), Accepted)  # another process moves it on behind its back
    await redis.execute_command("CLIENT", "PAUSE", 200, "WRITE")  # commits wait in Redis; reads don't
    answer_a = store.submit(lot.sale, lot.lot, a, dedupe=dedupe_key(a))
    await in_flight(store, 1)  # decided on the stale state
    answer_b = store.submit(lot.sale, lot.lot, b, dedupe=dedupe_key(b))
    await in_flight(store, 2)  # decided on a's outcome, before a's reply
    assert isinstance(await answer_a, Accepted)
    assert isinstance(await answer_b, Accepted)
    assert store.stats.conflicts == 2  # both failed their check once, then were decided again, in order
    recorded = await assert_consistent(store, redis, lot)
    bidders = [event.bidder for event in recorded if hasattr(event, "bidder") and hasattr(event, "client_id")]
    assert bidders[-4:] == [first.bidder, second.bidder, a.bidder, b.bidder]
    state = await store.state(lot.sale, lot.lot)
    assert state is not None and state.leader == b.bidder and state.price == b.amount


async def test_a_broken_commit_connection_fails_what_was_in_flight_and_the_next_command_works(
    redis: Redis, store: LotStore, lot: LotTerms
) -> None:
    first, lost, later = rising_bids(3)
    assert isinstance(await send(store, lot, first), Accepted)
    await redis.execute_command("CLIENT", "PAUSE", 300, "WRITE")
    answer = store.submit(lot.sale, lot.lot, lost, dedupe=dedupe_key(lost))
    await in_flight(store, 1)
    clients: str = (await redis.execute_command("CLIENT", "LIST")).decode()
    (pipe_id,) = [line.split()[0].split("=")[1] for line in clients.splitlines() if " cmd=eval " in f" {line} "]
    await redis.execute_command("CLIENT", "KILL", "ID", pipe_id)
    with pytest.raises(StoreUnavailable):
        await answer  # the outcome is unknown to the caller, who sends it again with the same client id
    assert isinstance(await send(store, lot, later), Accepted)
    recorded = await assert_consistent(store, redis, lot)
    assert lost.client_id not in {getattr(event, "client_id", None) for event in recorded}  # killed before it ran


async def test_more_commands_retried_than_a_batch_holds_are_all_answered(
    racers: tuple[LotStore, LotStore], lot: LotTerms
) -> None:
    """Two stores racing with 1,500 bids each on one lot: far more commands wait for retry than one batch
    takes. Every one is answered (a committer that kept shuffling its retries never yielded, and hung)."""
    store, other = racers
    first, second, *commands = rising_bids(3002)
    await send(store, lot, first)
    await send(other, lot, second)  # `store` now holds a stale copy: its first two batches (1,024) will fail
    outcomes = await asyncio.wait_for(
        asyncio.gather(*[send((store, other)[i % 2], lot, c) for i, c in enumerate(commands)]), 60
    )
    assert len(outcomes) == 3000
    assert store.stats.conflicts + other.stats.conflicts > 0
