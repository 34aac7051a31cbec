// The page chrome every room shares: a skip link, the header (the house's name, who is signed in and as what,
// sign out), a navigation by role, and a status region that screen readers announce.
//
// Exports
//   mount({title?, roles?}) -> Promise<{me, allowed, main, announce, setStatus}>
//       Call once per page, first. The page's HTML has <main id="main">; mount puts the chrome around it.
//       `title` becomes the document title ("<title> · <SITE_NAME>"). `roles`, if given, is the list of roles
//       the page is for: anyone else gets a notice in <main> (sign in, or "not for your role") and
//       `allowed` false, and the page should stop there.
//       me: the signed-in account (GET /api/me) or null.
//   announce(text)      a polite announcement in the status region (also shown, for sighted users)
//   setStatus(text, kind = "info"|"ok"|"error")   the same, with a look: errors are announced assertively
//   roleLabel(role) -> string   "vetting_officer" -> "Vetting officer"
//   navFor(role) -> [{href, label}]   the navigation a role gets
//   SITE_NAME

import {me as whoAmI, signOut, OPERATOR_ROLES} from "./api.js";
import {h, replace} from "./dom.js";

export const SITE_NAME = "Brilliant & Co. Diamond Auctions";

const LABELS = {
  anonymous: "Visitor",
  buyer: "Buyer",
  consignor: "Consignor",
  vetting_officer: "Vetting officer",
  auctioneer: "Auctioneer",
  clerk: "Clerk",
  settlement_officer: "Settlement officer",
  admin: "Administrator",
};

export function roleLabel(role) {
  return LABELS[role] || role;
}

export function navFor(role) {
  const sales = {href: "/#sales", label: "Sales"};
  if (role === "buyer") return [sales, {href: "/account", label: "My account"}];
  if (role === "consignor") return [sales, {href: "/consignor", label: "My lots"}];
  if (OPERATOR_ROLES.includes(role)) return [sales, {href: "/console", label: "Console"}];
  return [sales, {href: "/apply", label: "Apply to bid"}];
}

let statusRegion = null;
let alertRegion = null;

export function setStatus(text, kind = "info") {
  if (!statusRegion) return;
  const target = kind === "error" ? alertRegion : statusRegion;
  const other = kind === "error" ? statusRegion : alertRegion;
  other.textContent = "";
  other.hidden = true;
  target.textContent = text;
  target.className = `status status-${kind}`;
  target.hidden = !text;
}

export function announce(text) {
  setStatus(text, "info");
}

function header(account) {
  const role = account ? account.role : "anonymous";
  const current = location.pathname;
  const links = navFor(role).map(({href, label}) => h("li", {},
    h("a", {href, "aria-current": href === current ? "page" : null}, label)));
  const who = account
    ? h("div", {class: "who"},
        h("span", {class: "who-name"}, account.name),
        h("span", {class: "who-role"}, roleLabel(role)),
        h("button", {type: "button", class: "link-button", id: "sign-out", on: {click: leave}}, "Sign out"))
    : h("div", {class: "who"},
        h("a", {href: `/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`, id: "sign-in-link"},
          "Sign in"));
  return h("header", {class: "site-header"},
    h("div", {class: "bar"},
      h("a", {class: "brand", href: "/"}, SITE_NAME),
      h("nav", {"aria-label": "Main"}, h("ul", {}, links)),
      who));
}

async function leave() {
  try {
    await signOut();
  } finally {
    location.assign("/");
  }
}

function refusal(main, account, roles) {
  const list = roles.map(roleLabel).join(", ");
  if (!account) {
    const next = encodeURIComponent(location.pathname + location.search);
    return replace(main, h("section", {class: "notice"},
      h("h1", {}, "Please sign in"),
      h("p", {}, `This page is for: ${list}.`),
      h("p", {}, h("a", {class: "button", href: `/sign-in?next=${next}`}, "Sign in"))));
  }
  return replace(main, h("section", {class: "notice"},
    h("h1", {}, "Not available"),
    h("p", {}, `This page is for: ${list}. You are signed in as ${roleLabel(account.role)}.`)));
}

export async function mount({title = null, roles = null} = {}) {
  if (title) document.title = `${title} · ${SITE_NAME}`;
  const main = document.getElementById("main") || document.body.appendChild(h("main", {id: "main"}));
  main.tabIndex = -1;
  let account = null;
  try {
    account = await whoAmI();
  } catch {
    account = null;  // the API is out of reach: the page says so where it fetches its own data
  }
  const skip = h("a", {class: "skip-link", href: "#main"}, "Skip to content");
  statusRegion = h("p", {class: "status", role: "status", "aria-live": "polite", hidden: true, id: "status"});
  alertRegion = h("p", {class: "status status-error", role: "alert", hidden: true, id: "alert"});
  document.body.insertBefore(skip, document.body.firstChild);
  document.body.insertBefore(header(account), main);
  document.body.insertBefore(h("div", {class: "status-holder"}, statusRegion, alertRegion), main);
  document.body.appendChild(h("footer", {class: "site-footer"},
    h("p", {}, `${SITE_NAME}. Trade buyers only; prices in each sale's currency.`)));
  const allowed = !roles || (account !== null && roles.includes(account.role));
  if (!allowed) refusal(main, account, roles);
  document.body.dataset.role = account ? account.role : "anonymous";
  return {me: account, allowed, main, announce, setStatus};
}
