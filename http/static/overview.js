// Totals for the period, the four breakdown tables and the heatmap. An admin token reads /stats and
// /aggregation/stats; a user token reads /api/users/me/usage (its own figures only).
import { ADMIN, USER, get } from "./api.js";
import { clear, el, group, int, money, moneyShort, ms, num, pct, roundDec } from "./fmt.js";
import { drawHeatmap } from "./heatmap.js";
import { apiParams } from "./period.js";
import { sortable } from "./table.js";

function stat(key, label, value, exact) {
  return el("div", { class: "stat", dataset: { stat: key } },
    el("span", { class: "label", text: label }),
    el("strong", { class: "value", title: exact || null, text: value }),
    exact ? el("span", { class: "exact", text: exact }) : null);
}

// Money in a card: cents at a glance, the exact sum (as the API wrote it) underneath.
function moneyStat(key, label, value) {
  if (value === undefined || value === null) return stat(key, label, "—");
  return stat(key, label, "$" + group(roundDec(value, 2)), money(value));
}

const costCols = (actual) => [
  { key: "total_cost", label: "Cost", num: true, value: (r) => num(r.total_cost), render: (r) => moneyShort(r.total_cost), title: (r) => money(r.total_cost) },
  ...(actual ? [{ key: "actual_cost", label: "Actual cost", num: true, value: (r) => num(r.actual_cost), render: (r) => moneyShort(r.actual_cost), title: (r) => money(r.actual_cost) }] : []),
];
const countCols = [
  { key: "request_count", label: "Requests", num: true, render: (r) => int(r.request_count) },
  { key: "total_tokens", label: "Tokens", num: true, render: (r) => int(r.total_tokens) },
];

export async function loadAdminOverview(range, heatmapToo) {
  const p = apiParams(range);
  const agg = (by) => get(ADMIN + "/aggregation/stats", { ...p, group_by: by, limit: 100 });
  const [stats, models, providers, formats, users] = await Promise.all([
    get(ADMIN + "/stats", p), agg("model"), agg("provider"), agg("api_format"), agg("user"),
  ]);
  const c = stats.cache_stats || {};
  document.getElementById("totals").dataset.query = new URLSearchParams(p).toString();
  clear(document.getElementById("totals"),
    stat("total_requests", "Requests", int(stats.total_requests)),
    stat("total_tokens", "Tokens (in + out)", int(stats.total_tokens)),
    moneyStat("total_cost", "Cost", stats.total_cost),
    moneyStat("total_actual_cost", "Actual cost", stats.total_actual_cost),
    stat("avg_response_time", "Avg response", stats.avg_response_time + " s"),
    stat("error_rate", "Errors", `${int(stats.error_count)} (${pct(stats.error_rate)})`),
    stat("cache_tokens", "Cache write / read tokens", `${int(c.cache_creation_tokens)} / ${int(c.cache_read_tokens)}`),
  );
  document.getElementById("card-provider").hidden = false;
  document.getElementById("card-user").hidden = false;
  sortable(document.getElementById("t-model"), [{ key: "model", label: "Model" }, ...countCols, ...costCols(true)], models, { sortKey: "request_count" });
  sortable(document.getElementById("t-provider"), [
    { key: "provider", label: "Provider" },
    { key: "request_count", label: "Attempts", num: true, render: (r) => int(r.request_count) },
    { key: "success_rate", label: "Success", num: true, value: (r) => num(r.success_rate), render: (r) => pct(r.success_rate) },
    { key: "avg_response_time_ms", label: "Latency", num: true, value: (r) => num(r.avg_response_time_ms), render: (r) => (num(r.avg_response_time_ms) ? ms(r.avg_response_time_ms) : "—") },
    { key: "total_tokens", label: "Tokens", num: true, render: (r) => int(r.total_tokens) },
    ...costCols(true),
  ], providers, { sortKey: "request_count" });
  sortable(document.getElementById("t-format"), [
    { key: "api_format", label: "API format" }, ...countCols, ...costCols(true),
    { key: "avg_response_time_ms", label: "Avg time", num: true, value: (r) => num(r.avg_response_time_ms), render: (r) => ms(r.avg_response_time_ms) },
  ], formats, { sortKey: "request_count" });
  sortable(document.getElementById("t-user"), [
    { key: "username", label: "User", title: (r) => r.email || r.user_id }, ...countCols, ...costCols(false),
  ], users, { sortKey: "request_count" });
  if (heatmapToo) drawHeatmap(document.getElementById("heatmap"), await get(ADMIN + "/heatmap"));
  return { models, providers };
}

export async function loadUserOverview(range, heatmapToo) {
  const me = await get(USER, { ...apiParams(range), limit: 200 });
  document.getElementById("totals").dataset.query = new URLSearchParams(apiParams(range)).toString();
  const noQuota = me.quota_usd === null || me.quota_usd === undefined;
  const cents = (v) => "$" + group(roundDec(v, 2));
  clear(document.getElementById("totals"),
    stat("total_requests", "Requests", int(me.total_requests)),
    stat("total_tokens", "Tokens (in + out)", int(me.total_tokens)),
    moneyStat("total_cost", "Cost", me.total_cost),
    moneyStat("total_actual_cost", "Actual cost", me.total_actual_cost),
    stat("avg_response_time", "Avg response (200s)", num(me.avg_response_time).toFixed(2) + " s"),
    stat("used_usd", "Used / quota", `${cents(me.used_usd)} / ${noQuota ? "no quota" : cents(me.quota_usd)}`,
      `${money(me.used_usd)} / ${noQuota ? "unlimited" : money(me.quota_usd)}`),
  );
  document.getElementById("card-provider").hidden = true;
  document.getElementById("card-user").hidden = true;
  const models = (me.summary_by_model || []).map((m) => ({ ...m, request_count: m.requests, total_cost: m.total_cost_usd, actual_cost: m.actual_total_cost_usd }));
  sortable(document.getElementById("t-model"), [{ key: "model", label: "Model" }, ...countCols, ...costCols(false)], models, { sortKey: "request_count" });
  // The user API has no per-format summary: count the period's newest requests (at most 200), as the
  // reference's user page does with its current page.
  const byFormat = new Map();
  for (const r of me.records || []) {
    const k = r.api_format || "unknown";
    const g = byFormat.get(k) || { api_format: k, request_count: 0, total_tokens: 0 };
    g.request_count += 1;
    g.total_tokens += r.total_tokens || 0;
    byFormat.set(k, g);
  }
  const note = me.pagination && me.pagination.total > (me.records || []).length ? ` (newest ${me.records.length} of ${int(me.pagination.total)})` : "";
  sortable(document.getElementById("t-format"), [{ key: "api_format", label: "API format" + note }, ...countCols], [...byFormat.values()], { sortKey: "request_count" });
  if (heatmapToo) drawHeatmap(document.getElementById("heatmap"), await get(USER + "/heatmap"));
  return { models: models, providers: [] };
}
