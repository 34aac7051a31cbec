// The status of a buyer company's application (/apply/status): what was sent, the documents, the decisions,
// and an upload form for more; GET /api/companies/{company} for the signed-in representative's company.
import {api} from "../js/api.js";
import {h, replace} from "../js/dom.js";
import {date, when} from "../js/format.js";
import {mount} from "../js/shell.js";
import {DOCUMENT_KINDS, uploadForm} from "./documents.js";

const STATUS_TEXT = {
  pending: ["Waiting for our vetting officers", "pending"],
  more_requested: ["We need more from you: see the decision below, then upload", "pending"],
  approved: ["Approved: you may register for sales", "live"],
  rejected: ["Rejected", "rejected"],
  suspended: ["Suspended", "rejected"],
};
const KIND_LABEL = Object.fromEntries(DOCUMENT_KINDS);

function render(file) {
  const company = file.company;
  const [text, look] = STATUS_TEXT[company.status] || [company.status, "neutral"];
  const documents = file.documents.length
    ? h("div", {class: "table-scroll"}, h("table", {},
        h("caption", {class: "visually-hidden"}, "Documents uploaded"),
        h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Document"), h("th", {scope: "col"}, "File"),
          h("th", {scope: "col", class: "num"}, "Size"), h("th", {scope: "col"}, "Uploaded"))),
        h("tbody", {}, file.documents.map((doc) => h("tr", {},
          h("td", {}, KIND_LABEL[doc.kind] || doc.kind), h("td", {}, doc.filename),
          h("td", {class: "num"}, `${Math.ceil(doc.size / 1024)} KB`), h("td", {}, when(doc.uploaded_ms)))))))
    : h("p", {}, "No documents yet.");
  const decisions = file.decisions.length
    ? h("ol", {}, file.decisions.map((d) => h("li", {}, `${when(d.decided_ms)}: ${d.decision}`, d.reason ? ` (${d.reason})` : "")))
    : h("p", {}, "No decision yet.");
  return [
    h("section", {class: "panel"},
      h("h2", {}, company.legal_name),
      h("p", {}, "Status: ", h("span", {class: `badge badge-${look}`, dataset: {field: "company-status"}}, text)),
      company.approved_until_ms ? h("p", {}, `Approved until ${date(company.approved_until_ms)}.`) : null,
      h("p", {class: "muted"}, `Registration ${company.registration_number} · ${company.country} · representatives: ${company.representatives.join(", ")}`)),
    h("section", {class: "panel"}, h("h2", {}, "Documents"), documents),
    h("section", {class: "panel"}, h("h2", {}, "Decisions"), decisions),
  ];
}

async function start() {
  const {me, allowed} = await mount({title: "Your application", roles: ["buyer"]});
  if (!allowed) return;
  const holder = document.getElementById("file");
  const load = async () => replace(holder, ...render(await api("GET", `/api/companies/${me.company_id}`)));
  try {
    await load();
  } catch (exc) {
    replace(holder, h("p", {}, `Your file could not be loaded: ${exc.message}`));
    return;
  }
  replace(document.getElementById("upload"), uploadForm(me.company_id, load));
  document.getElementById("upload-section").hidden = false;
}

start();
