"""The embedded servers of a state folder, shared by every `auction` command run there.

Why: `auction serve` starts Redis and PostgreSQL under the state folder. A second command run beside it
(`auction admin create`, the README's next step) used to start "its own" servers in the same folder: Redis by
stopping the running redis-server on the same append-only file first, PostgreSQL by adopting the running one,
which it then stopped on its way out. The server was left with neither, and never recovered.

Now the first command that needs the servers starts them and writes a record beside them, `servers.json`: their
URLs (the Redis password with them, so the file is readable by its owner only) and the processes using them, each
by pid and start time (so a recycled pid is never taken for a user). A later command finds the record, checks
that the servers answer, adds itself and uses them. Each command takes itself off when it is done, and the last
one stops the servers: whoever started them, nothing stops servers that another command is still using. A record
whose users are all gone (killed, so they never took themselves off) is stale: its servers are stopped and fresh
ones started. A lock file serialises all of this between processes, start-up included.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import msgspec

from auction.config import Settings
from ops.embedded import (
    EmbeddedPostgres,
    EmbeddedServerError,
    Services,
    redis_answers,
    start_services,
    stop_redis_by_pidfile,
)

RECORD = "servers.json"
LOCK = "servers.lock"


class User(msgspec.Struct, frozen=True):
    """A process using the servers: its pid, and when it started (a pid alone can be recycled)."""

    pid: int
    since: str


class Record(msgspec.Struct):
    """What `servers.json` holds. A URL is None when the settings gave that server (nothing embedded)."""

    redis_url: str | None
    database_url: str | None
    pg_backend: str | None
    users: list[User] = msgspec.field(default_factory=list)


def start_configured_services(settings: Settings) -> Services:
    """The servers the settings name; for those they don't, the state folder's embedded ones: used if running,
    else started. `Services.stop()` takes this process off, and stops them only if it was the last user."""
    if settings.redis_url and settings.database_url:
        return start_services(settings.state_dir, settings.redis_url, settings.database_url)
    return SharedFolder(settings).join()


@dataclass
class SharedFolder:
    settings: Settings
    _started: Services | None = field(default=None, repr=False)  # the servers this process started, if it did

    @property
    def folder(self) -> Path:
        return self.settings.state_dir.resolve()

    def join(self) -> Services:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            record = self._read()
            users = [user for user in record.users if _alive(user)] if record else []
            if record is not None and users:
                record = self._reuse(record, users)
            else:
                if record is not None:  # stale: every process that used these servers is gone
                    self._stop_recorded(record)
                record = self._start()
            record.users.append(_me())
            self._write(record)
        atexit.register(self.leave)
        return Services(
            redis_url=self.settings.redis_url or record.redis_url or "",
            database_url=self.settings.database_url or record.database_url or "",
            _stoppers=[self.leave],
            startup_s=self._started.startup_s if self._started else 0.0,
        )

    def leave(self) -> None:
        """Take this process off the record; the last user stops the servers."""
        atexit.unregister(self.leave)
        with self._locked():
            record = self._read()
            if record is not None:
                with contextlib.suppress(ValueError):
                    record.users.remove(_me())
                record.users = [user for user in record.users if _alive(user)]
            if record is not None and record.users:
                self._write(record)
                for server in self._started.embedded if self._started else []:
                    server.detach()  # someone else stops them, as the last to leave
                return
            if self._started is not None:
                self._started.stop()
            elif record is not None:
                self._stop_recorded(record)
            (self.folder / RECORD).unlink(missing_ok=True)

    def _reuse(self, record: Record, users: list[User]) -> Record:
        """The recorded servers, if they answer and are the ones these settings need; refused (saying why) if not."""
        whose = ", ".join(str(user.pid) for user in users)
        wanted = {"Redis": self.settings.redis_url is None, "PostgreSQL": self.settings.database_url is None}
        recorded = {"Redis": record.redis_url, "PostgreSQL": record.database_url}
        for name, url in recorded.items():
            if wanted[name] and url is None:
                raise EmbeddedServerError(
                    f"the embedded servers in {self.folder} are in use by process {whose}, which was given its own"
                    f" {name} (by URL): give this command the same URL, or use another AUCTION_STATE_DIR"
                )
            if wanted[name] and not _answers(name, url or ""):
                raise EmbeddedServerError(
                    f"the embedded {name} in {self.folder} does not answer, and process {whose} is still using it:"
                    " stop that process and try again (this command never stops servers it did not start)"
                )
        record.users = users
        return record

    def _start(self) -> Record:
        settings = self.settings
        self._started = start_services(
            self.folder, settings.redis_url, settings.database_url, settings.appendfsync, settings.embedded_pg
        )
        return Record(
            redis_url=None if settings.redis_url else self._started.redis_url,
            database_url=None if settings.database_url else self._started.database_url,
            pg_backend=settings.embedded_pg,
        )

    def _stop_recorded(self, record: Record) -> None:
        """Stop servers whose starter is gone: by Redis's pidfile, and pg_ctl on PostgreSQL's data folder."""
        if record.redis_url is not None:
            stop_redis_by_pidfile(self.folder / "redis" / "redis.pid")
        if record.database_url is not None:
            EmbeddedPostgres(self.folder / "postgres", backend=record.pg_backend).stop_any()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def _read(self) -> Record | None:
        try:
            return msgspec.json.decode((self.folder / RECORD).read_bytes(), type=Record)
        except FileNotFoundError:
            return None
        except (OSError, msgspec.DecodeError):
            return Record(None, None, None)  # unreadable: treated as stale, and written again

    def _write(self, record: Record) -> None:
        """Atomically, readable by its owner only: the Redis URL carries the password."""
        temporary = self.folder / f"{RECORD}.{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(msgspec.json.encode(record))
        temporary.replace(self.folder / RECORD)


def _me() -> User:
    return User(os.getpid(), _started_at(os.getpid()) or "")


def _alive(user: User) -> bool:
    started = _started_at(user.pid)
    return started is not None and started == user.since


def _started_at(pid: int) -> str | None:
    """When `pid` started, in clock ticks since boot (/proc/PID/stat); None if it is gone or a zombie. Where
    there is no /proc, "" for any live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return None
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    return None if fields[0] == "Z" else fields[19]


def _answers(name: str, url: str) -> bool:
    if name == "Redis":
        parts = urlsplit(url)
        return parts.port is not None and redis_answers(parts.port, parts.password or "")
    socket_dir = parse_qs(urlsplit(url).query).get("host", [""])[0]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(Path(socket_dir) / ".s.PGSQL.5432"))
        except OSError:
            return False
    return True
