"""Self-contained HTML report of a target proposal: the company target on its forecast fan, the split down
the levels, fairness and monthly phasing, charts embedded as base64 PNG (:mod:`.charts`), so the report
opens offline and can be mailed. Writing the file is the caller's job."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesplan.planning.reports.charts import (
    BLUE,
    CSS,
    GREEN,
    GREY,
    RED,
    embed_png,
    fmt_amount,
    fmt_value,
    html_table,
    new_figure,
)
from salesplan.planning.types import FairnessReport, TargetChoice

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from salesplan.planning.proposals.build import ProposalResult

__all__ = [
    "MAX_BARS",
    "allocation_chart",
    "fairness_chart",
    "fan_chart",
    "phasing_chart",
    "readable_rows",
    "target_report",
]
MAX_BARS = 40
"""Units drawn per level in the allocation chart (the largest targets); the table holds them all."""


def _levels(rows: pd.DataFrame) -> list[str]:
    """Level names top first, in the order the proposal lists them."""
    return list(dict.fromkeys(rows["level"].astype(str)))


def readable_rows(rows: pd.DataFrame, months: tuple[str, str, str]) -> pd.DataFrame:
    """Proposal rows as a report shows them: the phasing columns named after their months (not m1/m2/m3)."""
    return rows.rename(columns=dict(zip(("m1", "m2", "m3"), months, strict=True)))


def fan_chart(
    curve: pd.DataFrame, company: TargetChoice, history: pd.DataFrame | None, quarter: str, measure: str
) -> str:
    """Quarterly actuals, then the quarter's forecast fan (bands from the target ↔ probability curve) with
    the target and its hit probability; right: P(quarter total ≥ x), the curve a planner reads a target off."""
    c = curve.sort_values("p_hit")
    q = dict(zip(np.round(1 - c["p_hit"].to_numpy(), 2), c["target"].to_numpy(), strict=True))
    fig = new_figure(10, 3.8)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    labels: list[str] = []
    if history is not None and len(history):
        h = history.sort_values("period").tail(8)
        labels = [str(p) for p in h["period"]]
        ax.plot(range(len(labels)), h["y"], "o-", color="#222", label="actual")
    x = len(labels)
    labels.append(str(quarter))
    for lo, hi, alpha in ((0.05, 0.95, 0.18), (0.1, 0.9, 0.25), (0.25, 0.75, 0.35)):
        if lo in q and hi in q:
            ax.fill_between([x - 0.3, x + 0.3], q[lo], q[hi], color=BLUE, alpha=alpha, lw=0)
    ax.hlines(company.forecast_q50, x - 0.3, x + 0.3, color=BLUE, lw=2, label="forecast P50")
    ax.plot([x], [company.target], "D", color=RED, ms=8, label=f"target (P(hit) {company.p_hit:.0%})")
    ax.set_xticks(range(len(labels)), labels, rotation=45, fontsize=8)
    ax.set_ylabel(measure)
    ax.set_title(f"{company.unit_id}: quarter totals, forecast fan (P5–P95, P10–P90, P25–P75)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax2.plot(c["target"], c["p_hit"], color=BLUE)
    ax2.plot([company.target], [company.p_hit], "D", color=RED)
    ax2.annotate(
        f"  {fmt_amount(company.target)} → {company.p_hit:.0%}", (company.target, company.p_hit), fontsize=8
    )
    ax2.set_xlabel(f"target ({measure})")
    ax2.set_ylabel("P(quarter total ≥ target)")
    ax2.set_ylim(0, 1)
    ax2.set_title("target ↔ probability of hitting it", fontsize=10)
    fig.tight_layout()
    return embed_png(fig)


def _waterfall(ax: Axes, top_target: float, children: pd.DataFrame) -> None:
    """Each child's target stacked from zero, then their sum next to the parent target (the gap is the
    over-assignment)."""
    c = children.sort_values("target", ascending=False)
    start = np.concatenate([[0.0], np.cumsum(c["target"].to_numpy())[:-1]])
    n = len(c)
    ax.bar(range(n), c["target"], bottom=start, color=BLUE)
    total = float(c["target"].sum())
    ax.bar([n], [total], color=GREEN)
    ax.bar([n + 1], [top_target], color=RED)
    ax.set_xticks(
        range(n + 2), [*c["unit_id"].astype(str), "Σ children", "parent target"], rotation=60, fontsize=7
    )
    if top_target > 0:
        ax.set_title(
            f"split of the top target (children sum to {total / top_target - 1:+.1%} of it)", fontsize=10
        )


def allocation_chart(rows: pd.DataFrame, measure: str) -> str:
    """Waterfall of the top target into its children, then per deeper level target vs forecast P50 bars."""
    levels = _levels(rows)
    if len(levels) < 2:
        return ""
    top = rows[rows["level"].astype(str) == levels[0]]
    deeper = levels[2:]
    fig = new_figure(10, 3.4 * (1 + len(deeper)))
    axes = np.atleast_1d(fig.subplots(1 + len(deeper), 1))
    _waterfall(axes[0], float(top["target"].sum()), rows[rows["level"].astype(str) == levels[1]])
    axes[0].set_ylabel(measure)
    for ax, level in zip(axes[1:], deeper, strict=True):
        r = rows[rows["level"].astype(str) == level].nlargest(MAX_BARS, "target")
        r = r.sort_values(["parent_id", "target"], ascending=[True, False])
        x = np.arange(len(r))
        ax.bar(x - 0.2, r["target"], width=0.4, color=BLUE, label="target")
        ax.bar(
            x + 0.2,
            pd.to_numeric(r["forecast_q50"], errors="coerce"),
            width=0.4,
            color=GREY,
            label="forecast P50",
        )
        ax.set_xticks(x, r["unit_id"].astype(str), rotation=60, fontsize=7)
        n_all = int((rows["level"].astype(str) == level).sum())
        more = f" (largest {len(r)} of {n_all})" if n_all > len(r) else ""
        ax.set_title(f"{level}: target vs forecast P50{more}", fontsize=10)
        ax.set_ylabel(measure)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return embed_png(fig)


def fairness_chart(fairness: FairnessReport) -> str:
    """Quota against potential per leaf unit: on the dashed line every unit is stretched the same."""
    per = fairness.per_unit
    ok = np.isfinite(per["ratio"].to_numpy(dtype=float))
    if not ok.any():
        return ""
    p = per[ok]
    fig = new_figure(10, 3.6)
    ax, ax2 = fig.subplots(1, 2)
    ax.scatter(p["potential"], p["target"], color=BLUE, alpha=0.7)
    ratio = float(p["target"].sum() / p["potential"].sum())
    xs = np.array([0, float(p["potential"].max())])
    ax.plot(xs, ratio * xs, "--", color=GREY, label=f"same stretch ({ratio:.2f}× potential)")
    ax.set_xlabel("potential (forecast P50)")
    ax.set_ylabel("target")
    ax.legend(fontsize=8)
    ax.set_title("target vs potential per unit", fontsize=10)
    r = p["ratio"].to_numpy(dtype=float)
    pad = max(0.05 * float(r.mean()), 1e-6) if np.ptp(r) < 1e-9 else 0.0  # all equal: keep the bar visible
    ax2.hist(r, bins=min(20, max(5, len(p) // 2)), range=(r.min() - pad, r.max() + pad), color=BLUE)
    ax2.axvline(1.0, color=RED, lw=1)
    ax2.set_xlabel("target / potential")
    ax2.set_ylabel("units")
    ax2.set_title("spread of the stretch (red: target = P50)", fontsize=10)
    fig.tight_layout()
    return embed_png(fig)


def phasing_chart(rows: pd.DataFrame, months: tuple[str, str, str]) -> str:
    """Monthly targets of the first level below the top, stacked."""
    levels = _levels(rows)
    level = levels[1] if len(levels) > 1 else levels[0]
    r = rows[rows["level"].astype(str) == level]
    if not {"m1", "m2", "m3"} <= set(r.columns) or r[["m1", "m2", "m3"]].isna().all().all():
        return ""
    r = r.nlargest(12, "target")
    fig = new_figure(7, 3.4)
    ax = fig.subplots()
    bottom = np.zeros(3)
    for _, u in r.iterrows():
        v = u[["m1", "m2", "m3"]].to_numpy(dtype=float)
        ax.bar(list(months), np.nan_to_num(v), bottom=bottom, label=str(u["unit_id"]))
        bottom += np.nan_to_num(v)
    ax.set_title(f"monthly phasing by {level}", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return embed_png(fig)


def target_report(
    result: ProposalResult,
    *,
    history: pd.DataFrame | None = None,
    header: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> str:
    """HTML report of a target proposal. ``result``: a ``planning.proposals.ProposalResult`` (proposal, company,
    curve, fairness, measure, months). ``history``: quarterly actuals of the top unit (``period, y``), drawn
    before the forecast fan. ``header``: stored-proposal facts to print (id, status, author, version...)."""
    esc = html.escape
    prop = result.proposal
    rows: pd.DataFrame = prop.rows
    company: TargetChoice = result.company
    measure = str(result.measure)
    title = title or f"Target proposal {prop.quarter} ({measure})"
    facts = {
        "quarter": prop.quarter,
        "method": prop.method,
        "levels": " → ".join(_levels(rows)),
        **{str(k): v for k, v in (header or {}).items()},
        "input models": ", ".join(f"{k} v{v}" for k, v in prop.input_model_versions.items()) or "–",
    }
    params = {k: v for k, v in prop.parameters.items() if v not in (None, {}, [])}
    summary = pd.DataFrame(
        {
            "unit": [company.unit_id],
            "mode": [company.mode],
            "target": [company.target],
            "implied P(hit)": [f"{company.p_hit:.1%}"],
            "forecast P50": [company.forecast_q50],
            "last period actual": [company.last_period_actual],
        }
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        "<table>"
        + "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt_value(v))}</td></tr>" for k, v in facts.items())
        + "</table>",
        f"<p class='note'>Parameters: {esc('; '.join(f'{k}: {fmt_value(v)}' for k, v in params.items()))}</p>",
        "<h2>Company target</h2>",
        html_table(summary),
        fan_chart(result.curve, company, history, prop.quarter, measure),
        "<h2>Allocation by level</h2>",
        allocation_chart(rows, measure),
    ]
    for level in _levels(rows):
        sel = readable_rows(rows[rows["level"].astype(str) == level], result.months)
        parts += [f"<h3>{esc(level)}</h3>", html_table(sel, 4)]
    parts += ["<h2>Fairness</h2>", html_table(result.fairness.by_quarter), fairness_chart(result.fairness)]
    parts += [
        "<p class='note'>Equal target/potential ratios mean every unit is stretched the same; Gini and CV "
        "measure the spread of that ratio, share_above_p50 the share of units asked for more than their own "
        "median forecast.</p>",
        "<h2>Monthly phasing</h2>",
        phasing_chart(rows, result.months),
        "</body></html>",
    ]
    return "\n".join(parts)
