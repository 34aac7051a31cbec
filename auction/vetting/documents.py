"""A company's documents: kept in PostgreSQL with their size and SHA-256, at most MAX_DOCUMENT_BYTES each.

A document uploaded while more was requested puts the application back in the queue (`pending`). A company's
representatives upload only while its application is open (pending, or more requested), and at most
MAX_COMPANY_DOCUMENTS documents of MAX_COMPANY_DOCUMENT_BYTES in all (issue 12, finding 11: an unvetted company
stored 40 documents of 5 MiB in 2 s). An operator may add one to any company's file, within the same quota.
"""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

import asyncpg
import msgspec

from auction.identity import Account
from auction.vetting.audit_log import audit
from auction.vetting.errors import VettingError, VettingRefused
from auction.vetting.times import epoch_ms

DocumentKind = Literal[
    "registration_certificate",
    "trade_licence",
    "bourse_membership",
    "bank_reference",
    "kimberley_process",
    "aml_policy",
    "identity",
    "other",
]

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_COMPANY_DOCUMENTS = 20  # a full file (DocumentKind) twice over, with room for what more is requested
MAX_COMPANY_DOCUMENT_BYTES = 25 * 1024 * 1024  # five documents of the largest size
OPEN_STATUSES = frozenset({"pending", "more_requested"})  # an application still being decided


class DocumentView(msgspec.Struct, frozen=True):
    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str  # hex
    uploaded_ms: int


def document_view(row: asyncpg.Record) -> DocumentView:
    """A company_documents row (without its content) as the API shows it."""
    return DocumentView(
        row["id"], row["kind"], row["filename"], row["content_type"], row["size"], row["sha256"].hex(),
        epoch_ms(row["uploaded_at"]) or 0,
    )  # fmt: skip


async def add_document(
    pg: asyncpg.Pool, company_id: int, kind: str, filename: str, content_type: str, content: bytes, by: Account
) -> DocumentView:
    """Keep a document with its size and SHA-256. A document sent while more was requested puts the
    application back in the queue (pending)."""
    _check(kind, content)
    sha = hashlib.sha256(content).digest()
    async with pg.acquire() as conn, conn.transaction():
        # The company's row lock queues its uploads, so that the quota is counted one upload at a time.
        status = await conn.fetchval("SELECT status FROM companies WHERE id = $1 FOR UPDATE", company_id)
        await _check_room(conn, company_id, status, by, len(content))
        row = await conn.fetchrow(
            "INSERT INTO company_documents (company_id, kind, filename, content_type, size, sha256, content, "
            "uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, uploaded_at",
            company_id, kind, filename[:255], content_type[:255], len(content), sha, content, by.id,
        )  # fmt: skip
        if status == "more_requested":
            await conn.execute("UPDATE companies SET status = 'pending' WHERE id = $1", company_id)
        if by.is_operator:
            await audit(conn, by, "document_added", f"company:{company_id}", details={"document": row["id"]})
    uploaded_ms = epoch_ms(row["uploaded_at"]) or 0
    return DocumentView(row["id"], kind, filename, content_type, len(content), sha.hex(), uploaded_ms)


def _check(kind: str, content: bytes) -> None:
    if kind not in get_args(DocumentKind):
        raise VettingError("invalid", "kind", f"kind must be one of {', '.join(get_args(DocumentKind))}")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise VettingError("too_large", "content", f"a document may be at most {MAX_DOCUMENT_BYTES} bytes")
    if not content:
        raise VettingError("invalid", "content", "the document is empty")


async def check_room(pg: asyncpg.Pool, company_id: int, by: Account, size: int) -> None:
    """Refuse at once an upload of `size` bytes (as declared) that the company's file can't take: before the
    gateway reads its body. add_document checks again, under the company's lock."""
    status = await pg.fetchval("SELECT status FROM companies WHERE id = $1", company_id)
    await _check_room(pg, company_id, status, by, size)


async def _check_room(
    db: asyncpg.Pool | asyncpg.Connection, company_id: int, status: str | None, by: Account, size: int
) -> None:
    if status is None:
        raise VettingError("not_found", "company", f"no company {company_id}")
    if status not in OPEN_STATUSES and not by.is_operator:
        raise VettingRefused(
            "closed", "company", f"the application is {status}: documents are taken while it is being decided"
        )
    count, total = await db.fetchrow(
        "SELECT count(*), coalesce(sum(size), 0) FROM company_documents WHERE company_id = $1", company_id
    )
    if count >= MAX_COMPANY_DOCUMENTS:
        raise VettingRefused("quota", "documents", f"a company may keep at most {MAX_COMPANY_DOCUMENTS} documents")
    if total + size > MAX_COMPANY_DOCUMENT_BYTES:
        raise VettingError(
            "too_large", "content",
            f"a company's documents may take at most {MAX_COMPANY_DOCUMENT_BYTES} bytes in all; "
            f"{MAX_COMPANY_DOCUMENT_BYTES - total} are left",
        )  # fmt: skip


async def document(pg: asyncpg.Pool, company_id: int, document_id: int) -> tuple[str, str, bytes] | None:
    """(filename, content type, content) of one document of the company."""
    row = await pg.fetchrow(
        "SELECT filename, content_type, content FROM company_documents WHERE company_id = $1 AND id = $2",
        company_id,
        document_id,
    )
    return (row["filename"], row["content_type"], bytes(row["content"])) if row else None
