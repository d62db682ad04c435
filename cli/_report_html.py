"""One self-contained HTML page of the latest runs (``salesplan report``): every chart is a base64 PNG, so
the page opens offline and can be mailed. Pure rendering of a :class:`salesplan.cli._report_data.ReportData`;
the page style, the proposal fan chart and the budget curves come from :mod:`planning.reports`, so the page
and ``salesplan plan`` draw them the same way."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

import numpy as np
import pandas as pd

from salesplan.cli._report_data import ProposalView, ReportData, RunSummary
from salesplan.planning.reports.budget import curves_chart
from salesplan.planning.reports.charts import (
    BLUE,
    CSS,
    GREY,
    RED,
    embed_png,
    fmt_value,
    html_table,
    new_figure,
)
from salesplan.planning.reports.targets import allocation_chart, fan_chart, phasing_chart, readable_rows

__all__ = [
    "budget_section",
    "deals_section",
    "forecast_section",
    "level_chart",
    "level_table",
    "pipeline_chart",
    "pipeline_section",
    "proposal_section",
    "render_run_report",
]
FORECAST_METRICS = ("mase", "rmsse", "wape", "bias", "coverage80", "pinball")
DEALS_METRICS = ("auc", "brier", "logloss", "ece", "n")
esc = html.escape


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _note(text: str) -> str:
    return f"<p class='note'>{esc(text)}</p>"


def _facts(facts: Mapping[str, object]) -> str:
    return (
        "<table>"
        + "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(fmt_value(v))}</td></tr>" for k, v in facts.items())
        + "</table>"
    )


def _run_facts(run: RunSummary) -> str:
    return _facts(
        {
            "model": run.model,
            "run": f"{run.run_name} ({run.run_id})",
            "started": f"{run.started:%Y-%m-%d %H:%M} UTC",
            "data": run.params.get("source", "?"),
        }
    )


def level_table(run: RunSummary) -> pd.DataFrame:
    """Backtest metrics per hierarchy column (mean over its units), from the ``metrics_by_<level>`` tables."""
    rows = []
    for name, t in run.tables.items():
        if not name.startswith("metrics_by_") or name == "metrics_by_origin":
            continue
        level = name.removeprefix("metrics_by_")
        cols = [c for c in FORECAST_METRICS if c in t.columns]
        rows.append({"level": level, "units": len(t), **t[cols].mean(numeric_only=True).to_dict()})
    return pd.DataFrame(rows)


def level_chart(levels: pd.DataFrame) -> str:
    """MASE and P10–P90 coverage per level: accuracy against the naive benchmark, honesty of the bands."""
    if levels.empty or not {"mase", "coverage80"} <= set(levels.columns):
        return ""
    fig = new_figure(10, 3.2)
    ax, ax2 = fig.subplots(1, 2)
    x = np.arange(len(levels))
    ax.bar(x, levels["mase"], color=BLUE)
    ax.axhline(1.0, color=RED, lw=1, ls="--")
    ax.set_xticks(x, levels["level"], rotation=30, fontsize=8)
    ax.set_title("MASE by level (below the red line: beats seasonal naive)", fontsize=10)
    ax2.bar(x, levels["coverage80"], color=BLUE)
    ax2.axhline(0.8, color=RED, lw=1, ls="--")
    ax2.set_ylim(0, 1)
    ax2.set_xticks(x, levels["level"], rotation=30, fontsize=8)
    ax2.set_title("share of actuals inside P10–P90 (nominal 0.8)", fontsize=10)
    fig.tight_layout()
    return embed_png(fig)


def forecast_section(run: RunSummary | None, note: str | None) -> list[str]:
    out = ["<h2 id='forecast'>Forecast backtest</h2>"]
    if run is None:
        return [*out, _note(note or "no forecast run")]
    # backtest_<metric>; runs logged before each metric was logged once also carry the bare name
    overall = {
        k: run.metrics.get(f"backtest_{k}", run.metrics.get(k))
        for k in FORECAST_METRICS
        if f"backtest_{k}" in run.metrics or k in run.metrics
    }
    champ = {k: run.metrics.get(f"champion_backtest_{k}") for k in overall}
    table = pd.DataFrame({"this model": overall, "previous champion (same folds)": champ}).T
    out += [
        _run_facts(run),
        f"<p>Rolling-origin backtest: {esc(run.params.get('n_origins', '?'))} origins × "
        f"{esc(run.params.get('h', '?'))} weeks over {esc(run.params.get('n_series', '?'))} series.</p>",
        html_table(table.dropna(how="all").reset_index(names="model"), 3),
    ]
    levels = level_table(run)
    if len(levels):
        out += ["<h3>Accuracy and coverage by level</h3>", level_chart(levels), html_table(levels, 3)]
    if "forecast_vs_actual" in run.images:
        out += ["<h3>Forecast vs actual (largest series)</h3>", _img(run.images["forecast_vs_actual"], "fc")]
    if "coverage_by_level" in run.images:
        out += ["<h3>Coverage per unit</h3>", _img(run.images["coverage_by_level"], "coverage")]
    if "metrics_by_origin" in run.tables:
        out += ["<h3>By origin</h3>", html_table(run.tables["metrics_by_origin"], 3)]
    return out


def deals_section(run: RunSummary | None, note: str | None) -> list[str]:
    out = ["<h2 id='deals'>Deal-win model: calibration</h2>"]
    if run is None:
        return [*out, _note(note or "no deals run")]
    hold = {k: run.metrics[f"holdout_{k}"] for k in DEALS_METRICS if f"holdout_{k}" in run.metrics}
    champ = {k: run.metrics.get(f"champion_holdout_{k}") for k in hold}
    table = pd.DataFrame({"this model": hold, "previous champion (same holdout)": champ}).T
    out += [
        _run_facts(run),
        f"<p>Holdout: the most recent {float(run.params.get('holdout_fraction', 0.2)):.0%} of closed deals. "
        f"Deals: {run.metrics.get('n_deals', float('nan')):,.0f}.</p>",
        html_table(table.dropna(how="all").reset_index(names="model"), 3),
    ]
    if "calibration" in run.images:
        out += ["<h3>Reliability</h3>", _img(run.images["calibration"], "calibration")]
    if "reliability" in run.tables:
        out += [html_table(run.tables["reliability"], 3)]
    out.append(
        _note(
            "Calibrated means a deal scored 0.7 wins about 70 % of the time: the dots lie on the diagonal. "
            "The weighted pipeline and the bookings targets add up these probabilities."
        )
    )
    if "feature_importance" in run.tables:
        out += ["<h3>What moves the score</h3>", html_table(run.tables["feature_importance"].head(12), 3)]
    return out


def pipeline_chart(table: pd.DataFrame) -> str:
    """Expected won value with its P10–P90 range per region, next to the Commit / Best case values."""
    r = table[table["region"] != "total"]
    if r.empty:
        return ""
    fig = new_figure(10, 3.2)
    ax, ax2 = fig.subplots(1, 2)
    x = np.arange(len(r))
    ev = r["expected_value"].to_numpy(dtype=float)
    err = np.vstack([ev - r["q10"].to_numpy(dtype=float), r["q90"].to_numpy(dtype=float) - ev])
    ax.bar(x, ev, color=BLUE, yerr=np.clip(err, 0, None), capsize=4)
    ax.set_xticks(x, r["region"].astype(str), fontsize=8)
    ax.set_title("expected won value (bars: P10–P90)", fontsize=10)
    bottom = np.zeros(len(r))
    commit = r["commit_value"].to_numpy(dtype=float)
    layers = (  # best case includes the commit deals: stack the part above the commit
        (commit, BLUE, "Commit"),
        (r["best_case_value"].to_numpy(dtype=float) - commit, GREY, "Best case (beyond commit)"),
        (r["pipeline_rest_value"].to_numpy(dtype=float), "#dddddd", "Pipeline"),
    )
    for v, color, label in layers:
        ax2.bar(x, v, bottom=bottom, color=color, label=label)
        bottom += v
    ax2.set_xticks(x, r["region"].astype(str), fontsize=8)
    ax2.set_title("open value by forecast category", fontsize=10)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return embed_png(fig)


def pipeline_section(data: ReportData) -> list[str]:
    out = ["<h2 id='pipeline'>Weighted pipeline</h2>"]
    if data.pipeline is None:
        return [*out, _note(data.notes.get("pipeline", "no pipeline"))]
    cols = ["region", "n_deals", "pipeline_value", "expected_value", "q10", "q50", "q90"]
    cols += ["commit_value", "best_case_value", "method"]
    return [
        *out,
        f"<p>Open deals expected to close in {esc(str(data.pipeline_period))}, scored by the deal-win "
        "champion.</p>",
        pipeline_chart(data.pipeline),
        html_table(data.pipeline[[c for c in cols if c in data.pipeline.columns]], 4),
    ]


def proposal_section(view: ProposalView | None, note: str | None) -> list[str]:
    out = ["<h2 id='proposal'>Latest target proposal</h2>"]
    if view is None:
        return [*out, _note(note or "no proposal")]
    h = view.header
    by = ((h.get("parameters") or {}).get("request") or {}).get("by")
    facts = {
        "id": h.get("id", "?"),
        "quarter": view.quarter,
        "levels": " → ".join(["total", *by]) if isinstance(by, list) else "?",
        "measure": view.measure or "?",
        "method": h.get("method", "?"),
        "status": f"{h.get('status', '?')} (version {h.get('version', '?')})",
        "author": h.get("author", "?"),
        "created": h.get("created", "?"),
        "input models": ", ".join(
            f"{k} v{v.get('version') if isinstance(v, dict) else v}"
            for k, v in (h.get("input_models") or {}).items()
        )
        or "–",
        **({"note": h["note"]} if h.get("note") else {}),
    }
    out.append(_facts(facts))
    if view.company is not None and view.curve is not None:
        out.append(fan_chart(view.curve, view.company, view.history, view.quarter, view.measure))
        out.append(
            _note(
                f"P(hit) of the stored top target {view.company.target:,.0f}: {view.company.p_hit:.0%}, "
                "recomputed from the distribution it was planned on (overrides included)."
            )
        )
        if view.note:
            out.append(f"<p><b>{esc(view.note)}</b></p>")
    else:
        out.append(_note(view.note))
    if len(view.rows):
        out += [allocation_chart(view.rows, view.measure), phasing_chart(view.rows, view.months)]
        for level in dict.fromkeys(view.rows["level"].astype(str)):
            sel = view.rows[view.rows["level"].astype(str) == level]
            sel = readable_rows(sel.head(50), view.months)
            out += [f"<h3>{esc(level)} ({len(sel)} units)</h3>", html_table(sel, 3)]
    return out


def budget_section(data: ReportData) -> list[str]:
    out = ["<h2 id='budget'>Budget response curves</h2>"]
    if data.budget is None:
        return [*out, _note(data.notes.get("budget", "no spend data"))]
    curves, plan = data.budget
    lo, hi = plan.outcome_range
    a = plan.allocation
    return [
        *out,
        f"<p>Fitted on {esc(data.budget_source)}. Last quarter's budget {plan.total_budget:,.0f} over "
        f"{plan.periods} periods, split to maximise the expected outcome: {plan.expected_outcome:,.0f} "
        f"(P10–P90 {lo:,.0f}–{hi:,.0f}) against {plan.proportional_outcome:,.0f} keeping last quarter's "
        f"split ({plan.uplift:+.1%}).</p>",
        curves_chart(curves, plan),
        html_table(a[["channel", "region", "last_spend", "spend", "outcome", "marginal_roi", "at_bound"]], 3),
        html_table(curves.params[["channel", "region", "model", "r2", "rmse", "last_spend"]], 3),
    ]


def render_run_report(data: ReportData, title: str = "salesplan: latest runs") -> str:
    """The whole page: forecast, deals, pipeline, proposal, budget (each section says when it is empty)."""
    toc = " · ".join(
        f"<a href='#{k}'>{v}</a>"
        for k, v in (
            ("forecast", "forecast"),
            ("deals", "deal calibration"),
            ("pipeline", "pipeline"),
            ("proposal", "proposal"),
            ("budget", "budget"),
        )
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        _note(f"MLflow store {data.tracking_uri}; generated {data.generated:%Y-%m-%d %H:%M} UTC"),
        f"<p>{toc}</p>",
        *forecast_section(data.forecast, data.notes.get("forecast")),
        *deals_section(data.deals, data.notes.get("deals")),
        *pipeline_section(data),
        *proposal_section(data.proposal, data.notes.get("proposal")),
        *budget_section(data),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)
