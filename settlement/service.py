"""The settlement service: reacts to lots closing, and runs the clock-driven sweeps.

It reads every active sale's event stream (`sale:{S}:events`, sales listed in `auction:sales`) through its own
consumer group, `settlement`, exactly as the persister does with its group: first its own pending entries
(delivered before a crash, never acked), then entries another settlement consumer abandoned, then new ones.

Commit, then acknowledge. A LotSold is billed, a LotPassed recorded (its top bidder offered it at the reserve),
and a LotReopened (a live lot reopened after the hammer) undoes what the lot's earlier close left, each in one
PostgreSQL transaction that also keeps the event in `lot_closings` (settlement.closings); the entry is XACKed
only after that commit. A crash anywhere re-delivers the entry; its row turns the second attempt into a no-op,
each hammer's posting is keyed by its own event (`lot-sold:<sale>:<lot>:<seq>`), and the partial unique index on
active invoice lines refuses a second bill for a lot whatever key it came with. So killed and restarted at any
point, the service neither misses a close nor bills one twice. Every other event (bids, a tender's viewing,
sealed bids, reveal, and its AcceptanceOffered: the lot waits for its consignor) is none of settlement's business.

A close whose sale isn't in the catalogue (no premium schedule, no consignor) can't be billed, and one settlement
refuses (a reopen of a lot whose consignor was paid already) can't be undone: each is logged and acknowledged,
and `reconcile` lists every sold lot of a catalogued sale that has no bill, or is still billed after a reopen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import asyncpg
from redis.asyncio import Redis

from auction import keys
from auction.engine.messages import EVENT_DECODER, LotPassed, LotReopened, LotSold
from auction.redis_adapter import connect
from auction.sale_streams import Entry, SaleStreamGroup, follow
from settlement import billing, closings, defaults, shipping, suspensions, unsold_sweep
from settlement.errors import InvalidState, NotFound, SettlementError, translate_errors

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.1
SWEEP_EVERY_S = 5.0

_LOT = keys.LOT_FIELD.encode()
_EVENT = keys.EVENT_FIELD.encode()


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


async def settle_close(pg: asyncpg.Pool, sale_id: int, lot_no: int, event: closings.Closing) -> bool:
    """Bill a sold lot, record a passed one, or undo a reopened one's close, in one transaction; False if it was
    done before."""
    return await closings.settle(pg, sale_id, lot_no, event)


async def sweep(
    pg: asyncpg.Pool, redis: Redis, now_ms: int, *, only_sales: frozenset[int] | None = None
) -> dict[str, int]:
    """Everything the passing of time does after the hammer, up to `now_ms`; each step idempotent.

    Defaults first, since a default may suspend a buyer (whose live bids are then cancelled in the engine) and
    may free a lot for a second chance; passed lots' windows next; then what follows payment: the stones
    shipped to their buyers, carriers asked about parcels, consignors paid once the hold is over."""
    done = await defaults.sweep(pg, now_ms, only_sales)
    done["lots_revised_for_suspensions"] = await suspensions.apply_suspensions(pg, redis, now_ms, only_sales=only_sales)
    done |= {f"unsold_{k}": v for k, v in (await unsold_sweep.sweep(pg, now_ms)).items()}
    done["shipments_to_buyers"] = len(await shipping.ship_paid_invoices(pg, now_ms))
    done["tracking_updates"] = (await shipping.poll_carriers(pg)).applied
    done["payouts"] = len(await billing.release_payouts(pg, now_ms))
    return done


class SettlementService:
    def __init__(
        self,
        redis: Redis,
        pg: asyncpg.Pool,
        *,
        consumer: str = "settlement-1",
        batch: int = 200,
        claim_idle_ms: int = 30_000,
        clock: Callable[[], int] = wall_clock_ms,
        only_sales: frozenset[int] | None = None,
    ) -> None:
        """`only_sales` limits the service to some sales (tests sharing a Redis; a service per sale)."""
        self._redis = redis
        self._pg = pg
        self._consumer = consumer
        self._clock = clock
        self._only_sales = only_sales
        self._streams = SaleStreamGroup(
            redis, keys.SETTLEMENT_GROUP, consumer, batch=batch, claim_idle_ms=claim_idle_ms, only_sales=only_sales
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Settle until `stop` is set; failures of Redis or PostgreSQL are retried, never fatal. Closes are billed
        as they come, and time's work (reminders, interest, defaults, payouts) runs every SWEEP_EVERY_S beside
        it: a sweep over many open invoices takes a while, and a close must never wait for one to be billed."""
        name = f"settlement {self._consumer}"
        async with asyncio.TaskGroup() as both:  # one failing for good stops the other: the caller restarts both
            both.create_task(follow(stop, self.drain_once, retry_on=SettlementError, name=name, idle_s=IDLE_POLL_S))
            both.create_task(
                follow(stop, self._sweep, retry_on=SettlementError, name=f"{name} sweep", idle_s=SWEEP_EVERY_S)
            )

    async def _sweep(self) -> int:
        """Let time act once; 0, so that `follow` waits SWEEP_EVERY_S before the next. Raises SettlementError (so
        that `run` retries it rather than dying of it)."""
        with translate_errors("sweeping"):
            await sweep(self._pg, self._redis, self._clock(), only_sales=self._only_sales)
        return 0

    async def drain_once(self) -> int:
        """Settle every close currently in the streams of active sales; returns the closes newly settled."""
        with translate_errors("settling closes"):
            return await self._streams.drain_once(self._settle)

    async def _settle(self, sale: int, entries: list[Entry]) -> int:
        """Commit each close (the stream group acks them all once this returns; the others need nothing)."""
        return sum([await self._settle_entry(sale, fields) for _id, fields in entries if fields])

    async def _settle_entry(self, sale: int, fields: dict[bytes, bytes]) -> int:
        event = EVENT_DECODER.decode(fields[_EVENT])
        if not isinstance(event, LotSold | LotPassed | LotReopened):
            return 0
        lot = int(fields[_LOT])
        try:
            return int(await settle_close(self._pg, sale, lot, event))
        except NotFound as exc:
            log.warning("settlement: sale %s lot %s closed but can't be settled: %s", sale, lot, exc)
            return 0
        except InvalidState as exc:  # retrying can't help, and would hold up the sale's every later close
            log.error("settlement: sale %s lot %s: %s refused, left for an operator: %s", sale, lot, event, exc)
            return 0


async def run_settlement(redis_url: str, database_url: str, stop: asyncio.Event | None = None) -> None:
    """`auction settlement`: the service as a process, until SIGINT/SIGTERM (or `stop`)."""
    import signal

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    redis = connect(redis_url)
    pg = await asyncpg.create_pool(database_url, min_size=0, max_size=4)  # 0: starts while PostgreSQL is down
    try:
        await SettlementService(redis, pg).run(stop)
    finally:
        await pg.close()
        await redis.aclose()
