// Usage over time: the trends view and the overview's compact chart, drawn with uPlot (vendored, pinned:
// http/static/vendor/README.md) from /timeseries (admin) or /users/me/usage/timeseries (user).
//
// Stacking: uPlot has none built in, so each group's values are added to the ones below it (cumulative series,
// bottom group first) and a band fills between neighbours; the legend and the table show each group's own value.
// Live: nothing is polled. The websocket feed (live.js) reports every start, change and end of a request; each
// report (one fetch at a time, at most one a second) re-fetches only the last bucket, from its start to now,
// and folds it into the chart. When that answer holds a new bucket (the clock passed a boundary), the whole
// range is read again once. A request that reaches the server already finished never enters the live set, so
// the feed does not announce it: it shows at the next feed change or reload.
import uPlot from "./vendor/uPlot.esm.js";
import { ADMIN, USER, get } from "./api.js";
import { clear, el, int, money, moneyShort, plain } from "./fmt.js";

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const HOUR = 3600000;
const SPANS = { "24h": 24 * HOUR, "7d": 168 * HOUR, "30d": 720 * HOUR, "90d": 2160 * HOUR, "365d": 8760 * HOUR };
const BUCKET_MS = { "15m": 900000, hour: HOUR, day: 24 * HOUR, week: 168 * HOUR, month: 744 * HOUR };
const MAX_BUCKETS = 3000;
const REFRESH_GAP_MS = 1000; // what a chart a screen wide can still show; the API's own bound is higher
const COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#4b5563"];
const OTHER = "__other__";
const STEPPED = uPlot.paths.stepped({ align: 1 });
const METRICS = { requests: "Requests", total_tokens: "Tokens", cost: "Cost" };

// --- exact sums of decimal texts (money never goes through a float in the table) --------------------------
function scaled(value, places) {
  const s = plain(value);
  const neg = s.startsWith("-");
  const [i, f = ""] = (neg ? s.slice(1) : s).split(".");
  const n = BigInt(i + f.padEnd(places, "0"));
  return neg ? -n : n;
}

export function sumDecimal(values) {
  const places = Math.max(0, ...values.map((v) => (plain(v).split(".")[1] || "").length));
  let total = 0n;
  for (const v of values) total += scaled(v, places);
  const neg = total < 0n;
  const digits = (neg ? -total : total).toString().padStart(places + 1, "0");
  const text = places ? digits.slice(0, -places) + "." + digits.slice(-places) : digits;
  return plain((neg ? "-" : "") + text);
}

const total = (metric, values) => (metric === "cost" ? sumDecimal(values) : String(values.reduce((a, b) => a + Number(b), 0)));
const shown = (metric, v) => (metric === "cost" ? moneyShort(v) : int(v));

// --- the chart --------------------------------------------------------------------------------------------
class TrendChart {
  constructor(box, table, height) {
    this.box = box;
    this.table = table;
    this.height = height;
    this.plot = null;
    this.answer = null;
    this.query = null;
    this.live = false; // the range runs up to now: feed changes refresh its last bucket
    this.busy = null; // the live re-fetch in flight
    this.again = false; // a feed change arrived meanwhile
  }

  async load(path, query, metric) {
    const seq = (this.seq = (this.seq || 0) + 1);
    const answer = await get(path, query);
    if (seq !== this.seq) return; // a later choice was made meanwhile: its answer is the one to draw
    this.path = path;
    this.metric = metric;
    this.query = query;
    this.answer = answer;
    this.box.dataset.query = new URLSearchParams(query).toString();
    this.box.dataset.refreshes = "0";
    this.draw();
  }

  draw() {
    const { series } = this.answer;
    const xs = (series[0] ? series[0].points : []).map((p) => Date.parse(p.bucket) / 1000);
    const raw = series.map((s) => s.points.map((p) => Number(p[this.metric])));
    // a stepped value holds until the next x: one closing x at the range's end gives the last bucket its width
    const end = Date.parse(this.answer.end_date) / 1000;
    if (xs.length && end > xs[xs.length - 1]) {
      xs.push(end);
      for (const values of raw) values.push(values[values.length - 1]);
    }
    const stacked = [];
    raw.forEach((values, i) => stacked.push(values.map((v, j) => v + (i ? stacked[i - 1][j] : 0))));
    const partial = (series[0] ? series[0].points : []).map((p) => p.partial);
    partial.push(true);
    const data = [xs, ...stacked];
    if (this.plot && this.plot.series.length === series.length + 1 && this.sameKeys(series)) {
      this.raw = raw;
      this.partial = partial;
      this.plot.setData(data);
    } else {
      this.raw = raw;
      this.partial = partial;
      if (this.plot) this.plot.destroy();
      this.plot = new uPlot(this.options(series), data, this.box);
    }
    this.box.dataset.series = String(series.length);
    this.fillTable();
  }

