"""The scheduler leaves a live sale's lots alone: the rostrum opens and closes them (auction/engine/formats/live.py),
so a live lot is never put on the clock's timers when it is created, while a timed lot of the same sale is."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from redis.asyncio import Redis

from auction import keys
from auction.engine.state import LiveTerms
from auction.scheduler import Scheduler
from auction.store import LotStore
from tests.lots import END, START, terms_for


async def test_a_live_lot_is_on_no_timer_and_the_scheduler_never_opens_or_closes_it(
    store: LotStore, redis: Redis, new_sale_id: Callable[[], int]
) -> None:
    sale = new_sale_id()
    live = msgspec.structs.replace(terms_for(sale, 1), format="live", live=LiveTerms())
    timed = terms_for(sale, 2)
    await store.create_lots([live, timed])
    assert await redis.zrange(keys.sale_opens(sale), 0, -1, withscores=True) == [(b"2", START)]
    assert await redis.zrange(keys.sale_closes(sale), 0, -1, withscores=True) == [(b"2", END)]

    scheduler = Scheduler(store, redis, only_sales=frozenset({sale}))
    committed = await scheduler.tick(END + 1)  # past both lots' start and end
    assert [a.state.terms.lot for a in committed] == [2]  # the timed lot, passed
    state = await store.state(sale, 1)
    assert state is not None and (state.status, state.seq) == ("scheduled", 0)
