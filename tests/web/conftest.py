"""The web rooms in a real browser: Playwright driving Debian's Chromium against a real gateway and the worker's
loops, over the session's Redis and PostgreSQL.

What a test gets:
- `site`: a gateway (ops.app.make_app, as `auction gateway` serves it) on a free port, its own store as
  run_gateway builds it; `site.url(path)`.
- `make_sale(...)`: a sale in the catalogue and the store, with the worker's loops for it (scheduler: timed lots
  open and close on time; persister; settlement), as `auction worker` runs them, limited to that sale.
- `people`: one account of every role, each with a password (the consignor's lots are `people.consignor_id`'s).
- `register(sale, paddle, ...)`: the buyer's company registered and approved in a sale, its standing published.
- `context_for(role, viewport="desktop"|"phone")`: a fresh browser context, signed in as that role through the
  login API (anonymous: not signed in), at 1400x900 or 390x844; `page_for(...)` a page in one. Every page's
  console errors and uncaught exceptions are collected and the test fails on any (`browser_errors`).
- One browser for the whole session, a context per test: contexts are cheap, browsers are not.

Without Playwright or without Chromium (CHROMIUM below), every test here is skipped with the reason, and the
run's summary says plainly that the browser tests were not run and why: never a silent pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
import pytest
from aiohttp import web
from redis.asyncio import Redis

from auction import catalog, identity, vetting
from auction.catalog import NewLot, NewSale, SaleSettings
from auction.diamonds import Diamond
from auction.engine.ladder import Band, Ladder
from auction.engine.state import LiveTerms, SoftClose
from auction.persister import Persister
from auction.scheduler import Scheduler
from auction.store import BACKGROUND_PRIORITY, GATEWAY_PRIORITY, LotStore, service_store
from ops.app import make_app
from settlement.service import SettlementService

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright

CHROMIUM = os.environ.get("AUCTION_CHROMIUM", "/usr/bin/chromium")
VIEWPORTS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
Viewport = Literal["desktop", "phone"]
ROLES = ("buyer", "consignor", "vetting_officer", "auctioneer", "clerk", "settlement_officer", "admin")
PASSWORD = "correct horse battery staple"
TIMEOUT_MS = 20_000  # a busy 2-core machine running the whole suite: a page waits, a wrong one still fails


def _playwright_missing() -> bool:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return True
    return False


PLAYWRIGHT_MISSING = _playwright_missing()


def _why_not_run() -> str | None:
    """Why the browser tests can't run here, or None if they can."""
    if PLAYWRIGHT_MISSING:
        return "Playwright is not installed (pip install -e '.[dev]' installs it)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    return None


WHY_NOT_RUN = _why_not_run()
HERE = Path(__file__).resolve().parent
_NOT_RUN: list[str] = []  # what was skipped or not even collected, for the summary's banner


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without Playwright a browser test module can't even be imported: it is left out, and counted."""
    if PLAYWRIGHT_MISSING and collection_path.parent == HERE and collection_path.name.startswith("test_"):
        _NOT_RUN.append(f"{collection_path.name} (not collected)")
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if WHY_NOT_RUN is None:
        return
    mark = pytest.mark.skip(reason=f"browser tests not run: {WHY_NOT_RUN}")
    for item in items:
        if Path(str(item.fspath)).resolve().parent == HERE:
            item.add_marker(mark)
            _NOT_RUN.append(item.nodeid)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _NOT_RUN:
        terminalreporter.write_sep("!", "BROWSER TESTS NOT RUN", yellow=True, bold=True)
        terminalreporter.write_line(
            f"{len(_NOT_RUN)} browser tests (or test files) of tests/web were not run: {WHY_NOT_RUN}."
        )


# ---- the browser ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    from playwright.async_api import async_playwright

    async with async_playwright() as running:
        yield running


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    try:
        yield launched
    finally:
        await launched.close()


# ---- the server -----------------------------------------------------------------------------------------------


@dataclass
class Site:
    base: str  # http://127.0.0.1:port
    app: web.Application
    store: LotStore
    redis: Redis
    pg: asyncpg.Pool

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
async def site(redis: Redis, pg: asyncpg.Pool) -> AsyncIterator[Site]:
    store = service_store(redis, pg, priority=GATEWAY_PRIORITY)  # as run_gateway builds it
    app = make_app(redis, pg, store)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]
    try:
        yield Site(f"http://127.0.0.1:{port}", app, store, redis, pg)
    finally:
        await runner.cleanup()
        await store.close()


