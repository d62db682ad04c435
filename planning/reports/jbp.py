"""The one-page HTML of a joint business plan: who and what was agreed, the joint target with its P(hit),
baseline and levers per quarter (a chart), the gap to peers, each side's investments, the supplier's P&L on
the account, the quarterly review and the assumptions. Self-contained (the chart is a base64 PNG, the style
inline): it opens offline and can be mailed to the account. Takes the stored plan (plain JSON) so a
version renders the same way whenever it is exported."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan.planning.reports.charts import BLUE, CSS, GREEN, GREY, RED, embed_png, fmt_amount, new_figure

__all__ = ["jbp_report", "plan_chart"]

esc = html.escape
PCT = ("p_hit", "p_hit_baseline", "growth", "promo_share", "margin_rate", "cm_pct", "attainment_to_date")
PCT_METRICS = ("growth", "promo_share", "margin_rate")
TEXT_COLUMNS = ("quarter", "lever", "source", "detail", "label", "side", "status", "opportunity_in")
PAGE_CSS = CSS + ".t{text-align:left}"


def _pct(x: Any) -> str:
    return "–" if x is None or not np.isfinite(float(x)) else f"{float(x):.0%}"


def _cell(col: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float | np.number):
        return _pct(v) if col in PCT else fmt_amount(float(v))
    return str(v)


def _table(rows: list[dict[str, Any]], cols: Mapping[str, str], pct_rows: str | None = None) -> str:
    """Rows as a table with human headers; in a metrics table (``pct_rows``: the column naming the metric)
    the values of share metrics read as percentages."""
    if not rows:
        return "<p class='note'>none</p>"
    head = "".join(f"<th class='t'>{esc(h)}</th>" if c in TEXT_COLUMNS else f"<th>{esc(h)}</th>"
                   for c, h in cols.items())  # fmt: skip
    body = []
    for r in rows:
        as_pct = pct_rows is not None and r.get(pct_rows) in PCT_METRICS
        cells = []
        for c in cols:
            v = r.get(c)
            text = (
                _pct(v)
                if as_pct and isinstance(v, int | float) and c != "opportunity" and c != "peers"
                else _cell(c, v)
            )
            left = c in TEXT_COLUMNS or isinstance(v, str)
            cells.append(f"<td class='t'>{esc(text)}</td>" if left else f"<td>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def plan_chart(quarters: pd.DataFrame) -> str:
    """Per quarter: baseline P50 with its P10–P90, the levers on top, the joint target as a line."""
    fig = new_figure(6.5, 2.8)
    ax = fig.subplots()
    x = np.arange(len(quarters))
    base = quarters["baseline_p50"].to_numpy(float)
    lev = quarters["levers"].to_numpy(float)
    ax.bar(x, base, color=GREY, label="baseline P50")
    ax.bar(x, lev, bottom=base, color=GREEN, label="levers")
    err = np.vstack(
        [base - quarters["baseline_p10"].to_numpy(float), quarters["baseline_p90"].to_numpy(float) - base]
    )
    ax.errorbar(
        x, base, yerr=np.maximum(err, 0), fmt="none", ecolor=BLUE, capsize=4, label="baseline P10–P90"
    )
    ax.scatter(
        x, quarters["target"].to_numpy(float), marker="_", s=900, color=RED, label="joint target", zorder=3
    )
    ax.set_xticks(x, quarters["quarter"].astype(str).tolist())
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    top = max(float((base + np.maximum(lev, 0)).max()), float(quarters["target"].max()),
              float(quarters["baseline_p90"].max()))  # fmt: skip
    ax.set_ylim(0, top * 1.12)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return embed_png(fig)


def jbp_report(header: Mapping[str, Any], plan: Mapping[str, Any]) -> str:
    """The page (``header``: the stored version's id, account_id, version, status, author, agreed_by,
    account_signatory, agreed_at; ``plan``: the stored plan, with ``review`` rows when reviewed)."""
    acc = plan.get("account", {})
    name = f"{acc.get('name', '')} ({acc.get('account_id', '')})"
    status = str(header.get("status", ""))
    who = f"written by {header.get('author')}"
    if header.get("agreed_by"):
        who += f"; agreed by {header.get('agreed_by')} and {header.get('account_signatory')} on {str(header.get('agreed_at'))[:10]}"
    q = pd.DataFrame(plan.get("quarters", []))
    base = float(q["baseline_p50"].sum()) if len(q) else float("nan")
    facts = {
        "joint target": fmt_amount(plan.get("target")),
        "P(hit) with the levers": _pct(plan.get("p_hit")),
        "P(hit) on the baseline alone": _pct(plan.get("p_hit_baseline")),
        "baseline P50": fmt_amount(base),
        "opportunity vs top-quartile peers (per quarter)": fmt_amount(plan["opportunity"])
        if plan.get("opportunity") is not None
        else "not sized: no other account in the segment",
        "margin rate": _pct(plan.get("margin_rate")),
    }
    inv = pd.DataFrame(plan.get("investments", []))
    sides = inv.groupby("side")["amount"].sum().to_dict() if len(inv) else {}
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Joint business plan: {esc(name)}</title><style>{PAGE_CSS}</style></head><body>",
        f"<h1>Joint business plan: {esc(name)}</h1>",
        f"<p>{esc(str(acc.get('segment', '')))}, {len(acc.get('stores', []))} outlet(s); quarters "
        f"{esc(', '.join(q['quarter'].astype(str)) if len(q) else '–')}; version {esc(str(header.get('version')))} "
        f"<b>{esc(status)}</b>, {esc(who)}</p>",
        "<table>"
        + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts.items())
        + "</table>",
        "<h2>Baseline, levers and target</h2>",
        plan_chart(q) if len(q) else "",
        _table(
            plan.get("quarters", []),
            {
                "quarter": "quarter",
                "baseline_p10": "baseline P10",
                "baseline_p50": "baseline P50",
                "baseline_p90": "baseline P90",
                "levers": "levers",
                "plan_p50": "plan P50",
                "target": "target",
                "p_hit": "P(hit)",
            },
        ),
        f"<h2>Against peers ({esc(str(plan.get('peer_scope', '')))})</h2>",
        _table(
            plan.get("gaps", []),
            {
                "label": "metric",
                "account": "account",
                "peer_median": "peer median",
                "peer_top_quartile": "top quartile",
                "gap": "gap",
                "opportunity": "per quarter",
                "opportunity_in": "of",
            },
            pct_rows="metric",
        ),
        "<h2>Levers</h2>",
        _table(
            plan.get("levers", []),
            {
                "quarter": "quarter",
                "lever": "lever",
                "source": "effect from",
                "revenue": "sell-out",
                "gross_margin": "gross margin",
                "cost_supplier": "supplier pays",
                "cost_account": "account pays",
                "net_margin_supplier": "net (supplier)",
                "detail": "how",
            },
        ),
        "<h2>Investments</h2>",
        "<p>" + esc("; ".join(f"{k}: {fmt_amount(v)}" for k, v in sides.items()) or "none") + "</p>",
        _table(plan.get("investments", []), {"side": "who pays", "lever": "lever", "amount": "amount"}),
        "<h2>P&amp;L of the account (supplier)</h2>",
        _table(
            plan.get("pnl", []),
            {
                "quarter": "quarter",
                "revenue": "sell-out",
                "cogs": "cost of goods",
                "gross_margin": "gross margin",
                "promotion": "trade investment",
                "marketing": "fees",
                "contribution_margin": "contribution",
                "cm_pct": "contribution %",
            },
        ),
    ]
    if "review" in plan:
        parts += ["<h2>Quarterly review</h2>",
                  _table(plan["review"], {"quarter": "quarter", "target": "target", "weeks_elapsed": "weeks sold",
                         "actual_to_date": "actual to date", "plan_to_date": "plan to date",
                         "attainment_to_date": "attainment", "landing_p50": "landing P50", "p_hit": "P(hit)",
                         "status": "status"})]  # fmt: skip
    parts += ["<h2>Assumptions</h2><ul>", *(f"<li>{esc(str(a))}</li>" for a in plan.get("assumptions", [])),
              "</ul></body></html>"]  # fmt: skip
    return "".join(parts)
