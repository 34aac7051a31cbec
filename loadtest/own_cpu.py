"""Where the cores went during a step, counted for the run's own processes only (by pid), and the rest as `other`.

cpu.Census sorts every process on the machine into a role by its command line. On a machine shared with other
sessions that goes wrong two ways: another session's `auction gateway` or `redis-server` is counted as ours,
and when one of them ends during a step its whole CPU time leaves the role's total, which then reads 0. Here
a role is given by pid (a gateway, the worker, Redis, this process), PostgreSQL is its postmaster and the
postmaster's children (backends come and go), and `other` is the machine's busy time from /proc/stat minus
ours: what everything else on the machine took meanwhile. `machine` is the total, in cores: next to the
number of cores it says whether the machine, rather than the design, was the limit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
ROLES = ("gateway", "worker", "redis", "postgres", "generator")


def _stat(pid_dir: Path) -> tuple[int, int]:
    """(parent pid, CPU ticks used: user + system) of one process."""
    fields = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    return int(fields[1]), int(fields[11]) + int(fields[12])


def machine_busy_ticks() -> int:
    """Ticks every CPU spent busy since boot (user, nice, system, irq, softirq, steal), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal


@dataclass(frozen=True)
class OwnCensus:
    at: float
    busy_ticks: int
    ticks: dict[int, tuple[str, int]]  # pid -> (role, CPU ticks so far)

    @staticmethod
    def take(roles: Mapping[int, str], children_of: Mapping[int, str]) -> OwnCensus:
        """`roles`: pid -> role; `children_of`: pid -> the role of that process's children (the postmaster's
        backends are PostgreSQL)."""
        ticks: dict[int, tuple[str, int]] = {}
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            pid = int(pid_dir.name)
            try:
                parent, used = _stat(pid_dir)
            except (OSError, IndexError, ValueError):  # it ended while we looked
                continue
            role = roles.get(pid) or children_of.get(parent)
            if role is not None:
                ticks[pid] = (role, used)
        return OwnCensus(time.monotonic(), machine_busy_ticks(), ticks)

    def _used_s(self, earlier: OwnCensus, pid: int) -> float:
        """CPU seconds a process used between the two censuses; all of it if it started in between. One that
        ended in between is not seen (a backend or two: little)."""
        _role, now = self.ticks[pid]
        before = earlier.ticks.get(pid, ("", 0))[1]
        return max(0, now - before) * TICK_S

    def cores_since(self, earlier: OwnCensus) -> dict[str, float]:
        """Each role's use in cores between the censuses, `other` (the rest of the machine) and `machine`."""
        wall = self.at - earlier.at
        if wall <= 0:
            return dict.fromkeys((*ROLES, "other", "machine"), 0.0)
        used = dict.fromkeys(ROLES, 0.0)
        for pid, (role, _ticks) in self.ticks.items():
            used[role] = used.get(role, 0.0) + self._used_s(earlier, pid)
        machine = max(0, self.busy_ticks - earlier.busy_ticks) * TICK_S
        cores = {role: round(seconds / wall, 2) for role, seconds in used.items()}
        cores["other"] = round(max(0.0, machine - sum(used.values())) / wall, 2)
        cores["machine"] = round(machine / wall, 2)
        return cores

    def pid_cores_since(self, earlier: OwnCensus, pid: int) -> float | None:
        """One process's use in cores; None if it was not alive at both censuses."""
        wall = self.at - earlier.at
        if pid not in self.ticks or pid not in earlier.ticks or wall <= 0:
            return None
        return round(self._used_s(earlier, pid) / wall, 2)

    def pid_seconds_since(self, earlier: OwnCensus, pid: int) -> float | None:
        if pid not in self.ticks or pid not in earlier.ticks:
            return None
        return self._used_s(earlier, pid)


def parent_of(pid: int) -> int | None:
    try:
        return _stat(Path(f"/proc/{pid}"))[0]
    except (OSError, IndexError, ValueError):
        return None


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
