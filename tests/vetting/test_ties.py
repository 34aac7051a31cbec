"""Companies tied by a shared beneficial owner, director or bank reference (DOMAIN.md "Abuse"), over HTTP: a buyer
company tied to a consignor's company is refused `own_lot` on that consignor's lots, in the engine's own atomic
step, and not on anyone else's; the standing is published again the moment the link appears."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import asyncpg
import websockets

from auction import catalog, vetting
from auction.catalog import NewLot, NewSale, SaleSettings
from tests.gateway.conftest import PeopleMaker, Running, now_ms, stone
from tests.vetting.test_vetting import application, call, http, login

__all__ = ["http"]  # the fixture, used by name


def company_form(bank: str, owners: Sequence[str] = (), directors: Sequence[str] = ()) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    return application(
        bank_reference=bank,
        owners=[{"name": name, "share_bp": 3000} for name in owners],
        directors=list(directors),
        legal_name=f"Company {tag}",
    )


async def two_consignor_sale(pg: asyncpg.Pool, gateway: Running, sale_id: int) -> tuple[NewSale, int, int]:
    """Lots 1 and 3 of one consignor, lot 2 of another; open now."""
    first = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    second = await catalog.add_consignor(pg, "Jan de Wit", "De Wit Diamonds BV")
    owners = {1: first, 2: second, 3: first}
    sale = NewSale(
        id=sale_id, name="Ties", currency="USD", starts_at_ms=now_ms() - 1_000, first_close_ms=now_ms() + 120_000,
        lots=[NewLot(lot=n, title=f"Lot {n}", consignor_id=owners[n], diamond=stone(100 + n), low_estimate=100_000,
                     high_estimate=200_000, reserve=50_000, opening=10_000) for n in (1, 2, 3)],
        settings=SaleSettings(),
    )  # fmt: skip
    await catalog.insert_sale(pg, sale)
    await gateway.store.create_lots(catalog.terms_for(sale))
    return sale, first, second


async def approved_buyer(
    http: aiohttp.ClientSession, officer: dict[str, str], form: dict[str, Any], sale: int, paddle: int
) -> tuple[int, dict[str, str]]:
    """A company applied, approved, registered for `sale` with `paddle` and no deposit; (company, rep's headers)."""
    company = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]
    await call(http, "POST", f"/api/companies/{company}/decisions", officer, 200,
               json={"decision": "approve", "reason": "documents in order"})  # fmt: skip
    rep = await login(http, form["representatives"][0]["email"])
    await call(http, "POST", f"/api/sales/{sale}/registrations", rep, 201)
    await call(http, "POST", f"/api/sales/{sale}/registrations/{company}/approval", officer, 200,
               json={"paddle": paddle, "limit": 10**9, "deposit": 0})  # fmt: skip
    return company, rep


async def test_a_buyer_sharing_a_bank_reference_with_a_consignors_company_is_refused_on_its_lots_only(
    http: aiohttp.ClientSession,
    gateway: Running,
    pg: asyncpg.Pool,
    make_people: PeopleMaker,
    new_sale_id: Callable[[], int],
) -> None:
    officer = await (await make_people())["vetting_officer"].headers(pg)
    sale, consignor, other_consignor = await two_consignor_sale(pg, gateway, new_sale_id())
    iban = f"BE71 0961 {secrets.randbelow(10**8):08d}"
    buyer, rep = await approved_buyer(http, officer, company_form(iban), sale.id, 41)
    # The consignor's own company writes the same reference its own way; vetting compares letters and digits.
    form = company_form(iban.replace(" ", "").lower())
    consignors_company = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]

    async with websockets.connect(gateway.ws, additional_headers=rep) as ws:
        assert json.loads(await ws.recv())["bidder"]["id"] == buyer

        async def bid(lot: int, client_id: str) -> dict[str, Any]:
            await ws.send(json.dumps({"type": "bid", "sale": sale.id, "lot": lot, "amount": 10_000,
                                      "client_id": client_id}))  # fmt: skip
            answer: dict[str, Any] = json.loads(await ws.recv())
            return answer

        assert (await bid(1, "before-link"))["type"] == "ack"  # nothing ties them to a consignor yet
        await call(http, "POST", f"/api/companies/{consignors_company}/consignors", officer, 200,
                   json={"consignor_id": consignor, "reason": "the consignor trades through this company"})  # fmt: skip
        refused = await bid(3, "after-link")
        assert (refused["type"], refused["reason"]) == ("rejected", "own_lot")
        assert (await bid(2, "another-consignor"))["type"] == "ack"

    standing = await gateway.store.standing(sale.id, buyer)
    assert standing is not None and standing.consignor_ids == (consignor,)
    file = await call(http, "GET", f"/api/companies/{buyer}", officer, 200)
    assert file["barred_consignor_ids"] == [consignor] and other_consignor not in file["barred_consignor_ids"]
    assert file["ties"] == [{"company": consignors_company, "shared": [f"bank: {iban.replace(' ', '')}"]}]
    assert file["company"]["consignor_ids"] == []  # not linked itself: barred through its tie


async def test_a_shared_owner_or_director_ties_companies_whoever_names_the_person_how(
    http: aiohttp.ClientSession, pg: asyncpg.Pool
) -> None:
    person = f"Maria  van  Dijk {secrets.token_hex(3)}"

    async def applied(form: dict[str, Any]) -> int:
        company: int = (await call(http, "POST", "/api/companies", {}, 201, json=form))["company"]
        return company

    owner_here = await applied(company_form(f"A-{secrets.token_hex(6)}", owners=[person]))
    director_there = await applied(company_form(f"B-{secrets.token_hex(6)}", directors=[f" {person.upper()} "]))
    stranger = await applied(company_form(f"C-{secrets.token_hex(6)}", directors=["Someone Else"]))

    mark = "person: " + " ".join(person.lower().split())
    assert await vetting.ties_of(pg, owner_here) == [vetting.Tie(director_there, [mark])]
    assert await vetting.ties_of(pg, director_there) == [vetting.Tie(owner_here, [mark])]
    assert await vetting.ties_of(pg, stranger) == []
    consignor = await catalog.add_consignor(pg, "Maria van Dijk", "Van Dijk Gems")
    await pg.execute("INSERT INTO consignor_links (consignor_id, company_id) VALUES ($1, $2)", consignor, owner_here)
    assert await vetting.barred_consignors(pg, director_there) == (consignor,)
    assert await vetting.barred_consignors(pg, stranger) == ()


async def test_directors_are_bounded_and_named_when_wrong(http: aiohttp.ClientSession) -> None:
    too_many = company_form("X-1", directors=[f"Director {n}" for n in range(21)])
    error = (await call(http, "POST", "/api/companies", {}, 400, json=too_many))["error"]
    assert (error["code"], error["field"]) == ("invalid", "directors")
    empty_name = company_form("X-2", directors=[""])
    assert (await call(http, "POST", "/api/companies", {}, 400, json=empty_name))["error"]["field"] == "directors[0]"
