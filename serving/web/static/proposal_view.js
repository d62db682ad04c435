// Renders one target proposal: header, company target, fairness, and the allocation tree with editable
// targets (drafts, proposals:write), monthly phasing and, where the data are weekly, the weekly targets (a
// second table in its own scroll box, collapsed until opened). Kept apart from targets.js to keep both small.
"use strict";

const ProposalView = (() => {
  const { $, el, fmt, pct, can } = SP;

  // Rows in tree order (parent, then its children), with their depth; roots are rows whose parent is absent.
  function treeOrder(rows) {
    const ids = new Set(rows.map((r) => r.unit_id));
    const kids = new Map();
    for (const r of rows) {
      const p = r.parent_id && ids.has(r.parent_id) ? r.parent_id : null;
      if (!kids.has(p)) kids.set(p, []);
      kids.get(p).push(r);
    }
    const out = [];
    const walk = (parent, depth) => {
      const list = (kids.get(parent) || []).slice().sort((a, b) => String(a.unit_id).localeCompare(String(b.unit_id)));
      for (const r of list) { out.push({ row: r, depth }); walk(r.unit_id, depth + 1); }
    };
    walk(null, 0);
    return { out, kids };
  }

  // "2027-01" → "Jan 2027" in the reader's language (phasing columns are months, not m1/m2/m3)
  function monthName(m) {
    const d = /^\d{4}-\d{2}$/.test(m) ? new Date(`${m}-01T00:00:00Z`) : null;
    return d ? d.toLocaleDateString(undefined, { month: "short", year: "numeric", timeZone: "UTC" }) : m;
  }

  function childSum(kids, unitId) {
    const list = kids.get(unitId);
    return list && list.length ? list.reduce((s, r) => s + r.target, 0) : null;
  }

  function header(p) {
    const by = (p.parameters && p.parameters.by) || [];
    const when = new Date(p.created_at).toLocaleString();
    const parts = [
      el("span", { class: `badge status-${p.status}`, id: "p-status" }, p.status),
      ` ${p.quarter} · ${by.join(" → ")} · ${p.method} · version `, el("span", { id: "p-version" }, String(p.version)),
      ` · by ${p.author}, ${when}`,
    ];
    if (p.approved_by) parts.push(` · approved by ${p.approved_by}`);
    if (p.superseded_by) {
      parts.push(" · superseded by ", el("a", { href: `#proposal=${encodeURIComponent(p.superseded_by)}`,
        id: "p-superseded-by" }, p.superseded_by.slice(0, 8)));
    }
    if (p.model) parts.push(` · model ${p.model.name} v${p.model.version}`);
    if (p.note) parts.push(el("br"), el("em", {}, p.note));
    return parts;
  }

  function kpis(p) {
    const out = [];
    const c = p.company;
    const amt = amountOf(p);
    if (c) {
      out.push(kpi("Company target", p.measure === "won_value" ? amt(c.target) : `${fmt(c.target)} units`, "p-company"));
      out.push(kpi("Probability to hit", pct(c.p_hit)));
      out.push(kpi("Forecast median", amt(c.forecast_q50)));
      const plan = p.plan || {};
      if (c.last_period_actual !== null && c.last_period_actual !== undefined) {
        out.push(kpi(`Actual ${plan.last_period || "last period"}`, amt(c.last_period_actual)));
      }
      if (typeof plan.last_year_actual === "number") out.push(kpi("Same quarter last year", amt(plan.last_year_actual)));
    }
    // No whole quarter a year before this one: the forecast has not seen the season (planning/proposals).
    if (p.plan && p.plan.season_seen === false) {
      out.push(el("p", { class: "warning", id: "p-season-unseen", role: "status" },
        "The history has no whole quarter a year before this one: the forecast has not seen this season, " +
        "so the P(hit) figures are not backed by a track record."));
    }
    // Units whose target's P(hit) is under the floor: approving needs a note saying why (kept in the audit).
    const floor = p.plan && p.plan.below_floor ? p.plan.below_floor.floor : null;
    if (typeof floor === "number") {
      const low = (p.rows || []).filter((r) => typeof r.p_hit === "number" && r.p_hit < floor);
      if (low.length) {
        const names = low.slice(0, 5).map((r) => `${SP.unitName(r.unit_id)} (${pct(r.p_hit)})`).join(", ");
        out.push(el("p", { class: "warning", id: "p-below-floor", role: "status" },
          `${low.length} unit(s) with P(hit) under the ${pct(floor)} floor: ${names}${low.length > 5 ? ", …" : ""}. ` +
          "Lower those targets, or approve with a note saying why."));
      }
    }
    return out;
  }

  // won value is money (in the service's currency); sell-out targets are units
  const amountOf = (p) => (p.measure === "won_value" ? SP.money : fmt);

  function kpi(label, value, id) {
    return el("div", { class: "kpi" }, el("span", { class: "kpi-label" }, label),
      el("span", { class: "kpi-value", id }, value));
  }

  // The stored fairness summary is computed when the proposal is created; overrides change the leaf targets,
  // so the figures are recomputed here from the current rows with the same definitions as
  // planning/fairness.py (potential per leaf from the stored summary, else its forecast median).
  function liveFairness(p) {
    const f = p.fairness || {};
    const parents = new Set(p.rows.map((r) => r.parent_id));
    const potential = new Map((f.per_unit || []).map((u) => [u.unit_id, u.potential]));
    const leaves = p.rows.filter((r) => !parents.has(r.unit_id));
    if (!leaves.length) return { summary: f, ratio: new Map() };
    const ratio = new Map();
    let quota = 0, pot = 0, above = 0, aboveN = 0;
    for (const r of leaves) {
      const v = potential.has(r.unit_id) ? potential.get(r.unit_id) : r.forecast_q50;
      quota += r.target; pot += v || 0;
      if (v > 0) ratio.set(r.unit_id, r.target / v);
      if (r.forecast_q50 !== null && r.forecast_q50 !== undefined) { aboveN += 1; above += r.target > r.forecast_q50 ? 1 : 0; }
    }
    const x = Array.from(ratio.values()).sort((a, b) => a - b);
    const n = x.length, sum = x.reduce((a, b) => a + b, 0), mean = n ? sum / n : NaN;
    const gini = n && sum > 0 ? x.reduce((acc, v, i) => acc + (2 * (i + 1) - n - 1) * v, 0) / (n * sum) : NaN;
    const sd = n ? Math.sqrt(x.reduce((acc, v) => acc + (v - mean) ** 2, 0) / n) : NaN;
    const summary = { units: leaves.length, gini, cv: mean > 0 ? sd / mean : NaN,
      share_above_p50: aboveN ? above / aboveN : NaN, max_min_ratio: n && x[0] > 0 ? x[n - 1] / x[0] : NaN,
      quota, potential: pot };
    return { summary, ratio };
  }

  // Fairness of the leaf split: spread of target / potential.
  function fairness(f) {
    if (!f || !Object.keys(f).length) return [];
    const names = { units: "Units", gini: "Gini of target / potential", cv: "CV of target / potential",
      share_above_p50: "Share above own median", max_min_ratio: "Max / min ratio", quota: "Σ leaf targets",
      potential: "Σ leaf potential" };
    const items = [];
    for (const [k, v] of Object.entries(names)) {
      const x = f[k];
      if (typeof x !== "number" || Number.isNaN(x)) continue;
      const shown = k === "share_above_p50" ? pct(x) : ["units", "quota", "potential"].includes(k) ? fmt(x) : fmt(x, 3);
      items.push(el("li", {}, el("span", {}, v), " ", el("strong", {}, shown)));
    }
    return items.length ? [el("h3", {}, "Fairness"), el("ul", { class: "inline-list", id: "p-fairness-list" }, items)] : [];
  }

  function table(p, editable, onEdit) {
    const months = p.months && p.months.length ? p.months : Object.keys((p.rows[0] || {}).phasing || {});
    const { out, kids } = treeOrder(p.rows);
    const { ratio } = liveFairness(p);
    const amt = amountOf(p);
    // children are set to sum to their parent × (1 + the over-assignment of their level): recorded per level in
    // plan.over_assignment_by_level (applied once, at the leaves); older proposals applied one at every level
    const over = Number(((p.plan || {}).over_assignment ?? (p.parameters || {}).over_assignment) || 0);
    const byLevel = (p.plan || {}).over_assignment_by_level;
    const rateOf = (unitId) => {
      const list = kids.get(unitId);
      if (!list || !list.length) return 1;
      return 1 + (byLevel ? Number(byLevel[list[0].level] || 0) : over);
    };
    const head = el("tr", {},
      el("th", { scope: "col" }, "Unit"), el("th", { scope: "col" }, "Level"),
      el("th", { scope: "col", class: "num" }, "Target"), el("th", { scope: "col", class: "num",
        title: `Children sum to the parent × (1 + their level's over-assignment, ${pct(over)} at the leaves)` }, "Σ children"),
      el("th", { scope: "col", class: "num" }, "Forecast median"), el("th", { scope: "col", class: "num" }, "P(hit)"),
      el("th", { scope: "col", class: "num" }, `Actual ${(p.plan || {}).last_period || "last period"}`),
      el("th", { scope: "col", class: "num", title: "Target divided by the unit's potential (fairness)" }, "Target / potential"),
      ...months.map((m) => el("th", { scope: "col", class: "num" }, monthName(m))));
    const body = out.map(({ row, depth }) => {
      const sum = childSum(kids, row.unit_id);
      const rate = rateOf(row.unit_id);
      const want = row.target * rate;
      const ok = sum === null || Math.abs(sum - want) <= Math.max(0.05, 1e-6 * Math.abs(want));
      const target = editable
        ? el("input", { type: "number", step: "any", min: "0", value: String(Math.round(row.target * 100) / 100),
          class: "target-input", "data-unit": row.unit_id, "data-original": String(row.target),
          "aria-label": `Target for ${row.unit_id}`, oninput: onEdit })
        : el("span", {}, amt(row.target));
      return el("tr", { "data-unit": row.unit_id, "data-level": row.level, "data-parent": row.parent_id, class: row.overridden ? "overridden" : null },
        el("th", { scope: "row", title: row.unit_id, style: `padding-left:${0.5 + depth * 1.2}rem` },
          row.name ? `${row.name} (${SP.unitName(row.unit_id)})` : SP.unitName(row.unit_id),
          row.overridden ? el("span", { class: "badge fixed", title: "Set by a planner" }, "fixed") : null),
        el("td", {}, row.level),
        el("td", { class: "num", "data-target": String(row.target) }, target),
        el("td", { class: `num ${ok ? "" : "bad"}`, "data-children-sum": sum === null ? "" : String(sum),
          "data-children-rate": String(rate), title: sum === null ? null : `= target × ${rate.toFixed(2)}` },
          sum === null ? "" : `${amt(sum)}${ok ? " ✓" : " ≠"}`),
        el("td", { class: "num" }, amt(row.forecast_q50)),
        el("td", { class: "num" }, pct(row.p_hit)),
        el("td", { class: "num" }, amt(row.last_period_actual)),
        el("td", { class: "num" }, ratio.has(row.unit_id) ? fmt(ratio.get(row.unit_id), 2) : ""),
        ...months.map((m) => el("td", { class: "num" }, amt((row.phasing || {})[m]))));
    });
    return { head, body };
  }

  // "2027-01-04" → "4 Jan" (day first in every language; the year and ISO date are in the cell's title)
  function weekName(w) {
    const d = /^\d{4}-\d{2}-\d{2}$/.test(w) ? new Date(`${w}T00:00:00Z`) : null;
    return d ? `${d.getUTCDate()} ${d.toLocaleDateString(undefined, { month: "short", timeZone: "UTC" })}` : w;
  }

  // Weekly targets per unit in tree order (API `weeks` and each row's `weekly`, recomputed from the current
  // months, so they still add up after an override); none when the proposal's data were not weekly.
  function weeklyTable(p) {
    const weeks = p.weeks || [];
    if (!weeks.length) return null;
    const amt = amountOf(p);
    const head = el("tr", {}, el("th", { scope: "col" }, "Unit"),
      el("th", { scope: "col", class: "num", title: "The unit's quarter target: its weeks add up to it" }, "Quarter"),
      ...weeks.map((w) => el("th", { scope: "col", class: "num", title: `week of ${w}` }, weekName(w))));
    const body = treeOrder(p.rows).out.map(({ row, depth }) => {
      const weekly = row.weekly || {};
      return el("tr", { "data-unit": row.unit_id, "data-level": row.level },
        el("th", { scope: "row", title: row.unit_id, style: `padding-left:${0.5 + depth * 1.2}rem` },
          row.name ? `${row.name} (${SP.unitName(row.unit_id)})` : SP.unitName(row.unit_id)),
        el("td", { class: "num", "data-quarter": String(row.target) }, amt(row.target)),
        ...weeks.map((w) => el("td", { class: "num", "data-week": w, "data-value": String(weekly[w] ?? "") },
          typeof weekly[w] === "number" ? amt(weekly[w]) : "–")));
    });
    return { head, body, n: weeks.length };
  }

  function render(p, onEdit) {
    const editable = p.status === "draft" && can("proposals:write");
    $("#prop-section").hidden = false;
    $("#prop-section").dataset.proposalId = p.id;
    $("#prop-header").replaceChildren(...header(p));
    $("#prop-kpis").replaceChildren(...kpis(p));
    $("#prop-fairness").replaceChildren(...fairness(liveFairness(p).summary));
    const { head, body } = table(p, editable, onEdit);
    $("#p-table thead").replaceChildren(head);
    $("#p-table tbody").replaceChildren(...body);
    const weekly = weeklyTable(p);
    $("#pw-box").hidden = !weekly;
    if (weekly) {
      $("#pw-count").textContent = `${weekly.n} weeks`;
      $("#pw-table thead").replaceChildren(weekly.head);
      $("#pw-table tbody").replaceChildren(...weekly.body);
    }
    $("#p-apply").hidden = !editable;
    $("#p-reset").hidden = !editable;
    $("#p-hint").hidden = !editable;
    $("#p-apply").disabled = true;
    $("#p-reset").disabled = true;
    const draft = p.status === "draft";
    for (const n of SP.$$("[data-perm='proposals:approve']")) n.hidden = !(draft && can("proposals:approve"));
    $("#p-approve").hidden = !(draft && can("proposals:approve"));
    for (const n of SP.$$("[data-perm='proposals:reject']")) n.hidden = !(draft && can("proposals:reject"));
  }

  // The audit trail of a proposal (GET …/{id}/history), oldest first; links to what an approval superseded.
  const ACTIONS = { "proposal.create": "created", "proposal.replace_rows": "edited (re-balanced)",
    "proposal.approve": "approved", "proposal.reject": "rejected", "proposal.supersede": "superseded" };
  const link = (id) => el("a", { href: `#proposal=${encodeURIComponent(id)}` }, id.slice(0, 8));

  function history(entries) {
    if (!entries.length) return [el("tr", {}, el("td", { colspan: "5" }, "No history recorded."))];
    return entries.map((e) => {
      const parts = [];  // each a list of text and links, shown joined by " · "
      if (e.reason) parts.push([e.reason]);
      if (e.superseded_by) parts.push(["superseded by ", link(e.superseded_by)]);
      for (const id of e.supersedes || []) parts.push(["supersedes ", link(id)]);
      const note = parts.flatMap((p, i) => (i ? [" · ", ...p] : p));
      const version = e.to_version ? `${e.from_version ?? ""} → ${e.to_version}` : (e.detail && e.detail.version) || "";
      return el("tr", { "data-action": e.action },
        el("td", {}, new Date(e.at).toLocaleString()),
        el("td", {}, ACTIONS[e.action] || e.action),
        el("td", { title: e.actor_key_id ? `API key ${e.actor_key_id}` : "command line" }, e.actor),
        el("td", { class: "num" }, String(version)),
        el("td", {}, ...note));
    });
  }

  function edits() {
    const out = {};
    for (const input of SP.$$(".target-input")) {
      const v = input.valueAsNumber;
      const orig = Number(input.dataset.original);
      if (!Number.isNaN(v) && Math.abs(v - orig) > 0.005) out[input.dataset.unit] = v;
    }
    return out;
  }

  return { render, edits, treeOrder, history };
})();
window.ProposalView = ProposalView;
