// Consignors and intake: the house's consignors (people or companies) with their consignment agreement, a new
// consignor, one consignor's file (the agreement, changed by the settlement desk; the stones they handed in), and
// taking a stone into custody with its grading data, then its photos.

import {api} from "../js/api.js";
import {field, fieldError, h, replace} from "../js/dom.js";
import {carats, money, plural, units, when} from "../js/format.js";
import {
  errorText, input, moneyInput, openConsole, percentInput, queryInt, readMoney, readPercent, run, select, setQuery, table,
} from "./common.js";

const VETTING = ["vetting_officer", "admin"];
const SETTLEMENT = ["settlement_officer", "admin"];
const CATALOGUE = ["auctioneer", "admin"];
const PAGE = 500;  // consignors per read (the route's page)
const SHAPES = ["Round", "Princess", "Cushion", "Oval", "Emerald", "Pear", "Marquise", "Radiant", "Asscher", "Heart", "Rough"];
const COLOURS = "DEFGHIJKLMNOPQRSTUVWXYZ".split("");
const CLARITIES = ["FL", "IF", "VVS1", "VVS2", "VS1", "VS2", "SI1", "SI2", "I1", "I2", "I3"];
const GRADES = ["Excellent", "Very Good", "Good", "Fair", "Poor"];
const FLUORESCENCE = ["None", "Faint", "Medium", "Strong", "Very Strong"];
const LABS = ["GIA", "HRD", "IGI", "AGS"];
const none = (values) => [["", "—"], ...values.map((v) => [v, v])];

const ctx = await openConsole({title: "Consignors and intake", path: "/console/consignors"});
if (ctx) await start(ctx);

async function start({main, can}) {
  const list = h("div", {id: "consignor-list"});
  const file = h("div", {id: "consignor-file"});
  replace(main, h("h1", {}, "Consignors and intake"),
    h("div", {class: "console-columns"},
      h("div", {},
        h("section", {class: "panel", "aria-labelledby": "consignors-title"}, h("h2", {id: "consignors-title"}, "Consignors"), list),
        can(VETTING) ? newConsignorForm(async (made) => { await showList(); await showFile(made.id); }) : null),
      file));

  async function showList() {
    try {
      const rows = [];
      for (let after = 0; ;) {
        const page = await api("GET", "/api/house/consignors", undefined, {query: {after}});
        rows.push(...page);
        if (page.length < PAGE) break;
        after = page[page.length - 1].id;
      }
      replace(list, table({
        caption: "Consignors", empty: "No consignor yet.", rows: rows.map((r) => ({...r, __data: {consignor: r.id}})),
        columns: [
          {label: "No.", num: true, cell: (r) => String(r.id)},
          {label: "Name", cell: (r) => h("a", {href: `?consignor=${r.id}`, on: {click: (e) => { e.preventDefault(); showFile(r.id); }}},
            r.name)},
          {label: "Kind", cell: (r) => r.kind},
          {label: "Commission", num: true, cell: (r) => (r.agreement ? `${r.agreement.commission_bp / 100} %` : "sale's terms")},
        ],
      }));
    } catch (exc) {
      replace(list, h("p", {class: "status status-error"}, errorText(exc)));
    }
  }

  async function showFile(id) {
    setQuery({consignor: id});
    replace(file, h("p", {class: "muted"}, "Loading…"));
    try {
      const found = await api("GET", `/api/house/consignors/${id}`);
      renderFile(file, found, can, () => showFile(id));
      file.querySelector("h2").focus();
    } catch (exc) {
      replace(file, h("p", {class: "status status-error"}, errorText(exc)));
    }
  }

  await showList();
  const chosen = queryInt("consignor");
  if (chosen) await showFile(chosen);
}

