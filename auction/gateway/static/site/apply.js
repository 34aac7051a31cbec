// A new buyer's application (/apply): the company, its owners and directors, one or two representatives (each
// becomes a buyer account), the declarations; POST /api/companies. The first representative is then signed in
// to upload the documents, and the application's status page follows. Every error is shown beside its field.
import {api, ApiError, signIn} from "../js/api.js";
import {field, fieldError, h, replace} from "../js/dom.js";
import {mount, setStatus} from "../js/shell.js";
import {uploadForm} from "./documents.js";

const MIN_PASSWORD = 12;
const inputs = new Map();  // the API's field path ("representatives[1].email") -> its input

function text(path, label, attributes = {}, hint = null) {
  const input = h("input", {id: path.replace(/[^a-z0-9]+/gi, "-"), name: path, autocomplete: "off", ...attributes});
  inputs.set(path, input);
  return field(label, input, hint);
}

function check(path, label) {
  const input = h("input", {type: "checkbox", id: path, name: path});
  inputs.set(path, input);
  const error = h("p", {class: "field-error", id: `${path}-error`, role: "alert", hidden: true});
  input.setAttribute("aria-describedby", error.id);
  return h("div", {}, h("div", {class: "check"}, input, h("label", {for: path}, label)), error);
}

function representative(index, required) {
  const p = `representatives[${index}]`;
  return h("fieldset", {},
    h("legend", {}, index === 0 ? "Representative who bids" : "Second representative (optional)"),
    h("div", {class: "grid-2"},
      text(`${p}.name`, "Full name", {required, autocomplete: "name"}),
      text(`${p}.email`, "Email", {type: "email", required, autocomplete: "email"}),
      text(`${p}.password`, "Password", {type: "password", required, autocomplete: "new-password", minlength: MIN_PASSWORD},
        `At least ${MIN_PASSWORD} characters.`)));
}

function owner(index) {
  const p = `owners[${index}]`;
  return h("div", {class: "grid-2"},
    text(`${p}.name`, `Owner ${index + 1}: name`),
    text(`${p}.share_bp`, `Owner ${index + 1}: share (%)`, {inputmode: "decimal"}, "Above 25 %, e.g. 40 or 33.5"));
}

function form() {
  return h("form", {class: "form", id: "apply-form", novalidate: true},
    h("fieldset", {}, h("legend", {}, "Your company"),
      h("div", {class: "grid-2"},
        text("legal_name", "Legal name", {required: true, autocomplete: "organization"}),
        text("registration_number", "Registration number", {required: true}),
        text("country", "Country", {required: true, maxlength: 2, autocomplete: "country"},
          "The two-letter code, e.g. BE, IL, IN, US"),
        text("trade_licence", "Trade licence number", {required: true}),
        text("bourse_membership", "Bourse membership (optional)"),
        text("bank_reference", "Bank reference", {required: true}, "Your bank and account reference"))),
    h("fieldset", {}, h("legend", {}, "Owners above 25 % (if any)"), owner(0), owner(1), owner(2)),
    h("fieldset", {}, h("legend", {}, "Directors"),
      field("Directors' names, one per line", (() => {
        const area = h("textarea", {id: "directors", name: "directors", rows: 3});
        inputs.set("directors", area);
        return area;
      })())),
    representative(0, true),
    representative(1, false),
    h("fieldset", {}, h("legend", {}, "Declarations"),
      check("kp_declaration", "We trade only in diamonds from Kimberley Process certified sources."),
      check("aml_declaration", "We have an anti-money-laundering policy and will show it on request.")),
    h("div", {class: "actions"}, h("button", {type: "submit", id: "apply-button"}, "Apply")));
}

function value(path) {
  return (inputs.get(path).value || "").trim();
}

function shareBp(raw) {
  const match = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(raw.replace("%", "").trim());
  return match ? Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0")) : null;
}

