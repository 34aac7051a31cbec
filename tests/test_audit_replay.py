"""`auction audit replay` against real Redis and PostgreSQL: a sale run through the store, recorded by the
persister and billed by settlement agrees with itself; differences planted in settlement's books (a hammer that
differs, a sold lot without a bill, a bill for a passed lot) are each found and named, and the command exits 1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from auction import audit, catalog, vetting
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.diamonds import Diamond
from auction.engine.messages import CloseLot, PlaceBid
from auction.persister import Persister
from auction.store import Accepted, LotStore
from settlement.service import SettlementService

START = 1_700_000_000_000
CLOSE = START + 3_600_000
USD = 100


async def run_sale(redis: Redis, pg: asyncpg.Pool, sale_id: int) -> tuple[int, int]:
    """Lot 1 sold to B at 2,500 over A; lot 2 sold to A at the opening; lot 3 passed below its reserve. Recorded
    and settled as the worker would. Returns (A, B)."""
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    stone = Diamond(carat_points=90, shape="Round", colour="G", clarity="VS2")
    reserves = {1: 1_000 * USD, 2: 0, 3: 9_000 * USD}
    sale = NewSale(
        id=sale_id, name="replay", currency="USD", starts_at_ms=START, first_close_ms=CLOSE, settings=SaleSettings(),
        lots=[NewLot(lot=n, title=f"stone {n}", consignor_id=consignor, diamond=stone, low_estimate=10_000 * USD,
                     high_estimate=20_000 * USD, reserve=reserves[n], opening=500 * USD) for n in (1, 2, 3)],
    )  # fmt: skip
    await catalog.insert_sale(pg, sale)
    store = LotStore(redis, pg=pg, enforce_standing=True)
    try:
        await store.create_lots(catalog.terms_for(sale))
        a, b = [(await catalog.add_bidder(pg, f"Buyer {n}", f"Replay Co {sale_id}-{n}"))[0].id for n in (1, 2)]
        for paddle, company in ((11, a), (12, b)):
            await catalog.register(pg, sale_id, company, paddle)
            await vetting.publish_standing(pg, store, sale_id, company)
        for lot, bidder, paddle, amount in [(1, a, 11, 1_500), (1, b, 12, 2_500), (2, a, 11, 500), (3, b, 12, 600)]:
            command = PlaceBid(START + 1_000, bidder, paddle, amount * USD, f"r{lot}-{bidder}")
            assert isinstance(await store.execute(sale_id, lot, command), Accepted)
        for terms in catalog.terms_for(sale):
            assert isinstance(await store.execute(sale_id, terms.lot, CloseLot(at_ms=terms.end_ms + 1)), Accepted)
        await Persister(redis, pg, only_sales=frozenset({sale_id})).drain_once()
        assert await SettlementService(redis, pg, only_sales=frozenset({sale_id})).drain_once() == 3
    finally:
        await store.close()
    return a, b


async def replay_command(redis_url: str, database_url: str, state: Path, sale: int) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUCTION_")}
    env |= {"AUCTION_REDIS_URL": redis_url, "AUCTION_DATABASE_URL": database_url, "AUCTION_STATE_DIR": str(state)}
    argv = [sys.executable, "-m", "auction", "audit", "replay", str(sale)]
    return await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_an_honest_sale_agrees_and_planted_differences_are_each_found(
    redis: Redis, pg: asyncpg.Pool, redis_url: str, database_url: str, tmp_path: Path, new_sale_id: Callable[[], int]
) -> None:
    sale = new_sale_id()
    a, b = await run_sale(redis, pg, sale)

    honest = await audit.replay(pg, sale)
    assert honest.ok, honest.report()
    assert [str(result) for result in honest.results] == [
        f"sold to buyer {b} at {2_500 * USD}",
        f"sold to buyer {a} at {500 * USD}",
        "passed",
    ]
    assert (honest.lines, honest.passed) == (2, 1)
    agreed = await replay_command(redis_url, database_url, tmp_path, sale)
    assert agreed.returncode == 0 and "they agree" in agreed.stdout, agreed.stdout + agreed.stderr

    # Settlement's books, tampered with: lot 1 billed 1.00 more than its hammer; lot 2's line moved to lot 3.
    await pg.execute(
        "UPDATE invoice_lines SET hammer = hammer + 100, total = total + 100, consignor_net = consignor_net + 100 "
        "WHERE sale_id = $1 AND lot_no = 1",
        sale,
    )
    await pg.execute("UPDATE invoice_lines SET lot_no = 3 WHERE sale_id = $1 AND lot_no = 2", sale)

    line = {
        row["lot_no"]: row["id"]
        for row in await pg.fetch("SELECT id, lot_no FROM invoice_lines WHERE sale_id = $1", sale)
    }
    found = await audit.replay(pg, sale)
    assert [(problem.lot, problem.message) for problem in found.problems] == [
        (1, f"sold to buyer {b} at {2_500 * USD}, but invoice line {line[1]} bills buyer {b} at "
            f"{2_500 * USD + 100} (hammer)"),
        (2, f"sold to buyer {a} at {500 * USD}, but no invoice line bills it"),
        (3, f"passed on the record, but invoice line {line[3]} bills buyer {a} at {500 * USD} (hammer)"),
    ]  # fmt: skip
    assert [p.lot for p in (await audit.replay(pg, sale, 3)).problems] == [3]  # one lot asked for: its own only
    differs = await replay_command(redis_url, database_url, tmp_path, sale)
    assert differs.returncode == 1, differs.stdout + differs.stderr
    assert "3 difference(s)" in differs.stdout and "but no invoice line bills it" in differs.stdout
