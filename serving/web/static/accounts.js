// Accounts section of the Selection & accounts page: pick a key account, read its joint business plan
// (baseline, gap to peers, levers with who pays, joint target with P(hit), P&L, quarterly review), draft a
// new version, agree a draft (naming the account's signatory) and download it (CSV, Excel, HTML one-pager).
"use strict";

window.SPAccounts = (() => {
  const { $, el, get, post, busy, fmt, pct, money, toast, can } = SP;
  const METRIC = { sales_per_outlet: "Sales per outlet", growth: "Growth vs last year", promo_share: "Promotion share", margin_rate: "Margin rate" };
  const SHARE = new Set(["growth", "promo_share", "margin_rate"]);
  let names = {};
  let shown = null; // the plan on screen: { header, plan }

  const account = () => $("#acc-account").value;
  const num = (id) => ($(id).value === "" ? undefined : Number($(id).value));
  const signedMoney = (v) => (v === null || v === undefined ? "–" : `${v >= 0 ? "+" : "−"}${money(Math.abs(v))}`);
  const metricValue = (metric, v) => (SHARE.has(metric) ? pct(v) : money(v));
  const label = (id) => (names[id] ? `${names[id]} (${id})` : id);

  function kpi(text, value) {
    return el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, text), el("span", { class: "kpi-value" }, value));
  }

  function render(d) {
    const { header: h, plan: p } = d;
    shown = d;
    const who = h.agreed_by ? `agreed by ${h.agreed_by} and ${h.account_signatory} on ${String(h.agreed_at).slice(0, 10)}` : `written by ${h.author}`;
    $("#acc-meta").textContent = `${label(h.account_id)}, ${p.account.segment}, ${p.account.stores.length} outlet(s): version ${h.version} ${h.status}, ${who}. `
      + `Quarters ${h.quarters}; peers: ${p.peer_scope}.`;
    const base = p.quarters.reduce((s, q) => s + q.baseline_p50, 0);
    $("#acc-kpis").replaceChildren(kpi("Joint target", money(p.target)), kpi("P(hit) with the levers", pct(p.p_hit)),
      kpi("P(hit) on the baseline alone", pct(p.p_hit_baseline)), kpi("Baseline P50", money(base)),
      kpi("Opportunity vs top-quartile peers, per quarter", p.opportunity === null ? "not sized: no segment peers" : money(p.opportunity)));
    $("#acc-kpis").hidden = false;
    $("#acc-quarters tbody").replaceChildren(...p.quarters.map((q) => el("tr", {},
      el("th", { scope: "row" }, q.quarter), el("td", { class: "num" }, `${money(q.baseline_p10)} – ${money(q.baseline_p90)}`),
      el("td", { class: "num" }, money(q.baseline_p50)), el("td", { class: "num" }, signedMoney(q.levers)), el("td", { class: "num" }, money(q.plan_p50)),
      el("td", { class: "num" }, money(q.target)), el("td", { class: "num" }, pct(q.p_hit)), el("td", { class: "num" }, pct(q.p_hit_baseline)))));
    $("#acc-quarters").hidden = false;
    $("#acc-gaps tbody").replaceChildren(...p.gaps.map((g) => el("tr", {},
      el("th", { scope: "row" }, METRIC[g.metric] || g.label), el("td", { class: "num" }, metricValue(g.metric, g.account)),
      el("td", { class: "num" }, metricValue(g.metric, g.peer_median)), el("td", { class: "num" }, metricValue(g.metric, g.peer_top_quartile)),
      el("td", { class: "num" }, g.opportunity === null ? "–" : `${money(g.opportunity)} ${g.opportunity_in}`))));
    $("#acc-gaps").hidden = false;
    $("#acc-levers tbody").replaceChildren(...p.levers.map((l) => el("tr", {},
      el("td", {}, l.quarter), el("th", { scope: "row" }, l.lever), el("td", {}, l.source === "what-if" ? "forecaster what-if" : "assumption"),
      el("td", { class: "num" }, signedMoney(l.revenue)), el("td", { class: "num" }, money(l.cost_supplier)), el("td", { class: "num" }, money(l.cost_account)),
      el("td", { class: "num" }, signedMoney(l.net_margin_supplier)), el("td", { class: "reason" }, l.detail))));
    $("#acc-levers").hidden = p.levers.length === 0;
    $("#acc-pnl tbody").replaceChildren(...p.pnl.map((r) => el("tr", {},
      el("th", { scope: "row" }, r.quarter), ...["revenue", "cogs", "gross_margin", "promotion", "marketing", "contribution_margin"].map((c) => el("td", { class: "num" }, money(r[c]))),
      el("td", { class: "num" }, pct(r.cm_pct)))));
    $("#acc-pnl").hidden = false;
    $("#acc-assumptions").replaceChildren(...p.assumptions.map((a) => el("li", {}, a)));
    $("#acc-agree-form").hidden = !(h.status === "draft" && can("accounts:agree"));
    $("#acc-downloads").hidden = false;
    $("#acc-section").dataset.jbpId = h.id;
  }

  function versions(list) {
    $("#acc-versions tbody").replaceChildren(...list.map((v) => el("tr", { "data-status": v.status },
      el("th", { scope: "row" }, `v${v.version}`), el("td", {}, v.status), el("td", {}, v.quarters), el("td", { class: "num" }, money(v.target)),
      el("td", { class: "num" }, pct(v.p_hit)), el("td", {}, v.author), el("td", {}, v.agreed_by ? `${v.agreed_by} / ${v.account_signatory}` : "–"))));
    $("#acc-versions").hidden = list.length === 0;
  }

  async function review(h) {
    try {
      const r = await get(`/api/v1/accounts/${encodeURIComponent(h.account_id)}/jbp/${encodeURIComponent(h.id)}/review`);
      $("#acc-review tbody").replaceChildren(...r.quarters.map((q) => el("tr", {},
        el("th", { scope: "row" }, q.quarter), el("td", { class: "num" }, money(q.target)), el("td", { class: "num" }, `${q.weeks_elapsed} of ${q.weeks}`),
        el("td", { class: "num" }, money(q.actual_to_date)), el("td", { class: "num" }, money(q.plan_to_date)), el("td", { class: "num" }, money(q.landing_p50)),
        el("td", { class: "num" }, pct(q.p_hit)), el("td", {}, q.status))));
      $("#acc-review").hidden = r.quarters.length === 0;
    } catch (err) {
      $("#acc-review").hidden = true; // no weekly forecast for the plan's quarters: the plan still reads
    }
  }

  async function show(button) {
    await busy($("#acc-section"), button, $("#acc-error"), async () => {
      const d = await get(`/api/v1/accounts/${encodeURIComponent(account())}/jbp`);
      versions(d.versions);
      if (!d.current) {
        for (const id of ["#acc-kpis", "#acc-quarters", "#acc-gaps", "#acc-levers", "#acc-pnl", "#acc-review", "#acc-agree-form", "#acc-downloads"]) $(id).hidden = true;
        $("#acc-assumptions").replaceChildren();
        $("#acc-meta").textContent = `${label(account())} has no joint business plan yet: set the levers and draft one.`;
        return;
      }
      render(d.current);
      await review(d.current.header);
    });
  }

  async function draft(button) {
    await busy($("#acc-section"), button, $("#acc-error"), async () => {
      const levers = {
        new_outlets: num("#acc-outlets") ?? 0, promo_weeks: num("#acc-promo-weeks") ?? 0, promo_depth: num("#acc-promo-depth") ?? 0,
        price_change: num("#acc-price") ?? 0, featured_products: num("#acc-featured") ?? 0, service_to: num("#acc-service") ?? 0.95,
      };
      const body = { levers, confidence: num("#acc-confidence") ?? 0.5, target: num("#acc-target") ?? null };
      const d = await post(`/api/v1/accounts/${encodeURIComponent(account())}/jbp`, body);
      toast(`drafted version ${d.header.version} of ${label(d.header.account_id)}`);
      render(d);
      versions((await get(`/api/v1/accounts/${encodeURIComponent(account())}/jbp`)).versions);
      await review(d.header);
    });
  }

  async function agree(button) {
    if (!shown) return;
    await busy($("#acc-section"), button, $("#acc-error"), async () => {
      const h = shown.header;
      const a = await post(`/api/v1/accounts/${encodeURIComponent(h.account_id)}/jbp/${encodeURIComponent(h.id)}:agree`, { signatory: $("#acc-signatory").value.trim() });
      toast(`version ${a.version} agreed`);
      const d = await get(`/api/v1/accounts/${encodeURIComponent(h.account_id)}/jbp`);
      versions(d.versions);
      render(d.current);
    });
  }

  async function download(format) {
    const h = shown && shown.header;
    if (!h) return;
    const res = await fetch(`/api/v1/accounts/${encodeURIComponent(h.account_id)}/jbp/${encodeURIComponent(h.id)}:export?format=${format}`,
      { headers: { "X-API-Key": window.localStorage.getItem("salesplan.apiKey") || "" } });
    if (!res.ok) throw new SP.Problem(await res.json().catch(() => ({ title: `HTTP ${res.status}` })), res.status);
    const m = (res.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
    const filename = m ? m[1] : `jbp.${format}`;
    const url = URL.createObjectURL(await res.blob());
    const a = el("a", { href: url, download: filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast(`downloaded ${filename}`);
  }

  async function init() {
    if (!can("accounts:read")) { $("#acc-section").hidden = true; return; }
    $("#acc-draft").hidden = !can("accounts:write");
    $("#acc-form").addEventListener("submit", (e) => { e.preventDefault(); draft($("#acc-draft")); });
    $("#acc-show").addEventListener("click", () => show($("#acc-show")));
    $("#acc-account").addEventListener("change", () => show($("#acc-show")));
    $("#acc-agree-form").addEventListener("submit", (e) => { e.preventDefault(); agree($("#acc-agree")); });
    $("#acc-downloads").addEventListener("click", (e) => {
      const b = e.target.closest("[data-jbp-export]");
      if (b) download(b.dataset.jbpExport).catch((err) => SP.showProblem($("#acc-error"), err));
    });
    await busy($("#acc-section"), null, $("#acc-error"), async () => {
      const d = await get("/api/v1/accounts");
      names = Object.fromEntries(d.accounts.map((a) => [a.account_id, a.name]));
      $("#acc-account").replaceChildren(...d.accounts.map((a) => el("option", { value: a.account_id },
        `${a.name} (${a.account_id}, ${a.segment}, ${a.outlets} outlet${a.outlets === 1 ? "" : "s"})${a.latest_status ? ` · v${a.latest_version} ${a.latest_status}` : ""}`)));
    });
    if ($("#acc-account").value) await show($("#acc-show"));
  }

  return { init };
})();
