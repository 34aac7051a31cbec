// The settlement desk of a sale: its invoices and the payments on them (record one; print the invoice), the
// defaulted lots and their second-chance offers, the passed lots (the house's reserve offer and buyers' offers,
// consent to relist, relisting, the return), shipments and their tracking, and insurance claims.

import {api} from "../js/api.js";
import {field, h, replace} from "../js/dom.js";
import {date, money, plural, when} from "../js/format.js";
import {
  badge, errorText, input, loadSales, moneyInput, openConsole, queryInt, readMoney, run, saleSelect, select, setQuery,
  table,
} from "./common.js";

const PARTS = [["invoices", "Invoices"], ["defaults", "Defaults"], ["passed", "Passed lots"],
  ["shipments", "Shipments"], ["claims", "Claims"]];
const INVOICE_KIND = {open: "pending", paid: "sold", defaulted: "rejected"};
const RESOLUTIONS = [["second_chance", "Offer it to the underbidders in turn"], ["reaward", "Re-award it (strike the defaulter's bids)"],
  ["relist", "Relist it in a later sale"], ["cancel", "Cancel the sale of the lot"]];
const TRACKING = [["collected", "Collected"], ["in_transit", "In transit"], ["delivered_signed", "Delivered and signed"],
  ["exception", "Exception"], ["lost", "Lost"]];
const CLAIM_KINDS = [["loss", "Loss"], ["theft", "Theft"], ["damage", "Damage"]];
const EVIDENCE_KINDS = [["invoice", "Invoice (proof of value)"], ["appraisal", "Appraisal (proof of value)"],
  ["grading_report", "Grading report (proof of value)"], ["photo", "Photo"], ["police_report", "Police report"],
  ["other", "Other"]];
const CLAIMABLE = ["lost", "exception"];  // a parcel in these states may be claimed for
const CLAIM_MOVES = [["documents_requested", "Ask for documents"], ["under_review", "Start the review"],
  ["approved", "Approve an amount"], ["paid", "Record it paid"], ["denied", "Deny, with the reason"]];

// Buyers as people know them: the company's legal name and its paddle in this sale, never a bare id (set before
// the page is drawn: the module's top-level await below starts it).
let buyers = new Map();
// The other ends of shipments, named too: consignors (id -> name) and each lot's laboratory (lot -> the lab that
// graded its stone: labs have no record of their own in the house's books, the stone's report names the lab).
let consignors = new Map();
let labs = new Map();

const ctx = await openConsole({title: "Settlement desk", path: "/console/settlement"});
if (ctx) await start(ctx);

async function start({main}) {
  let sales = [];
  try {
    sales = await loadSales();
  } catch (exc) {
    replace(main, h("h1", {}, "Settlement desk"), h("p", {class: "status status-error"}, errorText(exc)));
    return;
  }
  const body = h("div", {id: "desk"});
  replace(main, h("h1", {}, "Settlement desk"), saleSelect(sales, queryInt("sale"), (id) => show(id)), body);

  async function show(saleId) {
    setQuery({sale: saleId});
    const sale = sales.find((s) => s.id === saleId);
    if (!sale) return replace(body, h("p", {class: "muted"}, "Choose a sale to settle."));
    const refresh = () => show(saleId);
    replace(body, h("p", {class: "muted"}, "Loading…"));
    const base = `/api/settlement/sales/${sale.id}`;
    const got = await Promise.allSettled([
      api("GET", base), api("GET", `${base}/invoices`), api("GET", `${base}/defaults`), api("GET", `${base}/passed`),
      api("GET", `${base}/shipments`), api("GET", `${base}/claims`), buyerNames(sale),
    ]);
    const [summary, invoices, defaults, passed, shipments, claims, names] = got.map((g) => (g.status === "fulfilled" ? g.value : g.reason));
    buyers = names instanceof Error ? new Map() : names;
    if (!(shipments instanceof Error)) await nameOtherParties(sale, shipments);
    replace(body,
      h("nav", {class: "in-page", "aria-label": "Parts of the desk"},
        h("ul", {}, PARTS.map(([id, label]) => h("li", {}, h("a", {href: `#${id}`}, label))))),
      part("summary", "Summary", summary, (s) => summaryOf(sale, s)),
      part("invoices", "Invoices and payments", invoices, (rows) => invoicesOf(sale, rows, refresh)),
      part("defaults", "Defaults and second-chance offers", defaults, (rows) => defaultsOf(sale, rows, refresh)),
      part("passed", "Passed lots", passed, (rows) => passedOf(sale, rows, refresh)),
      part("shipments", "Shipments and tracking", shipments, (rows) => shipmentsOf(sale, rows, refresh)),
      part("claims", "Insurance claims", claims, (rows) => claimsOf(sale, rows, refresh)));
  }

  await show(queryInt("sale"));
}