  // The bucket (its ISO start) under x index idx; the closing x belongs to the last bucket.
  bucketAt(idx) {
    const points = this.answer.series[0].points;
    return points[Math.min(idx, points.length - 1)].bucket;
  }

  sameKeys(series) {
    return this.keys && this.keys.length === series.length && series.every((s, i) => s.key === this.keys[i]);
  }

  options(series) {
    this.keys = series.map((s) => s.key);
    const color = (s, i) => (s.key === OTHER ? "#9ca3af" : COLORS[i % COLORS.length]);
    const value = (u, _v, sidx, idx) => (idx === null || idx === undefined || !this.raw[sidx - 1] ? "—" : shown(this.metric, this.raw[sidx - 1][idx]));
    const stamp = (u, _ts, _s, idx) => (idx === null || idx === undefined ? "—" : new Date(this.bucketAt(idx)).toLocaleString() + (this.partial[idx] ? " (partial)" : ""));
    return {
      width: Math.max(320, this.box.clientWidth || 800),
      height: this.height,
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true } },
      axes: [{}, { size: 70, values: (u, ticks) => ticks.map((t) => (this.metric === "cost" ? "$" + t : int(t))) }],
      series: [
        { label: "Bucket", value: stamp },
        // stepped: a bucket's value holds from its start to the next bucket's start
        ...series.map((s, i) => ({ label: s.label, stroke: color(s, i), fill: color(s, i) + "99", width: 1, points: { show: false }, paths: STEPPED, value })),
      ],
      bands: series.slice(1).map((_s, i) => ({ series: [i + 2, i + 1] })),
      hooks: {
        setCursor: [(u) => (this.box.dataset.hover = u.cursor.idx === null || u.cursor.idx === undefined ? "" : this.bucketAt(u.cursor.idx))],
      },
    };
  }

  fillTable() {
    if (!this.table) return;
    const last = this.answer.series[0] ? this.answer.series[0].points.length - 1 : -1;
    const rows = this.answer.series.map((s) => {
      const values = s.points.map((p) => p[this.metric]);
      const sum = total(this.metric, values);
      const now = last >= 0 ? values[last] : 0;
      return el("tr", { dataset: { key: s.key === null ? "" : s.key } },
        el("td", { class: "text", text: s.label, dataset: { col: "label" } }),
        el("td", { class: "num", text: shown(this.metric, sum), title: this.metric === "cost" ? money(sum) : null, dataset: { col: "total", exact: plain(sum) } }),
        el("td", { class: "num", text: shown(this.metric, now), dataset: { col: "last", exact: plain(now) } }));
    });
    const lastPoint = last >= 0 ? this.answer.series[0].points[last] : null;
    const lastLabel = lastPoint ? "Last bucket" + (lastPoint.partial ? " (partial, live)" : "") : "Last bucket";
    clear(this.table, rows.length
      ? el("table", {}, el("caption", { class: "muted", text: METRICS[this.metric] + " per series over the range" }),
        el("thead", {}, el("tr", {}, el("th", { text: "Series" }), el("th", { class: "num", text: "Total" }), el("th", { class: "num", text: lastLabel }))),
        el("tbody", {}, rows))
      : el("p", { class: "empty", text: "Nothing in this range." }));
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: Math.max(320, this.box.clientWidth || 800), height: this.height });
  }

  // A feed change: re-read the last bucket only (see the header). One re-read at a time and at most one per
  // REFRESH_GAP_MS (a busy gateway changes the feed many times a second); changes meanwhile make one more.
  async refreshLast() {
    if (!this.answer || !this.answer.series.length || !this.live) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    const started = Date.now();
    const points = this.answer.series[0].points;
    const query = { ...this.query, start_date: points[points.length - 1].bucket, end_date: new Date().toISOString() };
    if (query.group_by) query.limit = 100;
    const answer = this.answer;
    try {
      const fresh = await get(this.path, query);
      if (this.answer === answer) { // else the chart was reloaded meanwhile: this bucket belongs to the old one
        if (fresh.series.length && fresh.series[0].points.length > 1) await this.load(this.path, { ...this.query, end_date: query.end_date }, this.metric);
        else this.fold(fresh);
        this.box.dataset.refreshes = String(Number(this.box.dataset.refreshes || 0) + 1);
      }
    } catch {
      /* the chart keeps what it had; the next change or a reload tries again */
    }
    setTimeout(() => {
      this.busy = false;
      if (this.again) {
        this.again = false;
        this.refreshLast();
      }
    }, Math.max(0, REFRESH_GAP_MS - (Date.now() - started)));
  }

  // The fresh last bucket, regrouped under the chart's series: a group the chart does not list adds to other.
  fold(fresh) {
    const series = this.answer.series;
    const last = series[0].points.length - 1;
    const zero = { ...series[0].points[last], requests: 0, total_tokens: 0, cost: "0" };
    const byKey = new Map(series.map((s) => [s.key, s]));
    for (const s of series) s.points[last] = { ...zero };
    for (const s of fresh.series) {
      let target = byKey.get(s.key);
      if (!target) {
        target = byKey.get(OTHER);
        if (!target) {
          target = { key: OTHER, label: "other", points: series[0].points.map((p) => ({ ...p, requests: 0, total_tokens: 0, cost: "0" })) };
          series.push(target);
          byKey.set(OTHER, target);
        }
      }
      const p = s.points[0];
      const t = target.points[last];
      target.points[last] = { ...t, requests: t.requests + p.requests, total_tokens: t.total_tokens + p.total_tokens, cost: sumDecimal([t.cost, p.cost]), partial: p.partial };
    }
    this.draw();
  }
}

