"""The operators' console in a real browser (static/console/): an officer vets a company and registers it, an
auctioneer runs a live lot from the keyboard against an online bidder, the settlement desk records a payment, and
every console page fits a phone and a desktop. Each person has a browser context of their own; any console error
or uncaught exception on a page fails the test (browser_errors)."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, get_args

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Page, expect

from auction import catalog, identity, vetting
from auction.engine.messages import HammerLot, OpenLot, TakeBid
from auction.engine.state import LiveTerms
from auction.gateway.access import MESSAGE_RULES
from auction.gateway.protocol import AnyRostrumMessage
from auction.identity import Account
from auction.store import Accepted
from tests.web.conftest import PASSWORD, ContextMaker, PageMaker, People, Registrar, SaleMaker, Site
from tests.web.room_shots import screenshot


async def _pending_company(pg: asyncpg.Pool) -> tuple[int, Account, str]:
    """A company that applied (pending) with one representative and a trade licence uploaded; (id, rep, name)."""
    tag = secrets.token_hex(3)
    name = f"Antwerp Facets {tag} BV"
    application = vetting.Application(
        legal_name=name, registration_number=f"BE-{tag}", country="BE", trade_licence="TL-2291",
        bank_reference=f"BE71 0961 2345 {tag}", kp_declaration=True, aml_declaration=True,
        representatives=[vetting.Representative("Rena Rep", f"rena-{tag}@facets.test", PASSWORD)],
    )  # fmt: skip
    company, [rep] = await vetting.apply(pg, application, frozenset(), None)
    await vetting.add_document(pg, company, "trade_licence", "licence.txt", "text/plain",
                               b"Antwerp trade licence TL-2291, valid to 2027", rep)  # fmt: skip
    return company, rep, name


async def _as(site: Site, email: str) -> aiohttp.ClientSession:
    """An HTTP session signed in as `email` (a buyer's own calls, which are the buyer's room's to make)."""
    jar = aiohttp.CookieJar(unsafe=True)  # the site is 127.0.0.1: a jar keeps an address's cookies only if unsafe
    session = aiohttp.ClientSession(site.base, headers={"Origin": site.base}, cookie_jar=jar)
    async with session.post("/api/login", json={"email": email, "password": PASSWORD}) as reply:
        assert reply.status == 200, await reply.text()
    return session


async def test_an_officer_approves_a_company_and_registers_it_for_a_sale(
    site: Site, pg: asyncpg.Pool, make_sale: SaleMaker, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=2, name="Autumn Whites")
    company, rep, name = await _pending_company(pg)
    officer = await page_for("vetting_officer")
    await officer.goto("/console/vetting")
    row = officer.locator(f"#queue tr[data-company='{company}']")
    await expect(row).to_contain_text("Pending")
    await row.get_by_role("link", name=name).click()
    file = officer.locator("#company-file")
    await expect(file.get_by_role("heading", name=re.compile(name))).to_be_visible()
    await expect(file).to_contain_text("licence.txt")
    await file.get_by_role("button", name="View licence.txt").click()
    await expect(officer.locator("#doc-preview")).to_contain_text("Antwerp trade licence TL-2291")
    decision = officer.locator("#decision-form")
    await decision.get_by_label("Decision").select_option("approve")
    await decision.get_by_label("Reason (on record)").fill("Licence and KP declaration checked")
    await decision.get_by_role("button", name="Record the decision").click()
    await expect(officer.locator("#status")).to_contain_text(f"{name}: Approved")
    await expect(file.get_by_role("heading", name=re.compile(name))).to_contain_text("Approved")

    buyer = await _as(site, rep.email)
    async with buyer:
        async with buyer.post(f"/api/sales/{sale.id}/registrations") as asked:
            assert asked.status == 201, await asked.text()
        await officer.goto(f"/console/registrations?sale={sale.id}")
        form = officer.locator(f"form.registration-decision[data-company='{company}']")
        await form.get_by_label("Paddle").fill("21")
        await form.get_by_label("Bidding limit (USD)").fill("5,000")
        await form.get_by_label("Deposit required (USD)").fill("0")
        await form.get_by_role("button", name="Approve").click()
        await expect(officer.locator("#status")).to_contain_text(f"{name} approved with paddle 21")
        row = officer.locator(f"#registrations tr[data-company='{company}']")
        await expect(row).to_contain_text("Approved")
        await expect(row).to_contain_text("$5,000.00")

        async with buyer.get(f"/api/sales/{sale.id}/registrations") as mine:  # the buyer's status, as the API has it
            [registration] = await mine.json()
        assert (registration["status"], registration["paddle"], registration["limit"]) == ("approved", 21, 500_000)
        async with buyer.post(f"/api/sales/{sale.id}/lots/1/bids",
                              json={"amount": 10_000, "client_id": "first-1"}) as bid:  # fmt: skip
            answer = await bid.json()
        assert (bid.status, answer["type"], answer["leading"]) == (200, "ack", True)


def test_the_rostrums_role_table_is_the_servers() -> None:
    """The rostrum hides what a role can't send: its table (rostrum_keys.js) must be access.MESSAGE_RULES."""
    from auction.gateway.pages import STATIC_ROOT

    source = (STATIC_ROOT / "console" / "rostrum_keys.js").read_text()
    groups = {"ROSTRUM": {"auctioneer", "admin"}, "CLERKS": {"auctioneer", "clerk", "admin"}}
    table = dict(re.findall(r"^\s+(\w+): (ROSTRUM|CLERKS),$", source, re.MULTILINE))
    assert re.search(r'const ROSTRUM = \["auctioneer", "admin"\];', source)
    assert re.search(r'const CLERKS = \["auctioneer", "clerk", "admin"\];', source)
    rostrum = {kind.__struct_config__.tag for kind in get_args(AnyRostrumMessage)}
    assert {kind: groups[group] for kind, group in table.items()} == {
        kind: set(roles) for kind, roles in MESSAGE_RULES.items() if kind in rostrum
    }


async def _rostrum_key(page: Page, key: str) -> None:
    await page.keyboard.press(key)


async def test_an_auctioneer_runs_a_live_lot_from_the_keyboard_against_an_online_bidder(
    site: Site, make_sale: SaleMaker, register: Registrar, people: People, context_for: ContextMaker,
    make_bot: Any,
) -> None:  # fmt: skip
    live = LiveTerms(auto_accept=False, missed_bid_window_ms=30_000)
    sale = await make_sale(lots=2, reserve=10_000, live=live, name="Evening Live")
    await register(sale.id, 31)  # the buyer, bidding online from their own browser
    await make_bot(sale.id, 11)  # a dealer in the room, paddle 11
    auctioneer = await (await context_for("auctioneer")).new_page()
    await auctioneer.goto(f"/console/rostrum?sale={sale.id}")
    await expect(auctioneer.locator("#connection")).to_have_text("Live")
    await expect(auctioneer.locator("#block")).to_have_attribute("data-lot", "1")

    await auctioneer.keyboard.press("o")  # open lot 1 at its opening price
    await expect(auctioneer.locator("#block")).to_have_attribute("data-status", "open")
    await expect(auctioneer.locator("#fig-ask")).to_contain_text("$100.00")
    await auctioneer.keyboard.type("11")
    await auctioneer.keyboard.press("Enter")  # a floor bid for paddle 11
    await expect(auctioneer.locator("#fig-leader")).to_contain_text("paddle 11")
    await expect(auctioneer.locator("#fig-ask")).to_contain_text("$110.00")

    bidder = await context_for("buyer")  # the online bidder, in the bidder's room in a browser context of their own
    room = await bidder.new_page()
    await room.goto(f"/sales/{sale.id}")
    card = room.locator("#lot-1")
    await card.get_by_role("button", name="Bid $110.00").click()
    await card.get_by_role("button", name="Confirm bid").click()
    await expect(card.locator("[data-field=answer]")).to_contain_text("waiting for the clerk")
    await expect(auctioneer.locator("#waiting-banner")).to_contain_text("paddle 31")
    await auctioneer.keyboard.press("a")  # accept the online bid
    await expect(auctioneer.locator("#online-lead")).to_contain_text("paddle 31")
    await auctioneer.keyboard.press("f")  # fair warning
    await expect(auctioneer.locator("#block")).to_have_attribute("data-status", "fair_warning")
    await auctioneer.keyboard.press("h")  # the hammer
    await expect(auctioneer.locator("#block")).to_have_attribute("data-status", "sold")
    await expect(auctioneer.locator("#fig-price")).to_contain_text("$110.00")
    feed = auctioneer.locator("#record-feed")
    await expect(feed.locator("li[data-type='LotSold']")).to_contain_text("SOLD to paddle 31 at $110.00")
    for kind in ("LotOpened", "BidAccepted", "FairWarningCalled"):
        await expect(feed.locator(f"li[data-type='{kind}']").first).to_be_visible()
    state = await site.store.state(sale.id, 1)
    assert state is not None and (state.status, state.price, state.leader_paddle) == ("sold", 11_000, 31)
    await expect(card.locator("[data-field=you]")).to_have_text("You won this lot.")

    # A bid that reaches the server just after the hammer (the room's card is closed by then: over the API).
    late = await bidder.request.post(site.url(f"/api/sales/{sale.id}/lots/1/bids"), headers={"Origin": site.base},
                                     data={"amount": 12_000, "client_id": "online-2"})  # fmt: skip
    assert (late.status, (await late.json())["reason"]) == (409, "too_late")
    await expect(auctioneer.locator("#missed-banner")).to_contain_text("paddle 31 at $120.00")
    await auctioneer.keyboard.press("r")  # reopen: the reason is asked for, a missed bid proposed
    await expect(auctioneer.locator("#reason")).to_have_value("a possible missed online bid")
    await auctioneer.keyboard.press("Enter")
    await expect(auctioneer.locator("#block")).to_have_attribute("data-status", "open")
    await expect(feed.locator("li[data-type='LotReopened']")).to_contain_text("a possible missed online bid")


async def test_the_clerk_sees_only_the_clerks_jobs_at_the_rostrum(
    make_sale: SaleMaker, register: Registrar, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=1, live=LiveTerms())
    await register(sale.id, 31)
    clerk = await page_for("clerk")
    await clerk.goto(f"/console/rostrum?sale={sale.id}")
    await expect(clerk.locator("#connection")).to_have_text("Live")
    actions = clerk.locator("#rostrum-actions")
    for shown in ("Floor bid", "Phone bid", "Accept online bid", "Decline online bid", "Undo last bid"):
        await expect(actions.get_by_role("button", name=re.compile(shown))).to_have_count(1)
    for hidden in ("Hammer", "Fair warning", "Open lot", "Pass", "Reopen", "Withdraw", "Set ask"):
        await expect(actions.get_by_role("button", name=re.compile(hidden))).to_have_count(0)
    await clerk.keyboard.press("o")  # not the clerk's: nothing is sent
    await clerk.keyboard.press("h")
    await expect(clerk.locator("#block")).to_have_attribute("data-status", "scheduled")
    await expect(clerk.locator("#shortcuts")).not_to_contain_text("Hammer")


async def _sold_live_lot(site: Site, sale: int, company: int, paddle: int) -> None:
    """Lot 1 of a live sale opened, a floor bid taken for `paddle` (the company's) at the opening, and hammered:
    through the gateway's store, as the rostrum's messages are executed."""
    at = int(time.time() * 1000)
    for command in (OpenLot(at), TakeBid(at + 1, company, paddle, "floor", f"desk-{sale}"), HammerLot(at + 2)):
        outcome = await site.store.execute(sale, 1, command)
        assert isinstance(outcome, Accepted), outcome


async def test_the_settlement_desk_records_a_payment_and_the_invoice_shows_paid(
    site: Site, make_sale: SaleMaker, register: Registrar, people: People, page_for: PageMaker
) -> None:
    sale = await make_sale(lots=1, reserve=10_000, live=LiveTerms(), name="Quick Hammer")
    await register(sale.id, 41)
    await _sold_live_lot(site, sale.id, people.company_id, 41)
    desk = await page_for("settlement_officer")
    row = desk.locator(f"#invoices tr[data-buyer='{people.company_id}']")
    for _ in range(40):  # the worker's settlement bills the hammer
        await desk.goto(f"/console/settlement?sale={sale.id}")
        await expect(desk.locator("#invoices")).to_be_visible()
        if await row.count():
            break
        await desk.wait_for_timeout(250)
    await expect(row).to_contain_text("open")
    await expect(row).to_contain_text("$126.00")  # 100.00 and the 26 % premium
    form = desk.locator("form.payment-form")
    await form.get_by_label("Amount received (USD)").fill("126.00")
    await form.get_by_label("Payment reference").fill(f"WIRE-{sale.id}")
    await form.get_by_role("button", name="Record the payment").click()
    await expect(desk.locator("#status")).to_contain_text("paid in full")
    await expect(row.locator(".invoice-status")).to_have_text("paid")
    await expect(desk.locator("form.payment-form")).to_have_count(0)


async def _fits(page: Page) -> list[str]:
    """The main controls (buttons, fields, links styled as buttons) that stick out of the viewport sideways, and
    whether the page itself scrolls sideways; a wide table may scroll inside its own box."""
    wide: list[str] = await page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const page = document.documentElement.scrollWidth;
            const out = page > width ? [`the page: ${page} > ${width}`] : [];
            const controls = "main button, main input, main select, main textarea, main .button";
            for (const el of document.querySelectorAll(controls)) {
                if (el.closest(".table-scroll") || !el.getClientRects().length) continue;
                const box = el.getBoundingClientRect();
                if (box.left < -1 || box.right > width + 1) out.push(`${el.outerHTML.slice(0, 80)}: ${box.right}`);
            }
            return out;
        }"""
    )
    return wide


CONSOLE_PAGES = ("home", "vetting", "registrations", "consignors", "sales", "rostrum", "settlement", "shill", "audit")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
async def test_every_console_page_fits_a_phone_and_a_desktop(
    site: Site, pg: asyncpg.Pool, make_sale: SaleMaker, register: Registrar, people: People, page_for: PageMaker,
    make_bot: Any, viewport: str,
) -> None:  # fmt: skip
    sale = await make_sale(lots=3, reserve=10_000, live=LiveTerms(auto_accept=False), name="Evening Live")
    await register(sale.id, 41)
    await make_bot(sale.id, 12)
    await _sold_live_lot(site, sale.id, people.company_id, 41)
    company, _, _ = await _pending_company(pg)
    admin = people["admin"].account
    assert admin is not None
    await vetting.decide(pg, site.store, company, "request_more", "The bank reference letter, please", admin,
                         frozenset())  # on the audit log  # fmt: skip
    bidder, _ = await catalog.add_bidder(pg, "Asking Rep", f"Asking Co {secrets.token_hex(3)}")
    asking = await identity.account(pg, await pg.fetchval("SELECT id FROM accounts WHERE company_id = $1", bidder.id))
    assert asking is not None
    await vetting.request_registration(pg, sale.id, asking)
    page = await page_for("admin", viewport)  # the admin sees every page, and every action on it
    urls = {
        "home": "/console",
        "vetting": f"/console/vetting?company={company}",
        "registrations": f"/console/registrations?sale={sale.id}",
        "consignors": f"/console/consignors?consignor={people.consignor_id}",
        "sales": "/console/sales",
        "shill": f"/console/shill?sale={sale.id}",
        "rostrum": f"/console/rostrum?sale={sale.id}",
        "settlement": f"/console/settlement?sale={sale.id}",
        "audit": "/console/audit",
    }
    ready = {
        "home": "#attention[aria-busy='false']", "vetting": "#decision-form",
        "registrations": "form.registration-decision", "consignors": "#intake-form", "sales": "#new-draft",
        "rostrum": "#block-title", "settlement": "#invoices table", "shill": "#scores table",
        "audit": "#audit-entries table",
    }  # fmt: skip
    width = {"phone": 390, "desktop": 1400}[viewport]
    for name in CONSOLE_PAGES:
        if name == "settlement":  # the invoice is the worker's to make: wait for it
            for _ in range(40):
                if await pg.fetchval("SELECT count(*) FROM invoices WHERE sale_id = $1", sale.id):
                    break
                await page.wait_for_timeout(250)
        await page.goto(urls[name])
        await expect(page.locator(ready[name]).first).to_be_visible()
        if name == "rostrum":
            await expect(page.locator("#connection")).to_have_text("Live")
            await page.keyboard.press("o")  # lot 2 on the block, with a bid from the room
            await page.keyboard.type("12")
            await page.keyboard.press("Enter")
            await expect(page.locator("#fig-leader")).to_contain_text("paddle 12")
        assert await _fits(page) == [], f"{name} at {width} px"
        await screenshot(page, f"console-{name}", width)


CATALOGUE_HEADER = (
    "lot,stone,consignor,title,opening,carat,shape,setting,colour,colour_range,fancy_colour,clarity,clarity_range,cut,"
    "polish,symmetry,fluorescence,measurements,lab,report_number,report_override_reason,kp_certificate,treatments,"
    "origin,provenance,low_estimate,high_estimate,reserve"
)


async def test_a_consignor_a_stone_taken_in_and_a_sale_built_imported_and_published(
    site: Site, pg: asyncpg.Pool, page_for: PageMaker
) -> None:
    page = await page_for("admin")  # the admin does every desk's part: the consignor, the agreement, the stones
    await page.goto("/console/consignors")
    form = page.locator("#new-consignor")
    name = f"Okavango Stones {secrets.token_hex(3)} Ltd"
    await form.get_by_label("Name (a person's full name or the company's legal name)").fill(name)
    await form.get_by_label("Commission (%)").fill("12.5")
    await form.get_by_role("button", name="Add the consignor").click()
    await expect(page.locator("#status")).to_contain_text(f"{name} added as consignor")
    file = page.locator("#consignor-file")
    await expect(file.locator("#agreement")).to_contain_text("commission 12.5 %")
    consignor = int(await file.locator("section").get_attribute("data-consignor") or 0)

    intake = page.locator("#intake-form")
    await intake.get_by_label("Weight (carats)").fill("1.52")
    await intake.get_by_label("Colour", exact=True).select_option("G")
    await intake.get_by_label("Clarity", exact=True).select_option("VS2")
    await intake.get_by_label("Measurements (mm)").fill("7.35 x 7.39 x 4.52")
    await intake.get_by_label("Laboratory").select_option("GIA")
    await intake.get_by_label("Report number").fill("2211430009")
    await intake.get_by_label("Low estimate (USD)").fill("1,200")
    await intake.get_by_label("High estimate (USD)").fill("1,500")
    await intake.get_by_label("Reserve (USD), at most the low estimate").fill("1,000")
    await intake.get_by_role("button", name="Take the stone in").click()
    await expect(page.locator("#status")).to_contain_text("taken in")
    stone = int(await file.locator("tr[data-stone]").first.get_attribute("data-stone") or 0)

    await page.goto("/console/sales")
    draft = page.locator("#new-draft")
    await draft.get_by_label("Name").fill("Spring Brilliants")
    await draft.get_by_role("button", name="Start building it").click()
    await expect(page.locator("#status")).to_contain_text("started: Spring Brilliants")
    built = page.locator("#draft")
    await built.get_by_label("Stone number").fill(str(stone))
    await built.get_by_label("Opening price (USD)").fill("800")
    await built.get_by_role("button", name="Add the lot").click()
    await expect(built.locator("tr[data-lot='1']")).to_contain_text("$800.00")

    csv = "\n".join([CATALOGUE_HEADER, f"2,,{consignor},,90000,2.01,Oval,loose,E,,,VVS2,,,Excellent,Very Good,Faint,"
                     f"10.20 x 7.29 x 4.37,HRD,240011223,,,,Canada,,2600000,3200000,2200000", ""])  # fmt: skip
    await built.get_by_label("Catalogue file (CSV, as docs/catalogue-example.csv)").set_input_files(
        files=[{"name": "catalogue.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    await built.get_by_role("button", name="Import the file").click()
    await expect(page.locator("#status")).to_contain_text("imported")
    await expect(built.locator("tr[data-lot]")).to_have_count(1)  # the file is the sale's lots: all of them
    await expect(built.locator("tr[data-lot='2']")).to_contain_text("$900.00")
    await expect(built.locator("#draft-problems")).to_contain_text("Nothing stops it being published")
    await built.get_by_role("button", name="Publish the sale").click()
    await expect(page.locator("#status")).to_contain_text("is published")
    sale = int(await built.locator("section").get_attribute("data-sale") or 0)
    listed = await page.request.get(site.url(f"/api/sales/{sale}/lots"))
    assert [entry["listing"]["lot"] for entry in await listed.json()] == [2]
