// The console's tender page (/console/tender): an officer's own key, made and kept in this browser (its private
// half can't leave it: js/own-key.js) and registered with the house; for a tender sale, the officer's share of
// its key fetched sealed, opened here and given; the reveal, which the k-th share given sets off; the results
// after, every opened bid named (operators only). The auctioneer and an admin create a tender here too.
//
// The share is opened in this page's memory only, given at once, and forgotten: nothing of it is stored.

import {api, ApiError} from "../js/api.js";
import {field, h, replace} from "../js/dom.js";
import {money, parseMoney} from "../js/format.js";
import {ownKey, openSeal} from "../js/own-key.js";
import {STATUS_WORDS} from "../sales/tender-figures.js";
import {badge, errorText, input, loadSales, openConsole, queryInt, run, saleSelect, section, setQuery, table} from "./common.js";

const DESK = ["auctioneer", "admin"];
const HOUR_MS = 3_600_000;

async function start({main, me, can}) {
  let sales = [];
  try {
    sales = await loadSales((s) => s.format === "tender");
  } catch (exc) {
    replace(main, h("h1", {}, "Tenders"), h("p", {class: "status status-error"}, errorText(exc)));
    return;
  }
  const keyBox = h("div", {id: "officer-key", "aria-live": "polite"});
  const body = h("div", {id: "tender"});
  replace(main, h("h1", {}, "Tenders"),
    h("p", {class: "muted"}, "A tender's bids are sealed to a key nobody holds whole: its private half was split "
      + "among the tender's officers, each share sealed to that officer's own key. After the close, enough officers "
      + "give their shares and the bids are opened; fewer open nothing."),
    section("Your officer key", keyBox),
    section("A tender", saleSelect(sales, queryInt("sale"), (id) => show(id), "Tender"), body),
    can(DESK) ? section("New tender", tenderForm(me)) : null);
  await showKey(keyBox, me);
  await show(queryInt("sale"));

  async function show(saleId) {
    setQuery({sale: saleId});
    if (!sales.some((s) => s.id === saleId)) {
      replace(body, h("p", {class: "muted"}, sales.length ? "Choose a tender." : "No tender yet."));
      return;
    }
    await showTender(body, saleId, me);
  }
}

// ---- the officer's key ----------------------------------------------------------------------------------------

async function showKey(box, me) {
  let held = null;
  try {
    held = await ownKey(`officer:${me.id}`, {create: false});
  } catch (exc) {
    replace(box, h("p", {class: "status status-error"}, `This browser can't keep a key: ${exc.message}`));
    return;
  }
  const button = h("button", {type: "button", dataset: {action: "register-key"}},
    held ? "Register this browser's key again" : "Make a key in this browser and register it");
  button.addEventListener("click", () => run(button, async () => {
    const key = await ownKey(`officer:${me.id}`);
    const kept = await api("PUT", "/api/tender/officer-key", {public_key: key.publicText});
    await showKey(box, me);
    return kept;
  }, (kept) => `Officer key registered: ${kept.key_fingerprint}.`));
  replace(box,
    h("p", {}, `Your account number, by which a tender names its officers: `, h("strong", {dataset: {field: "account"}}, String(me.id)), "."),
    held
      ? h("p", {dataset: {field: "key-fingerprint"}}, "This browser holds your officer key, fingerprint ",
        h("code", {}, held.fingerprint), ". Its private half can't be read out of the browser, and the house never has it.")
      : h("p", {dataset: {field: "key-fingerprint"}}, "This browser holds no officer key of yours."),
    h("p", {class: "muted"}, "Shares are sealed to the key you had registered when the tender was made: "
      + "registering a new one counts for tenders made from then on."),
    button);
}

// ---- one tender: the share, the reveal, the results -----------------------------------------------------------

// While a tender waits for its shares, the page asks every few seconds whether another officer's share revealed
// it, and shows the results when one did: an officer who gave the first share sees the reveal without a reload.
const WATCH_MS = 3000;
let watching = null;

function watchForTheReveal(body, sale, me) {
  clearInterval(watching);
  watching = setInterval(async () => {
    let info;
    try {
      info = await api("GET", `/api/sales/${sale}/tender`);
    } catch {
      return;  // asked again at the next tick
    }
    if (info.revealed_at_ms) {
      clearInterval(watching);
      await showTender(body, sale, me, "The tender was revealed with another officer's share.");
    }
  }, WATCH_MS);
}

