"""Expense control: spend to date against the budget per channel × region × month, caps, the quarter-end
spend forecast from the run rate, and cost per outcome against plan.

Run rate: the quarter's spend so far per elapsed day, carried over the days left (a flat run rate is what a
finance partner checks a forecast against; a channel flighted on purpose shows as a forecast breach that a
manager acknowledges). Caps: ``soft_cap`` (warn) and ``hard_cap`` (must not exceed) per channel × region
over the quarter; missing caps default to the quarter budget for the soft cap and none for the hard cap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError
from salesplan.planning.tracking.calendar import quarter_calendar

__all__ = ["SPEND_COLUMNS", "spend_control"]

SPEND_COLUMNS = [
    "channel", "region", "budget", "soft_cap", "hard_cap", "spend_to_date", "budget_to_date",
    "forecast_spend", "outcome_to_date", "cost_per_outcome", "planned_cost_per_outcome", "status",
]  # fmt: skip


def spend_control(
    budgets: pd.DataFrame, spend: pd.DataFrame, quarter: str, as_of: pd.Timestamp | str
) -> pd.DataFrame:
    """One row per channel × region (``SPEND_COLUMNS``). ``budgets``: ``month, channel, region, budget``
    and optional ``soft_cap, hard_cap, planned_outcome`` (per month; caps are summed over the quarter);
    ``spend``: the spend contract (``period, channel, region, spend, outcome``). ``status``: ``ok``,
    ``forecast_over_soft``, ``over_soft``, ``forecast_over_hard``, ``over_hard`` (worst first wins)."""
    need = {"month", "channel", "region", "budget"}
    if not need <= set(budgets.columns):
        raise ConfigError(f"budgets need columns {sorted(need)}, got {sorted(budgets.columns)}")
    cal = quarter_calendar(quarter, "D")
    day = min(pd.Timestamp(as_of).normalize(), cal.last_day)
    months = set(cal.months)
    b = budgets[budgets["month"].astype(str).isin(months)].copy()
    if b.empty:
        raise ConfigError(
            f"no budget rows for the months of {quarter} ({sorted(months)}); load budgets first"
        )
    for c in ("soft_cap", "hard_cap", "planned_outcome"):
        if c not in b:
            b[c] = np.nan
    b["month_start"] = pd.PeriodIndex(b["month"].astype(str), freq="M").start_time
    b["month_days"] = pd.PeriodIndex(b["month"].astype(str), freq="M").days_in_month
    gone = ((day - b["month_start"]).dt.days + 1).clip(lower=0)
    b["budget_to_date"] = b["budget"] * np.minimum(gone, b["month_days"]) / b["month_days"]
    g = b.groupby(["channel", "region"], as_index=False).agg(
        budget=("budget", "sum"),
        soft_cap=("soft_cap", lambda s: s.sum() if s.notna().any() else np.nan),
        hard_cap=("hard_cap", lambda s: s.sum() if s.notna().any() else np.nan),
        planned_outcome=("planned_outcome", lambda s: s.sum() if s.notna().any() else np.nan),
        budget_to_date=("budget_to_date", "sum"),
    )
    g["soft_cap"] = g["soft_cap"].fillna(g["budget"])
    s = spend.assign(period=pd.to_datetime(spend["period"]))
    s = s[(s["period"] >= cal.first_day) & (s["period"] <= day)]
    if "outcome" not in s:
        s = s.assign(outcome=np.nan)
    sp = s.groupby(["channel", "region"], as_index=False).agg(
        spend_to_date=("spend", "sum"), outcome_to_date=("outcome", "sum")
    )
    g = g.merge(sp, on=["channel", "region"], how="left")
    for c in ("spend_to_date", "outcome_to_date"):
        g[c] = pd.to_numeric(g[c], errors="coerce").astype(float).fillna(0.0)
    elapsed_days = (day - cal.first_day).days + 1
    total_days = (cal.last_day - cal.first_day).days + 1
    g["forecast_spend"] = g["spend_to_date"] * total_days / max(elapsed_days, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g["cost_per_outcome"] = np.where(
            g["outcome_to_date"] > 0, g["spend_to_date"] / g["outcome_to_date"], np.nan
        )
        g["planned_cost_per_outcome"] = np.where(
            g["planned_outcome"] > 0, g["budget"] / g["planned_outcome"], np.nan
        )
    status = np.full(len(g), "ok", dtype=object)
    rules = [
        (g["forecast_spend"] > g["soft_cap"], "forecast_over_soft"),
        (g["spend_to_date"] > g["soft_cap"], "over_soft"),
        (g["forecast_spend"] > g["hard_cap"], "forecast_over_hard"),
        (g["spend_to_date"] > g["hard_cap"], "over_hard"),
    ]
    for mask, name in rules:  # later rules are worse and overwrite
        status[mask.fillna(False).to_numpy(bool)] = name
    g["status"] = status
    return g[SPEND_COLUMNS].sort_values(["channel", "region"]).reset_index(drop=True)
