"""The process group behind `auction serve`: servers, migrations, then the gateway and the worker.

    auction serve
      |- embedded redis-server and PostgreSQL   (only when no URL is configured)
      |- auction gateway   (HTTP + websockets; as many as you like behind a load balancer in production)
      '- auction worker    (persister: streams -> PostgreSQL; scheduler: opens and closes lots on time)

Children are separate processes so that the gateway's event loop owns a core of its own. A child that dies is
restarted after a short pause; stopping the group stops the children first, then the servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import msgspec

from auction.config import Settings, environment_for
from ops.embedded import Services
from ops.listening import listen
from ops.migrate import migrate
from ops.shared_services import start_configured_services

RESTART_PAUSE_S = 1.0
HEALTH_TIMEOUT_S = 30.0


class StartError(RuntimeError):
    """The group could not start: a child exited before the gateway answered its health check."""


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    pass_fds: tuple[int, ...] = ()  # the gateway's listening socket

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(*self.argv, env=self.env, pass_fds=self.pass_fds)

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.returncode

    async def stop(self, grace_s: float = 5.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), grace_s)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@dataclass
class ProcessGroup:
    services: Services
    children: list[Child]
    base_url: str
    _watch: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: bool = False

    async def _supervise(self, child: Child) -> None:
        """Keeps a child running: a crash is logged and the child started again."""
        while not self.stopping:
            assert child.process is not None
            code = await child.process.wait()
            if self.stopping:
                return
            print(f"[runner] {child.name} exited with {code}; restarting", file=sys.stderr)
            child.restarts += 1
            await asyncio.sleep(RESTART_PAUSE_S)
            await child.start()

    async def stop(self) -> None:
        self.stopping = True
        for task in self._watch:
            task.cancel()
        await asyncio.gather(*(child.stop() for child in self.children))
        self.services.stop()


def _child_env(services: Services, settings: Settings) -> dict[str, str]:
    """The group's settings, with the servers' URLs (started here or given), as a child's environment."""
    running = msgspec.structs.replace(settings, redis_url=services.redis_url, database_url=services.database_url)
    return environment_for(running) | {"PYTHONUNBUFFERED": "1"}


async def wait_healthy(base_url: str, children: list[Child], timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    """Until the gateway answers its health check; a child that exits first fails the start at once (restarting
    a child that can't start would only repeat its error)."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            for child in children:
                if child.exit_code is not None:
                    raise StartError(f"the {child.name} exited with {child.exit_code} before the group was up")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{base_url}/api/health") as reply:
                    if reply.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise StartError(f"the gateway at {base_url} did not become healthy within {timeout_s:.0f} s")


@contextlib.asynccontextmanager
async def process_group(settings: Settings, host: str, port: int) -> AsyncIterator[ProcessGroup]:
    """Everything running, healthy, and stopped again on the way out. The port is taken first: if another
    process has it, nothing is started (ListenError)."""
    with listen(host, port) as listening:
        services = await asyncio.to_thread(start_configured_services, settings)
        try:
            await migrate(services.database_url)
        except BaseException:
            services.stop()
            raise
        group = _group(services, _child_env(services, settings), host, port, listening.fileno())
        try:
            for child in group.children:
                await child.start()
            group._watch = [asyncio.create_task(group._supervise(child)) for child in group.children]
            await wait_healthy(group.base_url, group.children)
            yield group
        finally:
            await group.stop()


def _group(services: Services, env: dict[str, str], host: str, port: int, listening_fd: int) -> ProcessGroup:
    python = [sys.executable, "-m", "auction"]
    gateway = [*python, "gateway", "--host", host, "--port", str(port), "--listen-fd", str(listening_fd)]
    children = [Child("gateway", gateway, env, pass_fds=(listening_fd,)), Child("worker", [*python, "worker"], env)]
    return ProcessGroup(services, children, f"http://{host}:{port}")


async def serve_forever(settings: Settings, host: str, port: int) -> None:
    """`auction serve`: run until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with process_group(settings, host, port) as group:
        print(
            f"auction: serving on {group.base_url}  (Redis {_without_password(group.services.redis_url)})", flush=True
        )
        await stop.wait()


def _without_password(url: str) -> str:
    """A URL fit to print: the embedded Redis's carries its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
