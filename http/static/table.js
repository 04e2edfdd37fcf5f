// A sortable table: columns {key, label, value(row) -> sortable, render(row) -> text|Node, num, title(row)}.
import { clear, el } from "./fmt.js";

export function sortable(container, columns, rows, opts = {}) {
  let sortKey = opts.sortKey || null;
  let dir = opts.dir || -1;

  function cmp(a, b, col) {
    const va = col.value ? col.value(a) : a[col.key];
    const vb = col.value ? col.value(b) : b[col.key];
    const na = va === null || va === undefined || (typeof va === "number" && isNaN(va));
    const nb = vb === null || vb === undefined || (typeof vb === "number" && isNaN(vb));
    if (na || nb) return na === nb ? 0 : na ? 1 : -1;  // blanks last, whatever the direction
    if (typeof va === "number" && typeof vb === "number") return (va - vb) * dir;
    return String(va).localeCompare(String(vb)) * dir;
  }

  function draw() {
    const col = columns.find((c) => c.key === sortKey);
    const list = col ? [...rows].sort((a, b) => cmp(a, b, col)) : rows;
    const head = el(
      "tr",
      {},
      columns.map((c) =>
        el(
          "th",
          {
            class: (c.num ? "num " : "") + "sort" + (c.key === sortKey ? (dir > 0 ? " asc" : " desc") : ""),
            "aria-sort": c.key === sortKey ? (dir > 0 ? "ascending" : "descending") : "none",
            dataset: { key: c.key },
            onclick: () => {
              dir = sortKey === c.key ? -dir : c.num ? -1 : 1;
              sortKey = c.key;
              draw();
            },
          },
          c.label,
        ),
      ),
    );
    const body = list.map((row) =>
      el(
        "tr",
        { class: opts.rowClass ? opts.rowClass(row) : null, onclick: opts.onRow ? () => opts.onRow(row) : null, dataset: opts.rowData ? opts.rowData(row) : {} },
        columns.map((c) => {
          const content = c.render ? c.render(row) : row[c.key];
          // long names (models, keys) are cut with an ellipsis; the whole text stays in the tooltip
          const title = c.title ? c.title(row) : typeof content === "string" && content.length > 24 ? content : null;
          return el("td", { class: c.num ? "num" : "text", title, dataset: { col: c.key } }, content ?? "—");
        }),
      ),
    );
    const table = list.length
      ? el("table", { class: opts.tableClass || null }, el("thead", {}, head), el("tbody", {}, body))
      : el("p", { class: "empty", text: opts.empty || "Nothing in this period." });
    clear(container, table);
  }

  draw();
  return { redraw: draw };
}
