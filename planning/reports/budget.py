"""Self-contained HTML report of a budget plan: response curves with current and optimal spend, optimal vs
proportional split, marginal ROI and the fitted parameters, charts embedded as base64 PNG (:mod:`.charts`).
Writing the file is the caller's job."""

from __future__ import annotations

import html

import numpy as np

from salesplan.planning.budget import response
from salesplan.planning.reports.charts import (
    BLUE,
    CSS,
    GREY,
    RED,
    embed_png,
    fmt_amount,
    html_table,
    new_figure,
)
from salesplan.planning.types import BudgetPlan, ResponseCurves

__all__ = ["budget_report", "curves_chart"]


def curves_chart(curves: ResponseCurves, plan: BudgetPlan) -> str:
    """Outcome per period against spend per period, one panel per channel, a line per region, with last
    period's spend (circle) and the optimal spend (diamond)."""
    from matplotlib.ticker import MaxNLocator

    prm = curves.params.reset_index(drop=True)
    a = plan.allocation.set_index(["channel", "region"])
    spend = a["spend"].reindex(list(zip(prm["channel"], prm["region"], strict=True))).to_numpy(dtype=float)
    last = prm["last_spend"].to_numpy(dtype=float) if "last_spend" in prm else np.full(len(prm), np.nan)
    top = np.nanmax(np.vstack([spend, last]), axis=0) * 2.0
    top = np.where(np.isfinite(top) & (top > 0), top, plan.total_budget / plan.periods)
    grid = np.linspace(0, 1, 60)[:, None] * top[None, :]
    values = response(curves, grid)
    channels = list(dict.fromkeys(prm["channel"]))
    ncol = min(3, len(channels))
    nrow = int(np.ceil(len(channels) / ncol))
    fig = new_figure(10, 3.0 * nrow)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    at_opt = response(curves, spend)
    at_last = response(curves, np.nan_to_num(last))
    for ax, ch in zip(axes, channels, strict=False):
        for i in np.flatnonzero(prm["channel"].to_numpy() == ch):
            (line,) = ax.plot(grid[:, i], values[:, i], label=str(prm["region"].iat[int(i)]))
            col = line.get_color()
            if np.isfinite(last[i]):
                ax.plot([last[i]], [at_last[i]], "o", color=col, mfc="white")
            ax.plot([spend[i]], [at_opt[i]], "D", color=col)
        ax.set_title(f"{ch} (○ last, ◆ optimal)", fontsize=9)
        ax.set_xlabel("spend per period", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.legend(fontsize=7)
    for ax in axes[len(channels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return embed_png(fig)


def _item_bars(plan: BudgetPlan) -> str:
    """Optimal vs proportional spend per item, and the marginal ROI at the optimum."""
    a = plan.allocation
    names = [f"{c}/{r}" for c, r in zip(a["channel"], a["region"], strict=True)]
    x = np.arange(len(a))
    fig = new_figure(10, 3.6)
    ax, ax2 = fig.subplots(1, 2)
    ax.bar(x - 0.2, a["spend"] * plan.periods, width=0.4, color=BLUE, label="optimal")
    ax.bar(
        x + 0.2,
        a["proportional_spend"] * plan.periods,
        width=0.4,
        color=GREY,
        label="proportional (last split)",
    )
    ax.set_xticks(x, names, rotation=60, fontsize=7)
    ax.set_title("spend over the plan", fontsize=10)
    ax.legend(fontsize=8)
    ax2.bar(x, a["marginal_roi"], color=np.where(a["at_bound"], RED, BLUE))
    ax2.set_xticks(x, names, rotation=60, fontsize=7)
    ax2.set_title("marginal return per extra unit of spend (red: at a bound)", fontsize=10)
    fig.tight_layout()
    return embed_png(fig)


def budget_report(curves: ResponseCurves, plan: BudgetPlan, *, title: str = "Budget allocation") -> str:
    """HTML report of a budget plan: response curves with current and optimal spend, optimal vs
    proportional split, marginal ROI, expected outcome and its range, and the fitted curve parameters."""
    esc = html.escape
    lo, hi = plan.outcome_range
    a = plan.allocation.assign(
        spend_total=lambda d: d["spend"] * plan.periods,
        proportional_total=lambda d: d["proportional_spend"] * plan.periods,
    )
    facts = {
        "budget": fmt_amount(plan.total_budget),
        "periods": plan.periods,
        "objective": plan.objective,
        "expected outcome": f"{fmt_amount(plan.expected_outcome)} (P10–P90 {fmt_amount(lo)}–{fmt_amount(hi)})",
        "proportional split outcome": fmt_amount(plan.proportional_outcome),
        "uplift": f"{plan.uplift:+.1%}",
        "optimiser": f"{'converged' if plan.converged else 'NOT converged'}, {plan.starts} starts",
    }
    cols = ["channel", "region", "spend_total", "proportional_total", "outcome", "proportional_outcome"]
    cols += ["marginal_roi", "roi", "at_bound"]
    return "\n".join(
        [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{CSS}</style></head><body>",
            f"<h1>{esc(title)}</h1>",
            "<table>"
            + "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in facts.items())
            + "</table>",
            "<h2>Response curves</h2>",
            curves_chart(curves, plan),
            "<h2>Split vs proportional, marginal ROI</h2>",
            _item_bars(plan),
            html_table(a[cols]),
            "<p class='note'>At an interior optimum every channel's marginal return is equal; items at a bound "
            "(cap, floor or max change) differ. Outcome range: parametric bootstrap of the curve fits.</p>",
            "<h2>Fitted curves</h2>",
            html_table(curves.params),
            "</body></html>",
        ]
    )