async function buyerNames(sale) {
  const [registrations, companies] = await Promise.all([
    api("GET", `/api/sales/${sale.id}/registrations`), api("GET", "/api/companies")]);
  const paddles = new Map(registrations.map((r) => [r.company, r.paddle]));
  return new Map(companies.map((c) => [c.id, paddles.get(c.id) ? `${c.legal_name} (paddle ${paddles.get(c.id)})` : c.legal_name]));
}

function buyerName(id) {
  return buyers.get(id) || `buyer ${id}`;
}

// Names for the consignors and laboratories the shipments go to or come from; a name that can't be had leaves the
// number in its place (partyName), never an empty page.
async function nameOtherParties(sale, shipments) {
  const ids = [...new Set(shipments.filter((s) => s.purpose === "to_consignor").map((s) => s.party))];
  const found = await Promise.allSettled(ids.map((id) => api("GET", `/api/house/consignors/${id}`)));
  consignors = new Map(found.filter((f) => f.status === "fulfilled")
    .map(({value: file}) => [file.consignor.id, consignorName(file.consignor)]));
  labs = new Map();
  if (!shipments.some((s) => s.purpose === "to_lab" || s.purpose === "from_lab")) return;
  try {
    const lots = await api("GET", `/api/sales/${sale.id}/lots`);
    labs = new Map(lots.filter((e) => e.listing.diamond && e.listing.diamond.lab)
      .map((e) => [e.listing.lot, e.listing.diamond.lab]));
  } catch {
    labs = new Map();  // the sentence keeps the lab's number
  }
}

function consignorName(c) {
  return c.company && c.company !== c.name ? `${c.name}, ${c.company}` : c.name;
}

// Where a shipment goes: "to <buyer>", "to the consignor, <name>", "to the laboratory, GIA", "from the laboratory, GIA".
function partyName(s) {
  if (s.purpose === "to_buyer") return `to ${buyerName(s.party)}`;
  if (s.purpose === "to_consignor") return `to the consignor, ${consignors.get(s.party) || `consignor ${s.party}`}`;
  const where = s.purpose === "from_lab" ? "from" : "to";
  return labs.has(s.lot) ? `${where} the laboratory, ${labs.get(s.lot)}` : `${where} laboratory ${s.party}`;
}

function part(id, title, value, render) {
  const content = value instanceof Error ? h("p", {class: "status status-error"}, errorText(value)) : render(value);
  return h("section", {class: "panel", id, "aria-labelledby": `${id}-title`}, h("h2", {id: `${id}-title`}, title), content);
}

function summaryOf(sale, s) {
  const cur = sale.currency;
  const row = (label, value) => h("div", {}, h("dt", {}, label), h("dd", {}, value));
  return h("dl", {class: "facts"},
    row("Invoices", String(s.invoices)), row("Invoiced", money(s.invoiced_total, cur)),
    row("Buyer's premium", money(s.premium_total, cur)), row("Defaults", String(s.defaults)),
    row("Second-chance sales", String(s.second_chance_sales)), row("Stones returned", String(s.returns)),
    row("Claims", String(s.claims)),
    row("Ledger", s.reconcile === "clean" ? "reconciles" : `${plural(s.reconcile.length, "problem")}: ${s.reconcile.join("; ")}`));
}

// ---- invoices ---------------------------------------------------------------------------------------------------

