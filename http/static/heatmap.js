// The 365-day activity heatmap as SVG: one square per day, weeks as columns, shade = requests / max_requests.
import { clear, el, int, money } from "./fmt.js";

const NS = "http://www.w3.org/2000/svg";
const CELL = 12;
const GAP = 2;

function svg(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

export function level(requests, max) {
  if (!requests || !max) return 0;
  const ratio = Math.min(1, requests / max);
  return ratio > 0.75 ? 4 : ratio > 0.5 ? 3 : ratio > 0.25 ? 2 : 1;
}

export function drawHeatmap(container, data) {
  const days = (data && data.days) || [];
  if (!days.length) return clear(container, el("p", { class: "empty", text: "No activity." }));
  const first = new Date(days[0].date + "T00:00:00Z").getUTCDay(); // 0 = Sunday: the first column's offset
  const weeks = Math.ceil((days.length + first) / 7);
  const root = svg("svg", {
    viewBox: `0 0 ${weeks * (CELL + GAP) + 30} ${7 * (CELL + GAP) + 18}`,
    role: "img",
    "aria-label": "requests per day over the last 365 days",
  });
  let month = "";
  days.forEach((day, i) => {
    const slot = i + first;
    const x = 30 + Math.floor(slot / 7) * (CELL + GAP);
    const y = 16 + (slot % 7) * (CELL + GAP);
    const m = day.date.slice(0, 7);
    if (m !== month && slot % 7 === 0 || i === 0) {
      month = m;
      const label = svg("text", { x, y: 10, class: "hm-month" });
      label.textContent = new Date(day.date + "T00:00:00Z").toLocaleString(undefined, { month: "short", timeZone: "UTC" });
      root.append(label);
    }
    const rect = svg("rect", {
      x, y, width: CELL, height: CELL, rx: 2,
      class: "hm l" + level(day.requests, data.max_requests),
      "data-date": day.date, "data-requests": day.requests,
    });
    const title = svg("title", {});
    let tip = `${day.date}: ${int(day.requests)} requests, ${int(day.total_tokens)} tokens, ${money(day.total_cost)}`;
    if (day.actual_total_cost !== undefined) tip += ` (actual ${money(day.actual_total_cost)})`;
    title.textContent = tip;
    rect.append(title);
    root.append(rect);
  });
  ["Mon", "Wed", "Fri"].forEach((name, i) => {
    const t = svg("text", { x: 0, y: 16 + (1 + 2 * i) * (CELL + GAP) + CELL - 2, class: "hm-day" });
    t.textContent = name;
    root.append(t);
  });
  const legend = el("p", { class: "muted legend" },
    `${int(days.reduce((s, d) => s + d.requests, 0))} requests from ${data.start_date.slice(0, 10)} to ${data.end_date.slice(0, 10)}; busiest day ${int(data.max_requests)}.`);
  clear(container, root, legend);
  container.scrollLeft = container.scrollWidth; // on a narrow screen, the latest weeks first
}
