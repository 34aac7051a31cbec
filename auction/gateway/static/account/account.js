// The buyer's account (/account): what is due and when, their invoices (each opens as a document, and prints),
// the offers made to them to answer (second chances after a default; the reserve offer on a passed lot) and the
// passed lots they may still make an offer on, the shipments of what they bought, and their registrations.
//
// Sources: GET /api/settlement/buyers/{company}/invoices, .../second-chances, .../shipments (their own company's
// only), GET /api/settlement/sales/{sale}/post-sale for each sale they are registered in, and
// GET /api/companies/{company}/registrations (their own company's, every sale).

import {api, ApiError} from "../js/api.js";
import {clock} from "../js/clock.js";
import {field, fieldError, h, replace} from "../js/dom.js";
import {newClientId} from "../js/feed.js";
import {date, money, parseMoney, when} from "../js/format.js";
import {mount, setStatus} from "../js/shell.js";
import {empty, failed, loadSales, printUrl, rate, saleName, shipmentsTable, table} from "./parts.js";

const INVOICE_STATUS = {open: "Open", paid: "Paid", defaulted: "In default"};
const REGISTRATION_STATUS = {requested: "Waiting for the house", approved: "Approved", refused: "Refused"};
const OFFER_STATUS = {open: "Open", accepted: "Accepted", declined: "Declined", expired: "Expired", closed: "Closed",
  replaced: "Replaced by your newer offer", withdrawn: "Withdrawn"};

let company = null;
let sales = new Map();
let registrations = [];


// ---- invoices and what is due -----------------------------------------------------------------------------------

function dueCell(invoice, nowMs) {
  const overdue = invoice.status === "open" && invoice.outstanding > 0 && invoice.due_ms < nowMs;
  return h("span", {class: overdue ? "due-overdue" : null, dataset: {overdue: String(overdue)}},
    when(invoice.due_ms), overdue ? " (overdue)" : "");
}

function invoicesTable(invoices, nowMs) {
  const rows = invoices.map((invoice) => [
    h("a", {href: `/account/invoice?sale=${invoice.sale}`, "aria-label": `Invoice ${invoice.sale}-${invoice.id}, ${invoice.sale_name}`},
      `${invoice.sale}-${invoice.id}`),
    invoice.sale_name,
    date(invoice.issued_ms),
    dueCell(invoice, nowMs),
    h("span", {dataset: {invoiceStatus: invoice.status}}, INVOICE_STATUS[invoice.status] || invoice.status),
    money(invoice.total, invoice.currency),
    money(invoice.paid, invoice.currency),
    h("strong", {}, money(invoice.outstanding, invoice.currency)),
    h("a", {href: printUrl(invoice.sale, company), target: "_blank", rel: "noopener",
      "aria-label": `Print invoice ${invoice.sale}-${invoice.id}`}, "Print"),
  ]);
  return table("Your invoices, newest first", ["Invoice", "Sale", "Issued", "Due", "Status", "Total", "Paid",
    "Outstanding", ""], rows, {numeric: [5, 6, 7]});
}

function dueSummary(invoices, nowMs) {
  const open = invoices.filter((invoice) => invoice.status === "open" && invoice.outstanding > 0);
  if (!open.length) return empty("Nothing is due. Thank you.");
  const owed = new Map();
  for (const invoice of open) owed.set(invoice.currency, (owed.get(invoice.currency) || 0n) + BigInt(invoice.outstanding));
  const next = open.reduce((a, b) => (a.due_ms <= b.due_ms ? a : b));
  const interest = open.filter((invoice) => invoice.interest_to_date > 0);
  return h("div", {},
    h("dl", {class: "figures"},
      [...owed].map(([currency, amount]) => h("div", {}, h("dt", {}, `Outstanding in ${currency}`),
        h("dd", {dataset: {outstanding: currency}}, money(amount, currency)))),
      h("div", {}, h("dt", {}, "Next due"), h("dd", {}, dueCell(next, nowMs)))),
    h("ul", {}, open.map((invoice) => h("li", {},
      `${money(invoice.outstanding, invoice.currency)} for ${invoice.sale_name}, due ${when(invoice.due_ms)}. `,
      `Overdue amounts bear interest of ${rate(invoice.interest_bp_per_month)} a month`,
      invoice.interest_to_date > 0 ? `; ${money(invoice.interest_to_date, invoice.currency)} so far.` : ".",
      " ", h("a", {href: `/account/invoice?sale=${invoice.sale}`}, "How to pay")))),
    interest.length ? h("p", {class: "banner"}, "Some of your invoices are overdue and bearing interest.") : null);
}

