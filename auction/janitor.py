"""The janitor: every key in Redis has a lifecycle, so nothing there grows for ever (the worker runs it).

What each kind of key lives for:
- a sale's event stream (`sale:{S}:events`): an entry goes once both its consumer groups (the persister and
  settlement) have acknowledged it, and it is older than STREAM_TAIL_MS by the stream's own clock (its newest
  entry). The tail spares a live feed that fell a little behind (auction.gateway.fanout) the gap-filling reads;
- a sale's journal (`sale:{S}:journal`): likewise, once the persister's group has acknowledged it;
- a lot's stream (`sale:{S}:lot:N:events`, what watchers resume from): its last LOT_STREAM_TAIL events are kept,
  and never one the record in PostgreSQL lacks. A lot's events run into the hundreds, so an ordinary lot keeps
  its whole stream while it is open; a lot with more (thousands of raises of a maximum) keeps its last ones.
  Whoever needs older events reads them from the record (LotStore.events_after: settlement's cancellation, the
  HTTP poll); a live watcher resuming from further back gets a snapshot instead (docs/PROTOCOL.md);
- an answer (`sale:{S}:answer:...`): expires by itself after the idempotency window, set by the commit script
  (auction.store.planner.IDEMPOTENCY_WINDOW_MS): nothing to do here;
- a sale: it is retired once finished (every lot final, every event and journal entry acknowledged by every
  group: recorded, and every close settled). It leaves `auction:sales`, so the pollers stop looking at it, and
  `auction:retired` lists it. RETIRED_GRACE_MS later its keys are purged, all but its fence (a fencing token
  must never go back) and its retirement marker (two small keys a sale). A purged lot's state can be rebuilt
  from the record (auction.record.rebuild_from_record).

Safe with two janitors and any writer, every step idempotent:
- trimming removes only what every group acknowledged (and, for a lot's stream, what the record holds);
- retiring marks the sale first (`at` in `sale:{S}:retired`), then checks that it is finished, then takes it
  out of `auction:sales`, then looks at the mark again. Every write to a sale's journal (the store's commit,
  create and standing scripts) deletes the mark in its own atomic step and puts the sale back: a write before
  the check is seen by it; one after it is seen by the last look, which puts the sale back itself;
- purging is one atomic step that deletes only if the mark is still the one the retirement wrote. A sale whose
  mark has moved goes back among the active sales, where the next pass retires it again if it is finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from auction import keys
from auction.engine.lifecycle import FINAL
from auction.record import recorded_prefixes
from auction.sale_streams import all_acknowledged, format_id, oldest_needed, parse_id
from auction.store import StoreError, decode_state, translate_errors
from auction.store.scripts import PURGE_LUA, TRIM_LUA

log = logging.getLogger(__name__)

STREAM_TAIL_MS = 60_000  # a sale's streams keep their last minute, recorded or not: a slow live feed's margin
LOT_STREAM_TAIL = 1_000  # events a lot's stream keeps: what a watcher can resume from without a snapshot
RETIRED_GRACE_MS = 24 * 3_600_000  # a retired sale's keys stay a day: late readers, a relisted lot, an inquiry
PASS_EVERY_S = 5.0  # between passes: trimming is about memory, not latency
SCAN_COUNT = 1_000  # keys per SCAN step when listing a sale's keys to purge

EVENT_GROUPS = (keys.PERSISTER_GROUP, keys.SETTLEMENT_GROUP)  # who must acknowledge a sale's events
JOURNAL_GROUPS = (keys.PERSISTER_GROUP,)  # who must acknowledge its journal


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class Tidied:
    """What one pass did."""

    trimmed: int = 0  # stream entries removed (sale streams, journals, lot streams)
    retired: int = 0  # sales taken out of `auction:sales`
    purged: int = 0  # retired sales whose keys went

    def __iadd__(self, other: Tidied) -> Tidied:
        self.trimmed += other.trimmed
        self.retired += other.retired
        self.purged += other.purged
        return self


class Janitor:
    def __init__(
        self,
        redis: Redis,
        pg: asyncpg.Pool,
        *,
        stream_tail_ms: int = STREAM_TAIL_MS,
        lot_stream_tail: int = LOT_STREAM_TAIL,
        retired_grace_ms: int = RETIRED_GRACE_MS,
        clock: Callable[[], int] = wall_clock_ms,
        only_sales: frozenset[int] | None = None,
    ) -> None:
        """`only_sales` limits it to some sales (tests sharing a Redis with other tests' sales)."""
        if lot_stream_tail < 1:
            raise ValueError("a lot's stream keeps at least its last event: it says where the lot is")
        self._redis = redis
        self._pg = pg
        self._stream_tail_ms = stream_tail_ms
        self._lot_tail = lot_stream_tail
        self._grace_ms = retired_grace_ms
        self._clock = clock
        self._only = only_sales
        self._purge = redis.register_script(PURGE_LUA)
        self._trim_counted = redis.register_script(TRIM_LUA)

    async def run(self, stop: asyncio.Event, every_s: float = PASS_EVERY_S) -> None:
        """A pass every `every_s` until `stop` is set; a failed pass (Redis or PostgreSQL out of reach) is
        logged, and the next one tries again."""
        while not stop.is_set():
            try:
                await self.pass_once()
            except StoreError:
                log.warning("janitor: pass failed, retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    async def pass_once(self) -> Tidied:
        """Trim every active sale's streams and retire the finished ones; purge the retired sales past grace."""
        done = Tidied()
        with translate_errors("tidying Redis"):
            for sale in await self._active_sales():
                done += await self.tidy_sale(sale)
            done.purged += await self._purge_due()
        return done

    async def tidy_sale(self, sale: int) -> Tidied:
        lots = await self._lots(sale)
        done = Tidied()
        done.trimmed += await self._trim_sale_stream(keys.sale_events(sale), EVENT_GROUPS)
        done.trimmed += await self._trim_sale_stream(keys.sale_journal(sale), JOURNAL_GROUPS, counted_in=sale)
        done.trimmed += await self._trim_lot_streams(sale, lots)
        done.retired += await self._retire_if_finished(sale, lots)
        return done

    async def _lots(self, sale: int) -> list[int]:
        members: list[bytes] = await self._redis.zrange(keys.sale_lots(sale), 0, -1)  # type: ignore[assignment]
        return [int(lot) for lot in members]

    async def _active_sales(self) -> list[int]:
        sales = sorted(int(sale) for sale in await self._redis.smembers(keys.ACTIVE_SALES))
        return [sale for sale in sales if self._only is None or sale in self._only]

    # ---- trimming -----------------------------------------------------------------------------------------

    async def _trim_sale_stream(self, stream: str, groups: tuple[str, ...], counted_in: int | None = None) -> int:
        """Remove the entries every group acknowledged, but for the stream's last STREAM_TAIL_MS; a journal's
        (`counted_in` its sale) are counted as they go, so that its whole length stays known."""
        needed = await oldest_needed(self._redis, stream, groups)
        newest: list[tuple[bytes, object]] = await self._redis.xrevrange(stream, count=1)  # type: ignore[assignment]
        if needed is None or not newest:
            return 0
        tail_starts = (parse_id(newest[0][0])[0] - self._stream_tail_ms, 0)
        keep_from = format_id(min(needed, tail_starts))
        trimmed: int
        if counted_in is None:
            trimmed = await self._redis.xtrim(stream, minid=keep_from, approximate=False)
        else:
            trimmed = await self._trim_counted(keys=[stream, keys.sale_trimmed(counted_in)], args=[keep_from])
        return trimmed

    async def _trim_lot_streams(self, sale: int, lots: list[int]) -> int:
        """Cut each long lot stream to its last LOT_STREAM_TAIL events, keeping any the record lacks."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for lot in lots:
                pipe.xlen(keys.lot_events(sale, lot))
            lengths: list[int] = await pipe.execute()
        long = [lot for lot, length in zip(lots, lengths, strict=True) if length > self._lot_tail]
        if not long:
            return 0
        recorded = await recorded_prefixes(self._pg, sale, long)
        trimmed = 0
        for lot in long:
            trimmed += await self._trim_lot_stream(keys.lot_events(sale, lot), recorded.get(lot, 0))
        return trimmed

    async def _trim_lot_stream(self, stream: str, recorded_up_to: int) -> int:
        """A lot stream's entry ids are `<seq>-0`: keep from the first seq that is either unrecorded or in the tail."""
        newest: list[tuple[bytes, object]] = await self._redis.xrevrange(stream, count=1)  # type: ignore[assignment]
        if not newest:
            return 0
        last_seq = parse_id(newest[0][0])[0]
        keep_from = min(recorded_up_to, last_seq - self._lot_tail) + 1
        if keep_from <= 1:
            return 0
        trimmed: int = await self._redis.xtrim(stream, minid=f"{keep_from}-0", approximate=False)
        return trimmed

    # ---- retiring -----------------------------------------------------------------------------------------

    async def _retire_if_finished(self, sale: int, lots: list[int]) -> int:
        """Mark, check, leave `auction:sales`, look at the mark again (see the module's docstring). A sale that
        is plainly not finished is left alone, unmarked, so that a busy sale's writers never meet a mark."""
        if not await self._finished(sale, lots):
            return 0
        marker, at = keys.sale_retired(sale), str(self._clock())
        await self._redis.hset(marker, keys.RETIRED_AT_FIELD, at)
        lots = await self._lots(sale)  # as of the mark
        if not await self._finished(sale, lots):
            await self._redis.hdel(marker, keys.RETIRED_AT_FIELD)
            return 0
        await self._redis.zadd(keys.RETIRED_SALES, {str(sale): int(at)})
        await self._redis.srem(keys.ACTIVE_SALES, sale)
        if await self._mark_moved(sale, at):  # written to since the mark: back among the active sales
            await self._redis.sadd(keys.ACTIVE_SALES, sale)
            return 0
        return 1

    async def _finished(self, sale: int, lots: list[int]) -> bool:
        """Every lot final (a sale with none only if it was purged before: a sale whose standings are published
        before its lots are loaded is not finished), and everything recorded and settled."""
        if not lots and not await self._redis.hexists(keys.sale_retired(sale), keys.PURGED_FIELD):
            return False
        if await self._scheduled(sale) or not await self._all_final(sale, lots):
            return False
        events_done = await all_acknowledged(self._redis, keys.sale_events(sale), EVENT_GROUPS)
        return events_done and await all_acknowledged(self._redis, keys.sale_journal(sale), JOURNAL_GROUPS)

    async def _scheduled(self, sale: int) -> bool:
        """Whether the clock has a timed lot of the sale still to open or close: cheaper than reading every lot."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.sale_opens(sale))
            pipe.zcard(keys.sale_closes(sale))
            counts: list[int] = await pipe.execute()
        return sum(counts) > 0

    async def _all_final(self, sale: int, lots: list[int]) -> bool:
        async with self._redis.pipeline(transaction=False) as pipe:
            for lot in lots:
                pipe.hget(keys.lot_state(sale, lot), keys.STATE_FIELD)
            found: list[bytes | None] = await pipe.execute()
        return all(data is not None and decode_state(data).status in FINAL for data in found)

    async def _mark_moved(self, sale: int, at: str) -> bool:
        mark: bytes | None = await self._redis.hget(keys.sale_retired(sale), keys.RETIRED_AT_FIELD)  # type: ignore[assignment]
        return mark is None or mark.decode() != at

    # ---- purging ------------------------------------------------------------------------------------------

    async def _purge_due(self) -> int:
        due_before = self._clock() - self._grace_ms
        due: list[tuple[bytes, float]] = await self._redis.zrangebyscore(
            keys.RETIRED_SALES, "-inf", due_before, withscores=True
        )  # type: ignore[assignment]
        purged = 0
        for member, score in due:
            sale = int(member)
            if self._only is None or sale in self._only:
                purged += await self._purge_sale(sale, str(int(score)))
        return purged

    async def _purge_sale(self, sale: int, at: str) -> int:
        marker = keys.sale_retired(sale)
        doomed = await self._sale_keys(sale)
        fixed = [marker, keys.sale_opens(sale), keys.sale_closes(sale)]
        outcome = await self._purge(keys=[*fixed, *doomed], args=[at])
        await self._redis.zrem(keys.RETIRED_SALES, sale)
        if outcome == b"purged":
            await self._redis.srem(keys.ACTIVE_SALES, sale)
        if outcome != b"purged" or await self._mark_moved(sale, at):
            await self._redis.sadd(keys.ACTIVE_SALES, sale)  # the next pass retires it again once finished
            return 0
        return 1

    async def _sale_keys(self, sale: int) -> list[str]:
        """Every key of the sale but the two that outlive it. Keys written after this listing can only be a
        write's, which moves the mark, and the purge then deletes nothing."""
        kept = {keys.sale_retired(sale), keys.sale_fence(sale)}
        found: list[str] = []
        async for key in self._redis.scan_iter(match=f"{keys.sale_prefix(sale)}:*", count=SCAN_COUNT):
            name = key.decode() if isinstance(key, bytes) else str(key)
            if name not in kept:
                found.append(name)
        return found


__all__ = ["LOT_STREAM_TAIL", "RETIRED_GRACE_MS", "STREAM_TAIL_MS", "Janitor", "Tidied"]
