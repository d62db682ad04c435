// Shared by every page: the API key in sessionStorage, fetch with problem details, sign-in, role-aware
// navigation, loading states and small DOM/format helpers. Pages register with SP.page(init).
"use strict";

const SP = (() => {
  const KEY = "salesplan.apiKey";
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

  const key = () => sessionStorage.getItem(KEY);

  async function api(method, path, body) {
    const headers = { Accept: "application/json, application/problem+json" };
    const k = key();
    if (k) headers["X-API-Key"] = k;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new Problem({ title: "Network error", detail: `the service did not answer (${err.message}); check that it runs` }, 0);
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

  function showProblem(box, err) {
    if (!box) return;
    box.replaceChildren();
    if (!err) { box.hidden = true; return; }
    const title = err.title || "Error";
    const detail = err.detail !== undefined ? err.detail : String(err.message || err);
    box.append(el("strong", { class: "problem-title", text: title }));
    if (detail) box.append(el("span", { class: "problem-detail", text: ` ${detail}` }));
    if (err.body && err.body.request_id) box.append(el("small", { class: "rid", text: ` (request ${err.body.request_id})` }));
    box.hidden = false;
  }

  // Run fn with a busy state on `target` (section) and `button`; errors go to `errorBox`.
  async function busy(target, button, errorBox, fn) {
    if (errorBox) showProblem(errorBox, null);
    if (target) { target.setAttribute("aria-busy", "true"); target.classList.add("loading"); }
    const label = button ? button.textContent : null;
    if (button) { button.disabled = true; button.textContent = `${label}…`; }
    try {
      return await fn();
    } catch (err) {
      if (err.status === 401) return signOut("Your API key is no longer accepted: sign in again.");
      if (errorBox) showProblem(errorBox, err); else throw err;
      return undefined;
    } finally {
      if (target) { target.removeAttribute("aria-busy"); target.classList.remove("loading"); }
      // restore only what we changed: fn may have re-labelled or disabled the button on purpose
      if (button && button.textContent === `${label}…`) { button.disabled = false; button.textContent = label; }
    }
  }

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

  // ---- sign-in and navigation ----
  function signOut(message) {
    sessionStorage.removeItem(KEY);
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
      if (err.status === 401) sessionStorage.removeItem(KEY);
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
      sessionStorage.setItem(KEY, value);
      input.value = "";
      // a page already set up for another key starts afresh, so it reflects the new role
      if (render.started) { location.reload(); return; }
      await loadMe();
    });
    $("#signout").addEventListener("click", () => signOut());
    loadMe();
  });

  return {
    api, get, post, patch, qs, $, $$, el, showProblem, busy, toast, fmt, pct, can,
    me: () => me,
    page: (init) => { pageInit = init; if (me && !render.started) render(); },
    Problem,
  };
})();
window.SP = SP;
