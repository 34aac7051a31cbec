"""Reading every active sale's event stream as one consumer of a consumer group.

The persister and the settlement service both follow each sale's stream (`sale:{S}:events`) with a group of
their own; the persister follows the sale's journal (`sale:{S}:journal`) the same way. A pass over a sale
reads, in this order: the entries this consumer was given before a crash ("0"), the entries another consumer
was given and abandoned (XAUTOCLAIM past `claim_idle_ms`), then new ones (">"). Entries are acknowledged only
after the handler has returned, so a crash in between redelivers them; both handlers are idempotent, which
makes that harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis

from auction import keys
from auction.redis_adapter import ErrorReply, ensure_group, is_missing_group

log = logging.getLogger(__name__)

# An entry's id and its fields (None when the entry was deleted after it was delivered).
Entry = tuple[bytes, dict[bytes, bytes] | None]
# Handles a sale's entries; returns how many mattered (rows written, closes settled).
Handler = Callable[[int, list[Entry]], Awaitable[int]]


class SaleStreamGroup:
    def __init__(
        self,
        redis: Redis,
        group: str,
        consumer: str,
        *,
        batch: int,
        claim_idle_ms: int,
        only_sales: frozenset[int] | None = None,
        stream: Callable[[int], str] = keys.sale_events,
    ) -> None:
        self._redis = redis
        self._stream = stream
        self.group = group
        self._consumer = consumer
        self._batch = batch
        self._claim_idle_ms = claim_idle_ms
        self._only = only_sales
        self._grouped: set[int] = set()  # sales whose stream already has our group

    async def active_sales(self) -> list[int]:
        """The sales to follow, each with our group on its stream."""
        sales = sorted(int(sale) for sale in await self._redis.smembers(keys.ACTIVE_SALES))
        if self._only is not None:
            sales = [sale for sale in sales if sale in self._only]
        for sale in sales:
            if sale not in self._grouped:
                await self._create_group(sale)
        return sales

    async def drain_once(self, handle: Handler) -> int:
        """Everything currently in the active sales' streams, through `handle`; returns the sum of its counts."""
        return sum([await self._drain_sale(sale, handle) for sale in await self.active_sales()])

    async def _create_group(self, sale: int) -> None:
        """From id 0: a sale's events written before the group existed are read too."""
        await ensure_group(self._redis, self._stream(sale), self.group, start="0")
        self._grouped.add(sale)

    async def _drain_sale(self, sale: int, handle: Handler) -> int:
        try:
            done = await self._read(sale, "0", handle)  # ours from before a crash
            done += await self._claim_abandoned(sale, handle)
            return done + await self._read(sale, ">", handle)
        except ErrorReply as exc:
            if not is_missing_group(exc):
                raise
            self._grouped.discard(sale)  # the stream vanished (say, Redis lost it): recreate the group next pass
            return 0

    async def _read(self, sale: int, start: str, handle: Handler) -> int:
        """Read from `start` until a short read."""
        done = 0
        while True:
            reply: Any = await self._redis.xreadgroup(
                self.group, self._consumer, {self._stream(sale): start}, count=self._batch
            )
            entries = reply[0][1] if reply else []
            done += await self._handle(sale, entries, handle)
            if len(entries) < self._batch:
                return done

    async def _claim_abandoned(self, sale: int, handle: Handler) -> int:
        """Take over entries another consumer was given but did not ack within claim_idle_ms."""
        done, cursor = 0, "0-0"
        while True:
            cursor_raw, entries, *_deleted = await self._redis.xautoclaim(
                self._stream(sale),
                self.group,
                self._consumer,
                min_idle_time=self._claim_idle_ms,
                start_id=cursor,
                count=self._batch,
            )
            done += await self._handle(sale, entries, handle)
            cursor = cursor_raw.decode() if isinstance(cursor_raw, bytes) else str(cursor_raw)
            if cursor == "0-0":
                return done

    async def _handle(self, sale: int, entries: list[Entry], handle: Handler) -> int:
        """Handle, then ack: an entry is acknowledged only once the handler has kept what it needed."""
        if not entries:
            return 0
        done = await handle(sale, entries)
        await self._redis.xack(self._stream(sale), self.group, *[entry_id for entry_id, _ in entries])
        return done


# ---- what every group has acknowledged (the janitor trims and retires by it) ----------------------------------

# A stream entry's id as numbers, (milliseconds, sequence): ids compare in this order.
StreamId = tuple[int, int]


def parse_id(entry_id: bytes | str) -> StreamId:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(entry_id: StreamId) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


async def oldest_needed(redis: Redis, stream: str, groups: Sequence[str]) -> StreamId | None:
    """The id of the oldest entry of `stream` that one of `groups` still needs (delivered and not acknowledged,
    or never delivered): every entry before it was acknowledged by every group. None while a group is missing
    (a consumer that has not started reads the stream from its start), or when there is no stream."""
    if not await redis.exists(stream):
        return None
    found = {_text(info["name"]): info for info in await redis.xinfo_groups(stream)}
    needed: list[StreamId] = []
    for group in groups:
        info = found.get(group)
        if info is None:
            return None
        ms, seq = parse_id(info["last-delivered-id"])
        needed.append((ms, seq + 1))  # everything delivered so far, unless some of it is pending still
        if int(info["pending"]) > 0:
            oldest_pending = (await redis.xpending(stream, group))["min"]
            if oldest_pending is not None:  # None: acknowledged in between
                needed.append(parse_id(oldest_pending))
    return min(needed)


async def all_acknowledged(redis: Redis, stream: str, groups: Sequence[str]) -> bool:
    """Whether every group has acknowledged every entry of `stream` (true of a stream that is empty or absent)."""
    newest: list[tuple[bytes, Any]] = await redis.xrevrange(stream, count=1)  # type: ignore[assignment]
    if not newest:
        return True
    needed = await oldest_needed(redis, stream, groups)
    return needed is not None and needed > parse_id(newest[0][0])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def follow(
    stop: asyncio.Event,
    one_pass: Callable[[], Awaitable[int]],
    *,
    retry_on: type[Exception],
    name: str,
    idle_s: float = 0.05,
    retry_after_s: float = 1.0,
) -> None:
    """Run passes until `stop` is set: after a pass that found nothing, wait `idle_s`; after a failed one
    (`retry_on`: Redis or PostgreSQL unreachable), log it and retry after `retry_after_s`, never fatal."""
    while not stop.is_set():
        try:
            done = await one_pass()
        except retry_on:
            _reraise_a_cancel()
            log.warning("%s: pass failed, retrying", name, exc_info=True)
            await _wait(stop, retry_after_s)
            continue
        if done == 0:
            await _wait(stop, idle_s)


def _reraise_a_cancel() -> None:
    """A driver (asyncpg) may turn our cancellation into its own error; a cancel must still cancel."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from None


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
