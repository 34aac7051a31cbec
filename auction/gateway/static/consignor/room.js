// The consignor's room (/consignor): their lots live (bids by paddle, reserve met or not, the record of events),
// results, the passed lots' post-sale offers to accept or decline and the consent to relist, statements,
// payouts and the shipments of their stones back to them.
//
// Sources: GET /api/consignor/lots (their lots, every sale), the live feed (a consignor's subscription is their
// own lots only, in the public form: paddles, never a bidder's name or the reserve), each lot's public events
// for the record before the feed's snapshot, GET /api/settlement/sales/{sale}/passed (their passed lots, offers
// by paddle), and their statements, payouts and shipments (GET /api/settlement/consignors/{id}/...).

import {api, ApiError} from "../js/api.js";
import {clock} from "../js/clock.js";
import {field, fieldError, h, replace} from "../js/dom.js";
import {Feed} from "../js/feed.js";
import {countdown, date, money, parseMoney, units, when} from "../js/format.js";
import {FINAL, lotStatusLabel} from "../js/sales.js";
import {mount, setStatus} from "../js/shell.js";
import {empty, failed, loadSales, saleName, shipmentsTable, stone, table} from "../account/parts.js";
import {loadTenderOffers, offerPanel, tenderFigures} from "./tender.js";

