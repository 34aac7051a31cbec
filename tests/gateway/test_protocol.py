"""The websocket protocol: every message both ways, and bad input answered with an error naming the field
while the connection and the server stay up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest
import websockets

from auction.engine.views import AnyPublicEvent, BidShown, Commission, LiveConsole, LotView, Waiting
from auction.gateway.protocol import (
    CLIENT_DECODER,
    MAX_FRAME_BYTES,
    SERVER_DECODER,
    AcceptOnlineBidMessage,
    Ack,
    AnyClientMessage,
    AnyServerMessage,
    Bid,
    BidderInfo,
    BidRejected,
    BidWaiting,
    DeclineOnlineBidMessage,
    Error,
    ErrorCode,
    EventFrame,
    FairWarningMessage,
    HammerMessage,
    MaxBid,
    OpenLotMessage,
    PassLotMessage,
    PauseLotMessage,
    Quote,
    QuoteReply,
    RecordSnapshot,
    ReopenLotMessage,
    ResumeLotMessage,
    RostrumAck,
    RostrumRefused,
    SetAskMessage,
    SetIncrementMessage,
    Snapshot,
    Subscribe,
    TakeBidMessage,
    Time,
    TimeReply,
    UndoBidMessage,
    Unsubscribe,
    Welcome,
    WithdrawLotMessage,
    decode_client,
    encode,
    error_field,
)
from tests.gateway.conftest import BidderMaker, Running, SaleMaker

CLIENT_EXAMPLES: list[tuple[str, Any]] = [
    ('{"type":"subscribe","sale":42,"lots":null,"resume":null}', Subscribe(42)),
    ('{"type":"subscribe","sale":42,"lots":[1,2],"resume":{"2":17}}', Subscribe(42, [1, 2], {2: 17})),
    ('{"type":"unsubscribe","sale":42}', Unsubscribe(42)),
    ('{"type":"bid","sale":42,"lot":7,"amount":250000,"client_id":"b-0001"}', Bid(42, 7, 250_000, "b-0001")),
    ('{"type":"max_bid","sale":42,"lot":7,"amount":900000,"client_id":"m:1"}', MaxBid(42, 7, 900_000, "m:1")),
    ('{"type":"quote","sale":42,"lot":7,"amount":250000}', Quote(42, 7, 250_000)),
    ('{"type":"time"}', Time()),
    ('{"type":"open_lot","sale":42,"lot":9,"request_id":"r-1"}', OpenLotMessage(42, 9, "r-1")),
    ('{"type":"open_lot","sale":42,"lot":9,"ask":100000,"request_id":"r-1"}', OpenLotMessage(42, 9, "r-1", 100_000)),
    ('{"type":"take_bid","sale":42,"lot":9,"paddle":31,"source":"phone","request_id":"r-2"}',
     TakeBidMessage(42, 9, "r-2", 31, "phone")),
    ('{"type":"set_ask","sale":42,"lot":9,"amount":150000,"request_id":"r-3"}', SetAskMessage(42, 9, "r-3", 150_000)),
    ('{"type":"set_increment","sale":42,"lot":9,"amount":5000,"request_id":"r-4"}',
     SetIncrementMessage(42, 9, "r-4", 5_000)),
    ('{"type":"accept_online_bid","sale":42,"lot":9,"request_id":"r-5"}', AcceptOnlineBidMessage(42, 9, "r-5")),
    ('{"type":"decline_online_bid","sale":42,"lot":9,"request_id":"r-6"}', DeclineOnlineBidMessage(42, 9, "r-6")),
    ('{"type":"fair_warning","sale":42,"lot":9,"request_id":"r-7"}', FairWarningMessage(42, 9, "r-7")),
    ('{"type":"hammer","sale":42,"lot":9,"request_id":"r-8"}', HammerMessage(42, 9, "r-8")),
    ('{"type":"pass_lot","sale":42,"lot":9,"request_id":"r-9"}', PassLotMessage(42, 9, "r-9")),
    ('{"type":"reopen_lot","sale":42,"lot":9,"reason":"missed","request_id":"r-10"}',
     ReopenLotMessage(42, 9, "r-10", "missed")),
    ('{"type":"pause_lot","sale":42,"lot":9,"request_id":"r-11"}', PauseLotMessage(42, 9, "r-11")),
    ('{"type":"resume_lot","sale":42,"lot":9,"request_id":"r-12"}', ResumeLotMessage(42, 9, "r-12")),
    ('{"type":"undo_bid","sale":42,"lot":9,"request_id":"r-13"}', UndoBidMessage(42, 9, "r-13")),
    ('{"type":"withdraw_lot","sale":42,"lot":9,"reason":"gone","request_id":"r-14"}',
     WithdrawLotMessage(42, 9, "r-14", "gone")),
]  # fmt: skip

VIEW = LotView(42, 7, 12, "open", 100_000, 260_000, 31, True, 280_000, 1, 2, 5, 1)
LIVE = LiveConsole(130_000, 10_000, "floor", Waiting(5, 27, 130_000, "b-1"), None, [Commission(3, 31, 110_000)], [])
SERVER_EXAMPLES: list[AnyServerMessage] = [
    Welcome(1_700_000_000_000, BidderInfo(3, "A. Dealer")),
    Welcome(1_700_000_000_000, None),
    Snapshot(42, 7, 1_700_000_000_000, VIEW),
    EventFrame(42, 7, 13, BidShown(13, 1_700_000_000_000, 31, 280_000, False, True, 300_000)),
    Ack("b-0001", 42, 7, 13, 280_000, True, 900_000),
    BidRejected("b-0002", 42, 7, "too_low", 300_000),
    BidWaiting("b-0107", 42, 9, 130_000),
    RostrumAck("r-1", 42, 9, 7),
    RostrumRefused("r-2", 42, 9, "over_limit", 130_000),
    RecordSnapshot(42, 9, 1, VIEW, 110_000, 3, 120_000, 2, LIVE),
    Error("not_found", "paddle", "nobody holds paddle 77 in sale 42", None, 42, 9, "r-3"),
    QuoteReply(42, 7, 250_000, 65_000, 315_000),
    TimeReply(1_700_000_000_000),
    Error("invalid", "amount", "Expected `int` >= 1 - at `$.amount`"),
    Error("unavailable", None, "the outcome is unknown: send the bid again with the same client_id", "b-3", 42, 7),
]


@pytest.mark.parametrize(("frame", "expected"), CLIENT_EXAMPLES)
def test_every_client_message_decodes(frame: str, expected: Any) -> None:
    assert decode_client(frame) == expected
    assert decode_client(msgspec.json.encode(expected)) == expected


@pytest.mark.parametrize("message", SERVER_EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_server_message_round_trips(message: AnyServerMessage) -> None:
    assert SERVER_DECODER.decode(encode(message)) == message


def test_the_two_unions_share_tags_only_where_a_reply_answers_its_request() -> None:
    assert json.loads(encode(TimeReply(5)))["type"] == "time"
    assert CLIENT_DECODER.decode(b'{"type":"time"}') == Time()


BAD_FRAMES: list[tuple[str, str, str | None]] = [
    ("{not json", "invalid", None),
    ("[1,2]", "invalid", None),
    ('{"sale":1}', "invalid", "type"),
    ('{"type":"teleport"}', "unknown_type", "type"),
    ('{"type":5}', "invalid", "type"),
    ('{"type":"bid","sale":1,"lot":1,"amount":"100","client_id":"a"}', "invalid", "amount"),
    ('{"type":"bid","sale":1,"lot":1,"amount":-5,"client_id":"a"}', "invalid", "amount"),
    ('{"type":"bid","sale":1,"lot":1,"amount":0,"client_id":"a"}', "invalid", "amount"),
    ('{"type":"bid","sale":1,"lot":1,"amount":10000000000001,"client_id":"a"}', "invalid", "amount"),
    ('{"type":"bid","sale":1,"lot":1,"amount":1.5,"client_id":"a"}', "invalid", "amount"),
    ('{"type":"bid","sale":1,"lot":1,"amount":true,"client_id":"a"}', "invalid", "amount"),
    ('{"type":"bid","sale":1,"lot":1,"amount":100}', "invalid", "client_id"),
    ('{"type":"bid","sale":1,"lot":1,"amount":100,"client_id":""}', "invalid", "client_id"),
    ('{"type":"bid","sale":1,"lot":1,"amount":100,"client_id":"has space"}', "invalid", "client_id"),
    ('{"type":"bid","sale":1,"lot":1,"amount":100,"client_id":"' + "x" * 65 + '"}', "invalid", "client_id"),
    ('{"type":"bid","sale":1,"lot":1,"amount":100,"client_id":"a-1\\n"}', "invalid", "client_id"),  # no newline
    ('{"type":"bid","sale":0,"lot":1,"amount":100,"client_id":"a"}', "invalid", "sale"),
    ('{"type":"bid","sale":1,"lot":-1,"amount":100,"client_id":"a"}', "invalid", "lot"),
    ('{"type":"bid","sale":1,"lot":1,"amount":100,"client_id":"a","max":900}', "invalid", "max"),
    ('{"type":"time","extra":1}', "invalid", "extra"),
    ('{"type":"subscribe","sale":1,"lots":[1,-2]}', "invalid", "lots[1]"),
    ('{"type":"subscribe","sale":1,"resume":{"x":3}}', "invalid", "resume"),
    ('{"type":"subscribe","sale":1,"resume":{"3":-1}}', "invalid", "resume[...]"),
    ('{"type":"open_lot","sale":1,"lot":1}', "invalid", "request_id"),
    ('{"type":"open_lot","sale":1,"lot":1,"ask":0,"request_id":"r"}', "invalid", "ask"),
    ('{"type":"open_lot","sale":1,"lot":1,"request_id":"r","bidder":3}', "invalid", "bidder"),
    ('{"type":"take_bid","sale":1,"lot":1,"paddle":0,"source":"floor","request_id":"r"}', "invalid", "paddle"),
    ('{"type":"take_bid","sale":1,"lot":1,"paddle":1000000,"source":"floor","request_id":"r"}', "invalid", "paddle"),
    ('{"type":"take_bid","sale":1,"lot":1,"paddle":5,"source":"online","request_id":"r"}', "invalid", "source"),
    ('{"type":"take_bid","sale":1,"lot":1,"paddle":5,"request_id":"r"}', "invalid", "source"),
    ('{"type":"set_ask","sale":1,"lot":1,"amount":-1,"request_id":"r"}', "invalid", "amount"),
    ('{"type":"set_increment","sale":1,"lot":1,"amount":10000000000001,"request_id":"r"}', "invalid", "amount"),
    ('{"type":"reopen_lot","sale":1,"lot":1,"reason":"","request_id":"r"}', "invalid", "reason"),
    ('{"type":"withdraw_lot","sale":1,"lot":1,"request_id":"r"}', "invalid", "reason"),
    ('{"type":"pause_lot","sale":1,"lot":1,"reason":"' + "x" * 501 + '","request_id":"r"}', "invalid", "reason"),
    ('{"type":"hammer","sale":1,"lot":0,"request_id":"r"}', "invalid", "lot"),
    ('{"type":"hammer","sale":1,"lot":1,"request_id":"r e"}', "invalid", "request_id"),
]


@pytest.mark.parametrize(("frame", "code", "field"), BAD_FRAMES)
def test_bad_frames_become_errors_naming_the_field(frame: str, code: str, field: str | None) -> None:
    error = decode_client(frame)
    assert isinstance(error, Error)
    assert (error.code, error.field) == (code, field), error.message


def test_only_an_error_that_answers_a_bid_names_one() -> None:
    named = json.loads(encode(Error("unavailable", None, "try again", "b-1", 42, 7)))
    assert (named["client_id"], named["sale"], named["lot"]) == ("b-1", 42, 7)
    assert set(json.loads(encode(Error("invalid", "amount", "no")))) == {"type", "code", "field", "message"}


MALFORMED_BIDS: list[tuple[str, str | None]] = [
    ('{"type":"bid","sale":1,"lot":1,"amount":-5,"client_id":"a-1"}', "a-1"),
    ('{"type":"max_bid","sale":0,"lot":1,"amount":100,"client_id":"m:2"}', "m:2"),
    ('{"type":"bid","sale":1,"lot":1,"amount":100,"client_id":"b-3","max":900}', "b-3"),
    ('{"type":"bid","sale":1,"lot":1,"amount":100,"client_id":"has space"}', None),  # the client_id is what's wrong
    ('{"type":"bid","sale":1,"lot":1,"amount":100}', None),
    ('{"type":"quote","sale":1,"lot":1,"amount":-1,"client_id":"q-1"}', None),  # not a bid
]

MALFORMED_ROSTRUM: list[tuple[str, str | None]] = [
    ('{"type":"take_bid","sale":1,"lot":1,"paddle":0,"source":"floor","request_id":"r-1"}', "r-1"),
    ('{"type":"hammer","sale":1,"lot":1,"request_id":"r-2","paddle":3}', "r-2"),
    ('{"type":"hammer","sale":1,"lot":1,"request_id":"has space"}', None),  # the request_id is what's wrong
    ('{"type":"quote","sale":1,"lot":1,"amount":-1,"request_id":"q-1"}', None),  # not a rostrum message
]


@pytest.mark.parametrize(("frame", "request_id"), MALFORMED_ROSTRUM)
def test_a_malformed_rostrum_message_is_refused_by_its_request_id_when_that_is_valid(
    frame: str, request_id: str | None
) -> None:
    error = decode_client(frame)
    assert isinstance(error, Error) and error.code == "invalid"
    assert (error.request_id, error.client_id) == (request_id, None)


@pytest.mark.parametrize(("frame", "client_id"), MALFORMED_BIDS)
def test_a_malformed_bid_is_refused_by_its_client_id_when_that_is_valid(frame: str, client_id: str | None) -> None:
    error = decode_client(frame)
    assert isinstance(error, Error) and error.code == "invalid"
    assert (error.client_id, error.sale, error.lot) == (client_id, None, None)


def test_an_oversized_frame_is_refused_before_decoding() -> None:
    frame = '{"type":"time","pad":"' + "x" * MAX_FRAME_BYTES + '"}'
    assert decode_client(frame) == Error("too_large", None, f"a frame may be at most {MAX_FRAME_BYTES} bytes")


def test_the_frame_limit_counts_bytes_not_characters() -> None:
    frame = '{"type":"time","pad":"' + "é" * (MAX_FRAME_BYTES // 2) + '"}'
    error = decode_client(frame)
    assert isinstance(error, Error) and error.code == "too_large"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("Expected `int`, got `str` - at `$.amount`", "amount"),
        ("Object missing required field `client_id`", "client_id"),
        ("Object missing required field `lot` - at `$.inner`", "inner.lot"),
        ("Object contains unknown field `max`", "max"),
        ("Expected `int` >= 1 - at `key` in `$.resume`", "resume"),
        ("Expected `object`, got `array`", None),
    ],
)
def test_error_field_reads_msgspec_paths(message: str, field: str | None) -> None:
    assert error_field(message) == field


# ---- over a real websocket ------------------------------------------------------------------------------------


async def _recv(ws: websockets.ClientConnection) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), 5)
    message: dict[str, Any] = json.loads(frame)
    return message


async def test_every_bad_frame_gets_an_error_and_the_connection_stays_usable(gateway: Running) -> None:
    async with websockets.connect(gateway.ws) as ws:
        assert (await _recv(ws))["type"] == "welcome"
        for frame, code, field in BAD_FRAMES:
            await ws.send(frame)
            reply = await _recv(ws)
            assert (reply["type"], reply["code"], reply["field"]) == ("error", code, field)
        await ws.send('{"type":"time","pad":"' + "x" * MAX_FRAME_BYTES + '"}')
        assert (await _recv(ws))["code"] == "too_large"
        await ws.send(b"\x00\x01binary")
        assert (await _recv(ws))["code"] == "invalid"
        await ws.send('{"type":"time"}')
        assert (await _recv(ws))["type"] == "time"  # still usable


async def test_a_frame_past_aiohttps_limit_closes_only_that_connection(gateway: Running) -> None:
    async with websockets.connect(gateway.ws, max_size=None) as flood:
        await _recv(flood)
        await flood.send("x" * (70 * 1024))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await _recv(flood)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with websockets.connect(gateway.ws) as ws:  # the server is still up
        assert (await _recv(ws))["type"] == "welcome"


async def test_a_bad_token_is_refused_with_401_before_the_upgrade(gateway: Running) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{gateway.ws}?token=nope"):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "token_invalid"
    header = {"Authorization": "Basic abc"}
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(gateway.ws, additional_headers=header):
            pass


async def test_welcome_names_the_bidder_and_bearer_header_works(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=1)
    bidder, token = await make_bidder(sale.id, 11)
    async with websockets.connect(gateway.ws, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        welcome = await _recv(ws)
        assert welcome["bidder"] == {"id": bidder.id, "name": bidder.name}
    async with websockets.connect(gateway.ws) as ws:
        assert (await _recv(ws))["bidder"] is None


async def test_anonymous_and_unregistered_callers_are_not_allowed_to_bid(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=1)
    other = await make_sale(lots=1)
    _, token = await make_bidder(other.id, 5)  # registered elsewhere only
    bid = {"type": "bid", "sale": sale.id, "lot": 1, "amount": 10_000, "client_id": "x1"}
    for url, reason in ((gateway.ws, "not_allowed"), (f"{gateway.ws}?token={token}", "not_registered")):
        async with websockets.connect(url) as ws:
            await _recv(ws)
            await ws.send(json.dumps(bid))
            reply = await _recv(ws)
            assert (reply["type"], reply["reason"], reply["client_id"]) == ("rejected", reason, "x1")


async def test_quote_time_unknown_sale_and_lot(gateway: Running, make_sale: SaleMaker) -> None:
    sale = await make_sale(lots=2)
    async with websockets.connect(gateway.ws) as ws:
        await _recv(ws)
        await ws.send(json.dumps({"type": "quote", "sale": sale.id, "lot": 2, "amount": 1_000_000}))
        quote = await _recv(ws)
        # Christie's 2023 schedule: 26% of the first $1,000,000 (in cents: 100,000,000).
        assert quote == {"type": "quote", "sale": sale.id, "lot": 2, "amount": 1_000_000, "premium": 260_000,
                         "total": 1_260_000}  # fmt: skip
        await ws.send(json.dumps({"type": "quote", "sale": sale.id, "lot": 99, "amount": 100}))
        assert (await _recv(ws))["field"] == "lot"
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id + 10**6}))
        assert (await _recv(ws))[("code")] == "not_found"
        await ws.send(json.dumps({"type": "subscribe", "sale": sale.id, "lots": [1, 77]}))
        assert await _recv(ws) == {"type": "error", "code": "not_found", "field": "lots",
                                   "message": f"sale {sale.id} has no lot 77"}  # fmt: skip
        await ws.send('{"type":"time"}')
        assert (await _recv(ws))["type"] == "time"


async def test_every_answer_to_a_bid_names_it_even_past_the_rate_limit(
    gateway: Running, make_sale: SaleMaker, make_bidder: BidderMaker
) -> None:
    sale = await make_sale(lots=1)
    _, token = await make_bidder(sale.id, 12)
    sent = [f"flood-{n}" for n in range(80)]  # past the burst of 50: some are refused rate_limited
    async with websockets.connect(f"{gateway.ws}?token={token}") as ws:
        await _recv(ws)
        await ws.send('{"type":"bid","sale":1,"lot":1,"amount":-5,"client_id":"bad-1"}')
        for n, client_id in enumerate(sent):
            amount = 10_000 + 5_000 * n
            await ws.send(json.dumps({"type": "max_bid", "sale": sale.id, "lot": 1, "amount": amount,
                                      "client_id": client_id}))  # fmt: skip
        answers = [await _recv(ws) for _ in range(len(sent) + 1)]
    assert sorted(a["client_id"] for a in answers) == sorted([*sent, "bad-1"])  # one answer per bid, naming it
    refused = [a for a in answers if a["type"] == "error"]
    assert {a["code"] for a in refused} == {"rate_limited", "invalid"}
    assert all((a["sale"], a["lot"]) == (sale.id, 1) for a in refused if a["code"] == "rate_limited")


async def test_flooding_is_rate_limited_then_closed_with_1008(gateway: Running) -> None:
    async with websockets.connect(gateway.ws) as ws:
        await _recv(ws)
        for _ in range(400):
            await ws.send('{"type":"time"}')
        codes: list[str] = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                reply = await _recv(ws)
                codes.append(reply.get("code", reply["type"]))
        assert "rate_limited" in codes
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    async with websockets.connect(gateway.ws) as ws:
        assert (await _recv(ws))["type"] == "welcome"


# ---- the protocol document ------------------------------------------------------------------------------------

PROTOCOL_MD = Path(__file__).parents[2] / "docs" / "PROTOCOL.md"


def _examples(heading: str) -> list[str]:
    """The JSON lines of the first ```json block under `heading` in docs/PROTOCOL.md."""
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def _tags(union: Any) -> set[str]:
    return {t.__struct_config__.tag for t in get_args(union)}


def test_protocol_md_shows_every_client_message_and_each_decodes() -> None:
    lines = _examples("Client to server")
    decoded = [CLIENT_DECODER.decode(line) for line in lines]
    assert {type(m).__struct_config__.tag for m in decoded} == _tags(AnyClientMessage)


def test_protocol_md_shows_every_server_message_and_public_event_and_each_decodes() -> None:
    decoded = [SERVER_DECODER.decode(line) for line in _examples("Server to client")]
    assert {type(m).__struct_config__.tag for m in decoded} == _tags(AnyServerMessage)
    shown = {type(m.event).__struct_config__.tag for m in decoded if isinstance(m, EventFrame)}
    assert shown == _tags(AnyPublicEvent)
    codes = {m.code for m in decoded if isinstance(m, Error)}
    assert codes <= set(get_args(ErrorCode))
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    for code in get_args(ErrorCode):
        assert f"| `{code}` |" in text, f"error code {code} is not in the table"