async function showTender(body, sale, me, note = null) {
  clearInterval(watching);
  let info;
  let lots;
  try {
    [info, lots] = await Promise.all([api("GET", `/api/sales/${sale}/tender`), api("GET", `/api/sales/${sale}/lots`)]);
  } catch (exc) {
    replace(body, h("p", {class: "status status-error"}, errorText(exc)));
    return;
  }
  const statuses = lots.map((entry) => (entry.live ? entry.live.status : "scheduled"));
  const shareBox = h("div", {id: "share", "aria-live": "polite"});
  const results = h("div", {id: "results"});
  replace(body,
    h("dl", {class: "facts"},
      h("div", {}, h("dt", {}, "Tender key"), h("dd", {}, h("code", {}, info.key_fingerprint))),
      h("div", {}, h("dt", {}, "Shares to reveal"), h("dd", {dataset: {field: "threshold"}}, `${info.threshold} of ${info.officers} officers`)),
      h("div", {}, h("dt", {}, "Lots"), h("dd", {}, statuses.map((s) => STATUS_WORDS[s] || s).join(" · "))),
      h("div", {}, h("dt", {}, "Revealed"), h("dd", {dataset: {field: "revealed"}},
        info.revealed_at_ms ? new Date(info.revealed_at_ms).toLocaleString() : "Not yet"))),
    h("h3", {}, "Your share"), shareBox,
    h("h3", {}, "Results"), results);
  if (!info.revealed_at_ms) {
    shareSteps(shareBox, sale, me, (text) => showTender(body, sale, me, text));
    watchForTheReveal(body, sale, me);
  } else replace(shareBox, h("p", {dataset: {field: "share-state"}}, note || "The tender is revealed: the shares are no longer needed."));
  await showResults(results, sale, lots);
}

function shareSteps(box, sale, me, revealed) {
  let share = null;  // the opened share: in this closure only, until it is given
  const state = h("p", {dataset: {field: "share-state"}, role: "status"}, "Not opened.");
  const openButton = h("button", {type: "button", dataset: {action: "open-share"}}, "Fetch and open my share");
  const giveButton = h("button", {type: "button", dataset: {action: "give-share"}, disabled: true}, "Give my share");
  openButton.addEventListener("click", () => run(openButton, async () => {
    const mine = await api("GET", `/api/sales/${sale}/tender/shares/mine`);
    const key = await ownKey(`officer:${me.id}`, {create: false});
    if (!key || key.fingerprint !== mine.key_fingerprint) {
      throw new Error(`your share is sealed to key ${mine.key_fingerprint}, which this browser does not hold`);
    }
    try {
      share = await openSeal(key, mine.sealed, `tender-share|${sale}|${mine.x}|${mine.officer}`);
    } catch {
      throw new Error("your share did not open with this browser's key");
    }
    state.textContent = `Share ${mine.x} opened in this browser with your key ${key.fingerprint}. Give it to reveal.`;
    giveButton.disabled = false;
    giveButton.focus();
    return mine;
  }, "Your share is open in this page."));
  giveButton.addEventListener("click", () => run(giveButton, async () => {
    const answer = await api("POST", `/api/sales/${sale}/tender/shares`, {shares: [share]});
    share = null;  // given: forgotten
    giveButton.disabled = true;
    if (answer.held !== undefined) {
      state.textContent = `Given. ${answer.held} of ${answer.needed} shares are held; the reveal happens when `
        + `${answer.needed} are given (within ${Math.round(answer.expires_in_s / 60)} minutes, or they are dropped).`;
      state.dataset.held = String(answer.held);
      return answer;
    }
    await revealed(`Revealed with the shares of officers ${answer.officers.join(", ")}.`);
    return answer;
  }, (answer) => (answer.held !== undefined ? "Your share is held." : "The tender is revealed.")));
  replace(box, state, h("div", {class: "actions"}, openButton, giveButton),
    h("p", {class: "muted"}, "The share is opened in this page and given at once; nothing of it is stored."));
}

async function showResults(box, sale, lots) {
  let answer;
  try {
    answer = await api("GET", `/api/sales/${sale}/tender/results`);
  } catch (exc) {
    replace(box, h("p", {class: "status status-error"}, errorText(exc)));
    return;
  }
  const cur = (await api("GET", `/api/sales/${sale}`)).sale.currency;
  const titles = new Map(lots.map((entry) => [entry.listing.lot, entry.listing.title]));
  if (!answer.revealed_at_ms) {
    replace(box, h("p", {class: "muted"}, "Nothing is opened before the reveal: not by the house, not by anyone."));
    return;
  }
  replace(box,
    table({caption: "Each lot's result", rows: answer.lots, columns: [
      {label: "Lot", cell: (r) => `Lot ${r.lot}: ${titles.get(r.lot) || ""}`},
      {label: "Result", cell: (r) => badge(STATUS_WORDS[r.status] || r.status, r.status === "sold" ? "lead" : "neutral")},
      {label: "Amount", num: true, cell: (r) => (r.amount ? money(r.amount, cur) : "–")},
      {label: "Per carat", num: true, cell: (r) => (r.per_carat ? money(r.per_carat, cur) : "–")},
      {label: "Bids", num: true, cell: (r) => String(r.bids)},
    ]}),
    answer.offers.length ? h("p", {}, `Waiting for their consignor: ${answer.offers.map((o) =>
      `lot ${o.lot}, ${money(o.amount, cur)} against a reserve of ${money(o.reserve, cur)} until ${new Date(o.until_ms).toLocaleString()}`).join("; ")}.`) : null,
    h("h4", {}, "Every opened bid"),
    table({caption: "Every opened bid", rows: answer.bids.map((b) => ({...b, __data: {lot: String(b.lot), rank: String(b.rank)}})), columns: [
      {label: "Lot", cell: (b) => String(b.lot)},
      {label: "Rank", num: true, cell: (b) => String(b.rank)},
      {label: "Paddle", num: true, cell: (b) => String(b.paddle)},
      {label: "Amount", num: true, cell: (b) => money(b.amount, cur)},
      {label: "Per carat", num: true, cell: (b) => (b.per_carat ? money(b.per_carat, cur) : "in total")},
      {label: "Limit", cell: (b) => (b.excluded ? "Over the buyer's limit: passed over" : "")},
    ]}));
}

