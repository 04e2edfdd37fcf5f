// The request log: every filter and the search of /records (a user token: /api/users/me/usage with its
// search), server-side pagination, and the detail drawer on a click.
import { ADMIN, USER, get } from "./api.js";
import { badge, clear, el, int, money, moneyShort, ms, num, when } from "./fmt.js";
import { openDrawer } from "./drawer.js";
import { apiParams } from "./period.js";
import { sortable } from "./table.js";

const USER_MAX_OFFSET = 2000; // the user endpoint's bound on offset

const $ = (id) => document.getElementById(id);
let offset = 0;
let generation = 0;

export function resetPage() {
  offset = 0;
}

export function filterValues(admin) {
  const v = (id) => $(id).value.trim();
  const out = { search: v("f-search"), limit: Number($("f-limit").value) };
  if (admin) Object.assign(out, { username: v("f-username"), user_id: v("f-user-id"), model: v("f-model"), provider: v("f-provider"), status: v("f-status") });
  return out;
}

function statusCell(r) {
  const marks = [badge(r.status || "?", r.status)];
  if (r.status_code && r.status_code >= 400) marks.push(badge(String(r.status_code), "failed"));
  if (r.is_stream) marks.push(badge("stream", "info"));
  if (r.has_fallback) marks.push(badge("fallback", "warn"));
  if (r.has_retry) marks.push(badge("retry", "warn"));
  return el("span", { class: "marks" }, marks);
}

function columns(admin) {
  const cols = [
    { key: "created_at", label: "Time", value: (r) => Date.parse(r.created_at), render: (r) => when(r.created_at), title: (r) => r.created_at },
  ];
  // a user who no longer exists reads "deleted user" (the API's placeholder text stays in the tooltip)
  if (admin) cols.push({ key: "username", label: "User", render: (r) => (r.user_id ? r.username : "deleted user"), title: (r) => (r.user_id ? r.user_email || "" : r.username) });
  cols.push(
    { key: "api_key", label: "Key", value: (r) => (r.api_key && r.api_key.name) || "", render: (r) => (r.api_key ? r.api_key.name || r.api_key.display : "—") },
    { key: "model", label: "Model", render: (r) => (r.target_model && r.target_model !== r.model ? `${r.model} → ${r.target_model}` : r.model) },
  );
  if (admin) cols.push({ key: "provider", label: "Provider", title: (r) => r.api_key_name || "" });
  cols.push(
    { key: "api_format", label: "Format" },
    { key: "input_tokens", label: "In", num: true, render: (r) => int(r.input_tokens) },
    { key: "output_tokens", label: "Out", num: true, render: (r) => int(r.output_tokens) },
    { key: "cache_read_input_tokens", label: "Cache r/w", num: true, render: (r) => `${int(r.cache_read_input_tokens)} / ${int(r.cache_creation_input_tokens)}` },
    { key: "cost", label: "Cost", num: true, value: (r) => num(r.cost), render: (r) => moneyShort(r.cost), title: (r) => money(r.cost) },
  );
  if (admin) cols.push({ key: "actual_cost", label: "Actual", num: true, value: (r) => num(r.actual_cost), render: (r) => moneyShort(r.actual_cost), title: (r) => money(r.actual_cost) });
  cols.push(
    { key: "response_time_ms", label: "Time", num: true, value: (r) => num(r.response_time_ms), render: (r) => ms(r.response_time_ms), title: (r) => "first byte " + ms(r.first_byte_time_ms) },
    { key: "status", label: "Status", render: statusCell, title: (r) => r.error_message || "" },
  );
  return cols;
}

export async function loadRecords(range, admin) {
  const mine = ++generation;
  const f = filterValues(admin);
  const base = { ...apiParams(range), ...f, offset };
  const page = admin ? await get(ADMIN + "/records", base) : await get(USER, { ...base, limit: Math.min(f.limit, 200) });
  if (mine !== generation) return; // a newer filter change already asked again
  const rows = page.records || [];
  const total = admin ? page.total : page.pagination.total;
  const box = $("records");
  box.dataset.total = String(total);
  box.dataset.query = new URLSearchParams(Object.entries(admin ? base : { ...base, limit: Math.min(f.limit, 200) }).filter(([, v]) => v !== "" && v !== null && v !== undefined)).toString();
  box.dataset.offset = String(offset);
  sortable(box, columns(admin), rows, {
    onRow: (r) => openDrawer(r, admin),
    rowData: (r) => ({ id: r.id }),
    empty: "No request matches.",
  });
  $("page-info").textContent = total ? `${int(offset + 1)}–${int(offset + rows.length)} of ${int(total)}` : "0 of 0";
  $("prev").disabled = offset === 0;
  $("next").disabled = offset + f.limit >= total || (!admin && offset + f.limit > USER_MAX_OFFSET);
}

export function step(direction) {
  const limit = Number($("f-limit").value);
  offset = Math.max(0, offset + direction * limit);
}

// The model and provider dropdowns of the log, for its own period (the overview fills them for its period too).
export async function loadChoices(range) {
  const p = { ...apiParams(range), limit: 100 };
  const [models, providers] = await Promise.all([
    get(ADMIN + "/aggregation/stats", { ...p, group_by: "model" }),
    get(ADMIN + "/aggregation/stats", { ...p, group_by: "provider" }),
  ]);
  fillChoices(models, providers);
}

// The model and provider dropdowns hold the exact values the filters match (from the period's aggregations).
export function fillChoices(models, providers) {
  const fill = (id, values, label) => {
    const sel = $(id);
    const keep = sel.value;
    clear(sel, el("option", { value: "", text: label }), values.map((v) => el("option", { value: v, text: v })));
    sel.value = values.includes(keep) ? keep : "";
  };
  fill("f-model", [...new Set(models.map((m) => m.model))].sort(), "All models");
  fill("f-provider", [...new Set(providers.map((p) => p.provider).filter((p) => p && p !== "Unknown"))].sort(), "All providers");
}
