"""Buyer companies that are a consignor's own, found by vetting and linked (issue 12, finding 16).

A consignor who applies as a buyer without signing in as that consignor was never linked to their consignor
record, so their company could bid on their own lots and `own_lot` was never raised. When a company applies, and
again when it is approved (a consignor may have been entered since), vetting compares it with every consignor:

    registration number   the consignor's, as bank_mark compares it (letters and digits), in the same country
    bank reference        the consignor's and the company's, as bank_mark compares them
    a person              a person consignor named as the company's owner or director (person_mark)
    legal name            a company consignor whose name is the company's legal name (person_mark)
    email                 the consignor's email is a representative's (as identity.normalise_email spells it)

Each consignor found is linked at once (consignor_links, as a vetting officer's link would: the company and every
company tied to it are barred from that consignor's lots), and the link is on the audit log as the system's, with
what matched, for the officer to see in the company's file. Linking rather than only flagging: a wrong link bars a
company from one consignor's lots until an officer looks; a missing one lets a seller bid up their own stones.
"""

from __future__ import annotations

import asyncpg

from auction.vetting.audit_log import audit

# The consignors overlapping company $1, each with what matched.
_OVERLAPS = """
WITH me AS (SELECT legal_name, registration_number, country FROM companies WHERE id = $1),
     marks AS (SELECT kind, mark FROM company_marks WHERE company_id = $1),
     emails AS (SELECT email FROM accounts WHERE company_id = $1)
SELECT id, shared FROM (
    SELECT c.id, array_remove(ARRAY[
        CASE WHEN bank_mark(c.registration_number) <> '' AND bank_mark(c.registration_number) =
             bank_mark(me.registration_number) AND coalesce(c.country, me.country) = me.country
             THEN 'registration number' END,
        CASE WHEN bank_mark(c.bank_reference) <> '' AND EXISTS (
             SELECT 1 FROM marks WHERE kind = 'bank' AND mark = bank_mark(c.bank_reference))
             THEN 'bank reference' END,
        CASE WHEN c.kind = 'person' AND EXISTS (
             SELECT 1 FROM marks WHERE kind = 'person' AND mark = person_mark(c.name))
             THEN 'owner or director' END,
        CASE WHEN c.kind = 'company' AND person_mark(c.name) = person_mark(me.legal_name) THEN 'legal name' END,
        CASE WHEN coalesce(c.email, '') <> '' AND lower(normalize(btrim(c.email), NFKC)) IN (SELECT email FROM emails)
             THEN 'email' END
    ], NULL) AS shared
    FROM consignors c, me
) found
WHERE cardinality(shared) > 0
ORDER BY id
"""


async def link_overlapping_consignors(conn: asyncpg.Connection, company_id: int) -> list[int]:
    """Link the company to every consignor it overlaps and is not linked to yet, in the caller's transaction, each
    link audited as the system's with what matched; the consignors newly linked. The caller publishes standings."""
    linked = []
    for row in await conn.fetch(_OVERLAPS, company_id):
        made = await conn.fetchval(
            "INSERT INTO consignor_links (consignor_id, company_id) VALUES ($1, $2) ON CONFLICT DO NOTHING "
            "RETURNING consignor_id",
            row["id"],
            company_id,
        )
        if made is None:
            continue
        shared = list(row["shared"])
        await audit(conn, None, "consignor_linked", f"company:{company_id}",
                    f"vetting found the company is consignor {row['id']}'s: same {', '.join(shared)}",
                    {"consignor": row["id"], "shared": shared})  # fmt: skip
        linked.append(row["id"])
    return linked
