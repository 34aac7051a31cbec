"""The shill monitor's inputs, read from the record in PostgreSQL and kept up to date as the sale runs.

The scoring is pure (auction.engine.shill); it needs the sale's lots as the catalogue has them (each lot's
consignor and schedule), the recorded events of its lots, and each bidder's other sales. A `SaleWatch` reads the
first two once and then only what the record gained since (each lot's events after the last seq it holds, in
order, stopping at a hole the persister has not filled yet), and each bidder's other sales once, when the bidder
first appears. The record is a moment behind the engine (the persister copies it), which a monitor for people
to read can afford; it never puts load on Redis, where the bids are decided.
"""

from __future__ import annotations

import json

import asyncpg

from auction import catalog
from auction.engine.lot import LotTerms
from auction.engine.messages import EVENT_DECODER, AnyEvent, BidAccepted, MaxBidRaised
from auction.engine.shill import PastBidding, ShillReport, shill_report
from auction.engine.state import HOUSE

# Each lot's events after the seq the caller holds of it ($2: {"<lot>": seq}), in order.
_NEW_EVENTS = """
SELECT lot_no, seq, data::text FROM lot_events
WHERE sale_id = $1 AND seq > coalesce(($2::jsonb ->> lot_no::text)::bigint, 0)
ORDER BY lot_no, seq
"""

# For each bidder in $2: the closed lots of other sales they bid on, and how many of those they won.
_PAST = """
WITH bid AS (
    SELECT DISTINCT (data ->> 'bidder')::bigint AS bidder, sale_id, lot_no FROM lot_events
    WHERE type = 'BidAccepted' AND (data ->> 'bidder')::bigint = ANY($2::bigint[]) AND sale_id <> $1
)
SELECT bid.bidder, count(*) AS lots, count(*) FILTER (WHERE EXISTS (
    SELECT 1 FROM lot_events won WHERE won.sale_id = bid.sale_id AND won.lot_no = bid.lot_no
    AND won.type = 'LotSold' AND (won.data ->> 'bidder')::bigint = bid.bidder)) AS won
FROM bid
WHERE EXISTS (SELECT 1 FROM lot_events closed WHERE closed.sale_id = bid.sale_id AND closed.lot_no = bid.lot_no
              AND closed.type IN ('LotSold', 'LotPassed'))
GROUP BY bid.bidder
"""


class SaleWatch:
    """One sale's record as the monitor has read it so far."""

    def __init__(self, pg: asyncpg.Pool, sale: int) -> None:
        self._pg = pg
        self.sale = sale
        self.terms: dict[int, LotTerms] = {}
        self.events: dict[int, list[AnyEvent]] = {}
        self.past: dict[int, PastBidding] = {}

    async def refresh(self) -> bool:
        """Read what the record gained; True when it gained anything."""
        gained = await self._new_events()
        if not self.terms or any(lot not in self.terms for lot in gained):
            self.terms = {terms.lot: terms for terms in await catalog.stored_terms(self._pg, self.sale)}
        newcomers = sorted(_bidders(gained) - set(self.past))
        if newcomers:
            self.past |= await past_bidding(self._pg, self.sale, newcomers)
        return bool(gained)

    def report(self, threshold: int) -> ShillReport:
        return shill_report(self.sale, self.terms, self.events, self.past, threshold)

    async def _new_events(self) -> dict[int, list[AnyEvent]]:
        held = {str(lot): events[-1].seq for lot, events in self.events.items() if events}
        rows = await self._pg.fetch(_NEW_EVENTS, self.sale, json.dumps(held))
        gained: dict[int, list[AnyEvent]] = {}
        for lot, seq, data in rows:
            events = self.events.setdefault(lot, [])
            if seq == (events[-1].seq if events else 0) + 1:  # a hole (the persister mid-batch) waits for next time
                events.append(EVENT_DECODER.decode(data))
                gained.setdefault(lot, []).append(events[-1])
        return gained


def _bidders(events: dict[int, list[AnyEvent]]) -> set[int]:
    return {
        event.bidder
        for recorded in events.values()
        for event in recorded
        if isinstance(event, BidAccepted | MaxBidRaised) and event.bidder != HOUSE
    }


async def past_bidding(pg: asyncpg.Pool, sale: int, bidders: list[int]) -> dict[int, PastBidding]:
    """Each bidder's record in sales other than `sale` (none: nothing closed that they bid on)."""
    rows = await pg.fetch(_PAST, sale, bidders)
    found = {row["bidder"]: PastBidding(row["lots"], row["won"]) for row in rows}
    return {bidder: found.get(bidder, PastBidding()) for bidder in bidders}


async def sale_report(pg: asyncpg.Pool, sale: int, threshold: int) -> ShillReport | None:
    """The sale's scores as the record has it now; None when the catalogue has no such sale."""
    watch = SaleWatch(pg, sale)
    await watch.refresh()
    return watch.report(threshold) if watch.terms else None


__all__ = ["SaleWatch", "past_bidding", "sale_report"]
