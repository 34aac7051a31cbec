"""Taking a stone out of its setting, in the house's custody: the consignor's consent, photos before and after.

    request_removal -> record_consent -> add_photo("before") -> start_removal -> add_photo("after")
                    -> complete_removal

The rules (which step may follow which, which photo belongs when) are settlement/shipping_rules.py. Photos are
kept like vetting documents (auction/vetting/documents.py `add_document`): media type, size, SHA-256, and either
the bytes or a path to them on the house's storage. A removal carries the stone's insured value while in
custody: damage during the work is an insurance claim against custody (settlement/claims.py). Every function
is one transaction, and repeating a step already taken returns the removal as it is.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import get_args

import asyncpg
import msgspec

from settlement import billing
from settlement.errors import Missing, ShippingRefused
from settlement.shipping_rules import (
    PhotoStage,
    RemovalStatus,
    RemovalStep,
    photo_problem,
    removal_after,
    removal_step_problem,
)

MAX_FILE_BYTES = 5 * 1024 * 1024  # as vetting documents


class StoredFile(msgspec.Struct, frozen=True):
    """A photo or document as kept: the bytes (or the path they are at), their size and SHA-256."""

    media_type: str
    size: int
    sha256: bytes
    content: bytes | None
    path: str | None


async def stored_file(media_type: str, content: bytes | None, path: str | None, image_only: bool) -> StoredFile:
    """Check and hash a file given as bytes or as a path on the house's storage (read to hash it)."""
    if (content is None) == (path is None):
        raise ShippingRefused("content", "give the file's bytes or its path, one of the two", "invalid")
    if image_only and not media_type.startswith("image/"):
        raise ShippingRefused("media_type", f"a photo must be an image/* media type, not {media_type!r}", "invalid")
    if not media_type or len(media_type) > 255:
        raise ShippingRefused("media_type", "a media type such as image/jpeg or application/pdf is required", "invalid")
    data = content
    if path is not None:
        try:
            data = await asyncio.to_thread(Path(path).read_bytes)
        except OSError as exc:
            raise ShippingRefused("path", f"can't read {path}: {exc.strerror}", "invalid") from exc
    assert data is not None
    if not data:
        raise ShippingRefused("content", "the file is empty", "invalid")
    if len(data) > MAX_FILE_BYTES:
        raise ShippingRefused("content", f"a file may be at most {MAX_FILE_BYTES} bytes", "invalid")
    return StoredFile(media_type, len(data), hashlib.sha256(data).digest(), content, path)


class PhotoView(msgspec.Struct, frozen=True):
    id: int
    stage: PhotoStage
    media_type: str
    size: int
    sha256: str
    path: str | None
    at_ms: int


class RemovalView(msgspec.Struct, frozen=True):
    id: int
    sale: int
    lot: int
    consignor: int
    declared_value: int  # insured while in custody
    currency: str
    reason: str
    status: RemovalStatus
    requested_ms: int
    consented_by: str | None
    consent_ms: int | None
    started_ms: int | None
    completed_ms: int | None
    photos: list[PhotoView]


async def removal(pg: asyncpg.Pool | asyncpg.Connection, removal_id: int) -> RemovalView:
    r = await pg.fetchrow("SELECT * FROM setting_removals WHERE id = $1", removal_id)
    if r is None:
        raise Missing("removal", f"no setting removal {removal_id}")
    photos = [
        PhotoView(p["id"], p["stage"], p["media_type"], p["size"], bytes(p["sha256"]).hex(), p["path"], p["at_ms"])
        for p in await pg.fetch("SELECT * FROM removal_photos WHERE removal_id = $1 ORDER BY id", removal_id)
    ]
    return RemovalView(r["id"], r["sale_id"], r["lot_no"], r["consignor_id"], r["declared_value"],
                       r["currency"].strip(), r["reason"], r["status"], r["requested_ms"], r["consented_by"],
                       r["consent_ms"], r["started_ms"], r["completed_ms"], photos)  # fmt: skip


