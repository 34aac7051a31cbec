"""What PostgreSQL keeps of a tender (ops/migrations/0014_tenders.sql): its public key and threshold, each share
of its private key sealed to its officer, and buyers' copies of their bids sealed to their own keys. Nothing
here opens anything: every secret in these rows is sealed to a key the house doesn't hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from auction.tender.shamir import Share


@dataclass(frozen=True, slots=True)
class TenderKey:
    """A tender's public key (what bids are sealed to), how many shares rebuild its private key, and whether and
    when (ms) its officers revealed it."""

    sale: int
    public_key: bytes
    threshold: int
    officers: int
    revealed_at_ms: int | None


@dataclass(frozen=True, slots=True)
class SealedShare:
    """Share x of a tender's private key, sealed to officer `officer`'s key `officer_key`."""

    x: int
    officer: int
    officer_key: bytes
    sealed: str
    check: str


@dataclass(frozen=True, slots=True)
class BidCopy:
    """A buyer's copy of one of their bids, sealed to `buyer_key` (theirs)."""

    sale: int
    lot: int
    company: int
    client_id: str
    commitment: str
    buyer_key: bytes
    sealed: str
    submitted_ms: int


def share_check(share: Share) -> str:
    """What the house keeps to recognise a share given back: its text's SHA-256. A share is a random point of a
    polynomial over a 521-bit field: its hash can't be turned back into it, and k hashes rebuild nothing."""
    return hashlib.sha256(share.encode().encode()).hexdigest()


def share_place(sale: int, x: int, officer: int) -> str:
    """Where a sealed share belongs (bound to the seal): it opens for its officer as this share of this sale."""
    return f"tender-share|{sale}|{x}|{officer}"


def copy_place(sale: int, lot: int, company: int, client_id: str) -> str:
    return f"tender-copy|{sale}|{lot}|{company}|{client_id}"


async def tender_key(pg: asyncpg.Pool | asyncpg.Connection, sale: int) -> TenderKey | None:
    row = await pg.fetchrow(
        "SELECT public_key, threshold, (SELECT count(*) FROM tender_shares s WHERE s.sale_id = t.sale_id) AS n, "
        "(extract(epoch FROM revealed_at) * 1000)::bigint AS revealed_ms FROM tenders t WHERE sale_id = $1",
        sale,
    )
    if row is None:
        return None
    return TenderKey(sale, bytes(row["public_key"]), row["threshold"], row["n"], row["revealed_ms"])


async def insert_tender(
    conn: asyncpg.Connection, sale: int, public_key: bytes, threshold: int, shares: Sequence[SealedShare]
) -> None:
    await conn.execute("INSERT INTO tenders (sale_id, public_key, threshold) VALUES ($1, $2, $3)",
                       sale, public_key, threshold)  # fmt: skip
    await conn.executemany(
        "INSERT INTO tender_shares (sale_id, x, officer_id, officer_key, sealed_share, share_check) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [(sale, s.x, s.officer, s.officer_key, s.sealed, s.check) for s in shares],
    )


async def shares_of(pg: asyncpg.Pool | asyncpg.Connection, sale: int) -> list[SealedShare]:
    rows = await pg.fetch(
        "SELECT x, officer_id, officer_key, sealed_share, share_check FROM tender_shares WHERE sale_id = $1 ORDER BY x",
        sale,
    )
    return [SealedShare(r["x"], r["officer_id"], bytes(r["officer_key"]), r["sealed_share"], r["share_check"])
            for r in rows]  # fmt: skip


async def officer_keys(pg: asyncpg.Pool | asyncpg.Connection, accounts: Sequence[int]) -> dict[int, bytes]:
    rows = await pg.fetch(
        "SELECT account_id, public_key FROM tender_officer_keys WHERE account_id = ANY($1::bigint[])", list(accounts)
    )
    return {row["account_id"]: bytes(row["public_key"]) for row in rows}


async def mark_revealed(pg: asyncpg.Pool | asyncpg.Connection, sale: int, officers: Sequence[int]) -> None:
    await pg.execute(
        "UPDATE tenders SET revealed_at = coalesce(revealed_at, now()), revealed_by = coalesce(revealed_by, $2) "
        "WHERE sale_id = $1",
        sale,
        list(officers),
    )


async def keep_copy(pg: asyncpg.Pool, copy: BidCopy) -> None:
    """Keep a buyer's copy of a bid; a second copy of the same bid (its client id) is ignored."""
    await pg.execute(
        "INSERT INTO tender_bid_copies (sale_id, lot_no, company_id, client_id, commitment, buyer_key, sealed, "
        "submitted_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        copy.sale, copy.lot, copy.company, copy.client_id, copy.commitment, copy.buyer_key, copy.sealed,
        copy.submitted_ms,
    )  # fmt: skip


async def copies_of(pg: asyncpg.Pool, sale: int, company: int) -> list[BidCopy]:
    rows = await pg.fetch(
        "SELECT lot_no, client_id, commitment, buyer_key, sealed, submitted_ms FROM tender_bid_copies "
        "WHERE sale_id = $1 AND company_id = $2 ORDER BY submitted_ms, client_id",
        sale,
        company,
    )
    return [BidCopy(sale, r["lot_no"], company, r["client_id"], r["commitment"], bytes(r["buyer_key"]), r["sealed"],
                    r["submitted_ms"]) for r in rows]  # fmt: skip


__all__ = [
    "BidCopy",
    "SealedShare",
    "TenderKey",
    "copies_of",
    "copy_place",
    "insert_tender",
    "keep_copy",
    "mark_revealed",
    "officer_keys",
    "share_check",
    "share_place",
    "shares_of",
    "tender_key",
]