const HISTORY_LIMIT = 1000;  // the events route's most per call: a lot's whole record in practice
const CONNECTION = {connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline"};

const lots = new Map();  // "sale:lot" -> {listing, live, events: Map(seq -> public event), historyLoaded}
let sales = new Map();
let consignorId = null;
let tenderOffers = new Map();  // "sale:lot" -> the top bid below the reserve, offered to this consignor
const toggled = new Map();  // a record's <details> id -> open, as the reader left it across re-renders

const key = (sale, lot) => `${sale}:${lot}`;
const currencyOf = (sale) => (sales.get(sale) || {currency: "USD"}).currency;

// ---- the record of a lot, in words ---------------------------------------------------------------------------

const SOURCES = {floor: "in the room", phone: "by phone", absentee: "commission bid", house: "house bid"};

function eventText(event, currency) {
  const amount = (minor) => money(minor, currency);
  switch (event.type) {
    case "opened": return event.ask ? `Opened, asking ${amount(event.ask)}` : `Opened for bidding, closing ${when(event.end_ms)}`;
    case "bid": {
      const how = [event.auto ? "from a maximum bid" : null, SOURCES[event.source] || null].filter(Boolean).join(", ");
      return `Paddle ${event.paddle} bid ${amount(event.amount)}${how ? ` (${how})` : ""}; ` +
        (event.reserve_met ? "reserve met" : "reserve not met");
    }
    case "extended": return `A late bid extended the close to ${when(event.end_ms)}`;
    case "sold": return `Sold to paddle ${event.paddle} for ${amount(event.hammer)}`;
    case "passed": return "Passed: the reserve was not reached";
    case "withdrawn": return "Withdrawn";
    case "revised": return `The house struck bids: now ${amount(event.price)}${event.paddle ? `, paddle ${event.paddle} leads` : ""}`;
    case "ask": return `Asking ${amount(event.ask)}`;
    case "fair_warning": return "Fair warning";
    case "declined": return `An online bid from paddle ${event.paddle} was not taken`;
    case "undone": return `The bid of paddle ${event.undone} was taken back; now ${amount(event.price)}`;
    case "paused": return "Paused";
    case "resumed": return "Resumed";
    case "reopened": return "Reopened by the auctioneer";
    case "viewing": return "On view";
    case "bids_closed": return "Bids closed";
    case "tender_result": return event.outcome === "sold" ? `Tender: sold for ${amount(event.amount)}` : `Tender: ${event.outcome.replace("_", " ")}`;
    default: return null;  // `hidden`: something only the house sees; it keeps the numbering whole
  }
}

// ---- a lot's state, moved by its events ------------------------------------------------------------------------

function apply(entry, event) {
  const live = entry.live;
  if (!live || event.seq <= live.seq) return;
  live.seq = event.seq;
  switch (event.type) {
    case "opened": live.status = "open"; live.end_ms = event.end_ms; break;
    case "bid":
      Object.assign(live, {price: event.amount, leader_paddle: event.paddle, reserve_met: event.reserve_met,
        next_minimum: event.next_minimum, bid_count: live.bid_count + 1});
      if (live.status === "fair_warning") live.status = "open";
      break;
    case "extended": live.end_ms = event.end_ms; live.extensions += 1; break;
    case "sold": live.status = "sold"; live.price = event.hammer; live.leader_paddle = event.paddle; break;
    case "passed": live.status = "passed"; break;
    case "withdrawn": live.status = "withdrawn"; break;
    case "revised":
      Object.assign(live, {price: event.price, leader_paddle: event.paddle, bid_count: event.bid_count,
        reserve_met: event.reserve_met, next_minimum: event.next_minimum});
      break;
    case "undone":
      Object.assign(live, {price: event.price, leader_paddle: event.paddle, bid_count: event.bid_count});
      break;
    case "fair_warning": live.status = "fair_warning"; break;
    case "paused": live.status = "paused"; break;
    case "resumed": case "reopened": live.status = "open"; break;
    case "viewing": live.status = "viewing"; break;
    case "bids_closed": live.status = "awaiting_reveal"; break;
    case "tender_result":
      live.status = event.outcome;
      if (event.outcome === "sold") live.price = event.amount;
      break;
    default: break;
  }
}

// ---- the cards ------------------------------------------------------------------------------------------------

function figure(label, value, extra = {}) {
  return h("div", {class: "figure", ...extra}, h("span", {class: "figure-label"}, label),
    h("span", {class: "figure-value"}, value));
}

function reserveBadge(live) {
  if (!live || !live.bid_count) return h("span", {class: "badge badge-neutral", dataset: {reserve: "none"}}, "No bids yet");
  return live.reserve_met
    ? h("span", {class: "badge badge-lead", dataset: {reserve: "met"}}, "Reserve met")
    : h("span", {class: "badge badge-outbid", dataset: {reserve: "not-met"}}, "Reserve not met");
}

function record(entry) {
  const currency = currencyOf(entry.listing.sale);
  const shown = [...entry.events.values()].sort((a, b) => b.seq - a.seq)
    .map((event) => [event, eventText(event, currency)]).filter(([, text]) => text);
  if (!shown.length) return h("p", {class: "muted"}, entry.historyLoaded ? "Nothing has happened yet." : "Loading the record…");
  return h("ol", {class: "record", "aria-label": `Record of lot ${entry.listing.lot}`, reversed: true},
    shown.map(([event, text]) => h("li", {dataset: {seq: String(event.seq), type: event.type}},
      h("time", {datetime: new Date(event.at_ms).toISOString()}, when(event.at_ms)), " ", text)));
}

function closing(live) {
  if (!live || FINAL.includes(live.status) || live.status === "scheduled") return null;
  return figure("Closes in", countdown(live.end_ms - clock.now()), {dataset: {ends: String(live.end_ms)}});
}

function lotCard(entry) {
  const {listing, live} = entry;
  const currency = currencyOf(listing.sale);
  const status = live ? live.status : "scheduled";
  const title = `Lot ${listing.lot}: ${listing.title}`;
  const result = status === "sold"
    ? figure("Hammer price", money(live.price, currency))
    : figure(status === "passed" ? "Highest bid" : "Current bid", live && live.bid_count ? money(live.price, currency) : "None");
  return h("article", {class: `lot consignor-lot status-${status}`, id: `lot-${listing.sale}-${listing.lot}`,
    dataset: {sale: String(listing.sale), lot: String(listing.lot), status}, "aria-labelledby": `lot-${listing.sale}-${listing.lot}-title`},
    h("div", {class: "lot-head"},
      h("h3", {id: `lot-${listing.sale}-${listing.lot}-title`}, title),
      h("span", {class: `badge badge-${status}`}, lotStatusLabel(status))),
    h("p", {class: "muted"}, `${saleName(sales, listing.sale)} · ${stone(listing.diamond)}`),
    h("p", {class: "muted"}, `Estimate ${money(listing.low_estimate, currency)} – ${money(listing.high_estimate, currency)}`),
    isTender(listing.sale) ? h("div", {class: "lot-live", "aria-live": "polite"}, tenderFigures(live, currency)) : null,
    tenderOffers.has(key(listing.sale, listing.lot))
      ? offerPanel(listing.sale, tenderOffers.get(key(listing.sale, listing.lot)), currency, loadOffers) : null,
    isTender(listing.sale) ? null : h("div", {class: "lot-live", "aria-live": "polite"},
      result,
      figure("Leading", live && live.leader_paddle ? `Paddle ${live.leader_paddle}` : "Nobody yet", {class: "figure leader"}),
      figure("Bids", String(live ? live.bid_count : 0)),
      figure("Reserve", reserveBadge(live)),
      closing(live)),
    recordDetails(`record-${listing.sale}-${listing.lot}`, "Record of events", entry, !FINAL.includes(status)));
}

function isTender(sale) {
  return (sales.get(sale) || {}).format === "tender";
}

async function loadOffers() {
  // the offers on this consignor's tender lots below the reserve: asked again whenever a tender result comes
  const waiting = [...lots.values()].filter((e) => e.live && e.live.status === "awaiting_acceptance");
  try {
    tenderOffers = await loadTenderOffers([...new Set(waiting.map((e) => e.listing.sale))]);
  } catch (exc) {
    setStatus(`The offers on your tender lots could not be loaded: ${exc.message}`, "error");
  }
  renderLots();
}

function recordDetails(id, summary, entry, openByDefault) {
  const open = toggled.has(id) ? toggled.get(id) : openByDefault;
  return h("details", {class: "log", id, open, on: {toggle: (event) => toggled.set(id, event.target.open)}},
    h("summary", {}, summary), record(entry));
}

function renderLots() {
  const entries = [...lots.values()].sort((a, b) => a.listing.sale - b.listing.sale || a.listing.lot - b.listing.lot);
  const final = (entry) => entry.live && FINAL.includes(entry.live.status);
  const live = entries.filter((entry) => !final(entry));
  const done = entries.filter(final);
  replace(document.getElementById("live-lots"),
    live.length ? h("div", {class: "lots"}, live.map(lotCard)) : empty("None of your lots is open or waiting to open."));
  replace(document.getElementById("result-lots"),
    done.length ? resultsTable(done) : empty("No lot of yours has closed yet."));
}

function resultsTable(entries) {
  const rows = entries.map(({listing, live}) => {
    const currency = currencyOf(listing.sale);
    const outcome = live.status === "sold"
      ? (live.leader_paddle ? `Sold to paddle ${live.leader_paddle}` : "Sold")  // a tender names no one
      : live.status === "passed" ? "Passed (reserve not reached)" : lotStatusLabel(live.status);
    return [
      h("a", {href: `#lot-record-${listing.sale}-${listing.lot}`}, `Lot ${listing.lot}`),
      listing.title,
      saleName(sales, listing.sale),
      h("span", {class: `badge badge-${live.status}`, dataset: {result: live.status}}, outcome),
      live.status === "sold" ? money(live.price, currency) : (live.bid_count ? money(live.price, currency) : "–"),
      String(live.bid_count),
    ];
  });
  const records = entries.map((entry) => recordDetails(`lot-record-${entry.listing.sale}-${entry.listing.lot}`,
    `Record of lot ${entry.listing.lot}, ${entry.listing.title}`, entry, false));
  return h("div", {},
    table("Your lots that have closed", ["Lot", "Title", "Sale", "Result", "Hammer / highest bid", "Bids"], rows,
      {numeric: [4, 5]}),
    records);
}

// ---- live ------------------------------------------------------------------------------------------------------

async function loadHistory(entry, uptoSeq) {
  // The record before the feed's snapshot: the snapshot brings the state, not the bids that led to it.
  if (entry.historyAsked) return;
  entry.historyAsked = true;
  const {sale, lot} = entry.listing;
  try {
    const page = await api("GET", `/api/sales/${sale}/lots/${lot}/events`, undefined,
      {query: {after: 0, limit: HISTORY_LIMIT}});
    for (const event of page.events) {
      if (uptoSeq === null || event.seq <= uptoSeq) entry.events.set(event.seq, event);
    }
  } catch (exc) {
    setStatus(`The record of lot ${lot} could not be loaded: ${exc.message}`, "error");
  }
  entry.historyLoaded = true;
  renderLots();
}

function onFrame(frame) {
  const entry = lots.get(key(frame.sale, frame.lot));
  if (!entry) return;
  if (frame.type === "snapshot") {
    entry.live = {...frame.lot_state};
    loadHistory(entry, frame.lot_state.seq);  // once: later snapshots (a resume from too far back) keep the record
  } else if (frame.type === "event") {
    entry.events.set(frame.event.seq, frame.event);
    apply(entry, frame.event);
    if (frame.event.type === "tender_result") loadOffers();
    // a tender's result is a tender_result, its outcome the sale or the pass (its card says it: no status line,
    // which would cover the consignor's own answer's)
    const tender = frame.event.type === "tender_result";
    const outcome = tender ? frame.event.outcome : frame.event.type;
    if (outcome === "sold" || outcome === "passed") {
      if (!tender) setStatus(`Lot ${frame.lot}: ${eventText(frame.event, currencyOf(frame.sale))}`, "info");
      // a passed lot opens its post-sale window, a sold one reaches the statement: once settlement has it
      loadAfterSale();
      setTimeout(loadAfterSale, 3000);
    }
  }
  renderLots();
}

function watch(entries) {
  const watched = new Set(entries.filter((e) => !e.live || !FINAL.includes(e.live.status)).map((e) => e.listing.sale));
  for (const entry of entries) {
    if (!watched.has(entry.listing.sale)) loadHistory(entry, null);  // closed: its record, once
  }
  const conn = document.getElementById("conn");
  if (!watched.size) {
    conn.remove();  // nothing of theirs is live: no connection to speak of
    return;
  }
  const feed = new Feed({
    onState: (state) => {
      conn.textContent = CONNECTION[state] || state;
      conn.className = `conn conn-${state}`;
    },
    onFrame,
    onWelcome: (frame) => clock.observe(frame.server_ms),
    onError: (frame) => setStatus(frame.message, "error"),
  });
  for (const sale of watched) feed.subscribe(sale);  // the server sends this consignor's own lots only
  feed.connect();
  clock.start();
  clock.onTick((now) => {
    for (const element of document.querySelectorAll("[data-ends]")) {
      element.querySelector(".figure-value").textContent = countdown(Number(element.dataset.ends) - now);
    }
  });
}

// ---- after the sale: offers, consent to relist ----------------------------------------------------------------

const OFFER_STATUS = {open: "Open", accepted: "Accepted", declined: "Declined", closed: "Closed", expired: "Expired",
  replaced: "Replaced by a newer offer", withdrawn: "Withdrawn"};
const PASSED_STATUS = {post_sale: "Open for offers", sold: "Sold after the sale", relist: "To be offered again",
  returning: "Coming back to you", returned: "Returned to you", reopened: "Reopened"};

async function answerOffer(offer, accept, button) {
  button.disabled = true;
  try {
    const {status} = await api("POST", `/api/settlement/post-sale-offers/${offer.id}`, {accept});
    setStatus(`Offer from paddle ${offer.paddle} on lot ${offer.lot}: ${OFFER_STATUS[status] || status}.`, "ok");
  } catch (exc) {
    setStatus(`The offer could not be answered: ${exc.message}`, "error");
  }
  await loadAfterSale();
}

function offersTable(lot, currency, nowMs) {
  if (!lot.offers.length) return empty("No offers yet.");
  const rows = lot.offers.map((offer) => {
    const answerable = offer.kind === "buyer" && offer.status === "open" && offer.expires_ms > nowMs;
    const label = `offer of ${money(offer.amount, currency)} from paddle ${offer.paddle ?? "–"} on lot ${lot.lot}`;
    const actions = answerable ? h("span", {class: "actions"},
      h("button", {type: "button", "aria-label": `Accept the ${label}`, on: {click: (e) => answerOffer(offer, true, e.target)}}, "Accept"),
      h("button", {type: "button", class: "secondary", "aria-label": `Decline the ${label}`,
        on: {click: (e) => answerOffer(offer, false, e.target)}}, "Decline"))
      : h("span", {class: "muted"}, offer.kind === "reserve" ? "The house's offer at your reserve to the top bidder" : "");
    return [
      offer.paddle ? `Paddle ${offer.paddle}` : "–",
      money(offer.amount, currency),
      when(offer.made_ms),
      when(offer.expires_ms),
      h("span", {dataset: {offerStatus: offer.status}}, OFFER_STATUS[offer.status] || offer.status),
      actions,
    ];
  });
  return table(`Offers on lot ${lot.lot}`, ["From", "Amount", "Made", "Open until", "Status", ""], rows, {numeric: [1]});
}

function consentForm(lot, currency) {
  const consent = lot.consent && lot.consent.withdrawn_ms === null ? lot.consent : null;
  if (lot.relisting) {
    return h("p", {}, `Offered again as lot ${lot.relisting.to_lot} of ${saleName(sales, lot.relisting.to_sale)}, ` +
      `reserve ${money(lot.relisting.reserve, currency)}.`);
  }
  if (!["post_sale", "relist"].includes(lot.status)) return null;
  const input = h("input", {type: "text", inputmode: "decimal", autocomplete: "off", required: true,
    value: consent ? units(consent.reserve, currency) : ""});
  const form = h("form", {class: "form consent", "aria-label": `Consent to relist lot ${lot.lot}`},
    field(`New reserve for lot ${lot.lot} (${currency}), lower than ${money(lot.reserve, currency)}`, input),
    h("p", {class: "actions"},
      h("button", {type: "submit"}, consent ? "Change the reserve" : "Consent to relist"),
      consent ? h("button", {type: "button", class: "secondary", on: {click: () => withdrawConsent(lot)}},
        "Withdraw consent") : null));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reserve = parseMoney(input.value, currency);
    if (reserve === null) return fieldError(input, `Give an amount in ${currency}, e.g. 4500.00`);
    if (reserve >= BigInt(lot.reserve) && lot.reserve > 0) return fieldError(input, `It must be lower than ${money(lot.reserve, currency)}`);
    fieldError(input, null);
    try {
      await api("POST", `/api/settlement/sales/${lot.sale}/lots/${lot.lot}/relist`, {reserve: Number(reserve)});
      setStatus(`Lot ${lot.lot} will be offered again at a reserve of ${money(reserve, currency)}.`, "ok");
      await loadAfterSale();
    } catch (exc) {
      if (exc instanceof ApiError && exc.field === "reserve") fieldError(input, exc.message);
      else setStatus(`The consent could not be recorded: ${exc.message}`, "error");
    }
  });
  return h("div", {},
    consent ? h("p", {dataset: {consent: "given"}}, `You consented on ${date(consent.consented_ms)} to relist it at a reserve of ` +
      `${money(consent.reserve, currency)}.`) : null,
    form);
}

