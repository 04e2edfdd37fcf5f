// The dashboard's entry point: sign-in, navigation between the views (#overview, #trends, #log, #live, #cache; the
// URL never holds the token), the shared period, and loading each view when it is shown.
import { ApiError, roleOf, token } from "./api.js";
import { debounce } from "./fmt.js";
import { closeDrawer } from "./drawer.js";
import { wireExports } from "./export.js";
import { loadCache } from "./cache.js";
import { onFeedChange, startLive, stopLive } from "./live.js";
import { loadAdminOverview, loadUserOverview } from "./overview.js";
import { describe, localDate, periodRange } from "./period.js";
import { fillChoices, loadChoices, loadRecords, resetPage, step } from "./records.js";
import { feedChanged, loadCompact, loadTrends, setTrendsRole, wireTrends } from "./trends.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["overview", "trends", "log", "live", "cache"];
const state = { role: null, view: "overview", range: null, heatmapLoaded: false };

function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 6000);
}

function failed(err) {
  if (err instanceof ApiError && err.status === 401) {
    signOut("Your token was refused (" + err.message + "): sign in again.");
    return;
  }
  toast(err instanceof ApiError ? `${err.status}: ${err.message}` : String(err && err.message ? err.message : err));
}

function currentRange() {
  const range = periodRange($("period").value, $("custom-start").value, $("custom-end").value);
  const label = $("period-range");
  if (range) {
    label.textContent = describe(range);
    label.dataset.start = range.start.toISOString();
    label.dataset.end = range.end.toISOString();
  }
  return range;
}

async function show(view) {
  if (!state.role) return;
  state.view = VIEWS.includes(view) ? view : "overview";
  for (const v of VIEWS) $("view-" + v).hidden = v !== state.view;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === state.view);
  $("period-bar").hidden = !(state.view === "overview" || state.view === "log");
  document.body.dataset.view = state.view;
  await load();
}

async function load() {
  const admin = state.role === "admin";
  const main = document.querySelector("main");
  main.dataset.loading = "true";
  try {
    if (state.view === "overview" || state.view === "log") {
      const range = currentRange();
      if (!range) return;
      if (state.view === "overview") {
        const heat = !state.heatmapLoaded;
        const { models, providers } = admin ? await loadAdminOverview(range, heat) : await loadUserOverview(range, heat);
        state.heatmapLoaded = true;
        if (admin) fillChoices(models, providers);
        await loadCompact(range, admin);
      } else {
        // the filter choices follow the log's own period, not the one the overview had at sign-in
        await Promise.all([loadRecords(range, admin), admin ? loadChoices(range) : null]);
      }
    } else if (state.view === "trends") {
      await loadTrends(admin);
    } else if (state.view === "cache") {
      await loadCache(admin, Number($("hours").value));
    }
  } catch (err) {
    failed(err);
  } finally {
    main.dataset.loading = "false";
    main.dataset.loaded = state.view;
  }
}

async function signIn(value) {
  const err = $("signin-error");
  err.textContent = "";
  const tok = value.trim().replace(/^bearer\s+/i, "");
  if (!tok) return;
  try {
    state.role = await roleOf(tok);
  } catch (e) {
    err.textContent = e instanceof ApiError ? `${e.status}: ${e.message}` : "The API did not answer.";
    token.clear();
    return;
  }
  token.set(tok);
  $("token").value = "";
  $("signin").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-label").textContent = state.role === "admin" ? "Admin" : "User";
  document.body.dataset.role = state.role;
  for (const node of document.querySelectorAll("[data-admin]")) node.hidden = state.role !== "admin";
  setTrendsRole(state.role === "admin");
  state.heatmapLoaded = false;
  startLive(state.role === "admin");
  await show((location.hash || "#overview").slice(1));
}

function signOut(message) {
  token.clear();
  stopLive();
  closeDrawer();
  state.role = null;
  document.body.dataset.role = "";
  for (const v of VIEWS) $("view-" + v).hidden = true;
  $("period-bar").hidden = true;
  $("nav").hidden = true;
  $("who").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
}

function wire() {
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn($("token").value);
  });
  $("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  $("period").addEventListener("change", () => {
    $("custom-range").hidden = $("period").value !== "custom";
    if ($("period").value === "custom" && !$("custom-start").value) {
      const now = new Date();
      $("custom-end").value = localDate(now);
      $("custom-start").value = localDate(new Date(now.getFullYear(), now.getMonth(), now.getDate() - 6));
    }
    resetPage();
    load();
  });
  for (const id of ["custom-start", "custom-end"]) $(id).addEventListener("change", () => { resetPage(); load(); });
  $("refresh").addEventListener("click", () => { state.heatmapLoaded = false; load(); });
  $("hours").addEventListener("change", () => load());
  wireTrends(() => load());
  onFeedChange(feedChanged);
  const again = () => { resetPage(); load(); };
  const typed = debounce(again, 300);
  // a select change or Enter reads every field, typed text included: a pending search is then moot
  const now = () => { typed.cancel(); again(); };
  for (const id of ["f-search", "f-username", "f-user-id"]) $(id).addEventListener("input", typed);
  for (const id of ["f-model", "f-provider", "f-status", "f-limit"]) $(id).addEventListener("change", now);
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); now(); });
  // paging applies to what the fields say: a search still waiting for its pause goes first
  $("prev").addEventListener("click", () => { typed.flush(); step(-1); load(); });
  $("next").addEventListener("click", () => { typed.flush(); step(1); load(); });
  $("drawer-close").addEventListener("click", closeDrawer);
  wireExports({ admin: () => state.role === "admin", range: currentRange, failed });
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDrawer(); });
  let resized = null;
  window.addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(() => state.view === "cache" && load(), 300); });
}

wire();
const saved = token.get();
if (saved) signIn(saved);
else $("token").focus();
