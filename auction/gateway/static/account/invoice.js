// One of the buyer's invoices (/account/invoice?sale=<sale>), as a document: who issued it and to whom, each lot
// with its stone, the charges and the rates they were charged at, totals, payments, what is outstanding, the due
// date and how to pay; in this browser's time zone and the sale's currency. The printable invoice (the server's
// page, the same document) is one link away.
//
// Source: GET /api/settlement/sales/{sale}/invoices/{company}/document (a buyer: their own company's only).

import {api} from "../js/api.js";
import {h, replace} from "../js/dom.js";
import {date, money, when} from "../js/format.js";
import {mount} from "../js/shell.js";
import {failed, printUrl, rate, table} from "./parts.js";

const STATUS = {open: "Open", paid: "Paid", defaulted: "In default"};
const SOURCES = {second_chance: "second-chance offer", reaward: "re-awarded", post_sale: "bought after the sale"};

function premiumTerms(bands, currency) {
  if (bands.length === 1) return `${rate(bands[0][1])} of the hammer price`;
  return bands.map(([start, bp], index) => {
    const next = bands[index + 1];
    if (!next) return `${rate(bp)} above ${money(start, currency)}`;
    if (start === 0) return `${rate(bp)} of the hammer price up to ${money(next[0], currency)}`;
    return `${rate(bp)} from ${money(start, currency)} to ${money(next[0], currency)}`;
  }).join("; ");
}

function parties(doc) {
  const {house, buyer} = doc;
  return h("div", {class: "parties"},
    h("section", {class: "panel", "aria-labelledby": "issuer"},
      h("h2", {id: "issuer"}, "From"),
      h("p", {}, h("strong", {}, house.name)),
      house.address.map((line) => h("p", {}, line)),
      house.tax_id ? h("p", {}, `Tax number ${house.tax_id}`) : null,
      house.email ? h("p", {}, house.email) : null),
    h("section", {class: "panel", "aria-labelledby": "bill-to"},
      h("h2", {id: "bill-to"}, "Bill to"),
      h("p", {}, h("strong", {class: "buyer-name"}, buyer.legal_name)),
      buyer.address.map((line) => h("p", {}, line)),
      h("p", {}, `Registration no. ${buyer.registration_number}`),
      h("p", {}, `Country ${buyer.country}`),
      buyer.paddle ? h("p", {}, `Paddle ${buyer.paddle} in this sale`) : null));
}

function facts(doc) {
  const inv = doc.invoice;
  const item = (label, value, data = {}) => h("div", {}, h("dt", {}, label), h("dd", {dataset: data}, value));
  return h("dl", {class: "figures"},
    item("Issued", date(inv.issued_ms)),
    item("Due", when(inv.due_ms), {due: String(inv.due_ms)}),
    item("Status", STATUS[inv.status] || inv.status, {status: inv.status}),
    item("Total", money(inv.total, inv.currency), {total: String(inv.total)}),
    item("Outstanding", money(inv.outstanding, inv.currency), {outstanding: String(inv.outstanding)}));
}

const HEAD = ["Lot", "Description", "Hammer", "Premium", "Shipping", "Insurance", "Tax", "Total"];

function lines(doc) {
  const cur = doc.invoice.currency;
  const rows = doc.lines.map((line) => {
    const how = SOURCES[line.source];
    const amounts = [line.hammer, line.premium, line.shipping, line.insurance, line.tax, line.total];
    return h("tr", {role: "row", class: line.status === "active" ? null : "void"},
      h("td", {role: "cell", dataset: {label: "Lot"}}, String(line.lot)),
      h("td", {role: "cell", dataset: {label: "Description"}}, h("strong", {}, line.title), h("br"), line.stone,
        how ? h("span", {class: "muted"}, ` (${how})`) : null,
        line.status === "active" ? null : h("span", {class: "muted"}, " (taken off this invoice)")),
      amounts.map((amount, i) => h("td", {role: "cell", class: "num", dataset: {label: HEAD[i + 2]}}, money(amount, cur))));
  });
  return h("div", {class: "table-scroll stack", tabindex: "0", role: "region", "aria-label": "Lots bought"},
    h("table", {class: "invoice-lines", role: "table"},
      h("caption", {}, `Lots bought, in ${cur}`),
      h("thead", {role: "rowgroup"}, h("tr", {role: "row"},
        HEAD.map((name, i) => h("th", {scope: "col", role: "columnheader", class: i >= 2 ? "num" : null}, name)))),
      h("tbody", {role: "rowgroup"}, rows)));
}

