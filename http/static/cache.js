// Cache affinity: the hit analysis, the TTL recommendation per user (admin) and the request-interval
// scatter plot (canvas; x = when, y = minutes since the same user's previous completed request).
import { ADMIN, USER, get } from "./api.js";
import { clear, el, int, money, num, pct } from "./fmt.js";
import { sortable } from "./table.js";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563", "#65a30d", "#9333ea"];
const $ = (id) => document.getElementById(id);

function stat(key, label, value) {
  return el("div", { class: "stat", dataset: { stat: key } }, el("span", { class: "label", text: label }), el("strong", { class: "value", text: value }));
}

export function drawScatter(canvas, legend, data, hours, groupOf, nameOf) {
  const points = (data && data.points) || [];
  const width = Math.max(280, canvas.clientWidth || canvas.width);
  const height = width < 600 ? 240 : 320;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.height = height + "px";
  canvas.dataset.points = String(points.length);
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  const pad = { l: 40, r: 10, t: 10, b: 26 };
  const end = Date.now();
  const start = end - hours * 3600000;
  const yMax = 120;
  const X = (t) => pad.l + ((t - start) / (end - start)) * (width - pad.l - pad.r);
  const Y = (m) => height - pad.b - (Math.min(m, yMax) / yMax) * (height - pad.t - pad.b);
  g.clearRect(0, 0, width, height);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7280";
  g.strokeStyle = "#e5e7eb";
  for (const m of [0, 5, 15, 30, 60, 120]) {
    g.beginPath();
    g.moveTo(pad.l, Y(m));
    g.lineTo(width - pad.r, Y(m));
    g.stroke();
    g.fillText(m + "m", 4, Y(m) + 4);
  }
  for (let i = 0; i <= 4; i++) {
    const t = start + ((end - start) * i) / 4;
    const label = new Date(t).toLocaleString(undefined, hours > 48 ? { month: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit" });
    g.fillText(label, Math.min(X(t) - 14, width - 50), height - 8);
  }
  const colors = new Map();
  for (const p of points) {
    const key = groupOf(p);
    if (!colors.has(key)) colors.set(key, PALETTE[colors.size % PALETTE.length]);
    g.fillStyle = colors.get(key);
    g.globalAlpha = 0.75;
    g.beginPath();
    g.arc(X(Date.parse(p.x)), Y(num(p.y)), 2.5, 0, 2 * Math.PI);
    g.fill();
  }
  g.globalAlpha = 1;
  clear(legend, points.length ? [...colors].slice(0, 20).map(([key, color]) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = color;
    return el("span", { class: "legend-item" }, swatch, nameOf(key));
  }) : el("p", { class: "empty", text: "No intervals in this window." }));
}

// The API's reason is the reference's Chinese sentence (kept in the tooltip); the same facts in English.
function reason(r) {
  const p = r.percentiles || {};
  if (p.p75 === null || p.p75 === undefined) return "not enough data: default TTL";
  if (r.recommended_ttl_minutes === 5) return `frequent: 90% of intervals within ${p.p90} min`;
  if (r.recommended_ttl_minutes === 60) return `infrequent: 75% of intervals within ${p.p75} min, use a long TTL`;
  return `75% of intervals within ${p.p75} min`;
}

export async function loadCache(admin, hours) {
  if (!admin) {
    const data = await get(USER + "/interval-timeline", { hours, limit: 5000 });
    drawScatter($("scatter"), $("scatter-legend"), data, hours, (p) => p.model || "?", (k) => k);
    return;
  }
  const [hit, ttl, data] = await Promise.all([
    get(ADMIN + "/cache-affinity/hit-analysis", { hours }),
    get(ADMIN + "/cache-affinity/ttl-analysis", { hours }),
    get(ADMIN + "/cache-affinity/interval-timeline", { hours, include_user_info: true, limit: 10000 }),
  ]);
  clear($("hit"),
    stat("total_requests", "Completed requests", int(hit.total_requests)),
    stat("request_cache_hit_rate", "Requests with a cache hit", `${int(hit.requests_with_cache_hit)} (${pct(hit.request_cache_hit_rate)})`),
    stat("token_cache_hit_rate", "Token cache hit rate", pct(hit.token_cache_hit_rate)),
    stat("cache_costs", "Cache read / write cost", `${money(hit.total_cache_read_cost_usd)} / ${money(hit.total_cache_creation_cost_usd)}`),
    stat("estimated_savings_usd", "Estimated savings", money(hit.estimated_savings_usd)),
    stat("ttl_distribution", "Users by TTL 5 / 15 / 30 / 60 min", Object.values(ttl.ttl_distribution || {}).join(" / ")),
  );
  const p = (k) => ({ key: k, label: k.toUpperCase(), num: true, value: (r) => num(r.percentiles && r.percentiles[k]), render: (r) => (r.percentiles && r.percentiles[k] !== null ? r.percentiles[k] + " m" : "—") });
  sortable($("ttl"), [
    { key: "username", label: "User", value: (r) => r.username || r.group_id, render: (r) => r.username || r.group_id, title: (r) => r.email || r.group_id },
    { key: "request_count", label: "Intervals", num: true, render: (r) => int(r.request_count) },
    { key: "within_5min", label: "≤ 5 min", num: true, value: (r) => num(r.interval_percentages.within_5min), render: (r) => r.interval_percentages.within_5min + "%" },
    p("p50"), p("p75"), p("p90"),
    { key: "recommended_ttl_minutes", label: "Recommended TTL", num: true, render: (r) => r.recommended_ttl_minutes + " min" },
    { key: "recommendation_reason", label: "Why", render: reason, title: (r) => r.recommendation_reason },
  ], ttl.users || [], { sortKey: "request_count", empty: "No user has enough completed requests in this window.", rowData: (r) => ({ id: r.group_id }) });
  const users = data.users || {};
  drawScatter($("scatter"), $("scatter-legend"), data, hours, (pt) => pt.user_id || "?", (k) => users[k] || k);
}
