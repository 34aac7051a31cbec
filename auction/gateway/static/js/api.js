// The HTTP API from a page: same-origin fetch with the session cookie, JSON in and out.
//
// Exports
//   api(method, path, body?, options?) -> Promise<any>
//       Sends `body` as JSON (a Blob/ArrayBuffer/File is sent as it is, for uploads: give
//       options.contentType), returns the parsed JSON answer (null for 204). Throws ApiError
//       for any answer that is not 2xx, built from the server's {"error": {code, field, message}}
//       body; a network failure is ApiError {status: 0, code: "network"}.
//       options: {contentType, signal, query: {name: value}} (query values are URL-encoded).
//   class ApiError extends Error {status, code, field, message, retryAfter, body}
//       `body` is the whole parsed answer: a refused bid over HTTP carries the `rejected` message.
//   me() -> Promise<Me|null>     GET /api/me; null when signed out (401).
//       Me: {id, email, name, role, company_id, consignor_id}
//   signIn(email, password) -> Promise<{account: Me, expires_ms}>   POST /api/login
//   signOut() -> Promise<void>   POST /api/logout (a session already gone counts as signed out)
//   OPERATOR_ROLES: the roles of the house's staff (they get the console and the record form of the feed)

export const OPERATOR_ROLES = Object.freeze([
  "vetting_officer", "auctioneer", "clerk", "settlement_officer", "admin",
]);

export class ApiError extends Error {
  constructor(status, code, field, message, retryAfter = null, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
    this.body = body;
  }
}

function isRaw(body) {
  return body instanceof Blob || body instanceof ArrayBuffer || ArrayBuffer.isView(body);
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

async function parsed(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return {error: {code: "invalid", field: null, message: text.slice(0, 200)}};
  }
}

function errorOf(status, body) {
  const error = body && body.error;
  if (error) {
    return new ApiError(status, error.code, error.field ?? null, error.message, error.retry_after ?? null, body);
  }
  if (body && body.type === "rejected") {  // a bid refused over HTTP: the body is the `rejected` message
    return new ApiError(status, body.reason, "amount", `refused: ${body.reason}`, null, body);
  }
  return new ApiError(status, "internal", null, `the server answered ${status}`, null, body);
}

export async function api(method, path, body = undefined, options = {}) {
  const init = {method, credentials: "same-origin", headers: {Accept: "application/json"}, signal: options.signal};
  if (body !== undefined) {
    if (isRaw(body)) {
      init.body = body;
      init.headers["Content-Type"] = options.contentType || body.type || "application/octet-stream";
    } else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  let response;
  try {
    response = await fetch(withQuery(path, options.query), init);
  } catch (exc) {
    if (exc && exc.name === "AbortError") throw exc;
    throw new ApiError(0, "network", null, "the server could not be reached; check your connection");
  }
  const answer = await parsed(response);
  if (!response.ok) throw errorOf(response.status, answer);
  return answer;
}

export async function me() {
  try {
    return await api("GET", "/api/me");
  } catch (exc) {
    if (exc instanceof ApiError && (exc.status === 401 || exc.status === 403)) return null;
    throw exc;
  }
}

export function signIn(email, password) {
  return api("POST", "/api/login", {email, password});
}

export async function signOut() {
  try {
    await api("POST", "/api/logout");
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 401)) throw exc;
  }
}
