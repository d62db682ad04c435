// Tracking page: plan vs actual vs landing per unit (with the selected unit's fan chart), spend vs caps,
// the alerts with acknowledge / resolve, and exports of every table (CSV and Excel) through the API.
"use strict";

(() => {
  const { $, $$, el, get, post, busy, fmt, pct, toast, can } = SP;
  let last = null;
  let selected = null;

  const params = () => ({ quarter: $("#tr-quarter").value.trim(), level: $("#tr-level").value, as_of: $("#tr-asof").value, domain: $("#tr-domain").value });

  async function download(table, format) {
    const q = SP.qs({ ...params(), table, format });
    const res = await fetch(`/api/v1/tracking:export?${q}`, { headers: { "X-API-Key": SP.apiKey() || "" } });
    if (!res.ok) throw new SP.Problem(await res.json().catch(() => ({ title: `HTTP ${res.status}` })), res.status);
    const name = (res.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
    const filename = name ? name[1] : `tracking_${table}.${format}`;
    const url = URL.createObjectURL(await res.blob());
    const a = el("a", { href: url, download: filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast(`downloaded ${filename}`);
  }

  function chart(unitId) {
    selected = unitId;
    $$("#tr-table tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.unit === unitId));
    const s = last.series.filter((r) => r.unit_id === unitId);
    const u = last.units.find((r) => r.unit_id === unitId);
    const x = s.map((r) => r.ds);
    const fan = s.filter((r) => r.landing_p50 !== null);
    Charts.draw($("#tr-chart"), [
      { x: fan.map((r) => r.ds), y: fan.map((r) => r.landing_p90), mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
      { x: fan.map((r) => r.ds), y: fan.map((r) => r.landing_p10), mode: "lines", line: { width: 0 }, fill: "tonexty",
        fillcolor: "rgba(31,95,191,0.2)", name: "Landing P10–P90" },
      { x: fan.map((r) => r.ds), y: fan.map((r) => r.landing_p50), mode: "lines", name: "Landing P50", line: { color: Charts.PALETTE[0], dash: "dash", width: 2 } },
      { x, y: s.map((r) => r.actual_cum), mode: "lines+markers", name: "Actual", line: { color: "#1f2328", width: 2 }, marker: { size: 5 } },
      { x, y: s.map((r) => r.plan_cum), mode: "lines", name: "Plan (phased target)", line: { color: Charts.PALETTE[1], width: 2 } },
    ], { title: { text: `${SP.unitName(unitId)}: cumulative plan, actual and landing (P(hit) ${pct(u.p_hit)})`, font: { size: 15 } },
      yaxis: { title: { text: last.measure === "won_value" ? `won value (${document.body.dataset.currency})` : last.measure || "units" } }, hovermode: "x unified" });
    $("#tr-chart").dataset.unit = unitId;
    deals(unitId);
  }

  function deals(unitId) {  // bookings only: the unit's open deals that can still book, best first
    $("#dl-section").hidden = !last.deals;
    if (!last.deals) return;
    const rows = last.deals.filter((r) => r.unit_id === unitId).sort((a, b) => b.expected_value - a.expected_value).slice(0, 25);
    $("#dl-title").textContent = `Open deals of ${SP.unitName(unitId)} that can still book this quarter`;
    $("#dl-table tbody").replaceChildren(...(rows.length ? rows.map((r) => el("tr", { "data-deal": r.opportunity_id },
      el("th", { scope: "row" }, r.deal), el("td", { class: "num" }, fmt(r.amount)), el("td", { class: "num" }, pct(r.p_win)),
      el("td", { class: "num" }, fmt(r.expected_value)), el("td", {}, String(r.expected_close_date).slice(0, 10))))
      : [el("tr", {}, el("td", { colspan: "5" }, "No open deal expected to close this quarter."))]));
  }

  function units(d) {
    $("#tr-table tbody").replaceChildren(...d.units.map((r) => el("tr", { "data-unit": r.unit_id, class: r.pace < -0.1 ? "behind" : "", tabindex: "0",
      onclick: () => chart(r.unit_id), onkeydown: (e) => { if (e.key === "Enter") chart(r.unit_id); } },
      el("th", { scope: "row", title: r.unit_id }, SP.unitName(r.unit_id)), el("td", {}, r.level), el("td", { class: "num" }, fmt(r.target)),
      el("td", { class: "num" }, fmt(r.actual_to_date)), el("td", { class: "num" }, fmt(r.plan_to_date)),
      el("td", { class: "num pace" }, r.pace === null ? "–" : `${r.pace >= 0 ? "+" : ""}${pct(r.pace)}`),
      el("td", { class: "num" }, fmt(r.landing_p10)), el("td", { class: "num" }, fmt(r.landing_p50)), el("td", { class: "num" }, fmt(r.landing_p90)),
      el("td", { class: "num" }, pct(r.p_hit)), el("td", { class: "num" }, pct(r.p_hit_at_approval)))));
    $("#tr-table").hidden = false;
    const levels = Array.from(new Set(d.units.map((r) => r.level)));
    if ($("#tr-level").options.length === 1) $("#tr-level").append(...levels.map((l) => el("option", { value: l }, l)));
  }

  function spend(d) {
    if (!d.spend) {
      $("#sp-meta").textContent = "No spend budgets loaded (salesplan actuals load FILE --kind budget).";
      $("#sp-table").hidden = true; $("#sp-chart").hidden = true;
      return;
    }
    $("#sp-meta").textContent = "";
    const names = d.spend.map((r) => `${r.channel} / ${r.region}`);
    Charts.draw($("#sp-chart"), [
      { type: "bar", name: "Spend to date", x: names, y: d.spend.map((r) => r.spend_to_date), marker: { color: Charts.PALETTE[0] } },
      { type: "bar", name: "Forecast at quarter end", x: names, y: d.spend.map((r) => r.forecast_spend), marker: { color: "rgba(31,95,191,0.35)" } },
      { type: "scatter", mode: "markers", name: "Soft cap", x: names, y: d.spend.map((r) => r.soft_cap), marker: { symbol: "line-ew-open", size: 26, color: Charts.PALETTE[6], line: { width: 3 } } },
      { type: "scatter", mode: "markers", name: "Hard cap", x: names, y: d.spend.map((r) => r.hard_cap), marker: { symbol: "line-ew-open", size: 26, color: Charts.PALETTE[4], line: { width: 3 } } },
    ], { title: { text: "Spend vs caps per channel × region", font: { size: 15 } }, barmode: "group" });
    $("#sp-table tbody").replaceChildren(...d.spend.map((r) => el("tr", { "data-key": `${r.channel}/${r.region}` },
      el("th", { scope: "row" }, r.channel), el("td", {}, r.region), el("td", { class: "num" }, fmt(r.budget)),
      el("td", { class: "num" }, fmt(r.spend_to_date)), el("td", { class: "num" }, fmt(r.budget_to_date)),
      el("td", { class: "num" }, fmt(r.forecast_spend)), el("td", { class: "num" }, fmt(r.soft_cap)), el("td", { class: "num" }, fmt(r.hard_cap)),
      el("td", { class: "num" }, fmt(r.cost_per_outcome, 3)), el("td", { class: "num" }, fmt(r.planned_cost_per_outcome, 3)), el("td", {}, r.status))));
    $("#sp-table").hidden = false;
  }

  async function setStatus(id, verb) {
    await busy($("#al-section"), null, $("#al-error"), async () => {
      const a = await post(`/api/v1/alerts/${encodeURIComponent(id)}:${verb}`, {});
      toast(`alert on ${SP.unitName(a.unit_id)} ${a.status}`);
      await showAlerts();
    });
  }

  async function showAlerts() {
    const q = $("#tr-quarter").value.trim();
    const d = await get("/api/v1/alerts", { quarter: q });
    const write = can("alerts:write");
    const items = d.items.filter((a) => a.status !== "resolved");
    $("#al-list").replaceChildren(...(items.length ? items.map((a) => el("li", { class: a.severity, "data-alert": a.id, "data-status": a.status },
      el("strong", {}, `${a.severity} · ${SP.unitName(a.unit_id)}`), ` (${a.status}) — ${a.message}`,
      el("span", { class: "action" }, `Suggested: ${a.action}`),
      write && a.status === "open" ? el("button", { type: "button", class: "secondary small", onclick: () => setStatus(a.id, "acknowledge") }, "Acknowledge") : "",
      write ? el("button", { type: "button", class: "secondary small", onclick: () => setStatus(a.id, "resolve") }, "Resolve") : ""))
      : [el("li", {}, "No open alerts.")]));
  }

  async function show(button) {
    await SP.query($("#tr-section"), button, $("#tr-error"), async () => {
      const d = await get("/api/v1/tracking", params());
      last = d;
      $("#tr-meta").textContent = `${d.quarter} as of ${d.as_of}; approved ${d.domain === "bookings" ? "bookings" : "sell-out"} proposal ${d.proposal_id.slice(0, 8)}.` + (d.notes.length ? ` ${d.notes.join(" ")}` : "");
      units(d);
      spend(d);
      const worst = [...d.units].sort((a, b) => a.p_hit - b.p_hit)[0];
      chart(selected && d.units.some((u) => u.unit_id === selected) ? selected : worst.unit_id);
      await showAlerts();
    });
  }

  SP.page(() => {
    $("#tr-quarter").value = new URLSearchParams(location.search).get("quarter") || "";
    $("#tr-form").addEventListener("submit", (e) => { e.preventDefault(); show($("#tr-show")); });
    $("#tr-evaluate").hidden = !can("alerts:write");
    $("#tr-evaluate").addEventListener("click", () => busy($("#al-section"), $("#tr-evaluate"), $("#al-error"), async () => {
      const d = await post(`/api/v1/alerts:evaluate?${SP.qs({ quarter: $("#tr-quarter").value.trim(), as_of: $("#tr-asof").value, domain: $("#tr-domain").value })}`);
      toast(`${d.items.filter((a) => a.status !== "resolved").length} open alerts`);
      await showAlerts();
    }));
    $$("[data-export]").forEach((b) => b.addEventListener("click", () => download(b.dataset.export, b.dataset.format)
      .catch((err) => SP.showProblem($("#tr-error"), err))));
    if ($("#tr-quarter").value) show($("#tr-show"));
  });
})();
