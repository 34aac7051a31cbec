"""The websocket protocol: every message a frozen, tagged Struct; one union per direction (docs/PROTOCOL.md).

Like msgspec's asyncio-kv example, one decoder is built once for what clients send (unknown fields refused)
and one encoder for what the server sends. `decode_client` never raises: a frame that is not a valid message
becomes an `Error` naming the field, which the connection sends back and then carries on.
"""

from __future__ import annotations

import struct
from typing import Annotated, Literal, get_args

import msgspec

from auction import httpkit
from auction.engine.messages import AnyEvent, RejectReason, RoomSource
from auction.engine.shill import BidderScore
from auction.engine.views import AnyPublicEvent, LiveConsole, LotView
from auction.httpkit import ApiError, ErrorCode, Principal, error_field, refuse_nul

# Limits of the edge; PROTOCOL.md "Limits" repeats them for clients.
MAX_FRAME_BYTES = 4096
MAX_AMOUNT = httpkit.MAX_AMOUNT  # 100 billion in a currency's minor unit: far above any stone ever sold
MAX_LOTS_PER_SUBSCRIBE = 10_000

Amount = Annotated[int, msgspec.Meta(ge=1, le=MAX_AMOUNT)]
SaleId = Annotated[int, msgspec.Meta(ge=1, le=2**53)]  # ids survive a round trip through JavaScript numbers
LotNo = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
# "(?!\n)$": Python's `$` also matches before a final newline, which would let "b-1\n" through.
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern="^[A-Za-z0-9_.:-]+(?!\n)$")]
RequestId = ClientId  # an operator's id for a rostrum message: a resend with the same one gets the first answer
Paddle = Annotated[int, msgspec.Meta(ge=1, le=999_999)]  # as registrations give them (gateway/accounts.py)
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]  # why the auctioneer did it, for the record
Priority = Annotated[int, msgspec.Meta(ge=1, le=10_000)]  # a tender bid's place in its buyer's order (1 first)
PublicKeyText = Annotated[str, msgspec.Meta(min_length=44, max_length=44, pattern="^[A-Za-z0-9+/]{43}=$")]  # X25519
MaybeReason = Annotated[str, msgspec.Meta(max_length=500)]


# --- client -> server --------------------------------------------------------------------------------------------


class ClientMessage(msgspec.Struct, frozen=True, tag_field="type", forbid_unknown_fields=True):
    pass


class Subscribe(ClientMessage, frozen=True, tag="subscribe"):
    """Watch a sale: all its lots (`lots` null) or some. `resume` maps a lot to the last seq the client saw;
    those lots get the events after it instead of a snapshot."""

    sale: SaleId
    lots: Annotated[list[LotNo], msgspec.Meta(max_length=MAX_LOTS_PER_SUBSCRIBE)] | None = None
    resume: Annotated[dict[LotNo, Seq], msgspec.Meta(max_length=MAX_LOTS_PER_SUBSCRIBE)] | None = None


class Unsubscribe(ClientMessage, frozen=True, tag="unsubscribe"):
    sale: SaleId


class Bid(ClientMessage, frozen=True, tag="bid"):
    sale: SaleId
    lot: LotNo
    amount: Amount
    client_id: ClientId


class MaxBid(ClientMessage, frozen=True, tag="max_bid"):
    sale: SaleId
    lot: LotNo
    amount: Amount
    client_id: ClientId


class Quote(ClientMessage, frozen=True, tag="quote"):
    sale: SaleId
    lot: LotNo
    amount: Amount


class Time(ClientMessage, frozen=True, tag="time"):
    pass


class WatchShillScores(ClientMessage, frozen=True, tag="watch_shill_scores"):
    """Operators: the shill monitor's scores for a sale, now and whenever they change (`shill_scores`), until
    `unsubscribe` for the sale."""

    sale: SaleId


