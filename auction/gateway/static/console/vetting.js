// The vetting queue: companies by status, and one company's file: what it sent, its documents (each viewable),
// the decisions on record, and the decision to take now (approve, reject, ask for more, suspend, reinstate)
// with its reason; the consignors it is linked to, and linking one (it can then never bid on their lots).

import {api} from "../js/api.js";
import {field, h, replace} from "../js/dom.js";
import {date, plural, when} from "../js/format.js";
import {badge, errorText, input, openConsole, queryInt, run, section, setQuery, table} from "./common.js";

// Which decision may follow which status: auction/vetting/decisions.py TRANSITIONS, by the status it starts from.
const NEXT = {
  pending: ["approve", "request_more", "reject"],
  more_requested: ["approve", "request_more", "reject"],
  approved: ["approve", "suspend", "reject"],
  suspended: ["reinstate", "reject"],
  rejected: [],
};
const DECISION_LABELS = {
  approve: "Approve (12 months)", request_more: "Ask for more", reject: "Reject", suspend: "Suspend",
  reinstate: "Reinstate",
};
const STATUS_LABELS = {
  pending: "Pending", more_requested: "More requested", approved: "Approved", suspended: "Suspended",
  rejected: "Rejected",
};
const STATUS_KIND = {pending: "pending", more_requested: "waiting", approved: "open", suspended: "passed", rejected: "rejected"};
const QUEUE = ["pending", "more_requested", "approved", "suspended", "rejected"];
const PREVIEWABLE = /^(image\/(png|jpeg|gif|webp)|text\/plain)$/;

const ctx = await openConsole({title: "Vetting queue", path: "/console/vetting"});
if (ctx) await start(ctx);

async function start({main}) {
  const status = new URLSearchParams(location.search).get("status") || "pending";
  const list = h("div", {id: "queue"});
  const file = h("div", {id: "company-file"});
  const filter = h("select", {name: "status", id: "queue-status", on: {change: () => showQueue(filter.value)}},
    QUEUE.map((s) => h("option", {value: s, selected: s === status}, STATUS_LABELS[s])),
    h("option", {value: "", selected: status === "all"}, "Every company"));
  replace(main,
    h("h1", {}, "Vetting queue"),
    h("div", {class: "console-columns"},
      h("section", {class: "panel", "aria-labelledby": "queue-title"},
        h("h2", {id: "queue-title"}, "Companies"), field("Show", filter), list),
      file));

  async function showQueue(wanted) {
    setQuery({status: wanted || "all"});
    replace(list, h("p", {class: "muted"}, "Loading…"));
    try {
      const rows = await api("GET", "/api/companies", undefined, {query: {status: wanted || null}});
      replace(list, table({
        caption: "Companies", empty: "No company has this status.", rows: rows.map((r) => ({...r, __data: {company: r.id}})),
        columns: [
          {label: "Company", cell: (r) => h("a", {href: `?status=${wanted || "all"}&company=${r.id}`,
            on: {click: (e) => { e.preventDefault(); showFile(r.id); }}}, r.legal_name)},
          {label: "Country", cell: (r) => r.country},
          {label: "Status", cell: (r) => badge(STATUS_LABELS[r.status] || r.status, STATUS_KIND[r.status])},
          {label: "Approved until", cell: (r) => date(r.approved_until_ms)},
        ],
      }));
    } catch (exc) {
      replace(list, h("p", {class: "status status-error"}, errorText(exc)));
    }
  }

  async function showFile(company) {
    setQuery({company});
    replace(file, h("p", {class: "muted"}, "Loading the file…"));
    try {
      const found = await api("GET", `/api/companies/${company}`);
      renderFile(file, found, async () => { await showFile(company); await showQueue(filter.value); });
      file.querySelector("h2").focus();
    } catch (exc) {
      replace(file, h("p", {class: "status status-error"}, errorText(exc)));
    }
  }

  await showQueue(status === "all" ? "" : status);
  const chosen = queryInt("company");
  if (chosen) await showFile(chosen);
}

function facts(company) {
  const row = (label, value) => h("div", {}, h("dt", {}, label), h("dd", {}, value || "—"));
  const owners = company.owners.map((o) => `${o.name} (${(o.share_bp / 100).toFixed(2)} %)`).join("; ");
  return h("dl", {class: "facts"},
    row("Registration number", company.registration_number),
    row("Country", company.country),
    row("Trade licence", company.trade_licence),
    row("Bourse membership", company.bourse_membership),
    row("Owners above 25 %", owners),
    row("Directors", (company.directors || []).join("; ")),
    row("Bank reference", company.bank_reference),
    row("Representatives", company.representatives.join("; ")),
    row("Approved until", date(company.approved_until_ms)),
    row("Linked consignors", company.consignor_ids.join(", ")));
}

