// The sale builder: the sales the house built or is building; a new draft; a draft's terms (format, schedule,
// soft close, live settings, a tender's bid window, officers and threshold), its lots (a consigned stone each, with its opening price), their order, the
// catalogue file (CSV) in and out, what would stop it being published, publishing it; and withdrawing a lot of a
// published sale. Drafts are the house's alone until published. A tender is published with its key: made then,
// split among its officers (each with an officer key registered on the Tenders page), never stored.

import {api, ApiError} from "../js/api.js";
import {field, fieldError, h, replace} from "../js/dom.js";
import {money, plural, when} from "../js/format.js";
import {badge, errorText, input, moneyInput, openConsole, queryInt, readMoney, run, select, setQuery, table} from "./common.js";

const CATALOGUE = ["auctioneer", "admin"];
const FORMATS = [["timed", "Timed"], ["live", "Live (auctioneer-led)"], ["tender", "Tender (sealed bids)"]];
const HOUR_MS = 3600000;

const ctx = await openConsole({title: "Sale builder", path: "/console/sales"});
if (ctx) await start(ctx);

async function start({main, can}) {
  const list = h("div", {id: "draft-list"});
  const detail = h("div", {id: "draft"});
  replace(main, h("h1", {}, "Sale builder"),
    h("div", {class: "console-columns"},
      h("div", {},
        h("section", {class: "panel", "aria-labelledby": "drafts-title"}, h("h2", {id: "drafts-title"}, "Sales"), list),
        can(CATALOGUE) ? newDraftForm(async (made) => { await showList(); await showDraft(made.id); }) : null),
      detail));

  async function showList() {
    try {
      const drafts = await api("GET", "/api/house/sales");
      replace(list, table({
        caption: "Sales built", empty: "No sale built yet.", rows: drafts.map((d) => ({...d, __data: {sale: d.id}})),
        columns: [
          {label: "Sale", cell: (d) => h("a", {href: `?sale=${d.id}`, on: {click: (e) => { e.preventDefault(); showDraft(d.id); }}},
            `${d.terms.name} (${d.id})`)},
          {label: "Format", cell: (d) => d.terms.format},
          {label: "Starts", cell: (d) => when(d.terms.starts_at_ms)},
          {label: "Lots", num: true, cell: (d) => String(d.lots.length)},
          {label: "Status", cell: (d) => badge(d.status, d.status === "published" ? "open" : "pending")},
        ],
      }));
    } catch (exc) {
      replace(list, h("p", {class: "status status-error"}, errorText(exc)));
    }
  }

  async function showDraft(id) {
    setQuery({sale: id});
    replace(detail, h("p", {class: "muted"}, "Loading…"));
    try {
      renderDraft(detail, await api("GET", `/api/house/sales/${id}`), can(CATALOGUE), async () => {
        await showDraft(id);
        await showList();
      });
      detail.querySelector("h2").focus();
    } catch (exc) {
      replace(detail, h("p", {class: "status status-error"}, errorText(exc)));
    }
  }

  await showList();
  const chosen = queryInt("sale");
  if (chosen) await showDraft(chosen);
}

// ---- a datetime-local field in the viewer's zone <-> epoch ms -------------------------------------------------

