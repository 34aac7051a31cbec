"""The demo builds its sales as the house's operators build one: over HTTP, through the house's routes
(auction/gateway/house.py, docs/CATALOGUE.md), never by writing the catalogue itself.

A vetting officer creates the consignors, each with a consignment agreement; the auctioneer starts a draft with
the sale's terms, brings in its stones, and publishes it, which loads it into the engine. The timed sale's stones
come in one catalogue file (the CSV import: every stone taken in and every lot made in one call); the live sale's
are taken in one by one and made lots of the draft, as an operator at the counter would. The operators' accounts
are made directly, as `auction admin create` makes the first one: what they then do goes through the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import msgspec

from auction import identity
from auction.catalog import NewLot, NewSale
from auction.catalogue_file import catalogue_text, cell_value
from auction.consignments import StoneIntake
from ops.demo.people import PASSWORD

ROLES: tuple[identity.Role, ...] = ("vetting_officer", "auctioneer")


class HouseDesk:
    """The house's operators, each with an API token, calling the gateway; a refused call raises RuntimeError."""

    def __init__(self, http: aiohttp.ClientSession, tokens: dict[str, str]) -> None:
        self.http = http
        self.tokens = tokens

    async def call(self, method: str, path: str, role: str, body: Any = None, csv: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        if csv is not None:
            headers["Content-Type"] = "text/csv"
        sent: dict[str, Any] = {"data": csv.encode()} if csv is not None else {"json": body}
        async with self.http.request(method, path, headers=headers, **sent) as reply:
            answer = await reply.json()
            if reply.status >= 300:
                raise RuntimeError(f"the house refused {method} {path}: {reply.status} {answer}")
            return answer

    async def consignor(self, name: str, company: str) -> int:
        """A company consignor on the house's default agreement (DOMAIN.md's: 10 % commission)."""
        body = {"kind": "company", "name": company, "email": f"{name.split()[0].lower()}@consignor.invalid",
                "agreement": {"currency": "USD"}}  # fmt: skip
        made = await self.call("POST", "/api/house/consignors", "vetting_officer", body)
        return int(made["id"])

    async def build(self, sale: NewSale, by_file: bool) -> None:
        """The sale as planned, drafted, its stones brought in (in one catalogue file, or one by one), published."""
        await self.call("POST", "/api/house/sales", "auctioneer", {"id": sale.id, "terms": sale_terms(sale)})
        if by_file:
            text = catalogue_text([catalogue_row(lot) for lot in sale.lots])
            await self.call("PUT", f"/api/house/sales/{sale.id}/catalogue", "auctioneer", csv=text)
        else:
            for lot in sale.lots:
                path = f"/api/house/consignors/{lot.consignor_id}/stones"
                stone = await self.call("POST", path, "auctioneer", msgspec.to_builtins(intake(lot)))
                body = {"stone": stone["id"], "opening": lot.opening, "title": lot.title}
                await self.call("PUT", f"/api/house/sales/{sale.id}/lots/{lot.lot}", "auctioneer", body)
        await self.call("POST", f"/api/house/sales/{sale.id}/publication", "auctioneer")


@asynccontextmanager
async def house_desk(base_url: str, pg: asyncpg.Pool, tag: str) -> AsyncIterator[HouseDesk]:
    """The desk's operators (`desk-<role>-<tag>@demo.invalid`) with their tokens, and a session to the gateway."""
    tokens: dict[str, str] = {}
    for role in ROLES:
        email = f"desk-{role}-{tag}@demo.invalid"
        account = await identity.create_account(pg, email, f"Demo {role}", PASSWORD, role)
        tokens[role] = (await identity.issue_token(pg, account.id, "api", name="demo house desk")).token
    async with aiohttp.ClientSession(base_url) as http:
        yield HouseDesk(http, tokens)


def sale_terms(sale: NewSale) -> dict[str, Any]:
    """The draft's terms (auction.sale_builder.SaleTerms) of the sale as the demo plans it."""
    settings = sale.settings
    soft = settings.soft_close
    live = settings.live
    return {
        "name": sale.name, "currency": sale.currency, "format": sale.format, "starts_at_ms": sale.starts_at_ms,
        "first_close_ms": sale.first_close_ms, "stagger_ms": settings.stagger_ms,
        "ladder": [{"starts_at": b.starts_at, "increment": b.increment} for b in settings.ladder.bands],
        "premium": [{"starts_at": b.starts_at, "rate_bp": b.rate_bp} for b in settings.premium.bands],
        "soft_close": {"window_ms": soft.window_ms, "extension_ms": soft.extension_ms, "cap_ms": soft.cap_ms},
        "live": {"auto_accept": live.auto_accept, "missed_bid_window_ms": live.missed_bid_window_ms,
                 "house_bids": live.house_bids},
    }  # fmt: skip


def catalogue_row(lot: NewLot) -> dict[str, str]:
    """The lot as a row of the catalogue file: a stone handed in now, with its consignor."""
    d = lot.diamond
    cells = {
        "lot": lot.lot, "consignor": lot.consignor_id, "title": lot.title, "opening": lot.opening,
        "carat": f"{d.carat_points // 100}.{d.carat_points % 100:02d}", "shape": d.shape, "colour": d.colour,
        "clarity": d.clarity, "cut": d.cut, "polish": d.polish, "symmetry": d.symmetry, "fluorescence": d.fluorescence,
        "measurements": d.measurements, "lab": d.lab, "report_number": d.report_number,
        "origin": lot.details.get("origin"), "low_estimate": lot.low_estimate, "high_estimate": lot.high_estimate,
        "reserve": lot.reserve,
    }  # fmt: skip
    return {column: "" if value is None else str(value) for column, value in cells.items()}


def intake(lot: NewLot) -> StoneIntake:
    """The lot's stone as it is handed in (its measurements read as the catalogue file reads them)."""
    d = lot.diamond
    return StoneIntake(
        carat_points=d.carat_points, shape=d.shape, low_estimate=lot.low_estimate, high_estimate=lot.high_estimate,
        reserve=lot.reserve, colour=d.colour, clarity=d.clarity, cut=d.cut, polish=d.polish, symmetry=d.symmetry,
        fluorescence=d.fluorescence, measurements=cell_value("measurements", d.measurements or ""), lab=d.lab,
        report_number=d.report_number, origin=lot.details.get("origin"),
    )  # fmt: skip
