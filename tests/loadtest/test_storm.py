"""A reconnect storm against `auction serve` (issue 12, finding 21): under `make bench` on a busy machine,
10,000 watchers connecting at once had their handshakes reset and the bench crashed. Here a smaller storm
arrives while the gateway is paused (as a busy machine pauses it): the listen backlog must hold it (the kernel
drops no handshake: with aiohttp's backlog of 128 it dropped every one past the 128th, which came back as
resets and timeouts), and every watcher must get in soon after the gateway runs again, retrying only as the
gateway asks."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from functools import partial
from pathlib import Path

from loadtest import one_address, wire
from loadtest.generator import Connecting, raise_nofile
from tests.test_commands import free_port, serving

STORM = 2_000
PAUSE_S = 2.0  # the gateway is stopped while the storm arrives
ABSORBED_S = 15.0  # every watcher in within this long of the gateway running again


def listen_overflows() -> int:
    """Handshakes the kernel dropped because a listen queue was full, machine-wide (TcpExt ListenOverflows)."""
    names, values = (line.split() for line in Path("/proc/net/netstat").read_text().splitlines()[:2])
    return int(dict(zip(names, values, strict=True))["ListenOverflows"])


def gateway_of(serve_pid: int) -> int:
    """The `auction gateway` child of `auction serve`."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
            if parent == serve_pid and b"gateway" in (stat.parent / "cmdline").read_bytes():
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue
    raise LookupError(f"no gateway under pid {serve_pid}")


async def storm(url: str, gateway: int) -> tuple[Connecting, int, float, int]:
    """STORM connections at once while the gateway is stopped: how they went, how long they took once it ran
    again, and how many handshakes the kernel dropped meanwhile."""
    connecting = Connecting()
    everyone = asyncio.Semaphore(STORM)  # no pacing on our side: all at once, as after a restart
    one = partial(wire.connect, url, 30)
    overflows = listen_overflows()
    os.kill(gateway, signal.SIGSTOP)
    try:
        tasks = [asyncio.create_task(connecting.connect(one, everyone)) for _ in range(STORM)]
        await asyncio.sleep(PAUSE_S)
    finally:
        os.kill(gateway, signal.SIGCONT)
    resumed = time.monotonic()
    sockets = [ws for ws in await asyncio.gather(*tasks) if ws is not None]
    absorbed_s = time.monotonic() - resumed
    for ws in sockets:
        ws.close()
    return connecting, len(sockets), absorbed_s, listen_overflows() - overflows


def test_a_reconnect_storm_is_absorbed(tmp_path: Path) -> None:
    raise_nofile()  # the gateway started below inherits it: 2,000 sockets
    port = free_port()
    with serving(tmp_path / "state", port, **one_address.ENV) as serve:  # 2,000 sockets from one address
        url = f"ws://127.0.0.1:{port}/ws"
        connecting, connected, absorbed_s, dropped = asyncio.run(storm(url, gateway_of(serve.pid)))
    assert dropped == 0, f"the kernel dropped {dropped} handshakes: a listen queue overflowed"
    assert connecting.failed == {}
    assert connected == STORM
    assert absorbed_s < ABSORBED_S, (absorbed_s, dict(connecting.retried))
