"""The gateway's fixtures (a real gateway on a free port, people with roles, bidders), shared with these tests, and
`desk`: the house's operators, each with a token, calling the gateway over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from tests.gateway.conftest import PeopleMaker, Running, gateway, make_bidder, make_people, make_sale
from tests.house.desk import Desk

__all__ = ["desk", "gateway", "make_bidder", "make_people", "make_sale"]


@pytest.fixture
async def desk(gateway: Running, pg: asyncpg.Pool, make_people: PeopleMaker) -> AsyncIterator[Desk]:
    people = await make_people()
    headers = {role: await person.headers(pg) for role, person in people.items()}
    async with aiohttp.ClientSession(gateway.http) as http:
        yield Desk(http, headers, people)
