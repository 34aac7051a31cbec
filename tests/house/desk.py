"""The house's desk over HTTP, for the tests: every call made as a role, its status checked, and bodies for a
consignor, a stone and a sale that the rules accept (each test changes what it is about)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from auction.diamonds import Shape
from auction.measurements import typical_measurements
from tests.gateway.conftest import Person

USD = 100  # minor units per dollar


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Desk:
    http: aiohttp.ClientSession
    headers: dict[str, dict[str, str]]  # role -> its Authorization header ({} for anonymous)
    people: dict[str, Person]

    async def call(
        self, method: str, path: str, role: str, status: int, body: Any = None, *, data: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:  # fmt: skip
        """The JSON answer (or the text of one that isn't JSON) of a call made as `role`, which must be `status`."""
        headers = dict(self.headers[role])
        if content_type is not None:
            headers["Content-Type"] = content_type
        kwargs: dict[str, Any] = {"data": data} if data is not None else ({"json": body} if body is not None else {})
        async with self.http.request(method, path, headers=headers, **kwargs) as reply:
            answer = await reply.json() if reply.content_type == "application/json" else await reply.text()
            assert reply.status == status, f"{method} {path} as {role}: {reply.status} {answer}"
            return answer

    async def consignor(self, name: str = "Abrams Fine Gems", **agreement: Any) -> dict[str, Any]:
        body = {"kind": "company", "name": name, "agreement": {"currency": "USD", **agreement}}
        made: dict[str, Any] = await self.call("POST", "/api/house/consignors", "vetting_officer", 201, body)
        return made

    async def stone(self, consignor: int, status: int = 201, **fields: Any) -> dict[str, Any]:
        made: dict[str, Any] = await self.call(
            "POST", f"/api/house/consignors/{consignor}/stones", "auctioneer", status, stone_body(**fields)
        )
        return made

    async def draft(self, sale_id: int, status: int = 201, **terms: Any) -> dict[str, Any]:
        made: dict[str, Any] = await self.call(
            "POST", "/api/house/sales", "auctioneer", status, {"id": sale_id, "terms": sale_terms(**terms)}
        )
        return made

    async def put_lot(self, sale: int, lot: int, stone: int, opening: int = 500 * USD, status: int = 200) -> Any:
        body = {"stone": stone, "opening": opening}
        return await self.call("PUT", f"/api/house/sales/{sale}/lots/{lot}", "auctioneer", status, body)

    async def publish(self, sale: int, status: int = 200) -> Any:
        return await self.call("POST", f"/api/house/sales/{sale}/publication", "auctioneer", status)

    async def audit(self, action: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = await self.call("GET", "/api/audit", "admin", 200)
        return [entry for entry in entries if entry["action"] == action]


def stone_body(points: int = 152, shape: Shape = "Round", **fields: Any) -> dict[str, Any]:
    """A loose stone with its GIA report, measurements that fit its weight, estimates and a reserve."""
    size = typical_measurements(shape, points)
    body: dict[str, Any] = {
        "carat_points": points, "shape": shape, "colour": "G", "clarity": "VS2", "polish": "Excellent",
        "symmetry": "Excellent", "fluorescence": "None", "lab": "GIA", "report_number": f"22{points}{shape[:2]}01",
        "low_estimate": 8_000 * USD, "high_estimate": 12_000 * USD, "reserve": 6_000 * USD, "origin": "Botswana",
        "measurements": {"length": size.length, "width": size.width, "depth": size.depth} if size else None,
    }  # fmt: skip
    if shape == "Round":
        body["cut"] = "Excellent"
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def sale_terms(**terms: Any) -> dict[str, Any]:
    """A timed sale open now, its first lot closing in two minutes."""
    now = now_ms()
    return {"name": "Important Diamonds", "currency": "USD", "starts_at_ms": now - 1_000,
            "first_close_ms": now + 120_000, **terms}  # fmt: skip