function agreementText(a) {
  if (!a) return "No agreement on file: the sale's terms apply.";
  return `${a.currency}: commission ${a.commission_bp / 100} %, unsold fee ${a.unsold_fee_bp / 100} %, return shipping `
    + `${money(a.return_shipping, a.currency)}; ${a.relist_consent ? `relisting agreed at ${a.relist_reserve_bp / 100} % of the reserve` : "relisting only when asked"}.`;
}

function renderFile(target, found, can, refresh) {
  const c = found.consignor;
  const row = (label, value) => h("div", {}, h("dt", {}, label), h("dd", {}, value || "—"));
  replace(target, h("section", {class: "panel", "aria-labelledby": "file-title", dataset: {consignor: c.id}},
    h("h2", {id: "file-title", tabindex: "-1"}, `${c.name} (consignor ${c.id})`),
    h("dl", {class: "facts"}, row("Kind", c.kind), row("Trades as", c.company), row("Email", c.email), row("Phone", c.phone),
      row("Address", c.address), row("Country", c.country)),
    h("h3", {}, "Consignment agreement"), h("p", {id: "agreement"}, agreementText(c.agreement)),
    can(SETTLEMENT) ? agreementForm(c, refresh) : null,
    h("h3", {}, `Stones (${found.stones.length})`),
    table({
      caption: "Stones in the house's custody", empty: "No stone handed in yet.",
      rows: found.stones.map((s) => ({...s, __data: {stone: s.id}})),
      columns: [
        {label: "Stone", num: true, cell: (s) => String(s.id)},
        {label: "Description", cell: (s) => s.title},
        {label: "Weight", num: true, cell: (s) => carats(s.stone.carat_points)},
        {label: "Estimate", num: true, cell: (s) => `${money(s.stone.low_estimate, s.currency)} to ${money(s.stone.high_estimate, s.currency)}`},
        {label: "Received", cell: (s) => when(s.received_ms)},
        {label: "Photos", num: true, cell: (s) => String(s.photos.length)},
        {label: "Catalogued", cell: (s) => s.placed.join(", ") || "not yet"},
        {label: "", cell: (s) => (can(CATALOGUE) ? photoUpload(s, refresh) : "")},
      ],
    }),
    can(CATALOGUE) ? intakeForm(c, refresh) : null));
}

function agreementFields(currency = "USD", a = null) {
  const cur = input("currency", {value: a ? a.currency : currency, maxlength: 3, pattern: "[A-Z]{3}", required: true, autocomplete: "off"});
  return [
    field("Currency (ISO 4217)", cur),
    field("Commission (%)", percentInput("commission_bp", a ? a.commission_bp : 1000)),
    field("Unsold fee (% of the reserve)", percentInput("unsold_fee_bp", a ? a.unsold_fee_bp : 0)),
    field("Return shipping (in the agreement's currency)", moneyInput("return_shipping", currency, {value: a ? units(a.return_shipping, a.currency) : "0"})),
    h("div", {class: "check"}, h("input", {type: "checkbox", name: "relist_consent", id: `relist-${Math.random().toString(36).slice(2)}`,
      checked: a ? a.relist_consent : false}), h("label", {}, "Consents to relisting an unsold stone")),
    field("Relist at (% of the reserve it failed to reach)", percentInput("relist_reserve_bp", a ? a.relist_reserve_bp : 8000)),
  ];
}

function readAgreement(form) {
  const currency = form.elements.namedItem("currency").value.trim().toUpperCase();
  const box = form.querySelector("input[name='relist_consent']");
  return {
    currency, commission_bp: readPercent(form, "commission_bp"), unsold_fee_bp: readPercent(form, "unsold_fee_bp"),
    return_shipping: readMoney(form, "return_shipping", currency), relist_consent: box.checked,
    relist_reserve_bp: readPercent(form, "relist_reserve_bp"),
  };
}

function tieCheckLabels(form) {
  for (const check of form.querySelectorAll(".check")) check.querySelector("label").htmlFor = check.querySelector("input").id;
}

