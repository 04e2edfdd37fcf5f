// The API client: the pasted token lives in sessionStorage only and travels in the Authorization header.
// Money stays exact: every JSON number with a fraction or exponent is kept as its decimal text.

const KEY = "usagestream.token";
export const ADMIN = "/api/admin/usage";
export const USER = "/api/users/me/usage";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// JSON.parse with the source text of each number (Chromium 114+): decimals become strings, ints stay numbers.
export function parseJson(text) {
  return JSON.parse(text, (_key, value, ctx) => {
    if (typeof value === "number" && ctx && typeof ctx.source === "string" && /[.eE]/.test(ctx.source)) {
      return ctx.source;
    }
    return value;
  });
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

export async function get(path, params, tok = token.get()) {
  const resp = await fetch(path + query(params), {
    headers: { Authorization: "Bearer " + tok, Accept: "application/json" },
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  const text = await resp.text();
  let body = null;
  try {
    body = parseJson(text);
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const msg = (body && body.error && body.error.message) || resp.statusText || "request failed";
    throw new ApiError(resp.status, msg);
  }
  return body;
}

// Which kind of token this is: "admin", "user", or an ApiError (401 bad token, 403 disabled user).
export async function roleOf(tok) {
  const now = new Date().toISOString();
  try {
    await get(ADMIN + "/stats", { start_date: now, end_date: now }, tok);
    return "admin";
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
  }
  await get(USER, { limit: 1 }, tok);
  return "user";
}

// Browsers cannot set headers on a websocket: the server also accepts ?access_token= there (its access log
// drops query strings). This URL is handed to the WebSocket constructor only, never shown, stored or logged.
export function feedSocket(admin) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const path = (admin ? ADMIN : USER) + "/active/ws";
  return new WebSocket(proto + "//" + location.host + path + query({ access_token: token.get() }));
}
