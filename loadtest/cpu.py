"""Where the machine's CPU went during a step (every process's CPU time, by role, from /proc), and what the
gateway's store did meanwhile (its committer counters, from /metrics).

The targets are set on 2 cores shared by the generator and the servers, so "the gateway got 0.6 of a core"
is the first thing a result must say. A census reads /proc/<pid>/stat (user + system time) of every process
and sorts it into roles by its command line; the difference of two censuses, divided by the wall time between
them, is each role's share in cores.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROLES = ("gateway", "worker", "generator", "watchers", "redis", "postgres", "other")
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def role_of(cmdline: str, pid: int, me: int) -> str:
    """The role a process plays in a bench run, from its command line."""
    if pid == me:
        return "generator"
    if "redis-server" in cmdline:
        return "redis"
    if cmdline.startswith("postgres") or "/postgres" in cmdline.split(" ", 1)[0]:
        return "postgres"
    if "auction" in cmdline and " gateway" in cmdline:
        return "gateway"
    if "auction" in cmdline and " worker" in cmdline:
        return "worker"
    if "multiprocessing" in cmdline and "spawn" in cmdline:
        return "watchers"
    return "other"


def _cpu_ticks(pid_dir: Path) -> int:
    fields = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    return int(fields[11]) + int(fields[12])


@dataclass(frozen=True)
class Census:
    at: float
    seconds: dict[str, float]  # role -> CPU seconds used so far by the processes alive now

    @staticmethod
    def take() -> Census:
        me = os.getpid()
        used = dict.fromkeys(ROLES, 0.0)
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            try:
                cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                ticks = _cpu_ticks(pid_dir)
            except (OSError, IndexError, ValueError):  # the process ended while we looked
                continue
            used[role_of(cmdline, int(pid_dir.name), me)] += ticks * _TICK_S
        return Census(time.monotonic(), used)

    def cores_since(self, earlier: Census) -> dict[str, float]:
        """Each role's average use between two censuses, in cores (1.0 = one core busy all the time). A process
        that started or ended in between is counted by what it used while both saw it, which is close enough
        for the steady state of a step."""
        wall = self.at - earlier.at
        if wall <= 0:
            return dict.fromkeys(ROLES, 0.0)
        return {role: round(max(0.0, self.seconds[role] - earlier.seconds[role]) / wall, 2) for role in ROLES}


async def store_counters(ws_url: str) -> dict[str, float]:
    """The gateway's `auction_store_*_total` counters, from its /metrics page."""
    url = ws_url.replace("ws://", "http://").rsplit("/ws", 1)[0] + "/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as reply:
        text = await reply.text()
    found = re.findall(r"^auction_store_(\w+)_total (\S+)$", text, re.M)
    return {name: float(value) for name, value in found}


def committer_figures(before: dict[str, float], after: dict[str, float], wall_s: float) -> dict[str, float]:
    """What the store's committer did between two scrapes: commits a second, commands per batch, the mean time
    a commit waited for Redis, and the shares of the wall time spent deciding and waiting."""

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    commits, batches = delta("commits"), delta("batches")
    return {
        "commits_per_s": round(commits / wall_s, 1) if wall_s > 0 else 0.0,
        "mean_batch": round(delta("commands") / batches, 1) if batches else 0.0,
        "mean_commit_ms": round(delta("committing_seconds") / commits * 1000, 2) if commits else 0.0,
        "deciding_share": round(delta("deciding_seconds") / wall_s, 3) if wall_s > 0 else 0.0,
        "committing_share": round(delta("committing_seconds") / wall_s, 3) if wall_s > 0 else 0.0,
    }