class Worker:
    """The loops of `auction worker` (ops/worker.py) for the sales a test makes, each limited to its sale."""

    def __init__(self, redis: Redis, pg: asyncpg.Pool) -> None:
        self.redis = redis
        self.pg = pg
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.stores: list[LotStore] = []

    def run_sale(self, sale: int) -> None:
        only = frozenset({sale})
        store = service_store(self.redis, self.pg, priority=BACKGROUND_PRIORITY)
        self.stores.append(store)
        loops = [
            Scheduler(store, self.redis, tick_ms=50, only_sales=only).run,
            Persister(self.redis, self.pg, only_sales=only).run,
            SettlementService(self.redis, self.pg, only_sales=only).run,
        ]
        self.tasks += [asyncio.create_task(loop(self.stop)) for loop in loops]

    async def close(self) -> None:
        # A moment for the loops to stop by themselves, then cancelled: settlement's sweep goes over every open
        # invoice of the session (other tests' too) and would hold each test's teardown for seconds. Every loop's
        # work is idempotent, as a worker killed anywhere must be.
        self.stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 0.5)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for store in self.stores:
            await store.close()


@pytest.fixture
async def worker(redis: Redis, pg: asyncpg.Pool) -> AsyncIterator[Worker]:
    running = Worker(redis, pg)
    try:
        yield running
    finally:
        await running.close()


# ---- people ---------------------------------------------------------------------------------------------------


@dataclass
class Person:
    role: str
    account: identity.Account | None
    email: str = ""
    password: str = PASSWORD


@dataclass
class People:
    by_role: dict[str, Person]
    consignor_id: int  # the consignor whose lots make_sale's sales hold
    company_id: int  # the buyer's company

    def __getitem__(self, role: str) -> Person:
        return self.by_role[role]


@pytest.fixture
async def people(pg: asyncpg.Pool) -> People:
    """One account of every role, with a password: the buyer is a representative of an approved company (by
    fiat), the consignor consigns the lots of the test's sales."""
    tag = secrets.token_hex(4)
    bidder, _ = await catalog.add_bidder(pg, f"Fiat rep {tag}", f"Carat Traders {tag}")
    consignor_id = await catalog.add_consignor(pg, f"Consignor {tag}", "Stones Ltd")
    by_role = {"anonymous": Person("anonymous", None)}
    for role in ROLES:
        email = f"{role}-{tag}@example.test"
        name = {"buyer": "Ada Buyer", "consignor": "Cora Consignor"}.get(role, role.replace("_", " ").title())
        account = await identity.create_account(
            pg, email, name, PASSWORD, role,  # type: ignore[arg-type]
            company_id=bidder.id if role == "buyer" else None,
            consignor_id=consignor_id if role == "consignor" else None,
        )  # fmt: skip
        by_role[role] = Person(role, account, email)
    return People(by_role, consignor_id, bidder.id)


# ---- sales ----------------------------------------------------------------------------------------------------

FLAT_1000 = Ladder((Band(0, 1_000),))  # a live sale's ladder: after a bid at P the ask is P + 1,000

STONES = [
    Diamond(carat_points=152, shape="Round", colour="G", clarity="VS2", cut="Excellent", polish="Excellent",
            symmetry="Very Good", fluorescence="None", measurements="7.35-7.39 x 4.52 mm", lab="GIA",
            report_number="2211430001"),
    Diamond(carat_points=201, shape="Oval", colour="E", clarity="VVS1", polish="Excellent", symmetry="Excellent",
            fluorescence="Faint", measurements="9.80 x 7.10 x 4.40 mm", lab="HRD", report_number="HRD-220918"),
    Diamond(carat_points=75, shape="Cushion", fancy_colour="Fancy Intense Yellow", clarity="SI1", lab="IGI",
            report_number="LG5511902"),
    Diamond(carat_points=330, shape="Emerald", colour="H", clarity="VS1", polish="Very Good", symmetry="Good",
            fluorescence="Medium", lab="GIA", report_number="6432109876"),
]  # fmt: skip


def now_ms() -> int:
    return int(time.time() * 1000)


SaleMaker = Callable[..., Awaitable[NewSale]]


@pytest.fixture
def make_sale(
    pg: asyncpg.Pool, site: Site, worker: Worker, people: People, new_sale_id: Callable[[], int]
) -> SaleMaker:
    """A timed sale open now, lot k closing `closes_in_s` + (k-1) * `stagger_s` from now, with the engine's soft
    close unless given (a test that lets a lot close soon gives a short one); a live sale with
    `live` instead, on the FLAT_1000 ladder, its lots waiting for the rostrum; consigned by `people.consignor_id`;
    the worker's loops run for it."""

    async def make(
        lots: int = 3,
        closes_in_s: float = 600,
        stagger_s: float = 60,
        reserve: int = 50_000,
        opening: int = 10_000,
        live: LiveTerms | None = None,
        name: str = "Important Diamonds",
        starts_in_s: float = -1,
        soft_close: SoftClose | None = None,
    ) -> NewSale:
        settings = (
            SaleSettings(ladder=FLAT_1000, live=live)
            if live is not None
            else SaleSettings(stagger_ms=int(stagger_s * 1000), soft_close=soft_close or SoftClose())
        )
        sale = NewSale(
            id=new_sale_id(),
            name=name,
            currency="USD",
            format="live" if live is not None else "timed",
            settings=settings,
            starts_at_ms=now_ms() + int(starts_in_s * 1000),
            first_close_ms=now_ms() + int(closes_in_s * 1000),
            lots=[
                NewLot(
                    lot=n,
                    title=f"{STONES[(n - 1) % len(STONES)].shape} diamond, lot {n}",
                    consignor_id=people.consignor_id,
                    diamond=STONES[(n - 1) % len(STONES)],
                    low_estimate=max(reserve, 100_000),
                    high_estimate=max(reserve, 100_000) * 2,
                    reserve=reserve,
                    opening=opening,
                )
                for n in range(1, lots + 1)
            ],
        )
        assert catalog.sale_problems(sale) == []
        await catalog.insert_sale(pg, sale)
        await site.store.create_lots(catalog.terms_for(sale))
        worker.run_sale(sale.id)
        return sale

    return make