async function withdrawConsent(lot) {
  try {
    await api("DELETE", `/api/settlement/sales/${lot.sale}/lots/${lot.lot}/relist`);
    setStatus(`Consent withdrawn: lot ${lot.lot} will come back to you.`, "ok");
  } catch (exc) {
    setStatus(`The consent could not be withdrawn: ${exc.message}`, "error");
  }
  await loadAfterSale();
}

function passedCard(lot, nowMs) {
  const currency = currencyOf(lot.sale);
  const entry = lots.get(key(lot.sale, lot.lot));
  const title = entry ? entry.listing.title : "";
  const open = lot.status === "post_sale" && lot.window_ms > nowMs;
  return h("article", {class: "panel passed-lot", id: `passed-${lot.sale}-${lot.lot}`,
    dataset: {sale: String(lot.sale), lot: String(lot.lot), status: lot.status}},
    h("h3", {}, `Lot ${lot.lot}: ${title}`),
    h("p", {}, h("span", {class: "badge badge-neutral"}, PASSED_STATUS[lot.status] || lot.status), " ",
      `${saleName(sales, lot.sale)} · highest bid ${lot.highest_bid ? money(lot.highest_bid, currency) : "none"} · ` +
      `your reserve ${money(lot.reserve, currency)}`),
    open ? h("p", {}, `Offers may be made until ${when(lot.window_ms)}.`) : null,
    offersTable(lot, currency, nowMs),
    lot.returned ? h("p", {}, `Returned: insured for ${money(lot.returned.declared_value, currency)}` +
      (lot.returned.unsold_fee || lot.returned.return_shipping
        ? `; charged ${money(lot.returned.unsold_fee, currency)} unsold fee and ${money(lot.returned.return_shipping, currency)} shipping.`
        : ".")) : null,
    consentForm(lot, currency));
}

