"""The `auction` command as a user runs it, as real processes: beside a running `auction serve`, on a taken
port, under a LANG the machine hasn't generated, and as root. Each runs with embedded servers in a folder of
its own (no URLs given), as on a laptop."""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
START_S = 90.0  # initdb and two servers, on a busy machine


def embedded_env(state: Path, **extra: str) -> dict[str, str]:
    """This environment without any AUCTION_ setting (so the servers are the state folder's own), plus `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUCTION_")}
    return {**env, "AUCTION_STATE_DIR": str(state), "PYTHONUNBUFFERED": "1", **extra}


def auction(state: Path, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auction", *argv],
        env=embedded_env(state, **extra),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=START_S,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(state: Path, port: int, **extra: str) -> Iterator[subprocess.Popen[str]]:
    """`auction serve` (with `extra` variables) until it says it is serving; SIGTERM on the way out."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "auction", "serve", "--port", str(port)],
        env=embedded_env(state, **extra),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert serve.stdout is not None
        said = wait_for_line(serve, "serving on")
        assert "serving on" in said, said
        yield serve
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(30)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()


def wait_for_line(process: subprocess.Popen[str], wanted: str) -> str:
    """The process's output up to the line holding `wanted` (or all of it, if it exits or START_S passes)."""
    seen: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if wanted in line:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_S)
    return "".join(seen)


def health(port: int) -> dict[str, bool]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as reply:
        answer: dict[str, bool] = json.loads(reply.read())
        return answer


def server_pids(state: Path) -> list[int]:
    """The embedded servers' pids, from their pid files, that are still alive."""
    pids = []
    for pid_file in (state / "redis" / "redis.pid", state / "postgres" / "postmaster.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            continue
        pids.append(pid)
    return pids


# ------------------------------------------------------------------- beside a running server (issue 12, finding 1)


def test_commands_beside_serve_use_its_servers_and_leave_them_running(tmp_path: Path) -> None:
    state, port = tmp_path / "state", free_port()
    with serving(state, port):
        servers = server_pids(state)
        assert len(servers) == 2
        created = auction(state, "admin", "create", "admin@example.com", "Admin", AUCTION_ADMIN_PASSWORD="x" * 16)
        assert created.returncode == 0, created.stderr
        assert "created" in created.stdout
        assert health(port) == {"ok": True, "redis": True, "postgres": True}
        reconciled = auction(state, "settlement", "reconcile")
        assert reconciled.returncode == 0, reconciled.stderr
        migrated = auction(state, "db", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert health(port) == {"ok": True, "redis": True, "postgres": True}
        assert server_pids(state) == servers  # the same servers, never restarted
    # The last user, `serve`, stopped them on its way out, and took the record with it.
    assert server_pids(state) == []
    assert not (state / "servers.json").exists()


def test_a_record_left_by_a_killed_command_does_not_block_a_fresh_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {
        "redis_url": "redis://:stale@127.0.0.1:1/0",
        "database_url": f"postgresql://postgres@/auction?host={state / 'postgres'}",
        "pg_backend": None,
        "users": [{"pid": int(gone.stdout), "since": "1"}],
    }
    (state / "servers.json").write_text(json.dumps(record))
    migrated = auction(state, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert server_pids(state) == [] and not (state / "servers.json").exists()


def test_a_command_refuses_servers_in_use_that_do_not_answer(tmp_path: Path) -> None:
    """A user still alive (this test) whose servers are gone: refused, saying why, and nothing is stopped."""
    state = tmp_path / "state"
    state.mkdir()
    since = Path(f"/proc/{os.getpid()}/stat").read_text().rpartition(")")[2].split()[19]
    record = {
        "redis_url": f"redis://:x@127.0.0.1:{free_port()}/0",
        "database_url": f"postgresql://postgres@/auction?host={state}",
        "pg_backend": None,
        "users": [{"pid": os.getpid(), "since": since}],
    }
    (state / "servers.json").write_text(json.dumps(record))
    refused = auction(state, "db", "migrate")
    assert refused.returncode == 1
    assert "does not answer" in refused.stderr and str(os.getpid()) in refused.stderr
    assert "Traceback" not in refused.stderr
    assert json.loads((state / "servers.json").read_text())["users"] == record["users"]


# --------------------------------------------------------------------------- a port taken (finding 2)


def test_serve_on_a_taken_port_exits_at_once_saying_so(tmp_path: Path) -> None:
    """Another process answers on the port (even its health check): serve refuses before starting anything."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        stop = threading.Event()
        threading.Thread(target=answer_everything, args=(squatter, stop), daemon=True).start()
        began = time.monotonic()
        served = auction(tmp_path / "state", "serve", "--port", str(port))
        stop.set()
    assert served.returncode == 1
    assert f"127.0.0.1:{port}" in served.stderr and "another process" in served.stderr
    assert "serving on" not in served.stdout
    assert time.monotonic() - began < 15
    assert not (tmp_path / "state").exists()  # no server was started


def answer_everything(listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.recv(4096)
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"ok":true}')


# ------------------------------------------------------------------ a locale not generated (finding 23)


def test_the_embedded_postgresql_starts_whatever_locale_lang_names(tmp_path: Path) -> None:
    migrated = auction(tmp_path / "state", "db", "migrate", LANG="xx_YY.UTF-8", LC_ALL="", LC_CTYPE="")
    assert migrated.returncode == 0, migrated.stderr
    assert "applied" in migrated.stdout


def test_postgresql_that_cannot_start_says_why_in_its_own_words(tmp_path: Path) -> None:
    data = tmp_path / "state" / "postgres"
    data.mkdir(parents=True)
    (data / "stray").write_text("not a database")
    failed = auction(tmp_path / "state", "db", "migrate")
    assert failed.returncode == 1
    assert "PostgreSQL did not start" in failed.stderr
    assert "exists but is not empty" in failed.stderr  # initdb's own message
    assert "(no log)" not in failed.stderr and "Traceback" not in failed.stderr


# ------------------------------------------------------------------------------- run as root (finding 24)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="about running as root")
def test_as_root_no_account_is_added_and_no_folder_is_opened_for_reading(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    accounts = {entry.pw_name for entry in pwd.getpwall()}
    migrated = auction(home / "project" / ".state", "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert {entry.pw_name for entry in pwd.getpwall()} == accounts
    # PostgreSQL can't run as root; the one account it runs as could not reach the folder, so it may traverse
    # it now (o+x), and was told so first; nobody may list it.
    assert home.stat().st_mode & 0o777 == 0o701
    assert f"{home} (0700 -> 0701)" in migrated.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="about running as root")
def test_as_root_a_reachable_folder_is_left_as_it_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o711)
    for folder in tmp_path.parents:  # pytest's own folders may be closed: open them (o+x) for this test only
        if not folder.stat().st_mode & 0o001:
            folder.chmod(folder.stat().st_mode | 0o001)
    tmp_path.chmod(0o711)
    migrated = auction(home / ".state", "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert home.stat().st_mode & 0o777 == 0o711
    assert "traverse bit" not in migrated.stderr
