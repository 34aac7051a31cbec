"""The tender rooms' remaining paths in a real browser against the real gateway and the worker's loops (issue 16):
the console's "New tender" form creates a tender, whose room then takes a sealed bid; the viewing period counts
down to the bid window ("Bids open in") before the form appears; a consignor declines the top bid below the reserve
in their room and the lot is passed, taking settlement's unsold path; and the house's sale builder builds a tender
from a consigned rough parcel and publishes it with its key (issue 14)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from playwright.async_api import Page, expect

from auction.tender import records
from auction.tender.officers import register_key
from auction.tender.sealing import new_key_pair, open_browser_seal
from tests.web.conftest import ContextMaker, People, Registrar, Site, Worker
from tests.web.room_shots import no_horizontal_overflow
from tests.web.test_tender_rooms import api, bid, create_tender, token_of

SLOW_MS = 20_000  # a window opening or closing, seen by the page on the server's clock


@dataclass
class KeyHolder:
    """An officer whose key this test holds (registered over PostgreSQL as `auction tender keygen` would)."""

    account: int
    private: bytes
    token: str


async def key_holders(pg: asyncpg.Pool, people: People, roles: tuple[str, ...]) -> list[KeyHolder]:
    holders = []
    for role in roles:
        person = people[role]
        assert person.account is not None
        private, public = new_key_pair()
        await register_key(pg, person.account.id, base64.b64encode(public).decode())
        holders.append(KeyHolder(person.account.id, private, await token_of(pg, person)))
    return holders


async def give_shares(site: Site, sale: int, holders: list[KeyHolder]) -> None:
    """Each holder's share fetched sealed, opened with their key and given, as the console does: the last reveals."""
    for index, holder in enumerate(holders, start=1):
        mine = await api(site, "GET", f"/api/sales/{sale}/tender/shares/mine", holder.token)
        share = open_browser_seal(mine["sealed"], holder.private, records.share_place(sale, mine["x"], holder.account))
        held = 200 if index == len(holders) else 202  # fewer than k: held, nothing opened
        await api(site, "POST", f"/api/sales/{sale}/tender/shares", holder.token, {"shares": [share]}, held)


async def until_status(site: Site, sale: int, lot: int, status: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if {s.terms.lot: s.status for s in await site.store.states(sale)}.get(lot) == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"sale {sale} lot {lot} never reached {status}")