async function loadAfterSale() {
  const target = document.getElementById("passed-lots");
  const saleIds = [...new Set([...lots.values()].filter((e) => e.live && e.live.status === "passed").map((e) => e.listing.sale))];
  try {
    const passed = (await Promise.all(saleIds.map((sale) => api("GET", `/api/settlement/sales/${sale}/passed`)))).flat();
    const nowMs = clock.now();
    replace(target, passed.length ? passed.map((lot) => passedCard(lot, nowMs)) : empty("No lot of yours has passed."));
  } catch (exc) {
    failed(target, "Your passed lots", exc);
  }
  loadMoney();
}

// ---- statements, payouts, shipments ----------------------------------------------------------------------------

const LINE_STATUS = {awaiting_payment: "Awaiting the buyer's payment", held: "Paid; in the hold", payable: "Payable",
  paid_out: "Paid to you", defaulted: "Buyer defaulted", reopened: "Reopened", unsold: "Unsold"};

function statementTable(statement) {
  const cur = statement.currency;
  const title = (lot) => (lots.get(key(statement.sale, lot)) || {listing: {title: ""}}).listing.title;
  const rows = statement.lines.map((line) => [
    `Lot ${line.lot}`,
    title(line.lot),
    h("span", {dataset: {lineStatus: line.status}}, LINE_STATUS[line.status] || line.status),
    money(line.hammer, cur),
    money(line.commission, cur),
    money(line.fees, cur),
    money(line.net, cur),
    line.release_ms ? date(line.release_ms) : "–",
  ]);
  rows.push([h("strong", {}, "Total"), "", "", money(statement.hammer, cur), money(statement.commission, cur),
    money(statement.fees, cur), h("strong", {}, money(statement.net, cur)), ""]);
  return h("article", {class: "panel statement", dataset: {sale: String(statement.sale)}},
    h("h3", {}, saleName(sales, statement.sale)),
    table(`Statement for ${saleName(sales, statement.sale)}, in ${cur}`,
      ["Lot", "Title", "Status", "Hammer", "Commission", "Fees", "Net to you", "Payable from"], rows,
      {numeric: [3, 4, 5, 6]}),
    h("p", {}, `Paid to you so far: ${money(statement.paid_out, cur)}. `,
      h("strong", {}, `The house owes you ${money(statement.balance_owed, cur)}.`)));
}