function localValue(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function readTime(form, name) {
  const target = form.elements.namedItem(name);
  const ms = new Date(target.value).getTime();
  if (!target.value || Number.isNaN(ms)) throw new ApiError(400, "invalid", name, `${target.labels[0].textContent}: a date and time`);
  return ms;
}

function termsFields(terms = null) {
  const now = Date.now();
  const t = terms || {name: "", currency: "USD", format: "timed", starts_at_ms: now + 86400000, first_close_ms: now + 8 * 86400000,
    stagger_ms: 60000, soft_close: {window_ms: 120000, extension_ms: 120000, cap_ms: null},
    live: {auto_accept: true, missed_bid_window_ms: 1500, house_bids: false}, tender: null};
  const format = select("format", FORMATS, t.format);
  const tender = tenderFields(t);
  format.addEventListener("change", () => { tender.hidden = format.value !== "tender"; });
  const check = (name, label, checked) => {
    const id = `${name}-${Math.random().toString(36).slice(2)}`;
    return h("div", {class: "check"}, h("input", {type: "checkbox", name, id, checked}), h("label", {for: id}, label));
  };
  return [
    field("Name", input("name", {required: true, maxlength: 200, value: t.name})),
    h("div", {class: "grid-2"},
      field("Currency (ISO 4217)", input("currency", {required: true, maxlength: 3, pattern: "[A-Z]{3}", value: t.currency})),
      field("Format", format),
      field("Starts (your time)", input("starts_at_ms", {type: "datetime-local", required: true, value: localValue(t.starts_at_ms)})),
      field("First lot closes (timed, tender; your time)", input("first_close_ms", {type: "datetime-local", required: true,
        value: localValue(t.first_close_ms)})),
      field("Lots close apart (seconds)", input("stagger_s", {type: "number", min: 0, max: 3600, value: String(t.stagger_ms / 1000)})),
      field("Soft close: a bid in the last (seconds)", input("window_s", {type: "number", min: 0, max: 3600,
        value: String(t.soft_close.window_ms / 1000)})),
      field("moves the end to (seconds after it)", input("extension_s", {type: "number", min: 0, max: 3600,
        value: String(t.soft_close.extension_ms / 1000)})),
      field("Live: missed-bid window (ms)", input("missed_ms", {type: "number", min: 0, max: 10000,
        value: String(t.live.missed_bid_window_ms)}))),
    check("auto_accept", "Live: take online bids at once (else the clerk accepts each)", t.live.auto_accept),
    check("house_bids", "Live: house bids allowed (below the reserve)", t.live.house_bids),
    tender,
  ];
}

// A tender's settings (catalog.TenderSettings), shown while the format is a tender: the viewing runs from the
// start to when bids open, and the bids from then to the close.
function tenderFields(t) {
  const s = t.tender || {bids_from_ms: t.starts_at_ms + HOUR_MS, acceptance_window_ms: 24 * HOUR_MS, threshold: 2, officers: []};
  return h("fieldset", {class: "tender-terms", hidden: t.format !== "tender"}, h("legend", {}, "Tender (sealed bids)"),
    h("div", {class: "grid-2"},
      field("Bids open (your time; the viewing is before)", input("tender_bids_from", {type: "datetime-local",
        value: localValue(s.bids_from_ms)})),
      field("Consignor's acceptance window (hours)", input("tender_acceptance_hours", {type: "number", min: 1, max: 720,
        value: String(s.acceptance_window_ms / HOUR_MS)}), "For a top bid below the reserve"),
      field("Officers (account numbers, commas between)", input("tender_officers", {value: s.officers.join(", "),
        inputmode: "numeric"}), "Each holds a share of the key: an operator with an officer key registered"),
      field("Shares needed to reveal", input("tender_threshold", {type: "number", min: 2, max: 20, value: String(s.threshold)}))));
}

function readTender(form) {
  const value = (name) => form.elements.namedItem(name).value.trim();
  const officers = value("tender_officers").split(",").map((each) => each.trim()).filter(Boolean);
  if (!officers.every((each) => /^[0-9]{1,15}$/.test(each))) {
    throw new ApiError(400, "invalid", "tender.officers", "tender.officers: account numbers, commas between");
  }
  return {bids_from_ms: readTime(form, "tender_bids_from"), acceptance_window_ms: Number(value("tender_acceptance_hours")) * HOUR_MS,
    threshold: Number(value("tender_threshold")), officers: officers.map(Number)};
}

// The house names a tender's settings `tender.officers[1]`; the form's fields are `tender_officers`: the field
// named is marked here (run() marks the others by their own names).
async function naming(form, work) {
  try {
    return await work();
  } catch (exc) {
    const part = exc instanceof ApiError && exc.field ? /^tender\.([a-z_]+)/.exec(exc.field) : null;
    const names = {bids_from_ms: "tender_bids_from", acceptance_window_ms: "tender_acceptance_hours"};
    const target = part ? form.elements.namedItem(names[part[1]] || `tender_${part[1]}`) : null;
    if (target) {
      fieldError(target, exc.message);
      target.focus();
    }
    throw exc;
  }
}

function readTerms(form, base = null) {
  const value = (name) => form.elements.namedItem(name).value.trim();
  const number = (name) => Number(value(name) || "0");
  return {
    ...(base || {}),
    name: value("name"), currency: value("currency").toUpperCase(), format: value("format"),
    starts_at_ms: readTime(form, "starts_at_ms"), first_close_ms: readTime(form, "first_close_ms"),
    stagger_ms: number("stagger_s") * 1000,
    soft_close: {...((base && base.soft_close) || {}), window_ms: number("window_s") * 1000, extension_ms: number("extension_s") * 1000},
    live: {auto_accept: form.elements.namedItem("auto_accept").checked, missed_bid_window_ms: number("missed_ms"),
      house_bids: form.elements.namedItem("house_bids").checked},
    tender: value("format") === "tender" ? readTender(form) : null,
  };
}

function newDraftForm(done) {
  const submit = h("button", {type: "submit"}, "Start building it");
  const form = h("form", {class: "form", id: "new-draft"},
    h("fieldset", {}, h("legend", {}, "A new sale"), termsFields(), h("div", {class: "actions"}, submit)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const made = await run(submit, () => naming(form, () => api("POST", "/api/house/sales", {terms: readTerms(form)})),
      (d) => `Sale ${d.id} started: ${d.terms.name}.`);
    if (made) await done(made);
  });
  return h("section", {class: "panel", "aria-label": "A new sale"}, form);
}

function renderDraft(target, d, editable, refresh) {
  const cur = d.terms.currency;
  const draft = d.status !== "published";
  replace(target, h("section", {class: "panel", "aria-labelledby": "draft-title", dataset: {sale: d.id, status: d.status}},
    h("h2", {id: "draft-title", tabindex: "-1"}, `${d.terms.name} (sale ${d.id}) `, badge(d.status, draft ? "pending" : "open")),
    h("p", {}, `${KINDS[d.terms.format] || d.terms.format} in ${cur}, starting ${when(d.terms.starts_at_ms)}`
      + (d.published_ms ? `; published ${when(d.published_ms)}.` : ".")),
    d.terms.tender ? h("p", {id: "draft-tender"}, `Bids open ${when(d.terms.tender.bids_from_ms)}; `
      + `${d.terms.tender.threshold} of officers ${d.terms.tender.officers.join(", ")} reveal it`
      + (draft ? ": its key is made and split among them when it is published." : ".")) : null,
    d.problems.length
      ? h("div", {class: "banner", id: "draft-problems"}, h("p", {}, "Publishing it now would be refused:"),
        h("ul", {}, d.problems.map((p) => h("li", {}, `${p.field}: ${p.message}`))))
      : (draft ? h("p", {class: "banner banner-ok", id: "draft-problems"}, "Nothing stops it being published.") : null),
    h("h3", {}, `Lots (${d.lots.length})`),
    table({
      caption: "Lots of the sale", empty: "No lot yet: add consigned stones, or import the catalogue file.",
      rows: d.lots.map((l) => ({...l, __data: {lot: l.lot}})),
      columns: [
        {label: "Lot", num: true, cell: (l) => String(l.lot)},
        {label: "Title", cell: (l) => l.title},
        {label: "Stone", num: true, cell: (l) => String(l.stone_id)},
        {label: "Opening", num: true, cell: (l) => money(l.opening, cur)},
        {label: "Estimate", num: true, cell: (l) => `${money(l.low_estimate, cur)} to ${money(l.high_estimate, cur)}`},
        {label: "Reserve", num: true, cell: (l) => money(l.reserve, cur)},
        {label: "", cell: (l) => (editable && draft ? lotButtons(d, l, refresh) : "")},
      ],
    }),
    h("p", {}, h("a", {href: `/api/house/sales/${d.id}/catalogue`, download: `sale-${d.id}.csv`}, "Download the catalogue file (CSV)")),
    editable && draft ? [addLotForm(d, refresh), importForm(d, refresh), termsForm(d, refresh), publishButton(d, refresh)] : null,
    editable && !draft ? withdrawForm(d, refresh) : null));
}

const KINDS = {timed: "A timed sale", live: "A live sale", tender: "A sealed-bid tender"};

function lotButtons(d, l, refresh) {
  const numbers = d.lots.map((x) => x.lot);
  const at = numbers.indexOf(l.lot);
  const move = (by) => async (e) => {
    const order = numbers.slice();
    [order[at], order[at + by]] = [order[at + by], order[at]];
    const done = await run(e.currentTarget, () => api("POST", `/api/house/sales/${d.id}/order`, {lots: order}), "Lots renumbered.");
    if (done) await refresh();
  };
  const remove = async (e) => {
    const done = await run(e.currentTarget, () => api("DELETE", `/api/house/sales/${d.id}/lots/${l.lot}`), `Lot ${l.lot} taken out.`);
    if (done) await refresh();
  };
  return h("span", {class: "actions"},
    h("button", {type: "button", class: "secondary", disabled: at === 0, "aria-label": `Move lot ${l.lot} up`, on: {click: move(-1)}}, "↑"),
    h("button", {type: "button", class: "secondary", disabled: at === numbers.length - 1, "aria-label": `Move lot ${l.lot} down`,
      on: {click: move(1)}}, "↓"),
    h("button", {type: "button", class: "secondary", "aria-label": `Take lot ${l.lot} out`, on: {click: remove}}, "Remove"));
}

function addLotForm(d, refresh) {
  const cur = d.terms.currency;
  const next = d.lots.length ? Math.max(...d.lots.map((l) => l.lot)) + 1 : 1;
  const submit = h("button", {type: "submit", class: "secondary"}, "Add the lot");
  const form = h("form", {class: "form", id: "add-lot"},
    h("fieldset", {}, h("legend", {}, "Add a consigned stone as a lot"),
      h("div", {class: "grid-2"},
        field("Lot number", input("lot", {type: "number", min: 1, max: 100000, required: true, value: String(next)})),
        field("Stone number", input("stone", {type: "number", min: 1, required: true}), "From the consignor's file"),
        field(`Opening price (${cur})`, moneyInput("opening", cur, {required: true})),
        field("Title (else the stone's)", input("title", {maxlength: 200}))),
      h("div", {class: "actions"}, submit)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = (name) => form.elements.namedItem(name).value.trim();
    const done = await run(submit, () => {
      const body = {stone: Number(value("stone")), opening: readMoney(form, "opening", cur)};
      if (value("title")) body.title = value("title");
      return api("PUT", `/api/house/sales/${d.id}/lots/${Number(value("lot"))}`, body);
    }, `Lot ${value("lot")} added.`);
    if (done) await refresh();
  });
  return form;
}

function importForm(d, refresh) {
  const file = h("input", {type: "file", name: "catalogue", accept: ".csv,text/csv", required: true});
  const submit = h("button", {type: "submit", class: "secondary"}, "Import the file");
  const problems = h("div", {id: "import-problems", "aria-live": "polite"});
  const form = h("form", {class: "form", id: "import-form"},
    h("fieldset", {}, h("legend", {}, "Import the catalogue file"),
      field("Catalogue file (CSV, as docs/catalogue-example.csv)", file, "All or nothing: it becomes the sale's lots"),
      h("div", {class: "actions"}, submit), problems));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(problems);
    if (!file.files.length) return;
    const done = await run(submit, async () => {
      try {
        return await api("PUT", `/api/house/sales/${d.id}/catalogue`, file.files[0], {contentType: "text/csv"});
      } catch (exc) {
        const cells = exc instanceof ApiError && exc.body && exc.body.problems ? exc.body.problems : [];
        if (cells.length) {
          replace(problems, h("ul", {class: "field-error"}, cells.map((c) => h("li", {},
            c.line !== undefined ? `Line ${c.line}${c.column ? `, ${c.column}` : ""}: ${c.message}` : `${c.field}: ${c.message}`))));
        }
        throw exc;
      }
    }, (r) => `${plural(r.lots, "lot")} imported; ${plural(r.stones_taken_in.length, "stone")} taken in.`);
    if (done) await refresh();
  });
  return form;
}

