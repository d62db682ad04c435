// Budget page: total + caps/floors per channel → optimal split vs last period, response curves, marginal ROI.
"use strict";

(() => {
  const { $, $$, el, post, busy, fmt, pct } = SP;
  let channels = [];

  function capsRows(names) {
    const known = new Set(channels);
    channels = names;
    if (names.every((n) => known.has(n)) && known.size === names.length) return;
    $("#b-caps-rows").replaceChildren(...names.map((c) => el("div", { class: "cap" },
      el("span", { class: "cap-name" }, c),
      el("label", { for: `cap-${c}` }, "cap"),
      el("input", { id: `cap-${c}`, type: "number", min: "0", step: "any", "data-cap": c, "aria-label": `Cap for ${c}` }),
      el("label", { for: `floor-${c}` }, "floor"),
      el("input", { id: `floor-${c}`, type: "number", min: "0", step: "any", "data-floor": c, "aria-label": `Floor for ${c}` }))));
    $("#b-caps").hidden = !names.length;
  }

  function request() {
    const body = { total: Number($("#b-total").value), periods: Number($("#b-periods").value), caps: {}, floors: {} };
    for (const i of $$("[data-cap]")) if (i.value !== "") body.caps[i.dataset.cap] = Number(i.value);
    for (const i of $$("[data-floor]")) if (i.value !== "") body.floors[i.dataset.floor] = Number(i.value);
    if ($("#b-maxchange").value !== "") body.max_change = Number($("#b-maxchange").value) / 100;
    if ($("#b-roi").value !== "") body.roi_floor = Number($("#b-roi").value);
    return body;
  }

  function kpi(label, value) {
    return el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, label), el("span", { class: "kpi-value" }, value));
  }

  function render(d) {
    capsRows(Array.from(new Set(d.rows.map((r) => r.channel))).sort());
    $("#b-kpis").replaceChildren(
      kpi("Expected outcome", fmt(d.expected_outcome)),
      kpi("Range (P10–P90)", `${fmt(d.outcome_range[0])} – ${fmt(d.outcome_range[1])}`),
      kpi("If split like last period", fmt(d.proportional_outcome)),
      kpi("Uplift", d.uplift === null ? "–" : `${d.uplift >= 0 ? "+" : ""}${pct(d.uplift, 1)}`),
      ...(d.converged ? [] : [kpi("Solver", "did not fully converge")]));
    const lastTotal = d.rows.reduce((acc, r) => acc + (r.last_spend || 0), 0) * d.periods;
    $("#b-kpis").append(el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, "Last period's spend, same length"),
      el("span", { class: "kpi-value" }, SP.money(lastTotal)),
      el("button", { type: "button", class: "secondary small", onclick: (e) => {
        $("#b-total").value = String(Math.round(lastTotal)); run(e.target);
      } }, "Optimise this total")));
    const byChannel = new Map();
    for (const r of d.rows) {
      const a = byChannel.get(r.channel) || { spend: 0, last: 0 };
      a.spend += r.spend * d.periods; a.last += (r.last_spend || 0) * d.periods;
      byChannel.set(r.channel, a);
    }
    const names = Array.from(byChannel.keys());
    Charts.bars($("#b-split"), names, [
      { name: "Optimal", y: names.map((n) => byChannel.get(n).spend) },
      { name: "Last period (same length)", y: names.map((n) => byChannel.get(n).last), color: "#8b949e" },
    ], { title: "Spend over the plan by channel", yTitle: "spend" });
    const spendAt = new Map(d.rows.map((r) => [`${r.channel}|${r.region}`, r.spend]));
    const series = d.curves.map((c, i) => ({ name: `${c.channel} · ${c.region}`, x: c.points.map((p) => p[0]),
      y: c.points.map((p) => p[1]), color: Charts.PALETTE[i % Charts.PALETTE.length], group: `${c.channel}|${c.region}` }));
    const markers = d.curves.map((c, i) => {
      const s = spendAt.get(`${c.channel}|${c.region}`) || 0;
      // outcome at the chosen spend, read off the curve's points (linear between them)
      const pts = c.points; let y = pts[pts.length - 1][1];
      for (let k = 1; k < pts.length; k++) if (s <= pts[k][0]) {
        const [x0, y0] = pts[k - 1], [x1, y1] = pts[k];
        y = y0 + ((s - x0) / (x1 - x0 || 1)) * (y1 - y0); break;
      }
      return { x: [s], y: [y], mode: "markers", showlegend: false, legendgroup: `${c.channel}|${c.region}`,
        marker: { color: Charts.PALETTE[i % Charts.PALETTE.length], size: 10, symbol: "diamond" },
        name: `${c.channel} · ${c.region} chosen` };
    });
    Charts.lines($("#b-curves"), series, { title: "Response curves (◆ = chosen spend per week)",
      xTitle: "spend per week", yTitle: "outcome per week", markers });
    $("#b-table tbody").replaceChildren(...d.rows.map((r) => {
      const change = r.last_spend ? r.spend / r.last_spend - 1 : null;
      return el("tr", {}, el("th", { scope: "row" }, r.channel), el("td", {}, r.region),
        el("td", { class: "num" }, SP.money(r.spend)), el("td", { class: "num" }, SP.money(r.last_spend)),
        el("td", { class: "num" }, change === null ? "–" : `${change >= 0 ? "+" : ""}${pct(change)}`),
        el("td", { class: "num" }, SP.money(r.proportional_spend)), el("td", { class: "num" }, fmt(r.outcome)),
        el("td", { class: "num" }, fmt(r.roi, 2)), el("td", { class: "num" }, fmt(r.marginal_roi, 2)),
        el("td", {}, r.at_bound ? "yes" : ""));
    }));
    $("#b-table").hidden = false;
  }

  async function run(button) {
    await SP.query($("#b-section"), button, $("#b-error"), async () => render(await post("/api/v1/budgets/allocate", request())));
  }

  SP.page(() => {
    $("#b-form").addEventListener("submit", (e) => { e.preventDefault(); run($("#b-run")); });
  });
})();