function newConsignorForm(done) {
  const submit = h("button", {type: "submit"}, "Add the consignor");
  const form = h("form", {class: "form", id: "new-consignor"},
    h("fieldset", {}, h("legend", {}, "A new consignor"),
      field("Kind", select("kind", [["company", "A company"], ["person", "A person"]])),
      field("Name (a person's full name or the company's legal name)", input("name", {required: true, maxlength: 200})),
      field("Trades as (a person's company)", input("company", {maxlength: 200})),
      h("div", {class: "grid-2"}, field("Email", input("email", {type: "email", maxlength: 200})),
        field("Phone", input("phone", {type: "tel", maxlength: 200}))),
      field("Address", h("textarea", {name: "address", rows: 2, maxlength: 500})),
      field("Country (ISO 3166, two letters)", input("country", {maxlength: 2, pattern: "[A-Za-z]{2}"}))),
    h("fieldset", {}, h("legend", {}, "Consignment agreement"), agreementFields()),
    h("div", {class: "actions"}, submit));
  tieCheckLabels(form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = (name) => form.elements.namedItem(name).value.trim();
    const made = await run(submit, () => api("POST", "/api/house/consignors", {
      kind: value("kind"), name: value("name"), company: value("company"), email: value("email"), phone: value("phone"),
      address: value("address"), country: value("country") ? value("country").toUpperCase() : null, agreement: readAgreement(form),
    }), (c) => `${c.name} added as consignor ${c.id}.`);
    if (made) {
      form.reset();
      await done(made);
    }
  });
  return h("section", {class: "panel", "aria-label": "A new consignor"}, form);
}

function agreementForm(c, refresh) {
  const submit = h("button", {type: "submit", class: "secondary"}, "Change the agreement");
  const form = h("form", {class: "form", id: "agreement-form"},
    h("fieldset", {}, h("legend", {}, "Change the agreement"), agreementFields(c.agreement ? c.agreement.currency : "USD", c.agreement),
      field("Reason (on the audit log)", h("textarea", {name: "reason", rows: 2, required: true, minlength: 3, maxlength: 2000})),
      h("div", {class: "actions"}, submit)));
  tieCheckLabels(form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const done = await run(submit, () => api("PUT", `/api/house/consignors/${c.id}/agreement`,
      {agreement: readAgreement(form), reason: form.elements.namedItem("reason").value.trim()}), "The agreement is changed.");
    if (done) await refresh();
  });
  return form;
}

function intakeForm(c, refresh) {
  const currency = c.agreement ? c.agreement.currency : "USD";
  const submit = h("button", {type: "submit"}, "Take the stone in");
  const form = h("form", {class: "form", id: "intake-form"},
    h("fieldset", {}, h("legend", {}, `Take in a stone from ${c.name}`),
      h("div", {class: "grid-2"},
        field("Weight (carats)", input("carats", {required: true, inputmode: "decimal", placeholder: "1.52", autocomplete: "off"})),
        field("Shape", select("shape", SHAPES.map((s) => [s, s]))),
        field("Setting", select("setting", [["loose", "Loose"], ["set", "In a setting"]])),
        field("Colour", select("colour", none(COLOURS))),
        field("Colour range (a set stone)", input("colour_range", {placeholder: "G-H", maxlength: 3})),
        field("Fancy colour", input("fancy_colour", {maxlength: 100})),
        field("Clarity", select("clarity", none(CLARITIES))),
        field("Clarity range (a set stone)", input("clarity_range", {placeholder: "VS", maxlength: 9})),
        field("Cut", select("cut", none(GRADES))), field("Polish", select("polish", none(GRADES))),
        field("Symmetry", select("symmetry", none(GRADES))), field("Fluorescence", select("fluorescence", none(FLUORESCENCE))),
        field("Measurements (mm)", input("measurements", {placeholder: "7.35 x 7.39 x 4.52", maxlength: 40, autocomplete: "off"}),
          "Length x width x depth, as the grading report gives them"),
        field("Laboratory", select("lab", none(LABS))), field("Report number", input("report_number", {maxlength: 40})),
        field("No report over 1 ct: the reason", input("report_override_reason", {maxlength: 500})),
        field("Kimberley Process certificate (rough)", input("kp_certificate", {maxlength: 60})),
        field("Origin", input("origin", {maxlength: 100})),
        field(`Low estimate (${currency})`, moneyInput("low_estimate", currency, {required: true})),
        field(`High estimate (${currency})`, moneyInput("high_estimate", currency, {required: true})),
        field(`Reserve (${currency}), at most the low estimate`, moneyInput("reserve", currency, {value: "0"}))),
      field("Provenance", h("textarea", {name: "provenance", rows: 2, maxlength: 2000})),
      h("div", {class: "actions"}, submit)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const made = await run(submit, () => api("POST", `/api/house/consignors/${c.id}/stones`, readStone(form, currency)),
      (stone) => `Stone ${stone.id} taken in: ${stone.title}.`);
    if (made) {
      form.reset();
      await refresh();
    }
  });
  return form;
}