async def request_removal(
    pg: asyncpg.Pool, *, sale_id: int, lot_no: int, declared_value: int, reason: str, at_ms: int, idem_key: str
) -> RemovalView:
    """Ask to take a lot's stone out of its setting (to grade it, or to sell it loose); its consignor is the
    lot's, its currency the sale's. The same `idem_key` twice returns the first request."""
    if type(declared_value) is not int or declared_value <= 0:
        raise ShippingRefused(
            "declared_value", "the insured value must be a positive whole number of minor units", "invalid"
        )
    if not reason.strip():
        raise ShippingRefused("reason", "say why the stone comes out of its setting", "invalid")
    if not idem_key:
        raise ShippingRefused("idem_key", "an idempotency key is required", "invalid")
    async with pg.acquire() as conn, conn.transaction():
        consignor: int | None = await conn.fetchval(
            "SELECT consignor_id FROM lots WHERE sale_id = $1 AND lot_no = $2", sale_id, lot_no
        )
        if consignor is None:
            raise Missing("lot", f"sale {sale_id} has no lot {lot_no}")
        facts = await billing.sale_facts(conn, sale_id)
        removal_id = await conn.fetchval(
            "INSERT INTO setting_removals (idem_key, sale_id, lot_no, consignor_id, declared_value, currency, reason, "
            "requested_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idem_key) DO NOTHING RETURNING id",
            idem_key, sale_id, lot_no, consignor, declared_value, facts.currency, reason, at_ms,
        )  # fmt: skip
        if removal_id is None:
            removal_id = await conn.fetchval("SELECT id FROM setting_removals WHERE idem_key = $1", idem_key)
        return await removal(conn, removal_id)


async def _locked(conn: asyncpg.Connection, removal_id: int) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM setting_removals WHERE id = $1 FOR UPDATE", removal_id)
    if row is None:
        raise Missing("removal", f"no setting removal {removal_id}")
    return row


async def _stages(conn: asyncpg.Connection, removal_id: int) -> set[str]:
    rows = await conn.fetch("SELECT DISTINCT stage FROM removal_photos WHERE removal_id = $1", removal_id)
    return {r["stage"] for r in rows}


async def _step(pg: asyncpg.Pool, removal_id: int, step: RemovalStep, at_ms: int, by: str | None = None
                ) -> RemovalView:  # fmt: skip
    async with pg.acquire() as conn, conn.transaction():
        row = await _locked(conn, removal_id)
        if _already(row, step):
            return await removal(conn, removal_id)
        problem = removal_step_problem(row["status"], step, await _stages(conn, removal_id))
        if problem is not None:
            raise ShippingRefused.of(problem)
        column = {"consent": "consent_ms", "start": "started_ms", "complete": "completed_ms"}[step]
        await conn.execute(
            f"UPDATE setting_removals SET status = $2, {column} = $3, consented_by = coalesce($4, consented_by) "
            "WHERE id = $1",
            removal_id,
            removal_after(row["status"], step),
            at_ms,
            by,
        )
        return await removal(conn, removal_id)


def _already(row: asyncpg.Record, step: RemovalStep) -> bool:
    """The step was taken before (a retry): consent once given, the work once started or completed."""
    done = {"consent": row["consent_ms"], "start": row["started_ms"], "complete": row["completed_ms"]}[step]
    return done is not None


async def record_consent(pg: asyncpg.Pool, removal_id: int, consented_by: str, at_ms: int) -> RemovalView:
    """The consignor's consent: who gave it (the consignor or their representative, by name) and when."""
    if not consented_by.strip():
        raise ShippingRefused("consented_by", "name who gave the consignor's consent", "invalid")
    return await _step(pg, removal_id, "consent", at_ms, consented_by.strip())


async def start_removal(pg: asyncpg.Pool, removal_id: int, at_ms: int) -> RemovalView:
    """The stone is taken in hand: refused without the consent and the photo before. Custody's risk starts."""
    return await _step(pg, removal_id, "start", at_ms)


async def complete_removal(pg: asyncpg.Pool, removal_id: int, at_ms: int) -> RemovalView:
    """The stone is out of its setting: refused without both photos."""
    return await _step(pg, removal_id, "complete", at_ms)


async def add_photo(
    pg: asyncpg.Pool,
    removal_id: int,
    stage: PhotoStage,
    media_type: str,
    at_ms: int,
    *,
    content: bytes | None = None,
    path: str | None = None,
) -> RemovalView:
    """Keep a photo of the stone before or after the work. The same photo twice is kept once."""
    if stage not in get_args(PhotoStage):
        raise ShippingRefused("stage", "stage must be before or after", "invalid")
    stored = await stored_file(media_type, content, path, image_only=True)
    async with pg.acquire() as conn, conn.transaction():
        row = await _locked(conn, removal_id)
        if await conn.fetchval(
            "SELECT 1 FROM removal_photos WHERE removal_id = $1 AND stage = $2 AND sha256 = $3",
            removal_id,
            stage,
            stored.sha256,
        ):
            return await removal(conn, removal_id)
        problem = photo_problem(row["status"], stage)
        if problem is not None:
            raise ShippingRefused.of(problem)
        await conn.execute(
            "INSERT INTO removal_photos (removal_id, stage, media_type, size, sha256, content, path, at_ms) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            removal_id, stage, stored.media_type, stored.size, stored.sha256, stored.content, stored.path, at_ms,
        )  # fmt: skip
        return await removal(conn, removal_id)
