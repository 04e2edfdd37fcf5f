// The request detail drawer: tokens, costs, prices and the tier in force, headers and bodies, and the
// fallback / retry marks of the log row. Admins get /api/admin/usage/{id}; a user sees their log row.
// A record field's label and format come from fields.json, written from usagestream/fields.py (the one place a
// field is described); this file only lays the fields out.
import { ADMIN, get } from "./api.js";
import { badge, clear, el, int, money, ms, when } from "./fmt.js";

const BODY_LIMIT = 200000; // characters shown per body; the rest is cut (bodies may be megabytes)
const FORMATS = { int, money, ms, when };
let fieldsLoaded = null;

function loadFields() {
  fieldsLoaded ??= fetch(new URL("./fields.json", import.meta.url))
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`fields.json: HTTP ${r.status}`))))
    .then((j) => j.fields)
    .catch((err) => { fieldsLoaded = null; throw err; });
  return fieldsLoaded;
}

// The drawer's name of a record field (fields.json), and a [label, formatted value] row of a kv table.
const label = (F, name) => F[name].label;
function row(F, name, value) {
  const format = FORMATS[F[name].display];
  return [F[name].label, format ? format(value) : value];
}

function kv(pairs) {
  return el("table", { class: "kv" }, el("tbody", {}, pairs.filter(Boolean).map(([k, v]) =>
    el("tr", {}, el("th", { text: k }), el("td", {}, v === null || v === undefined || v === "" ? "—" : v)))));
}

function json(value) {
  if (value === null || value === undefined) return el("p", { class: "muted", text: "none" });
  let text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  const cut = text.length > BODY_LIMIT;
  if (cut) text = text.slice(0, BODY_LIMIT);
  return el("div", {}, el("pre", { class: "code", text }), cut ? el("p", { class: "muted", text: `cut at ${int(BODY_LIMIT)} characters` }) : null);
}

function section(title, ...content) {
  return el("details", { class: "section", open: true }, el("summary", { text: title }), ...content);
}

function marks(row) {
  const out = [];
  if (row.is_stream) out.push(badge("stream", "info"));
  if (row.has_fallback) out.push(badge("fallback", "warn"));
  if (row.has_retry) out.push(badge("retry", "warn"));
  if (row.has_rectified) out.push(badge("rectified", "info"));
  if (row.has_format_conversion) out.push(badge("format conversion", "info"));
  return out.length ? out : null;
}

function tiers(tp) {
  if (!tp) return el("p", { class: "muted", text: "no tiered pricing for this provider and model" });
  const rows = (tp.tiers || []).map((t, i) =>
    el("tr", { class: i === tp.tier_index ? "current" : null },
      el("td", { text: t.up_to === null || t.up_to === undefined ? "∞" : int(t.up_to) }),
      el("td", { class: "num", text: t.input_price_per_1m ?? "—" }),
      el("td", { class: "num", text: t.output_price_per_1m ?? "—" }),
      el("td", { class: "num", text: t.cache_creation_price_per_1m ?? "—" }),
      el("td", { class: "num", text: t.cache_read_price_per_1m ?? "—" })));
  return el("div", {},
    el("p", { text: `Input context ${int(tp.total_input_context)} tokens: tier ${tp.tier_index + 1} of ${tp.tier_count} (${tp.source} pricing)` }),
    el("table", { class: "tiers" },
      el("thead", {}, el("tr", {}, ["Up to", "Input $/1M", "Output $/1M", "Cache write $/1M", "Cache read $/1M"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows)));
}

function headers(name, value) {
  if (!value || typeof value !== "object") return null;
  return section(name, kv(Object.entries(value).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])));
}

