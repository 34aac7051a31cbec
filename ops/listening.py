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

The site served on it (DeadlineSite) gives each connection HEAD_TIMEOUT_S to send its first request's head, so
slow clients can't hold connections open by trickling a handshake.
"""

from __future__ import annotations

import asyncio
import errno
import socket

from aiohttp import web

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


class HeadDeadline(asyncio.Protocol):
    """A connection's protocol (aiohttp's request handler) behind a deadline for the head of its first request:
    a client that hasn't sent a whole request line and headers (a websocket handshake's included) within
    `timeout_s` of connecting is disconnected. aiohttp has no such timeout of its own, so a client that opens
    connections and trickles a byte now and then (slowloris) would hold each for as long as it liked.

    Only the first request is timed: after it, aiohttp's keep-alive timeout closes an idle connection."""

    def __init__(self, inner: asyncio.Protocol, timeout_s: float) -> None:
        self._inner = inner
        self._timeout_s = timeout_s
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen, to find the blank line that ends the head across reads
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._timeout_s, self._expired)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._tail + data
            if b"\r\n\r\n" in seen:
                self._timer.cancel()
                self._timer = None
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _expired(self) -> None:
        self._timer = None
        if isinstance(self._transport, asyncio.Transport):
            self._transport.abort()


class DeadlineSite(web.SockSite):
    """aiohttp's site on an inherited socket, each connection's protocol behind a HeadDeadline."""

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, head_timeout_s: float, backlog: int) -> None:
        super().__init__(runner, sock, backlog=backlog)
        self._head_timeout_s = head_timeout_s

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        timeout_s = self._head_timeout_s
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HeadDeadline(server(), timeout_s), sock=self._sock, backlog=self._backlog
        )
