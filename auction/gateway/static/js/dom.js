// Building the DOM without innerHTML: text is always text, so nothing the server sends is run as markup.
//
// Exports
//   h(tag, attributes?, ...children) -> Element
//       attributes: plain attributes and properties; `class` a string; `dataset` an object; `on` an object
//       of event listeners ({click: fn}); `text` the text content; a null/false/undefined value is left out.
//       children: Elements, strings (as text), arrays of them; null/false/undefined are skipped.
//   clear(element) -> element   removes every child
//   replace(element, ...children) -> element   clear, then append children
//   field(label, input, hint?) -> Element   a labelled form row: <label for> tied to the input by id, an
//       error slot (role=alert) the input is described by; `fieldError(input, message)` fills it
//   fieldError(input, message|null)   shows (or clears) the error next to the input, sets aria-invalid
//   uid(prefix) -> string   a page-unique id for labels

let counter = 0;

export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}

function append(element, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const each of child) append(element, each);
  } else if (child instanceof Node) {
    element.appendChild(child);
  } else {
    element.appendChild(document.createTextNode(String(child)));
  }
}

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "on") for (const [kind, listener] of Object.entries(value)) element.addEventListener(kind, listener);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function clear(element) {
  while (element.firstChild) element.removeChild(element.firstChild);
  return element;
}

export function replace(element, ...children) {
  clear(element);
  append(element, children);
  return element;
}

export function field(label, input, hint = null) {
  if (!input.id) input.id = uid("field");
  const error = h("p", {class: "field-error", id: `${input.id}-error`, role: "alert", hidden: true});
  const hintText = hint ? h("p", {class: "field-hint", id: `${input.id}-hint`}, hint) : null;
  input.setAttribute("aria-describedby", [hintText && hintText.id, error.id].filter(Boolean).join(" "));
  return h("div", {class: "field"}, h("label", {for: input.id}, label), hintText, input, error);
}

export function fieldError(input, message) {
  const error = document.getElementById(`${input.id}-error`);
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  if (error) {
    error.textContent = message || "";
    error.hidden = !message;
  }
}
