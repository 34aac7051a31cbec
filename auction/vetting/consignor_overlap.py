"""Buyer companies that are a consignor's own, found by vetting and linked (issue 12, finding 16).

A consignor who applies as a buyer without signing in as that consignor was never linked to their consignor
record, so their company could bid on their own lots and `own_lot` was never raised. When a company applies, and
again when it is approved, vetting compares it with every consignor; and a consignor the house's desk enters with
every company (auction/consignors.py; gateway/house.py then publishes the standings of the companies linked):

    registration number   the consignor's, as bank_mark compares it (letters and digits), in the same country
    bank reference        the consignor's and the company's, as bank_mark compares them
    a person              a person consignor named as the company's owner or director (person_mark)
    legal name            a company consignor whose name is the company's legal name (person_mark)
    email                 the consignor's email is a representative's (as identity.normalise_email spells it), or a
                          representative named the email of the consignor's own account (and got no account:
                          auction/vetting/duplicates.py flagged it)

Each consignor found is linked at once (consignor_links, as a vetting officer's link would: the company and every
company tied to it are barred from that consignor's lots), and the link is on the audit log as the system's, with
what matched, for the officer to see in the company's file. Linking rather than only flagging: a wrong link bars a
company from one consignor's lots until an officer looks; a missing one lets a seller bid up their own stones.
"""

from __future__ import annotations

import asyncpg

from auction.vetting.audit_log import audit

# Every (company, consignor) pair that overlaps, with what matched: of company $1 (NULL: any) and consignor $2 (NULL:
# any). Matched on what both hold, normalised as company_marks keeps a company's (migration 0011).
_OVERLAPS = """
SELECT company_id, consignor_id, shared FROM (
    SELECT co.id AS company_id, c.id AS consignor_id, array_remove(ARRAY[
        CASE WHEN bank_mark(c.registration_number) <> '' AND bank_mark(c.registration_number) =
             bank_mark(co.registration_number) AND coalesce(c.country, co.country) = co.country
             THEN 'registration number' END,
        CASE WHEN bank_mark(c.bank_reference) <> '' AND EXISTS (SELECT 1 FROM company_marks m
             WHERE m.company_id = co.id AND m.kind = 'bank' AND m.mark = bank_mark(c.bank_reference))
             THEN 'bank reference' END,
        CASE WHEN c.kind = 'person' AND EXISTS (SELECT 1 FROM company_marks m
             WHERE m.company_id = co.id AND m.kind = 'person' AND m.mark = person_mark(c.name))
             THEN 'owner or director' END,
        CASE WHEN c.kind = 'company' AND person_mark(c.name) = person_mark(co.legal_name) THEN 'legal name' END,
        CASE WHEN coalesce(c.email, '') <> '' AND EXISTS (SELECT 1 FROM accounts a
             WHERE a.company_id = co.id AND a.email = lower(normalize(btrim(c.email), NFKC)))
             THEN 'email' END,
        CASE WHEN EXISTS (SELECT 1 FROM application_duplicates d JOIN accounts a ON a.id = d.other_account_id
             WHERE d.company_id = co.id AND d.kind = 'email' AND a.consignor_id = c.id)
             THEN 'email of the consignor''s account' END
    ], NULL) AS shared
    FROM companies co CROSS JOIN consignors c
    WHERE ($1::bigint IS NULL OR co.id = $1) AND ($2::bigint IS NULL OR c.id = $2)
) found
WHERE cardinality(shared) > 0
ORDER BY company_id, consignor_id
"""


async def link_overlapping_consignors(conn: asyncpg.Connection, company_id: int) -> list[int]:
    """Link the company to every consignor it overlaps and is not linked to yet, in the caller's transaction; the
    consignors newly linked. The caller publishes the standings."""
    return [consignor for _, consignor in await _link(conn, company_id, None)]


async def link_overlapping_companies(conn: asyncpg.Connection, consignor_id: int) -> list[int]:
    """The same from a consignor's side, when one is entered: the companies newly linked to it."""
    return [company for company, _ in await _link(conn, None, consignor_id)]


async def _link(conn: asyncpg.Connection, company_id: int | None, consignor_id: int | None) -> list[tuple[int, int]]:
    """Link every overlapping pair not linked yet, each audited as the system's with what matched."""
    linked = []
    for row in await conn.fetch(_OVERLAPS, company_id, consignor_id):
        company, consignor, shared = row["company_id"], row["consignor_id"], list(row["shared"])
        made = await conn.fetchval(
            "INSERT INTO consignor_links (consignor_id, company_id) VALUES ($1, $2) ON CONFLICT DO NOTHING "
            "RETURNING consignor_id",
            consignor,
            company,
        )
        if made is None:
            continue
        await audit(conn, None, "consignor_linked", f"company:{company}",
                    f"vetting found the company is consignor {consignor}'s: same {', '.join(shared)}",
                    {"consignor": consignor, "shared": shared})  # fmt: skip
        linked.append((company, consignor))
    return linked
