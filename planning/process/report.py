"""The process analyses as files people open: a per-rep scorecard page and the team's process report (HTML,
self-contained like every report of :mod:`planning.reports`), and the scorecards as an Excel workbook."""

from __future__ import annotations

import html
import io

import numpy as np
import pandas as pd

from salesplan.planning.process.allocation import TimeAllocation
from salesplan.planning.process.cadence import Cadence
from salesplan.planning.process.inefficiency import Inefficiencies
from salesplan.planning.process.lifecycle import FullFunnel
from salesplan.planning.process.scorecards import LOWER_IS_BETTER, METRICS, Scorecards
from salesplan.planning.reports.charts import BLUE, CSS, GREY, RED, embed_png, html_table, new_figure

__all__ = ["METRIC_LABELS", "process_report", "scorecard_page", "scorecards_workbook"]

METRIC_LABELS: dict[str, str] = {
    "bookings": "Bookings (won value)", "won_deals": "Won deals", "win_rate": "Win rate",
    "activities_per_day": "Activities per working day", "selling_hours_per_day": "Selling hours per day",
    "selling_share": "Share of hours on deals", "conv_Find": "Find → Meet", "conv_Meet": "Meet → Pitch",
    "conv_Pitch": "Pitch → Sign", "hours_per_won_deal": "Hours per won deal", "attainment": "Attainment",
    "ramp_adjusted_attainment": "Ramp-adjusted attainment", "adherence": "Cadence adherence",
    "low_yield_hours": "Hours on low-yield patterns", "team_bookings": "Team bookings",
    "team_attainment": "Team attainment", "coaching_hours_per_report": "Coaching hours per report per month",
    "onboarded": "Onboardings finished (Deliver → Operate)", "days_to_operate": "Days from Deliver to Operate",
}  # fmt: skip
_PCT = {"win_rate", "selling_share", "conv_Find", "conv_Meet", "conv_Pitch", "attainment",
        "ramp_adjusted_attainment", "adherence", "team_attainment"}  # fmt: skip