function invoicesOf(sale, rows, refresh) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  return h("div", {},
    table({
      caption: "Invoices", empty: "No invoice yet: lots are invoiced as they are sold.",
      rows: rows.map((r) => ({...r, __data: {invoice: r.id, buyer: r.buyer}})),
      columns: [
        {label: "Invoice", cell: (r) => `${r.id}`},
        {label: "Buyer", cell: (r) => `${r.buyer_name || `buyer ${r.buyer}`}${r.paddle ? ` (paddle ${r.paddle})` : ""}`},
        {label: "Status", cell: (r) => h("span", {class: "invoice-status"}, badge(r.status, INVOICE_KIND[r.status]))},
        {label: "Lots", num: true, cell: (r) => String(r.lots)},
        {label: "Total", num: true, cell: (r) => money(r.total, r.currency)},
        {label: "Paid", num: true, cell: (r) => money(r.paid, r.currency)},
        {label: "Outstanding", num: true, cell: (r) => money(r.outstanding, r.currency)},
        {label: "Due", cell: (r) => date(r.due_ms)},
        {label: "Invoice", cell: (r) => h("a", {href: `/api/settlement/sales/${sale.id}/invoices/${r.buyer}/print?tz=${encodeURIComponent(zone)}`,
          target: "_blank", rel: "noopener"}, "Print")},
      ],
    }),
    rows.filter((r) => r.status === "open").map((r) => paymentForm(r, refresh)));
}

function paymentForm(invoice, refresh) {
  const cur = invoice.currency;
  const who = invoice.buyer_name || `buyer ${invoice.buyer}`;
  const amount = moneyInput("amount", cur, {required: true});
  const reference = input("reference", {required: true, maxlength: 200, autocomplete: "off"});
  const submit = h("button", {type: "submit"}, "Record the payment");
  const form = h("form", {class: "form payment-form", dataset: {invoice: invoice.id}, "aria-label": `Payment on invoice ${invoice.id}`},
    h("fieldset", {},
      h("legend", {}, `Invoice ${invoice.id}, ${who}: ${money(invoice.outstanding, cur)} outstanding`),
      h("div", {class: "grid-2"}, field(`Amount received (${cur})`, amount, "Cleared funds; part payments are fine"),
        field("Payment reference", reference, "The same reference twice records it once")),
      h("div", {class: "actions"}, submit)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(submit, () => api("POST", `/api/settlement/invoices/${invoice.id}/payments`,
      {amount: readMoney(form, "amount", cur), reference: reference.value.trim()}),
    (view) => `Invoice ${view.id}: ${view.status === "paid" ? "paid in full" : `${money(view.outstanding, cur)} still outstanding`}.`);
    if (done) await refresh();
  });
  return form;
}

// ---- defaults ---------------------------------------------------------------------------------------------------

function defaultsOf(sale, rows, refresh) {
  const cur = sale.currency;
  if (!rows.length) return h("p", {class: "muted"}, "No buyer has defaulted in this sale.");
  return h("div", {}, rows.map((d) => h("article", {class: "item", dataset: {lot: d.lot}},
    h("h3", {}, `Lot ${d.lot}: ${d.defaulter_name || `buyer ${d.defaulter}`} defaulted on ${money(d.hammer, cur)}`),
    h("p", {}, `In default since ${when(d.at_ms)}. `, badge(d.resolution.replaceAll("_", " "), d.resolution === "pending" ? "pending" : "neutral")),
    d.resolution === "pending" ? resolveForm(sale, d, refresh) : null,
    d.offers.length ? table({
      caption: `Second-chance offers for lot ${d.lot}`, rows: d.offers,
      columns: [
        {label: "Turn", num: true, cell: (o) => String(o.rank)},
        {label: "Underbidder", cell: (o) => buyerName(o.buyer)},
        {label: "At their last bid", num: true, cell: (o) => money(o.amount, cur)},
        {label: "Answer by", cell: (o) => when(o.expires_ms)},
        {label: "Status", cell: (o) => o.status},
        {label: "Their answer", cell: (o) => (o.status === "open" ? offerAnswer(`/api/settlement/offers/${o.id}`, refresh) : "")},
      ],
    }) : null)));
}

