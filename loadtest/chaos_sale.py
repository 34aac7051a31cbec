"""The chaos run's sale: a timed sale of demo lots with staggered ends, and vetted buyers with API tokens.

Buyers come the way `auction demo` brings its bots (ops/demo/run.py): each company applies, a vetting officer
approves it, its representative asks to register, the officer approves the registration with a paddle, a limit
and a deposit, a settlement officer records the deposit received, and the representative gets an API token.
Every buyer is in good standing, so every refusal the run sees comes from the rules or from a fault, never
from vetting. Built with Python internals for now; a later version can go through the HTTP API.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import asyncpg

from auction import catalog, identity, vetting
from auction.catalog import NewSale, SaleSettings
from auction.engine.ladder import DIAMOND_LADDER_USD
from auction.engine.lot import LotTerms, SoftClose
from auction.store import LotStore
from ops.demo.sale import demo_lot

PASSWORD = "chaos run password, not for production"
OPENS_IN_MS = 3_000  # the lots open this long after the sale is planned: buyers register, bidders connect
# Generous: a limit must never be the reason a bid is refused here (all-in, minor units; the deposit is 10 %).
LIMIT = 10**13
FIRST_PADDLE = 501
# Soft close: a bid in a lot's last 3 s moves its end 3 s on, at most 9 s past the scheduled end, so the run
# exercises extensions (the scheduler's close moving) without letting busy lots run on for ever.
SOFT_CLOSE = SoftClose(window_ms=3_000, extension_ms=3_000, cap_ms=9_000)


@dataclass(frozen=True)
class Buyer:
    """A vetted, registered buyer company and the API token of its representative."""

    name: str
    company: int
    paddle: int
    token: str


@dataclass(frozen=True)
class ChaosSale:
    sale: NewSale
    terms: list[LotTerms]
    buyers: list[Buyer]

    @property
    def id(self) -> int:
        return self.sale.id

    @property
    def opens_ms(self) -> int:
        return self.sale.starts_at_ms

    @property
    def last_close_ms(self) -> int:
        """The last lot's scheduled end; soft close may move it on by up to the cap."""
        return max(t.end_ms for t in self.terms)

    @property
    def latest_close_ms(self) -> int:
        return self.last_close_ms + (SOFT_CLOSE.cap_ms or 0)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sale_plan(sale_id: int, rng: random.Random, consignor: int, lots: int, duration_s: float) -> NewSale:
    """Lots open together a moment from now; the first closes at two thirds of `duration_s`, the last at its end,
    the others evenly between (staggered ends, so closes keep coming while the chaos goes on)."""
    starts = now_ms() + OPENS_IN_MS
    duration_ms = int(duration_s * 1000)
    first_close = starts + duration_ms * 2 // 3
    stagger = (starts + duration_ms - first_close) // max(lots - 1, 1)
    return NewSale(
        id=sale_id,
        name="Chaos run sale",
        currency="USD",
        starts_at_ms=starts,
        first_close_ms=first_close,
        lots=[demo_lot(rng, n, consignor) for n in range(1, lots + 1)],
        settings=SaleSettings(ladder=DIAMOND_LADDER_USD, soft_close=SOFT_CLOSE, stagger_ms=max(stagger, 1)),
    )


async def build_sale(
    pg: asyncpg.Pool, store: LotStore, rng: random.Random, lots: int, buyers: int, duration_s: float
) -> ChaosSale:
    """The sale in PostgreSQL and Redis, and `buyers` buyers registered for it."""
    consignor = await catalog.add_consignor(pg, "Chaos Consignor", "Chaos Gems")
    sale_id = now_ms()
    tag = str(sale_id)
    officer, cashier = await _operators(pg, tag)
    # Companies are vetted before the sale is planned: hashing their passwords takes a while, and the sale's
    # clock starts when it is planned.
    companies = [await _vetted_company(pg, store, f"b{i + 1:03d}", tag, officer) for i in range(buyers)]
    sale = sale_plan(sale_id, rng, consignor, lots, duration_s)
    problems = catalog.sale_problems(sale)
    if problems:
        raise RuntimeError("the chaos sale is invalid: " + "; ".join(problems))
    await catalog.insert_sale(pg, sale)
    terms = catalog.terms_for(sale)
    await store.create_lots(terms)
    registered = [
        await _registered(pg, store, sale_id, FIRST_PADDLE + index, company, officer, cashier)
        for index, company in enumerate(companies)
    ]
    return ChaosSale(sale, terms, registered)


async def _operators(pg: asyncpg.Pool, tag: str) -> tuple[identity.Account, identity.Account]:
    officer = await identity.create_account(
        pg, f"vetting-{tag}@chaos.invalid", "Chaos Vetting Officer", PASSWORD, "vetting_officer"
    )
    cashier = await identity.create_account(
        pg, f"settlement-{tag}@chaos.invalid", "Chaos Settlement Officer", PASSWORD, "settlement_officer"
    )
    return officer, cashier


def _application(name: str, tag: str) -> vetting.Application:
    return vetting.Application(
        legal_name=f"Chaos Trading {name} Ltd",
        registration_number=f"CHAOS-{tag}-{name}",
        country="BE",
        trade_licence=f"TL-{name}",
        bank_reference="Chaos Bank",
        representatives=[vetting.Representative(f"Rep {name}", f"{name}-{tag}@chaos.invalid", PASSWORD)],
        kp_declaration=True,
        aml_declaration=True,
        owners=[vetting.Owner(f"Owner {name}", 10_000)],
    )


@dataclass(frozen=True)
class _Company:
    name: str
    id: int
    representative: identity.Account


async def _vetted_company(
    pg: asyncpg.Pool, store: LotStore, name: str, tag: str, officer: identity.Account
) -> _Company:
    company, (rep,) = await vetting.apply(pg, _application(name, tag), frozenset())
    await vetting.decide(pg, store, company, "approve", "documents in order", officer, frozenset())
    return _Company(name, company, rep)


async def _registered(
    pg: asyncpg.Pool,
    store: LotStore,
    sale_id: int,
    paddle: int,
    company: _Company,
    officer: identity.Account,
    cashier: identity.Account,
) -> Buyer:
    """A vetted company registered for the sale, its deposit received, its representative holding a token."""
    await vetting.request_registration(pg, sale_id, company.representative)
    registration = await vetting.approve_registration(
        pg, store, sale_id, company.id, officer, paddle=paddle, limit=LIMIT
    )
    deposit = registration.deposit_required
    await vetting.record_deposit(
        pg,
        store,
        sale_id,
        company.id,
        cashier,
        amount=deposit,
        reference=f"chaos wire {sale_id}-{company.id}",
        reason="chaos wire",
    )
    token = (await identity.issue_token(pg, company.representative.id, "api", name="chaos bidder")).token
    return Buyer(company.name, company.id, paddle, token)
