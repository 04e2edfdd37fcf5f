// The request detail drawer: tokens, costs, prices and the tier in force, headers and bodies, and the
// fallback / retry marks of the log row. Admins get /api/admin/usage/{id}; a user sees their log row.
import { ADMIN, get } from "./api.js";
import { badge, clear, el, int, money, ms, when } from "./fmt.js";

const BODY_LIMIT = 200000; // characters shown per body; the rest is cut (bodies may be megabytes)

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

function adminDetail(d, row) {
  return [
    el("p", {}, badge(row.status || "", row.status), " ", marks(row)),
    section("Request", kv([
      ["Usage id", d.id], ["Request id", d.request_id], ["Started", when(d.created_at)],
      ["User", d.user ? `${d.user.username}${d.user.email ? " <" + d.user.email + ">" : ""}` : null],
      ["API key", d.api_key && d.api_key.id ? `${d.api_key.name || ""} ${d.api_key.display || ""}` : null],
      ["Provider", d.provider], ["Upstream key", row.api_key_name],
      ["Model", d.target_model && d.target_model !== d.model ? `${d.model} → ${d.target_model}` : d.model],
      ["API format", row.endpoint_api_format && row.endpoint_api_format !== d.api_format ? `${d.api_format} → ${row.endpoint_api_format}` : d.api_format],
      ["Type", d.request_type], ["Status code", d.status_code], ["Error", d.error_message],
      ["Response time", ms(d.response_time_ms)], ["First byte", ms(d.first_byte_time_ms)],
    ])),
    section("Tokens", kv([
      ["Input", int(d.tokens.input)], ["Output", int(d.tokens.output)], ["Total (in + out)", int(d.tokens.total)],
      ["Cache write", int(d.cache_creation_input_tokens)], ["Cache read", int(d.cache_read_input_tokens)],
    ])),
    section("Cost", kv([
      ["Input", money(d.cost.input)], ["Output", money(d.cost.output)],
      ["Cache write", money(d.cache_creation_cost)], ["Cache read", money(d.cache_read_cost)],
      ["Per request", money(d.request_cost)], ["Total", money(d.cost.total)],
      ["Actual (upstream)", row.actual_cost !== undefined ? money(row.actual_cost) : null],
      ["Rate multiplier", row.rate_multiplier],
      ["Prices $/1M in / out", `${d.input_price_per_1m ?? "—"} / ${d.output_price_per_1m ?? "—"}`],
      ["Prices $/1M cache write / read", `${d.cache_creation_price_per_1m ?? "—"} / ${d.cache_read_price_per_1m ?? "—"}`],
      ["Price per request", d.price_per_request],
    ])),
    section("Tiered pricing", tiers(d.tiered_pricing)),
    d.video_billing ? section("Video billing", json(d.video_billing)) : null,
    headers("Request headers", d.request_headers),
    headers("Provider request headers", d.provider_request_headers),
    headers("Response headers", d.response_headers),
    headers("Client response headers", d.client_response_headers),
    section("Request body", json(d.request_body)),
    section("Response body", json(d.response_body)),
    section("Metadata", json(d.metadata)),
  ];
}

function userDetail(r) {
  return [
    el("p", {}, badge(r.status || "", r.status), " ", marks(r)),
    section("Request", kv([
      ["Usage id", r.id], ["Started", when(r.created_at)],
      ["API key", r.api_key ? `${r.api_key.name || ""} ${r.api_key.display || ""}` : null],
      ["Model", r.model], ["API format", r.api_format], ["Status code", r.status_code], ["Error", r.error_message],
      ["Response time", ms(r.response_time_ms)], ["First byte", ms(r.first_byte_time_ms)],
    ])),
    section("Tokens", kv([
      ["Input", int(r.input_tokens)], ["Output", int(r.output_tokens)], ["Total (in + out)", int(r.total_tokens)],
      ["Cache write", int(r.cache_creation_input_tokens)], ["Cache read", int(r.cache_read_input_tokens)],
    ])),
    section("Cost", kv([
      ["Total", money(r.cost)],
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

export async function openDrawer(row, admin) {
  const body = document.getElementById("drawer-body");
  document.getElementById("drawer-title").textContent = row.model || "Request";
  drawer().hidden = false;
  drawer().dataset.id = row.id;
  if (!admin) return clear(body, userDetail(row));
  clear(body, el("p", { class: "muted", text: "Loading…" }));
  try {
    const d = await get(ADMIN + "/" + encodeURIComponent(row.id));
    if (drawer().dataset.id === row.id) clear(body, adminDetail(d, row));
  } catch (err) {
    clear(body, el("p", { class: "error", text: err.message }));
  }
}
