"""A lean websocket client for the load generator: RFC 6455 over an asyncio Protocol, frames handled in place.

Why not aiohttp's client (which the generator used before): the generator shares the machine's two cores with
the gateway it measures. With aiohttp every received message goes through a queue, a future and a task switch
(`await ws.receive()`), and every sent one through `await send_str`; the CPU census of run 6 showed the
generator using more of the machine (0.72 of a core at 6,000 offered bids/s) than the gateway (0.59). Here a
received frame is parsed inside `data_received` and handed to a callback, and a bid is one `transport.write`
of a frame masked before the clock starts. It is still the real protocol on a real socket: an HTTP/1.1
upgrade with a checked `Sec-WebSocket-Accept`, masked client frames with a random key each, fragmented
messages joined, pings answered with pongs and the close handshake returned.

What it leaves out, because the gateway never sends it: extensions (no permessage-deflate is offered),
binary messages (counted, not delivered), and UTF-8 validation of text (msgspec checks it when decoding).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections import deque
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_HANDSHAKE_BYTES = 16 * 1024


class WireError(Exception):
    """The handshake was refused, or the peer broke the protocol."""


class HandshakeRefused(WireError):
    """The server answered the upgrade with another status: 503 `busy` carries a Retry-After (seconds)."""

    def __init__(self, status_line: str, status: int, retry_after_s: float | None) -> None:
        super().__init__(f"handshake refused: {status_line}")
        self.status = status
        self.retry_after_s = retry_after_s


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final frame, masked with a fresh random key, as RFC 6455 requires of a client."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    key = os.urandom(4)
    return header + key + mask(payload, key)


def mask(data: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte key repeated (RFC 6455 5.3): masking and unmasking are the same operation."""
    size = len(data)
    repeated = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


class WireSocket(asyncio.Protocol):
    """One client connection. Text messages go to `handler` once `listen` set one; until then they queue for
    `receive` (the welcome, a subscription's snapshots)."""

    def __init__(self, request: bytes, key: str) -> None:
        self._request = request
        self._accept = accept_for(key).encode()
        self._transport: asyncio.Transport | None = None
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handshaking = True
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_op = OP_TEXT
        self._queued: deque[bytes] = deque()
        self._arrived: asyncio.Event | None = None
        self.handler: Callable[[bytes], None] | None = None
        self.on_close: Callable[[], None] | None = None
        self.closed = False
        self.binary_messages = 0

    # ---- asyncio.Protocol ----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass asyncio's
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if self._handshaking:
            self._buffer += data
            if not self._finish_handshake():
                return
        elif self._buffer:
            self._buffer += data
        else:
            self._buffer = bytearray(data)
        self._read_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._opened.done():
            self._opened.set_exception(WireError(f"connection lost during the handshake: {exc!r}"))
        if self._arrived is not None:
            self._arrived.set()
        if self.on_close is not None:
            self.on_close()

    # ---- use ------------------------------------------------------------------------------------------------

    async def opened(self, timeout_s: float) -> None:
        await asyncio.wait_for(asyncio.shield(self._opened), timeout_s)

    def send_frame(self, frame: bytes) -> bool:
        """Write a frame made by `client_frame`; False if the connection is gone."""
        transport = self._transport
        if self.closed or transport is None or transport.is_closing():
            return False
        transport.write(frame)
        return True

    def send_text(self, text: str | bytes) -> bool:
        return self.send_frame(client_frame(text.encode() if isinstance(text, str) else text))

    async def receive(self, timeout_s: float) -> bytes:
        """The next text message, before `listen` was called."""
        async with asyncio.timeout(timeout_s):
            while not self._queued:
                if self.closed:
                    raise WireError("the connection closed")
                self._arrived = self._arrived or asyncio.Event()
                self._arrived.clear()
                await self._arrived.wait()
        return self._queued.popleft()

    def listen(self, handler: Callable[[bytes], None]) -> None:
        """From now on every text message goes to `handler`, at once, in order (queued ones first)."""
        while self._queued:
            handler(self._queued.popleft())
        self.handler = handler

    def close(self, code: int = 1000) -> None:
        if not self.closed and self._transport is not None and not self._transport.is_closing():
            self._transport.write(client_frame(code.to_bytes(2, "big"), OP_CLOSE))
            self._transport.close()
        self.closed = True

    # ---- parsing --------------------------------------------------------------------------------------------

    def _finish_handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HANDSHAKE_BYTES:
                self._fail(WireError("handshake reply too long"))
            return False
        head, self._buffer = bytes(self._buffer[:end]), self._buffer[end + 4 :]
        status, *lines = head.split(b"\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines)}
        if not status.startswith(b"HTTP/1.1 101"):
            self._fail(_refusal(status, headers.get(b"retry-after")))
            return False
        if headers.get(b"sec-websocket-accept") != self._accept:
            self._fail(WireError("handshake refused: a wrong Sec-WebSocket-Accept"))
            return False
        self._handshaking = False
        self._opened.set_result(None)
        return True

    def _read_frames(self) -> None:
        buffer, at, size = self._buffer, 0, len(self._buffer)
        while size - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if size - at < 4:
                    break
                length, head = int.from_bytes(buffer[at + 2 : at + 4], "big"), 4
            elif length == 127:
                if size - at < 10:
                    break
                length, head = int.from_bytes(buffer[at + 2 : at + 10], "big"), 10
            if second & 0x80 or length > MAX_MESSAGE_BYTES:
                self._fail(WireError("a masked or oversized frame from the server"))
                return
            end = at + head + length
            if end > size:
                break
            self._on_frame(first & 0x80 != 0, first & 0x0F, bytes(buffer[at + head : end]))
            at = end
        del buffer[:at]

    def _on_frame(self, final: bool, opcode: int, payload: bytes) -> None:
        if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            if opcode != OP_CONTINUATION:
                self._fragment_op = opcode
            if not final or self._fragments:
                self._fragments.append(payload)
                if not final:
                    return
                payload, self._fragments = b"".join(self._fragments), []
            self._on_message(self._fragment_op, payload)
        elif opcode == OP_PING:
            self.send_frame(client_frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            self.close(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000)

    def _on_message(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_BINARY:
            self.binary_messages += 1
        elif self.handler is not None:
            self.handler(payload)
        else:
            self._queued.append(payload)
            if self._arrived is not None:
                self._arrived.set()

    def _fail(self, error: WireError) -> None:
        if not self._opened.done():
            self._opened.set_exception(error)
        if self._transport is not None:
            self._transport.abort()
        self.closed = True


def _refusal(status_line: bytes, retry_after: bytes | None) -> HandshakeRefused:
    line = status_line.decode(errors="replace")
    parts = line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    seconds = float(retry_after) if retry_after and retry_after.strip().isdigit() else None
    return HandshakeRefused(line, status, seconds)


async def connect(url: str, timeout_s: float = 30.0) -> WireSocket:
    """Open `ws://host:port/path?query` and complete the upgrade."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise ValueError(f"expected a ws:// URL, got {url!r}")
    port = parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    _transport, socket = await asyncio.wait_for(
        loop.create_connection(lambda: WireSocket(request, key), parts.hostname, port), timeout_s
    )
    await socket.opened(timeout_s)
    return socket
