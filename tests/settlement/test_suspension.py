"""A buyer who defaults twice within twelve months is suspended by settlement, in vetting too, and the suspension
reaches the engine through the outbox: their bids are refused from then on, and their bids in open lots are
cancelled, each lot standing where everyone else's bids put it. Real PostgreSQL and Redis throughout."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from redis.asyncio import Redis

from auction import catalog, identity, keys, vetting
from auction.catalog import NewLot, NewSale
from auction.diamonds import Diamond
from auction.engine.lot import LotTerms
from auction.engine.messages import EVENT_DECODER, AnyCommand, BidsCancelled, CancelBids, PlaceBid, Rejected
from auction.engine.premium import CHRISTIES_2023_USD, all_in
from auction.persister import Persister
from auction.record import load_lot_events, rebuild_from_record
from auction.store import Accepted, LotStore, Outcome
from settlement import buyers, defaults
from settlement.rules import DAY_MS
from settlement.service import SettlementService
from settlement.suspensions import apply_suspensions, cancel_bids
from tests.settlement.helpers import START, USD, bid, forget, make_sale, publish, run_lot

NOW = START + 60 * DAY_MS  # well past the due date and the 14 days' grace of both invoices


@pytest.fixture
async def store(redis: Redis) -> AsyncIterator[LotStore]:
    """The gateway's store: bids held to the buyer's standing and limit."""
    lot_store = LotStore(redis, enforce_standing=True)
    try:
        yield lot_store
    finally:
        await lot_store.close()


async def _quiet_outbox(pg: asyncpg.Pool, redis: Redis) -> None:
    """Default whatever earlier tests left open by NOW and work their suspensions (cancelling nothing here), so
    the sweep of this test defaults only its own buyer's invoices."""
    await defaults.sweep(pg, NOW)
    await apply_suspensions(pg, redis, NOW, only_sales=frozenset())
    assert await pg.fetchval("SELECT count(*) FROM suspension_outbox WHERE done_ms IS NULL") == 0


async def _company(pg: asyncpg.Pool, name: str) -> int:
    """A fresh approved company whose id no other test has used as a made-up buyer id (the other settlement
    tests bill buyers 1, 2, 7, 11, ... that are no company): it starts with no invoice and no strike."""
    while True:
        bidder, _token = await catalog.add_bidder(pg, name, f"{name} Diamonds {secrets.token_hex(3)}")
        used = await pg.fetchval(
            "SELECT EXISTS (SELECT 1 FROM invoices WHERE buyer_id = $1) OR EXISTS (SELECT 1 FROM strikes "
            "WHERE buyer_id = $1) OR EXISTS (SELECT 1 FROM buyer_suspensions WHERE buyer_id = $1)",
            bidder.id,
        )
        if not used:
            return bidder.id


async def _win_and_default_later(redis: Redis, pg: asyncpg.Pool, sale_id: int, buyer: int) -> None:
    """`buyer` wins the one lot of a closed sale; it is billed, and never paid."""
    sale, _ = await make_sale(pg, sale_id, lots=1)
    await publish(redis, pg, sale_id, 1, run_lot(sale, 1, [bid(buyer, 1_000 * USD)]))
    try:
        assert await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once() == 1
    finally:
        await forget(redis, sale_id)


async def _live_sale(pg: asyncpg.Pool, store: LotStore, sale_id: int, buyers: dict[int, int]) -> list[LotTerms]:
    """Three lots open around NOW, each buyer registered with its paddle and its standing published."""
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    stone = Diamond(carat_points=90, shape="Round", colour="G", clarity="VS2")
    sale = NewSale(
        id=sale_id, name=f"live {sale_id}", currency="USD", starts_at_ms=NOW - 3_600_000,
        first_close_ms=NOW + 3_600_000,
        lots=[NewLot(lot=n, title=f"stone {n}", consignor_id=consignor, diamond=stone, low_estimate=10**12,
                     high_estimate=10**12, reserve=0, opening=100) for n in (1, 2, 3)],
    )  # fmt: skip
    await catalog.insert_sale(pg, sale)
    terms = catalog.terms_for(sale)
    await store.create_lots(terms)
    for company, paddle in buyers.items():
        await catalog.register(pg, sale_id, company, paddle, limit=10**11)
        await vetting.publish_standing(pg, store, sale_id, company)
    return terms


