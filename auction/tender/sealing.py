"""Sealing a tender bid to a public key, so that only the private key's holder can open it.

ECIES with X25519: an ephemeral key pair per seal, its shared secret with the recipient's public key run
through HKDF-SHA256 into a ChaCha20-Poly1305 key; the associated data binds the ciphertext to where it belongs
(sale, lot, bidder, client id), so a sealed bid can't be moved to another lot or buyer unnoticed. The sealed
form is base64 text: ephemeral public key (32 bytes), nonce (12), ciphertext with its tag.

The same seal serves the tender's key (the officers' shares rebuild its private key after the close) and a
buyer's own key (a copy only the buyer's browser can open, so the buyer sees their bids before the close and
the house can't).
"""

from __future__ import annotations

import base64
import binascii
import os

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"diamond-auction tender bid v1"
KEY_BYTES = 32
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed bid that won't open: another key, another place, or tampered with."""


class BidContent(msgspec.Struct, frozen=True, array_like=True):
    """What a sealed bid holds: the total in minor units, the per-carat figure as typed (None: given in total),
    and the salt of its commitment."""

    amount: int
    per_carat: int | None
    salt: str


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(BidContent)


def new_key_pair() -> tuple[bytes, bytes]:
    """(private, public) raw 32-byte X25519 keys."""
    private = X25519PrivateKey.generate()
    return _raw_private(private), _raw_public(private.public_key())


def public_of(private: bytes) -> bytes:
    return _raw_public(X25519PrivateKey.from_private_bytes(private).public_key())


def seal(content: BidContent, public: bytes, where: str) -> str:
    """`content` sealed to `public`; `where` ("sale|lot|bidder|client id") is bound to it."""
    ephemeral = X25519PrivateKey.generate()
    key = _derive(ephemeral.exchange(_public_key(public)), _raw_public(ephemeral.public_key()), public)
    nonce = os.urandom(NONCE_BYTES)
    sealed = ChaCha20Poly1305(key).encrypt(nonce, _ENCODER.encode(content), where.encode())
    return base64.b64encode(_raw_public(ephemeral.public_key()) + nonce + sealed).decode()


def open_sealed(sealed: str, private: bytes, where: str) -> BidContent:
    """The content of a sealed bid. Raises SealError."""
    try:
        data = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise SealError("a sealed bid is base64 text") from None
    if len(data) < KEY_BYTES + NONCE_BYTES + 16:
        raise SealError("too short to be a sealed bid")
    ephemeral, nonce, body = (
        data[:KEY_BYTES],
        data[KEY_BYTES : KEY_BYTES + NONCE_BYTES],
        data[KEY_BYTES + NONCE_BYTES :],
    )
    recipient = X25519PrivateKey.from_private_bytes(private)
    key = _derive(recipient.exchange(_public_key(ephemeral)), ephemeral, _raw_public(recipient.public_key()))
    try:
        return _DECODER.decode(ChaCha20Poly1305(key).decrypt(nonce, body, where.encode()))
    except (InvalidTag, msgspec.DecodeError):
        raise SealError("this sealed bid does not open with this key, here") from None


def where_of(sale: int, lot: int, bidder: int, client_id: str) -> str:
    return f"{sale}|{lot}|{bidder}|{client_id}"


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=ephemeral + recipient, info=INFO)
    return hkdf.derive(shared)


def _public_key(raw: bytes) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise SealError("not an X25519 public key") from None


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


__all__ = ["BidContent", "SealError", "new_key_pair", "open_sealed", "public_of", "seal", "where_of"]