async function loadInvoices() {
  const list = document.getElementById("invoice-list");
  const due = document.getElementById("due-summary");
  try {
    const invoices = await api("GET", `/api/settlement/buyers/${company}/invoices`);
    const nowMs = clock.now();
    replace(due, dueSummary(invoices, nowMs));
    replace(list, invoices.length ? invoicesTable(invoices, nowMs) : empty("You have no invoices yet."));
  } catch (exc) {
    failed(list, "Your invoices", exc);
    replace(due, "");
  }
}

// ---- offers -----------------------------------------------------------------------------------------------------

async function answer(path, accept, what) {
  try {
    const result = await api("POST", path, {accept});
    setStatus(`${what}: ${accept ? "accepted" : "declined"}.`, "ok");
    return result;
  } catch (exc) {
    setStatus(`${what} could not be answered: ${exc.message}`, "error");
    return null;
  } finally {
    await Promise.all([loadOffers(), loadInvoices()]);
  }
}

function answerButtons(label, path, what) {
  return h("span", {class: "actions"},
    h("button", {type: "button", "aria-label": `Accept ${label}`, on: {click: (e) => { e.target.disabled = true; answer(path, true, what); }}}, "Accept"),
    h("button", {type: "button", class: "secondary", "aria-label": `Decline ${label}`,
      on: {click: (e) => { e.target.disabled = true; answer(path, false, what); }}}, "Decline"));
}

function secondChanceRows(offers, nowMs) {
  return offers.map((offer) => {
    const label = `the second-chance offer of lot ${offer.lot} at ${money(offer.amount, offer.currency)}`;
    const open = offer.status === "open" && offer.expires_ms > nowMs;
    return [
      "Second chance",
      `${offer.sale_name}, lot ${offer.lot}: ${offer.title}`,
      money(offer.amount, offer.currency),
      money(offer.amount + offer.premium, offer.currency),
      when(offer.expires_ms),
      h("span", {dataset: {offerStatus: offer.status}}, OFFER_STATUS[offer.status] || offer.status),
      open ? answerButtons(label, `/api/settlement/offers/${offer.id}`, `The second-chance offer on lot ${offer.lot}`) : "",
    ];
  });
}

function postSaleRows(sale, view, nowMs) {
  const currency = (sales.get(sale) || {currency: "USD"}).currency;
  return view.offers.map((offer) => {
    const mine = offer.kind === "buyer";
    const label = `the house's offer of lot ${offer.lot} at ${money(offer.amount, currency)}`;
    const open = !mine && offer.status === "open" && offer.expires_ms > nowMs;
    return [
      mine ? "Your offer" : "At the reserve, to you",
      `${saleName(sales, sale)}, lot ${offer.lot}`,
      money(offer.amount, currency),
      "",
      when(offer.expires_ms),
      h("span", {dataset: {offerStatus: offer.status}}, OFFER_STATUS[offer.status] || offer.status),
      open ? answerButtons(label, `/api/settlement/post-sale-offers/${offer.id}`, `The offer on lot ${offer.lot}`) : "",
    ];
  });
}

