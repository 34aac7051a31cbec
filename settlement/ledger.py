"""The double-entry ledger: every money movement is one balanced transaction of integer minor units.

Sign convention: a debit is positive, a credit negative; a transaction's entries sum to zero. `post` checks
that in Python before it writes, and the database checks it again at commit (a deferred constraint trigger,
ops/migrations/0003_settlement.sql), so no code path can leave an unbalanced transaction behind. Entries are
append-only; a correction is a reversing transaction. Each posting carries an idempotency key (unique), so the
same business fact posted twice is written once: `post` returns None the second time.

Accounts are named by code, per currency:

    buyer:<company>        what a buyer company owes (debit balance) or has paid ahead (credit)
    consignor:<id>         what the house owes a consignor (credit balance) or is owed by them (debit)
    deposits:<company>     deposits the house holds for a buyer (credit: a liability)
    cash                   the house's bank
    house:<revenue>        premium, commission, fees, interest, shipping, insurance, forfeits
    tax:payable            tax collected for the authorities
    insurance:receivable   what insurers owe the house on approved claims
    claims:payable         approved claims the house owes whoever bore the loss
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import msgspec

from settlement.errors import Unbalanced

CASH = "cash"
HOUSE_PREMIUM = "house:premium"
HOUSE_COMMISSION = "house:commission"
HOUSE_FEES = "house:fees"
HOUSE_INTEREST = "house:interest"
HOUSE_SHIPPING = "house:shipping"
HOUSE_INSURANCE = "house:insurance"
HOUSE_FORFEITS = "house:forfeits"
TAX_PAYABLE = "tax:payable"
INSURANCE_RECEIVABLE = "insurance:receivable"
CLAIMS_PAYABLE = "claims:payable"


def buyer(company: int) -> str:
    return f"buyer:{company}"


def consignor(consignor_id: int) -> str:
    return f"consignor:{consignor_id}"


def deposits(company: int) -> str:
    return f"deposits:{company}"


class Entry(msgspec.Struct, frozen=True, array_like=True):
    account: str
    amount: int  # debit positive, credit negative


class Posting(msgspec.Struct, frozen=True):
    idem_key: str
    kind: str
    currency: str
    at_ms: int
    entries: tuple[Entry, ...]
    sale_id: int | None = None
    lot_no: int | None = None
    memo: str = ""


def entries(*pairs: tuple[str, int]) -> tuple[Entry, ...]:
    """Entries from (account, amount) pairs, dropping zero amounts and merging repeats of an account."""
    merged: dict[str, int] = {}
    for account, amount in pairs:
        merged[account] = merged.get(account, 0) + amount
    return tuple(Entry(account, amount) for account, amount in merged.items() if amount != 0)


def balance_problem(lines: Sequence[Entry]) -> str | None:
    if len(lines) < 2:
        return f"a transaction needs at least two entries, got {len(lines)}"
    total = sum(e.amount for e in lines)
    if total != 0:
        return f"entries sum to {total}, not 0"
    if any(type(e.amount) is not int for e in lines):
        return "amounts must be integers (minor units)"
    return None


async def post(conn: asyncpg.Connection, posting: Posting) -> int | None:
    """Write a balanced transaction in the caller's database transaction; its id, or None if already posted."""
    problem = balance_problem(posting.entries)
    if problem is not None:
        raise Unbalanced(f"{posting.idem_key}: {problem}")
    txn_id: int | None = await conn.fetchval(
        "INSERT INTO ledger_transactions (idem_key, kind, currency, sale_id, lot_no, at_ms, memo) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idem_key) DO NOTHING RETURNING id",
        posting.idem_key,
        posting.kind,
        posting.currency,
        posting.sale_id,
        posting.lot_no,
        posting.at_ms,
        posting.memo,
    )
    if txn_id is None:
        return None
    for entry in sorted(posting.entries, key=lambda e: e.account):  # a fixed order: no deadlocks between posters
        account_id = await _account(conn, entry.account, posting.currency)
        await conn.execute(
            "INSERT INTO ledger_entries (txn_id, account_id, amount) VALUES ($1, $2, $3)",
            txn_id,
            account_id,
            entry.amount,
        )
        await conn.execute("UPDATE ledger_accounts SET balance = balance + $2 WHERE id = $1", account_id, entry.amount)
    return txn_id


async def _account(conn: asyncpg.Connection, code: str, currency: str) -> int:
    account_id: int = await conn.fetchval(
        "INSERT INTO ledger_accounts (code, currency) VALUES ($1, $2) "
        "ON CONFLICT (code, currency) DO UPDATE SET code = EXCLUDED.code RETURNING id",
        code,
        currency,
    )
    return account_id


async def balance(pg: asyncpg.Pool | asyncpg.Connection, code: str, currency: str) -> int:
    value: int | None = await pg.fetchval(
        "SELECT balance FROM ledger_accounts WHERE code = $1 AND currency = $2", code, currency
    )
    return value or 0


async def balances(pg: asyncpg.Pool, currency: str) -> dict[str, int]:
    rows = await pg.fetch("SELECT code, balance FROM ledger_accounts WHERE currency = $1 ORDER BY code", currency)
    return {row["code"]: row["balance"] for row in rows}


async def txn_amount(conn: asyncpg.Connection | asyncpg.Pool, txn_id: int, code: str) -> int:
    """The net amount a transaction moved on one account."""
    value: int | None = await conn.fetchval(
        "SELECT sum(e.amount) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
        "WHERE e.txn_id = $1 AND a.code = $2",
        txn_id,
        code,
    )
    return value or 0


async def ledger_problems(pg: asyncpg.Pool) -> list[str]:
    """The ledger's own invariants: every transaction balances, every cached balance is the sum of its entries,
    and (per currency) all balances together sum to zero."""
    problems: list[str] = []
    for row in await pg.fetch(
        "SELECT t.id, t.idem_key, coalesce(sum(e.amount), 0) AS total, count(e.id) AS n FROM ledger_transactions t "
        "LEFT JOIN ledger_entries e ON e.txn_id = t.id GROUP BY t.id HAVING coalesce(sum(e.amount), 0) <> 0 "
        "OR count(e.id) < 2 ORDER BY t.id"
    ):
        problems.append(f"transaction {row['id']} ({row['idem_key']}): {row['n']} entries summing to {row['total']}")
    for row in await pg.fetch(
        "SELECT a.code, a.currency, a.balance, coalesce(sum(e.amount), 0) AS total FROM ledger_accounts a "
        "LEFT JOIN ledger_entries e ON e.account_id = a.id GROUP BY a.id "
        "HAVING a.balance <> coalesce(sum(e.amount), 0) "
        "ORDER BY a.code"
    ):
        problems.append(
            f"account {row['code']} ({row['currency']}): balance {row['balance']} but its entries sum to {row['total']}"
        )
    for row in await pg.fetch(
        "SELECT currency, sum(balance) AS total FROM ledger_accounts GROUP BY currency HAVING sum(balance) <> 0"
    ):
        problems.append(f"balances in {row['currency']} sum to {row['total']}, not 0")
    return problems
