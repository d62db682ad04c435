// Forecast page: hierarchy level + units + period → actuals and the P10–P90 fan; price/promo what-if.
// The periods offered are the ones the batch holds (the data's frequency and every coarser one).
"use strict";

(() => {
  const { $, el, get, post, busy, fmt } = SP;
  let levels = [];
  let base = "W";
  const PERIOD = { D: "Day", W: "Week", M: "Month", Q: "Quarter", Y: "Year" };
  const ADJ = { D: "daily", W: "weekly", M: "monthly", Q: "quarterly", Y: "yearly" };

  function fillUnits(levelName) {
    const level = levels.find((l) => l.name === levelName);
    const units = level ? level.units : [];
    $("#fc-units").replaceChildren(...units.map((u, i) => el("option", { value: u, selected: i < 3 }, SP.unitName(u))));
  }

  function bottomLevel() {
    // The bottom of the hierarchy is the level with the most units (product × store for sell-out).
    return levels.reduce((best, l) => (!best || l.units.length > best.units.length ? l : best), null);
  }

  function addPeriods(iso, n, freq) {
    // n periods of the data's frequency after the period starting on iso (months, quarters, years by
    // the calendar; periods are dated by their first day)
    const d = new Date(`${iso}T00:00:00Z`);
    const months = { M: 1, Q: 3, Y: 12 }[freq];
    if (months) d.setUTCMonth(d.getUTCMonth() + months * n);
    else d.setUTCDate(d.getUTCDate() + (freq === "D" ? 1 : 7) * n);
    return d.toISOString().slice(0, 10);
  }

  async function showForecast(button) {
    const ids = Array.from($("#fc-units").selectedOptions).map((o) => o.value);
    const level = $("#fc-level").value;
    const freq = $("#fc-freq").value;
    if (!ids.length) {
      SP.showProblem($("#fc-error"), { title: "Pick a unit", detail: "select at least one unit of the level" });
      return;
    }
    await SP.query($("#fc-section"), button, $("#fc-error"), async () => {
      const data = await get("/api/v1/forecasts", { level, ids, freq });
      const toDate = await actualsToDate(data, level, ids, freq);
      const series = ids.map((id) => ({
        name: SP.unitName(id),
        history: data.history.filter((r) => r.unique_id === id),
        // the period in progress: its actuals so far plus the forecast of the rest (the batch forecasts only
        // the rest); other partial periods (the horizon's end) would look like a collapse: table only
        forecast: data.rows.filter((r) => r.unique_id === id && (!(r.coverage < 0.999) || toDate.has(key(r))))
          .map((r) => (toDate.has(key(r)) ? shifted(r, toDate.get(key(r))) : r)),
      }));
      Charts.fan($("#fc-chart"), series, `${level}: actuals and ${ADJ[freq] || freq} forecast (median, P10–P90)`);
      $("#fc-model").textContent = modelText(data.model);
      const tbody = $("#fc-table tbody");
      tbody.replaceChildren(...data.rows.slice(0, 60).map((r) => el("tr", {},
        el("td", { title: r.unique_id }, SP.unitName(r.unique_id)),
        el("td", {}, periodLabel(r, toDate)),
        ...[r.q10, r.yhat, r.q50 ?? r.yhat, r.q90].map((v) => el("td", { class: "num" }, fmt(toDate.has(key(r)) ? v + toDate.get(key(r)) : v))),
        el("td", { class: "method" }, r.method === "sum" ? "sum of its children" : (r.method || "")))));
      $("#fc-table").hidden = !data.rows.length;
    });
  }

  async function runWhatIf(button) {
    const ids = Array.from($("#wi-ids").selectedOptions).map((o) => o.value);
    if (!ids.length) {
      SP.showProblem($("#wi-error"), { title: "Pick products", detail: "select at least one product × store" });
      return;
    }
    const body = { ids, start: $("#wi-start").value, end: $("#wi-end").value, promo: Number($("#wi-promo").value) };
    const price = $("#wi-price").value;
    if (price !== "") body.price_change_pct = Number(price);
    const depth = $("#wi-depth").value;
    if (depth !== "") body.promo_depth = Number(depth) / 100;
    await SP.query($("#wi-section"), button, $("#wi-error"), async () => {
      const data = await post("/api/v1/forecasts/what-if", body);
      const s = data.summary;
      const units = (v) => fmt(v, Math.abs(v) < 100 ? 2 : 0); // slow sellers: keep the decimals
      $("#wi-summary").replaceChildren(
        kpi("Baseline units", units(s.baseline)), kpi("Scenario units", units(s.scenario)),
        kpi("Difference", `${s.scenario - s.baseline >= 0 ? "+" : ""}${units(s.scenario - s.baseline)}`),
        kpi("Lift", s.lift_pct === null || s.lift_pct === undefined ? "–" : `${s.lift_pct >= 0 ? "+" : ""}${Number(s.lift_pct).toFixed(1)} %`),
        kpi("Other products of the category in the store", `${s.siblings_diff >= 0 ? "+" : ""}${units(s.siblings_diff)}`));
      const byDs = new Map();
      for (const r of data.rows.filter((row) => row.changed !== false)) {
        const acc = byDs.get(r.ds) || { baseline: 0, scenario: 0 };
        acc.baseline += r.baseline; acc.scenario += r.scenario;
        byDs.set(r.ds, acc);
      }
      const ds = Array.from(byDs.keys()).sort();
      Charts.lines($("#wi-chart"), [
        { name: "Baseline", x: ds, y: ds.map((d) => byDs.get(d).baseline) },
        { name: "Scenario", x: ds, y: ds.map((d) => byDs.get(d).scenario) },
        { name: "Difference", x: ds, y: ds.map((d) => byDs.get(d).scenario - byDs.get(d).baseline), dash: "dot" },
      ], { title: `What-if: units per ${(PERIOD[base] || "period").toLowerCase()}`, yTitle: "units" });
    });
  }

  const key = (r) => `${r.unique_id}|${r.ds}`;
  const shifted = (r, done) => ({ ...r, q05: r.q05 === undefined ? undefined : r.q05 + done, q10: r.q10 + done,
    q50: (r.q50 ?? r.yhat) + done, q90: r.q90 + done, q95: r.q95 === undefined ? undefined : r.q95 + done, inProgress: true });

  function periodLabel(r, toDate) {
    const name = r.period || r.ds;
    if (toDate.has(key(r))) return `${name} (in progress: ${fmt(toDate.get(key(r)))} so far + forecast of the rest)`;
    return r.coverage < 0.999 ? `${name} (partial: the forecast covers ${Math.round(r.coverage * 100)} % of it)` : name;
  }

  // The current period of a coarser view (this quarter of weekly data) is partly over: the batch forecasts
  // only its rest, and its history row is missing. Sum the actuals so far from the data's own periods so
  // the chart shows the whole period (map "unit|period start" → units so far).
  async function actualsToDate(data, level, ids, freq) {
    const out = new Map();
    const first = data.rows.filter((r) => r.coverage < 0.999);
    if (freq === base || !first.length) return out;
    const start = data.rows.reduce((m, r) => (r.ds < m ? r.ds : m), data.rows[0].ds);
    const current = first.filter((r) => r.ds === start);
    if (!current.length) return out;
    const fine = await get("/api/v1/forecasts", { level, ids, freq: base });
    const end = addPeriods(start, 1, freq);
    for (const r of current) {
      const done = fine.history.filter((h) => h.unique_id === r.unique_id && h.ds >= start && h.ds < end)
        .reduce((a, h) => a + h.y, 0);
      out.set(key(r), done);
    }
    return out;
  }

  function modelText(m) {
    return m ? `Model ${m.name} version ${m.version} (run ${String(m.run_id).slice(0, 8)})` : "";
  }

  function kpi(label, value) {
    return el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, label), el("span", { class: "kpi-value" }, value));
  }

  SP.page(async () => {
    $("#fc-level").addEventListener("change", (e) => fillUnits(e.target.value));
    $("#fc-form").addEventListener("submit", (e) => { e.preventDefault(); showForecast($("#fc-show")); });
    $("#wi-form").addEventListener("submit", (e) => { e.preventDefault(); runWhatIf($("#wi-run")); });
    await busy($("#fc-section"), $("#fc-show"), $("#fc-error"), async () => {
      const data = await get("/api/v1/forecasts/levels");
      levels = data.levels;
      $("#fc-level").replaceChildren(...levels.map((l) => el("option", { value: l.name }, `${l.name} (${l.units.length})`)));
      const start = levels.find((l) => l.name === "region") || levels[0];
      if (start) { $("#fc-level").value = start.name; fillUnits(start.name); }
      const bottom = levels.find((l) => l.name === data.bottom) || bottomLevel();
      base = data.freq || "W";
      if (data.first_week) {
        for (const id of ["#wi-start", "#wi-end"]) {
          $(id).min = data.first_week;
          if (data.last_week) $(id).max = data.last_week;
        }
        $("#wi-start").value = data.first_week;
        const end = addPeriods(data.first_week, 3, base);
        $("#wi-end").value = data.last_week && end > data.last_week ? data.last_week : end;
      }
      $("#fc-model").textContent = modelText(data.model);
      if (bottom) {
        $("#wi-ids").replaceChildren(...bottom.units.map((u, i) => el("option", { value: u, selected: i === 0 }, SP.unitName(u))));
      }
      const freqs = data.freqs && data.freqs.length ? data.freqs : [base];
      // default: the first coarser period (months for weekly data), else the data's own
      const pick = freqs.find((f) => f !== base) || freqs[0];
      $("#fc-freq").replaceChildren(...freqs.map((f) => el("option", { value: f, selected: f === pick }, PERIOD[f] || f)));
      const unit = (PERIOD[base] || "Period").toLowerCase();
      $("#wi-start-label").textContent = `From ${unit}`;
      $("#wi-end-label").textContent = `To ${unit}`;
    });
    if (levels.length) await showForecast($("#fc-show"));
  });
})();