function resolveForm(sale, d, refresh) {
  const choice = select("choice", RESOLUTIONS);
  const submit = h("button", {type: "submit"}, "Resolve");
  const form = h("form", {class: "actions", "aria-label": `Resolve lot ${d.lot}`}, field("What follows", choice), submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(submit, () => api("POST", `/api/settlement/sales/${sale.id}/lots/${d.lot}/default`, {choice: choice.value}),
      (r) => `Lot ${d.lot}: ${r.result.replaceAll("_", " ")}.`);
    if (done) await refresh();
  });
  return form;
}

function offerAnswer(path, refresh) {
  const answer = (accept) => async (e) => {
    const done = await run(e.currentTarget, () => api("POST", path, {accept}), accept ? "Accepted." : "Declined.");
    if (done) await refresh();
  };
  return h("span", {class: "actions"},
    h("button", {type: "button", on: {click: answer(true)}}, "Accepted"),
    h("button", {type: "button", class: "secondary", on: {click: answer(false)}}, "Declined"));
}

// ---- passed lots ------------------------------------------------------------------------------------------------

function passedOf(sale, rows, refresh) {
  const cur = sale.currency;
  const relist = h("button", {type: "button", class: "secondary"}, "Relist waiting stones into this sale");
  relist.addEventListener("click", async () => {
    const done = await run(relist, () => api("POST", `/api/settlement/sales/${sale.id}/relistings`),
      (made) => `${plural(made.length, "stone")} relisted into ${sale.name}.`);
    if (done) await refresh();
  });
  return h("div", {},
    rows.length ? rows.map((p) => h("article", {class: "item", dataset: {lot: p.lot}},
      h("h3", {}, `Lot ${p.lot}: ${p.status.replaceAll("_", " ")}`),
      h("p", {}, `Highest bid ${money(p.highest_bid, cur)}, reserve ${money(p.reserve, cur)}; window until ${when(p.window_ms)}.`),
      p.offers.length ? table({
        caption: `Offers on lot ${p.lot}`, rows: p.offers,
        columns: [
          {label: "Offer", cell: (o) => (o.kind === "reserve" ? "The house's, at the reserve" : "A buyer's")},
          {label: "Buyer", cell: (o) => `${o.paddle ? `paddle ${o.paddle}` : `buyer ${o.buyer}`}`},
          {label: "Amount", num: true, cell: (o) => money(o.amount, cur)},
          {label: "Until", cell: (o) => when(o.expires_ms)},
          {label: "Status", cell: (o) => o.status},
          {label: "Answer", cell: (o) => (o.status === "open" ? offerAnswer(`/api/settlement/post-sale-offers/${o.id}`, refresh) : "")},
        ],
      }) : null,
      p.consent ? h("p", {}, `Consent to relist at ${money(p.consent.reserve, cur)} (${p.consent.source}, ${when(p.consent.consented_ms)})`
        + (p.consent.withdrawn_ms ? `, withdrawn ${when(p.consent.withdrawn_ms)}` : "")) : null,
      p.relisting ? h("p", {}, `Relisted as lot ${p.relisting.to_lot} of sale ${p.relisting.to_sale}.`) : null,
      p.returned ? h("p", {}, `Returned to its consignor (${p.returned.reason}): shipment ${p.returned.shipment}.`) : null,
      p.status === "post_sale" ? consentForm(sale, p, refresh) : null,
      p.status === "relist" && !p.relisting ? withdrawConsent(sale, p, refresh) : null))
      : h("p", {class: "muted"}, "No lot was passed in this sale."),
    h("div", {class: "actions"}, relist));
}

function consentForm(sale, p, refresh) {
  const cur = sale.currency;
  const reserve = moneyInput("reserve", cur, {required: true});
  const give = h("button", {type: "submit", class: "secondary"}, "Record consent to relist");
  const form = h("form", {class: "actions", "aria-label": `Relist consent for lot ${p.lot}`},
    field(`New reserve (${cur}), below ${money(p.reserve, cur)}`, reserve), give);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(give, () => api("POST", `/api/settlement/sales/${sale.id}/lots/${p.lot}/relist`,
      {reserve: readMoney(form, "reserve", cur)}), `Lot ${p.lot}: the consignor's consent is recorded.`);
    if (done) await refresh();
  });
  return form;
}

