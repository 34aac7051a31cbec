"""The rostrum's messages fuzzed, field by field: whatever a field holds, a frame decodes to the message (every
field within its bounds) or to an `invalid` error naming a field of the frame and, when its request_id is a valid
one, the request it answers; over a real websocket the connection stays up and answers every frame."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, get_args

import asyncpg
import msgspec
import websockets
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.engine.state import LiveTerms
from auction.gateway.protocol import AnyRostrumMessage, Error, RequestId, decode_client, encode
from tests.gateway.conftest import BidderMaker, PeopleMaker, Running, SaleMaker

KINDS = {str(kind.__struct_config__.tag): kind for kind in get_args(AnyRostrumMessage)}
FIELDS = {tag: [field.encode_name for field in msgspec.structs.fields(kind)] for tag, kind in KINDS.items()}
GOOD = {"sale": 42, "lot": 9, "request_id": "r-1", "ask": 100_000, "paddle": 31, "source": "floor",
        "amount": 5_000, "reason": "a reason"}  # fmt: skip

ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=600),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
NEAR_BOUNDS = st.sampled_from(
    [0, 1, -1, 999_999, 1_000_000, 10**13, 10**13 + 1, 2**31 - 1, 2**31, 2**53, 2**53 + 1, "", "r", "a b", "r-1\n",
     "x" * 64, "x" * 65, "x" * 500, "x" * 501, "floor", "phone", "house", "online", None, True, 1.5]
)  # fmt: skip


def valid_request_id(value: Any) -> bool:
    try:
        msgspec.convert(value, RequestId)
    except msgspec.ValidationError:
        return False
    return True


@st.composite
def frames(draw: st.DrawFn) -> dict[str, Any]:
    """A rostrum frame: each field kept good, changed to anything, or left out; sometimes a field too many."""
    tag = draw(st.sampled_from(sorted(KINDS)))
    frame: dict[str, Any] = {"type": tag}
    for name in FIELDS[tag]:
        choice = draw(st.sampled_from(["good", "good", "near", "any", "missing"]))
        if choice == "good":
            frame[name] = GOOD[name]
        elif choice == "near":
            frame[name] = draw(NEAR_BOUNDS)
        elif choice == "any":
            frame[name] = draw(ANY_JSON)
    if draw(st.booleans()) and draw(st.booleans()):
        frame[draw(st.sampled_from(["bidder", "client_id", "max", "amount", "x"]))] = draw(NEAR_BOUNDS)
    return frame


@settings(max_examples=600, deadline=None)
@given(frames())
def test_a_fuzzed_rostrum_frame_decodes_or_names_what_is_wrong(frame: dict[str, Any]) -> None:
    decoded = decode_client(json.dumps(frame))
    if not isinstance(decoded, Error):
        assert isinstance(decoded, KINDS[frame["type"]])
        assert decode_client(msgspec.json.encode(decoded)) == decoded  # every field within its bounds
        return
    if decoded.code == "too_large":
        return
    assert decoded.code == "invalid", decoded
    named = None if decoded.field is None else decoded.field.split(".")[0].split("[")[0]
    assert named is None or named in frame or named in FIELDS[frame["type"]], decoded  # sent, or missing
    expected = frame["request_id"] if valid_request_id(frame.get("request_id")) else None
    assert decoded.request_id == expected, decoded
    assert decoded.client_id is None
    assert json.loads(encode(decoded))["type"] == "error"


async def test_fuzzed_rostrum_frames_over_a_websocket_each_get_an_answer_and_the_connection_stays(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_people: PeopleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=2, live=LiveTerms(auto_accept=False))
    await make_bidder(sale.id, 31)
    people = await make_people()
    rng = random.Random(7)
    sent = [_fuzzed(rng, sale.id, n) for n in range(40)]  # under the burst of 50 a second
    async with websockets.connect(gateway.ws, additional_headers=await people["auctioneer"].headers(pg)) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        for frame in sent:
            await ws.send(json.dumps(frame))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply["type"] in ("rostrum_ack", "rostrum_refused", "error"), reply
            if valid_request_id(frame.get("request_id")):
                assert reply.get("request_id") == frame["request_id"], (frame, reply)
            if reply["type"] == "error":
                assert reply["code"] in ("invalid", "not_found", "refused"), (frame, reply)
        await ws.send('{"type":"time"}')
        assert json.loads(await ws.recv())["type"] == "time"


def _fuzzed(rng: random.Random, sale: int, n: int) -> dict[str, Any]:
    """A rostrum frame for `sale` with one field (sometimes none) changed to a value near or past its bounds."""
    tag = rng.choice(sorted(KINDS))
    frame: dict[str, Any] = {"type": tag, **{name: GOOD[name] for name in FIELDS[tag]}}
    frame.update(sale=sale, lot=rng.choice([1, 2, 3]), request_id=f"f-{n}")
    if rng.random() < 0.7:
        name = rng.choice(FIELDS[tag])
        frame[name] = rng.choice(
            [0, -1, 1, 999_999, 1_000_000, 10**13 + 1, "", "a b", "x" * 501, "online", None, 1.5, [1], {"a": 1}]
        )
    return frame