async def passed_lot(pg: asyncpg.Pool, sale: int, lot: int, timeout_s: float = 20.0) -> asyncpg.Record:
    """The lot's row in settlement's passed lots, once settlement has taken the engine's LotPassed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = await pg.fetchrow("SELECT * FROM passed_lots WHERE sale_id = $1 AND lot_no = $2", sale, lot)
        if row is not None:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"settlement never recorded sale {sale} lot {lot} as passed")


async def copy_value(page: Page, source: str, target: str) -> None:
    """One datetime-local field's value into another, in the browser's own zone."""
    copy = "([a, b]) => { const f = document.querySelector('#new-tender'); f[b].value = f[a].value; }"
    await page.evaluate(copy, [source, target])


async def test_the_console_new_tender_form_creates_a_tender_that_takes_a_bid(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, context_for: ContextMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    holders = await key_holders(pg, people, ("admin", "vetting_officer"))
    sale = new_sale_id()
    desk = await (await context_for("auctioneer")).new_page()
    await desk.goto("/console/tender")
    form = desk.locator("#new-tender")
    await form.get_by_label("Sale number").fill(str(sale))
    await form.get_by_label("Name").fill("Spring rough tender")
    await copy_value(desk, "starts_at", "bids_from")  # bids open as the viewing starts: the room takes one at once
    await form.get_by_label("Officers (account numbers, commas between)").fill(
        ", ".join(str(h.account) for h in holders)
    )
    await form.get_by_label("Lots, one a line", exact=False).fill(
        f"1; Rough parcel, 12 stones; 25.40; 40000.00; 60000.00; 35000.00; {people.consignor_id}; BW-KP-2026-0417"
    )
    await form.get_by_role("button", name="Create the tender").click()
    await expect(desk.locator("#status")).to_contain_text(f"Tender {sale} created: key ", timeout=SLOW_MS)
    await expect(desk.locator("#status")).to_contain_text("2 of 2 shares to reveal")
    shares = await pg.fetch("SELECT officer_id FROM tender_shares WHERE sale_id = $1 ORDER BY x", sale)
    assert [row["officer_id"] for row in shares] == [h.account for h in holders]
    [state] = await site.store.states(sale)
    assert (state.terms.format, state.terms.tender.carat_points, state.terms.reserve) == ("tender", 2_540, 3_500_000)

    worker.run_sale(sale)
    await register(sale, 41, 10**12)
    buyer = await (await context_for("buyer")).new_page()
    await buyer.goto(f"/sales/{sale}")
    card = buyer.locator("#lot-1")
    await expect(card).to_contain_text("BW-KP-2026-0417")
    await expect(card.locator("form")).to_be_visible(timeout=SLOW_MS)
    await bid(card, "Per carat", "1600")  # 25.40 ct at 1,600.00 counts as 40,640.00
    await expect(card.locator("[data-field='my-amount']")).to_have_text("$40,640.00 ($1,600.00 per carat)")
    [lot] = await site.store.states(sale)
    assert len(lot.sealed) == 1  # in the engine's lot, sealed: its amount unread until the reveal


async def test_the_viewing_period_counts_down_to_the_bid_window(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, context_for: ContextMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    holders = await key_holders(pg, people, ("admin", "vetting_officer"))
    sale = new_sale_id()
    await create_tender(site, pg, people, sale, [h.account for h in holders], bids_in_s=8, window_s=600)
    worker.run_sale(sale)
    await register(sale, 51, 10**12)
    buyer = await (await context_for("buyer")).new_page()
    await buyer.goto(f"/sales/{sale}")
    card = buyer.locator("#lot-1")
    countdown = card.locator("[data-field='countdown']")
    await expect(countdown).to_contain_text("Bids open in")
    first = await countdown.inner_text()
    await expect(countdown).not_to_have_text(first)  # it counts, on the server's clock
    await expect(card.locator("form")).to_be_hidden()  # the viewing: no bid yet
    await expect(card.locator("form")).to_be_visible(timeout=SLOW_MS)
    await expect(countdown).to_contain_text("Closes in")


async def test_a_consignor_declines_a_lot_below_the_reserve_and_it_is_passed(
    site: Site, pg: asyncpg.Pool, worker: Worker, people: People, register: Registrar, context_for: ContextMaker,
    new_sale_id: Callable[[], int],
) -> None:  # fmt: skip
    holders = await key_holders(pg, people, ("admin", "vetting_officer"))
    sale = new_sale_id()
    await create_tender(site, pg, people, sale, [h.account for h in holders], bids_in_s=0.3, window_s=4)
    worker.run_sale(sale)
    await register(sale, 61, 10**12)
    buyer = await token_of(pg, people["buyer"])
    await until_status(site, sale, 2, "open")
    await api(site, "POST", f"/api/sales/{sale}/lots/2/tender-bids", buyer, {"client_id": "low", "amount": 8_000_000})
    await until_status(site, sale, 2, "awaiting_reveal")
    await give_shares(site, sale, holders)
    await until_status(site, sale, 2, "awaiting_acceptance")

    consignor = await (await context_for("consignor")).new_page()
    await consignor.goto("/consignor")
    offer = consignor.locator(f"#lot-{sale}-2 [data-field='tender-offer']")
    await expect(offer).to_contain_text("The top sealed bid is $80,000.00")
    await expect(offer).to_contain_text("below your reserve of $90,000.00")
    await offer.get_by_role("button", name="Decline the top bid of $80,000.00 on lot 2").click()
    await expect(consignor.locator("#status")).to_contain_text("Lot 2: declined; the lot is passed.")
    row = consignor.locator("#result-lots tr", has=consignor.locator(f"a[href='#lot-record-{sale}-2']"))
    await expect(row.locator("[data-result]")).to_have_attribute("data-result", "passed", timeout=SLOW_MS)
    await expect(row).to_contain_text("Passed (reserve not reached)")  # lot 1, bid on by no one, passed too
    states = {state.terms.lot: state.status for state in await site.store.states(sale)}
    assert states[2] == "passed"
    kept = await passed_lot(pg, sale, 2)  # settlement's unsold path: the post-sale window for a lot not sold
    assert (kept["highest_bid"], kept["status"]) == (8_000_000, "post_sale")
    passed = consignor.locator(f"#passed-{sale}-2")  # the room shows it without a reload
    await expect(passed).to_contain_text("highest bid $80,000.00 · your reserve $90,000.00")
    await expect(passed.get_by_role("button", name="Consent to relist")).to_be_visible()


async def test_the_sale_builder_builds_a_tender_of_a_consigned_parcel_and_publishes_it_with_its_key(
    site: Site, pg: asyncpg.Pool, people: People, context_for: ContextMaker
) -> None:
    holders = await key_holders(pg, people, ("admin", "vetting_officer"))
    keyless = people["clerk"].account
    assert keyless is not None
    desk = await token_of(pg, people["vetting_officer"])
    made = {"kind": "company", "name": "Okavango Rough", "agreement": {"currency": "USD"}}
    consignor = await api(site, "POST", "/api/house/consignors", desk, made, 201)
    parcel = {"carat_points": 2_540, "shape": "Rough", "kp_certificate": "BW-KP-2026-0418", "low_estimate": 4_000_000,
              "high_estimate": 6_000_000, "reserve": 3_500_000,
              "report_override_reason": "rough parcel: viewed, not graded"}  # fmt: skip
    auctioneer = await token_of(pg, people["auctioneer"])
    stone = await api(site, "POST", f"/api/house/consignors/{consignor['id']}/stones", auctioneer, parcel, 201)

    page = await (await context_for("auctioneer")).new_page()
    await page.goto("/console/sales")
    draft = page.locator("#new-draft")
    tender = draft.locator("fieldset.tender-terms")
    await expect(tender).to_be_hidden()
    await draft.get_by_label("Name").fill("Spring Rough Tender")
    await draft.get_by_label("Format").select_option("tender")
    await expect(tender).to_be_visible()
    await tender.get_by_label("Officers (account numbers, commas between)").fill(f"{holders[0].account}, {keyless.id}")
    await tender.get_by_label("Shares needed to reveal").fill("3")
    await draft.get_by_role("button", name="Start building it").click()
    await expect(page.locator("#alert")).to_contain_text("tender.threshold: 3 of 2 officers")
    await expect(tender.get_by_label("Shares needed to reveal")).to_have_attribute("aria-invalid", "true")
    await tender.get_by_label("Shares needed to reveal").fill("2")
    await draft.get_by_role("button", name="Start building it").click()
    await expect(page.locator("#status")).to_contain_text("started: Spring Rough Tender")

    built = page.locator("#draft")
    await expect(built.locator("#draft-tender")).to_contain_text(f"2 of officers {holders[0].account}, {keyless.id}")
    await built.get_by_label("Stone number").fill(str(stone["id"]))
    await built.get_by_label("Opening price (USD)").fill("1")
    await built.get_by_role("button", name="Add the lot").click()
    await expect(built.locator("tr[data-lot='1']")).to_contain_text("25.40 ct Rough")
    await expect(built.locator("#draft-problems")).to_contain_text(f"tender.officers[1]: account {keyless.id} has no "
                                                                   "officer key registered")  # fmt: skip
    terms = built.locator("#terms-form")
    await terms.get_by_label("Officers (account numbers, commas between)").fill(
        ", ".join(str(h.account) for h in holders)
    )
    await terms.get_by_role("button", name="Save the terms").click()
    await expect(built.locator("#draft-problems")).to_contain_text("Nothing stops it being published")
    await built.get_by_role("button", name="Publish the sale").click()
    await expect(page.locator("#status")).to_contain_text("is published: 1 lot in the catalogue")
    sale = int(await built.locator("section").get_attribute("data-sale") or 0)
    info = await api(site, "GET", f"/api/sales/{sale}/tender", auctioneer)
    assert (info["threshold"], info["officers"], info["revealed_at_ms"]) == (2, 2, None)
    [state] = await site.store.states(sale)
    assert (state.terms.format, state.terms.tender.carat_points, state.terms.reserve) == ("tender", 2_540, 3_500_000)

    phone = await (await context_for("auctioneer", "phone")).new_page()
    await phone.goto("/console/sales")
    await phone.locator("#new-draft").get_by_label("Format").select_option("tender")
    await expect(phone.locator("#new-draft fieldset.tender-terms")).to_be_visible()
    assert await no_horizontal_overflow(phone), "the sale builder's tender fields overflow at 390 px"
