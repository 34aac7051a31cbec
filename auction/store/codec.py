"""How the store keeps things in Redis: lot states, stored answers and bidder records, as msgpack.

Outcomes live here too: what a command came to (`Accepted` with its events, or the engine's `Rejected`), as
callers receive it and as the answers hash keeps it for a resent command.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from auction import keys
from auction.engine.lot import LotState
from auction.engine.messages import AnyEvent, Rejected
from auction.engine.standing import BidderStanding

from .errors import StoreError


class Accepted(msgspec.Struct, frozen=True):
    """A command committed: the events it caused and the lot's state after them."""

    events: tuple[AnyEvent, ...]
    state: LotState


Outcome = Accepted | Rejected


class _StoredAnswer(msgspec.Struct, frozen=True, array_like=True):
    """An Outcome as kept in the answers hash (Accepted and Rejected are untagged, so wrap them)."""

    rejected: Rejected | None = None
    events: tuple[AnyEvent, ...] = ()
    state: LotState | None = None
    lot: int = 0  # the lot the command was for (0: not said; answers stored before it was kept)


_ENCODER = msgspec.msgpack.Encoder()
_STATE_DECODER = msgspec.msgpack.Decoder(LotState)
_STANDING_DECODER = msgspec.msgpack.Decoder(BidderStanding)
_ANSWER_DECODER = msgspec.msgpack.Decoder(_StoredAnswer)


def encode_state(state: LotState) -> bytes:
    return _ENCODER.encode(state)


def decode_state(data: bytes) -> LotState:
    return _STATE_DECODER.decode(data)


def encode_standing(standing: BidderStanding) -> bytes:
    return _ENCODER.encode(standing)


def decode_standing(data: bytes) -> BidderStanding:
    return _STANDING_DECODER.decode(data)


def encode_answer(outcome: Outcome, lot: int = 0) -> bytes:
    """`lot` is the lot the command was for, kept so that a dedupe key (scoped to the sale) reused on another
    lot is told apart from a resend (decode_stored_answer)."""
    if isinstance(outcome, Rejected):
        return _ENCODER.encode(_StoredAnswer(rejected=outcome, lot=lot))
    return _ENCODER.encode(_StoredAnswer(events=outcome.events, state=outcome.state, lot=lot))


def decode_answer(data: bytes) -> Outcome:
    return decode_stored_answer(data)[1]


def decode_stored_answer(data: bytes) -> tuple[int, Outcome]:
    """The lot a stored answer was for (0 if it wasn't kept) and the answer."""
    stored = _ANSWER_DECODER.decode(data)
    if stored.rejected is not None:
        return stored.lot, stored.rejected
    if stored.state is None:
        raise StoreError("a stored answer holds neither a rejection nor a state")
    return stored.lot, Accepted(stored.events, stored.state)


@dataclass(frozen=True, slots=True)
class BidderRecord:
    """A buyer's record in one sale as last read: the key's version, their standing, exposure per lot."""

    version: int = 0
    standing: BidderStanding | None = None
    exposure: dict[int, int] = field(default_factory=dict)


_VERSION = keys.VERSION_FIELD.encode()
_STANDING = keys.STANDING_FIELD.encode()
_EXPOSURE = keys.EXPOSURE_PREFIX.encode()


def decode_bidder(fields: dict[bytes, bytes]) -> BidderRecord:
    """A bidder hash as HGETALL returns it."""
    version, standing, exposure = 0, None, {}
    for name, value in fields.items():
        if name == _VERSION:
            version = int(value)
        elif name == _STANDING:
            standing = decode_standing(value)
        elif name.startswith(_EXPOSURE):
            exposure[int(name[len(_EXPOSURE) :])] = int(value)
    return BidderRecord(version, standing, exposure)


@dataclass(frozen=True, slots=True)
class RostrumRecord:
    """A live sale's rostrum as last read: the key's version, the lot on the block, the lot on it last."""

    version: int = 0
    on_block: int | None = None
    last_opened: int | None = None


def decode_rostrum(fields: dict[bytes, bytes]) -> RostrumRecord:
    """A rostrum hash as HGETALL returns it (empty: nothing has been on the block yet)."""

    def lot(name: bytes) -> int | None:
        value = fields.get(name, b"")
        return int(value) if value else None

    return RostrumRecord(int(fields.get(_VERSION, b"0")), lot(b"block"), lot(b"last"))
