// Sign in (/sign-in): POST /api/login sets the HttpOnly session cookie; errors are shown beside their field.
// After signing in, the visitor goes back where they came from (?next=, a path on this site only), else to the
// room of their role.
import {ApiError, OPERATOR_ROLES, signIn} from "../js/api.js";
import {fieldError} from "../js/dom.js";
import {mount, setStatus} from "../js/shell.js";

function destination(account) {
  const next = new URLSearchParams(location.search).get("next");
  // Only a path of this site: "//evil.example" or "https://..." would send the buyer elsewhere.
  if (next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\")) return next;
  if (account.role === "consignor") return "/consignor";
  if (OPERATOR_ROLES.includes(account.role)) return "/console";
  return "/";
}

function check(email, password) {
  let ok = true;
  fieldError(email, null);
  fieldError(password, null);
  if (!email.value.trim() || !email.value.includes("@")) {
    fieldError(email, "Enter the email address you registered with.");
    ok = false;
  }
  if (!password.value) {
    fieldError(password, "Enter your password.");
    ok = false;
  }
  if (!ok) (email.getAttribute("aria-invalid") ? email : password).focus();
  return ok;
}

function explain(exc, email, password) {
  if (!(exc instanceof ApiError)) throw exc;
  if (exc.code === "login_failed") {
    fieldError(password, "That email and password don't match an account. Check both and try again.");
    password.focus();
  } else if (exc.code === "rate_limited") {
    const wait = exc.retryAfter ? ` Try again in ${exc.retryAfter} seconds.` : "";
    fieldError(password, `Too many attempts.${wait}`);
  } else if (exc.field === "email" || exc.field === "password") {
    const input = exc.field === "email" ? email : password;
    fieldError(input, exc.message);
    input.focus();
  } else {
    setStatus(`Signing in failed: ${exc.message}`, "error");
  }
}

async function start() {
  const {me} = await mount({title: "Sign in"});
  const form = document.getElementById("sign-in");
  const email = document.getElementById("email");
  const password = document.getElementById("password");
  const button = document.getElementById("sign-in-button");
  if (me) setStatus(`You are signed in as ${me.name}. Signing in again switches account.`);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!check(email, password)) return;
    button.disabled = true;
    setStatus("Signing in…");
    try {
      const {account} = await signIn(email.value.trim(), password.value);
      setStatus(`Signed in as ${account.name}.`, "ok");
      location.assign(destination(account));
    } catch (exc) {
      setStatus("");
      explain(exc, email, password);
    } finally {
      button.disabled = false;
    }
  });
  email.focus();
}

start();
