"""The generator's lean websocket client against aiohttp's server: handshake, masking, fragments, ping, close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from loadtest import wire

Handler = Callable[[web.WebSocketResponse], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start an aiohttp server whose /ws runs `handler`; returns its ws:// URL."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        async def ws_route(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(autoping=False)
            await ws.prepare(request)
            await handler(ws)
            return ws

        app = web.Application()
        app.router.add_get("/ws", ws_route)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"ws://127.0.0.1:{server.port}/ws?token=t"

    yield start
    for server in servers:
        await server.close()


def test_a_client_frame_is_masked_and_unmasks_to_the_payload() -> None:
    for size in (0, 5, 125, 126, 65_535, 65_536):
        payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        frame = wire.client_frame(payload)
        assert frame[0] == 0x81 and frame[1] & 0x80  # final text frame, mask bit set
        head = {True: 2, False: 4 if size < 65_536 else 10}[size < 126]
        key, masked = frame[head : head + 4], frame[head + 4 :]
        assert len(masked) == size
        assert wire.mask(masked, key) == payload
        if size >= 8:
            assert masked != payload or key == b"\0\0\0\0"


async def test_texts_go_both_ways_in_order(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def echo_upper(ws: web.WebSocketResponse) -> None:
        await ws.send_str("welcome")
        async for message in ws:
            await ws.send_str(message.data.upper())

    socket = await wire.connect(await serve(echo_upper))
    assert await socket.receive(5) == b"welcome"
    received: list[bytes] = []
    socket.listen(received.append)
    for word in ("bid", "x" * 70_000, "max"):
        assert socket.send_text(word)
    for _ in range(100):
        if len(received) == 3:
            break
        await asyncio.sleep(0.01)
    assert received == [b"BID", b"X" * 70_000, b"MAX"]
    socket.close()


async def test_a_ping_gets_its_pong(serve: Callable[[Handler], Awaitable[str]]) -> None:
    pongs: list[bytes] = []

    async def hello_then_ping(ws: web.WebSocketResponse) -> None:
        await ws.send_str("hel")
        await ws.ping(b"are you there")
        message = await ws.receive()
        if message.type == WSMsgType.PONG:
            pongs.append(message.data)

    socket = await wire.connect(await serve(hello_then_ping))
    assert await socket.receive(5) == b"hel"
    for _ in range(100):
        if pongs:
            break
        await asyncio.sleep(0.01)
    assert pongs == [b"are you there"]
    socket.close()


async def test_fragments_arriving_in_pieces_make_one_message() -> None:
    """Frames split across reads, a message across frames (FIN clear, then continuation)."""
    socket = wire.WireSocket(b"", "key")
    socket._handshaking = False
    received: list[bytes] = []
    socket.listen(received.append)
    stream = bytes((0x01, 3)) + b"abc" + bytes((0x80, 126)) + (200).to_bytes(2, "big") + b"d" * 200
    for at in range(0, len(stream), 7):
        socket.data_received(stream[at : at + 7])
    assert received == [b"abc" + b"d" * 200]


async def test_the_server_closing_closes_the_client(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def close_at_once(ws: web.WebSocketResponse) -> None:
        await ws.close(code=1013, message=b"lagged")

    socket = await wire.connect(await serve(close_at_once))
    for _ in range(100):
        if socket.closed:
            break
        await asyncio.sleep(0.01)
    assert socket.closed
    assert not socket.send_text("too late")


async def test_a_refused_upgrade_is_an_error(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def never(ws: web.WebSocketResponse) -> None:
        raise AssertionError("not reached")

    url = await serve(never)
    with pytest.raises(wire.WireError):
        await wire.connect(url.replace("/ws", "/nothing"))