function withdrawConsent(sale, p, refresh) {
  const withdraw = h("button", {type: "button", class: "secondary"}, "The consignor withdraws consent: send it back");
  withdraw.addEventListener("click", async () => {
    const done = await run(withdraw, () => api("DELETE", `/api/settlement/sales/${sale.id}/lots/${p.lot}/relist`),
      `Lot ${p.lot}: consent withdrawn; the stone goes back to its consignor.`);
    if (done) await refresh();
  });
  return h("div", {class: "actions"}, withdraw);
}

// ---- shipments --------------------------------------------------------------------------------------------------

function shipmentsOf(sale, rows, refresh) {
  const ship = h("button", {type: "button", class: "secondary"}, "Ship every paid lot");
  ship.addEventListener("click", async () => {
    const done = await run(ship, () => api("POST", `/api/settlement/sales/${sale.id}/ship-paid`),
      (made) => `${plural(made.shipments.length, "shipment")} created.`);
    if (done) await refresh();
  });
  return h("div", {},
    rows.length ? rows.map((s) => h("article", {class: "item", dataset: {shipment: s.id}},
      h("h3", {}, `Shipment ${s.id}: lot ${s.lot}, ${s.purpose.replaceAll("_", " ")} `, badge(s.state.replaceAll("_", " "),
        s.state === "delivered_signed" ? "sold" : ["lost", "exception"].includes(s.state) ? "rejected" : "pending")),
      h("p", {}, `${s.carrier}, declared ${money(s.declared_value, s.currency)}, ${partyName(s)}; `
        + `created ${when(s.created_ms)}, due ${date(s.scheduled_ms)}.`),
      table({
        caption: `Parcels of shipment ${s.id}`, rows: s.parcels,
        columns: [
          {label: "Parcel", num: true, cell: (p) => String(p.no)},
          {label: "Tracking", cell: (p) => p.tracking_no},
          {label: "Value", num: true, cell: (p) => money(p.declared_value, s.currency)},
          {label: "State", cell: (p) => p.state.replaceAll("_", " ")},
          {label: "Last scan", cell: (p) => (p.history.length ? when(p.history[p.history.length - 1].at_ms) : "")},
        ],
      }),
      s.parcels.some((p) => !["delivered_signed", "lost"].includes(p.state)) ? trackingForm(s, refresh) : null,
      s.parcels.some((p) => CLAIMABLE.includes(p.state)) ? claimFiling(s, refresh) : null))
      : h("p", {class: "muted"}, "No shipment yet."),
    h("div", {class: "actions"}, ship));
}

function trackingForm(s, refresh) {
  const parcel = select("parcel", s.parcels.filter((p) => !["delivered_signed", "lost"].includes(p.state))
    .map((p) => [String(p.no), `Parcel ${p.no} (${p.tracking_no})`]));
  const state = select("state", TRACKING);
  const note = input("note", {maxlength: 500});
  const submit = h("button", {type: "submit", class: "secondary"}, "Record the scan");
  const form = h("form", {class: "form", "aria-label": `Tracking of shipment ${s.id}`},
    h("div", {class: "grid-2"}, field("Parcel", parcel), field("New state", state), field("Note", note)),
    h("div", {class: "actions"}, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(submit, () => api("POST", `/api/settlement/shipments/${s.id}/parcels/${parcel.value}/tracking`,
      {state: state.value, note: note.value.trim()}), `Shipment ${s.id}: parcel ${parcel.value} recorded.`);
    if (done) await refresh();
  });
  return form;
}