function renderFile(target, found, refresh) {
  const {company} = found;
  const heading = h("h2", {id: "file-title", tabindex: "-1"}, company.legal_name, " ",
    badge(STATUS_LABELS[company.status] || company.status, STATUS_KIND[company.status]));
  const preview = h("div", {class: "doc-preview", id: "doc-preview", tabindex: "-1", "aria-live": "polite"});
  replace(target, h("section", {class: "panel", "aria-labelledby": "file-title", dataset: {company: company.id}},
    heading,
    facts(company),
    found.ties && found.ties.length
      ? h("p", {class: "banner"}, `Tied to ${plural(found.ties.length, "company", "companies")} by a shared owner, `
        + `director or bank reference; barred from the lots of consignors ${found.barred_consignor_ids.join(", ")}.`)
      : null,
    h("h3", {}, "Documents"),
    table({
      caption: "Documents", empty: "No documents uploaded yet.", rows: found.documents,
      columns: [
        {label: "Kind", cell: (d) => d.kind.replaceAll("_", " ")},
        {label: "File", cell: (d) => d.filename},
        {label: "Size", num: true, cell: (d) => `${Math.ceil(d.size / 1024)} KB`},
        {label: "Uploaded", cell: (d) => when(d.uploaded_ms)},
        {label: "View", cell: (d) => h("span", {class: "actions"},
          h("button", {type: "button", class: "secondary", "aria-label": `View ${d.filename}`,
            on: {click: (e) => view(e.currentTarget, company.id, d, preview)}}, "View"),
          h("a", {href: `/api/companies/${company.id}/documents/${d.id}`, download: d.filename}, "Download"))},
      ],
    }),
    preview,
    h("h3", {}, "Decisions on record"),
    table({
      caption: "Decisions", empty: "No decision yet.", rows: found.decisions,
      columns: [
        {label: "When", cell: (d) => when(d.decided_ms)},
        {label: "Decision", cell: (d) => DECISION_LABELS[d.decision] || d.decision},
        {label: "Reason", cell: (d) => d.reason},
        {label: "Status after", cell: (d) => STATUS_LABELS[d.status_after] || d.status_after},
        {label: "By", cell: (d) => d.decided_by_system || (d.decided_by ? `account ${d.decided_by}` : "")},
      ],
    }),
    decisionForm(company, refresh),
    linkForm(company, refresh)));
}

function decisionForm(company, refresh) {
  const choices = NEXT[company.status] || [];
  if (!choices.length) return h("p", {class: "muted"}, "A rejected company can take no further decision.");
  const decision = h("select", {name: "decision"}, choices.map((c) => h("option", {value: c}, DECISION_LABELS[c])));
  const reason = h("textarea", {name: "reason", rows: 3, required: true, minlength: 3, maxlength: 2000});
  const submit = h("button", {type: "submit"}, "Record the decision");
  const form = h("form", {class: "form", id: "decision-form", on: {submit: async (e) => {
    e.preventDefault();
    const done = await run(submit, () => api("POST", `/api/companies/${company.id}/decisions`,
      {decision: decision.value, reason: reason.value.trim()}),
    (file) => `${company.legal_name}: ${STATUS_LABELS[file.company.status] || file.company.status}.`);
    if (done) await refresh();
  }}},
  h("fieldset", {}, h("legend", {}, "Decide"), field("Decision", decision),
    field("Reason (on record)", reason, "At least 3 characters; the company's file keeps it."),
    h("div", {class: "actions"}, submit)));
  return form;
}

function linkForm(company, refresh) {
  const consignor = input("consignor_id", {type: "number", min: 1, required: true, inputmode: "numeric"});
  const reason = h("textarea", {name: "reason", rows: 2, required: true, minlength: 3, maxlength: 2000});
  const submit = h("button", {type: "submit", class: "secondary"}, "Link the consignor");
  return h("form", {class: "form", id: "link-form", on: {submit: async (e) => {
    e.preventDefault();
    const done = await run(submit, () => api("POST", `/api/companies/${company.id}/consignors`,
      {consignor_id: Number(consignor.value), reason: reason.value.trim()}),
    `Consignor ${consignor.value} linked: ${company.legal_name} can't bid on their lots.`);
    if (done) await refresh();
  }}},
  h("fieldset", {}, h("legend", {}, "Link a consignor"),
    field("Consignor number", consignor, "The company can never bid on this consignor's lots."),
    field("Reason", reason), h("div", {class: "actions"}, submit)));
}

async function view(button, company, doc, preview) {
  await run(button, async () => {
    const response = await fetch(`/api/companies/${company}/documents/${doc.id}`, {credentials: "same-origin"});
    if (!response.ok) throw new Error(`the document could not be read (${response.status})`);
    const blob = await response.blob();
    const type = doc.content_type.toLowerCase();
    const close = h("button", {type: "button", class: "secondary", on: {click: () => replace(preview)}}, "Close");
    if (type.startsWith("text/plain")) {
      replace(preview, h("h4", {}, doc.filename), h("pre", {class: "doc-text"}, await blob.text()), close);
    } else if (PREVIEWABLE.test(type)) {
      const url = URL.createObjectURL(new Blob([blob], {type}));
      replace(preview, h("h4", {}, doc.filename), h("img", {src: url, alt: `${doc.kind.replaceAll("_", " ")}: ${doc.filename}`}), close);
    } else {
      const url = URL.createObjectURL(new Blob([blob], {type: type || "application/octet-stream"}));
      replace(preview, h("p", {}, `${doc.filename} (${type}) `, h("a", {href: url, target: "_blank", rel: "noopener"},
        "Open it in a new tab"), " ", close));
    }
    preview.focus();
  });
}