function totals(doc) {
  const inv = doc.invoice;
  const cur = inv.currency;
  const row = (label, amount, strong = false) => h("tr", {},
    h("th", {scope: "row"}, label), h("td", {class: "num"}, strong ? h("strong", {}, money(amount, cur)) : money(amount, cur)));
  return h("table", {class: "invoice-totals"},
    h("caption", {}, "Totals"),
    h("tbody", {},
      row("Hammer", inv.hammer),
      row("Buyer's premium", inv.premium),
      row("Shipping", inv.shipping),
      row("Insurance", inv.insurance),
      row(doc.rates.tax_bp ? `Tax (${rate(doc.rates.tax_bp)})` : "Tax", inv.tax),
      row("Late payment interest", inv.interest),
      row("Total", inv.total, true),
      row("Paid", inv.paid),
      row("Outstanding", inv.outstanding, true)));
}

function payments(doc) {
  const cur = doc.invoice.currency;
  if (!doc.invoice.payments.length) return h("p", {}, "No payment received yet.");
  return table("Payments received", ["Received", "Reference", "Amount"],
    doc.invoice.payments.map((p) => [when(p.received_ms), p.reference, money(p.amount, cur)]), {numeric: [2]});
}

function howToPay(doc) {
  const inv = doc.invoice;
  const cur = inv.currency;
  return h("section", {class: "panel", "aria-labelledby": "pay-title"},
    h("h2", {id: "pay-title"}, "How to pay"),
    inv.outstanding > 0
      ? h("p", {}, `Please pay ${money(inv.outstanding, cur)} by ${when(inv.due_ms)}, quoting invoice ${doc.number}.`)
      : h("p", {}, "Nothing is outstanding on this invoice."),
    doc.house.payment.length ? doc.house.payment.map((line) => h("p", {}, line))
      : h("p", {}, "Ask the house for its bank details."),
    h("p", {class: "muted"}, `Buyer's premium: ${premiumTerms(doc.rates.premium, cur)}. Payment is due ` +
      `${doc.rates.due_days} days after the sale; overdue amounts bear interest of ` +
      `${rate(doc.rates.interest_bp_per_month)} a month from the due date.`));
}

async function start() {
  const {me, allowed, main} = await mount({title: "Invoice", roles: ["buyer"]});
  if (!allowed) return;
  const target = document.getElementById("invoice");
  const sale = Number(new URLSearchParams(location.search).get("sale"));
  if (!Number.isSafeInteger(sale) || sale < 1) {
    replace(target, h("p", {class: "banner banner-bad", role: "alert"}, "Which invoice? Open it from your account."));
    return;
  }
  let doc;
  try {
    doc = await api("GET", `/api/settlement/sales/${sale}/invoices/${me.company_id}/document`);
  } catch (exc) {
    failed(target, "The invoice", exc);
    return;
  }
  document.title = `Invoice ${doc.number} · ${doc.house.name}`;
  replace(target,
    h("h1", {}, `Invoice ${doc.number}`),
    h("p", {class: "muted"}, `${doc.sale_name} (sale ${doc.sale})`),
    h("p", {class: "actions no-print"},
      h("a", {class: "button", href: printUrl(sale, me.company_id), target: "_blank", rel: "noopener", id: "printable"},
        "Printable invoice"),
      h("button", {type: "button", class: "secondary", on: {click: () => window.print()}}, "Print this page")),
    facts(doc),
    parties(doc),
    lines(doc),
    totals(doc),
    h("h2", {}, "Payments"),
    payments(doc),
    howToPay(doc));
  main.focus();
}

start();
