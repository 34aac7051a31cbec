// What every page of the operators' console shares: the pages and who each is for, the console's own
// navigation, reading and keeping the page's query (?sale=42), a sale picker, tables, and running an action
// with its answer shown (the API's refusal in words, next to the field it names).
//
// Exports
//   CONSOLE_PAGES: [{path, label, roles, job}]   every console page, in the order the home lists them; `roles`
//       mirrors auction/gateway/access.py for what the page does (a role that may only read still sees it)
//   pagesFor(role) -> the pages a role gets
//   openConsole({title, path}) -> Promise<ctx|null>   mounts the chrome (shell.js) for the page's roles, adds the
//       console's navigation; null when the viewer may not use the page (the shell said why).
//       ctx: {me, main, role, can(roles), announce, setStatus}
//   queryInt(name) -> number|null      a positive whole number from the page's query
//   setQuery(values)                   changes the query without reloading ({sale: 42}; null removes)
//   loadSales(filter?) -> Promise<SaleSummary[]>   newest first
//   saleSelect(sales, selected, onChange, label?) -> Element   a labelled <select> of sales
//   table({caption, columns: [{label, num?, cell(row) -> node|string}], rows, empty}) -> Element   in a box that
//       scrolls sideways on a narrow screen; a row's `__data` object becomes its <tr>'s data- attributes (what
//       tests and the page's own scripts find a row by)
//   errorText(exc) -> string           an ApiError (or anything thrown) in words, naming the field
//   run(button, work, done?) -> Promise<any>   disables the button while `work()` runs, shows the outcome in the
//       status region (done: the success text, or a function of the result), and the refusal next to an input
//       whose name is the error's field (in the button's form)
//   input(name, attributes?) -> <input name=...>; select(name, options [[value, label]], selected?)
//   moneyInput(name, currency) -> <input inputmode=decimal>; readMoney(form, name, currency) -> number (minor units)
//   percentInput(name, basisPoints?) / readPercent(form, name) -> basis points ("10.5" % -> 1050), exactly
//   badge(text, kind)                  a status badge

import {api, ApiError} from "../js/api.js";
import {field, fieldError, h, replace} from "../js/dom.js";
import {parseMoney} from "../js/format.js";
import {mount, setStatus} from "../js/shell.js";

const VETTING = ["vetting_officer", "admin"];
const MONEY = ["settlement_officer", "vetting_officer", "admin"];
const SETTLEMENT = ["settlement_officer", "admin"];
const ROSTRUM_VIEW = ["auctioneer", "clerk", "admin"];
const ALL = ["vetting_officer", "auctioneer", "clerk", "settlement_officer", "admin"];

export const CONSOLE_PAGES = Object.freeze([
  {path: "/console", label: "Home", roles: ALL, job: "What needs attention"},
  {path: "/console/vetting", label: "Vetting", roles: VETTING, job: "Companies waiting for a decision, their documents"},
  {path: "/console/registrations", label: "Registrations", roles: MONEY,
    job: "A sale's registrations: paddle, limit, deposit"},
  {path: "/console/consignors", label: "Consignors", roles: ALL, job: "Consignors, their agreements, stones taken in"},
  {path: "/console/sales", label: "Sale builder", roles: ALL, job: "Build a sale: terms, lots, CSV catalogue, publish"},
  {path: "/console/rostrum", label: "Rostrum", roles: ROSTRUM_VIEW, job: "Run a live sale from the keyboard"},
  {path: "/console/settlement", label: "Settlement", roles: SETTLEMENT,
    job: "Invoices and payments, defaults, passed lots, shipments, claims"},
  {path: "/console/tender", label: "Tenders", roles: ALL,
    job: "Sealed-bid tenders: your officer key, your share, the reveal, the results; a new tender"},
  {path: "/console/shill", label: "Shill monitor", roles: ALL, job: "Bidders whose pattern is worth a look"},
  {path: "/console/audit", label: "Audit log", roles: ["admin"], job: "Every operator action on record"},
]);

export function pagesFor(role) {
  return CONSOLE_PAGES.filter((page) => page.roles.includes(role));
}

function consoleNav(role, path) {
  const links = pagesFor(role).map((page) => h("li", {},
    h("a", {href: page.path, "aria-current": page.path === path ? "page" : null}, page.label)));
  return h("nav", {class: "console-nav", "aria-label": "Console"}, h("ul", {}, links));
}

export async function openConsole({title, path}) {
  const page = CONSOLE_PAGES.find((each) => each.path === path);
  const shell = await mount({title, roles: page.roles});
  if (!shell.allowed) return null;
  const role = shell.me.role;
  const status = document.querySelector(".status-holder");
  (status || shell.main).before(consoleNav(role, path));
  return {
    me: shell.me, main: shell.main, role, announce: shell.announce, setStatus: shell.setStatus,
    can: (roles) => roles.includes(role),
  };
}