def _finite(v: object) -> bool:
    try:
        return bool(np.isfinite(float(v)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _fmt(metric: str, v: object) -> str:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    if not np.isfinite(x):
        return "–"
    if metric in _PCT:
        return f"{x:.0%}"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def _vs_chart(row: pd.Series) -> str:
    """Each metric as a share of the role median (1 = median; for lower-is-better metrics inverted)."""
    names, ratio = [], []
    for m in METRICS:
        v, b = row.get(m), row.get(f"bench_{m}")
        if v is None or b is None or not np.isfinite(v) or not np.isfinite(b) or b == 0:
            continue
        names.append(METRIC_LABELS[m])
        ratio.append(b / v if m in LOWER_IS_BETTER and v else v / b)
    if not names:
        return ""
    fig = new_figure(7.0, 0.35 * len(names) + 1.0)
    ax = fig.subplots()
    y = np.arange(len(names))[::-1]
    r = np.clip(np.asarray(ratio, float), 0, 3)
    ax.barh(y, r, color=[BLUE if x >= 1 else RED for x in r])
    ax.axvline(1.0, color=GREY, lw=1)
    ax.set_yticks(y, names)
    ax.set_xlabel("vs role median (1 = median; right is better)")
    return embed_png(fig)


def _gap_text(row: pd.Series, role: str) -> str:
    """The headline gap: bookings for sellers, the team's attainment for leads, onboarding for the rest."""
    if _finite(row.get("bookings")):
        return (f"Bookings {_fmt('bookings', row.get('bookings'))} vs {_fmt('bookings', row.get('bench_bookings'))} "
                f"for a median {role} over the same days: a gap of {_fmt('bookings', row.get('bookings_gap'))}.")  # fmt: skip
    if _finite(row.get("team_bookings")):
        return (f"The team booked {_fmt('team_bookings', row.get('team_bookings'))}, "
                f"{_fmt('team_attainment', row.get('team_attainment'))} of its quota vs "
                f"{_fmt('team_attainment', row.get('bench_team_attainment'))} for the median {role}.")  # fmt: skip
    if _finite(row.get("onboarded")):
        return (f"{_fmt('onboarded', row.get('onboarded'))} onboardings finished in "
                f"{_fmt('days_to_operate', row.get('days_to_operate'))} days (median) vs "
                f"{_fmt('days_to_operate', row.get('bench_days_to_operate'))} for the median {role}.")  # fmt: skip
    return "No bookings, team or onboarding in the period: see the activity metrics below."


def scorecard_page(sc: Scorecards, rep_id: str) -> str:
    """One person's scorecard: every metric beside the role's median and better quartile, the gap, and the
    one or two actions most likely to close it."""
    card = sc.card(rep_id)
    row: pd.Series = card["row"]
    esc = html.escape
    b = sc.benchmarks.set_index("role")
    role = str(row["role"])
    rows = []
    for m in METRICS:
        if not (_finite(row.get(m)) or _finite(row.get(f"bench_{m}"))):
            continue  # a metric of another role (team, onboarding, bookings)
        best = b.at[role, f"best_{m}"] if role in b.index and f"best_{m}" in b.columns else np.nan
        rows.append(f"<tr><th style='text-align:left'>{esc(METRIC_LABELS[m])}</th><td>{_fmt(m, row.get(m))}</td>"
                    f"<td>{_fmt(m, row.get(f'bench_{m}'))}</td><td>{_fmt(m, best)}</td>"
                    f"<td>{_fmt(m, row.get(f'gap_{m}'))}</td></tr>")  # fmt: skip
    acts = card["actions"]
    items = "".join(f"<li>{esc(str(r['action']))}" + (f" — about {r['bookings_uplift']:,.0f} more bookings"
                    if _finite(r["bookings_uplift"]) else "") + "</li>"
                    for _, r in acts.iterrows()) or "<li>none: at or above the role median on every lever</li>"  # fmt: skip
    start, end = sc.period
    title = f"Scorecard {rep_id}" + (
        f" · {row['name']}" if str(row.get("name", "")) not in ("", "(none)") else ""
    )
    return "\n".join([
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p class='note'>{esc(role)} · {esc(str(row.get('location_group')))} · team {esc(str(row.get('team')))} · "
        f"{start.date()} to {end.date()} · {row['active_days']:.0f} working days. Benchmark: the median of the "
        f"role (better quartile beside it); gap: this person minus the median, negative is worse.</p>",
        f"<h2>Gap</h2><p>{esc(_gap_text(row, role))}</p>",
        "<h2>Actions most likely to close it</h2>", f"<ol id='actions'>{items}</ol>",
        "<h2>Metrics</h2>", _vs_chart(row),
        "<table id='metrics'><thead><tr><th>metric</th><th>value</th><th>role median</th><th>better quartile</th>"
        "<th>gap</th></tr></thead><tbody>", *rows, "</tbody></table>",
        "</body></html>",
    ])  # fmt: skip


def scorecards_workbook(sc: Scorecards) -> bytes:
    """The scorecards, role benchmarks and actions as an .xlsx workbook (openpyxl), one sheet each."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        sc.table.to_excel(xw, sheet_name="Scorecards", index=False)
        sc.benchmarks.to_excel(xw, sheet_name="Role benchmarks", index=False)
        sc.actions.to_excel(xw, sheet_name="Actions", index=False)
        for ws in xw.book.worksheets:
            ws.freeze_panes = "B2"
            for col in ws.columns:
                ws.column_dimensions[col[0].column_letter].width = min(
                    60, max(10, max(len(str(c.value or "")) for c in col[:50]) + 2)
                )
    return buf.getvalue()


def process_report(
    fun: FullFunnel, alloc: TimeAllocation, ineff: Inefficiencies, cadence: Cadence | None, sc: Scorecards,
    *, title: str = "Sales process and productivity",
) -> str:  # fmt: skip
    """The team's page: full funnel, time allocation, inefficiencies with evidence, cadence, scorecards."""
    esc = html.escape
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p class='note'>As of {fun.as_of.date()}. Rates are censoring-aware (open deals and young customers count "
        f"for how long they have waited); intervals {fun.level:.0%}.</p>",
        "<h2>Full funnel</h2>", html_table(fun.table),
        "<h2>Time allocation</h2>", html_table(alloc.table),
        "<h2>Inefficiencies (hours that could be saved)</h2>",
    ]  # fmt: skip
    if len(ineff.findings):
        for _, f in ineff.findings.iterrows():
            parts.append(f"<p><b>{esc(str(f['label']))}</b>: {f['hours_saved']:,.0f} h could be saved. "
                         f"{esc(str(f['evidence']['summary']))}.</p>")  # fmt: skip
    else:
        parts.append("<p>No pattern is both frequent and low-yield.</p>")
    if cadence is not None:
        e = cadence.effect
        parts += ["<h2>Standard cadence</h2>", "<ul>" + "".join(f"<li>{esc(t)}</li>" for t in cadence.standard["text"]) + "</ul>",
                  f"<p>Keeping it: odds of moving on × {e['odds_ratio']:.2f} (95 % {np.exp(e['log_odds_low']):.2f}–"
                  f"{np.exp(e['log_odds_high']):.2f}) comparing each rep's own deals; across reps the rank correlation "
                  f"of adherence with win rate is {e['across_rep_spearman']:.2f}.</p>"]  # fmt: skip
    cols = ["rep_id", "role", "location_group", "bookings", "bench_bookings", "bookings_gap", "ramp_adjusted_attainment",
            "activities_per_day", "hours_per_won_deal", "adherence", "action_1", "action_2"]  # fmt: skip
    parts += [
        "<h2>Scorecards</h2>",
        html_table(sc.table[[c for c in cols if c in sc.table.columns]]),
        "</body></html>",
    ]
    return "\n".join(parts)
