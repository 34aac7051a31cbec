// The audit log: every operator action on record (who, in which role, what, on what, why, when), oldest first
// in pages of up to 1,000 (GET /api/audit?after=<id>), filtered on the page by any word.

import {api} from "../js/api.js";
import {field, h, replace} from "../js/dom.js";
import {when} from "../js/format.js";
import {errorText, openConsole, run, table} from "./common.js";

const ctx = await openConsole({title: "Audit log", path: "/console/audit"});
if (ctx) await start(ctx);

async function start({main}) {
  const entries = [];
  const filter = h("input", {type: "search", name: "filter", autocomplete: "off", placeholder: "account, action, target, reason"});
  const list = h("div", {id: "audit-entries"});
  const more = h("button", {type: "button", class: "secondary", id: "audit-more"}, "Load newer entries");
  const count = h("p", {class: "muted", "aria-live": "polite"});
  replace(main, h("h1", {}, "Audit log"), field("Filter", filter), count, list, h("div", {class: "actions"}, more));

  function render() {
    const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = entries.filter((e) => {
      const text = `${e.account_id} ${e.role} ${e.action} ${e.target} ${e.reason}`.toLowerCase();
      return words.every((w) => text.includes(w));
    }).slice().reverse();
    count.textContent = `${shown.length} of ${entries.length} entries, newest first.`;
    replace(list, table({
      caption: "Audit log", empty: "No entries.", rows: shown,
      columns: [
        {label: "When", cell: (e) => when(e.at_ms)},
        {label: "Who", cell: (e) => (e.account_id === null ? e.role : `account ${e.account_id} (${e.role.replaceAll("_", " ")})`)},
        {label: "Action", cell: (e) => e.action.replaceAll("_", " ")},
        {label: "On", cell: (e) => e.target},
        {label: "Reason", cell: (e) => e.reason},
      ],
    }));
  }

  async function load() {
    const after = entries.length ? entries[entries.length - 1].id : 0;
    const page = await api("GET", "/api/audit", undefined, {query: {after}});
    entries.push(...page);
    render();
    return page.length;
  }

  filter.addEventListener("input", render);
  more.addEventListener("click", () => run(more, load, (n) => (n ? `${n} more entries.` : "No newer entries.")));
  try {
    while ((await load()) === 1000) { /* every page up to now */ }
  } catch (exc) {
    replace(list, h("p", {class: "status status-error"}, errorText(exc)));
  }
}