// ---- a new tender ---------------------------------------------------------------------------------------------

const LOT_LINE = "lot; title; carats; low estimate; high estimate; reserve; consignor number; KP certificate";

function localInput(name, ms) {
  const local = new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  return input(name, {type: "datetime-local", value: local, required: true});
}

function tenderForm(me) {
  const now = Date.now();
  const lotsText = h("textarea", {name: "lots", rows: "4", required: true,
    placeholder: "1; Rough parcel, 12 stones; 25.40; 40000.00; 60000.00; 35000.00; 3; BW-KP-2026-0417"});
  const form = h("form", {class: "form", id: "new-tender", "aria-label": "New tender"},
    h("div", {class: "grid-2"},
      field("Sale number", input("id", {inputmode: "numeric", required: true})),
      field("Name", input("name", {required: true, value: "Rough tender"})),
      field("Currency", input("currency", {required: true, value: "USD", maxlength: "3"})),
      field("Viewing from", localInput("starts_at", now)),
      field("Bids from", localInput("bids_from", now + HOUR_MS)),
      field("Bids close", localInput("closes", now + 24 * HOUR_MS)),
      field("Consignor's acceptance window (hours)", input("acceptance_hours", {inputmode: "numeric", value: "24"})),
      field("Shares needed to reveal", input("threshold", {inputmode: "numeric", value: "2"})),
      field("Officers (account numbers, commas between)", input("officers", {required: true, value: String(me.id)}),
        "Each must have registered an officer key.")),
    field(`Lots, one a line: ${LOT_LINE}`, lotsText, "Amounts in the currency's units, e.g. 35000.00; carats e.g. 25.40."),
    h("div", {class: "actions"}, h("button", {type: "submit"}, "Create the tender")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    run(button, async () => {
      const created = await api("POST", "/api/tenders", tenderBody(form));
      form.reset();
      return created;
    }, (created) => `Tender ${created.sale} created: key ${created.key_fingerprint}, `
      + `${created.threshold} of ${created.officers.length} shares to reveal.`);
  });
  return form;
}

function whole(form, name) {
  const text = form.elements.namedItem(name).value.trim();
  if (!/^\d{1,15}$/.test(text)) throw fieldProblem(name, "a whole number");
  return Number(text);
}

function fieldProblem(name, message) {
  return new ApiError(400, "invalid", name, `${name}: ${message}`);
}

function minor(text, currency, line) {
  const value = parseMoney(text, currency);
  if (value === null || value <= 0n) throw fieldProblem("lots", `line ${line}: an amount in ${currency} such as 35000.00, not "${text}"`);
  return Number(value);
}

function tenderBody(form) {
  const at = (name) => new Date(form.elements.namedItem(name).value).getTime();
  const currency = form.elements.namedItem("currency").value.trim().toUpperCase();
  const lots = form.elements.namedItem("lots").value.split("\n").filter((line) => line.trim()).map((line, index) => {
    const cells = line.split(";").map((cell) => cell.trim());
    if (cells.length !== 8) throw fieldProblem("lots", `line ${index + 1}: ${LOT_LINE}`);
    const [lot, title, weight, low, high, reserve, consignor, kp] = cells;
    const points = parseMoney(weight, "USD");  // carats to hundredths, as cents are to dollars
    if (!points) throw fieldProblem("lots", `line ${index + 1}: carats such as 25.40, not "${weight}"`);
    const amount = (text) => minor(text, currency, index + 1);
    return {lot: Number(lot), title, consignor_id: Number(consignor),
      diamond: {carat_points: Number(points), shape: "Rough", report_override_reason: "rough parcel: viewed, not graded"},
      low_estimate: amount(low), high_estimate: amount(high), reserve: amount(reserve), opening: 1,
      details: kp ? {kp_certificate: kp} : {}};
  });
  const officers = form.elements.namedItem("officers").value.split(",").map((s) => Number(s.trim())).filter(Boolean);
  return {
    id: whole(form, "id"), name: form.elements.namedItem("name").value.trim(),
    currency, format: "tender",
    starts_at_ms: at("starts_at"), first_close_ms: at("closes"),
    settings: {stagger_ms: 0, tender: {bids_from_ms: at("bids_from"), acceptance_window_ms: whole(form, "acceptance_hours") * HOUR_MS,
      threshold: whole(form, "threshold"), officers}},
    lots,
  };
}

// last: the page starts once every constant above is defined
const ctx = await openConsole({title: "Tenders", path: "/console/tender"});
if (ctx) await start(ctx);
