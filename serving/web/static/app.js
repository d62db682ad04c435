// Shared by every page: the API key in localStorage, fetch with problem details in human words, sign-in,
// role-aware navigation, loading states and small DOM/format helpers. Pages register with SP.page(init).
"use strict";

const SP = (() => {
  // The key lives in localStorage, not sessionStorage: sessionStorage is per tab, so every link opened in
  // a new tab asked for the key again. localStorage spans the browser's tabs until "Sign out" (which
  // clears it in every tab, see the storage listener below); the key is never put in a URL or a cookie.
  const KEY = "salesplan.apiKey";
  const store = window.localStorage;
  let me = null;
  let pageInit = null;

  class Problem extends Error {
    constructor(body, status) {
      super(body.detail || body.title || `HTTP ${status}`);
      this.title = body.title || `HTTP ${status}`;
      this.detail = body.detail || "";
      this.status = status;
      this.body = body;
    }
  }

  const key = () => store.getItem(KEY);

  async function api(method, path, body) {
    const headers = { Accept: "application/json, application/problem+json" };
    const k = key();
    if (k) headers["X-API-Key"] = k;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new Problem({ title: "No answer from the service", detail: "Check your connection, or ask whoever runs salesplan whether it is up, then try again." }, 0);
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!res.ok) {
      throw new Problem(data && typeof data === "object" ? data : { title: `HTTP ${res.status}`, detail: text.slice(0, 300) }, res.status);
    }
    return data;
  }

  const get = (path, params) => api("GET", params ? `${path}?${qs(params)}` : path);
  const post = (path, body) => api("POST", path, body === undefined ? {} : body);
  const patch = (path, body) => api("PATCH", path, body);

  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === "") continue;
      u.set(k, Array.isArray(v) ? v.join(",") : String(v));
    }
    return u.toString();
  }

  // ---- DOM helpers ----
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c.nodeType ? c : String(c));
    return node;
  }

  // Problem details in words a planner reads: the service's `detail` sentence (for 422 validation errors
  // one "field: what to do" per field), never a raw object; HTTP titles replaced by what to do.
  const TITLES = {
    401: "Key not accepted", 403: "Not allowed for your role", 404: "Not found", 409: "Changed meanwhile",
    413: "Too much at once", 422: "Please check the input", 429: "Too many attempts", 503: "Not ready yet",
  };
  function words(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    if (Array.isArray(v)) return v.map(words).join("; ");
    if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}: ${words(x)}`).join("; ");
    return String(v);
  }
  function human(err) {
    const status = err.status;
    let title = err.title || "Something went wrong";
    let detail = err.detail !== undefined ? words(err.detail) : String(err.message || err);
    if (status === 401) {
      detail = "That API key was not accepted. Check that you pasted all of it (it starts with sp_), or ask an admin for a new one.";
    } else if (status >= 500) {
      title = "Something went wrong on the service";
      detail = "Try again in a minute; if it happens again, tell whoever runs salesplan and quote the request number below.";
    }
    if (TITLES[status]) title = TITLES[status];
    return { title, detail };
  }

  function showProblem(box, err) {
    if (!box) return;
    box.replaceChildren();
    if (!err) { box.hidden = true; return; }
    const { title, detail } = err.status !== undefined ? human(err) : { title: err.title || "Error", detail: words(err.detail) };
    box.append(el("strong", { class: "problem-title", text: title }));
    if (detail) box.append(el("span", { class: "problem-detail", text: ` ${detail}` }));
    if (err.body && err.body.request_id) box.append(el("small", { class: "rid", text: ` (request ${err.body.request_id})` }));
    box.hidden = false;
  }

  // An error must not leave the previous answer on screen as if it were this one: clear what the section
  // shows (charts, tables, key figures, meta lines) before showing the problem.
  function clearResults(target) {
    if (!target) return;
    const hide = (node) => { if (!node.hidden) { node.hidden = true; node.dataset.cleared = "1"; } };
    for (const c of $$(".chart", target)) { if (window.Plotly) window.Plotly.purge(c); c.replaceChildren(); hide(c); }
    for (const t of $$("table.data", target)) { t.tBodies[0]?.replaceChildren(); t.tFoot?.replaceChildren(); hide(t); }
    for (const k of $$(".kpis, [data-result]", target)) k.replaceChildren();
    for (const m of $$(".meta", target)) m.textContent = "";
  }

  // Run fn with a busy state on `target` (section) and `button`; errors go to `errorBox`. `replace`: fn
  // computes the section's answer (a query, not an action on what is shown), so an error clears it.
  async function busy(target, button, errorBox, fn, replace = false) {
    if (errorBox) showProblem(errorBox, null);
    // what the last error hid comes back for the next answer (pages that show tables never re-show them)
    if (target) for (const node of $$("[data-cleared]", target)) { node.hidden = false; delete node.dataset.cleared; }
    if (target) { target.setAttribute("aria-busy", "true"); target.classList.add("loading"); }
    const label = button ? button.textContent : null;
    if (button) { button.disabled = true; button.textContent = `${label}…`; }
    try {
      return await fn();
    } catch (err) {
      if (err.status === 401) return signOut("Your API key is no longer accepted (it may have been revoked): enter a current one.");
      if (errorBox) { if (replace) clearResults(target); showProblem(errorBox, err); } else throw err;
      return undefined;
    } finally {
      if (target) { target.removeAttribute("aria-busy"); target.classList.remove("loading"); }
      // restore only what we changed: fn may have re-labelled or disabled the button on purpose
      if (button && button.textContent === `${label}…`) { button.disabled = false; button.textContent = label; }
    }
  }

  const query = (target, button, errorBox, fn) => busy(target, button, errorBox, fn, true);

  function toast(text) {
    const t = $("#toast");
    t.textContent = text;
    t.classList.add("show");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => t.classList.remove("show"), 4000);
  }

  // ---- formatting ----
  const nf0 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const nf2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const fmt = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(v) ? "–" : (digits ? nf2 : nf0).format(v));
  const pct = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(v) ? "–" : `${(v * 100).toFixed(digits)} %`);
  const can = (perm) => !!me && (me.permissions || []).includes(perm);
  // Money in the service's currency (SALESPLAN_CURRENCY, on <body data-currency>), whole units.
  let moneyFmt = null;
  function money(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (!moneyFmt) {
      const currency = document.body.dataset.currency || "USD";
      try { moneyFmt = new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits: 0 }); }
      catch (_) { moneyFmt = { format: (x) => `${nf0.format(x)} ${currency}` }; }
    }
    return moneyFmt.format(v);
  }

  // A unit's name without its level keys: "region=North/category=Snacks" → "North · Snacks" (the id stays
  // in title attributes, option values and data-unit for lookups).
  const unitName = (id) => String(id ?? "").split("/").map((part) => part.replace(/^[^=]*=/, "")).join(" · ");

  // ---- sign-in and navigation ----
  function signOut(message) {
    store.removeItem(KEY);
    me = null;
    render();
    if (message) showProblem($("#signin-error"), { title: "Signed out", detail: message });
  }

  function render() {
    const signedIn = !!me;
    $("#signin-box").hidden = signedIn;
    $("#content").hidden = !signedIn;
    $("#who").hidden = !signedIn;
    for (const li of $$("#nav li")) li.hidden = !signedIn || !can(li.dataset.perm);
    if (!signedIn) { $("#api-key").focus(); return; }
    $("#who-name").textContent = `${me.name} · ${me.role}`;
    const perm = document.body.dataset.permission;
    const allowed = can(perm);
    $("#forbidden").hidden = allowed;
    $("#page-body").hidden = !allowed;
    if (!allowed) {
      const pages = $$("#nav li:not([hidden]) a").map((a) => a.textContent);
      $("#forbidden-text").textContent = `Your role (${me.role}) may not use this page (needs ${perm}).` +
        (pages.length ? ` Pages you can use: ${pages.join(", ")}.` : " Ask an admin for a planner or analyst key.");
      return;
    }
    if (pageInit && !render.started) { render.started = true; pageInit(me); }
  }

  async function loadMe() {
    if (!key()) { me = null; render(); return; }
    try {
      me = await get("/api/v1/me");
      showProblem($("#signin-error"), null);
    } catch (err) {
      me = null;
      if (err.status === 401) store.removeItem(KEY);
      showProblem($("#signin-error"), err);
    }
    render();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#signin").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const input = $("#api-key");
      const value = input.value.trim();
      if (!value) return;
      store.setItem(KEY, value);
      input.value = "";
      // a page already set up for another key starts afresh, so it reflects the new role
      if (render.started) { location.reload(); return; }
      await loadMe();
      // keyboard users go on from the page's own tab (the sign-in form they were in is gone)
      if (me) $("#nav a[aria-current]")?.focus();
    });
    $("#signout").addEventListener("click", () => signOut());
    // signing in or out in another tab applies here too
    // (a sign-in elsewhere only fills a tab still at the sign-in box: a working tab keeps its edits)
    window.addEventListener("storage", (ev) => {
      if (ev.key !== KEY) return;
      if (!ev.newValue && me) signOut("You signed out in another tab.");
      else if (ev.newValue && !me) loadMe();
    });
    loadMe();
  });

  return {
    api, apiKey: key, get, post, patch, qs, $, $$, el, showProblem, clearResults, busy, query, toast, fmt, pct, money, unitName, can,
    me: () => me,
    page: (init) => { pageInit = init; if (me && !render.started) render(); },
    Problem,
  };
})();
window.SP = SP;
