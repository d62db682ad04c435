// Deals page (read-only): weighted pipeline of a quarter by a cut, and the scored open deals with reasons.
"use strict";

(() => {
  const { $, el, get, busy, fmt, pct, can } = SP;
  const PAGE = 25;
  let offset = 0;
  let total = 0;

  // The approved bookings target of the quarter (top and per unit), for pipeline-vs-target coverage; null
  // when none is approved or the key may not read proposals.
  async function approvedTarget(quarter) {
    if (!can("proposals:read")) return null;
    const list = await get("/api/v1/targets/proposals", { quarter, status: "approved", limit: 20 });
    const header = list.items.find((h) => String(h.scope || "").startsWith("bookings"));
    if (!header) return null;
    const p = await get(`/api/v1/targets/proposals/${encodeURIComponent(header.id)}`);
    const byUnit = new Map(p.rows.map((r) => [SP.unitName(r.unit_id), r.target]));
    return { id: p.id, total: p.company ? p.company.target : null, byUnit };
  }

  const cover = (v, t) => (t ? `${(v / t).toFixed(1)}×` : "–");

  async function showPipeline(button) {
    const by = $("#pp-by").value;
    await SP.query($("#pipe-section"), button, $("#pipe-error"), async () => {
      const data = await get("/api/v1/pipeline", { quarter: $("#pp-quarter").value.trim(), by });
      const keyCol = by === "total" ? "group" : by === "rep" ? "rep_id" : by;
      const rows = data.rows;
      const names = rows.map((r) => (r.rep_name ? `${r.rep_name} (${r[keyCol]})` : String(r[keyCol] ?? r.group ?? "")));
      $("#pp-quarter").placeholder = data.quarter;
      const past = data.quarter < quarterOf(data.as_of);
      if (!rows.length || rows.every((r) => !r.n_deals)) {
        $("#pipe-table").hidden = true;
        $("#pipe-chart").hidden = true;
        $("#pipe-meta").textContent = past
          ? `${data.quarter} is over (the CRM runs to ${data.as_of}): no open deals are expected to close in it. ` +
            "Its won deals are on the Tracking page; pick this or a later quarter for the pipeline."
          : `No open deals are expected to close in ${data.quarter} (CRM as of ${data.as_of}).`;
        return;
      }
      const target = await approvedTarget(data.quarter).catch(() => null);
      const tFor = (name, r) => (by === "total" ? target && target.total : target && target.byUnit.get(String(r[keyCol])));
      $("#pipe-meta").textContent = `${data.quarter}: open deals as of ${data.as_of}, scored by ${data.model.name} version ${data.model.version}. ` +
        (target ? "Coverage = pipeline ÷ the approved bookings target." : `No approved bookings target for ${data.quarter} yet: coverage needs one (Targets page).`);
      const sum = (k) => rows.reduce((a, r) => a + (r[k] || 0), 0);
      const money = SP.money;
      const line = (head, r, t) => [el("th", { scope: "row" }, head), el("td", { class: "num" }, fmt(r.n_deals)),
        el("td", { class: "num" }, money(r.pipeline_value)), el("td", { class: "num" }, money(r.expected_value)),
        el("td", { class: "num" }, money(r.q10)), el("td", { class: "num" }, money(r.q90)),
        el("td", { class: "num" }, money(r.commit_value)), el("td", { class: "num" }, money(r.best_case_value)),
        el("td", { class: "num" }, money(t)), el("td", { class: "num", "data-coverage": t ? String(r.pipeline_value / t) : "" }, cover(r.pipeline_value, t))];
      const body = rows.map((r, i) => el("tr", {}, line(names[i], r, tFor(names[i], r))));
      $("#pipe-table tbody").replaceChildren(...body);
      const foot = $("#pipe-table tfoot");
      foot.replaceChildren();
      if (by !== "total") {
        // P10/P90 of a sum are not the sums of the groups' P10/P90: left out of the total line
        const tot = { n_deals: sum("n_deals"), pipeline_value: sum("pipeline_value"), expected_value: sum("expected_value"),
          q10: null, q90: null, commit_value: sum("commit_value"), best_case_value: sum("best_case_value") };
        foot.append(el("tr", { class: "total" }, line("Total", tot, target && target.total)));
      }
      $("#pipe-table").hidden = false;
      Charts.draw($("#pipe-chart"), [
        { type: "bar", name: "Pipeline (unweighted)", x: names, y: rows.map((r) => r.pipeline_value), marker: { color: "#9db7e0" } },
        { type: "bar", name: "Expected won value (P10–P90)", x: names, y: rows.map((r) => r.expected_value),
          marker: { color: Charts.PALETTE[0] },
          error_y: { type: "data", symmetric: false, color: "#1f2328",
            array: rows.map((r) => (r.q90 ?? r.expected_value) - r.expected_value),
            arrayminus: rows.map((r) => r.expected_value - (r.q10 ?? r.expected_value)) } },
      ], { barmode: "group", hovermode: "closest", title: { text: `Weighted pipeline ${data.quarter} by ${by}`, font: { size: 15 } },
        yaxis: { title: { text: `value (${document.body.dataset.currency || ""})` } } });
    });
  }

  function quarterOf(iso) {
    const d = new Date(`${iso}T00:00:00Z`);
    return `${d.getUTCFullYear()}Q${Math.floor(d.getUTCMonth() / 3) + 1}`;
  }

  async function showDeals(button) {
    await SP.query($("#open-section"), button, $("#open-error"), async () => {
      const data = await get("/api/v1/deals/open", { limit: PAGE, offset, sort: $("#od-sort").value, grade: $("#od-grade").value });
      total = data.total;
      $("#open-meta").textContent = `${fmt(total)} open deals · model ${data.model.name} version ${data.model.version}`;
      const who = (name, id) => (name ? [name, el("small", {}, ` ${id}`)] : id || "");
      $("#open-table tbody").replaceChildren(...(data.rows.length ? data.rows.map((d) => el("tr", {},
        el("th", { scope: "row" }, who(d.account_name, d.opportunity_id)), el("td", {}, who(d.rep_name, d.rep_id)), el("td", {}, d.region || ""),
        el("td", {}, d.product || ""), el("td", {}, d.stage || ""), el("td", { class: "num" }, SP.money(d.amount)),
        el("td", {}, d.expected_close_date || ""), el("td", { class: "num" }, pct(d.p_win)),
        el("td", { class: "num" }, String(d.score)),
        el("td", {}, el("span", { class: `badge grade-${d.grade}` }, d.grade)),
        el("td", {}, el("ul", { class: "reasons" }, (d.reasons || []).map((r) => el("li", {}, r))))))
        : [el("tr", {}, el("td", { colspan: "11" }, "No open deals match."))]));
      $("#open-table tfoot").replaceChildren(el("tr", { class: "total" },
        el("th", { scope: "row", colspan: "5" }, `Total of ${fmt(total)} deals (all pages)`),
        el("td", { class: "num", id: "od-amount-total" }, SP.money(data.amount_total)),
        el("td", {}, ""), el("td", { class: "num", colspan: "2" }, `expected ${SP.money(data.expected_total)}`),
        el("td", { colspan: "2" }, "")));
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
