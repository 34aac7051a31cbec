"""`auction settlement reconcile`: does every record agree with the ledger, and the ledger with itself?

Each check returns problems as sentences naming the row; an empty list means clean.
- the ledger: every transaction balances; every account's balance is the sum of its entries; per currency, all
  balances sum to zero (settlement.ledger.ledger_problems);
- every invoice line: its posting charged the buyer its total and credited the consignor its net; a voided
  line's reversal took exactly the total back;
- every invoice: its interest is what its interest postings say; a paid invoice owes nothing (a credit on it no
  larger than what reopens took off it, interest included: a reopened lot's payment stays with the invoice);
- every buyer account equals what their invoices say they owe (lines + interest - payments);
- every consignor account equals what their lines earned less what was paid out;
- every payment, payout and deposit agrees with its posting; every deposits account with the deposit rows;
- every lot the record says was sold, in a catalogued sale, was billed (nothing missed), and is billed no more once
  the record says it was reopened after (a live lot); a passed lot that was reopened is off the post-sale path;
- every return's charges, accepted post-sale offer and relisting agree with the ledger and the catalogue, and
  no passed lot is both billed and returned or relisted (`unsold_problems`);
- every approved or paid claim agrees with the ledger and stays within the declared value
  (settlement.claims.claim_problems).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from settlement import billing, claims, closings, ledger


async def reconcile(pg: asyncpg.Pool, sale_id: int | None = None) -> list[str]:
    """Every problem found (empty: clean). `sale_id` limits the check for missed closes to one sale."""
    problems = await ledger.ledger_problems(pg)
    problems += await _lines(pg)
    problems += await _invoices(pg)
    problems += await _accounts(pg)
    problems += await _payments_payouts_deposits(pg)
    problems += await _closes(pg, sale_id)
    problems += await unsold_problems(pg)
    problems += await claims.claim_problems(pg)
    return problems


_ACCOUNT_AMOUNT = (
    "(SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
    "WHERE e.txn_id = {txn} AND a.code = {code})"
)


BUYER_CODE = "'buyer:' || i.buyer_id"
DEPOSITS_CODE = "'deposits:' || x.buyer_id"


def _moved(txn: str, code: str) -> str:
    return _ACCOUNT_AMOUNT.format(txn=txn, code=code)


async def _lines(pg: asyncpg.Pool) -> list[str]:
    rows = await pg.fetch(
        "SELECT l.id, l.total, l.consignor_net, l.status, "
        + _moved("l.txn_id", BUYER_CODE)
        + " AS charged, "
        + _moved("l.txn_id", "'consignor:' || l.consignor_id")
        + " AS credited, "
        + _moved("l.void_txn_id", BUYER_CODE)
        + " AS reversed "
        "FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id ORDER BY l.id"
    )
    problems = []
    for r in rows:
        if r["charged"] != r["total"]:
            problems.append(f"invoice line {r['id']}: total {r['total']} but the ledger charged {r['charged']}")
        if r["credited"] != -r["consignor_net"]:
            problems.append(f"invoice line {r['id']}: consignor net {r['consignor_net']} but credited {-r['credited']}")
        if r["status"] == "voided" and r["reversed"] != -r["total"]:
            problems.append(f"invoice line {r['id']}: voided but the reversal took back {-r['reversed']}")
    return problems


async def _invoices(pg: asyncpg.Pool) -> list[str]:
    rows = await pg.fetch(
        "SELECT i.id, i.status, i.interest_posted, "
        "(SELECT coalesce(sum(total), 0) FROM invoice_lines WHERE invoice_id = i.id AND status = 'active') AS lines, "
        "(SELECT coalesce(sum(amount), 0) FROM payments WHERE invoice_id = i.id) AS paid, "
        "(SELECT coalesce(sum(l.total), 0) FROM invoice_lines l JOIN ledger_transactions v ON v.id = l.void_txn_id "
        " WHERE l.invoice_id = i.id AND v.kind = $1) "
        "- (SELECT coalesce(sum(e.amount), 0) FROM ledger_transactions t JOIN ledger_entries e ON e.txn_id = t.id "
        " JOIN ledger_accounts a ON a.id = e.account_id WHERE t.kind = 'interest' AND a.code = 'buyer:' || i.buyer_id "
        " AND t.idem_key LIKE 'interest:' || i.id || ':back:%') AS reopened, "
        "(SELECT coalesce(sum(e.amount), 0) FROM ledger_transactions t JOIN ledger_entries e ON e.txn_id = t.id "
        " JOIN ledger_accounts a ON a.id = e.account_id WHERE t.kind = 'interest' AND a.code = 'buyer:' || i.buyer_id "
        " AND t.idem_key LIKE 'interest:' || i.id || ':%') AS interest "
        "FROM invoices i ORDER BY i.id",
        billing.REOPENED_KIND,
    )
    problems = []
    for r in rows:
        if r["interest"] != r["interest_posted"]:
            problems.append(f"invoice {r['id']}: interest {r['interest_posted']} but posted {r['interest']}")
        outstanding = r["lines"] + r["interest_posted"] - r["paid"]
        if r["status"] == "paid" and outstanding > 0:
            problems.append(f"invoice {r['id']}: marked paid with {outstanding} outstanding")
        if r["status"] == "paid" and -outstanding > r["reopened"]:
            problems.append(f"invoice {r['id']}: a credit of {-outstanding}, more than reopens took off it")
        if r["status"] == "open" and outstanding < 0:
            problems.append(f"invoice {r['id']}: overpaid by {-outstanding}")
    return problems


async def _accounts(pg: asyncpg.Pool) -> list[str]:
    problems = []
    owed = await pg.fetch(
        "SELECT i.buyer_id, i.currency, sum(i.interest_posted "
        " + (SELECT coalesce(sum(total), 0) FROM invoice_lines WHERE invoice_id = i.id AND status = 'active') "
        " - (SELECT coalesce(sum(amount), 0) FROM payments WHERE invoice_id = i.id)) AS owed "
        "FROM invoices i GROUP BY i.buyer_id, i.currency"
    )
    expected: dict[tuple[str, str], int] = {(f"buyer:{r['buyer_id']}", r["currency"]): r["owed"] for r in owed}
    earned = await pg.fetch(
        "SELECT l.consignor_id, i.currency, sum(l.consignor_net) AS net FROM invoice_lines l "
        "JOIN invoices i ON i.id = l.invoice_id WHERE l.status = 'active' GROUP BY l.consignor_id, i.currency"
    )
    for r in earned:
        expected[(f"consignor:{r['consignor_id']}", r["currency"])] = -r["net"]
    for r in await pg.fetch("SELECT consignor_id, currency, sum(amount) AS paid FROM payouts GROUP BY 1, 2"):
        key = (f"consignor:{r['consignor_id']}", r["currency"])
        expected[key] = expected.get(key, 0) + r["paid"]
    for key, charged in (await consignor_charges(pg)).items():
        expected[key] = expected.get(key, 0) + charged
    for r in await pg.fetch(
        "SELECT buyer_id, currency, sum(CASE WHEN kind = 'taken' THEN amount ELSE -amount END) AS held "
        "FROM deposits GROUP BY 1, 2"
    ):
        expected[(f"deposits:{r['buyer_id']}", r["currency"])] = -r["held"]
    actual = {
        (r["code"], r["currency"]): r["balance"]
        for r in await pg.fetch(
            "SELECT code, currency, balance FROM ledger_accounts WHERE code LIKE 'buyer:%' "
            "OR code LIKE 'consignor:%' OR code LIKE 'deposits:%'"
        )
    }
    for key in sorted(set(expected) | set(actual)):
        want, have = expected.get(key, 0), actual.get(key, 0)
        if want != have:
            problems.append(f"account {key[0]} ({key[1]}): the records say {want}, the ledger {have}")
    return problems


async def _payments_payouts_deposits(pg: asyncpg.Pool) -> list[str]:
    checks: list[tuple[str, str, Any]] = [
        ("payment", "SELECT id, amount, " + _moved("x.txn_id", "'cash'") + " AS moved FROM payments x", 1),
        ("payout", "SELECT id, amount, " + _moved("x.txn_id", "'cash'") + " AS moved FROM payouts x", -1),
        ("deposit", "SELECT id, amount, kind, " + _moved("x.txn_id", DEPOSITS_CODE) + " AS moved FROM deposits x", 0),
    ]
    problems = []
    for name, sql, sign in checks:
        for r in await pg.fetch(sql):
            want = sign * r["amount"] if sign else (-r["amount"] if r["kind"] == "taken" else r["amount"])
            if r["moved"] != want:
                problems.append(f"{name} {r['id']}: amount {r['amount']} but the ledger moved {r['moved']}")
    for r in await pg.fetch(
        "SELECT p.id, p.amount, (SELECT coalesce(sum(l.consignor_net), 0) FROM payout_lines pl "
        "JOIN invoice_lines l ON l.id = pl.line_id WHERE pl.payout_id = p.id) AS lines FROM payouts p"
    ):
        if r["lines"] != r["amount"]:
            problems.append(f"payout {r['id']}: amount {r['amount']} but its lines net {r['lines']}")
    return problems


async def _closes(pg: asyncpg.Pool, sale_id: int | None) -> list[str]:
    """Every close in the record of a catalogued sale was followed (settlement.closings): each LotSold that no
    LotReopened followed was billed (under its own key, or, for a lot that was never reopened, the key of before
    reopens); each one that a reopen followed is billed no more; and a passed lot whose pass was reopened is off
    the post-sale path, its sale in the window (if any) undone."""
    events = await pg.fetch(
        "SELECT e.sale_id, e.lot_no, e.seq, e.type FROM lot_events e JOIN lots c ON c.sale_id = e.sale_id "
        "AND c.lot_no = e.lot_no WHERE e.type IN ('LotSold', 'LotPassed', 'LotReopened') "
        "AND ($1::bigint IS NULL OR e.sale_id = $1) ORDER BY 1, 2, 3",
        sale_id,
    )
    billed = {
        r["idem_key"]: r["status"]
        for r in await pg.fetch(
            "SELECT t.idem_key, l.status FROM invoice_lines l JOIN ledger_transactions t ON t.id = l.txn_id "
            "WHERE l.source = 'hammer' AND ($1::bigint IS NULL OR l.sale_id = $1)",
            sale_id,
        )
    }
    passed = {
        (r["sale_id"], r["lot_no"]): r
        for r in await pg.fetch(
            "SELECT p.sale_id, p.lot_no, p.status, p.pass_seq, EXISTS (SELECT 1 FROM invoice_lines l "
            "WHERE l.sale_id = p.sale_id AND l.lot_no = p.lot_no AND l.status = 'active' AND l.source = 'post_sale') "
            "AS sold_in_window FROM passed_lots p WHERE $1::bigint IS NULL OR p.sale_id = $1",
            sale_id,
        )
    }
    lots: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for r in events:
        lots.setdefault((r["sale_id"], r["lot_no"]), []).append((r["seq"], r["type"]))
    problems = []
    for (sale, lot), closes in lots.items():
        problems += _hammers_followed(sale, lot, closes, billed)
        problems += _pass_followed(sale, lot, closes, passed.get((sale, lot)))
    return problems


def _hammers_followed(sale: int, lot: int, closes: list[tuple[int, str]], billed: dict[str, str]) -> list[str]:
    reopens = [seq for seq, kind in closes if kind == "LotReopened"]
    problems = []
    for seq, kind in closes:
        if kind != "LotSold":
            continue
        status = billed.get(closings.hammer_key(sale, lot, seq))
        if status is None and not reopens:
            status = billed.get(closings.legacy_hammer_key(sale, lot))
        reopened = any(later > seq for later in reopens)
        if status is None and not reopened:
            problems.append(f"sale {sale} lot {lot}: sold (seq {seq}) but not billed")
        if status == "active" and reopened:
            problems.append(f"sale {sale} lot {lot}: sold (seq {seq}) and reopened, but still billed")
    return problems


def _pass_followed(sale: int, lot: int, closes: list[tuple[int, str]], passed: asyncpg.Record | None) -> list[str]:
    if passed is None:
        return []
    where = f"passed lot {lot} of sale {sale}"
    if passed["status"] == "reopened" and passed["sold_in_window"]:
        return [f"{where}: reopened, but still billed to the buyer who took it in its window"]
    pass_seq = passed["pass_seq"]
    reopened = pass_seq is not None and any(seq > pass_seq and kind == "LotReopened" for seq, kind in closes)
    if reopened and passed["status"] in ("post_sale", "sold"):
        return [f"{where}: its pass (seq {pass_seq}) was reopened, but it is still {passed['status']}"]
    return []


async def consignor_charges(pg: asyncpg.Pool) -> dict[tuple[str, str], int]:
    """What returns charged each consignor account, by (account code, currency): a debit, which the check of
    every consignor account adds to what the invoices and payouts say."""
    rows = await pg.fetch(
        "SELECT consignor_id, currency, sum(unsold_fee + return_shipping) AS charged FROM lot_returns "
        "GROUP BY 1, 2 HAVING sum(unsold_fee + return_shipping) <> 0"
    )
    return {(ledger.consignor(r["consignor_id"]), r["currency"].strip()): int(r["charged"]) for r in rows}


async def unsold_problems(pg: asyncpg.Pool) -> list[str]:
    """Every return's charges agree with its posting; no stone both sold and returned (or relisted); every
    accepted offer was billed at its amount; every relisting is a lot of the later sale with its new reserve."""
    problems = await _return_charges(pg)
    problems += await _passed_lots_sold_once(pg)
    problems += await _accepted_offers_billed(pg)
    problems += await _relistings(pg)
    return problems


async def _return_charges(pg: asyncpg.Pool) -> list[str]:
    """Each posted return moved its charges: the consignor owes the unsold fee and the return shipping, the house's
    fees and shipping accounts take them (every return's three nets in one query, as `_lines` reads its lines)."""
    rows = await pg.fetch(
        "SELECT r.sale_id, r.lot_no, r.unsold_fee, r.return_shipping, "
        + _moved("r.txn_id", "'consignor:' || r.consignor_id")
        + " AS consignor, "
        + _moved("r.txn_id", f"'{ledger.HOUSE_FEES}'")
        + " AS fees, "
        + _moved("r.txn_id", f"'{ledger.HOUSE_SHIPPING}'")
        + " AS shipping FROM lot_returns r WHERE r.txn_id IS NOT NULL ORDER BY r.sale_id, r.lot_no"
    )
    problems = []
    for r in rows:
        moved = (int(r["consignor"]), int(r["fees"]), int(r["shipping"]))  # sum() reads as a numeric
        expected = (r["unsold_fee"] + r["return_shipping"], -r["unsold_fee"], -r["return_shipping"])
        if moved != expected:
            where = f"return of sale {r['sale_id']} lot {r['lot_no']}"
            problems.append(f"{where}: charges {expected} (consignor, fees, shipping) but the ledger moved {moved}")
    return problems


async def _passed_lots_sold_once(pg: asyncpg.Pool) -> list[str]:
    problems = []
    for r in await pg.fetch(
        "SELECT p.sale_id, p.lot_no, p.status, (SELECT 1 FROM lot_returns x WHERE x.sale_id = p.sale_id "
        "AND x.lot_no = p.lot_no) AS returned, (SELECT 1 FROM relistings x WHERE x.from_sale_id = p.sale_id "
        "AND x.from_lot_no = p.lot_no) AS relisted, (SELECT 1 FROM invoice_lines l WHERE l.sale_id = p.sale_id "
        "AND l.lot_no = p.lot_no AND l.status = 'active') AS sold FROM passed_lots p ORDER BY 1, 2"
    ):
        where = f"passed lot {r['lot_no']} of sale {r['sale_id']}"
        if r["sold"] and (r["returned"] or r["relisted"]):
            problems.append(f"{where}: billed to a buyer and also {'returned' if r['returned'] else 'relisted'}")
        if r["returned"] and r["status"] not in ("returning", "returned"):
            problems.append(f"{where}: returned but its status is {r['status']}")
    return problems


async def _accepted_offers_billed(pg: asyncpg.Pool) -> list[str]:
    problems = []
    for r in await pg.fetch(
        "SELECT o.id, o.amount, (SELECT array_agg(l.hammer) FROM invoice_lines l JOIN ledger_transactions t "
        "ON t.id = l.txn_id WHERE t.idem_key = 'post-sale:' || o.id) AS billed FROM post_sale_offers o "
        "WHERE o.status = 'accepted' ORDER BY o.id"
    ):
        if r["billed"] != [r["amount"]]:
            problems.append(f"post-sale offer {r['id']}: accepted at {r['amount']} but billed {r['billed'] or []}")
    return problems


async def _relistings(pg: asyncpg.Pool) -> list[str]:
    problems = []
    for r in await pg.fetch(
        "SELECT x.*, l.reserve AS lot_reserve, l.consignor_id AS to_consignor, o.consignor_id AS from_consignor "
        "FROM relistings x LEFT JOIN lots l ON l.sale_id = x.to_sale_id AND l.lot_no = x.to_lot_no "
        "JOIN lots o ON o.sale_id = x.from_sale_id AND o.lot_no = x.from_lot_no ORDER BY 1, 2"
    ):
        if (r["lot_reserve"], r["to_consignor"]) != (r["reserve"], r["from_consignor"]):
            problems.append(
                f"relisting of sale {r['from_sale_id']} lot {r['from_lot_no']}: lot {r['to_lot_no']} of sale "
                f"{r['to_sale_id']} has reserve {r['lot_reserve']} and consignor {r['to_consignor']}"
            )
    return problems


async def settlement_summary(pg: asyncpg.Pool, sale_id: int) -> dict[str, Any]:
    """The demo's summary of a sale's settlement (issue 5's shape)."""
    row = await pg.fetchrow(
        "SELECT (SELECT count(*) FROM invoices WHERE sale_id = $1) AS invoices, "
        "(SELECT coalesce(sum(total), 0) FROM invoice_lines WHERE sale_id = $1 AND status = 'active') AS invoiced, "
        "(SELECT coalesce(sum(premium), 0) FROM invoice_lines WHERE sale_id = $1 AND status = 'active') AS premium, "
        "(SELECT count(*) FROM lot_defaults WHERE sale_id = $1) AS defaults, "
        "(SELECT count(*) FROM invoice_lines WHERE sale_id = $1 AND source = 'second_chance' "
        " AND status = 'active') AS second_chance, "
        "(SELECT count(*) FROM passed_lots WHERE sale_id = $1 AND status IN ('returning', 'returned')) AS returns, "
        "(SELECT count(*) FROM claims WHERE sale_id = $1) AS claims",
        sale_id,
    )
    problems = await reconcile(pg, sale_id)
    return {
        "invoices": row["invoices"],
        "invoiced_total": int(row["invoiced"]),
        "premium_total": int(row["premium"]),
        "defaults": row["defaults"],
        "second_chance_sales": row["second_chance"],
        "returns": row["returns"],
        "claims": row["claims"],
        "reconcile": problems if problems else "clean",
    }
