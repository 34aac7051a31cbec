// The documents a company sends with its application: the upload form (shared by the application and its status
// page). POST /api/companies/{company}/documents?kind=...&filename=... with the file as the body, at most 5 MiB.
//
// Exports
//   DOCUMENT_KINDS: [[kind, label], ...]
//   uploadForm(company, onUploaded) -> Element   a labelled form: kind, file, upload; errors beside the field

import {api, ApiError} from "../js/api.js";
import {field, fieldError, h} from "../js/dom.js";

const MAX_BYTES = 5 * 1024 * 1024;

export const DOCUMENT_KINDS = [
  ["registration_certificate", "Certificate of registration"],
  ["trade_licence", "Trade licence"],
  ["bourse_membership", "Bourse membership"],
  ["bank_reference", "Bank reference letter"],
  ["kimberley_process", "Kimberley Process declaration"],
  ["aml_policy", "Anti-money-laundering policy"],
  ["identity", "Identity of a representative"],
  ["other", "Other"],
];

export function uploadForm(company, onUploaded) {
  const kind = h("select", {name: "kind", id: "document-kind"},
    DOCUMENT_KINDS.map(([value, label]) => h("option", {value}, label)));
  const file = h("input", {type: "file", name: "file", id: "document-file",
    accept: ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"});
  const button = h("button", {type: "submit"}, "Upload");
  const done = h("p", {role: "status", "aria-live": "polite", dataset: {field: "uploaded"}});
  const form = h("form", {class: "form", id: "upload-form", novalidate: true},
    field("Kind of document", kind),
    field("File (PDF or picture, at most 5 MB)", file),
    h("div", {class: "actions"}, button), done);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fieldError(file, null);
    const chosen = file.files && file.files[0];
    if (!chosen) return fieldError(file, "Choose the file to upload.");
    if (chosen.size > MAX_BYTES) return fieldError(file, "This file is over 5 MB.");
    button.disabled = true;
    done.textContent = `Uploading ${chosen.name}…`;
    try {
      const kept = await api("POST", `/api/companies/${company}/documents`, chosen,
        {query: {kind: kind.value, filename: chosen.name}, contentType: chosen.type || "application/octet-stream"});
      done.textContent = `Uploaded ${kept.filename} (${kept.size} bytes).`;
      file.value = "";
      onUploaded(kept);
    } catch (exc) {
      done.textContent = "";
      if (exc instanceof ApiError && exc.field === "kind") fieldError(kind, exc.message);
      else fieldError(file, exc instanceof ApiError ? exc.message : String(exc));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