function offerForm(sale, lot) {
  const currency = (sales.get(sale) || {currency: "USD"}).currency;
  const input = h("input", {type: "text", inputmode: "decimal", autocomplete: "off", required: true});
  const form = h("form", {class: "form", "aria-label": `Make an offer for lot ${lot.lot} of ${saleName(sales, sale)}`},
    field(`Your offer for lot ${lot.lot} (${currency}, before premium)`, input,
      `Open until ${when(lot.window_ms)}; the consignor accepts or declines it.`),
    h("button", {type: "submit"}, "Make the offer"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const amount = parseMoney(input.value, currency);
    if (amount === null || amount <= 0n) return fieldError(input, `Give an amount in ${currency}, e.g. 4500.00`);
    fieldError(input, null);
    try {
      await api("POST", `/api/settlement/sales/${sale}/lots/${lot.lot}/offers`,
        {amount: Number(amount), client_id: newClientId("o")});
      setStatus(`Your offer of ${money(amount, currency)} for lot ${lot.lot} was sent to the consignor.`, "ok");
      await loadOffers();
    } catch (exc) {
      if (exc instanceof ApiError && exc.field === "amount") fieldError(input, exc.message);
      else setStatus(`The offer could not be made: ${exc.message}`, "error");
    }
  });
  return form;
}

async function loadOffers() {
  const target = document.getElementById("offer-list");
  const registered = registrations.filter((r) => r.status === "approved").map((r) => r.sale);
  try {
    const [chances, ...views] = await Promise.all([
      api("GET", `/api/settlement/buyers/${company}/second-chances`),
      ...registered.map((sale) => api("GET", `/api/settlement/sales/${sale}/post-sale`)),
    ]);
    const nowMs = clock.now();
    const rows = [...secondChanceRows(chances, nowMs),
      ...views.flatMap((view, index) => postSaleRows(registered[index], view, nowMs))];
    const forms = views.flatMap((view, index) => view.open_lots.map((lot) => offerForm(registered[index], lot)));
    replace(target,
      rows.length
        ? table("Offers made to you, and yours", ["Kind", "Lot", "Price", "With premium", "Open until", "Status", ""],
          rows, {numeric: [2, 3]})
        : empty("No offers are waiting for you."),
      forms.length ? h("h3", {}, "Passed lots open for offers") : null,
      forms);
  } catch (exc) {
    failed(target, "Your offers", exc);
  }
}

// ---- shipments, registrations ------------------------------------------------------------------------------------

async function loadShipments() {
  const target = document.getElementById("shipment-list");
  try {
    const shipments = await api("GET", `/api/settlement/buyers/${company}/shipments`);
    replace(target, shipments.length ? shipmentsTable(shipments, sales) : empty("Nothing has been shipped to you yet."));
  } catch (exc) {
    failed(target, "Your shipments", exc);
  }
}

async function loadRegistrations() {
  try {
    registrations = await api("GET", `/api/companies/${company}/registrations`);
  } catch (exc) {
    failed(document.getElementById("registration-list"), "Your registrations", exc);
    return;
  }
  const rows = registrations.map((r) => {
    const currency = (sales.get(r.sale) || {currency: "USD"}).currency;
    return [
      h("a", {href: `/sales/${r.sale}`}, saleName(sales, r.sale)),
      h("span", {dataset: {registration: r.status}}, REGISTRATION_STATUS[r.status] || r.status, r.reason ? ` (${r.reason})` : ""),
      r.paddle ? String(r.paddle) : "–",
      r.limit ? money(r.limit, currency) : "–",
      money(r.deposit_required, currency),
      money(r.deposit_received, currency),
    ];
  });
  replace(document.getElementById("registration-list"), rows.length
    ? table("Your registrations", ["Sale", "Status", "Paddle", "Bidding limit", "Deposit asked", "Deposit received"],
      rows, {numeric: [2, 3, 4, 5]})
    : empty("You have not registered for a sale yet: open a sale to register for it."));
}

async function start() {
  const {me, allowed} = await mount({title: "My account", roles: ["buyer"]});
  if (!allowed) return;
  company = me.company_id;
  document.getElementById("who").textContent = `Signed in as ${me.name}.`;
  clock.start();
  try {
    sales = await loadSales();
  } catch (exc) {
    setStatus(`The sales could not be loaded: ${exc.message}`, "error");
  }
  await Promise.all([loadInvoices(), loadShipments(), loadRegistrations().then(loadOffers)]);
}

start();
