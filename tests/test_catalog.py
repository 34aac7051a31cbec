"""The catalogue creates a sale only in a format the house runs; any other is refused, naming `format`."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

from auction import catalog
from auction.catalog import RUNNABLE_FORMATS, NewLot, NewSale, SaleRefused, UnsupportedFormat
from auction.diamonds import Diamond
from auction.engine.formats import FORMATS

START = 1_700_000_000_000


def sale_of(sale_id: int, sale_format: str, consignor: int = 1) -> NewSale:
    stone = Diamond(carat_points=90, shape="Round", colour="G", clarity="VS2")
    lot = NewLot(lot=1, title="a round", consignor_id=consignor, diamond=stone, low_estimate=1000, high_estimate=2000,
                 reserve=500, opening=100)  # fmt: skip
    return NewSale(id=sale_id, name="formats", currency="USD", starts_at_ms=START, first_close_ms=START + 60_000,
                   lots=[lot], format=sale_format)  # type: ignore[arg-type]  # fmt: skip


def test_every_runnable_format_is_one_the_engine_decides() -> None:
    assert RUNNABLE_FORMATS.issubset(FORMATS)
    assert "timed" in RUNNABLE_FORMATS


@pytest.mark.parametrize("sale_format", ["live", "tender"])
async def test_a_sale_in_a_format_not_run_yet_is_refused_naming_format(
    pg: asyncpg.Pool, new_sale_id: Callable[[], int], sale_format: str
) -> None:
    sale = sale_of(new_sale_id(), sale_format)
    assert [problem.split(":")[0] for problem in catalog.sale_problems(sale)] == ["format"]
    with pytest.raises(UnsupportedFormat) as refused:
        await catalog.insert_sale(pg, sale)
    assert isinstance(refused.value, SaleRefused) and refused.value.field == "format"
    assert repr(sale_format) in str(refused.value) and "timed" in str(refused.value)
    assert await pg.fetchval("SELECT count(*) FROM sales WHERE id = $1", sale.id) == 0


async def test_a_timed_sale_is_created(pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    sale = sale_of(new_sale_id(), "timed", consignor)
    assert catalog.sale_problems(sale) == []
    await catalog.insert_sale(pg, sale)
    summary = await catalog.sale_summary(pg, sale.id)
    assert summary is not None and (summary.format, summary.lots) == ("timed", 1)