class TenderBid(ClientMessage, frozen=True, tag="tender_bid"):
    """A sealed bid on a lot of a tender: `amount` (the total) or `per_carat` (the lot's weight makes the total,
    rounded half up), not both. The gateway seals it at once; the answer is a `tender_receipt`. A later tender_bid
    on the lot replaces it. `priority` orders the buyer's bids for their limit (1 first); `buyer_key` (an X25519
    public key, base64) has a copy kept sealed to it, which only the buyer's client opens."""

    sale: SaleId
    lot: LotNo
    client_id: ClientId
    amount: Amount | None = None
    per_carat: Amount | None = None
    priority: Priority = 1
    buyer_key: PublicKeyText | None = None


# --- client -> server: a live sale's rostrum (the auctioneer and the clerk; access.MESSAGE_RULES) -----------------


class RostrumMessage(ClientMessage, frozen=True):
    """An operator's command for one lot of a live sale. `request_id` names it: the answer (`rostrum_ack`,
    `rostrum_refused`, or an `error`) carries it, and a resend with the same one gets the first answer."""

    sale: SaleId
    lot: LotNo
    request_id: RequestId


class OpenLotMessage(RostrumMessage, frozen=True, tag="open_lot"):
    """Open the lot at `ask` (null: its opening price); the absentee book executes against it."""

    ask: Amount | None = None


class TakeBidMessage(RostrumMessage, frozen=True, tag="take_bid"):
    """A bid at the ask from the room: `paddle` is a registered buyer's (floor, phone), or the house's."""

    paddle: Paddle
    source: RoomSource


class SetAskMessage(RostrumMessage, frozen=True, tag="set_ask"):
    amount: Amount


class SetIncrementMessage(RostrumMessage, frozen=True, tag="set_increment"):
    amount: Amount


class AcceptOnlineBidMessage(RostrumMessage, frozen=True, tag="accept_online_bid"):
    pass


class DeclineOnlineBidMessage(RostrumMessage, frozen=True, tag="decline_online_bid"):
    reason: MaybeReason = ""


class FairWarningMessage(RostrumMessage, frozen=True, tag="fair_warning"):
    pass


class HammerMessage(RostrumMessage, frozen=True, tag="hammer"):
    pass


class PassLotMessage(RostrumMessage, frozen=True, tag="pass_lot"):
    pass


class ReopenLotMessage(RostrumMessage, frozen=True, tag="reopen_lot"):
    reason: Reason


class PauseLotMessage(RostrumMessage, frozen=True, tag="pause_lot"):
    reason: MaybeReason = ""


class ResumeLotMessage(RostrumMessage, frozen=True, tag="resume_lot"):
    pass


class UndoBidMessage(RostrumMessage, frozen=True, tag="undo_bid"):
    pass


class WithdrawLotMessage(RostrumMessage, frozen=True, tag="withdraw_lot"):
    reason: Reason


AnyRostrumMessage = (
    OpenLotMessage
    | TakeBidMessage
    | SetAskMessage
    | SetIncrementMessage
    | AcceptOnlineBidMessage
    | DeclineOnlineBidMessage
    | FairWarningMessage
    | HammerMessage
    | PassLotMessage
    | ReopenLotMessage
    | PauseLotMessage
    | ResumeLotMessage
    | UndoBidMessage
    | WithdrawLotMessage
)
AnyClientMessage = (
    Subscribe | Unsubscribe | Bid | MaxBid | Quote | Time | TenderBid | WatchShillScores | AnyRostrumMessage
)
ROSTRUM_TAGS: tuple[str, ...] = tuple(str(kind.__struct_config__.tag) for kind in get_args(AnyRostrumMessage))


# --- server -> client --------------------------------------------------------------------------------------------


class ServerMessage(msgspec.Struct, frozen=True, tag_field="type"):
    pass


class BidderInfo(msgspec.Struct, frozen=True):
    """A buyer: `id` is their company's id (the bidder the engine knows), `name` the representative's."""

    id: int
    name: str


class Welcome(ServerMessage, frozen=True, tag="welcome"):
    server_ms: int
    bidder: BidderInfo | None
    role: Principal = "anonymous"


class Snapshot(ServerMessage, frozen=True, tag="snapshot"):
    sale: int
    lot: int
    server_ms: int
    lot_state: LotView


