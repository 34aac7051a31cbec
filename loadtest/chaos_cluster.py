"""The chaos run's private cluster: its own Redis and PostgreSQL, two gateways and a worker, each one killable.

    Cluster (in a folder of its own)
      |- redis      EmbeddedRedis, appendfsync always: killed with SIGKILL, restarted on the same port and AOF
      |- postgres   EmbeddedPostgres: postmaster and backends SIGKILLed, restarted on the same folder and socket
      |- gateway-a  `python -m auction gateway --port A`
      |- gateway-b  `python -m auction gateway --port B`
      '- worker     `python -m auction worker` (persister, scheduler, settlement)

The cluster supervises its children as ops/runner.py does for `auction serve`: one that exits is started
again after a pause. A kill by the chaos schedule is expected and the schedule restarts the child itself;
any other exit is a fault of the system (a process that gave up, say, when PostgreSQL went away), so it is
noted with its exit code and the tail of its log, and the child is restarted as a supervisor would.

Nothing here may hang the run: every start, stop and wait is bounded, and `close` stops everything (children
first, then the servers) whatever state the run left them in. Blocking starts run in daemon threads, so one
that hangs is abandoned rather than waited for at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import aiohttp

from loadtest import one_address
from ops.embedded import EmbeddedPostgres, EmbeddedRedis
from ops.migrate import migrate

Target = Literal["gateway-a", "gateway-b", "worker", "redis", "postgres"]
GATEWAYS: tuple[Target, ...] = ("gateway-a", "gateway-b")
SERVER_START_TIMEOUT_S = 60.0  # PostgreSQL's crash recovery after a kill can take a while on a busy machine
CHILD_READY_TIMEOUT_S = 30.0
CHILD_STOP_GRACE_S = 5.0
RESTART_PAUSE_S = 1.0  # as ops/runner.py: a child that exits on its own is started again after this
LOG_TAIL_LINES = 15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def in_daemon_thread(call: Callable[[], None], timeout_s: float, name: str) -> None:
    """Run a blocking `call` in a daemon thread and wait at most `timeout_s` (TimeoutError past it). Unlike
    asyncio.to_thread, a call that hangs is left behind: the interpreter never waits for it at exit."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            call()
        except BaseException as exc:  # handed to the waiting coroutine, whatever it is
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    await asyncio.wait_for(done, timeout_s)


@dataclass
class UnexpectedExit:
    """A child that exited without being killed: a fault of the system, with the evidence."""

    process: str
    at_s: float
    code: int | None
    log_tail: str

    def describe(self) -> str:
        last = self.log_tail.strip().splitlines()[-1:] or ["(empty log)"]
        return f"{self.process} exited on its own with code {self.code} at {self.at_s:.1f} s: {last[0]}"