function adminDetail(F, d, r) {
  return [
    el("p", {}, badge(r.status || "", r.status), " ", marks(r)),
    section("Request", kv([
      row(F, "id", d.id), row(F, "request_id", d.request_id), row(F, "created_at", d.created_at),
      [label(F, "user_id"), d.user ? `${d.user.username}${d.user.email ? " <" + d.user.email + ">" : ""}` : null],
      [label(F, "api_key_id"), d.api_key && d.api_key.id ? `${d.api_key.name || ""} ${d.api_key.display || ""}` : null],
      row(F, "provider_name", d.provider), row(F, "provider_api_key_id", r.api_key_name),
      [label(F, "model"), d.target_model && d.target_model !== d.model ? `${d.model} → ${d.target_model}` : d.model],
      [label(F, "api_format"), r.endpoint_api_format && r.endpoint_api_format !== d.api_format ? `${d.api_format} → ${r.endpoint_api_format}` : d.api_format],
      row(F, "request_type", d.request_type), row(F, "status_code", d.status_code), row(F, "error_message", d.error_message),
      row(F, "response_time_ms", d.response_time_ms), row(F, "first_byte_time_ms", d.first_byte_time_ms),
    ])),
    section("Tokens", kv([
      row(F, "input_tokens", d.tokens.input), row(F, "output_tokens", d.tokens.output), row(F, "total_tokens", d.tokens.total),
      row(F, "cache_creation_input_tokens", d.cache_creation_input_tokens), row(F, "cache_read_input_tokens", d.cache_read_input_tokens),
    ])),
    section("Cost", kv([
      row(F, "input_cost_usd", d.cost.input), row(F, "output_cost_usd", d.cost.output),
      row(F, "cache_creation_cost_usd", d.cache_creation_cost), row(F, "cache_read_cost_usd", d.cache_read_cost),
      row(F, "request_cost_usd", d.request_cost), row(F, "total_cost_usd", d.cost.total),
      r.actual_cost !== undefined ? row(F, "actual_total_cost_usd", r.actual_cost) : [label(F, "actual_total_cost_usd"), null],
      row(F, "rate_multiplier", r.rate_multiplier),
      ["Prices $/1M in / out", `${d.input_price_per_1m ?? "—"} / ${d.output_price_per_1m ?? "—"}`],
      ["Prices $/1M cache write / read", `${d.cache_creation_price_per_1m ?? "—"} / ${d.cache_read_price_per_1m ?? "—"}`],
      row(F, "price_per_request", d.price_per_request),
    ])),
    section("Tiered pricing", tiers(d.tiered_pricing)),
    d.video_billing ? section("Video billing", json(d.video_billing)) : null,
    headers(label(F, "request_headers"), d.request_headers),
    headers(label(F, "provider_request_headers"), d.provider_request_headers),
    headers(label(F, "response_headers"), d.response_headers),
    headers(label(F, "client_response_headers"), d.client_response_headers),
    section(label(F, "request_body"), json(d.request_body)),
    section(label(F, "response_body"), json(d.response_body)),
    section(label(F, "request_metadata"), json(d.metadata)),
  ];
}

function userDetail(F, r) {
  return [
    el("p", {}, badge(r.status || "", r.status), " ", marks(r)),
    section("Request", kv([
      row(F, "id", r.id), row(F, "created_at", r.created_at),
      [label(F, "api_key_id"), r.api_key ? `${r.api_key.name || ""} ${r.api_key.display || ""}` : null],
      row(F, "model", r.model), row(F, "api_format", r.api_format), row(F, "status_code", r.status_code),
      row(F, "error_message", r.error_message),
      row(F, "response_time_ms", r.response_time_ms), row(F, "first_byte_time_ms", r.first_byte_time_ms),
    ])),
    section("Tokens", kv([
      row(F, "input_tokens", r.input_tokens), row(F, "output_tokens", r.output_tokens), row(F, "total_tokens", r.total_tokens),
      row(F, "cache_creation_input_tokens", r.cache_creation_input_tokens), row(F, "cache_read_input_tokens", r.cache_read_input_tokens),
    ])),
    section("Cost", kv([
      row(F, "total_cost_usd", r.cost),
      ["Prices $/1M in / out", `${r.input_price_per_1m ?? "—"} / ${r.output_price_per_1m ?? "—"}`],
      ["Prices $/1M cache write / read", `${r.cache_creation_price_per_1m ?? "—"} / ${r.cache_read_price_per_1m ?? "—"}`],
    ])),
  ];
}

const drawer = () => document.getElementById("drawer");

export function closeDrawer() {
  drawer().hidden = true;
  clear(document.getElementById("drawer-body"));
}

export async function openDrawer(r, admin) {
  const body = document.getElementById("drawer-body");
  document.getElementById("drawer-title").textContent = r.model || "Request";
  drawer().hidden = false;
  drawer().dataset.id = r.id;
  clear(body, el("p", { class: "muted", text: "Loading…" }));
  try {
    const F = await loadFields();
    if (!admin) {
      if (drawer().dataset.id === r.id) clear(body, userDetail(F, r));
      return;
    }
    const d = await get(ADMIN + "/" + encodeURIComponent(r.id));
    if (drawer().dataset.id === r.id) clear(body, adminDetail(F, d, r));
  } catch (err) {
    clear(body, el("p", { class: "error", text: err.message }));
  }
}