// --- the views ----------------------------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);
let trends = null;
let compact = null;

function granularityFor(spanMs) {
  return spanMs <= 8 * 24 * HOUR ? "hour" : "day";
}

// The granularities a span allows (at most MAX_BUCKETS buckets); an impossible choice moves to the next coarser.
function allowGranularities(spanMs) {
  const select = $("trends-granularity");
  for (const opt of select.options) opt.disabled = spanMs / BUCKET_MS[opt.value] > MAX_BUCKETS;
  if (select.selectedOptions[0].disabled) select.value = [...select.options].find((o) => !o.disabled).value;
}

export async function loadTrends(admin) {
  if (!trends) trends = new TrendChart($("trends-chart"), $("trends-table"), 340);
  const span = SPANS[$("trends-range").value];
  allowGranularities(span);
  const end = new Date();
  const query = {
    start_date: new Date(end.getTime() - span).toISOString(),
    end_date: end.toISOString(),
    granularity: $("trends-granularity").value,
    tz: ZONE,
  };
  const by = $("trends-group").value;
  if (by !== "none") Object.assign(query, { group_by: by, limit: 8 });
  trends.live = true;
  await trends.load((admin ? ADMIN : USER) + "/timeseries", query, $("trends-metric").value);
}

// The overview's compact chart: requests of the overview's period by model.
export async function loadCompact(range, admin) {
  if (!compact) compact = new TrendChart($("trend-compact"), null, 180);
  const query = {
    start_date: range.start.toISOString(),
    end_date: range.end.toISOString(),
    granularity: granularityFor(range.end - range.start),
    tz: ZONE,
    group_by: "model",
    limit: 5,
  };
  // live only while the period runs up to now (today, the last N days), not for yesterday or a custom range
  compact.live = Date.now() - range.end.getTime() < 60000;
  await compact.load((admin ? ADMIN : USER) + "/timeseries", query, "requests");
}

// Only the groupings the token's path allows: provider and user are the admin path's.
export function setTrendsRole(admin) {
  for (const opt of $("trends-group").options) opt.disabled = opt.hidden = !admin && (opt.value === "provider" || opt.value === "user");
  if ($("trends-group").selectedOptions[0].disabled) $("trends-group").value = "model";
}

export function feedChanged() {
  if (trends && !$("view-trends").hidden) trends.refreshLast();
  if (compact && !$("view-overview").hidden) compact.refreshLast();
}

export function wireTrends(reload) {
  for (const id of ["trends-range", "trends-granularity", "trends-group", "trends-metric"]) $(id).addEventListener("change", reload);
  let t = null;
  window.addEventListener("resize", () => {
    clearTimeout(t);
    t = setTimeout(() => [trends, compact].forEach((c) => c && c.resize()), 200);
  });
}