// A lost or damaged parcel: the desk files the insurance claim for it here (the claim then waits for its evidence).
function claimFiling(s, refresh) {
  const parcel = select("parcel", s.parcels.filter((p) => CLAIMABLE.includes(p.state))
    .map((p) => [String(p.no), `Parcel ${p.no} (${p.tracking_no}, ${p.state})`]));
  const kind = select("kind", CLAIM_KINDS);
  const description = h("textarea", {name: "description", rows: 2, maxlength: 2000});
  const submit = h("button", {type: "submit", class: "secondary"}, "File the claim");
  const idemKey = `desk-claim-${s.id}-${Date.now()}`;  // one per form: a double click files once
  const form = h("form", {class: "form claim-filing", "aria-label": `Claim on shipment ${s.id}`},
    h("div", {class: "grid-2"}, field("Parcel", parcel), field("Kind of claim", kind),
      field("What happened", description)),
    h("div", {class: "actions"}, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(submit, () => api("POST", "/api/settlement/claims", {kind: kind.value,
      idem_key: `${idemKey}-${parcel.value}-${kind.value}`, shipment: s.id, parcel: Number(parcel.value),
      description: description.value.trim()}), (c) => `Claim ${c.id} filed: ${c.kind} of lot ${c.lot}.`);
    if (done) await refresh();
  });
  return form;
}

// ---- claims -----------------------------------------------------------------------------------------------------

function claimsOf(sale, rows, refresh) {
  if (!rows.length) return h("p", {class: "muted"}, "No claim has been filed for this sale.");
  return h("div", {}, rows.map((c) => h("article", {class: "item", dataset: {claim: c.id}},
    h("h3", {}, `Claim ${c.id}: ${c.kind} of lot ${c.lot} `, badge(c.status.replaceAll("_", " "),
      c.status === "paid" ? "sold" : c.status === "denied" ? "rejected" : "pending")),
    h("p", {}, `Filed ${when(c.filed_ms)}; declared ${money(c.declared_value, c.currency)}; to ${c.payee}.`
      + (c.approved_amount !== null ? ` Approved: ${money(c.approved_amount, c.currency)}.` : "")
      + (c.denial_reason ? ` Denied: ${c.denial_reason}.` : "")),
    c.description ? h("p", {}, c.description) : null,
    c.missing.length ? h("p", {class: "banner"}, `Evidence still needed: ${c.missing.join(", ").replaceAll("_", " ")}`) : null,
    c.evidence && c.evidence.length ? h("p", {}, `Evidence: ${c.evidence.map((e) => e.kind.replaceAll("_", " ")).join(", ")}.`) : null,
    ["paid", "denied"].includes(c.status) ? null : evidenceForm(c, refresh),
    ["paid", "denied"].includes(c.status) ? null : claimForm(c, refresh))));
}

function evidenceForm(c, refresh) {
  const kind = select("kind", EVIDENCE_KINDS);
  const file = h("input", {type: "file", name: "file", required: true, accept: "application/pdf,image/*"});
  const submit = h("button", {type: "submit", class: "secondary"}, "Add the evidence");
  const form = h("form", {class: "form evidence-form", "aria-label": `Evidence for claim ${c.id}`},
    h("div", {class: "grid-2"}, field("Kind of evidence", kind), field("File (PDF or picture)", file)),
    h("div", {class: "actions"}, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    const done = await run(submit, () => api("POST", `/api/settlement/claims/${c.id}/evidence`, chosen,
      {query: {kind: kind.value}, contentType: chosen.type || "application/octet-stream"}),
    `Claim ${c.id}: ${chosen.name} added.`);
    if (done) await refresh();
  });
  return form;
}

function claimForm(c, refresh) {
  const to = select("to", CLAIM_MOVES);
  const amount = moneyInput("amount", c.currency);
  const note = input("note", {maxlength: 2000});
  const submit = h("button", {type: "submit", class: "secondary"}, "Move the claim");
  const form = h("form", {class: "form", "aria-label": `Move claim ${c.id}`},
    h("div", {class: "grid-2"}, field("Next step", to), field(`Amount, for an approval (${c.currency})`, amount),
      field("Note (a denial's reason)", note)),
    h("div", {class: "actions"}, submit));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(submit, () => {
      const body = {to: to.value, note: note.value.trim()};
      if (to.value === "approved") body.amount = readMoney(form, "amount", c.currency);
      return api("POST", `/api/settlement/claims/${c.id}/status`, body);
    }, (view) => `Claim ${view.id}: ${view.status.replaceAll("_", " ")}.`);
    if (done) await refresh();
  });
  return form;
}