@dataclass
class Child:
    """One of the cluster's processes. `held` while the chaos schedule keeps it down on purpose."""

    name: Target
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    process: asyncio.subprocess.Process | None = None
    held: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)
    starts: int = 0

    async def start(self) -> None:
        # A session of its own: a Ctrl-C at the terminal reaches only the run, which stops the children itself.
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def kill(self) -> None:
        if self.running:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL past the grace period."""
        if not self.running:
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), CHILD_STOP_GRACE_S)
        except TimeoutError:
            self.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), CHILD_STOP_GRACE_S)

    def hold(self) -> None:
        self.held = True
        self.released.clear()

    def release(self) -> None:
        self.held = False
        self.released.set()


@dataclass(frozen=True)
class Outage:
    """One kill: what, when (seconds since the cluster started), how long until it served again."""

    target: Target
    killed_at_s: float
    pause_s: float
    back_at_s: float | None
    error: str | None = None

    @property
    def down_s(self) -> float | None:
        return None if self.back_at_s is None else round(self.back_at_s - self.killed_at_s, 2)


class Cluster:
    def __init__(self, folder: Path) -> None:
        if "," in str(folder):  # PostgreSQL reads its socket folder as a comma-separated list
            raise ValueError(f"the cluster's folder may not have a comma in its path: {folder}")
        self.folder = folder
        self.redis = EmbeddedRedis(folder / "redis", appendfsync="always")
        self.postgres = EmbeddedPostgres(folder / "postgres")
        self.children: dict[Target, Child] = {}
        self.unexpected_exits: list[UnexpectedExit] = []
        self._supervisors: list[asyncio.Task[None]] = []
        self._closing = False
        self._started = time.monotonic()

    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def database_url(self) -> str:
        return self.postgres.url

    def gateway_urls(self) -> list[str]:
        """The websocket address of each gateway, in GATEWAYS order."""
        return [f"ws://127.0.0.1:{self.children[name].port}/ws" for name in GATEWAYS]

    # ---- starting ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Both servers (in parallel: PostgreSQL's initdb dominates), the schema, then the processes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        await asyncio.gather(
            in_daemon_thread(self.redis.start, SERVER_START_TIMEOUT_S, "start redis"),
            in_daemon_thread(self.postgres.start, SERVER_START_TIMEOUT_S, "start postgres"),
        )
        await asyncio.wait_for(migrate(self.postgres.url), SERVER_START_TIMEOUT_S)
        env = self._child_env()
        python = [sys.executable, "-m", "auction"]
        for name in GATEWAYS:
            port = free_port()
            argv = [*python, "gateway", "--host", "127.0.0.1", "--port", str(port)]
            self.children[name] = Child(name, argv, env, self.folder / f"{name}.log", port)
        self.children["worker"] = Child("worker", [*python, "worker"], env, self.folder / "worker.log")
        for child in self.children.values():
            await child.start()
            self._supervisors.append(asyncio.create_task(self._supervise(child), name=f"supervise {child.name}"))
        await asyncio.gather(*(self._ready(child) for child in self.children.values()))

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            AUCTION_REDIS_URL=self.redis.url,
            AUCTION_DATABASE_URL=self.postgres.url,
            AUCTION_DURABILITY="redis",
            PYTHONUNBUFFERED="1",
            **one_address.ENV,
        )
        return env

    async def _ready(self, child: Child) -> None:
        """A gateway is ready once it answers HTTP (503 is an answer: it serves, and says what is down); the
        worker has no port, so it is ready once started."""
        if child.port is None:
            return
        deadline = time.monotonic() + CHILD_READY_TIMEOUT_S
        timeout = aiohttp.ClientTimeout(total=2.0)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.get(f"http://127.0.0.1:{child.port}/api/health") as reply:
                        await reply.read()
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{child.name} did not answer HTTP within {CHILD_READY_TIMEOUT_S:.0f} s")

    async def _supervise(self, child: Child) -> None:
        """Restart a child that exits on its own, and note that it did; one killed on purpose is left to the
        schedule, which restarts it after its pause."""
        while not self._closing:
            assert child.process is not None
            code = await child.process.wait()
            if self._closing:
                return
            if child.held:
                await child.released.wait()
                continue
            self.unexpected_exits.append(
                UnexpectedExit(child.name, round(self.elapsed_s(), 2), code, log_tail(child.log_path))
            )
            await asyncio.sleep(RESTART_PAUSE_S)
            if not self._closing and not child.held and not child.running:
                await child.start()

    # ---- chaos ----------------------------------------------------------------------------------------------

    async def knock_out(self, target: Target, pause_s: float) -> Outage:
        """SIGKILL `target`, leave it down for `pause_s`, start it again and wait until it serves. The outage is
        timed from the moment the target is dead, so that an answer received after it was sent before it."""
        killed_at = self.elapsed_s()
        error: Exception | None = None
        try:
            await self._kill(target)
            killed_at = self.elapsed_s()
            await asyncio.sleep(pause_s)
        except Exception as exc:  # reported with the outage; the target is started again all the same
            error = exc
        try:
            await self._revive(target)
        except Exception as exc:  # the run goes on, and the checks will show what it cost
            error = error or exc
        back_at = None if error else round(self.elapsed_s(), 2)
        problem = None if error is None else f"{type(error).__name__}: {error}"
        return Outage(target, round(killed_at, 2), pause_s, back_at, problem)

    async def _kill(self, target: Target) -> None:
        if target == "redis":
            await in_daemon_thread(self.redis.kill, SERVER_START_TIMEOUT_S, "kill redis")
        elif target == "postgres":
            await in_daemon_thread(self.postgres.kill, SERVER_START_TIMEOUT_S, "kill postgres")
        else:
            child = self.children[target]
            child.hold()
            child.kill()
            if child.process is not None:
                await asyncio.wait_for(child.process.wait(), CHILD_STOP_GRACE_S)

    async def _revive(self, target: Target) -> None:
        if target == "redis":
            await in_daemon_thread(self.redis.start, SERVER_START_TIMEOUT_S, "restart redis")
        elif target == "postgres":
            await in_daemon_thread(self.postgres.start, SERVER_START_TIMEOUT_S, "restart postgres")
        else:
            child = self.children[target]
            try:
                if not child.running:
                    await child.start()
            finally:
                child.release()
            await self._ready(child)

    # ---- stopping -------------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the children, then the servers. Never raises: it runs on every way out of the run."""
        self._closing = True
        for task in self._supervisors:
            task.cancel()
        await asyncio.gather(*self._supervisors, return_exceptions=True)
        await asyncio.gather(*(child.stop() for child in self.children.values()), return_exceptions=True)
        for stop, name in ((self.redis.stop, "redis"), (self.postgres.stop, "postgres")):
            with contextlib.suppress(Exception):
                await in_daemon_thread(stop, SERVER_START_TIMEOUT_S, f"stop {name}")
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        """Last resort, for a child whose stop timed out: its whole session, by its own id."""
        for child in self.children.values():
            if child.running and child.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, signal.SIGKILL)
