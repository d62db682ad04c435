// Targets page: the probability slider with the implied company target (curve fetched once per quarter and
// split, interpolated live), create a proposal, override + re-balance, approve/reject, list and compare.
"use strict";

(() => {
  const { $, $$, el, get, post, patch, busy, fmt, pct, can, showProblem, toast } = SP;
  const BASE = "/api/v1/targets/proposals";
  let current = null; // the proposal shown
  let curve = null; // {key, rows:[{p_hit,target}], unit_id}
  const selected = new Set();

  // Implied target at probability p: linear interpolation on the curve (rows sorted by p_hit).
  function implied(p) {
    const rows = curve && curve.rows;
    if (!rows || !rows.length) return null;
    if (p <= rows[0].p_hit) return rows[0].target;
    for (let i = 1; i < rows.length; i++) {
      const a = rows[i - 1], b = rows[i];
      if (p <= b.p_hit) return a.target + ((p - a.p_hit) / (b.p_hit - a.p_hit || 1)) * (b.target - a.target);
    }
    return rows[rows.length - 1].target;
  }

  function showImplied() {
    const p = Number($("#t-prob").value);
    $("#t-prob-out").textContent = pct(p);
    const t = implied(p);
    $("#t-implied").textContent = t === null ? "Implied target: – (pick a quarter)" :
      `Implied ${curve.unit_id || "company"} target: ${fmt(t)} ${curve.measure === "won_value" ? "won value" : "units"} — hit with probability ${pct(p)}`;
    if (curve && curve.rows.length && window.Plotly && !$("#curve-chart").hidden) {
      window.Plotly.restyle($("#curve-chart"), { x: [[p]], y: [[t]] }, [1]);
    }
  }

  async function loadCurve() {
    const quarter = $("#t-quarter").value.trim();
    const by = $("#t-by").value;
    const key = `${quarter}|${by}`;
    if (!/^\d{4}Q[1-4]$/.test(quarter) || (curve && curve.key === key)) { showImplied(); return; }
    await busy(null, null, $("#new-error"), async () => {
      const data = await get("/api/v1/targets/curve", { quarter, by });
      const rows = data.rows.slice().sort((a, b) => a.p_hit - b.p_hit);
      curve = { key, rows, unit_id: data.unit_id, measure: data.measure };
      const p = Number($("#t-prob").value);
      Charts.lines($("#curve-chart"), [
        { name: "Target for P(hit)", x: rows.map((r) => r.p_hit), y: rows.map((r) => r.target) },
        { name: "Chosen", x: [p], y: [implied(p)], mode: "markers" },
      ], { title: `${quarter}: ${curve.unit_id || "company"} target vs probability of hitting it`,
        xTitle: "probability of attainment", yTitle: "target" });
    });
    showImplied();
  }

  // Track record of the shipped method (stored by `salesplan plan backtest`), for the domain the levels plan.
  async function loadTrackRecord() {
    const domain = $("#t-by").value.split(",").some((l) => l === "team" || l === "rep") ? "bookings" : "sellout";
    const table = $("#tr-table"), note = $("#tr-note");
    try {
      const tr = await get("/api/v1/targets/track-record", { domain });
      const body = table.querySelector("tbody");
      body.replaceChildren(...tr.levels.map((r) => el("tr", {},
        el("th", { scope: "row" }, r.level), el("td", {}, pct(r.promised)), el("td", {}, pct(r.hit_rate)),
        el("td", {}, `${pct(r.hit_ci95[0])}–${pct(r.hit_ci95[1])}`), el("td", {}, String(r.units)))));
      const skipped = Object.keys(tr.skipped).length ? `; skipped ${Object.keys(tr.skipped).join(", ")}` : "";
      note.textContent = `${tr.quarters[0]}–${tr.quarters[tr.quarters.length - 1]} on ${tr.source}, ` +
        `${tr.request.method} at P(hit) ${pct(tr.request.probability)} (computed ${tr.computed_at.slice(0, 10)}${skipped}).`;
      table.hidden = false;
    } catch (err) {
      table.hidden = true;
      note.textContent = err.status === 404
        ? `No ${domain} track record yet: run \`salesplan plan backtest\` to replay past quarters.`
        : `Track record unavailable: ${err.message}`;
    }
  }

  // mode=value: the probability of hitting the typed company target (debounced server call)
  let valueTimer = null;
  function valueChanged() {
    clearTimeout(valueTimer);
    const value = $("#t-value").valueAsNumber;
    const out = $("#t-value-p");
    if (Number.isNaN(value) || !curve) { out.textContent = ""; return; }
    valueTimer = setTimeout(() => busy(null, null, $("#new-error"), async () => {
      const [quarter, by] = curve.key.split("|");
      const r = await get("/api/v1/targets/implied-probability", { quarter, by, unit_id: curve.unit_id, value });
      if ($("#t-value").valueAsNumber === value) out.textContent = `Hit with probability ${pct(r.p_hit)}`;
    }), 300);
  }

  function modeChanged() {
    const mode = $("#t-mode").value;
    for (const f of $$("[data-mode]")) f.hidden = f.dataset.mode !== mode;
  }

  // "store=S01=400; region=North=1500" → {"store=S01": 400, "region=North": 1500} (unit ids contain "=")
  function bounds(text, what) {
    const out = {};
    for (const part of text.split(/[;\n]/).map((x) => x.trim()).filter(Boolean)) {
      const cut = part.lastIndexOf("=");
      const unit = part.slice(0, cut).trim();
      const value = Number(part.slice(cut + 1));
      if (cut <= 0 || !unit || part.slice(cut + 1).trim() === "" || !Number.isFinite(value) || value < 0) {
        throw new SP.Problem({ title: `Invalid ${what}`, detail: `"${part}" is not unit=value with a value ≥ 0, e.g. store=S01=400` }, 0);
      }
      out[unit] = value;
    }
    return out;
  }

  function request() {
    const mode = $("#t-mode").value;
    const body = {
      quarter: $("#t-quarter").value.trim(),
      by: $("#t-by").value.split(","),
      mode,
      method: $("#t-method").value,
      over_assignment: Number($("#t-over").value || 0) / 100,
      probability: Number($("#t-prob").value),
    };
    if (mode === "growth") body.growth = Number($("#t-growth").value) / 100;
    if (mode === "value") body.value = Number($("#t-value").value);
    const mc = $("#t-maxchange").value;
    if (mc !== "") body.max_change = Number(mc) / 100;
    const floors = bounds($("#t-floors").value, "floors");
    const caps = bounds($("#t-caps").value, "caps");
    if (Object.keys(floors).length) body.floors = floors;
    if (Object.keys(caps).length) body.caps = caps;
    const note = $("#t-note").value.trim();
    if (note) body.note = note;
    return body;
  }

  function onEdit() {
    const n = Object.keys(ProposalView.edits()).length;
    $("#p-apply").disabled = n === 0;
    $("#p-reset").disabled = n === 0;
    $("#p-apply").textContent = n ? `Apply overrides (${n})` : "Apply overrides";
  }

  function show(p) {
    current = p;
    ProposalView.render(p, onEdit);
    $("#p-apply").textContent = "Apply overrides";
    history.replaceState(null, "", `#proposal=${encodeURIComponent(p.id)}`);
    loadHistory(p.id);
  }

  async function loadHistory(id) {
    try {
      const h = await get(`${BASE}/${encodeURIComponent(id)}/history`);
      if (current && current.id === id) $("#h-table tbody").replaceChildren(...ProposalView.history(h.entries));
    } catch (err) {
      showProblem($("#prop-error"), err);
    }
  }

  async function create(button) {
    await busy($("#new-section"), button, $("#new-error"), async () => {
      const p = await post(BASE, request());
      show(p);
      toast(`Proposal created for ${p.quarter} (draft, version ${p.version})`);
      $("#prop-section").scrollIntoView({ behavior: "smooth" });
      await loadList();
    });
  }

  async function applyOverrides(button) {
    const overrides = ProposalView.edits();
    if (!current || !Object.keys(overrides).length) return;
    await busy($("#prop-section"), button, $("#prop-error"), async () => {
      const p = await patch(`${BASE}/${encodeURIComponent(current.id)}`, { version: current.version, overrides });
      show(p);
      toast(`Re-balanced: ${Object.keys(overrides).join(", ")} fixed; version ${p.version}`);
    });
  }

  async function decide(action, button) {
    if (!current) return;
    const body = { version: current.version };
    if (action === "reject") body.reason = $("#p-reason").value.trim() || null;
    if (action === "approve") body.reason = $("#p-approve-reason").value.trim() || null;
    await busy($("#prop-section"), button, $("#prop-error"), async () => {
      await post(`${BASE}/${encodeURIComponent(current.id)}:${action}`, body);
      $(action === "approve" ? "#p-approve-reason" : "#p-reason").value = "";  // a note belongs to one decision
      show(await get(`${BASE}/${encodeURIComponent(current.id)}`));
      toast(`Proposal ${action === "approve" ? "approved" : "rejected"}`);
      await loadList();
    });
  }

  async function open(id, button) {
    await busy($("#prop-section"), button, $("#prop-error"), async () => {
      $("#prop-section").hidden = false;
      show(await get(`${BASE}/${encodeURIComponent(id)}`));
    });
  }

  async function loadList(button) {
    await busy($("#list-section"), button, $("#list-error"), async () => {
      const data = await get(BASE, { quarter: $("#l-quarter").value.trim(), status: $("#l-status").value, limit: 50 });
      const rows = data.items.map((h) => el("tr", { "data-id": h.id },
        el("td", {}, el("input", { type: "checkbox", "aria-label": `Compare proposal of ${new Date(h.created_at).toLocaleString()}`,
          checked: selected.has(h.id), onchange: (e) => toggle(h.id, e.target.checked) })),
        el("td", {}, new Date(h.created_at).toLocaleString()),
        el("td", {}, h.quarter),
        el("td", {}, ((h.parameters && h.parameters.by) || []).join(" → ")),
        el("td", {}, h.method),
        el("td", {}, el("span", { class: `badge status-${h.status}` }, h.status)),
        el("td", {}, h.author),
        el("td", {}, h.note || ""),
        el("td", {}, el("button", { type: "button", class: "secondary small", onclick: (e) => open(h.id, e.target) }, "Open"))));
      $("#l-table tbody").replaceChildren(...(rows.length ? rows :
        [el("tr", {}, el("td", { colspan: "9" }, "No proposals yet."))]));
    });
  }

  function toggle(id, on) {
    if (on) selected.add(id); else selected.delete(id);
    $("#l-compare").disabled = selected.size !== 2;
  }

  async function compare(button) {
    const [a, b] = Array.from(selected);
    await busy($("#list-section"), button, $("#list-error"), async () => {
      let [pa, pb] = await Promise.all([get(`${BASE}/${encodeURIComponent(a)}`), get(`${BASE}/${encodeURIComponent(b)}`)]);
      if (pa.created_at > pb.created_at) [pa, pb] = [pb, pa]; // A = the older one
      const tb = new Map(pb.rows.map((r) => [r.unit_id, r]));
      const label = (p) => `${p.quarter} ${p.method} ${p.status} (${new Date(p.created_at).toLocaleString()})`;
      $("#compare-title").textContent = `Comparison: A = ${label(pa)}; B = ${label(pb)}`;
      $("#c-table thead").replaceChildren(el("tr", {},
        el("th", { scope: "col" }, "Unit"), el("th", { scope: "col" }, "Level"),
        el("th", { scope: "col", class: "num" }, "Target A"), el("th", { scope: "col", class: "num" }, "Target B"),
        el("th", { scope: "col", class: "num" }, "B − A"), el("th", { scope: "col", class: "num" }, "Change")));
      const ordered = ProposalView.treeOrder(pa.rows).out.map((o) => o.row);
      const seen = new Set(ordered.map((r) => r.unit_id));
      const rows = ordered.map((ra) => {
        const rb = tb.get(ra.unit_id);
        const d = rb ? rb.target - ra.target : null;
        return el("tr", {}, el("th", { scope: "row", title: ra.unit_id }, SP.unitName(ra.unit_id)), el("td", {}, ra.level),
          el("td", { class: "num" }, fmt(ra.target)), el("td", { class: "num" }, rb ? fmt(rb.target) : "–"),
          el("td", { class: "num" }, d === null ? "–" : fmt(d)),
          el("td", { class: "num" }, d === null || !ra.target ? "–" : pct(d / ra.target, 1)));
      });
      for (const rb of pb.rows) if (!seen.has(rb.unit_id)) {
        rows.push(el("tr", {}, el("th", { scope: "row", title: rb.unit_id }, SP.unitName(rb.unit_id)), el("td", {}, rb.level), el("td", { class: "num" }, "–"),
          el("td", { class: "num" }, fmt(rb.target)), el("td", { class: "num" }, "–"), el("td", { class: "num" }, "–")));
      }
      $("#c-table tbody").replaceChildren(...rows);
      $("#compare").hidden = false;
    });
  }

  // The first whole quarter after the data: the quarter after the one the forecast starts in.
  async function nextQuarter() {
    let d = new Date();
    if (can("forecasts:read")) {
      try {
        const lv = await get("/api/v1/forecasts/levels");
        if (lv.first_week) d = new Date(`${lv.first_week}T00:00:00Z`);
      } catch (_) { /* the forecast is optional here: fall back to today */ }
    }
    const q = Math.floor(d.getUTCMonth() / 3) + 1;
    return q === 4 ? `${d.getUTCFullYear() + 1}Q1` : `${d.getUTCFullYear()}Q${q + 1}`;
  }

  SP.page(async () => {
    $("#new-section").hidden = !can("proposals:write");
    $("#t-readonly").hidden = can("proposals:write");
    modeChanged();
    $("#t-mode").addEventListener("change", modeChanged);
    $("#t-prob").addEventListener("input", showImplied);
    $("#t-value").addEventListener("input", valueChanged);
    $("#t-quarter").addEventListener("change", loadCurve);
    $("#t-by").addEventListener("change", loadCurve);
    $("#t-by").addEventListener("change", loadTrackRecord);
    $("#new-form").addEventListener("submit", (e) => { e.preventDefault(); create($("#t-create")); });
    $("#p-apply").addEventListener("click", (e) => applyOverrides(e.target));
    $("#p-reset").addEventListener("click", () => { if (current) show(current); });
    $("#p-approve").addEventListener("click", (e) => decide("approve", e.target));
    $("#p-reject").addEventListener("click", (e) => decide("reject", e.target));
    $("#list-form").addEventListener("submit", (e) => { e.preventDefault(); loadList($("#l-refresh")); });
    $("#l-compare").addEventListener("click", (e) => compare(e.target));
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.get("proposal")) open(hash.get("proposal"));
    window.addEventListener("hashchange", () => {  // links in the history and the header
      const id = new URLSearchParams(location.hash.slice(1)).get("proposal");
      if (id && (!current || current.id !== id)) open(id);
    });
    loadList();
    loadTrackRecord();
    if (can("proposals:write")) {
      $("#t-quarter").value = $("#t-quarter").value || await nextQuarter();
      await loadCurve();
    }
    showProblem($("#prop-error"), null);
  });
})();
