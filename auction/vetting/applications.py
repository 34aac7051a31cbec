"""A buyer company's application: what it sends, the checks it must pass before anything is stored, and
storing it with its representatives' buyer accounts. A registration number or an email that exists already is no
refusal: the application is stored the same way, and the clash flagged for a vetting officer (duplicates.py).

A company from a sanctioned country (settings: AUCTION_SANCTIONED_COUNTRIES) or without the Kimberley Process
and anti-money-laundering declarations is refused at once, naming the field; a sanctioned country's refusal is
audited. The constrained fields below are checked when an application is decoded (at the HTTP edge); the
gateway's account bodies reuse Text, Email and Password.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import msgspec

from auction import identity
from auction.identity import Account
from auction.vetting import duplicates
from auction.vetting.audit_log import audit
from auction.vetting.consignor_overlap import link_overlapping_consignors
from auction.vetting.errors import Conflict, VettingRefused

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Country = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, msgspec.Meta(min_length=identity.MIN_PASSWORD, max_length=200)]


class Owner(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A beneficial owner above 25 %: `share_bp` in basis points (2501 to 10000)."""

    name: Text
    share_bp: Annotated[int, msgspec.Meta(ge=2501, le=10_000)]


class Representative(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An authorised representative: becomes a buyer account that logs in with this email and password."""

    name: Text
    email: Email
    password: Password


Address = Annotated[str, msgspec.Meta(max_length=1000)]  # a postal address, its lines separated by newlines


class Application(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a company sends. `directors` names its directors (people, by name): with the owners and the bank
    reference, they tie it to other companies (auction.vetting.relations)."""

    legal_name: Text
    registration_number: Text
    country: Country  # ISO 3166-1 alpha-2
    trade_licence: Text
    bank_reference: Text
    representatives: Annotated[list[Representative], msgspec.Meta(min_length=1, max_length=2)]
    kp_declaration: bool
    aml_declaration: bool
    owners: Annotated[list[Owner], msgspec.Meta(max_length=3)] = []
    bourse_membership: Text | None = None
    directors: Annotated[list[Text], msgspec.Meta(max_length=20)] = []
    address: Address = ""  # the registered office, as its invoices are addressed


def application_problems(app: Application, sanctioned: frozenset[str]) -> list[tuple[str, str]]:
    """(field, message) for everything that makes an application unacceptable, before anything is stored."""
    problems = []
    if app.country in sanctioned:
        problems.append(("country", f"{app.country} is on the sanctions list: this company can't be approved"))
    if not app.kp_declaration:
        problems.append(("kp_declaration", "the Kimberley Process declaration must be made (true)"))
    if not app.aml_declaration:
        problems.append(("aml_declaration", "the anti-money-laundering declaration must be made (true)"))
    if sum(owner.share_bp for owner in app.owners) > 10_000:
        problems.append(("owners", "owners' shares add up to more than 100 %"))
    emails = [identity.normalise_email(rep.email) for rep in app.representatives]
    if len(set(emails)) != len(emails):
        problems.append(("representatives", "each representative needs an email of their own"))
    return problems


async def apply(
    pg: asyncpg.Pool, app: Application, sanctioned: frozenset[str], by: Account | None = None
) -> tuple[int, list[Account]]:
    """Store the application and its representatives' accounts; (company id, accounts). Refused at once, and
    nothing stored but an audit row, if `application_problems` finds anything (the first problem is named)."""
    problems = application_problems(app, sanctioned)
    if problems:
        field, message = problems[0]
        if field == "country":
            await audit(pg, by, "application_refused", f"country:{app.country}", message, {"name": app.legal_name})
        raise VettingRefused("sanctioned" if field == "country" else "invalid", field, message)
    # The hashes first, holding no connection: a quarter of a second each, which inside the transaction held one
    # of the pool's few connections while everyone's bids and lookups waited for it.
    passwords = [await identity.hashed(rep.password) for rep in app.representatives]
    async with pg.acquire() as conn, conn.transaction():
        twins = await duplicates.same_registration(conn, app.country, app.registration_number)
        company_id = await _insert_company(conn, app)
        await duplicates.flag_registration(conn, company_id, twins)
        accounts = [
            await _representative_account(conn, rep, hashed, company_id)
            for rep, hashed in zip(app.representatives, passwords, strict=True)
        ]
        await link_overlapping_consignors(conn, company_id)  # a consignor applying as a buyer: no own lots
        if by is not None and by.is_operator:
            await audit(conn, by, "application_entered", f"company:{company_id}")
    return company_id, [account for account in accounts if account is not None]


async def _insert_company(conn: asyncpg.Connection, app: Application) -> int:
    company_id: int = await conn.fetchval(
        "INSERT INTO companies (legal_name, registration_number, country, trade_licence, bourse_membership,"
        " owners, bank_reference, kp_declaration, aml_declaration, directors, address) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::jsonb, $11) RETURNING id",
        app.legal_name,
        app.registration_number,
        app.country,
        app.trade_licence,
        app.bourse_membership,
        msgspec.json.encode(app.owners).decode(),
        app.bank_reference,
        app.kp_declaration,
        app.aml_declaration,
        msgspec.json.encode(app.directors).decode(),
        app.address.strip(),
    )
    return company_id


async def _representative_account(
    conn: asyncpg.Connection, rep: Representative, hashed: identity.Hashed, company_id: int
) -> Account | None:
    """The representative's buyer account; None, and the clash flagged, if an account has their email (in a
    savepoint, so that the application goes on whatever the other account is)."""
    try:
        async with conn.transaction():
            return await identity.create_account(conn, rep.email, rep.name, hashed, "buyer", company_id=company_id)
    except identity.AccountProblem as exc:
        if exc.field != "email":
            raise Conflict("conflict", f"representatives.{exc.field}", str(exc)) from exc
    await duplicates.flag_email(conn, company_id, identity.normalise_email(rep.email), rep.name)
    return None
