"""The gateway's listening socket: bound once, before anything else starts, with a backlog deep enough for a
reconnect storm.

Why bind it here rather than in the gateway: `auction serve` with its port taken used to start the servers and
the worker, print "serving on ...", and restart a gateway that could not bind in a loop, while whatever held the
port answered the health check. Bound by the process runner first, a taken port is a clear refusal before
anything has started; the gateway child inherits the socket, so a gateway that crashes is replaced on the same
socket, and connections that arrive meanwhile wait in its queue instead of being refused.

Why the backlog: 10,000 watchers reconnecting at once overflowed aiohttp's default of 128 (the kernel counted
tens of thousands of ListenOverflows): handshakes were dropped, retried after seconds and reset. A queue of 4,096
(the kernel caps it at net.core.somaxconn) holds such a storm while the gateway accepts at its own pace; past
what it can take in a moment the gateway answers a handshake `busy` with a retry hint (ops/app.py).
"""

from __future__ import annotations

import errno
import socket

BACKLOG = 4096


class ListenError(RuntimeError):
    """The address can't be listened on (typically: another process has the port); the message says which."""


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on host:port, inheritable by a child process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # SO_REUSEADDR only lets us bind past connections left in TIME_WAIT by a previous run: on Linux it never
    # lets two live sockets listen on one port (SO_REUSEPORT would; it is not set).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(_why(host, port, exc)) from exc
    sock.set_inheritable(True)
    return sock


def _why(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"can't listen on {host}:{port}: another process is using that port (choose another with --port)"
    return f"can't listen on {host}:{port}: {error.strerror or error}"
