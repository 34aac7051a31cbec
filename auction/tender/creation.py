"""A tender sale created with its key (DOMAIN.md "Sealed-bid tenders"; docs/RULES.md "Tenders").

At creation a fresh X25519 key pair is made in this process's memory. Its private key is split k of n with
Shamir's scheme among the sale's officers (catalog.TenderSettings: n operator accounts, threshold k), each share
sealed at once to its officer's own key (officers.py; the seal a browser opens), and the private key is dropped:
it is never written anywhere, not to Redis, PostgreSQL, a log or a file. What is kept, in the same transaction as
the sale and its lots: the public key (bids are sealed to it), each sealed share with the officer it belongs to,
and a hash of each share to recognise it when it is given back. Then the lots are loaded into the engine.

Every officer must be an active operator with an officer key registered, or nothing is created: a share sealed
to no one's key would be a share nobody holds.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import msgspec

from auction import catalog
from auction.catalog import NewSale
from auction.identity import OPERATOR_ROLES, Account
from auction.store import LotStore
from auction.tender import records
from auction.tender.errors import TenderRefused
from auction.tender.officers import fingerprint
from auction.tender.records import SealedShare
from auction.tender.sealing import new_key_pair, seal_for_browser
from auction.tender.shamir import split
from auction.vetting.audit_log import audit


class OfficerShare(msgspec.Struct, frozen=True):
    """Which share an officer holds, and the fingerprint of the key it was sealed to (for them to check)."""

    account: int
    x: int
    key_fingerprint: str


class TenderCreated(msgspec.Struct, frozen=True):
    """A tender made: the public key bids are sealed to (base64), and who holds which share."""

    sale: int
    public_key: str
    key_fingerprint: str
    threshold: int
    officers: list[OfficerShare]


@dataclass(frozen=True, slots=True)
class _Keyed:
    public: bytes
    shares: list[SealedShare]


async def create_tender(pg: asyncpg.Pool, store: LotStore, sale: NewSale, by: Account | None) -> TenderCreated:
    """Create the tender sale, its key and its officers' sealed shares, and load its lots. Raises TenderRefused,
    having written nothing."""
    try:
        async with pg.acquire() as conn, conn.transaction():
            created = await create_tender_in(conn, sale, by)
    except asyncpg.UniqueViolationError:
        raise TenderRefused("conflict", "id", f"sale {sale.id} exists already") from None
    await store.create_lots(catalog.terms_for(sale))
    return created


async def create_tender_in(conn: asyncpg.Connection, sale: NewSale, by: Account | None) -> TenderCreated:
    """`create_tender` in the caller's transaction (the house's sale builder marks its draft published with it),
    without loading the lots, which the caller does once the transaction is committed."""
    _check(sale)
    officers = sale.settings.tender.officers
    keys = await _officer_keys(conn, officers)
    keyed = _make_key(sale.id, sale.settings.tender.threshold, officers, keys)
    await catalog.insert_sale_in(conn, sale, tender_keyed=True)
    await records.insert_tender(conn, sale.id, keyed.public, sale.settings.tender.threshold, keyed.shares)
    details = {"threshold": sale.settings.tender.threshold, "officers": list(officers),
               "key": fingerprint(keyed.public)}  # fmt: skip
    await audit(conn, by, "tender_created", f"sale:{sale.id}", details=details)
    return TenderCreated(
        sale.id, _b64(keyed.public), fingerprint(keyed.public), sale.settings.tender.threshold,
        [OfficerShare(s.officer, s.x, fingerprint(s.officer_key)) for s in keyed.shares],
    )  # fmt: skip


def _check(sale: NewSale) -> None:
    if sale.format != "tender":
        raise TenderRefused("invalid", "format", "a tender's format is 'tender'")
    problems = catalog.sale_problems(sale)
    if problems:
        field, _, message = problems[0].partition(": ")
        raise TenderRefused("invalid", field, message)


async def _officer_keys(conn: asyncpg.Connection, officers: Sequence[int]) -> dict[int, bytes]:
    """Each officer's registered key, once every one is an active operator with one."""
    rows = await conn.fetch("SELECT id, role FROM accounts WHERE id = ANY($1::bigint[]) AND NOT disabled",
                            list(officers))  # fmt: skip
    roles = {row["id"]: row["role"] for row in rows}
    keys = await records.officer_keys(conn, officers)
    for index, officer in enumerate(officers):
        field = f"settings.tender.officers[{index}]"
        if roles.get(officer) not in OPERATOR_ROLES:
            raise TenderRefused("invalid", field, f"account {officer} is not an active operator of the house")
        if officer not in keys:
            raise TenderRefused("invalid", field, f"account {officer} has no officer key: PUT /api/tender/officer-key "
                                "or `auction tender keygen`")  # fmt: skip
    return keys


def _make_key(sale: int, threshold: int, officers: Sequence[int], keys: dict[int, bytes]) -> _Keyed:
    """The tender's key made and shared out; its private half exists only in this call's locals, and only while
    it is being split and the shares sealed."""
    private, public = new_key_pair()
    shares = split(private, threshold, len(officers))
    del private  # no reference kept (Python can't wipe memory: see docs/RULES.md "Tenders")
    sealed = [
        SealedShare(share.x, officer, keys[officer],
                    seal_for_browser(share.encode(), keys[officer], records.share_place(sale, share.x, officer)),
                    records.share_check(share))
        for share, officer in zip(shares, officers, strict=True)
    ]  # fmt: skip
    return _Keyed(public, sealed)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


__all__ = ["OfficerShare", "TenderCreated", "create_tender", "create_tender_in"]
