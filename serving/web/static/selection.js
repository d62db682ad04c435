// Selection page: the featured portfolio (ranking by expected margin, the exact pick with its reasons, the
// candidates left out and why) and the promotion plan under a budget (what-if effects per candidate).
"use strict";

(() => {
  const { $, el, get, post, busy, fmt, pct } = SP;
  const signed = (v, digits = 0) => (v === null || v === undefined ? "–" : `${v >= 0 ? "+" : ""}${fmt(v, digits)}`);
  const growth = (v) => (v === null || v === undefined ? "–" : `${v >= 0 ? "+" : ""}${pct(v)}`);
  const num = (id) => ($(id).value === "" ? undefined : Number($(id).value));

  async function runSelection(button) {
    await busy($("#sel-section"), button, $("#sel-error"), async () => {
      const d = await get("/api/v1/selection", {
        market: $("#sel-market").value.trim(), product: $("#sel-product").value.trim(), horizon: $("#sel-horizon").value,
        slots: num("#sel-slots"), max_per_category: num("#sel-cat"), min_margin: num("#sel-min"),
        risk_aversion: num("#sel-risk"), exclude_declining: $("#sel-declining").checked ? "true" : undefined, top: 20,
      });
      $("#sel-meta").textContent = `Level ${d.level}: ${d.candidates} candidates, ${d.span[0]} to ${d.span[1]} (${pct(d.coverage)} of the asked span); `
        + `margin from ${d.margin_source}. ${d.picks.length} picks, expected margin ${fmt(d.expected_margin)}. Model v${d.model.version}.`;
      $("#sel-picks tbody").replaceChildren(...d.picks.map((r) => el("tr", { "data-id": r.unique_id },
        el("th", { scope: "row" }, r.market), el("td", {}, r.product), el("td", {}, r.category), el("td", { class: "num" }, fmt(r.contribution)),
        el("td", { class: "num" }, `${fmt(r.contribution_p10)} – ${fmt(r.contribution_p90)}`), el("td", { class: "num" }, growth(r.growth)),
        el("td", { class: "reason" }, r.reason))));
      $("#sel-picks").hidden = false;
      $("#sel-rank tbody").replaceChildren(...d.ranking.map((r) => el("tr", {},
        el("th", { scope: "row" }, r.market), el("td", {}, r.product), el("td", { class: "num" }, fmt(r.contribution)),
        el("td", { class: "num" }, fmt(r.units)), el("td", { class: "num" }, fmt(r.unit_margin, 2)), el("td", { class: "num" }, growth(r.growth)),
        el("td", { class: "num" }, r.trend === null ? "–" : `${growth(r.trend)} (R² ${fmt(r.trend_strength, 2)})`),
        el("td", { class: "num" }, fmt(r.risk, 2)),
        el("td", {}, ...[r.cold_start ? el("span", { class: "flag" }, "new") : null, r.declining ? el("span", { class: "flag" }, "declining") : null].filter(Boolean)))));
      $("#sel-rank").hidden = false;
      $("#sel-left tbody").replaceChildren(...d.left_out.slice(0, 15).map((r) => el("tr", {},
        el("th", { scope: "row" }, r.market), el("td", {}, r.product), el("td", { class: "num" }, fmt(r.contribution)), el("td", { class: "reason" }, r.reason))));
      $("#sel-left").hidden = d.left_out.length === 0;
    });
  }

  async function runPromotions(button) {
    await busy($("#promo-section"), button, $("#promo-error"), async () => {
      const d = await post("/api/v1/promotions/plan", {
        budget: Number($("#promo-budget").value), max_per_market_week: num("#promo-slots") ?? null,
        market_col: $("#promo-market").value.trim() || "region",
      });
      $("#promo-meta").textContent = `${d.chosen} of ${d.candidates.length} promotions chosen: spend ${fmt(d.spend)}, incremental margin ${signed(d.incremental_margin)}. `
        + `Post-promotion dip measured on the history: ${pct(d.dip[0])} and ${pct(d.dip[1])} in the 1st and 2nd week after.`;
      $("#promo-table tbody").replaceChildren(...d.candidates.map((r) => el("tr", { "data-chosen": String(r.chosen) },
        el("td", {}, r.chosen ? "✓" : ""), el("th", { scope: "row" }, r.candidate_id), el("td", {}, r.market), el("td", {}, r.product),
        el("td", {}, r.start), el("td", { class: "num" }, fmt(r.weeks)), el("td", { class: "num" }, pct(r.depth)),
        el("td", { class: "num" }, signed(r.incremental_units, 1)), el("td", { class: "num" }, signed(r.siblings_diff, 1)),
        el("td", { class: "num" }, signed(r.incremental_margin)), el("td", { class: "reason" }, r.reason))));
      $("#promo-table").hidden = false;
    });
  }

  SP.page(() => {
    $("#sel-form").addEventListener("submit", (e) => { e.preventDefault(); runSelection($("#sel-run")); });
    $("#promo-form").addEventListener("submit", (e) => { e.preventDefault(); runPromotions($("#promo-run")); });
    runSelection($("#sel-run"));
    if (window.SPAccounts) window.SPAccounts.init(); // the accounts section (accounts.js)
  });
})();
