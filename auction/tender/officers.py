"""An officer's own key: an X25519 key pair whose private half only the officer holds (a file written by
`auction tender keygen`, or their browser), whose public half the house keeps. A tender's shares are sealed to
these keys, so the house's database holds nothing that opens a bid without k officers.

An officer is any operator account (the house's staff); which ones hold a tender's shares is the tender's
settings (catalog.TenderSettings.officers).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import asyncpg

from auction.identity import OPERATOR_ROLES
from auction.tender.errors import TenderRefused
from auction.tender.sealing import KEY_BYTES, SealError, new_key_pair, public_key_of, public_of

KEY_FILE_PREFIX = "x25519-private:"  # an officer's key file: this, then the private key in base64


def fingerprint(public: bytes) -> str:
    """A public key as people compare it: the first 16 hex digits of its SHA-256, in groups of four."""
    digest = hashlib.sha256(public).hexdigest()[:16]
    return " ".join(digest[i : i + 4] for i in range(0, 16, 4))


def new_key_file() -> tuple[str, bytes]:
    """(the text of a new officer key file, its public key)."""
    private, public = new_key_pair()
    return KEY_FILE_PREFIX + base64.b64encode(private).decode() + "\n", public


def private_from_key_file(text: str) -> bytes | None:
    """The private key of an officer key file's text; None if the text is not one."""
    text = text.strip()
    if not text.startswith(KEY_FILE_PREFIX):
        return None
    try:
        private = base64.b64decode(text.removeprefix(KEY_FILE_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return None
    return private if len(private) == KEY_BYTES else None


async def register_key(pg: asyncpg.Pool | asyncpg.Connection, account_id: int, public_key: str) -> bytes:
    """Keep an operator's officer key (base64 X25519 public key); a new one replaces the old for tenders made
    from then on. Returns the raw key. Raises TenderRefused."""
    try:
        raw = public_key_of(public_key)
    except SealError as exc:
        raise TenderRefused("invalid", "public_key", str(exc)) from None
    role = await pg.fetchval("SELECT role FROM accounts WHERE id = $1 AND NOT disabled", account_id)
    if role not in OPERATOR_ROLES:
        raise TenderRefused("not_allowed", "account", "only the house's operators hold tender keys")
    await pg.execute(
        "INSERT INTO tender_officer_keys (account_id, public_key) VALUES ($1, $2) "
        "ON CONFLICT (account_id) DO UPDATE SET public_key = $2, registered_at = now()",
        account_id,
        raw,
    )
    return raw


__all__ = ["KEY_FILE_PREFIX", "fingerprint", "new_key_file", "private_from_key_file", "public_of", "register_key"]