function termsForm(d, refresh) {
  const submit = h("button", {type: "submit", class: "secondary"}, "Save the terms");
  const form = h("form", {class: "form", id: "terms-form"},
    h("fieldset", {}, h("legend", {}, "Terms"), termsFields(d.terms), h("div", {class: "actions"}, submit)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(submit, () => naming(form, () => api("PUT", `/api/house/sales/${d.id}`, readTerms(form, d.terms))),
      "Terms saved.");
    if (done) await refresh();
  });
  return form;
}

function publishButton(d, refresh) {
  const publish = h("button", {type: "button", id: "publish"}, "Publish the sale");
  publish.addEventListener("click", async () => {
    const done = await run(publish, () => api("POST", `/api/house/sales/${d.id}/publication`),
      (p) => `${p.terms.name} is published: ${plural(p.lots.length, "lot")} in the catalogue.`);
    if (done) await refresh();
  });
  return h("div", {class: "actions"}, publish);
}

function withdrawForm(d, refresh) {
  const submit = h("button", {type: "submit", class: "danger"}, "Withdraw the lot");
  const form = h("form", {class: "form", id: "withdraw-form"},
    h("fieldset", {}, h("legend", {}, "Withdraw a lot"),
      h("div", {class: "grid-2"}, field("Lot", select("lot", d.lots.map((l) => [String(l.lot), `Lot ${l.lot}: ${l.title}`]))),
        field("Reason (told to its bidders' record)", input("reason", {required: true, minlength: 3, maxlength: 500}))),
      h("div", {class: "actions"}, submit)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const lot = form.elements.namedItem("lot").value;
    const done = await run(submit, () => api("POST", `/api/house/sales/${d.id}/lots/${lot}/withdrawal`,
      {reason: form.elements.namedItem("reason").value.trim()}), `Lot ${lot} withdrawn.`);
    if (done) await refresh();
  });
  return form;
}
