"""A company's documents: kept in PostgreSQL with their size and SHA-256, at most MAX_DOCUMENT_BYTES each.

A document uploaded while more was requested puts the application back in the queue (`pending`).
"""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

import asyncpg
import msgspec

from auction.identity import Account
from auction.vetting.audit_log import audit
from auction.vetting.errors import VettingError
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
        status = await conn.fetchval("SELECT status FROM companies WHERE id = $1 FOR UPDATE", company_id)
        if status is None:
            raise VettingError("not_found", "company", f"no company {company_id}")
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


async def document(pg: asyncpg.Pool, company_id: int, document_id: int) -> tuple[str, str, bytes] | None:
    """(filename, content type, content) of one document of the company."""
    row = await pg.fetchrow(
        "SELECT filename, content_type, content FROM company_documents WHERE company_id = $1 AND id = $2",
        company_id,
        document_id,
    )
    return (row["filename"], row["content_type"], bytes(row["content"])) if row else None
