"""The catalogue file over HTTP against real Redis and PostgreSQL: the documented example imports, a file is
imported in one call and exported so that it imports again, and a file with bad rows is refused whole, naming
every bad cell by line and column, with nothing written. And the command line does the same as the routes."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from auction.catalogue_file import COLUMNS, hundredths, read_rows
from tests.house.desk import Desk

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "catalogue-example.csv"
CSV = "text/csv"


def _with_consignors(text: str, consignors: dict[str, int]) -> bytes:
    """The file with its consignor column's ids replaced by those of this database."""
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        row["consignor"] = str(consignors.get(row["consignor"], row["consignor"]))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def _import(desk: Desk, sale: int, content: bytes, status: int) -> Any:
    path = f"/api/house/sales/{sale}/catalogue"
    return await desk.call("PUT", path, "auctioneer", status, data=content, content_type=CSV)


async def _stone_count(pg: asyncpg.Pool) -> int:
    count: int = await pg.fetchval("SELECT count(*) FROM consigned_stones")
    return count


def test_the_files_numbers_are_read_exactly() -> None:
    assert [hundredths(text) for text in ("1.52", "1.5", "2", "0.05", "10.25")] == [152, 150, 200, 5, 1025]
    _, problems = read_rows("lot,opening,carat\n1,100,1.523\n2,100,1,5\n")
    assert [(p.line, p.column) for p in problems] == [(2, "carat"), (3, "")]  # 3 decimals; a cell too many


