"""The catalogue creates a sale only in a format the house runs (timed, live and tender); any other is refused,
naming `format`. A live sale's settings, and a tender's, reach its lots' terms, whether built for the store or read
back from the record; a tender is inserted only with its key (auction/tender/creation.py)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

from auction import catalog
from auction.catalog import (
    RUNNABLE_FORMATS,
    NewLot,
    NewSale,
    SaleRefused,
    SaleSettings,
    TenderSettings,
    UnsupportedFormat,
)
from auction.diamonds import Diamond
from auction.engine.formats import FORMATS
from auction.engine.state import LiveTerms, TenderTerms

START = 1_700_000_000_000


DEFAULTS = SaleSettings()


def sale_of(sale_id: int, sale_format: str, consignor: int = 1, settings: SaleSettings = DEFAULTS) -> NewSale:
    stone = Diamond(carat_points=90, shape="Round", colour="G", clarity="VS2")
    lot = NewLot(lot=1, title="a round", consignor_id=consignor, diamond=stone, low_estimate=1000, high_estimate=2000,
                 reserve=500, opening=100)  # fmt: skip
    return NewSale(id=sale_id, name="formats", currency="USD", starts_at_ms=START, first_close_ms=START + 60_000,
                   lots=[lot], format=sale_format, settings=settings)  # type: ignore[arg-type]  # fmt: skip


def test_every_runnable_format_is_one_the_engine_decides() -> None:
    assert RUNNABLE_FORMATS.issubset(FORMATS)
    assert {"timed", "live", "tender"} <= RUNNABLE_FORMATS


@pytest.mark.parametrize("sale_format", ["dutch"])
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


async def test_a_live_sales_settings_reach_its_lots_terms(pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    live = LiveTerms(auto_accept=False, missed_bid_window_ms=2_500, house_bids=True)
    sale = sale_of(new_sale_id(), "live", consignor, SaleSettings(live=live))
    assert catalog.sale_problems(sale) == []
    await catalog.insert_sale(pg, sale)
    built, stored = catalog.terms_for(sale), await catalog.stored_terms(pg, sale.id)
    assert [(t.format, t.live) for t in built] == [("live", live)]
    assert stored == built


async def test_a_live_sale_takes_the_engines_defaults(pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    sale = sale_of(new_sale_id(), "live", consignor)
    await catalog.insert_sale(pg, sale)
    assert [t.live for t in await catalog.stored_terms(pg, sale.id)] == [LiveTerms()]


@pytest.mark.parametrize("window_ms", [-1, 60_001])
def test_a_missed_bid_window_out_of_bounds_is_a_problem(window_ms: int) -> None:
    sale = sale_of(1, "live", settings=SaleSettings(live=LiveTerms(missed_bid_window_ms=window_ms)))
    assert [problem.split(":")[0] for problem in catalog.sale_problems(sale)] == ["settings.live.missed_bid_window_ms"]


TENDER = TenderSettings(bids_from_ms=START + 10_000, acceptance_window_ms=3_600_000, threshold=2, officers=(4, 5, 6))


def test_a_tenders_windows_and_each_lots_weight_reach_its_terms() -> None:
    sale = sale_of(1, "tender", settings=SaleSettings(tender=TENDER))
    assert catalog.sale_problems(sale) == []
    [terms] = catalog.terms_for(sale)
    assert terms.tender == TenderTerms(START + 10_000, 3_600_000, 90)
    [timed] = catalog.terms_for(sale_of(1, "timed", settings=SaleSettings(tender=TENDER)))
    assert timed.tender == TenderTerms()  # only a tender's lots carry them


@pytest.mark.parametrize(
    ("tender", "field"),
    [
        (TenderSettings(bids_from_ms=START - 1, officers=(1, 2)), "settings.tender.bids_from_ms"),
        (TenderSettings(bids_from_ms=START + 60_000, officers=(1, 2)), "settings.tender.bids_from_ms"),
        (TenderSettings(bids_from_ms=START, threshold=3, officers=(1, 2)), "settings.tender.threshold"),
        (TenderSettings(bids_from_ms=START, officers=(1, 1)), "settings.tender.officers"),
    ],
)
def test_a_tenders_settings_out_of_order_are_problems(tender: TenderSettings, field: str) -> None:
    sale = sale_of(1, "tender", settings=SaleSettings(tender=tender))
    assert [problem.split(":")[0] for problem in catalog.sale_problems(sale)] == [field]


async def test_a_tender_is_inserted_only_with_its_key(pg: asyncpg.Pool, new_sale_id: Callable[[], int]) -> None:
    consignor = await catalog.add_consignor(pg, "Ruth Abrams", "Abrams Fine Gems")
    sale = sale_of(new_sale_id(), "tender", consignor, SaleSettings(tender=TENDER))
    with pytest.raises(SaleRefused) as refused:
        await catalog.insert_sale(pg, sale)
    assert refused.value.field == "format" and "/api/tenders" in str(refused.value)
    assert await pg.fetchval("SELECT count(*) FROM sales WHERE id = $1", sale.id) == 0
    async with pg.acquire() as conn, conn.transaction():
        await catalog.insert_sale_in(conn, sale, tender_keyed=True)
    assert await catalog.stored_terms(pg, sale.id) == catalog.terms_for(sale)