async function loadMoney() {
  const base = `/api/settlement/consignors/${consignorId}`;
  const [statements, payouts, shipments] = await Promise.allSettled(
    ["statements", "payouts", "shipments"].map((what) => api("GET", `${base}/${what}`)));
  const statementList = document.getElementById("statement-list");
  if (statements.status === "rejected") failed(statementList, "Your statements", statements.reason);
  else replace(statementList, statements.value.length ? statements.value.map(statementTable) : empty("No lot of yours has closed yet."));
  const payoutList = document.getElementById("payout-list");
  if (payouts.status === "rejected") failed(payoutList, "Your payouts", payouts.reason);
  else replace(payoutList, payouts.value.length
    ? table("Payouts", ["Paid on", "Sale", "Lots", "Amount"], payouts.value.map((p) => [
      date(p.at_ms), saleName(sales, p.sale), p.lots.join(", "), money(p.amount, p.currency)]), {numeric: [3]})
    : empty("Nothing has been paid out to you yet."));
  const shipmentList = document.getElementById("shipment-list");
  if (shipments.status === "rejected") failed(shipmentList, "Your shipments", shipments.reason);
  else replace(shipmentList, shipments.value.length ? shipmentsTable(shipments.value, sales) : empty("No stone of yours is on its way back."));
}

// ---- start -----------------------------------------------------------------------------------------------------

async function start() {
  const {me, allowed} = await mount({title: "My lots", roles: ["consignor"]});
  if (!allowed) return;
  consignorId = me.consignor_id;
  document.getElementById("who").textContent = `Signed in as ${me.name}.`;
  let mine;
  try {
    [mine, sales] = await Promise.all([api("GET", "/api/consignor/lots"), loadSales()]);
  } catch (exc) {
    failed(document.getElementById("live-lots"), "Your lots", exc);
    return;
  }
  for (const {listing, live} of mine) {
    lots.set(key(listing.sale, listing.lot), {listing, live: live ? {...live} : null, events: new Map(), historyLoaded: false,
      historyAsked: false});
  }
  renderLots();
  watch([...lots.values()]);
  await Promise.all([loadAfterSale(), loadOffers()]);
}

start();
