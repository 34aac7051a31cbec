"""Real Redis, with the timing of the wire under the test's control: to drive the store through interleavings
that happen by chance in production (a reply that comes late, a read that waits while a commit fails).

Nothing is faked: every command reaches the real server and every reply is the server's. A connection class
only decides *when* a command is written and *when* its reply is read, which is all that differs between a
lucky and an unlucky run.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection

# Given the command's name (b"EVAL", b"HGETALL", ...) and whether it is being sent or its reply read: wait.
Hook = Callable[[bytes, str], Awaitable[None]]


def command_name(packed: Any) -> bytes:
    """The first command's name in what redis-py writes: RESP bytes, or a list of chunks (a pipeline)."""
    first = packed if isinstance(packed, bytes | bytearray | memoryview) else b"".join(bytes(c) for c in packed[:2])
    lines = bytes(first).split(b"\r\n")
    return lines[2].upper() if len(lines) > 2 else b""


class HookedConnection(Connection):
    """A redis-py connection that awaits `hook` before each write and each reply read."""

    hook: Hook | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.last_command = b""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self.last_command = command_name(command)
        if self.hook is not None:
            await self.hook(self.last_command, "send")
        await super().send_packed_command(command, check_health)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        if self.hook is not None:
            await self.hook(self.last_command, "read")
        return await super().read_response(*args, **kwargs)


def hooked_client(url: str, hook: Hook) -> Redis:
    """A client whose every connection waits on `hook` (a class per client, so two clients don't share it)."""
    connection_class = type("Hooked", (HookedConnection,), {"hook": staticmethod(hook)})
    return Redis(connection_pool=ConnectionPool.from_url(url, connection_class=connection_class))


def random_delays(rnd: random.Random, max_s: float) -> Hook:
    """A hook that waits a random time, up to `max_s`, at every write and every read (0 a third of the time)."""

    async def delay(_name: bytes, _phase: str) -> None:
        pause = rnd.choice((0.0, rnd.random() * max_s, rnd.random() * max_s / 10))
        await asyncio.sleep(pause)

    return delay


class Gate:
    """Holds chosen commands at a chosen phase until the test opens the gate for them."""

    def __init__(self) -> None:
        self._held: dict[tuple[bytes, str], asyncio.Event] = {}
        self.waiting: dict[tuple[bytes, str], int] = {}

    def hold(self, name: bytes, phase: str) -> None:
        self._held[(name, phase)] = asyncio.Event()

    def release(self, name: bytes, phase: str) -> None:
        self._held.pop((name, phase)).set()

    async def hook(self, name: bytes, phase: str) -> None:
        event = self._held.get((name, phase))
        if event is not None:
            self.waiting[(name, phase)] = self.waiting.get((name, phase), 0) + 1
            await event.wait()

    async def until_waiting(self, name: bytes, phase: str, timeout_s: float = 5.0) -> None:
        """Until a command is held at this gate."""
        await until(lambda: bool(self.waiting.get((name, phase))), timeout_s)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll `condition` every millisecond until it holds; TimeoutError past `timeout_s`."""
    for _ in range(int(timeout_s * 1000)):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise TimeoutError(f"not true within {timeout_s} s")
