"""Unsold stones against real PostgreSQL and Redis: from a lot passing (its LotPassed in the sale's stream,
recorded by the settlement service) through the post-sale window to a sale, a return, or a later sale."""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from auction import catalog, identity
from auction.catalog import NewLot, NewSale
from auction.diamonds import Diamond
from auction.engine.messages import BidsCancelled
from auction.engine.premium import all_in
from auction.store import LotStore
from ops.app import make_app
from settlement import billing, buyers, defaults, ledger, shipping, unsold_cli, unsold_rules, unsold_sweep, unsold_views
from settlement.errors import NotFound, NotYours, PostSaleRefused
from settlement.reconcile import reconcile, settlement_summary
from settlement.rules import DAY_MS, HOUR_MS, SettlementTerms
from settlement.service import SettlementService
from settlement.unsold_relisting import consent_relist, relist_into, withdraw_relist
from settlement.unsold_views import buyer_view, passed_lots
from settlement.unsold_window import answer_offer, make_offer
from tests.settlement.helpers import START, USD, bid, forget, make_sale, publish, run_lot

RESERVE = 5_000 * USD
LOW = 6_000 * USD
WINDOW = 72 * HOUR_MS


@dataclass
class Passed:
    sale: NewSale
    consignor: int
    closed_ms: int  # when the lots passed
    buyers: list[int]  # registered companies, in the order made

    @property
    def window_ends(self) -> int:
        return self.closed_ms + WINDOW


def _sale(sale_id: int, consignor: int, lots: int, starts_at_ms: int = START) -> NewSale:
    stone = Diamond(carat_points=152, shape="Round", colour="G", clarity="VS2", cut="Excellent", lab="GIA",
                    report_number="2215200001")  # fmt: skip
    return NewSale(
        id=sale_id,
        name=f"unsold test {sale_id}",
        currency="USD",
        starts_at_ms=starts_at_ms,
        first_close_ms=starts_at_ms + 3_600_000,
        lots=[
            NewLot(lot=n, title=f"stone {n}", consignor_id=consignor, diamond=stone, low_estimate=LOW,
                   high_estimate=2 * LOW, reserve=RESERVE, opening=100 * USD)
            for n in range(1, lots + 1)
        ],
    )  # fmt: skip


TOKENS: dict[int, str] = {}  # each buyer company's API token, for the HTTP test


async def _buyer(pg: asyncpg.Pool, sale_id: int, paddle: int, registered: bool = True) -> int:
    bidder, token = await catalog.add_bidder(pg, f"Buyer {paddle}", f"Buyer Co {sale_id}-{paddle}")
    if registered:
        await catalog.register(pg, sale_id, bidder.id, paddle)
    TOKENS[bidder.id] = token
    return bidder.id


async def _passed_sale(
    redis: Redis,
    pg: asyncpg.Pool,
    sale_id: int,
    bids_per_lot: list[list[tuple[int, int]]],
    buyers: int = 3,
    starts_at_ms: int = START,
) -> Passed:
    """A sale whose lots all close below their reserve (lot n gets bids_per_lot[n-1] as (buyer index, amount)),
    their closes put in the sale's stream and the record, and the settlement service run over them."""
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    sale = _sale(sale_id, consignor, len(bids_per_lot), starts_at_ms)
    await catalog.insert_sale(pg, sale)
    companies = [await _buyer(pg, sale_id, 10 + i) for i in range(buyers)]
    closed = 0
    for lot, bids in enumerate(bids_per_lot, start=1):
        placed = [bid(companies[who], amount, at_ms=starts_at_ms + 1000) for who, amount in bids]
        events = run_lot(sale, lot, placed)
        assert type(events[-1]).__name__ == "LotPassed"
        closed = events[-1].at_ms
        await publish(redis, pg, sale_id, lot, events)
    try:
        assert await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once() == len(bids_per_lot)
    finally:
        await forget(redis, sale_id)
    return Passed(sale, consignor, closed, companies)


async def _status(pg: asyncpg.Pool, sale_id: int, lot: int) -> str:
    status: str = await pg.fetchval("SELECT status FROM passed_lots WHERE sale_id = $1 AND lot_no = $2", sale_id, lot)
    return status


