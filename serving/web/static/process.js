// Process page: full funnel through Operate, time allocation, inefficiencies with evidence, the standard
// cadence, scorecards (with exports and a per-person card) and the capacity plan of a target.
"use strict";

(() => {
  const { $, el, get, api, busy, fmt, pct, toast } = SP;
  const LABELS = { bookings: "Bookings", won_deals: "Won deals", win_rate: "Win rate", activities_per_day: "Activities / day",
    selling_hours_per_day: "Selling hours / day", selling_share: "Share of hours on deals", conv_Find: "Find → Meet",
    conv_Meet: "Meet → Pitch", conv_Pitch: "Pitch → Sign", hours_per_won_deal: "Hours per won deal",
    attainment: "Attainment", ramp_adjusted_attainment: "Ramp-adjusted attainment", adherence: "Cadence adherence",
    low_yield_hours: "Hours on low-yield patterns", team_bookings: "Team bookings", team_attainment: "Team attainment",
    coaching_hours_per_report: "Coaching hours per report per month", onboarded: "Onboardings finished",
    days_to_operate: "Days from Deliver to Operate" };
  const PCT = new Set(["win_rate", "selling_share", "conv_Find", "conv_Meet", "conv_Pitch", "attainment", "ramp_adjusted_attainment", "adherence", "team_attainment"]);
  const known = (v) => v !== null && v !== undefined && Number.isFinite(Number(v));
  const val = (m, v) => (PCT.has(m) ? pct(v) : fmt(v, Math.abs(v) < 100 ? 2 : 0));

  async function download(path, filename) {
    const res = await fetch(path, { headers: { "X-API-Key": SP.apiKey() || "" } });
    if (!res.ok) throw new SP.Problem(await res.json().catch(() => ({ title: `HTTP ${res.status}` })), res.status);
    const url = URL.createObjectURL(await res.blob());
    const a = el("a", { href: url, download: filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast(`downloaded ${filename}`);
  }

  async function showFunnel() {
    await busy($("#pf-section"), null, $("#pf-error"), async () => {
      const d = await get("/api/v1/process/funnel");
      $("#pf-meta").textContent = `As of ${d.as_of}; ${Math.round(d.level * 100)} % intervals.`;
      const steps = d.rows.map((r) => `${r.stage} → ${r.next_stage}`);
      $("#pf-table tbody").replaceChildren(...d.rows.map((r, i) => el("tr", { "data-step": r.next_stage },
        el("th", { scope: "row" }, steps[i]), el("td", { class: "num" }, fmt(r.entered)), el("td", { class: "num" }, fmt(r.converted)),
        el("td", { class: "num" }, fmt(r.lost)), el("td", { class: "num" }, fmt(r.open)), el("td", { class: "num" }, pct(r.rate, 1)),
        el("td", { class: "num" }, `${pct(r.ci_low, 1)} – ${pct(r.ci_high, 1)}`), el("td", { class: "num" }, pct(r.cumulative, 1)),
        el("td", { class: "num" }, fmt(r.median_days)))));
      $("#pf-table").hidden = false;
      Charts.draw($("#pf-chart"), [{ type: "bar", name: "Conversion (95 % interval)", x: steps, y: d.rows.map((r) => r.rate),
        marker: { color: Charts.PALETTE[0] }, error_y: { type: "data", symmetric: false, color: "#1f2328",
          array: d.rows.map((r) => r.ci_high - r.rate), arrayminus: d.rows.map((r) => r.rate - r.ci_low) } },
        { type: "scatter", mode: "lines+markers", name: "Reached from Find", x: steps, y: d.rows.map((r) => r.cumulative),
          line: { color: Charts.PALETTE[1] } }],
        { title: { text: "Each step's conversion and the share of deals that get there", font: { size: 15 } },
          yaxis: { tickformat: ".0%", range: [0, 1.05] }, hovermode: "closest" });
    });
  }

  async function showTime(button) {
    const by = $("#pt-by").value;
    await SP.query($("#pt-section"), button, $("#pt-error"), async () => {
      const d = await get("/api/v1/process/time-allocation", { by });
      const cuts = d.by;
      const cols = [...cuts, "people", "hours", "share_of_hours", "hours_per_person_week", "hours_per_won_deal"];
      $("#pt-table thead tr").replaceChildren(...cols.map((c) => el("th", { scope: "col", class: cuts.includes(c) ? "" : "num" }, c.replaceAll("_", " "))));
      $("#pt-table tbody").replaceChildren(...d.rows.map((r) => el("tr", {}, ...cols.map((c) => el("td", { class: cuts.includes(c) ? "" : "num" },
        cuts.includes(c) ? String(r[c]) : c === "share_of_hours" ? pct(r[c], 1) : fmt(r[c], c === "hours" ? 0 : 1))))));
      $("#pt-table").hidden = false;
      const [first, second] = cuts;
      const groups = Array.from(new Set(d.rows.map((r) => String(r[first]))));
      const series = Array.from(new Set(d.rows.map((r) => (second ? String(r[second]) : "hours"))));
      Charts.bars($("#pt-chart"), groups, series.map((s) => ({ name: s, y: groups.map((g) => d.rows
        .filter((r) => String(r[first]) === g && (second ? String(r[second]) === s : true)).reduce((a, r) => a + r.hours, 0)) })),
        { title: `Hours by ${cuts.join(" × ")} (${Math.round(d.weeks)} weeks)`, yTitle: "hours", barmode: "stack" });
    });
  }

  async function showInefficiencies() {
    await busy($("#pi-section"), null, $("#pi-error"), async () => {
      const d = await get("/api/v1/process/inefficiencies", { limit: 10 });
      $("#pi-meta").textContent = `${d.findings.length} of ${d.evaluated} patterns judged are frequent and low-yield; ranked by the hours they could save.`;
      $("#pi-list").replaceChildren(...(d.findings.length ? d.findings.map((f) => el("li", { class: "finding", "data-pattern": f.label },
        el("strong", {}, f.label), ` — ${fmt(f.hours_saved)} h could be saved. `, f.evidence.summary, ". ",
        el("span", { class: "meta" }, `Most hours: ${f.evidence.top_reps.slice(0, 3).map((x) => `${x.rep_id} (${fmt(x.hours)} h)`).join(", ")}.`)))
        : [el("li", {}, "No pattern is both frequent and low-yield.")]));
    });
  }

  async function showCadence() {
    await busy($("#pc-section"), null, $("#pc-error"), async () => {
      const d = await get("/api/v1/process/cadence");
      $("#pc-list").replaceChildren(...d.standard.map((s) => el("li", { "data-stage": s.stage }, s.text)));
      const e = d.effect;
      $("#pc-effect").textContent = `Keeping it multiplies the odds of moving on by ${fmt(e.odds_ratio, 2)} (95 % ` +
        `${fmt(Math.exp(e.log_odds_low), 2)}–${fmt(Math.exp(e.log_odds_high), 2)}), comparing each rep's own deals; ` +
        `${pct(e.adherence_rate)} of deals keep it. Across reps, adherence and win rate correlate at ${fmt(e.across_rep_spearman, 2)}.`;
    });
  }

  async function showCard(repId) {
    await busy($("#ps-section"), null, $("#ps-error"), async () => {
      const d = await get(`/api/v1/process/scorecards/${encodeURIComponent(repId)}`);
      const c = d.card;
      $("#ps-card-title").textContent = `${repId} · ${c.name || ""} · ${c.role} · ${c.location_group}`;
      $("#ps-card-actions").replaceChildren(...(d.actions.length ? d.actions.map((a) => el("li", {}, known(a.bookings_uplift) ? `${a.action} (about ${fmt(a.bookings_uplift)} more bookings)` : a.action))
        : [el("li", {}, "At or above the role median on every lever.")]));
      $("#ps-card-table tbody").replaceChildren(...Object.keys(LABELS).filter((m) => known(c[m]) || known(c[`bench_${m}`])).map((m) => el("tr", {},
        el("th", { scope: "row" }, LABELS[m]), el("td", { class: "num" }, val(m, c[m])),
        el("td", { class: "num" }, val(m, c[`bench_${m}`])), el("td", { class: `num${c[`gap_${m}`] < 0 ? " bad" : ""}` }, val(m, c[`gap_${m}`])))));
      $("#ps-card-page").onclick = (e) => { e.preventDefault(); download(`/api/v1/process/scorecards/${encodeURIComponent(repId)}/page`, `scorecard-${repId}.html`).catch((err) => SP.showProblem($("#ps-error"), err)); };
      $("#ps-card").hidden = false;
    });
  }

  async function showScorecards(button) {
    await busy($("#ps-section"), button, $("#ps-error"), async () => {
      const d = await get("/api/v1/process/scorecards", { role: $("#ps-role").value, sort: $("#ps-sort").value, limit: 100 });
      const roles = Array.from(new Set(d.benchmarks.map((b) => b.role)));
      if ($("#ps-role").options.length === 1) $("#ps-role").append(...roles.map((r) => el("option", { value: r }, r)));
      $("#ps-meta").textContent = `${fmt(d.total)} people, ${d.start} to ${d.end}.`;
      $("#ps-table tbody").replaceChildren(...d.rows.map((r) => el("tr", { "data-rep": r.rep_id },
        el("th", { scope: "row" }, r.rep_id), el("td", {}, r.role), el("td", {}, r.location_group),
        el("td", { class: "num" }, fmt(r.bookings)), el("td", { class: "num" }, fmt(r.bench_bookings)),
        el("td", { class: "num" }, pct(r.ramp_adjusted_attainment)), el("td", { class: "num" }, fmt(r.activities_per_day, 2)),
        el("td", { class: "num" }, fmt(r.hours_per_won_deal, 1)), el("td", { class: "num" }, pct(r.adherence)),
        el("td", {}, el("ul", { class: "reasons" }, [r.action_1, r.action_2].filter(Boolean).map((a) => el("li", {}, a)))),
        el("td", {}, el("button", { type: "button", class: "secondary small", "aria-label": `Scorecard of ${r.rep_id}`, onclick: () => showCard(r.rep_id) }, "Open")))));
    });
  }

  async function runCapacity(button) {
    await SP.query($("#pk-section"), button, $("#pk-error"), async () => {
      const d = await get("/api/v1/process/capacity", { target: $("#pk-target").value, quarter: $("#pk-quarter").value.trim(), hours_per_rep_month: $("#pk-hours").value });
      const s = d.staffing;
      const kpi = (label, value, id) => el("div", { class: "kpi", id }, el("span", { class: "kpi-label" }, label), el("span", { class: "kpi-value" }, value));
      $("#pk-kpis").replaceChildren(kpi("Hires needed", fmt(s.hires_needed), "pk-hires"), kpi("For the won value", fmt(s.hires_for_value)),
        kpi("For the selling hours", fmt(s.hires_for_time)), kpi("What binds", s.binding, "pk-binding"),
        kpi("Hours the deals need", fmt(d.hours_needed)), kpi("Hours per rep-month", fmt(d.hours_per_rep_month, 1)));
      $("#pk-table tbody").replaceChildren(...d.stages.map((r) => el("tr", {}, el("th", { scope: "row" }, r.stage),
        el("td", { class: "num" }, fmt(r.needed, 1)), el("td", { class: "num" }, pct(r.conversion, 1)), el("td", {}, r.enter_from),
        el("td", {}, r.enter_by), el("td", { class: "num" }, fmt(r.hours_per_deal, 1)), el("td", { class: "num" }, fmt(r.hours)))));
      $("#pk-table").hidden = false;
    });
  }

  SP.page(() => {
    $("#pt-form").addEventListener("submit", (e) => { e.preventDefault(); showTime($("#pt-show")); });
    $("#ps-form").addEventListener("submit", (e) => { e.preventDefault(); showScorecards($("#ps-show")); });
    $("#pk-form").addEventListener("submit", (e) => { e.preventDefault(); runCapacity($("#pk-run")); });
    $("#ps-csv").addEventListener("click", () => download("/api/v1/process/scorecards:export?format=csv", "scorecards.csv").catch((err) => SP.showProblem($("#ps-error"), err)));
    $("#ps-xlsx").addEventListener("click", () => download("/api/v1/process/scorecards:export?format=xlsx", "scorecards.xlsx").catch((err) => SP.showProblem($("#ps-error"), err)));
    showFunnel();
    showTime($("#pt-show"));
    showInefficiencies();
    showCadence();
    showScorecards($("#ps-show"));
  });
})();