async def test_the_example_imports_and_what_is_exported_imports_again(
    desk: Desk, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    consignors = {"1": (await desk.consignor())["id"], "2": (await desk.consignor("De Wit Diamonds BV"))["id"]}
    sale = new_sale_id()
    await desk.draft(sale)
    imported = await _import(desk, sale, _with_consignors(EXAMPLE.read_text(), consignors), 200)
    assert (imported["lots"], len(imported["stones_taken_in"])) == (5, 5)
    built = await desk.call("GET", f"/api/house/sales/{sale}", "auctioneer", 200)
    assert [lot["title"] for lot in built["lots"]] == [
        "1.52 ct Round G VS2", "2.01 ct Oval E VVS2", "A diamond ring, the centre stone about 0.85 ct",
        "10.25 ct Rough", "1.20 ct Pear Fancy Intense Yellow SI1",
    ]  # fmt: skip
    assert built["problems"] == []
    overrides = {e["target"] for e in await desk.audit("report_overridden")}
    assert {f"stone:{built['lots'][i]['stone_id']}" for i in (3, 4)} <= overrides  # the two without a report

    exported = await desk.call("GET", f"/api/house/sales/{sale}/catalogue", "clerk", 200)
    stones = await _stone_count(pg)
    again = await _import(desk, sale, exported.encode(), 200)  # names the same stones: none taken in again
    assert (again["lots"], again["stones_taken_in"], await _stone_count(pg)) == (5, [], stones)
    assert (await desk.call("GET", f"/api/house/sales/{sale}", "auctioneer", 200))["lots"] == built["lots"]
    assert await desk.call("GET", f"/api/house/sales/{sale}/catalogue", "clerk", 200) == exported
    # the same file into another sale: its stones are in this one
    other = new_sale_id()
    await desk.draft(other)
    refused = await _import(desk, other, exported.encode(), 400)
    assert [(p["line"], p["column"]) for p in refused["problems"]] == [(line, "stone") for line in range(2, 7)]
    published = await desk.publish(sale)
    assert published["status"] == "published"
    listed = await desk.call("GET", f"/api/sales/{sale}/lots", "anonymous", 200)
    assert listed[4]["listing"]["details"]["treatments"] == "HPHT; Laser drilling"
    assert listed[3]["listing"]["details"]["kp_certificate"] == "BW 0012345"


async def test_a_file_with_bad_rows_is_refused_whole_naming_every_one(
    desk: Desk, pg: asyncpg.Pool, new_sale_id: Callable[[], int]
) -> None:
    consignor = (await desk.consignor())["id"]
    sale = new_sale_id()
    await desk.draft(sale)
    good = _with_consignors(EXAMPLE.read_text(), {"1": consignor, "2": consignor})
    await _import(desk, sale, good, 200)
    before = await desk.call("GET", f"/api/house/sales/{sale}", "auctioneer", 200)
    stones = await _stone_count(pg)

    lines = good.decode().splitlines()
    lines[1] = lines[1].replace(",1.52,", ",1.5.2,")  # line 2: the weight
    lines[2] = lines[2].replace(",Oval,", ",Triangle,")  # line 3: the shape
    lines[3] = lines[3].removesuffix(",180000") + ",300000"  # line 4: a reserve above the low estimate
    lines[4] = lines[4].replace("4,,", "1,,", 1)  # line 5: lot 1 again
    lines.append(
        lines[5].replace("5,,", "6,,", 1).replace(f",{consignor},", ",999999999,", 1)
    )  # line 7: no such consignor
    bad = ("\n".join(lines) + "\n").encode()
    refused = await _import(desk, sale, bad, 400)
    cells = [(p["line"], p["column"]) for p in refused["problems"]]
    assert cells == [(2, "carat"), (3, "shape"), (4, "reserve"), (5, "lot"), (7, "consignor")], refused
    assert refused["error"]["code"] == "invalid" and "5 problem(s), the first on line 2" in refused["error"]["message"]
    assert "may not exceed the low estimate" in refused["problems"][2]["message"]
    # nothing was written: the draft's lots as they were, no stone taken in, nothing on the audit log
    assert await desk.call("GET", f"/api/house/sales/{sale}", "auctioneer", 200) == before
    assert await _stone_count(pg) == stones
    assert sum(e["target"] == f"sale:{sale}" for e in await desk.audit("catalogue_imported")) == 1

    unknown = await _import(desk, sale, b"lot,opening,colour,sparkle\n1,100,G,lots\n", 400)
    assert [(p["line"], p["column"]) for p in unknown["problems"]] == [(1, "sparkle")]
    await _import(desk, sale, b"\xff\xfe\x00", 400)
    await _import(desk, sale, b"x" * (2 * 1024 * 1024 + 1), 413)


async def test_the_command_line_imports_exports_and_publishes_as_the_operator_it_names(
    desk: Desk, redis_url: str, database_url: str, tmp_path: Path, new_sale_id: Callable[[], int]
) -> None:
    consignor = (await desk.consignor())["id"]
    sale = new_sale_id()
    await desk.draft(sale)
    file = tmp_path / "catalogue.csv"
    file.write_bytes(_with_consignors(EXAMPLE.read_text(), {"1": consignor, "2": consignor}))

    async def auction(*argv: str) -> subprocess.CompletedProcess[str]:
        env = {"AUCTION_REDIS_URL": redis_url, "AUCTION_DATABASE_URL": database_url, "AUCTION_STATE_DIR": str(tmp_path)}
        clean = {name: value for name, value in os.environ.items() if not name.startswith("AUCTION_")}
        return await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "auction", *argv], env={**clean, **env}, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip

    clerk, auctioneer = (desk.people[role].account.email for role in ("clerk", "auctioneer"))  # type: ignore[union-attr]
    refused = await auction("catalogue", "import", str(sale), str(file), "--by", clerk)
    assert refused.returncode == 2 and "--by" in refused.stderr, refused.stderr
    done = await auction("catalogue", "import", str(sale), str(file), "--by", auctioneer)
    assert done.returncode == 0 and '"lots":5' in done.stdout, done.stderr
    exported = await auction("catalogue", "export", str(sale))
    assert exported.returncode == 0 and exported.stdout.splitlines()[0] == ",".join(COLUMNS)
    bad = tmp_path / "bad.csv"
    bad.write_text(exported.stdout.replace(",Round,", ",Triangle,"))
    wrong = await auction("catalogue", "import", str(sale), str(bad), "--by", auctioneer)
    assert wrong.returncode == 1 and wrong.stderr.startswith("line 2, shape: "), wrong.stderr
    published = await auction("sale", "publish", str(sale), "--by", auctioneer)
    assert published.returncode == 0 and '"status":"published"' in published.stdout, published.stderr
    withdrawn = await auction("sale", "withdraw", str(sale), "3", "--reason", "the ring is to be remounted", "--by",
                              auctioneer)  # fmt: skip
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert (await desk.call("GET", f"/api/sales/{sale}/lots/3", "anonymous", 200))["live"]["status"] == "withdrawn"
