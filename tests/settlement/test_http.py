"""Settlement's routes: documented exactly as routed, and served."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from auction.gateway.http import errors
from auction.httpkit import JSON, document
from settlement.http import add_routes


async def test_routes_are_documented_and_answer(pg: asyncpg.Pool) -> None:
    app = web.Application(middlewares=[errors])
    table = add_routes(app, pg)
    doc = document(table, "settlement", "test")
    routed = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    assert routed == {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    async with TestClient(TestServer(app)) as client:
        missing = await client.get("/api/settlement/sales/1/invoices/999999")
        assert missing.status == 404 and (await missing.json())["error"]["code"] == "not_found"
        bad = await client.post("/api/settlement/invoices/1/payments", data=b"{", headers={"Content-Type": JSON})
        assert bad.status == 400
        form = await client.post("/api/settlement/invoices/1/payments", data=b"amount=1")  # not JSON: 415
        assert form.status == 415 and (await form.json())["error"]["field"] == "content_type"
        check = await client.get("/api/settlement/reconcile")
        assert check.status == 200 and "clean" in await check.json()