function readStone(form, currency) {
  const text = (name) => form.elements.namedItem(name).value.trim();
  const weight = /^(\d{1,4})(?:\.(\d{1,2}))?$/.exec(text("carats"));
  const target = form.elements.namedItem("carats");
  if (!weight) {
    fieldError(target, "a weight in carats such as 1.52 (two decimals at most)");
    target.focus();
    throw new Error("The weight: carats such as 1.52");
  }
  fieldError(target, null);
  const stone = {
    carat_points: Number(weight[1]) * 100 + Number((weight[2] || "0").padEnd(2, "0")),
    shape: text("shape"), setting: text("setting"),
    low_estimate: readMoney(form, "low_estimate", currency), high_estimate: readMoney(form, "high_estimate", currency),
    reserve: readMoney(form, "reserve", currency),
  };
  if (text("measurements")) stone.measurements = readMeasurements(form);
  for (const name of ["colour", "colour_range", "fancy_colour", "clarity", "clarity_range", "cut", "polish", "symmetry",
    "fluorescence", "lab", "report_number", "report_override_reason", "kp_certificate", "origin", "provenance"]) {
    if (text(name)) stone[name] = text(name);
  }
  return stone;
}

function hundredths(text) {
  const [whole, fraction = ""] = text.split(".");
  return Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
}

function readMeasurements(form) {
  const target = form.elements.namedItem("measurements");
  const mm = "(\\d{1,3}(?:\\.\\d{1,2})?)";
  const match = new RegExp(`^${mm}\\s*[x×]\\s*${mm}\\s*[x×]\\s*${mm}\\s*(?:mm)?$`, "i").exec(target.value.trim());
  if (!match) {
    fieldError(target, "three sizes in millimetres: 7.35 x 7.39 x 4.52");
    target.focus();
    throw new Error("The measurements: length x width x depth in millimetres");
  }
  fieldError(target, null);
  return {length: hundredths(match[1]), width: hundredths(match[2]), depth: hundredths(match[3])};
}

function photoUpload(stone, refresh) {
  const files = h("input", {type: "file", name: "files", accept: "image/jpeg,image/png,image/webp", multiple: true,
    "aria-label": `Photos of stone ${stone.id}`});
  const send = h("button", {type: "button", class: "secondary"}, "Upload");
  send.addEventListener("click", async () => {
    if (!files.files.length) return;
    const body = new FormData();
    for (const file of files.files) body.append("files", file, file.name);
    const done = await run(send, async () => {
      const response = await fetch(`/api/house/stones/${stone.id}/photos`, {method: "POST", body, credentials: "same-origin"});
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error ? answer.error.message : `the upload failed (${response.status})`);
      return answer;
    }, (photos) => `Stone ${stone.id}: ${plural(photos.length, "photo")}.`);
    if (done) await refresh();
  });
  return h("span", {class: "actions photo-upload"}, files, send);
}
