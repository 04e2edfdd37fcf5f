// Downloads: the export paths (docs/api.md "Exports") with the view's current period and filters. The token
// travels in the Authorization header (never in the URL), the answer becomes a Blob saved under the server's
// file name. A Blob is held in memory: the browser download suits what a dashboard shows; for very large
// exports use `usagestream export` or a streaming client.
import { ADMIN, ApiError, USER, token } from "./api.js";
import { apiParams } from "./period.js";
import { filterValues } from "./records.js";

function nameOf(resp, fallback) {
  const m = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
  return m ? m[1] : fallback;
}

export async function download(path, params, fallback) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  const resp = await fetch(path + "?" + q.toString(), {
    headers: { Authorization: "Bearer " + token.get() },
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  if (!resp.ok) {
    let msg = resp.statusText || "export failed";
    try {
      msg = (await resp.json()).error.message || msg;
    } catch {
      // not the JSON error envelope: keep the status text
    }
    throw new ApiError(resp.status, msg);
  }
  const url = URL.createObjectURL(await resp.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: nameOf(resp, fallback) });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// The records of the Requests view: every filter but the page (limit, offset).
function recordsExport(admin, range, format) {
  const { limit: _limit, ...filters } = filterValues(admin);
  const path = (admin ? ADMIN : USER) + "/export/records";
  return download(path, { ...apiParams(range), ...(admin ? filters : { search: filters.search }), format }, "records." + format);
}

// `ctx`: { admin(): bool, range(): the current period or null, failed(err): show the error }.
export function wireExports(ctx) {
  const run = (job) => async (ev) => {
    const range = ctx.range();
    if (!range) return;
    ev.currentTarget.disabled = true;
    const button = ev.currentTarget;
    try {
      await job(range);
    } catch (err) {
      ctx.failed(err);
    } finally {
      button.disabled = false;
    }
  };
  for (const button of document.querySelectorAll("[data-export-records]")) {
    const format = button.dataset.exportRecords;
    button.addEventListener("click", run((range) => recordsExport(ctx.admin(), range, format)));
  }
  for (const button of document.querySelectorAll("[data-export-group]")) {
    const group = button.dataset.exportGroup;
    const params = (range) => ({ ...apiParams(range), group_by: group, limit: 100, format: "csv" });
    button.addEventListener("click", run((range) => download(ADMIN + "/export/aggregation", params(range), group + ".csv")));
  }
}
