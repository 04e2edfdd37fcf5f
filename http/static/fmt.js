// Formatting and DOM helpers. Text always goes in through textContent, never innerHTML: record fields,
// headers and bodies come from clients of the gateway.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

// A JSON number's decimal text (e.g. "1E-12", "3.10", 7) as plain decimal notation, exactly.
export function plain(value) {
  if (value === null || value === undefined || value === "") return "0";
  let s = String(value).trim();
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m) return s;
  const sign = m[1] === "-" ? "-" : "";
  let digits = (m[2] || "") + (m[3] || "");
  let point = (m[2] || "").length + Number(m[4] || 0);
  if (point <= 0) {
    digits = "0".repeat(1 - point) + digits;
    point = 1;
  } else if (point > digits.length) {
    digits = digits + "0".repeat(point - digits.length);
  }
  let int = digits.slice(0, point).replace(/^0+(?=\d)/, "");
  let frac = digits.slice(point).replace(/0+$/, "");
  s = int + (frac ? "." + frac : "");
  return /^0(\.0*)?$/.test(s) ? s : sign + s;
}

// Round a decimal to `places` (half up) on its text, so no float ever touches the figure.
export function roundDec(value, places) {
  const s = plain(value);
  const neg = s.startsWith("-");
  const [int, frac = ""] = (neg ? s.slice(1) : s).split(".");
  if (frac.length <= places) return s;
  let n = BigInt(int + frac.slice(0, places));
  if (frac[places] >= "5") n += 1n;
  let t = n.toString().padStart(places + 1, "0");
  const out = places ? t.slice(0, -places) + "." + t.slice(-places) : t;
  return (neg && /[1-9]/.test(out) ? "-" : "") + out;
}

export function group(intText) {
  const [i, f] = String(intText).split(".");
  const g = i.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return f !== undefined ? g + "." + f : g;
}

export const money = (v) => "$" + group(plain(v));                          // exact
export const moneyShort = (v) => "$" + group(roundDec(v, 6).replace(/(\.\d*?[1-9])0+$|\.0+$/, "$1"));
export const int = (v) => (v === null || v === undefined ? "—" : group(String(v)));
export const num = (v) => (v === null || v === undefined || v === "" ? NaN : Number(v));

export function pct(v) {
  return v === null || v === undefined ? "—" : roundDec(v, 2) + "%";
}

export function ms(v) {
  if (v === null || v === undefined || v === "") return "—";
  const n = Number(v);
  return n >= 1000 ? (n / 1000).toFixed(2) + " s" : Math.round(n) + " ms";
}

export function elapsed(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
  return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function badge(text, kind) {
  return el("span", { class: "badge " + (kind || text), text });
}

// fn after `wait` ms of quiet; .flush() runs a pending call now, .cancel() drops it.
export function debounce(fn, wait) {
  let t = null;
  let pending = null;
  const call = (...args) => {
    pending = args;
    clearTimeout(t);
    t = setTimeout(call.flush, wait);
  };
  call.flush = () => {
    clearTimeout(t);
    if (!pending) return;
    const args = pending;
    pending = null;
    fn(...args);
  };
  call.cancel = () => {
    clearTimeout(t);
    pending = null;
  };
  return call;
}