def _bid(company: int, paddle: int, dollars: int, at_ms: int, kind: str = "bid") -> PlaceBid:
    return PlaceBid(at_ms, company, paddle, dollars * USD, f"b{secrets.token_hex(6)}", kind)  # type: ignore[arg-type]


async def test_two_defaults_suspend_the_buyer_everywhere_and_cancel_their_live_bids(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    await _quiet_outbox(pg, redis)
    a, b, c = [await _company(pg, name) for name in ("Avi", "Bea", "Cal")]  # A will default twice
    paddles = {a: 11, b: 12, c: 13}
    for _ in range(2):
        await _win_and_default_later(redis, pg, new_sale_id(), a)

    live = new_sale_id()
    lot1, lot2, lot3 = await _live_sale(pg, store, live, paddles)
    t = NOW - 1_800_000
    # Lot 1: A leads at 3,200 on a maximum of 5,000 over C's 1,500 and B's maximum of 3,000.
    # Lot 2: B leads at 1,100 on a maximum of 2,000, answering A's 1,000. Lot 3: only B bids.
    for lot, command in [
        (lot1, _bid(a, 11, 5_000, t, "max")),
        (lot1, _bid(c, 13, 1_500, t + 1)),
        (lot1, _bid(b, 12, 3_000, t + 2, "max")),
        (lot2, _bid(b, 12, 2_000, t + 3, "max")),
        (lot2, _bid(a, 11, 1_000, t + 4)),
        (lot3, _bid(b, 12, 500, t + 5)),
    ]:
        assert isinstance(await store.execute(live, lot.lot, command), Accepted), command
    assert (await store.state(live, 1)).price == 3_200 * USD  # type: ignore[union-attr]
    assert await store.exposure(live, a) == {1: all_in(3_200 * USD, CHRISTIES_2023_USD)}

    # The sweep: both invoices default; the second strike suspends A, in settlement and in vetting, by the system.
    swept = await defaults.sweep(pg, NOW)
    assert swept["defaults"] == 2
    assert await pg.fetchval("SELECT status FROM companies WHERE id = $1", a) == "suspended"
    decision = await pg.fetchrow("SELECT * FROM company_decisions WHERE company_id = $1 ORDER BY id DESC LIMIT 1", a)
    assert (decision["decision"], decision["decided_by"], decision["decided_by_system"]) == (
        "suspend", None, "settlement"
    )  # fmt: skip
    audit = await pg.fetchrow(
        "SELECT * FROM audit_log WHERE target = $1 AND action = 'company_suspend' ORDER BY id DESC LIMIT 1",
        f"company:{a}",
    )
    assert (audit["account_id"], audit["role"]) == (None, "system")
    assert json.loads(audit["details"]) == {"status": "suspended", "system": "settlement"}
    assert "strikes" in audit["reason"]
    file = await vetting.company_file(pg, a)
    assert file is not None and file.decisions[-1].decided_by_system == "settlement"

    # Until the outbox is worked (a crash right after the commit, say), the engine has not heard of it.
    assert await pg.fetchval("SELECT count(*) FROM suspension_outbox WHERE company_id = $1 AND done_ms IS NULL", a) == 1
    assert (await store.standing(live, a)).refusal is None  # type: ignore[union-attr]

    assert await apply_suspensions(pg, redis, NOW, only_sales=frozenset({live})) == 2
    row = await pg.fetchrow("SELECT * FROM suspension_outbox WHERE company_id = $1", a)
    assert (row["done_ms"], row["outcome"], row["lots"]) == (NOW, "applied", 2)

    # A's next bid is refused by the engine, suspended.
    assert await store.execute(live, 3, _bid(a, 11, 2_000, NOW + 60_000)) == Rejected("suspended")
    # Lot 1: B leads at one increment over C's 1,500; lot 2: B alone, at the opening price; lot 3 untouched.
    one, two, three = [await store.state(live, lot) for lot in (1, 2, 3)]
    assert one is not None and two is not None and three is not None
    assert (one.leader, one.leader_paddle, one.price, one.leader_max, one.bid_count) == (b, 12, 1_600 * USD,
                                                                                         3_000 * USD, 2)  # fmt: skip
    assert (two.leader, two.price, two.bid_count) == (b, 100, 1)
    assert (three.leader, three.price, three.seq) == (b, 500 * USD, 2)
    assert one.end_ms == lot1.end_ms and one.status == "open"
    # Exposure followed the leads: A holds nothing, B both lots.
    assert await store.exposure(live, a) == {}
    assert await store.exposure(live, b) == {
        1: all_in(1_600 * USD, CHRISTIES_2023_USD), 2: all_in(100, CHRISTIES_2023_USD), 3: all_in(500 * USD,
                                                                                            CHRISTIES_2023_USD),
    }  # fmt: skip
    # The event: in the lot's stream, in the sale's stream (what watchers and settlement read), in PostgreSQL.
    (cancelled,) = await store.events_after(live, 1, one.seq - 1)
    assert isinstance(cancelled, BidsCancelled) and cancelled.bidder == a and cancelled.at_ms == NOW
    in_sale_stream = [
        EVENT_DECODER.decode(fields[keys.EVENT_FIELD.encode()])
        for _id, fields in await redis.xrange(keys.sale_events(live))
    ]
    assert sum(isinstance(e, BidsCancelled) for e in in_sale_stream) == 2
    assert (await load_lot_events(pg, live, 1))[-1:] == [cancelled]  # durability "postgres": there at once

    # The record rebuilds every lot exactly as Redis has it.
    await Persister(redis, pg).drain_once()
    for lot in (lot1, lot2, lot3):
        assert await rebuild_from_record(pg, lot) == await store.state(live, lot.lot)

    # Working the outbox again (as after a crash before the row was marked done) changes nothing.
    await pg.execute("UPDATE suspension_outbox SET done_ms = NULL, outcome = NULL WHERE id = $1", row["id"])
    assert await apply_suspensions(pg, redis, NOW + 1, only_sales=frozenset({live})) == 0
    assert (await store.state(live, 1)).seq == one.seq  # type: ignore[union-attr]

    # An operator's review lifts it: vetting's reinstate, and A may bid again.
    officer = await identity.create_account(
        pg, f"{secrets.token_hex(6)}@house.invalid", "Vetting Officer", None, "vetting_officer"
    )
    assert await buyers.is_suspended(pg, a)
    await vetting.decide(pg, store, a, "reinstate", "reviewed: paid in full", officer, frozenset())
    assert isinstance(await store.execute(live, 3, _bid(a, 11, 2_000, NOW + 120_000)), Accepted)
    assert not await buyers.is_suspended(pg, a), "reinstated: second-chance and post-sale offers reach A again"
    await forget(redis, live)


async def test_a_suspension_reinstated_before_it_reached_the_engine_cancels_nothing(
    redis: Redis, pg: asyncpg.Pool, store: LotStore, new_sale_id: Callable[[], int]
) -> None:
    await _quiet_outbox(pg, redis)
    a, b = await _company(pg, "Dov"), await _company(pg, "Eli")
    for _ in range(2):
        await _win_and_default_later(redis, pg, new_sale_id(), a)
    live = new_sale_id()
    lot1, _, _ = await _live_sale(pg, store, live, {a: 21, b: 22})
    for command in [_bid(b, 22, 1_000, NOW - 60_000), _bid(a, 21, 2_000, NOW - 50_000)]:
        assert isinstance(await store.execute(live, lot1.lot, command), Accepted)
    await defaults.sweep(pg, NOW)
    assert await pg.fetchval("SELECT status FROM companies WHERE id = $1", a) == "suspended"
    officer = await identity.create_account(
        pg, f"{secrets.token_hex(6)}@house.invalid", "Vetting Officer", None, "vetting_officer"
    )
    await vetting.decide(pg, None, a, "reinstate", "reviewed at once", officer, frozenset())

    assert await apply_suspensions(pg, redis, NOW, only_sales=frozenset({live})) == 0
    assert await pg.fetchval("SELECT outcome FROM suspension_outbox WHERE company_id = $1", a) == "lifted"
    state = await store.state(live, lot1.lot)
    assert state is not None and (state.leader, state.price) == (a, 2_000 * USD)
    await forget(redis, live)


async def test_a_buyer_not_known_to_vetting_still_has_their_bids_cancelled(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    """A sale run without vetting (bidder ids that are no company): settlement's suspension still cancels."""
    await _quiet_outbox(pg, redis)
    stranger = 10**12 + secrets.randbelow(10**6)  # no such company
    for _ in range(2):
        await _win_and_default_later(redis, pg, new_sale_id(), stranger)
    plain = LotStore(redis)
    try:
        live = new_sale_id()
        sale, _ = await make_sale(pg, live, lots=1)
        (terms,) = catalog.terms_for(sale)
        await plain.create_lots([terms])
        for command in [bid(5, 1_000 * USD), bid(stranger, 2_000 * USD, at_ms=START + 2000)]:
            assert isinstance(await plain.execute(live, 1, command), Accepted)
        await defaults.sweep(pg, NOW)
        assert await pg.fetchval("SELECT count(*) FROM buyer_suspensions WHERE buyer_id = $1", stranger) == 1
        assert await apply_suspensions(pg, redis, NOW, only_sales=frozenset({live})) == 1
        state = await plain.state(live, 1)
        assert state is not None and (state.leader, state.price) == (5, 1_000 * USD)
    finally:
        await plain.close()
        await forget(redis, live)


class _BidSlipsIn(LotStore):
    """A real store where a rival's bid lands between reading a lot's record and cancelling on it, once."""

    def __init__(self, redis: Redis, rival: PlaceBid) -> None:
        super().__init__(redis)
        self.rival: PlaceBid | None = rival
        self.answers: list[Outcome] = []

    async def execute(self, sale: int, lot: int, command: AnyCommand, *, dedupe: str | None = None) -> Outcome:
        if isinstance(command, CancelBids) and self.rival is not None:
            rival, self.rival = self.rival, None
            assert isinstance(await super().execute(sale, lot, rival), Accepted)
        answer = await super().execute(sale, lot, command, dedupe=dedupe)
        self.answers.append(answer)
        return answer


async def test_a_lot_that_moves_on_is_read_again_and_the_cancel_retried(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    sale, _ = await make_sale(pg, sale_id, lots=1)
    (terms,) = catalog.terms_for(sale)
    moving = _BidSlipsIn(redis, bid(3, 4_000 * USD, at_ms=START + 3000))
    try:
        await moving.create_lots([terms])
        for command in [bid(1, 1_000 * USD), bid(2, 2_000 * USD, at_ms=START + 2000)]:
            assert isinstance(await moving.execute(sale_id, 1, command), Accepted)
        outcome = await cancel_bids(moving, sale_id, 1, 2, "suspended", START + 4000)
        assert [type(a).__name__ for a in moving.answers[-2:]] == ["Rejected", "Accepted"]
        assert moving.answers[-2] == Rejected("stale")
        assert isinstance(outcome, Accepted)
        # Had 2 never bid: 1's 1,000, then 3's 4,000 (the bid that slipped in) leads at its own amount.
        assert (outcome.state.leader, outcome.state.price, outcome.state.bid_count) == (3, 4_000 * USD, 2)
        assert await cancel_bids(moving, sale_id, 1, 2, "suspended", START + 5000) is None, "nothing left"
    finally:
        await moving.close()
        await forget(redis, sale_id)
