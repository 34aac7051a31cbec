"""Several writers on the same lots, racing, with a delay at every await of the commit path: the record must
still be a history the rules produce, and every answer must be the recorded one.

A hypothesis state machine drives one sale against real Redis. Its rules don't wait for what they start: a bid
from one of several stores (other gateway processes, as far as Redis can tell), a tick of the scheduler, a
settlement cancellation of a buyer's bids, a change of a buyer's limit, the sale's lease snatched from its
owner, the clock moving on. Between rules the event loop runs for a moment, so commands overlap in every way
the delays allow. Every Redis connection of every store waits a random time before each write and each read
(tests/redis_faults.py), so each await of the commit path (loading lots and bidders, the commit, its reply, a
forwarded command and its answer, a lease) is a place where the others get ahead.

At the end, all lots closed, the checks: the verifier replays the record from PostgreSQL alone (auction audit
verify); every answer a caller got is the verdict the journal holds for its command (a `busy` is in no
verdict: it was never decided); every lot in Redis is its record replayed; every exposure is what the lots
imply. Run for both writer modes.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from redis.asyncio import Redis

from auction import keys
from auction.engine.journal import JOURNAL_DECODER, Committed, Verdict
from auction.engine.lot import LotTerms, exposure_of, replay
from auction.engine.messages import EVENT_DECODER, AnyEvent, PlaceBid, Rejected
from auction.engine.standing import BidderStanding
from auction.scheduler import Scheduler
from auction.store import BACKGROUND_PRIORITY, GATEWAY_PRIORITY, Accepted, LotStore, Outcome, StoreError, Writers
from settlement.suspensions import cancel_bids
from tests.lots import END, MINUTE, START, terms_for
from tests.redis_faults import hooked_client, random_delays
from tests.verified import verify_records

LOTS = (1, 2, 3)
BIDDERS = (1, 2, 3, 4, 5)
STORES = 3
MAX_DELAY_S = 0.004
# Examples per writer mode: 12 in `make test` (about 20 s); more for a long hunt, e.g. CONCURRENCY_EXAMPLES=500.
CONCURRENCY_EXAMPLES = int(os.environ.get("CONCURRENCY_EXAMPLES", "12"))


class Racing(RuleBasedStateMachine):
    redis_url: ClassVar[str]
    database_url: ClassVar[str]
    new_sale_id: ClassVar[Callable[[], int]]
    writers: ClassVar[Writers]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clients: list[Redis] = []
        self.stores: list[LotStore] = []
        self.pending: list[asyncio.Future[Any]] = []
        self.bids: list[tuple[PlaceBid, asyncio.Future[Outcome]]] = []
        self.now = START + 1000
        self.client_ids = 0

    def run(self, work: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(work)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        self.pending.append(self.loop.create_task(work))

    @initialize(seed=st.integers(0, 2**32))
    def build(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.sale = type(self).new_sale_id()
        self.terms: dict[int, LotTerms] = {lot: terms_for(self.sale, lot, reserve=300) for lot in LOTS}
        self.run(self._build())

    async def _build(self) -> None:
        for index in range(STORES):
            client = hooked_client(self.redis_url, random_delays(random.Random(self.rnd.random()), MAX_DELAY_S))
            priority = BACKGROUND_PRIORITY if index == STORES - 1 else GATEWAY_PRIORITY
            store = LotStore(
                client, enforce_standing=True, writers=self.writers, priority=priority, lease_ms=400
            )  # a short lease: lapses and handovers happen within a run
            self.clients.append(client)
            self.stores.append(store)
        await self.stores[0].create_lots(list(self.terms.values()))
        for bidder in BIDDERS:
            await self.stores[0].set_standing(self.sale, _standing(bidder, 10**9))

    def let_run(self) -> None:
        self.run(asyncio.sleep(self.rnd.choice((0, 0.001, 0.003, 0.01))))

    @rule(store=st.integers(0, STORES - 1), lot=st.sampled_from(LOTS), bidder=st.sampled_from(BIDDERS),
          amount=st.integers(1, 60).map(lambda n: n * 50), kind=st.sampled_from(["bid", "max"]))  # fmt: skip
    def bid(self, store: int, lot: int, bidder: int, amount: int, kind: str) -> None:
        self.client_ids += 1
        command = PlaceBid(self.now, bidder, 100 + bidder, amount, f"r{self.client_ids}", kind)  # type: ignore[arg-type]
        future = self.run(self._submit(store, lot, command))
        self.bids.append((command, future))
        self.let_run()

    async def _submit(self, store: int, lot: int, command: PlaceBid) -> asyncio.Future[Outcome]:
        """Hand the bid to the store (which needs the running loop) without waiting for its answer."""
        return self.stores[store].submit(self.sale, lot, command, dedupe=f"{command.bidder}:{command.client_id}")

    @rule(lot=st.sampled_from(LOTS), bids=st.lists(
        st.tuples(st.integers(0, STORES - 1), st.sampled_from(BIDDERS), st.integers(1, 60), st.booleans()),
        min_size=2, max_size=12))  # fmt: skip
    def burst(self, lot: int, bids: list[tuple[int, int, int, bool]]) -> None:
        """Many bids on one lot at the same moment, through every store: the hot lot of a soft close."""
        for store, bidder, steps, is_max in bids:
            self.client_ids += 1
            kind = "max" if is_max else "bid"
            command = PlaceBid(self.now, bidder, 100 + bidder, steps * 50, f"r{self.client_ids}", kind)
            self.bids.append((command, self.run(self._submit(store, lot, command))))
        self.let_run()

    @rule(ms=st.integers(1, 30_000))
    def time_passes(self, ms: int) -> None:
        self.now += ms
        self.let_run()

    @rule(store=st.integers(0, STORES - 1))
    def scheduler_ticks(self, store: int) -> None:
        scheduler = Scheduler(self.stores[store], self.clients[store], only_sales=frozenset({self.sale}))
        self.spawn(scheduler.tick(self.now))
        self.let_run()

    @rule(store=st.integers(0, STORES - 1), lot=st.sampled_from(LOTS), bidder=st.sampled_from(BIDDERS))
    def settlement_cancels(self, store: int, lot: int, bidder: int) -> None:
        self.spawn(cancel_bids(self.stores[store], self.sale, lot, bidder, "for cause", self.now))
        self.let_run()

    @rule(bidder=st.sampled_from(BIDDERS), limit=st.sampled_from([500, 2_000, 5_000, 10**9]))
    def limit_changes(self, bidder: int, limit: int) -> None:
        self.spawn(self.stores[0].set_standing(self.sale, _standing(bidder, limit)))
        self.let_run()

    @rule()
    def lease_snatched(self) -> None:
        """As if the owner paused past its lease: the next command elsewhere takes the sale with a new fence."""
        self.spawn(self.clients[0].delete(keys.sale_owner(self.sale)))
        self.let_run()

    def teardown(self) -> None:
        try:
            self.run(asyncio.wait_for(self._finish(), 60))
        finally:
            self.run(self._close_or_show_what_hangs())
            self.loop.close()

    async def _close_or_show_what_hangs(self) -> None:
        """Closing a store must end: if it hangs, fail naming the tasks still waiting, instead of hanging."""
        try:
            await asyncio.wait_for(self._close(), 30)
        except TimeoutError:
            stuck = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            stacks = "\n".join(f"{task.get_name()}: {task.get_stack(limit=3)}" for task in stuck)
            raise AssertionError(f"closing the stores hung; tasks still waiting:\n{stacks}") from None

    async def _finish(self) -> None:
        await asyncio.gather(*self.pending, return_exceptions=True)
        answers = await asyncio.gather(*(future for _, future in self.bids), return_exceptions=True)
        closing = Scheduler(self.stores[0], self.clients[0], only_sales=frozenset({self.sale}))
        for _ in range(5):  # past every end and extension: every lot closes
            await closing.tick(END + 100 * MINUTE)
        await self._check(answers)

    async def _check(self, answers: list[Outcome | BaseException]) -> None:
        redis = self.clients[0]
        problems = await verify_records(self.redis_url, self.database_url, [self.sale])
        assert not problems, problems
        events = {lot: await _events(redis, self.sale, lot) for lot in LOTS}
        verdicts = await _verdicts(redis, self.sale)
        for (command, _), answer in zip(self.bids, answers, strict=True):
            _answer_is_the_record(command, answer, verdicts, events)
        for lot in LOTS:
            state = await self.stores[0].state(self.sale, lot)
            assert state == replay(self.terms[lot], events[lot])
            assert state is not None and state.status in ("sold", "passed")
        await _exposures_agree(self.stores[0], self.sale)

    async def _close(self) -> None:
        for store in self.stores:
            await store.close()
        for client in self.clients:
            await client.aclose()


def _standing(bidder: int, limit: int) -> BidderStanding:
    return BidderStanding(bidder, 100 + bidder, limit, None, END * 10)


async def _events(redis: Redis, sale: int, lot: int) -> list[AnyEvent]:
    return [EVENT_DECODER.decode(fields[b"e"]) for _id, fields in await redis.xrange(keys.lot_events(sale, lot))]


async def _verdicts(redis: Redis, sale: int) -> dict[tuple[int, str], Verdict]:
    found: dict[tuple[int, str], Verdict] = {}
    for _id, fields in await redis.xrange(keys.sale_journal(sale)):
        entry = JOURNAL_DECODER.decode(fields[b"j"])
        if isinstance(entry, Committed):
            for verdict in entry.verdicts:
                if isinstance(verdict.command, PlaceBid):
                    key = (verdict.command.bidder, verdict.command.client_id)
                    assert key not in found, f"{key} decided twice"
                    found[key] = verdict
    return found


def _answer_is_the_record(
    command: PlaceBid,
    answer: Outcome | BaseException,
    verdicts: dict[tuple[int, str], Verdict],
    events: dict[int, list[AnyEvent]],
) -> None:
    verdict = verdicts.get((command.bidder, command.client_id))
    if isinstance(answer, StoreError):
        return  # the outcome is unknown to the caller, who would resend: either way is honest
    assert not isinstance(answer, BaseException), answer
    if answer == Rejected("busy"):
        assert verdict is None, f"{command} answered busy but decided: {verdict}"
        return
    assert verdict is not None, f"{command} answered {answer} but the journal never decided it"
    if isinstance(answer, Rejected):
        assert verdict.rejected == answer, (command, answer, verdict)
    else:
        assert isinstance(answer, Accepted) and verdict.rejected is None
        assert list(answer.events) == events[verdict.lot][verdict.first_seq - 1 : verdict.last_seq]


async def _exposures_agree(store: LotStore, sale: int) -> None:
    expected: dict[int, dict[int, int]] = {bidder: {} for bidder in BIDDERS}
    for state in await store.states(sale):
        held = exposure_of(state)
        if held is not None:
            expected[held[0]][state.terms.lot] = held[1]
    for bidder in BIDDERS:
        assert await store.exposure(sale, bidder) == expected[bidder]


@pytest.mark.parametrize("writers", ["single", "optimistic"])
def test_racing_writers_leave_a_record_the_rules_produce(
    writers: Writers, redis_url: str, database_url: str, new_sale_id: Callable[[], int]
) -> None:
    Racing.redis_url, Racing.database_url, Racing.new_sale_id, Racing.writers = (
        redis_url, database_url, new_sale_id, writers
    )  # fmt: skip
    run_state_machine_as_test(
        Racing,
        settings=settings(
            max_examples=CONCURRENCY_EXAMPLES,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_the_verifier_in_this_test_would_see_a_forged_answer() -> None:
    """The answer check is not vacuous: an answer that differs from its verdict fails it."""
    command = PlaceBid(START, 1, 101, 100, "x", "bid")
    verdict = Verdict(1, 0, command, None, Rejected("too_low", 150))
    with pytest.raises(AssertionError):
        _answer_is_the_record(command, Rejected("lot_closed"), {(1, "x"): verdict}, {1: []})
