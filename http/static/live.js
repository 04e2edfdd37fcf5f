// Live active requests over the websocket feed: a snapshot, then upserts and removes pushed by the server.
// Nothing is polled: the elapsed time ticks on the browser's clock. The feed's items carry no start time
// or model, so those are looked up once per new request (one batched /records or /me/usage call).
import { ADMIN, USER, feedSocket, get, parseJson } from "./api.js";
import { badge, clear, el, elapsed, int, ms, moneyShort } from "./fmt.js";

const LOOKBACK_MS = 2 * 86400000;
let socket = null;
let admin = false;
let wanted = false;
let retry = 500;
let ticker = null;
let lookupTimer = null;
const items = new Map(); // id -> {item, seen, info}
const missing = new Set();
const tried = new Set();
const listeners = new Set(); // told of every snapshot, upsert and remove (the trends charts' live bucket)

const $ = (id) => document.getElementById(id);

function setState(text, kind) {
  const node = $("live-state");
  node.textContent = text;
  node.className = "badge " + kind;
}

function started(entry) {
  return entry.info && entry.info.created_at ? Date.parse(entry.info.created_at) : entry.seen;
}

function render() {
  $("live-count").textContent = String(items.size);
  const list = [...items.values()].sort((a, b) => started(b) - started(a)); // newest first
  if (!list.length) return clear($("live"), el("p", { class: "empty", text: "No request in flight." }));
  const head = ["Elapsed", "Status", ...(admin ? ["User"] : []), "Model", ...(admin ? ["Provider"] : []), "Format", "In", "Out", "First byte", "Cost"];
  const rows = list.map((e) => {
    const it = e.item;
    const info = e.info || {};
    return el("tr", { dataset: { id: it.id, status: it.status } },
      el("td", { class: "num", dataset: { elapsed: "" }, title: info.created_at ? "since " + info.created_at : "since first seen" }),
      el("td", {}, badge(it.status, it.status)),
      admin ? el("td", { text: info.username || "…" }) : null,
      el("td", { text: info.model || "…" }),
      admin ? el("td", { text: it.provider || "—", title: it.api_key_name || "" }) : null,
      el("td", { text: it.api_format || "—" }),
      el("td", { class: "num", text: int(it.input_tokens) }),
      el("td", { class: "num", text: int(it.output_tokens) }),
      el("td", { class: "num", text: ms(it.first_byte_time_ms) }),
      el("td", { class: "num", text: moneyShort(it.cost) }));
  });
  clear($("live"), el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", { text: h })))), el("tbody", {}, rows)));
  tick();
}

function tick() {
  const now = Date.now();
  for (const row of $("live").querySelectorAll("tr[data-id]")) {
    const e = items.get(row.dataset.id);
    if (e) row.querySelector("[data-elapsed]").textContent = (e.info && e.info.created_at ? "" : "≥ ") + elapsed((now - started(e)) / 1000);
  }
}

async function lookup() {
  lookupTimer = null;
  const ids = [...missing].filter((id) => items.has(id));
  missing.clear();
  if (!ids.length) return;
  const since = new Date(Date.now() - LOOKBACK_MS).toISOString();
  try {
    const page = admin
      ? await get(ADMIN + "/records", { status: "active", start_date: since, limit: 500 })
      : await get(USER, { start_date: since, limit: 200 });
    const found = new Map((page.records || []).map((r) => [r.id, r]));
    for (const id of ids) {
      const e = items.get(id);
      const r = found.get(id);
      if (e && r) e.info = { created_at: r.created_at, model: r.model, username: r.user_id ? r.username : "deleted user" };
      else if (e && !tried.has(id)) {
        tried.add(id); // not readable yet (the live set can be ahead of PostgreSQL): once more, later
        missing.add(id);
      }
    }
  } catch {
    /* the rows stay as they are; elapsed counts from when they were first seen */
  }
  render();
  if (missing.size && !lookupTimer) lookupTimer = setTimeout(lookup, 1500);
}

function want(id) {
  missing.add(id);
  if (!lookupTimer) lookupTimer = setTimeout(lookup, 150);
}

function upsert(item) {
  const e = items.get(item.id);
  if (e) e.item = item;
  else {
    items.set(item.id, { item, seen: Date.now(), info: null });
    want(item.id);
  }
}

function onMessage(ev) {
  let msg;
  try {
    msg = parseJson(ev.data);
  } catch {
    return;
  }
  if (msg.type === "snapshot") {
    const old = new Map(items);
    items.clear();
    for (const it of msg.requests || []) {
      const prev = old.get(it.id);
      if (prev) items.set(it.id, { ...prev, item: it });
      else upsert(it);
    }
  } else if (msg.type === "upsert" && msg.request) {
    upsert(msg.request);
  } else if (msg.type === "remove") {
    items.delete(msg.id);
    tried.delete(msg.id);
  }
  render();
  for (const fn of listeners) fn(msg.type);
}

function connect() {
  if (!wanted) return;
  setState("connecting", "info");
  socket = feedSocket(admin);
  socket.addEventListener("open", () => {
    retry = 500;
    setState("live", "completed");
  });
  socket.addEventListener("message", onMessage);
  socket.addEventListener("close", () => {
    socket = null;
    if (!wanted) return;
    setState("reconnecting", "warn"); // e.g. 1013 after a slow client or a server restart: a snapshot follows
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 15000);
  });
}

export function onFeedChange(fn) {
  listeners.add(fn);
}

export function startLive(isAdmin) {
  stopLive();
  admin = isAdmin;
  wanted = true;
  connect();
  ticker = setInterval(tick, 1000);
  render();
}

export function stopLive() {
  wanted = false;
  if (socket) socket.close(1000, "signed out");
  socket = null;
  clearInterval(ticker);
  items.clear();
  missing.clear();
  tried.clear();
}
