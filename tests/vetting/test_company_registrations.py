"""A company's registrations in every sale, for its buyers' account page: their own company's only."""

from __future__ import annotations

import aiohttp
import asyncpg

from auction import catalog
from tests.gateway.conftest import BidderMaker, PeopleMaker, Running, SaleMaker


async def test_a_buyer_reads_their_companys_registrations_across_sales_and_no_one_elses(
    gateway: Running, pg: asyncpg.Pool, make_sale: SaleMaker, make_bidder: BidderMaker, make_people: PeopleMaker
) -> None:
    first, second = await make_sale(lots=1), await make_sale(lots=1)
    bidder, token = await make_bidder(first.id, 7)
    await catalog.register(pg, second.id, bidder.id, 8, 5_000_000)
    mine = {"Authorization": f"Bearer {token}"}
    people = await make_people()
    other, officer = await people["buyer"].headers(pg), await people["vetting_officer"].headers(pg)
    path = f"/api/companies/{bidder.id}/registrations"
    async with aiohttp.ClientSession(gateway.http) as http:
        for headers in (mine, officer):
            async with http.get(path, headers=headers) as reply:
                found = {r["sale"]: (r["status"], r["paddle"], r["limit"]) for r in await reply.json()}
                assert found == {first.id: ("approved", 7, None), second.id: ("approved", 8, 5_000_000)}
        for asked in (path, "/api/companies/999999999999/registrations"):  # another's, or nobody's: one answer
            async with http.get(asked, headers=other) as reply:
                body = await reply.json()
                assert reply.status == 403 and body["error"]["field"] == "company", body
