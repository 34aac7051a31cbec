"""A sealed-bid tender's lots as settlement follows them, against real Redis and PostgreSQL: the tender's events
run through the engine's own decide, put in the sale's stream and record, and settled by the settlement service.

A LotSold (at the reveal, or when the consignor accepts the top bid below the reserve) is billed like any
hammer; AcceptanceOffered is no pass (the lot waits for its consignor); a LotPassed (declined, or the window
lapsed) takes the passed lot's path, the reserve offered to the top bidder; and the tender's other events
(ViewingOpened, TenderBidSubmitted, BidsClosed, TenderRevealed) are none of settlement's business.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg
import msgspec
from redis.asyncio import Redis

from auction import catalog
from auction.engine.formats.tender import commitment
from auction.engine.lot import LotTerms
from auction.engine.messages import (
    AcceptanceOffered,
    AcceptTenderOffer,
    AnyEvent,
    BidsClosed,
    CloseLot,
    DeclineTenderOffer,
    LotOpened,
    LotPassed,
    LotSold,
    OpenLot,
    RevealedBid,
    RevealTender,
    SubmitTenderBid,
    TenderBidSubmitted,
    TenderRevealed,
    ViewingOpened,
)
from auction.engine.premium import all_in
from auction.engine.state import TenderTerms
from settlement.reconcile import reconcile
from settlement.rules import DAY_MS, HOUR_MS
from settlement.service import SettlementService
from settlement.unsold_views import passed_lots
from tests.settlement.helpers import USD, EngineLot, forget, make_sale, publish, registered_buyers

RESERVE = 50_000 * USD
SALT = "s4lt"


class TenderLot(EngineLot):
    """A tender lot: viewing, the bid window, sealed bids, the close, the reveal, the consignor's answer."""

    def __init__(self, terms: LotTerms) -> None:
        super().__init__(terms)
        self.amounts: dict[int, int] = {}

    def through_the_reveal(self, bids: dict[int, int]) -> list[AnyEvent]:
        """Viewing, then the bids (`bidder -> amount`), sealed; the window closes and the officers reveal them."""
        terms = self.state.terms
        events = self.run(OpenLot(terms.start_ms), OpenLot(terms.tender.bids_from_ms))
        for bidder, amount in bids.items():
            made = commitment(terms.sale, terms.lot, bidder, f"t{bidder}", amount, None, SALT)
            events += self.run(SubmitTenderBid(terms.tender.bids_from_ms + 1, bidder, 100 + bidder, f"t{bidder}",
                                               "c2VhbGVk", made))  # fmt: skip
        events += self.run(CloseLot(terms.end_ms))
        opened = tuple(RevealedBid(bidder, f"t{bidder}", amount, None, SALT) for bidder, amount in bids.items())
        return events + self.run(RevealTender(terms.end_ms + HOUR_MS, opened))


def _tender_lots(sale: catalog.NewSale) -> list[TenderLot]:
    """The sale's lots as a tender runs them: viewing from the start, bids for the last 40 minutes."""
    tender = TenderTerms(bids_from_ms=sale.starts_at_ms + 20 * 60_000, acceptance_window_ms=DAY_MS)
    return [TenderLot(msgspec.structs.replace(t, format="tender", tender=tender)) for t in catalog.terms_for(sale)]


