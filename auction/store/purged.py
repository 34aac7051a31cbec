"""A purged sale, read from the record: once the janitor has purged a finished sale's keys from Redis, its lots'
states are rebuilt from PostgreSQL (the catalogue's terms, the recorded events) and its events read from there.

Only for a sale the janitor marked purged (`purged` in `sale:{S}:retired`): a sale whose lots are simply not
loaded yet reads as empty, as it always has. A purged sale's lots are final, so what is rebuilt never changes
while the sale stays purged (lots loaded into it again are read from Redis first); the last few sales rebuilt
are kept in memory.
"""

from __future__ import annotations

from collections import OrderedDict

import asyncpg
from redis.asyncio import Redis

from auction import keys
from auction.catalog import stored_terms
from auction.engine.lot import LotState, replay
from auction.engine.messages import AnyEvent
from auction.record import load_lot_events_between, load_sale_events

from .errors import translate_errors

SALES_KEPT = 32  # purged sales whose rebuilt lots are kept in memory
LAST_SEQ = 2**62  # above any lot's seq


class PurgedSales:
    def __init__(self, redis: Redis, pg: asyncpg.Pool | None) -> None:
        self._redis = redis
        self._pg = pg
        self._rebuilt: OrderedDict[int, dict[int, LotState]] = OrderedDict()

    async def is_purged(self, sale: int) -> bool:
        """Whether the record is all there is of the sale (false without a pool: nothing can be read then)."""
        if self._pg is None:
            return False
        with translate_errors("reading a sale's retirement"):
            purged: bool = await self._redis.hexists(keys.sale_retired(sale), keys.PURGED_FIELD)
        return purged

    async def states(self, sale: int) -> dict[int, LotState]:
        """Every lot of the purged sale, rebuilt from the record: lot -> state."""
        assert self._pg is not None
        if sale in self._rebuilt:
            self._rebuilt.move_to_end(sale)
            return self._rebuilt[sale]
        with translate_errors("rebuilding a purged sale from the record"):
            terms = await stored_terms(self._pg, sale)
            events = await load_sale_events(self._pg, sale)
        rebuilt = {t.lot: replay(t, events.get(t.lot, [])) for t in terms}
        self._rebuilt[sale] = rebuilt
        while len(self._rebuilt) > SALES_KEPT:
            self._rebuilt.popitem(last=False)
        return rebuilt

    async def events_after(self, sale: int, lot: int, after_seq: int, limit: int) -> list[AnyEvent]:
        assert self._pg is not None
        with translate_errors("reading a purged sale's events"):
            return await load_lot_events_between(self._pg, sale, lot, after_seq, LAST_SEQ, limit)
