"""Commit scripts on a Redis connection of their own, several in flight, replies read in order.

Redis runs the commands of one connection in the order they arrive, so commits sent one after another run one
after another, exactly as if each had waited for the reply of the one before: the order (and so the
compare-and-set reasoning of the committer) is unchanged, only the waiting is gone. The script goes as EVAL
with its source: Redis keeps it compiled by its hash, and there is no NOSCRIPT to recover from after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from auction.redis_adapter import REDIS_ERRORS, ErrorReply

from .scripts import COMMIT_LUA


class CommitPipe:
    def __init__(self, redis: Redis) -> None:
        self._pool = redis.connection_pool
        self._connection: AbstractConnection | None = None
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._reader: asyncio.Task[None] | None = None

    async def send(self, commit_keys: list[str], args: list[bytes], reply: asyncio.Future[Any]) -> None:
        """Write one commit; `reply` gets its reply, or fails with the error if the connection breaks (whether
        the commit ran is then unknown). Never raises: a failed write fails `reply`."""
        self._waiting.append(reply)
        connection = self._connection
        try:
            if connection is None:
                connection = self._connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
            await connection.send_command("EVAL", COMMIT_LUA, len(commit_keys), *commit_keys, *args, check_health=False)
        except REDIS_ERRORS as exc:
            await self._broken(connection, exc)
            return
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(connection), name="lot-store-replies")

    async def _read(self, connection: AbstractConnection) -> None:
        try:
            while self._waiting and self._connection is connection:
                try:
                    reply = await connection.read_response()
                except ErrorReply as exc:  # the script failed: that commit's reply, the connection is fine
                    _settle(self._waiting.popleft(), None, exc)
                    continue
                _settle(self._waiting.popleft(), reply, None)
        except REDIS_ERRORS as exc:
            await self._broken(connection, exc)
        finally:
            if self._reader is asyncio.current_task():
                self._reader = None

    async def _broken(self, connection: AbstractConnection | None, error: Exception) -> None:
        """Every commit in flight on `connection` fails with `error`; the next send opens a new connection."""
        if connection is not None and self._connection is not connection:
            return
        self._connection = None
        waiting, self._waiting = self._waiting, deque()
        for reply in waiting:
            _settle(reply, None, error)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()
                await self._pool.release(connection)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(connection)


def _settle(future: asyncio.Future[Any], result: Any, error: Exception | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
