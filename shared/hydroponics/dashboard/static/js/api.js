// The REST API as the page uses it: the key and the chosen client live in sessionStorage only
// (never in a URL, a cookie or a log) and travel as X-API-Key / X-Client-Id headers.

const KEY = "hydroponics.apiKey";
const CLIENT = "hydroponics.clientId";

// The page is served at <api>/dashboard, so the API is its folder whatever the path prefix
// (MiniStack serves the API under /_aws/execute-api/<id>/, AWS at the root).
const apiBase = new URL("./", window.location.href);

export class ApiError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = details || [];
  }
}

export const session = {
  key: () => sessionStorage.getItem(KEY),
  clientId: () => sessionStorage.getItem(CLIENT),
  signIn(key) { sessionStorage.setItem(KEY, key); },
  choose(clientId) { sessionStorage.setItem(CLIENT, clientId); },
  signOut() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(CLIENT); },
};

let onUnauthorized = () => {};
export function whenUnauthorized(callback) { onUnauthorized = callback; }

// One call: JSON in, JSON out; an error answer becomes an ApiError with the API's message.
export async function api(path, { method = "GET", body, params, key } = {}) {
  const url = new URL(path, apiBase);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json", "X-API-Key": key || session.key() || "" };
  if (session.clientId()) headers["X-Client-Id"] = session.clientId();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let reply;
  try {
    reply = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                               cache: "no-store", credentials: "omit" });
  } catch (error) {
    throw new ApiError(0, "the platform cannot be reached; retrying at the next refresh");
  }
  const answer = reply.status === 204 ? null : await reply.json().catch(() => null);
  if (!reply.ok) {
    const error = answer && answer.error ? answer.error : {};
    const failure = new ApiError(reply.status, error.message || `HTTP ${reply.status}`, error.details);
    if (reply.status === 401 && !key) onUnauthorized(failure);
    throw failure;
  }
  return answer;
}

// Every page of a paginated list ({items, next_cursor}), up to `most` items.
export async function allPages(path, params = {}, most = 1000) {
  const items = [];
  let cursor;
  do {
    const page = await api(path, { params: { ...params, limit: Math.min(200, most), cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < most);
  return items;
}

// Explains an ApiError in a sentence, with the fields a 422 names.
export function explain(error) {
  const fields = (error.details || []).map((d) => (d.field ? `${d.field}: ${d.reason}` : d.reason || ""));
  return [error.message, ...fields].filter(Boolean).join("; ");
}

// After an action, the view is drawn again; if the platform fails meanwhile, say so in the status
// line (the next refresh tries again) rather than leave an unhandled error.
export function redraw(render, ...args) {
  return render(...args).catch((error) => {
    const line = document.querySelector("#updated");
    if (line) line.textContent = `Could not refresh: ${explain(error)}`;
  });
}
