// Deals page (read-only): weighted pipeline of a quarter by a cut, and the scored open deals with reasons.
"use strict";

(() => {
  const { $, el, get, busy, fmt, pct, can } = SP;
  const PAGE = 25;
  let offset = 0;
  let total = 0;

  async function showPipeline(button) {
    const by = $("#pp-by").value;
    await busy($("#pipe-section"), button, $("#pipe-error"), async () => {
      const data = await get("/api/v1/pipeline", { quarter: $("#pp-quarter").value.trim(), by });
      const keyCol = by === "total" ? "group" : by === "rep" ? "rep_id" : by;
      const rows = data.rows;
      const names = rows.map((r) => String(r[keyCol] ?? r.group ?? ""));
      $("#pp-quarter").placeholder = data.quarter;
      $("#pipe-meta").textContent = `${data.quarter}: open deals as of ${data.as_of}, scored by ${data.model.name} version ${data.model.version}`;
      $("#pipe-table tbody").replaceChildren(...rows.map((r, i) => el("tr", {},
        el("th", { scope: "row" }, names[i]), el("td", { class: "num" }, fmt(r.n_deals)),
        el("td", { class: "num" }, fmt(r.pipeline_value)), el("td", { class: "num" }, fmt(r.expected_value)),
        el("td", { class: "num" }, fmt(r.q10)), el("td", { class: "num" }, fmt(r.q90)),
        el("td", { class: "num" }, fmt(r.commit_value)), el("td", { class: "num" }, fmt(r.best_case_value)))));
      $("#pipe-table").hidden = false;
      Charts.draw($("#pipe-chart"), [
        { type: "bar", name: "Pipeline (unweighted)", x: names, y: rows.map((r) => r.pipeline_value), marker: { color: "#9db7e0" } },
        { type: "bar", name: "Expected won value (P10–P90)", x: names, y: rows.map((r) => r.expected_value),
          marker: { color: Charts.PALETTE[0] },
          error_y: { type: "data", symmetric: false, color: "#1f2328",
            array: rows.map((r) => (r.q90 ?? r.expected_value) - r.expected_value),
            arrayminus: rows.map((r) => r.expected_value - (r.q10 ?? r.expected_value)) } },
      ], { barmode: "group", hovermode: "closest", title: { text: `Weighted pipeline ${data.quarter} by ${by}`, font: { size: 15 } },
        yaxis: { title: { text: "value" } } });
    });
  }

  async function showDeals(button) {
    await busy($("#open-section"), button, $("#open-error"), async () => {
      const data = await get("/api/v1/deals/open", { limit: PAGE, offset, sort: $("#od-sort").value, grade: $("#od-grade").value });
      total = data.total;
      $("#open-meta").textContent = `${fmt(total)} open deals · model ${data.model.name} version ${data.model.version}`;
      $("#open-table tbody").replaceChildren(...(data.rows.length ? data.rows.map((d) => el("tr", {},
        el("th", { scope: "row" }, d.opportunity_id), el("td", {}, d.rep_id || ""), el("td", {}, d.region || ""),
        el("td", {}, d.product || ""), el("td", {}, d.stage || ""), el("td", { class: "num" }, fmt(d.amount)),
        el("td", {}, d.expected_close_date || ""), el("td", { class: "num" }, pct(d.p_win)),
        el("td", { class: "num" }, String(d.score)),
        el("td", {}, el("span", { class: `badge grade-${d.grade}` }, d.grade)),
        el("td", {}, el("ul", { class: "reasons" }, (d.reasons || []).map((r) => el("li", {}, r))))))
        : [el("tr", {}, el("td", { colspan: "11" }, "No open deals match."))]));
      const pages = Math.max(1, Math.ceil(total / PAGE));
      $("#od-page").textContent = `Page ${Math.floor(offset / PAGE) + 1} of ${pages}`;
      $("#od-prev").disabled = offset === 0;
      $("#od-next").disabled = offset + PAGE >= total;
    });
  }

  SP.page(() => {
    $("#pipe-section").hidden = !can("pipeline:read");
    $("#pipe-form").addEventListener("submit", (e) => { e.preventDefault(); showPipeline($("#pp-show")); });
    $("#open-form").addEventListener("submit", (e) => { e.preventDefault(); offset = 0; showDeals($("#od-show")); });
    $("#od-prev").addEventListener("click", (e) => { offset = Math.max(0, offset - PAGE); showDeals(e.target); });
    $("#od-next").addEventListener("click", (e) => { offset += PAGE; showDeals(e.target); });
    if (can("pipeline:read")) showPipeline($("#pp-show"));
    showDeals($("#od-show"));
  });
})();
