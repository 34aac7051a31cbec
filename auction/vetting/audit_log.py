"""The audit log: one row per operator action (who, in which role, what, on what, why), written in the same
transaction as the action itself, so that neither is kept without the other. An action the house's own rules
took is written with no account and the role "system"."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from auction.identity import Account


async def audit(
    conn: asyncpg.Connection | asyncpg.Pool,
    actor: Account | None,
    action: str,
    target: str,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (account_id, role, action, target, reason, details) VALUES ($1, $2, $3, $4, $5, $6)",
        actor.id if actor else None,
        actor.role if actor else "system",
        action,
        target,
        reason,
        msgspec.json.encode(details or {}).decode(),
    )
