// Periods in the browser's own time zone. The API takes instants (ISO 8601 with an offset), so local
// midnights are sent as UTC instants; the range is inclusive at both ends, as /stats and /records read it.

const DAY = 86400000;

function midnight(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

function fromInput(value) {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d);
}

export function localDate(d) {
  return [d.getFullYear(), String(d.getMonth() + 1).padStart(2, "0"), String(d.getDate()).padStart(2, "0")].join("-");
}

// {start, end} as Date objects, or null for an incomplete custom range.
export function periodRange(kind, customStart, customEnd, now = new Date()) {
  const today = midnight(now);
  switch (kind) {
    case "today":
      return { start: today, end: now };
    case "yesterday": {
      const y = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
      return { start: y, end: new Date(today.getTime() - 1) };
    }
    case "7d":
    case "30d":
    case "90d":
      return { start: new Date(now.getTime() - parseInt(kind, 10) * DAY), end: now };
    case "custom": {
      if (!customStart || !customEnd) return null;
      const a = fromInput(customStart);
      const b = fromInput(customEnd);
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      return { start: lo, end: new Date(hi.getFullYear(), hi.getMonth(), hi.getDate() + 1, 0, 0, 0, -1) };
    }
    default:
      return null;
  }
}

export function apiParams(range) {
  return { start_date: range.start.toISOString(), end_date: range.end.toISOString() };
}

export function describe(range) {
  const opts = { dateStyle: "medium", timeStyle: "short" };
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  return range.start.toLocaleString(undefined, opts) + " – " + range.end.toLocaleString(undefined, opts) + " (" + zone + ")";
}
