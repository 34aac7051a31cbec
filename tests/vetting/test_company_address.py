"""A company's postal address: given in its application, kept, and shown on its file (its invoices are addressed
to it: tests/gateway/test_party_settlement.py)."""

from __future__ import annotations

import aiohttp
import asyncpg

from tests.gateway.conftest import PeopleMaker, Running
from tests.vetting.test_vetting import application


async def test_an_application_gives_the_companys_address_and_its_file_shows_it(
    gateway: Running, pg: asyncpg.Pool, make_people: PeopleMaker
) -> None:
    officer = await (await make_people())["vetting_officer"].headers(pg)
    address = "Hoveniersstraat 30\n2018 Antwerpen"
    async with aiohttp.ClientSession(gateway.http) as http:
        async with http.post("/api/companies", json=application("BE", address=f"  {address}  ")) as reply:
            assert reply.status == 201, await reply.text()
            company = (await reply.json())["company"]
        async with http.get(f"/api/companies/{company}", headers=officer) as reply:
            assert (await reply.json())["company"]["address"] == address
        async with http.post("/api/companies", json=application("BE", address="x" * 1001)) as reply:
            body = await reply.json()
            assert reply.status == 400 and body["error"]["field"] == "address", body
