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
from auction.engine.lifecycle import Format
from auction.engine.lot import LotState, LotTerms, decide, evolve, new_lot
from auction.engine.messages import (
    EVENT_ENCODER,
    AnyCommand,
    AnyEvent,
    CloseLot,
    HammerLot,
    OpenLot,
    PassLot,
    PlaceBid,
    Rejected,
    ReopenLot,
    TakeBid,
)
from auction.record import event_row, write_events

START = 1_700_000_000_000
CLOSE = START + 3_600_000
USD = 100  # cents per dollar

_clients = itertools.count(1)


def bid(bidder: int, amount: int, at_ms: int = START + 1000, kind: str = "bid") -> PlaceBid:
    return PlaceBid(at_ms, bidder, 100 + bidder, amount, f"s{next(_clients)}", kind)  # type: ignore[arg-type]


async def make_sale(
    pg: asyncpg.Pool,
    sale_id: int,
    lots: int,
    reserve: int = 0,
    settings: SaleSettings | None = None,
    sale_format: Format = "timed",
    opening: int = 100,
    estimate: int = 10**12,
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
            NewLot(lot=n, title=f"stone {n}", consignor_id=consignor, diamond=stone, low_estimate=estimate,
                   high_estimate=estimate, reserve=reserve, opening=opening)
            for n in range(1, lots + 1)
        ],
        settings=settings or SaleSettings(),
        format=sale_format,
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


async def publish(
    redis: Redis, pg: asyncpg.Pool, sale_id: int, lot: int, events: Sequence[AnyEvent], *, record: bool = True
) -> None:
    """What the store and the persister would have done with a lot's events (`record=False`: the store only, the
    persister behind)."""
    await redis.sadd(keys.ACTIVE_SALES, sale_id)
    rows = []
    for event in events:
        data = EVENT_ENCODER.encode(event)
        await redis.xadd(
            keys.sale_events(sale_id), {keys.LOT_FIELD: lot, keys.SEQ_FIELD: event.seq, keys.EVENT_FIELD: data}
        )
        rows.append(event_row(sale_id, lot, event, data.decode()))
    if record:
        await write_events(pg, rows)


async def forget(redis: Redis, sale_id: int) -> None:
    await redis.srem(keys.ACTIVE_SALES, sale_id)


async def registered_buyers(pg: asyncpg.Pool, sale_id: int, count: int, limit: int | None = None) -> list[int]:
    """`count` approved companies registered for the sale (paddles 11, 12, ...), with `limit` (None: none): who
    may buy after the hammer is who may bid, so second chances and post-sale offers need real buyers."""
    companies = []
    for n in range(count):
        bidder, _token = await catalog.add_bidder(pg, f"Buyer {n}", f"Settlement Buyer Co {sale_id}-{n}")
        await catalog.register(pg, sale_id, bidder.id, 11 + n, limit)
        companies.append(bidder.id)
    return companies


class EngineLot:
    """A lot of any format run through the engine's own decide, command by command: each step's events are
    what the store would commit, to publish and settle one step at a time."""

    def __init__(self, terms: LotTerms) -> None:
        self.state: LotState = new_lot(terms)
        self.at_ms = terms.start_ms

    def run(self, *commands: AnyCommand) -> list[AnyEvent]:
        """The events of the commands, each decided on the state the ones before left; a refusal is a bug."""
        events: list[AnyEvent] = []
        for command in commands:
            decision = decide(self.state, command)
            assert not isinstance(decision, Rejected), (command, decision)
            for event in decision:
                self.state = evolve(self.state, event)
                events.append(event)
        return events

    def tick(self) -> int:
        self.at_ms += 1_000
        return self.at_ms


class LiveLot(EngineLot):
    """A live lot at the rostrum: opened, bid on from the floor at the ask, hammered, passed, reopened."""

    def open(self) -> list[AnyEvent]:
        return self.run(OpenLot(self.tick()))

    def bid(self, bidder: int) -> list[AnyEvent]:
        """A floor bid at the ask for `bidder` (paddle 100 + bidder, as `bid` gives)."""
        return self.run(TakeBid(self.tick(), bidder, 100 + bidder, "floor", f"f{next(_clients)}"))

    def bid_to(self, bidder: int, at_least: int, rival: int) -> list[AnyEvent]:
        """`bidder` and `rival` bid in turn until `bidder` leads at `at_least` or more."""
        events: list[AnyEvent] = []
        while self.state.leader != bidder or self.state.price < at_least:
            events += self.bid(rival if self.state.leader == bidder else bidder)
        return events

    def hammer(self) -> list[AnyEvent]:
        return self.run(HammerLot(self.tick()))

    def pass_lot(self) -> list[AnyEvent]:
        return self.run(PassLot(self.tick()))

    def reopen(self) -> list[AnyEvent]:
        return self.run(ReopenLot(self.tick(), "a missed bid"))
