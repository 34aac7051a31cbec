"""Sealing a tender bid to a public key, so that only the private key's holder can open it.

ECIES with X25519: an ephemeral key pair per seal, its shared secret with the recipient's public key run
through HKDF-SHA256 into a ChaCha20-Poly1305 key; the associated data binds the ciphertext to where it belongs
(sale, lot, bidder, client id), so a sealed bid can't be moved to another lot or buyer unnoticed. The sealed
form is base64 text: ephemeral public key (32 bytes), nonce (12), ciphertext with its tag.

The plaintext is padded to a fixed size before it is sealed (PADDED_BYTES), so a sealed bid's length says
nothing of its amount (msgpack writes a small integer in fewer bytes than a large one).

A second seal, `seal_for_browser`, is for what a browser must open with WebCrypto, which has X25519 but not
ChaCha20 (Chromium): X25519 with an ephemeral key, HKDF-SHA256 (salt: the ephemeral public key then the
recipient's; info BROWSER_INFO) into an AES-256-GCM key, the place as associated data; the text padded with
spaces to a multiple of BROWSER_BLOCK bytes (JSON.parse ignores them). It carries a buyer's copy of their own
bid (sealed to a key only their client holds, so they read their bids before the close and the house can't)
and an officer's share of the tender's key (sealed to that officer's key). Its sealed form is the same layout:
base64 of ephemeral public key (32 bytes), IV (12), ciphertext with its tag.
"""

from __future__ import annotations

import base64
import binascii
import os

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"diamond-auction tender bid v1"
BROWSER_INFO = b"diamond-auction browser seal v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
PADDED_BYTES = 128  # a sealed bid's plaintext, padded: a 2-byte length, the encoded content, zeros
BROWSER_BLOCK = 256  # a browser seal's text is padded with spaces to a multiple of this


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
    key = _derive(ephemeral.exchange(_public_key(public)), _raw_public(ephemeral.public_key()), public, INFO)
    nonce = os.urandom(NONCE_BYTES)
    sealed = ChaCha20Poly1305(key).encrypt(nonce, _padded(_ENCODER.encode(content)), where.encode())
    return base64.b64encode(_raw_public(ephemeral.public_key()) + nonce + sealed).decode()


def open_sealed(sealed: str, private: bytes, where: str) -> BidContent:
    """The content of a sealed bid. Raises SealError."""
    ephemeral, nonce, body = _parts(sealed)
    recipient = X25519PrivateKey.from_private_bytes(private)
    key = _derive(recipient.exchange(_public_key(ephemeral)), ephemeral, _raw_public(recipient.public_key()), INFO)
    try:
        return _DECODER.decode(_unpadded(ChaCha20Poly1305(key).decrypt(nonce, body, where.encode())))
    except (InvalidTag, msgspec.DecodeError):
        raise SealError("this sealed bid does not open with this key, here") from None


def seal_for_browser(text: str, public: bytes, where: str) -> str:
    """`text` sealed to `public` so that a browser holding the private key opens it with WebCrypto; `where` is
    bound to it (the associated data)."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = _raw_public(ephemeral.public_key())
    key = _derive(ephemeral.exchange(_public_key(public)), ephemeral_public, public, BROWSER_INFO)
    iv = os.urandom(NONCE_BYTES)
    data = text.encode()
    data += b" " * (-len(data) % BROWSER_BLOCK)
    return base64.b64encode(ephemeral_public + iv + AESGCM(key).encrypt(iv, data, where.encode())).decode()


def open_browser_seal(sealed: str, private: bytes, where: str) -> str:
    """What `seal_for_browser` sealed (without its padding), opened here as a browser would. Raises SealError."""
    ephemeral, iv, body = _parts(sealed)
    recipient = X25519PrivateKey.from_private_bytes(private)
    key = _derive(
        recipient.exchange(_public_key(ephemeral)), ephemeral, _raw_public(recipient.public_key()), BROWSER_INFO
    )
    try:
        return AESGCM(key).decrypt(iv, body, where.encode()).decode().rstrip(" ")
    except (InvalidTag, UnicodeDecodeError):
        raise SealError("this seal does not open with this key, here") from None


def public_key_of(text: str) -> bytes:
    """A raw X25519 public key from its base64 text (as clients send one). Raises SealError."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SealError("a public key is base64 text") from None
    if len(raw) != KEY_BYTES:
        raise SealError(f"an X25519 public key is {KEY_BYTES} bytes")
    _public_key(raw)
    return raw


def _parts(sealed: str) -> tuple[bytes, bytes, bytes]:
    """(ephemeral public key, nonce, ciphertext with its tag) of either seal's base64 form. Raises SealError."""
    try:
        data = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise SealError("a seal is base64 text") from None
    if len(data) < KEY_BYTES + NONCE_BYTES + TAG_BYTES:
        raise SealError("too short to be a seal")
    return data[:KEY_BYTES], data[KEY_BYTES : KEY_BYTES + NONCE_BYTES], data[KEY_BYTES + NONCE_BYTES :]


def _padded(data: bytes) -> bytes:
    if len(data) > PADDED_BYTES - 2:
        raise SealError(f"a bid's content is at most {PADDED_BYTES - 2} bytes encoded")
    return len(data).to_bytes(2, "big") + data + bytes(PADDED_BYTES - 2 - len(data))


def _unpadded(data: bytes) -> bytes:
    length = int.from_bytes(data[:2], "big")
    if len(data) != PADDED_BYTES or length > PADDED_BYTES - 2:
        raise SealError("not a padded bid")
    return data[2 : 2 + length]


def where_of(sale: int, lot: int, bidder: int, client_id: str) -> str:
    return f"{sale}|{lot}|{bidder}|{client_id}"


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes, info: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=ephemeral + recipient, info=info)
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


__all__ = [
    "BidContent",
    "SealError",
    "new_key_pair",
    "open_browser_seal",
    "open_sealed",
    "public_key_of",
    "public_of",
    "seal",
    "seal_for_browser",
    "where_of",
]