def _types(events: Sequence[AnyEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


async def _lines(pg: asyncpg.Pool, sale_id: int) -> list[tuple[int, int, int, str, str]]:
    rows = await pg.fetch(
        "SELECT l.lot_no, i.buyer_id, l.hammer, l.source, l.status FROM invoice_lines l "
        "JOIN invoices i ON i.id = l.invoice_id WHERE l.sale_id = $1 ORDER BY l.lot_no, l.id",
        sale_id,
    )
    return [(r["lot_no"], r["buyer_id"], r["hammer"], r["source"], r["status"]) for r in rows]


async def test_a_tenders_sales_are_billed_its_passes_take_the_passed_path_and_the_rest_is_ignored(
    redis: Redis, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    sale_id = new_sale_id()
    # The catalogue does not create tender sales yet (catalog.RUNNABLE_FORMATS); settlement follows the events.
    sale, _consignor = await make_sale(pg, sale_id, lots=4, reserve=RESERVE, estimate=60_000 * USD)
    await pg.execute("UPDATE sales SET format = 'tender' WHERE id = $1", sale_id)
    a, b, c = await registered_buyers(pg, sale_id, 3)
    over, accepted, declined, lapsed = _tender_lots(sale)
    revealed = {
        1: over.through_the_reveal({a: 52_000 * USD, b: 61_000 * USD}),  # at or above the reserve: sold
        2: accepted.through_the_reveal({c: 45_000 * USD}),  # below: offered to the consignor, who accepts
        3: declined.through_the_reveal({a: 40_000 * USD, c: 30_000 * USD}),  # below: the consignor declines
        4: lapsed.through_the_reveal({b: 20_000 * USD}),  # below: the acceptance window lapses
    }
    assert _types(revealed[1])[:4] == ["ViewingOpened", "LotOpened", "TenderBidSubmitted", "TenderBidSubmitted"]
    assert _types(revealed[1])[-3:] == ["BidsClosed", "TenderRevealed", "LotSold"]
    assert [_types(revealed[n])[-1] for n in (2, 3, 4)] == ["AcceptanceOffered"] * 3
    every_kind = {type(event) for events in revealed.values() for event in events}
    assert every_kind == {ViewingOpened, LotOpened, TenderBidSubmitted, BidsClosed, TenderRevealed, LotSold,
                          AcceptanceOffered}  # fmt: skip
    service = SettlementService(redis, pg, only_sales=frozenset({sale_id}))
    for lot, events in revealed.items():
        await publish(redis, pg, sale_id, lot, events)
    try:
        assert await service.drain_once() == 1  # lot 1's LotSold; nothing else was a close
        assert await _lines(pg, sale_id) == [(1, b, 61_000 * USD, "hammer", "active")]
        assert await passed_lots(pg, sale_id) == []  # a lot awaiting its consignor has not passed
        kept = await pg.fetch("SELECT lot_no, event FROM lot_closings WHERE sale_id = $1 ORDER BY lot_no", sale_id)
        assert [(r["lot_no"], r["event"]) for r in kept] == [(1, "LotSold")]

        offered = {lot: events[-1] for lot, events in revealed.items() if isinstance(events[-1], AcceptanceOffered)}
        answers = {
            2: accepted.run(AcceptTenderOffer(offered[2].at_ms + HOUR_MS)),
            3: declined.run(DeclineTenderOffer(offered[3].at_ms + HOUR_MS)),
            4: lapsed.run(CloseLot(offered[4].until_ms)),
        }
        assert [_types(events) for events in answers.values()] == [["LotSold"], ["LotPassed"], ["LotPassed"]]
        for lot, events in answers.items():
            await publish(redis, pg, sale_id, lot, events)
        assert await service.drain_once() == 3
    finally:
        await forget(redis, sale_id)

    assert await _lines(pg, sale_id) == [
        (1, b, 61_000 * USD, "hammer", "active"),
        (2, c, 45_000 * USD, "hammer", "active"),  # the top bid the consignor accepted, billed like a hammer
    ]
    invoice = await pg.fetchrow("SELECT * FROM invoices WHERE sale_id = $1 AND buyer_id = $2", sale_id, c)
    line = await pg.fetchrow("SELECT * FROM invoice_lines WHERE invoice_id = $1", invoice["id"])
    assert line["total"] == all_in(45_000 * USD, sale.settings.premium)
    passed = {lot.lot: lot for lot in await passed_lots(pg, sale_id)}
    assert sorted(passed) == [3, 4]
    for lot, top, amount in ((3, a, 40_000 * USD), (4, b, 20_000 * USD)):
        closed = answers[lot][-1]
        assert isinstance(closed, LotPassed)
        view = passed[lot]
        assert (view.status, view.highest_bid, view.window_ms) == ("post_sale", amount, closed.at_ms + 72 * HOUR_MS)
        [reserve_offer] = view.offers  # the consignor's no, or the window lapsing: the top bidder gets the reserve
        assert (reserve_offer.kind, reserve_offer.buyer, reserve_offer.amount) == ("reserve", top, RESERVE)
    assert await reconcile(pg, sale_id) == []
