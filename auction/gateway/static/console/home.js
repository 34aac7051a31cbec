// The console's home: what needs attention now, for the jobs the signed-in operator's role does, each linking
// to the page where it is done; and every console page the role may open.

import {api} from "../js/api.js";
import {h, replace} from "../js/dom.js";
import {plural} from "../js/format.js";
import {errorText, loadSales, openConsole, pagesFor} from "./common.js";

const VETTING = ["vetting_officer", "admin"];
const MONEY = ["settlement_officer", "vetting_officer", "admin"];
const SETTLEMENT = ["settlement_officer", "admin"];
const ROSTRUM = ["auctioneer", "clerk", "admin"];
const RECENT = 12;  // the newest sales looked into for registrations and settlement

const ctx = await openConsole({title: "Console", path: "/console"});
if (ctx) await start(ctx);

async function start({main, role, can, me}) {
  const attention = h("ul", {class: "attention", id: "attention", "aria-busy": "true"});
  replace(main,
    h("h1", {}, "Console"),
    h("p", {}, `Signed in as ${me.name}.`),
    h("section", {class: "panel", "aria-labelledby": "attention-title"},
      h("h2", {id: "attention-title"}, "Needs attention"), attention),
    h("section", {class: "panel", "aria-labelledby": "jobs-title"},
      h("h2", {id: "jobs-title"}, "Your pages"),
      h("ul", {class: "jobs"}, pagesFor(role).filter((p) => p.path !== "/console").map((p) =>
        h("li", {}, h("a", {href: p.path}, p.label), h("span", {class: "muted"}, ` ${p.job}`))))));
  const items = [];
  const note = (text, href, kind = "pending") => items.push(h("li", {class: `attention-${kind}`}, h("a", {href}, text)));
  try {
    const sales = (await loadSales()).slice(0, RECENT);
    const checks = [];
    if (can(VETTING)) checks.push(companies(note));
    if (can(MONEY)) checks.push(registrations(sales, note));
    if (can(ROSTRUM)) checks.push(liveSales(sales, note));
    if (can(SETTLEMENT)) checks.push(settlement(sales, note));
    await Promise.all(checks);
  } catch (exc) {
    items.push(h("li", {class: "status status-error"}, errorText(exc)));
  }
  if (!items.length) items.push(h("li", {class: "muted"}, "Nothing waits for you."));
  replace(attention, items);
  attention.setAttribute("aria-busy", "false");
}

async function companies(note) {
  const [pending, more] = await Promise.all([
    api("GET", "/api/companies", undefined, {query: {status: "pending"}}),
    api("GET", "/api/companies", undefined, {query: {status: "more_requested"}}),
  ]);
  if (pending.length) note(`${plural(pending.length, "company", "companies")} waiting for a vetting decision`,
    "/console/vetting?status=pending");
  if (more.length) note(`${plural(more.length, "company", "companies")} asked for more documents`,
    "/console/vetting?status=more_requested", "waiting");
}

async function registrations(sales, note) {
  await Promise.all(sales.map(async (sale) => {
    const rows = await api("GET", `/api/sales/${sale.id}/registrations`);
    const asked = rows.filter((r) => r.status === "requested").length;
    const deposits = rows.filter((r) => r.status === "approved" && r.deposit_received < r.deposit_required).length;
    if (asked) note(`${plural(asked, "registration")} to decide in ${sale.name} (sale ${sale.id})`, `/console/registrations?sale=${sale.id}`);
    if (deposits) note(`${plural(deposits, "deposit")} still to come in ${sale.name} (sale ${sale.id})`,
      `/console/registrations?sale=${sale.id}`, "waiting");
  }));
}

async function liveSales(sales, note) {
  await Promise.all(sales.filter((s) => s.format === "live").map(async (sale) => {
    const lots = await api("GET", `/api/sales/${sale.id}/lots`);
    const states = lots.map((entry) => (entry.live ? entry.live.status : "scheduled"));
    if (states.every((s) => ["sold", "passed", "withdrawn"].includes(s))) return;
    const onBlock = lots.find((entry) => entry.live && ["open", "fair_warning", "paused"].includes(entry.live.status));
    note(onBlock ? `${sale.name} (sale ${sale.id}): lot ${onBlock.listing.lot} is on the block` : `${sale.name} (sale ${sale.id}): live sale, no lot on the block`,
      `/console/rostrum?sale=${sale.id}`, onBlock ? "live" : "pending");
  }));
}

async function settlement(sales, note) {
  const now = Date.now();
  await Promise.all(sales.map(async (sale) => {
    const [invoices, defaults] = await Promise.all([
      api("GET", `/api/settlement/sales/${sale.id}/invoices`),
      api("GET", `/api/settlement/sales/${sale.id}/defaults`),
    ]);
    const overdue = invoices.filter((i) => i.status === "open" && i.due_ms < now).length;
    const pending = defaults.filter((d) => d.resolution === "pending").length;
    if (overdue) note(`${plural(overdue, "invoice")} overdue in ${sale.name} (sale ${sale.id})`, `/console/settlement?sale=${sale.id}`);
    if (pending) note(`${plural(pending, "defaulted lot")} to resolve in ${sale.name} (sale ${sale.id})`, `/console/settlement?sale=${sale.id}`);
  }));
}
