"""A catalogued sale whose lots are run through the engine's own decide, and the closes put where settlement
reads them: the sale's event stream in Redis (as the store writes it) and the record in PostgreSQL (as the
persister writes it)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import asyncpg
from redis.asyncio import Redis

from auction import catalog, keys
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.diamonds import Diamond
from auction.engine.lot import LotState, decide, evolve, new_lot
from auction.engine.messages import EVENT_ENCODER, AnyEvent, CloseLot, PlaceBid, Rejected
from auction.record import event_row, write_events

START = 1_700_000_000_000
CLOSE = START + 3_600_000
USD = 100  # cents per dollar

_clients = itertools.count(1)


def bid(bidder: int, amount: int, at_ms: int = START + 1000, kind: str = "bid") -> PlaceBid:
    return PlaceBid(at_ms, bidder, 100 + bidder, amount, f"s{next(_clients)}", kind)  # type: ignore[arg-type]


async def make_sale(
    pg: asyncpg.Pool, sale_id: int, lots: int, reserve: int = 0, settings: SaleSettings | None = None
) -> tuple[NewSale, int]:
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    stone = Diamond(carat_points=90, shape="Round", colour="G", clarity="VS2")
    sale = NewSale(
        id=sale_id,
        name=f"settlement test {sale_id}",
        currency="USD",
        starts_at_ms=START,
        first_close_ms=CLOSE,
        lots=[
            NewLot(lot=n, title=f"stone {n}", consignor_id=consignor, diamond=stone, low_estimate=10**12,
                   high_estimate=10**12, reserve=reserve, opening=100)
            for n in range(1, lots + 1)
        ],
        settings=settings or SaleSettings(),
    )  # fmt: skip
    await catalog.insert_sale(pg, sale)
    return sale, consignor


def run_lot(sale: NewSale, lot: int, bids: Sequence[PlaceBid]) -> list[AnyEvent]:
    """The lot's whole record: the bids decided by the engine, then the close."""
    terms = next(t for t in catalog.terms_for(sale) if t.lot == lot)
    state: LotState = new_lot(terms)
    events: list[AnyEvent] = []
    for command in [*bids, CloseLot(at_ms=terms.end_ms + 600_000)]:
        decision = decide(state, command)
        if isinstance(decision, Rejected):
            continue
        for event in decision:
            state = evolve(state, event)
            events.append(event)
    return events


async def publish(redis: Redis, pg: asyncpg.Pool, sale_id: int, lot: int, events: Sequence[AnyEvent]) -> None:
    """What the store and the persister would have done with a lot's events."""
    await redis.sadd(keys.ACTIVE_SALES, sale_id)
    rows = []
    for event in events:
        data = EVENT_ENCODER.encode(event)
        await redis.xadd(
            keys.sale_events(sale_id), {keys.LOT_FIELD: lot, keys.SEQ_FIELD: event.seq, keys.EVENT_FIELD: data}
        )
        rows.append(event_row(sale_id, lot, event, data.decode()))
    await write_events(pg, rows)


async def forget(redis: Redis, sale_id: int) -> None:
    await redis.srem(keys.ACTIVE_SALES, sale_id)
