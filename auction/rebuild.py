"""Rebuild a lot's state from the record in PostgreSQL: replay is a fold of `evolve` over its events.

Used to check Redis against the record, and to restore a lot after losing Redis.
"""

from __future__ import annotations

import asyncpg

from auction.engine.lot import LotState, LotTerms, replay
from auction.persister import load_lot_events


async def rebuild_from_record(pg: asyncpg.Pool, terms: LotTerms) -> LotState:
    return replay(terms, await load_lot_events(pg, terms.sale, terms.lot))
