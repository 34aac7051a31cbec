"""Photos of consigned stones, kept in PostgreSQL like vetting's documents (bytes, size, SHA-256), and served to
bidders with the catalogue once the stone is a lot of a published sale.

An upload is a batch, taken whole or not at all, and bounded: at most MAX_PHOTOS_PER_UPLOAD files of at most
MAX_PHOTO_BYTES each, and at most MAX_PHOTOS_PER_STONE kept per stone. A file is an image only if its first bytes
say so (JPEG, PNG or WebP, by their signatures): the media type the uploader claims is never trusted, and it is
the signature's type that the photo is served with. The same photo twice is kept once.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import asyncpg
import msgspec

from auction.house_errors import HouseConflict, HouseMissing, Problem, refuse_if
from auction.identity import Account
from auction.vetting import audit

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS_PER_UPLOAD = 20
MAX_PHOTOS_PER_STONE = 40
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # a batch, whatever its count: what one request may make a gateway hold

ImageType = Literal["image/jpeg", "image/png", "image/webp"]


class PhotoFile(msgspec.Struct, frozen=True):
    """A file as uploaded: its name (for people) and its bytes."""

    filename: str
    content: bytes


class PhotoInfo(msgspec.Struct, frozen=True):
    id: int
    filename: str
    media_type: str
    size: int
    sha256: str  # hex


def image_type(content: bytes) -> ImageType | None:
    """The image type the file's signature (its magic bytes) says, or None if it is no image we keep."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def upload_problems(files: list[PhotoFile]) -> list[Problem]:
    """Everything wrong with a batch: each file by its place in the batch (`files[2]`) and its name."""
    problems = []
    if not files:
        problems.append(Problem("files", "send at least one photo"))
    if len(files) > MAX_PHOTOS_PER_UPLOAD:
        problems.append(Problem("files", f"at most {MAX_PHOTOS_PER_UPLOAD} photos in one upload"))
    for index, photo in enumerate(files):
        where = f"files[{index}]"
        if not photo.content:
            problems.append(Problem(where, f"{photo.filename!r} is empty"))
        elif len(photo.content) > MAX_PHOTO_BYTES:
            problems.append(Problem(where, f"{photo.filename!r} is over {MAX_PHOTO_BYTES} bytes"))
        elif image_type(photo.content) is None:
            problems.append(Problem(where, f"{photo.filename!r} is not a JPEG, PNG or WebP image"))
    return problems


async def add_photos(pg: asyncpg.Pool, stone_id: int, files: list[PhotoFile], by: Account) -> list[PhotoInfo]:
    """Keep a batch of photos of a stone, all or none; the stone's photos after it."""
    refuse_if(upload_problems(files))
    async with pg.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM consigned_stones WHERE id = $1 FOR UPDATE", stone_id):
            raise HouseMissing("stone", f"no stone {stone_id}")
        added = [photo_id for photo in files if (photo_id := await _insert(conn, stone_id, photo, by)) is not None]
        kept = await conn.fetchval("SELECT count(*) FROM stone_photos WHERE stone_id = $1", stone_id)
        if kept > MAX_PHOTOS_PER_STONE:
            raise HouseConflict(
                "files", f"a stone may have at most {MAX_PHOTOS_PER_STONE} photos; it would have {kept}"
            )
        await audit(conn, by, "photos_added", f"stone:{stone_id}", "", {"photos": added})
        return await photos_of(conn, stone_id)


async def _insert(conn: asyncpg.Connection, stone_id: int, photo: PhotoFile, by: Account) -> int | None:
    media_type = image_type(photo.content)
    assert media_type is not None  # upload_problems saw to it
    photo_id: int | None = await conn.fetchval(
        "INSERT INTO stone_photos (stone_id, filename, media_type, size, sha256, content, uploaded_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (stone_id, sha256) DO NOTHING RETURNING id",
        stone_id, _safe_name(photo.filename), media_type, len(photo.content),
        hashlib.sha256(photo.content).digest(), photo.content, by.id,
    )  # fmt: skip
    return photo_id


def _safe_name(filename: str) -> str:
    """A name to show people: letters, digits, dots, dashes and underscores only, at most 255."""
    return "".join(c for c in filename if c.isalnum() or c in "._-")[:255] or "photo"


async def photos_of(db: asyncpg.Connection | asyncpg.Pool, stone_id: int) -> list[PhotoInfo]:
    rows = await db.fetch(
        "SELECT id, filename, media_type, size, sha256 FROM stone_photos WHERE stone_id = $1 ORDER BY id", stone_id
    )
    return [PhotoInfo(r["id"], r["filename"], r["media_type"], r["size"], bytes(r["sha256"]).hex()) for r in rows]


async def stone_photo(pg: asyncpg.Pool, stone_id: int, photo_id: int) -> tuple[str, bytes] | None:
    """(media type, bytes) of a photo of the stone: for the house."""
    row = await pg.fetchrow(
        "SELECT media_type, content FROM stone_photos WHERE id = $1 AND stone_id = $2", photo_id, stone_id
    )
    return (row["media_type"], bytes(row["content"])) if row else None


async def lot_photo(pg: asyncpg.Pool, sale_id: int, lot_no: int, photo_id: int) -> tuple[str, bytes] | None:
    """(media type, bytes) of a photo of a published lot's stone: for anyone, as the catalogue is."""
    row = await pg.fetchrow(
        "SELECT p.media_type, p.content FROM lots l JOIN stone_photos p ON p.stone_id = l.stone_id "
        "WHERE l.sale_id = $1 AND l.lot_no = $2 AND p.id = $3",
        sale_id,
        lot_no,
        photo_id,
    )
    return (row["media_type"], bytes(row["content"])) if row else None
