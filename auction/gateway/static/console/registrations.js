// A sale's registrations: who asked to bid, with what paddle, limit and deposit. A vetting officer approves one
// with a paddle and a bidding limit (all-in, premium included) and the deposit required (10 % of the limit
// unless given), or refuses it with a reason; the deposit received is recorded by its payment reference.

import {api} from "../js/api.js";
import {field, h, replace} from "../js/dom.js";
import {money, plural} from "../js/format.js";
import {
  badge, errorText, input, loadSales, moneyInput, openConsole, queryInt, readMoney, run, saleSelect, setQuery, table,
} from "./common.js";

const VETTING = ["vetting_officer", "admin"];
const MONEY = ["settlement_officer", "vetting_officer", "admin"];
const CASHIERS = ["settlement_officer", "admin"]; // who records a deposit received (the access table's rule)
const STATUS_KIND = {requested: "pending", approved: "open", refused: "rejected"};
const STATUS_LABELS = {requested: "Asked to register", approved: "Approved", refused: "Refused"};

const ctx = await openConsole({title: "Registrations", path: "/console/registrations"});
if (ctx) await start(ctx);

async function start({main, can}) {
  let sales = [];
  try {
    sales = await loadSales();
  } catch (exc) {
    replace(main, h("h1", {}, "Registrations"), h("p", {class: "status status-error"}, errorText(exc)));
    return;
  }
  const body = h("div", {id: "registrations"});
  replace(main, h("h1", {}, "Registrations"), saleSelect(sales, queryInt("sale"), (sale) => show(sale)), body);

  async function show(saleId) {
    setQuery({sale: saleId});
    const sale = sales.find((s) => s.id === saleId);
    if (!sale) return replace(body, h("p", {class: "muted"}, "Choose a sale to see who asked to bid in it."));
    replace(body, h("p", {class: "muted"}, "Loading…"));
    try {
      const [rows, companies] = await Promise.all([
        api("GET", `/api/sales/${sale.id}/registrations`),
        api("GET", "/api/companies"),
      ]);
      const names = new Map(companies.map((c) => [c.id, c.legal_name]));
      render(sale, rows, names);
    } catch (exc) {
      replace(body, h("p", {class: "status status-error"}, errorText(exc)));
    }
  }

  await show(queryInt("sale"));

  function render(sale, rows, names) {
    const cur = sale.currency;
    const waiting = rows.filter((r) => r.status === "requested").length;
    replace(body,
      h("p", {}, `${plural(rows.length, "registration")}; ${waiting} waiting for a decision.`),
      table({
        caption: `Registrations in ${sale.name}`, empty: "Nobody has asked to register for this sale yet.",
        rows: rows.map((r) => ({...r, __data: {company: r.company}})),
        columns: [
          {label: "Company", cell: (r) => h("a", {href: `/console/vetting?company=${r.company}&status=all`},
            names.get(r.company) || `company ${r.company}`)},
          {label: "Status", cell: (r) => badge(STATUS_LABELS[r.status] || r.status, STATUS_KIND[r.status])},
          {label: "Paddle", num: true, cell: (r) => r.paddle ?? "—"},
          {label: "Limit", num: true, cell: (r) => (r.limit === null ? "—" : money(r.limit, cur))},
          {label: "Deposit", num: true, cell: (r) => (r.deposit_required
            ? `${money(r.deposit_received, cur)} of ${money(r.deposit_required, cur)}` : "none")
            + (r.deposit_over ? `, ${money(r.deposit_over, cur)} over: to return` : "")},
          {label: "Reason", cell: (r) => r.reason},
        ],
      }),
      rows.filter((r) => r.status === "requested" && can(VETTING)).map((r) => decide(sale, r, names, () => show(sale.id))),
      rows.filter((r) => r.status === "approved" && r.deposit_received < r.deposit_required && can(CASHIERS))
        .map((r) => deposit(sale, r, names, () => show(sale.id))));
  }
}

function decide(sale, registration, names, refresh) {
  const name = names.get(registration.company) || `company ${registration.company}`;
  const cur = sale.currency;
  const paddle = input("paddle", {type: "number", min: 1, max: 999999, required: true, inputmode: "numeric"});
  const limit = moneyInput("limit", cur, {required: true});
  const depositField = moneyInput("deposit", cur);
  const approve = h("button", {type: "submit"}, "Approve");
  const reason = h("textarea", {name: "reason", rows: 2, minlength: 3, maxlength: 2000});
  const refuse = h("button", {type: "button", class: "danger"}, "Refuse");
  const form = h("form", {class: "form registration-decision", dataset: {company: registration.company},
    "aria-label": `Decide on ${name}`},
  h("fieldset", {},
    h("legend", {}, `${name} asks to bid`),
    h("div", {class: "grid-2"},
      field("Paddle", paddle, "Unique in the sale"),
      field(`Bidding limit (${cur})`, limit, "All-in: the premium counts against it"),
      field(`Deposit required (${cur})`, depositField, "Leave empty for 10 % of the limit; 0 for none"),
      field("Reason (refusing: required)", reason)),
    h("div", {class: "actions"}, approve, refuse)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(approve, () => {
      const body = {paddle: Number(paddle.value), limit: readMoney(form, "limit", cur)};
      if (depositField.value.trim()) body.deposit = readMoney(form, "deposit", cur);
      if (reason.value.trim()) body.reason = reason.value.trim();
      return api("POST", `/api/sales/${sale.id}/registrations/${registration.company}/approval`, body);
    }, (made) => `${name} approved with paddle ${made.paddle}.`);
    if (done) await refresh();
  });
  refuse.addEventListener("click", async () => {
    const done = await run(refuse, () => api("POST",
      `/api/sales/${sale.id}/registrations/${registration.company}/refusal`, {reason: reason.value.trim()}),
    `${name}'s registration refused.`);
    if (done) await refresh();
  });
  return form;
}

function deposit(sale, registration, names, refresh) {
  const name = names.get(registration.company) || `company ${registration.company}`;
  const cur = sale.currency;
  const owed = registration.deposit_required - registration.deposit_received;
  const amount = moneyInput("amount", cur, {required: true});
  const reference = input("reference", {required: true, maxlength: 200, autocomplete: "off"});
  const submit = h("button", {type: "submit"}, "Record the deposit");
  const form = h("form", {class: "form deposit-form", dataset: {company: registration.company},
    "aria-label": `Deposit of ${name}`},
  h("fieldset", {},
    h("legend", {}, `Deposit from ${name} (paddle ${registration.paddle}): ${money(owed, cur)} still to come`),
    h("div", {class: "grid-2"}, field(`Amount received (${cur})`, amount),
      field("Payment reference", reference, "The bank's reference, kept on record")),
    h("div", {class: "actions"}, submit)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(submit, () => api("POST",
      `/api/sales/${sale.id}/registrations/${registration.company}/deposit`,
      {amount: readMoney(form, "amount", cur), reference: reference.value.trim()}),
    `Deposit recorded for ${name}.`);
    if (done) await refresh();
  });
  return form;
}