Registrar = Callable[..., Awaitable[None]]


@pytest.fixture
def register(pg: asyncpg.Pool, site: Site, people: People) -> Registrar:
    """Register a company in a sale with a paddle (approved by fiat) and publish its standing to the engine;
    the buyer's company unless `company` is given."""

    async def make(sale: int, paddle: int, limit: int | None = None, company: int | None = None) -> None:
        bidder = company if company is not None else people.company_id
        await catalog.register(pg, sale, bidder, paddle, limit)
        await vetting.publish_standing(pg, site.store, sale, bidder)

    return make


BotMaker = Callable[..., Awaitable[tuple[int, str]]]


@pytest.fixture
def make_bot(pg: asyncpg.Pool, register: Registrar) -> BotMaker:
    """Another bidder in a sale: an approved company registered with `paddle`; returns (company, API token)."""

    async def make(sale: int, paddle: int) -> tuple[int, str]:
        bidder, token = await catalog.add_bidder(pg, f"Bot {paddle}", f"Bot Co {paddle} {secrets.token_hex(3)}")
        await register(sale, paddle, company=bidder.id)
        return bidder.id, token

    return make


# ---- browser contexts -----------------------------------------------------------------------------------------

# A refused API call is logged by Chromium as "Failed to load resource: ... status of 4xx": that is the network's
# log of an answer the page handles (signed out: /api/me is 401), not an error of the page's own. 5xx stays an error.
_HANDLED_REFUSAL = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")


@dataclass
class BrowserErrors:
    seen: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not _HANDLED_REFUSAL.search(message.text):
            self.seen.append(f"console: {message.text} ({message.location.get('url', '')})")

    def page_error(self, error: Exception) -> None:
        self.seen.append(f"pageerror: {error}")

    def watch(self, page: Page) -> Page:
        page.on("console", self.console)
        page.on("pageerror", self.page_error)
        return page


@pytest.fixture
def browser_errors() -> Iterator[BrowserErrors]:
    errors = BrowserErrors()
    yield errors
    assert errors.seen == [], "the pages logged errors:\n" + "\n".join(errors.seen)


ContextMaker = Callable[..., Awaitable["BrowserContext"]]
PageMaker = Callable[..., Awaitable["Page"]]


async def sign_in(context: BrowserContext, site: Site, person: Person) -> None:
    """Through POST /api/login, as the sign-in page does: the session cookie lands in the context."""
    answer = await context.request.post(
        site.url("/api/login"),
        data={"email": person.email, "password": person.password},
        headers={"Origin": site.base},
    )
    assert answer.ok, await answer.text()


@pytest.fixture
async def context_for(
    browser: Browser, site: Site, people: People, browser_errors: BrowserErrors
) -> AsyncIterator[ContextMaker]:
    """A fresh context per call (cookies and storage of its own), signed in as `role`, at a viewport."""
    made: list[BrowserContext] = []

    async def make(role: str = "anonymous", viewport: Viewport = "desktop") -> BrowserContext:
        context = await browser.new_context(
            base_url=site.base, viewport=VIEWPORTS[viewport], locale="en-US", timezone_id="Europe/London",
            is_mobile=viewport == "phone", has_touch=viewport == "phone",
        )  # fmt: skip
        context.set_default_timeout(TIMEOUT_MS)
        made.append(context)
        context.on("page", browser_errors.watch)
        if role != "anonymous":
            await sign_in(context, site, people[role])
        return context

    yield make
    for context in made:
        await context.close()


@pytest.fixture
def page_for(context_for: ContextMaker) -> PageMaker:
    """A page in a fresh context signed in as `role`; its errors are watched (browser_errors)."""

    async def make(role: str = "anonymous", viewport: Viewport = "desktop") -> Page:
        context = await context_for(role, viewport)
        return await context.new_page()

    return make
