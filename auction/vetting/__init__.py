"""Buyer companies: vetted before they bid, then registered sale by sale.

The flow (README "Roles and the vetting flow"): a company applies with its representatives -> uploads
documents -> an operator decides (approve / reject / request_more / suspend / reinstate, always with a
reason) -> a representative asks to register for a sale -> an operator approves the registration with a
paddle, a bidding limit and a deposit requirement -> the deposit is recorded as received -> the company's
representatives bid. Each step changes the company's standing, which is published where the engine reads it.

    module            its one job
    applications      what a company sends, the checks before anything is stored, its representatives' accounts
    documents         the documents a company uploads, kept with their size and SHA-256, within its quota
    decisions         which decision may follow which status (TRANSITIONS); recording them, approval's 12 months
    consignors        links between a company and consignors: it can't bid on their lots
    consignor_overlap a company found to be a consignor's own (registration number, bank reference, an owner or
                      director, legal name, email): linked when it applies and when it is approved
    duplicates        applications naming a registration number or an email that exists: flagged, not refused
    relations         companies tied by a shared owner, director or bank reference; the consignors a company is
                      barred from (its own links and its ties')
    companies         a company's file read back, and the list of companies
    registrations     per-sale registrations: requested, approved with paddle, limit and deposit, refused; deposits
    standings         a company's BidderStanding in a sale, computed from PostgreSQL and published to the engine
    audit_log         the audit_log row every operator action writes, in the action's own transaction
    errors            the package's exception tree
    times             times as vetting shows them (epoch milliseconds)

Inside the package dependencies run one way: errors, times, audit_log and relations use nothing else of it,
standings only times and relations; duplicates uses errors, times and audit_log; applications, documents,
decisions, consignors and registrations use those (applications and decisions also consignor_overlap, which uses
audit_log only); companies (the read side) uses applications, decisions,
documents, duplicates and relations. The request bodies of the HTTP routes live at the edge
(auction/gateway/accounts.py); the types here are the domain's, shared by the gateway, the CLI, the demo,
settlement and the load generator. The public names are re-exported here (`vetting.apply`,
`vetting.publish_standing`, ...), and that is how the rest of the house uses them.
"""

from auction.vetting.applications import (
    Application,
    Country,
    Email,
    Owner,
    Password,
    Representative,
    Text,
    application_problems,
    apply,
)
from auction.vetting.audit_log import audit
from auction.vetting.companies import CompanyFile, CompanyRow, CompanyView, company_file, list_companies
from auction.vetting.consignor_overlap import link_overlapping_companies
from auction.vetting.consignors import link_consignor, publish_consignor_companies, publish_with_ties
from auction.vetting.decisions import (
    APPROVAL_PERIOD,
    TRANSITIONS,
    CompanyDecision,
    CompanyStatus,
    DecisionView,
    decide,
    decide_by_system,
)
from auction.vetting.documents import (
    MAX_COMPANY_DOCUMENT_BYTES,
    MAX_COMPANY_DOCUMENTS,
    MAX_DOCUMENT_BYTES,
    DocumentKind,
    DocumentView,
    add_document,
    check_room,
    document,
)
from auction.vetting.duplicates import DuplicateFlag, duplicates_of, resolve_duplicate
from auction.vetting.errors import Conflict, VettingError, VettingRefused
from auction.vetting.registrations import (
    DEPOSIT_BP_DEFAULT,
    RegistrationView,
    approve_registration,
    company_registrations,
    list_registrations,
    record_deposit,
    refuse_registration,
    request_registration,
)
from auction.vetting.relations import Tie, barred_consignors, ties_of
from auction.vetting.standings import (
    NO_LIMIT,
    STANDING_LOCK,
    StandingStore,
    publish_company,
    publish_standing,
    resync,
    standing_of,
)

__all__ = [
    "APPROVAL_PERIOD",
    "DEPOSIT_BP_DEFAULT",
    "MAX_COMPANY_DOCUMENTS",
    "MAX_COMPANY_DOCUMENT_BYTES",
    "MAX_DOCUMENT_BYTES",
    "NO_LIMIT",
    "STANDING_LOCK",
    "TRANSITIONS",
    "Application",
    "CompanyDecision",
    "CompanyFile",
    "CompanyRow",
    "CompanyStatus",
    "CompanyView",
    "Conflict",
    "Country",
    "DecisionView",
    "DocumentKind",
    "DocumentView",
    "DuplicateFlag",
    "Email",
    "Owner",
    "Password",
    "RegistrationView",
    "Representative",
    "StandingStore",
    "Text",
    "Tie",
    "VettingError",
    "VettingRefused",
    "add_document",
    "application_problems",
    "apply",
    "approve_registration",
    "audit",
    "barred_consignors",
    "check_room",
    "company_file",
    "company_registrations",
    "decide",
    "decide_by_system",
    "document",
    "duplicates_of",
    "link_consignor",
    "link_overlapping_companies",
    "list_companies",
    "list_registrations",
    "publish_company",
    "publish_consignor_companies",
    "publish_standing",
    "publish_with_ties",
    "record_deposit",
    "refuse_registration",
    "request_registration",
    "resolve_duplicate",
    "resync",
    "standing_of",
    "ties_of",
]