export function queryInt(name) {
  const raw = new URLSearchParams(location.search).get(name);
  if (!raw || !/^\d{1,15}$/.test(raw)) return null;
  const value = Number(raw);
  return value > 0 ? value : null;
}

export function setQuery(values) {
  const params = new URLSearchParams(location.search);
  for (const [name, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === "") params.delete(name);
    else params.set(name, String(value));
  }
  const text = params.toString();
  history.replaceState(null, "", `${location.pathname}${text ? `?${text}` : ""}`);
}

export async function loadSales(filter = () => true) {
  const sales = await api("GET", "/api/sales");
  return sales.filter(filter).sort((a, b) => b.starts_at_ms - a.starts_at_ms || b.id - a.id);
}

export function saleSelect(sales, selected, onChange, label = "Sale") {
  const choose = h("select", {name: "sale", on: {change: () => onChange(Number(choose.value) || null)}},
    h("option", {value: ""}, sales.length ? "Choose a sale" : "No sales yet"),
    sales.map((sale) => h("option", {value: String(sale.id), selected: sale.id === selected},
      `${sale.name} (sale ${sale.id}, ${sale.format})`)));
  return field(label, choose);
}

export function table({caption, columns, rows, empty = "Nothing here."}) {
  if (!rows.length) return h("p", {class: "muted empty"}, empty);
  return h("div", {class: "table-scroll"},
    h("table", {},
      caption ? h("caption", {class: "visually-hidden"}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", {scope: "col", class: c.num ? "num" : null}, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {dataset: row.__data || {}},
        columns.map((c) => h("td", {class: c.num ? "num" : null, "data-label": c.label}, c.cell(row))))))));
}

export function errorText(exc) {
  if (exc instanceof ApiError) {
    const where = exc.field ? ` (${exc.field})` : "";
    return `${exc.message}${where}`;
  }
  return exc && exc.message ? exc.message : String(exc);
}

function markField(form, exc) {
  if (!form || !(exc instanceof ApiError) || !exc.field) return false;
  const name = String(exc.field).split(/[.[]/)[0];
  const target = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!target) return false;
  fieldError(target, exc.message);
  target.focus();
  return true;
}

export async function run(button, work, done = null) {
  const form = button ? button.closest("form") : null;
  if (form) for (const each of form.querySelectorAll("[aria-invalid]")) fieldError(each, null);
  if (button) button.disabled = true;
  try {
    const result = await work();
    const text = typeof done === "function" ? done(result) : done;
    if (text) setStatus(text, "ok");
    return result;
  } catch (exc) {
    markField(form, exc);
    setStatus(errorText(exc), "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function input(name, attributes = {}) {
  return h("input", {name, ...attributes});
}

export function select(name, options, selected = null) {
  return h("select", {name}, options.map(([value, label]) => h("option", {value, selected: value === selected}, label)));
}

export function moneyInput(name, currency, attributes = {}) {
  return h("input", {name, inputmode: "decimal", autocomplete: "off", placeholder: `0.00 ${currency}`, ...attributes});
}

export function readMoney(form, name, currency) {
  const target = form.elements.namedItem(name);
  const value = parseMoney(target.value, currency);
  if (value === null) {
    fieldError(target, `an amount in ${currency}, e.g. 1250.00`);
    target.focus();
    throw new ApiError(400, "invalid", name, `${name}: an amount in ${currency}`);
  }
  fieldError(target, null);
  return Number(value);
}

export function percentInput(name, basisPoints = null, attributes = {}) {
  const value = basisPoints === null ? "" : `${Math.floor(basisPoints / 100)}${basisPoints % 100 ? `.${String(basisPoints % 100).padStart(2, "0")}` : ""}`;
  return h("input", {name, inputmode: "decimal", autocomplete: "off", value, ...attributes});
}

export function readPercent(form, name) {
  const target = form.elements.namedItem(name);
  const match = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(target.value.trim());
  const bp = match ? Number(match[1]) * 100 + Number((match[2] || "0").padEnd(2, "0")) : null;
  if (bp === null || bp > 10000) {
    fieldError(target, "a rate in per cent, 0 to 100, at most two decimals");
    target.focus();
    throw new ApiError(400, "invalid", name, `${name}: a rate in per cent`);
  }
  fieldError(target, null);
  return bp;
}

export function badge(text, kind = "neutral") {
  return h("span", {class: `badge badge-${kind}`}, text);
}

export function section(title, ...children) {
  const id = `h-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", {class: "panel", "aria-labelledby": id}, h("h2", {id}, title), children);
}

export function loading(main, text = "Loading…") {
  return replace(main, h("p", {class: "muted"}, text));
}