class EventFrame(ServerMessage, frozen=True, tag="event"):
    sale: int
    lot: int
    seq: int
    event: AnyPublicEvent


class RecordSnapshot(ServerMessage, frozen=True, tag="record_snapshot"):
    """Operators only: the public view of a lot plus what only the house sees (reserve, leader, maximum), and for a
    lot of a live sale what the rostrum's console shows (`live`; null for other formats)."""

    sale: int
    lot: int
    server_ms: int
    lot_state: LotView
    reserve: int
    leader: int | None  # the leading bidder (company) id
    leader_max: int
    consignor: int
    live: LiveConsole | None = None


class RecordFrame(ServerMessage, frozen=True, tag="record"):
    """Operators only: one event in its record form (bidder ids, maximums), instead of the public `event`."""

    sale: int
    lot: int
    seq: int
    event: AnyEvent


class Ack(ServerMessage, frozen=True, tag="ack"):
    """A bid kept. `your_max` is the caller's own maximum (their bid amount when they are not leading)."""

    client_id: str
    sale: int
    lot: int
    seq: int
    price: int
    leading: bool
    your_max: int


class BidRejected(ServerMessage, frozen=True, tag="rejected"):
    client_id: str
    sale: int
    lot: int
    reason: RejectReason
    next_amount: int


class BidWaiting(ServerMessage, frozen=True, tag="bid_waiting"):
    """An online bid in a live sale, received and waiting for the clerk: not kept as a bid yet (that is `ack`).
    What becomes of it comes in the public feed: a `bid` at your paddle, or `declined`."""

    client_id: str
    sale: int
    lot: int
    amount: int


class RostrumAck(ServerMessage, frozen=True, tag="rostrum_ack"):
    """A rostrum message done: `seq` is the lot's seq after it."""

    request_id: str
    sale: int
    lot: int
    seq: int


class RostrumRefused(ServerMessage, frozen=True, tag="rostrum_refused"):
    """A rostrum message the engine refused, with its reason; `next_amount` as for a refused bid (0: none)."""

    request_id: str
    sale: int
    lot: int
    reason: RejectReason
    next_amount: int


class ShillScores(ServerMessage, frozen=True, tag="shill_scores"):
    """Operators only: the shill monitor's scores for a sale (auction.engine.shill), each bidder's with every
    signal explained, highest first; `flagged` at or above `threshold`."""

    sale: int
    server_ms: int
    threshold: int
    events: int  # the recorded events they were computed from
    bidders: list[BidderScore]


class TenderReceipt(ServerMessage, frozen=True, tag="tender_receipt"):
    """A sealed bid kept. `commitment` is SHA-256 over the bid and `salt` (auction.engine.formats.tender.commitment):
    keep both, and check after the close that the published list has the commitment. `submitted_ms` is when it was
    received. `salt` is null when this answers a resend (it was given with the first answer, and the gateway keeps
    no salt); `copy_kept` whether a copy sealed to `buyer_key` was kept."""

    client_id: str
    sale: int
    lot: int
    seq: int
    commitment: str
    salt: str | None
    submitted_ms: int
    priority: int
    copy_kept: bool


class QuoteReply(ServerMessage, frozen=True, tag="quote"):
    sale: int
    lot: int
    amount: int
    premium: int
    total: int


class TimeReply(ServerMessage, frozen=True, tag="time"):
    server_ms: int


class Error(ServerMessage, frozen=True, tag="error", omit_defaults=True):
    """The message was not acted on. An error that answers a bid names it (`client_id`, and `sale` and `lot`
    where the frame gave them), so a client with several bids in flight knows which one failed; one that answers
    a rostrum message names it by `request_id` the same way. They are left out of every other error."""

    code: ErrorCode
    field: str | None
    message: str
    client_id: str | None = None
    sale: int | None = None
    lot: int | None = None
    request_id: str | None = None
    retry_after: int | None = None  # seconds, for `rate_limited` (HTTP: also the Retry-After header)