async def _lines(pg: asyncpg.Pool, sale_id: int) -> list[tuple[int, int, int, int, str, str]]:
    rows = await pg.fetch(
        "SELECT l.lot_no, i.buyer_id, l.hammer, l.total, l.source, l.status FROM invoice_lines l "
        "JOIN invoices i ON i.id = l.invoice_id WHERE l.sale_id = $1 ORDER BY l.lot_no, l.id",
        sale_id,
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def reconciled(pg: asyncpg.Pool, sale_id: int) -> list[str]:
    """Everything reconcile finds (its checks include unsold_problems and the return charges on consignors)."""
    return await reconcile(pg, sale_id)


async def _refused(call: object, field: str, reason: str) -> None:
    with pytest.raises(PostSaleRefused) as refused:
        await call  # type: ignore[misc]
    assert (refused.value.field, refused.value.reason) == (field, reason)


@pytest.fixture
async def later_store(redis: Redis) -> AsyncIterator[LotStore]:
    store = LotStore(redis)
    try:
        yield store
    finally:
        await store.close()


# ---- (a) the top bidder takes the lot at its reserve ----------------------------------------------------------


async def test_top_bidder_accepts_the_reserve_and_is_invoiced(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    passed = await _passed_sale(redis, pg, sale_id, [[(0, 2_000 * USD), (1, 3_000 * USD)]])
    top, under = passed.buyers[1], passed.buyers[0]
    assert await _status(pg, sale_id, 1) == "post_sale"
    now = passed.closed_ms + HOUR_MS
    # the service made the reserve offer as it recorded the pass; the sweep (a backstop) finds nothing to do
    assert (await unsold_sweep.sweep(pg, now, sale_id))["reserve_offers"] == 0
    [lot] = await passed_lots(pg, sale_id)
    [offer] = lot.offers
    assert (offer.kind, offer.buyer, offer.amount, offer.expires_ms) == ("reserve", top, RESERVE, passed.window_ends)
    with pytest.raises(NotYours):  # offered to the top bidder, not to the underbidder
        await answer_offer(pg, offer.id, True, now, buyer_id=under)
    with pytest.raises(NotYours):  # nor for the consignor to take
        await answer_offer(pg, offer.id, True, now, consignor_id=passed.consignor)
    assert await answer_offer(pg, offer.id, True, now + 1, buyer_id=top) == "accepted"
    assert await answer_offer(pg, offer.id, True, now + 2, buyer_id=top) == "accepted"  # repeated: nothing
    await _refused(answer_offer(pg, offer.id, False, now + 3, buyer_id=top), "offer", "offer_closed")
    schedule = passed.sale.settings.premium
    assert await _lines(pg, sale_id) == [(1, top, RESERVE, all_in(RESERVE, schedule), "post_sale", "active")]
    inv = await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, top))
    assert inv.total == all_in(RESERVE, schedule) and inv.due_ms == now + 1 + 7 * DAY_MS
    assert await _status(pg, sale_id, 1) == "sold"
    await _refused(make_offer(pg, sale_id, 1, under, 6_000 * USD, "late", now + 4), "lot", "lot_sold")
    await _refused(consent_relist(pg, sale_id, 1, 4_000 * USD, now + 4), "lot", "lot_sold")
    # sold: nothing to close
    assert (await unsold_sweep.sweep(pg, passed.window_ends + 1, sale_id))["windows_closed"] == 0
    assert await ledger.balance(pg, ledger.consignor(passed.consignor), "USD") == -(RESERVE - RESERVE // 10)
    assert await reconciled(pg, sale_id) == []


async def test_the_reserve_offer_lapses_with_the_window(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    passed = await _passed_sale(redis, pg, sale_id, [[(0, 3_000 * USD)]])
    await unsold_sweep.sweep(pg, passed.closed_ms + 1, sale_id)
    [offer] = (await passed_lots(pg, sale_id))[0].offers
    late = passed.window_ends
    await _refused(answer_offer(pg, offer.id, True, late, buyer_id=passed.buyers[0]), "offer", "window_closed")
    assert await _lines(pg, sale_id) == []


# ---- (b) buyers' offers, answered by the consignor -------------------------------------------------------------


async def test_offers_from_registered_buyers_and_the_consignors_answers(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    passed = await _passed_sale(redis, pg, sale_id, [[]])  # nobody bid: the window is open for offers all the same
    x, y, z = passed.buyers
    now = passed.closed_ms + HOUR_MS
    assert (await unsold_sweep.sweep(pg, now, sale_id))["reserve_offers"] == 0  # no top bidder to offer the reserve to
    assert (await buyer_view(pg, sale_id, x, now)).open_lots[0].window_ms == passed.window_ends

    first_x = await make_offer(pg, sale_id, 1, x, 4_000 * USD, "x-1", now)
    offer_y = await make_offer(pg, sale_id, 1, y, 4_500 * USD, "y-1", now)
    assert await make_offer(pg, sale_id, 1, y, 4_500 * USD, "y-1", now + 5) == offer_y  # sent twice: one offer
    offer_x = await make_offer(pg, sale_id, 1, x, 4_200 * USD, "x-2", now + 1)  # replaces x's first
    assert (await unsold_views.offer(pg, first_x.id)).status == "replaced"
    assert offer_x.paddle == 10 and offer_x.kind == "buyer" and offer_x.expires_ms == passed.window_ends
    assert [o.id for o in (await buyer_view(pg, sale_id, x, now)).offers] == [first_x.id, offer_x.id]

    # the consignor sees the offers by paddle, not by company; only their own lots
    [seen] = await passed_lots(pg, sale_id, consignor_id=passed.consignor)
    assert {(o.buyer, o.paddle, o.amount) for o in seen.offers if o.status == "open"} == {
        (None, 10, 4_200 * USD),
        (None, 11, 4_500 * USD),
    }
    assert await passed_lots(pg, sale_id, consignor_id=passed.consignor + 10**6) == []
    with pytest.raises(NotYours):
        await answer_offer(pg, offer_y.id, True, now + 2, consignor_id=passed.consignor + 10**6)
    with pytest.raises(NotYours):  # a buyer doesn't answer offers, even their own
        await answer_offer(pg, offer_y.id, True, now + 2, buyer_id=y)

    assert await answer_offer(pg, offer_x.id, False, now + 2, consignor_id=passed.consignor) == "declined"
    assert await answer_offer(pg, offer_x.id, False, now + 3, consignor_id=passed.consignor) == "declined"
    await _refused(answer_offer(pg, offer_x.id, True, now + 3, consignor_id=passed.consignor), "offer", "offer_closed")
    offer_z = await make_offer(pg, sale_id, 1, z, 4_100 * USD, "z-1", now + 3)
    assert await answer_offer(pg, offer_y.id, True, now + 4, consignor_id=passed.consignor) == "accepted"
    assert await answer_offer(pg, offer_y.id, True, now + 5, consignor_id=passed.consignor) == "accepted"
    assert (await unsold_views.offer(pg, offer_z.id)).status == "closed"  # every other open offer closed with the sale
    await _refused(answer_offer(pg, offer_z.id, True, now + 5, consignor_id=passed.consignor), "offer", "offer_closed")
    assert await _lines(pg, sale_id) == [
        (1, y, 4_500 * USD, all_in(4_500 * USD, passed.sale.settings.premium), "post_sale", "active")
    ]
    assert await _status(pg, sale_id, 1) == "sold"
    await _refused(make_offer(pg, sale_id, 1, z, 5_000 * USD, "z-2", now + 6), "lot", "lot_sold")
    assert (await buyer_view(pg, sale_id, z, now + 6)).open_lots == []
    assert (await unsold_sweep.sweep(pg, passed.window_ends, sale_id))["returns"] == 0
    assert await reconciled(pg, sale_id) == []


async def test_offers_refused(redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    sale_id = new_sale_id()
    passed = await _passed_sale(redis, pg, sale_id, [[(0, 1_000 * USD)]], buyers=2)
    good, other = passed.buyers
    now = passed.closed_ms + 1
    stranger = await _buyer(pg, sale_id, 50, registered=False)
    linked = await _buyer(pg, sale_id, 51)
    await pg.execute("INSERT INTO consignor_links (consignor_id, company_id) VALUES ($1, $2)", passed.consignor, linked)
    suspended = await _buyer(pg, sale_id, 52)
    async with pg.acquire() as conn, conn.transaction():  # by settlement: two strikes
        await buyers.suspend_buyer(conn, suspended, "two strikes for non-payment", now)
    await pg.execute("UPDATE companies SET status = 'suspended' WHERE id = $1", other)

    await _refused(make_offer(pg, sale_id, 1, stranger, 4_000 * USD, "s", now), "buyer", "not_registered")
    await _refused(make_offer(pg, sale_id, 1, linked, 4_000 * USD, "l", now), "buyer", "own_lot")
    await _refused(make_offer(pg, sale_id, 1, suspended, 4_000 * USD, "u", now), "buyer", "suspended")
    await _refused(make_offer(pg, sale_id, 1, other, 4_000 * USD, "o", now), "buyer", "suspended")
    for amount in (0, -5, True, 10.5, "100"):
        await _refused(make_offer(pg, sale_id, 1, good, amount, "a", now), "amount", "bad_amount")  # type: ignore[arg-type]
    await _refused(make_offer(pg, sale_id, 1, good, 100, "", now), "client_id", "bad_client_id")
    await _refused(make_offer(pg, sale_id, 1, good, 4_000 * USD, "late", passed.window_ends), "lot", "window_closed")
    with pytest.raises(NotFound):
        await make_offer(pg, sale_id, 2, good, 4_000 * USD, "no-lot", now)
    assert (
        await pg.fetchval("SELECT count(*) FROM post_sale_offers WHERE sale_id = $1 AND kind = 'buyer'", sale_id) == 0
    )
    # an offer made in time can't be accepted once the window has passed, nor after the buyer is suspended
    made = await make_offer(pg, sale_id, 1, good, 4_000 * USD, "g", now)
    await _refused(
        answer_offer(pg, made.id, True, passed.window_ends, consignor_id=passed.consignor),
        "offer",
        "window_closed",
    )
    async with pg.acquire() as conn, conn.transaction():
        await buyers.suspend_buyer(conn, good, "two strikes for non-payment", now)
    await _refused(answer_offer(pg, made.id, True, now + 1, consignor_id=passed.consignor), "buyer", "suspended")
    assert await _lines(pg, sale_id) == [] and await _status(pg, sale_id, 1) == "post_sale"


# ---- (c) the window passes unsold: the stone goes back ----------------------------------------------------------


async def test_window_passes_unsold_and_the_stone_is_returned(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    await catalog.insert_sale(pg, _sale(sale_id, consignor, 1))
    terms = SettlementTerms(unsold_fee_bp=500, return_shipping=75 * USD)  # 5 % of the reserve, and the courier
    await billing.set_terms(pg, sale_id, terms)
    buyer = await _buyer(pg, sale_id, 10)
    sale = _sale(sale_id, consignor, 1)
    events = run_lot(sale, 1, [bid(buyer, 2_000 * USD)])
    await publish(redis, pg, sale_id, 1, events)
    try:
        await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once()
    finally:
        await forget(redis, sale_id)
    closed = events[-1].at_ms
    await unsold_sweep.sweep(pg, closed + 1, sale_id)
    offer = await make_offer(pg, sale_id, 1, buyer, 3_000 * USD, "b-1", closed + 2)

    assert (await unsold_sweep.sweep(pg, closed + WINDOW - 1, sale_id))["windows_closed"] == 0  # not yet
    done = await unsold_sweep.sweep(pg, closed + WINDOW, sale_id)
    assert (done["windows_closed"], done["returns"], done["relists_queued"]) == (1, 1, 0)
    assert await unsold_sweep.sweep(pg, closed + WINDOW + 1, sale_id) == {
        "reserve_offers": 0, "windows_closed": 0, "relists_queued": 0, "returns": 0, "returned": 0
    }  # fmt: skip
    await unsold_sweep.sweep(pg, closed + WINDOW + 2)  # every sale's: still nothing more for this one
    assert await _status(pg, sale_id, 1) == "returning"
    [lot] = await passed_lots(pg, sale_id)
    assert {o.status for o in lot.offers} == {"expired"} and len(lot.offers) == 2  # the reserve offer and b-1
    assert lot.returned is not None
    fee = RESERVE * 500 // 10_000
    assert (lot.returned.reason, lot.returned.unsold_fee, lot.returned.return_shipping) == ("unsold", fee, 75 * USD)
    # on the ledger: the consignor owes the fee and the return, the house earns them; posted once
    txns = await pg.fetch("SELECT id FROM ledger_transactions WHERE sale_id = $1 AND kind = 'unsold_return'", sale_id)
    assert len(txns) == 1
    assert await ledger.balance(pg, ledger.consignor(consignor), "USD") == fee + 75 * USD
    assert await ledger.txn_amount(pg, txns[0]["id"], ledger.HOUSE_FEES) == -fee
    assert await ledger.txn_amount(pg, txns[0]["id"], ledger.HOUSE_SHIPPING) == -75 * USD
    # an insured shipment back to the consignor, once
    [ship] = await shipping.shipments_for(pg, sale_id, 1)
    assert (ship.id, ship.purpose, ship.party, ship.declared_value) == (lot.returned.shipment, "to_consignor",
                                                                        consignor, LOW)  # fmt: skip
    await _refused(answer_offer(pg, offer.id, True, closed + WINDOW + 2, consignor_id=consignor), "offer",
                   "offer_closed")  # fmt: skip
    await _refused(consent_relist(pg, sale_id, 1, 1_000 * USD, closed + WINDOW + 2), "lot", "lot_not_open")
    await _refused(make_offer(pg, sale_id, 1, buyer, 4_000 * USD, "b-2", closed + 2), "lot", "lot_not_open")
    assert (await settlement_summary(pg, sale_id))["returns"] == 1
    assert await reconciled(pg, sale_id) == []
    # a return whose charges its posting does not match is named (then put back as it was)
    fee_of = "UPDATE lot_returns SET unsold_fee = unsold_fee + $2 WHERE sale_id = $1 AND lot_no = 1"
    await pg.execute(fee_of, sale_id, 1)
    try:
        assert [p for p in await reconciled(pg, sale_id) if p.startswith(f"return of sale {sale_id} lot 1:")] == [
            f"return of sale {sale_id} lot 1: charges {(fee + 1 + 75 * USD, -fee - 1, -75 * USD)} (consignor, fees, "
            f"shipping) but the ledger moved {(fee + 75 * USD, -fee, -75 * USD)}"
        ]
    finally:
        await pg.execute(fee_of, sale_id, -1)
    # the stone is back once the consignor has signed for every parcel, not before
    at = closed + WINDOW + 10
    for state in ("collected", "in_transit"):
        for parcel in ship.parcels:
            await shipping.record_tracking(pg, ship.id, parcel.no, state, at := at + 1)
    assert (await unsold_sweep.sweep(pg, at, sale_id))["returned"] == 0
    for parcel in ship.parcels:
        await shipping.record_tracking(pg, ship.id, parcel.no, "delivered_signed", at := at + 1)
    assert (await unsold_sweep.sweep(pg, at, sale_id))["returned"] == 1
    assert await _status(pg, sale_id, 1) == "returned"
    assert (await unsold_sweep.sweep(pg, at + 1, sale_id))["returned"] == 0


# ---- (d) relisted, with the consignor's consent, in a later sale ------------------------------------------------


async def _relist_what_others_left(pg: asyncpg.Pool, drain_id: int) -> None:
    """Stones other tests left waiting to be relisted (a consignor's standing consent queues them) go into a sale
    of their own, so that the later sale below takes only this test's: relist_into takes every one waiting."""
    drain = _sale(
        drain_id, await catalog.add_consignor(pg, "Drain", "Drain Ltd"), 1, starts_at_ms=START + 3_650 * DAY_MS
    )
    await catalog.insert_sale(pg, drain)
    await relist_into(pg, drain_id, START)


async def test_relisted_with_consent_into_a_later_sale(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int], later_store: LotStore
) -> None:
    sale_id, later_id = new_sale_id(), new_sale_id()
    await _relist_what_others_left(pg, new_sale_id())
    passed = await _passed_sale(redis, pg, sale_id, [[(0, 3_000 * USD)], [(1, 2_000 * USD)]])
    now = passed.closed_ms + HOUR_MS
    await _refused(consent_relist(pg, sale_id, 1, RESERVE, now), "reserve", "bad_reserve")
    await _refused(consent_relist(pg, sale_id, 1, -1, now), "reserve", "bad_reserve")
    with pytest.raises(NotYours):
        await consent_relist(pg, sale_id, 1, 4_000 * USD, now, consignor_id=passed.consignor + 10**6)
    first = await consent_relist(pg, sale_id, 1, 4_000 * USD, now, consignor_id=passed.consignor)
    assert await consent_relist(pg, sale_id, 1, 4_000 * USD, now + 9, consignor_id=passed.consignor) == first
    # lot 2: consent given, then withdrawn: it comes back when the window passes
    await consent_relist(pg, sale_id, 2, 3_500 * USD, now)
    withdrawn = await withdraw_relist(pg, sale_id, 2, now + 1, consignor_id=passed.consignor)
    assert withdrawn.withdrawn_ms == now + 1

    later = _sale(later_id, await catalog.add_consignor(pg, "Other", "Other Ltd"), 2, starts_at_ms=now + 30 * DAY_MS)
    await catalog.insert_sale(pg, later)
    await later_store.create_lots(catalog.terms_for(later))  # the later sale is already loaded in the engine
    try:
        assert await relist_into(pg, later_id, now, later_store) == []  # still in its window
        done = await unsold_sweep.sweep(pg, passed.window_ends, sale_id)
        assert (done["relists_queued"], done["returns"]) == (1, 1)
        assert [await _status(pg, sale_id, n) for n in (1, 2)] == ["relist", "returning"]

        await _refused(relist_into(pg, sale_id, passed.window_ends), "sale", "sale_started")
        made = await relist_into(pg, later_id, passed.window_ends, later_store)
        again = await relist_into(pg, later_id, passed.window_ends + 1, later_store)
        assert again == [] and [(m.from_lot, m.to_sale, m.to_lot, m.reserve) for m in made] == [
            (1, later_id, 3, 4_000 * USD)
        ]
        # the stone is a lot of the later sale: its diamond, its consignor, the lower reserve
        [listing] = await catalog.lot_listings(pg, later_id, 3)
        [original] = await catalog.lot_listings(pg, sale_id, 1)
        assert (listing.diamond, listing.consignor_id, listing.low_estimate) == (
            original.diamond, passed.consignor, original.low_estimate
        )  # fmt: skip
        terms = next(t for t in await catalog.stored_terms(pg, later_id) if t.lot == 3)
        assert (terms.reserve, terms.consignor, terms.start_ms) == (4_000 * USD, passed.consignor, later.starts_at_ms)
        assert terms.end_ms > max(t.end_ms for t in catalog.terms_for(later))  # closes after the sale's last lot
        state = await later_store.state(later_id, 3)
        assert state is not None and state.terms == terms and state.status == "scheduled"
        assert [s.terms.lot for s in await later_store.states(later_id)] == [1, 2, 3]
        await _refused(withdraw_relist(pg, sale_id, 1, passed.window_ends + 2), "lot", "lot_not_open")
        assert await unsold_sweep.sweep(pg, passed.window_ends + 3, sale_id) == {
            "reserve_offers": 0, "windows_closed": 0, "relists_queued": 0, "returns": 0, "returned": 0
        }  # fmt: skip
        [relisted] = [lot for lot in await passed_lots(pg, sale_id) if lot.lot == 1]
        assert relisted.relisting == made[0] and relisted.returned is None
        assert await reconciled(pg, sale_id) == []
    finally:
        await forget(redis, later_id)


async def test_a_defaulted_lot_relisted_goes_the_same_way(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int], later_store: LotStore
) -> None:
    sale_id, later_id = new_sale_id(), new_sale_id()
    sale, consignor = await make_sale(pg, sale_id, lots=1, reserve=1_000 * USD)
    await publish(redis, pg, sale_id, 1, run_lot(sale, 1, [bid(12, 3_000 * USD), bid(11, 5_000 * USD, kind="max")]))
    try:
        await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once()
    finally:
        await forget(redis, sale_id)
    due = (await billing.invoice(pg, await billing.invoice_id_for(pg, sale_id, 11))).due_ms
    await defaults.sweep(pg, due + 14 * DAY_MS)
    now = due + 15 * DAY_MS
    assert await defaults.resolve(pg, sale_id, 1, "relist", now) == "relist"
    assert await unsold_sweep.sweep(pg, now + 1, sale_id) == {
        "reserve_offers": 0, "windows_closed": 0, "relists_queued": 0, "returns": 0, "returned": 0
    }  # fmt: skip
    later = NewSale(id=later_id, name="later", currency="USD", starts_at_ms=now + DAY_MS,
                    first_close_ms=now + 2 * DAY_MS, lots=[])  # fmt: skip
    await catalog.insert_sale(pg, later)
    [made] = await relist_into(pg, later_id, now + 2, later_store)
    assert (made.to_lot, made.reserve) == (1, 1_000 * USD)  # at its own reserve
    [listing] = await catalog.lot_listings(pg, later_id)
    assert listing.consignor_id == consignor and listing.start_ms == now + DAY_MS
    assert await later_store.states(later_id) == []  # not loaded in the engine: whoever loads it reads the catalogue
    assert await reconciled(pg, sale_id) == []


# ---- over HTTP, through the gateway's role table ---------------------------------------------------------------


async def _bearer(pg: asyncpg.Pool, role: str, consignor: int | None = None) -> dict[str, str]:
    tag = secrets.token_hex(5)
    account = await identity.create_account(pg, f"{role}-{tag}@x.test", role, None, role, consignor_id=consignor)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {(await identity.issue_token(pg, account.id, 'api')).token}"}


async def test_buyers_consignors_and_operators_over_http(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int], later_store: LotStore
) -> None:
    sale_id = new_sale_id()
    two_hours_ago = time.time_ns() // 1_000_000 - 2 * HOUR_MS  # the window is open now, on the gateway's clock
    passed = await _passed_sale(redis, pg, sale_id, [[(0, 3_000 * USD)], []], buyers=2, starts_at_ms=two_hours_ago)
    top, other = passed.buyers
    stranger = await _buyer(pg, sale_id, 40, registered=False)
    await unsold_sweep.sweep(pg, passed.closed_ms + 1, sale_id)
    as_top, as_other, as_stranger = ({"Authorization": f"Bearer {TOKENS[b]}"} for b in (top, other, stranger))
    as_consignor = await _bearer(pg, "consignor", passed.consignor)
    as_someone_else = await _bearer(pg, "consignor", await catalog.add_consignor(pg, "Someone", "Else Ltd"))
    as_officer = await _bearer(pg, "settlement_officer")
    base = f"/api/settlement/sales/{sale_id}"
    async with TestClient(TestServer(make_app(redis, pg, later_store))) as http:
        mine = await (await http.get(f"{base}/post-sale", headers=as_top)).json()
        assert [lot["lot"] for lot in mine["open_lots"]] == [1, 2]
        [reserve_offer] = mine["offers"]
        assert (reserve_offer["kind"], reserve_offer["amount"]) == ("reserve", RESERVE)
        assert (await (await http.get(f"{base}/post-sale", headers=as_other)).json())["offers"] == []

        bad = await http.post(f"{base}/lots/1/offers", json={"amount": 0, "client_id": "o1"}, headers=as_other)
        assert bad.status == 400 and (await bad.json())["error"]["field"] == "amount"
        made = await http.post(f"{base}/lots/1/offers", json={"amount": 4_000 * USD, "client_id": "o1"},
                               headers=as_other)  # fmt: skip
        assert made.status == 201
        offer = await made.json()
        refused = await http.post(f"{base}/lots/2/offers", json={"amount": 100, "client_id": "s1"}, headers=as_stranger)
        error = (await refused.json())["error"]
        assert refused.status == 403 and (error["code"], error["field"]) == ("refused", "buyer")
        assert "not_registered" in error["message"]

        seen = await (await http.get(f"{base}/passed", headers=as_consignor)).json()
        assert [(o["kind"], o["buyer"], o["amount"]) for o in seen[0]["offers"]] == [
            ("reserve", None, RESERVE), ("buyer", None, 4_000 * USD)
        ]  # fmt: skip
        assert await (await http.get(f"{base}/passed", headers=as_someone_else)).json() == []
        everything = await (await http.get(f"{base}/passed", headers=as_officer)).json()
        assert [o["buyer"] for o in everything[0]["offers"]] == [top, other]  # operators see who

        answer = f"/api/settlement/post-sale-offers/{offer['id']}"
        not_theirs = await http.post(answer, json={"accept": True}, headers=as_someone_else)
        assert not_theirs.status == 403 and (await not_theirs.json())["error"]["field"] == "lot"
        wrong_buyer = await http.post(f"/api/settlement/post-sale-offers/{reserve_offer['id']}", json={"accept": True},
                                      headers=as_other)  # fmt: skip
        assert wrong_buyer.status == 403 and (await wrong_buyer.json())["error"]["field"] == "offer"
        taken = await http.post(f"/api/settlement/post-sale-offers/{reserve_offer['id']}", json={"accept": True},
                                headers=as_top)  # fmt: skip
        assert taken.status == 200 and await taken.json() == {"status": "accepted"}
        late = await http.post(answer, json={"accept": True}, headers=as_consignor)
        assert late.status == 409 and (await late.json())["error"]["field"] == "offer"  # closed by the sale
        sold = await http.post(f"{base}/lots/1/offers", json={"amount": 9_000 * USD, "client_id": "o2"},
                               headers=as_other)  # fmt: skip
        assert sold.status == 409 and (await sold.json())["error"]["field"] == "lot"

        consent = await http.post(f"{base}/lots/2/relist", json={"reserve": 4_000 * USD}, headers=as_consignor)
        assert consent.status == 200 and (await consent.json())["reserve"] == 4_000 * USD
        too_high = await http.post(f"{base}/lots/2/relist", json={"reserve": RESERVE}, headers=as_consignor)
        assert too_high.status == 400 and (await too_high.json())["error"]["field"] == "reserve"
        other_lot = await http.post(f"{base}/lots/2/relist", json={"reserve": 1}, headers=as_someone_else)
        assert other_lot.status == 403
        withdrawn = await http.delete(f"{base}/lots/2/relist", headers=as_consignor)
        assert withdrawn.status == 200 and (await withdrawn.json())["withdrawn_ms"] is not None
        nowhere = await http.post("/api/settlement/sales/999999999999/relistings", headers=as_officer)
        assert nowhere.status == 404
    assert await _lines(pg, sale_id) == [(1, top, RESERVE, all_in(RESERVE, passed.sale.settings.premium), "post_sale",
                                          "active")]  # fmt: skip


# ---- the operators' commands ------------------------------------------------------------------------------------


async def test_operators_commands(
    redis: Redis,
    pg: asyncpg.Pool,
    redis_url: str,
    new_sale_id: Callable[[], int],
    later_store: LotStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sale_id, later_id = new_sale_id(), new_sale_id()
    passed = await _passed_sale(redis, pg, sale_id, [[], []], buyers=1)
    [buyer] = passed.buyers
    parser = argparse.ArgumentParser()
    unsold_cli.add_commands(parser.add_subparsers(dest="command"))

    async def run(*words: object) -> tuple[int | None, str, str]:
        args = parser.parse_args([str(w) for w in words])
        status = await unsold_cli.command(pg, args.command, args, None)
        out, err = capsys.readouterr()
        return status, out, err

    now = passed.closed_ms + 1
    status, out, _ = await run("post-sale-offer", sale_id, 1, buyer, 4_000 * USD, "phone-1", "--now", now)
    offer = json.loads(out)
    assert status == 0 and (offer["buyer"], offer["amount"], offer["status"]) == (buyer, 4_000 * USD, "open")
    assert await run("post-sale-offer", sale_id, 1, buyer, 0, "phone-2", "--now", now) == (
        1, "", "auction settlement: amount: an offer is a positive whole number of minor units\n"
    )  # fmt: skip
    assert (await run("post-sale-answer", offer["id"], "accept", "--now", now + 1))[:2] == (0, "accepted\n")
    status, out, _ = await run("relist-consent", sale_id, 2, 3_000 * USD, "--now", now)
    assert status == 0 and json.loads(out)["reserve"] == 3_000 * USD
    status, out, _ = await run("unsold-sweep", "--sale", sale_id, "--now", passed.window_ends)
    assert status == 0 and json.loads(out)["relists_queued"] == 1
    status, out, _ = await run("passed", sale_id, "--consignor", passed.consignor)
    assert [(lot["lot"], lot["status"]) for lot in json.loads(out)] == [(1, "sold"), (2, "relist")]
    later = _sale(later_id, passed.consignor, 1, starts_at_ms=passed.window_ends + DAY_MS)
    await catalog.insert_sale(pg, later)
    await later_store.create_lots(catalog.terms_for(later))
    try:
        status, out, _ = await run("relist-into", later_id, "--redis-url", redis_url, "--now", passed.window_ends)
        assert status == 0 and [(r["from_lot"], r["to_lot"]) for r in json.loads(out)] == [(2, 2)]
        state = await later_store.state(later_id, 2)
        assert state is not None and state.terms.reserve == 3_000 * USD
    finally:
        await forget(redis, later_id)
    assert (await run("relist-withdraw", sale_id, 2, "--now", passed.window_ends))[0] == 1  # relisted already
    assert await unsold_cli.command(pg, "reconcile", argparse.Namespace(), None) is None  # not one of these


# ---- the pure rules ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "now", "expected"),
    [
        ("post_sale", 999, None),
        ("post_sale", 1000, "window_closed"),  # the window's end is exclusive
        ("sold", 0, "lot_sold"),
        ("relist", 0, "lot_not_open"),
        ("returning", 0, "lot_not_open"),
        ("returned", 0, "lot_not_open"),
    ],
)
def test_lot_refusal(status: str, now: int, expected: str | None) -> None:
    assert unsold_rules.lot_refusal(status, 1000, now) == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [(5000, 4999, None), (5000, 0, None), (5000, 5000, "bad_reserve"), (5000, 6000, "bad_reserve"),
     (5000, -1, "bad_reserve"), (5000, True, "bad_reserve"), (0, 0, None), (0, 1, "bad_reserve")],
)  # fmt: skip
def test_relist_reserve_refusal(old: int, new: object, expected: str | None) -> None:
    assert unsold_rules.relist_reserve_refusal(old, new) == expected


@pytest.mark.parametrize(("amount", "ok"), [(1, True), (10**12, True), (0, False), (-1, False), (True, False),
                                            (1.0, False), ("5", False), (None, False)])  # fmt: skip
def test_amount_refusal(amount: object, ok: bool) -> None:
    assert (unsold_rules.amount_refusal(amount) is None) is ok


def test_the_top_bidder_is_who_led_at_the_close() -> None:
    sale = _sale(1, 1, 1)
    # 2's maximum answers 1's bid by proxy: 2 leads; nobody bid: no top bidder
    events = run_lot(sale, 1, [bid(2, 4_000 * USD, kind="max"), bid(1, 2_000 * USD)])
    assert unsold_rules.top_bidder(events) == 2 and type(events[-1]).__name__ == "LotPassed"
    assert unsold_rules.top_bidder(run_lot(sale, 1, [])) is None
    # 2 suspended before the close and their bids struck: 1 is left leading, and gets the reserve offer
    struck = BidsCancelled(seq=0, at_ms=0, bidder=2, reason="suspended", price=2_000 * USD, leader=1,
                           leader_paddle=101, leader_max=2_000 * USD, bid_count=1)  # fmt: skip
    assert unsold_rules.top_bidder([*events[:-1], struck, events[-1]]) == 1
    assert unsold_rules.return_declared_value(RESERVE, LOW) == LOW
    assert unsold_rules.relist_opening(100 * USD, 50 * USD) == 50 * USD
    assert unsold_rules.relist_opening(100 * USD, 0) == 100 * USD
