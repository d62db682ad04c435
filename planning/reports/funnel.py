"""Self-contained HTML report of the funnel, velocity and productivity: one string, plots embedded as
base64 PNG (:mod:`.charts`), so it opens anywhere offline and can be attached to an email. Writing it to
disk is the caller's job."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from salesplan.planning.funnel import DURATION_STAGES, FUNNEL_STAGES, FunnelResult, Productivity, Velocity
from salesplan.planning.reports.charts import BLUE, CSS, embed_png, html_table, new_figure

__all__ = ["funnel_chart", "funnel_report", "ramp_chart", "rep_scatter", "stage_time_chart"]


def funnel_chart(result: FunnelResult) -> str:
    """Bars of deals entering each stage with the step conversion (and its interval) written on them."""
    t = result.table
    t = t if not result.by else t.groupby("stage", sort=False, as_index=False)[["entered", "converted"]].sum()
    entered = [*t["entered"].tolist(), int(t["converted"].iloc[-1])]
    fig = new_figure()
    ax = fig.subplots()
    y = np.arange(len(FUNNEL_STAGES))[::-1]
    ax.barh(y, entered, color=BLUE)
    ax.set_yticks(y, list(FUNNEL_STAGES))
    if not result.by:
        for yi, (_, r) in zip(y[1:], result.table.iterrows(), strict=True):
            ax.text(
                0, yi, f"  {r['rate']:.0%} [{r['ci_low']:.0%}–{r['ci_high']:.0%}]", va="center", color="white"
            )
    ax.set_xlabel("deals entering the stage")
    ax.set_title("Funnel (labels: conversion from the stage above, 95% interval)")
    return embed_png(fig)


def stage_time_chart(vel: Velocity) -> str:
    """CDF of days to move on per stage (censoring-aware)."""
    fig = new_figure()
    ax = fig.subplots()
    for s in [*DURATION_STAGES, "created→won"]:
        c = vel.curves[vel.curves["stage"] == s]
        if len(c) and c["days"].max() > 0:
            ax.step(c["days"], c["cdf"], where="post", label=s)
    ax.set_xlabel("days")
    ax.set_ylabel("share moved on")
    ax.set_title("Time in stage (deals that move on; open deals censored)")
    ax.legend(fontsize=8)
    return embed_png(fig)


def rep_scatter(prod: Productivity) -> str:
    """Won value per rep-month against win rate, one dot per rep sized by deals created."""
    rm = prod.rep_month
    g = rm.groupby("rep_id")[["rep_months", "created", "won", "lost", "won_value"]].sum()
    g = g[g["rep_months"] > 0]
    fig = new_figure()
    ax = fig.subplots()
    with np.errstate(invalid="ignore", divide="ignore"):
        wr = g["won"] / (g["won"] + g["lost"])
    ax.scatter(
        wr, g["won_value"] / g["rep_months"], s=10 + 60 * g["created"] / max(g["created"].max(), 1), alpha=0.6
    )
    ax.set_xlabel("win rate (closed deals)")
    ax.set_ylabel("won value per rep-month")
    ax.set_title("Rep productivity (dot size: deals created)")
    return embed_png(fig)


def ramp_chart(prod: Productivity) -> str:
    """Raw ramp ratios and the monotone fit."""
    if prod.ramp is None:
        return ""
    t = prod.ramp.table
    fig = new_figure()
    ax = fig.subplots()
    ax.plot(t["tenure_month"], t["raw"], "o", alpha=0.6, label="raw (actual / expected)")
    ax.step(t["tenure_month"], t["share"], where="mid", label="ramp (monotone fit)")
    ax.axhline(1.0, color="#999", lw=0.8)
    ax.set_xlabel("month of tenure")
    ax.set_ylabel("share of tenured productivity")
    ax.set_title(f"Ramp of new hires ({prod.ramp.metric})")
    ax.legend(fontsize=8)
    return embed_png(fig)


def funnel_report(
    fun: FunnelResult,
    vel: Velocity,
    prod: Productivity | None = None,
    *,
    title: str = "Sales funnel and productivity",
    by_table: FunnelResult | None = None,
    stalled: pd.DataFrame | None = None,
) -> str:
    """The HTML report: funnel, stage times, rep productivity, ramp, and their tables."""
    esc = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p class='note'>As of {fun.as_of.date()}. Conversion counts only resolved transitions (moved on or "
        "lost there); deals still open are censored, weighted by how long they have been open.</p>",
        "<h2>Funnel</h2>",
        funnel_chart(fun),
        html_table(fun.table),
    ]
    if by_table is not None:
        parts += [f"<h2>Funnel by {esc(', '.join(by_table.by))}</h2>", html_table(by_table.table)]
    parts += ["<h2>Velocity</h2>", stage_time_chart(vel), html_table(vel.stages), html_table(vel.cycle)]
    if stalled is not None and len(stalled):
        n = int(stalled["stalled"].sum())
        parts.append(f"<p>{n} of {len(stalled)} open deals are stalled (in their stage beyond its P90).</p>")
        parts.append(html_table(stalled[stalled["stalled"]].sort_values("days", ascending=False).head(20)))
    if prod is not None:
        parts += ["<h2>Rep productivity</h2>", rep_scatter(prod)]
        if prod.ramp is not None:
            parts += ["<h2>Ramp</h2>", ramp_chart(prod), html_table(prod.ramp.table)]
        else:
            parts.append(
                "<p class='note'>No hire dates: no ramp curve; every rep-month counts as ramped.</p>"
            )
        recent = prod.role_month.sort_values("month").groupby("role").tail(6)
        parts += ["<h2>Per role, last 6 months</h2>", html_table(recent.astype({"month": str}))]
        if len(prod.attainment):
            a = prod.attainment.groupby("period", as_index=False).agg(
                reps=("rep_id", "nunique"), median_attainment=("attainment", "median"),
                at_or_above_quota=("attainment", lambda x: float((x >= 1).mean())),
            )  # fmt: skip
            # a quota period not over at the data's end is in progress: its won value is partial, so its
            # share at quota is not 0 % but not known yet
            going = np.array([p.end_time > fun.as_of for p in a["period"]], dtype=bool)
            a = a.astype({"period": str, "median_attainment": object, "at_or_above_quota": object})
            a.loc[going, "period"] = a.loc[going, "period"] + " (in progress)"
            a.loc[going, "at_or_above_quota"] = "in progress"
            a.loc[going, "median_attainment"] = "in progress"
            parts += ["<h2>Attainment vs quota</h2>", html_table(a.tail(8))]
    parts.append("</body></html>")
    return "\n".join(parts)