AnyServerMessage = (
    Welcome
    | Snapshot
    | EventFrame
    | RecordSnapshot
    | RecordFrame
    | Ack
    | BidRejected
    | BidWaiting
    | RostrumAck
    | RostrumRefused
    | TenderReceipt
    | ShillScores
    | QuoteReply
    | TimeReply
    | Error
)

CLIENT_DECODER = msgspec.json.Decoder(AnyClientMessage)
SERVER_DECODER = msgspec.json.Decoder(AnyServerMessage)  # for clients written in Python, and the tests
ENCODER = msgspec.json.Encoder()


def encode(message: AnyServerMessage) -> bytes:
    return ENCODER.encode(message)


# A server's websocket frame is unmasked, so its bytes are the same for every receiver: the fan-out writes them
# straight to the transports (RFC 6455 5.2: FIN + text opcode, then the payload length in 7, 16 or 64 bits).
_TEXT_FIN = 0x81
_SHORT_HEADERS = [bytes((_TEXT_FIN, length)) for length in range(126)]


def text_frame(payload: bytes) -> bytes:
    """One complete websocket text frame (a whole message) carrying `payload`."""
    length = len(payload)
    if length < 126:
        return _SHORT_HEADERS[length] + payload
    if length < 1 << 16:
        return struct.pack("!BBH", _TEXT_FIN, 126, length) + payload
    return struct.pack("!BBQ", _TEXT_FIN, 127, length) + payload


# msgspec names the place of a validation error as a JSONPath: "... - at `$.lots[1]`", or for a dict key
# "... - at `key` in `$.resume`"; a missing or unknown field is named in the message instead.
def validation_error(exc: msgspec.ValidationError) -> Error:
    message = str(exc)
    field = error_field(message)
    if field == "type" and message.startswith("Invalid value"):
        return Error("unknown_type", "type", message)
    return Error("invalid", field, message)


class _BidName(msgspec.Struct, frozen=True):
    """What names a bid in a frame that is not a valid bid otherwise (other fields ignored)."""

    type: Literal["bid", "max_bid", "tender_bid"]
    client_id: ClientId


class _RequestName(msgspec.Struct, frozen=True):
    """What names a rostrum message in a frame that is not valid otherwise (other fields ignored)."""

    type: str
    request_id: RequestId


_BID_NAME_DECODER = msgspec.json.Decoder(_BidName)
_REQUEST_NAME_DECODER = msgspec.json.Decoder(_RequestName)


def naming_the_bid(error: Error, data: bytes) -> Error:
    """The error about a malformed frame, with the bid's client_id when the frame is a bid whose client_id is
    itself valid (or the rostrum message's request_id): a client with several in flight learns which one was
    refused."""
    try:
        name = _BID_NAME_DECODER.decode(data)
    except msgspec.DecodeError:  # not JSON, not a bid, or the client_id is what is wrong
        return _naming_the_request(error, data)
    return msgspec.structs.replace(error, client_id=name.client_id)


def _naming_the_request(error: Error, data: bytes) -> Error:
    try:
        name = _REQUEST_NAME_DECODER.decode(data)
    except msgspec.DecodeError:  # not JSON, or the request_id is what is wrong
        return error
    return msgspec.structs.replace(error, request_id=name.request_id) if name.type in ROSTRUM_TAGS else error


def decode_client(frame: bytes | str) -> AnyClientMessage | Error:
    """A client frame as a message, or the error frame that explains why it isn't one."""
    data = frame.encode() if isinstance(frame, str) else frame  # the limit is in bytes, not characters
    if len(data) > MAX_FRAME_BYTES:
        return Error("too_large", None, f"a frame may be at most {MAX_FRAME_BYTES} bytes")
    try:
        message: AnyClientMessage = CLIENT_DECODER.decode(data)
        refuse_nul(data)
        return message
    except msgspec.ValidationError as exc:
        return naming_the_bid(validation_error(exc), data)
    except msgspec.DecodeError as exc:
        return Error("invalid", None, str(exc))
    except ApiError as exc:  # a NUL in a string
        return naming_the_bid(Error(exc.info.code, exc.info.field, exc.info.message), data)