function collect() {
  const problems = [];
  const need = (path, message) => { if (!value(path)) problems.push([path, message]); };
  need("legal_name", "Enter the company's legal name.");
  need("registration_number", "Enter the registration number.");
  need("trade_licence", "Enter the trade licence number.");
  need("bank_reference", "Enter a bank reference.");
  if (!/^[A-Za-z]{2}$/.test(value("country"))) problems.push(["country", "Enter the two-letter country code."]);
  const owners = [];
  for (let i = 0; i < 3; i += 1) {
    const name = value(`owners[${i}].name`);
    const share = value(`owners[${i}].share_bp`);
    if (!name && !share) continue;
    const bp = shareBp(share);
    if (!name) problems.push([`owners[${i}].name`, "Name this owner."]);
    if (bp === null || bp <= 2500 || bp > 10000) problems.push([`owners[${i}].share_bp`, "A share above 25 % and at most 100 %."]);
    else owners.push({name, share_bp: bp});
  }
  const representatives = [];
  for (let i = 0; i < 2; i += 1) {
    const p = `representatives[${i}]`;
    const any = value(`${p}.name`) || value(`${p}.email`) || inputs.get(`${p}.password`).value;
    if (i === 1 && !any) continue;
    if (!value(`${p}.name`)) problems.push([`${p}.name`, "Enter the representative's name."]);
    if (!/^[^@\s]+@[^@\s]+$/.test(value(`${p}.email`))) problems.push([`${p}.email`, "Enter an email address."]);
    if (inputs.get(`${p}.password`).value.length < MIN_PASSWORD) {
      problems.push([`${p}.password`, `The password needs at least ${MIN_PASSWORD} characters.`]);
    }
    representatives.push({name: value(`${p}.name`), email: value(`${p}.email`), password: inputs.get(`${p}.password`).value});
  }
  for (const path of ["kp_declaration", "aml_declaration"]) {
    if (!inputs.get(path).checked) problems.push([path, "This declaration is required to bid."]);
  }
  const body = {
    legal_name: value("legal_name"), registration_number: value("registration_number"),
    country: value("country").toUpperCase(), trade_licence: value("trade_licence"),
    bank_reference: value("bank_reference"), representatives, owners,
    kp_declaration: inputs.get("kp_declaration").checked, aml_declaration: inputs.get("aml_declaration").checked,
    directors: value("directors").split("\n").map((line) => line.trim()).filter(Boolean),
  };
  if (value("bourse_membership")) body.bourse_membership = value("bourse_membership");
  return {body, problems};
}

function showProblems(problems) {
  for (const input of inputs.values()) fieldError(input, null);
  for (const [path, message] of problems) fieldError(inputs.get(path), message);
  if (problems.length) inputs.get(problems[0][0]).focus();
}

function serverField(path) {
  // The API names a field as a path; an owner's share is sent in basis points but typed in percent.
  if (!path) return null;
  const exact = inputs.get(path);
  if (exact) return path;
  const top = path.split(".")[0].split("[")[0];
  return [...inputs.keys()].find((key) => key.startsWith(top)) || null;
}

async function afterApplying(applied, body, main) {
  const first = body.representatives[0];
  await signIn(first.email, first.password);
  replace(main,
    h("h1", {}, "Thank you: your application is in"),
    h("p", {dataset: {field: "applied"}}, `Application ${applied.company} for ${body.legal_name} is `,
      h("strong", {}, "pending"), `. ${first.name} is signed in as its representative.`),
    h("section", {class: "panel", "aria-labelledby": "docs-title"},
      h("h2", {id: "docs-title"}, "Now upload your documents"),
      h("p", {}, "Your certificate of registration, trade licence, a bank reference and the identity of each representative."),
      uploadForm(applied.company, () => {})),
    h("p", {}, h("a", {class: "button", href: "/apply/status"}, "See your application's status")));
}

async function start() {
  const {me, main} = await mount({title: "Apply to bid"});
  const holder = document.getElementById("application");
  if (me && me.role === "buyer") {
    replace(holder, h("p", {class: "notice"}, "Your company has applied already. ",
      h("a", {href: "/apply/status"}, "See its status and upload documents"), "."));
    return;
  }
  replace(holder, form());
  const button = document.getElementById("apply-button");
  document.getElementById("apply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const {body, problems} = collect();
    showProblems(problems);
    if (problems.length) return setStatus(`Please correct ${problems.length === 1 ? "the field" : `${problems.length} fields`} marked below.`, "error");
    button.disabled = true;
    setStatus("Sending your application…");
    try {
      const applied = await api("POST", "/api/companies", body);
      setStatus("");
      await afterApplying(applied, body, main);
    } catch (exc) {
      if (!(exc instanceof ApiError)) throw exc;
      const path = serverField(exc.field);
      if (path) showProblems([[path, exc.message]]);
      setStatus(exc.code === "sanctioned" ? "We cannot accept buyers from this country." : `Not sent: ${exc.message}`, "error");
    } finally {
      button.disabled = false;
    }
  });
}

start();
