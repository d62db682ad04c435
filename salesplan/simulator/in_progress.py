"""A quarter in progress: what a simulated world actually sold and spent in the weeks after its history, up
to a date, as the actuals a sales-ops team would load mid-quarter (``salesplan actuals load``).

Sell-out comes from the world's ground truth (``truth.future_units``: the weeks after ``end``, drawn by
the same process as the history) with the planned regressors and hierarchy columns of ``future``, so it
passes the sell-out contract. Spend repeats each channel × region's last weeks of the history (the
flighting a team would keep), with one planted overspend: the ``overspend`` channel runs at
``overspend_factor`` × its usual rate in every region, so expense control has a breach to find."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.contracts import validate_sellout, validate_spend

__all__ = ["InProgress", "quarter_in_progress"]


@dataclass(frozen=True)
class InProgress:
    """Actuals of ``quarter`` through ``as_of``: ``sellout`` (sell-out contract) and ``spend`` (spend
    contract); ``budgets``: the plan the spend is held against (``month, channel, region, budget,
    soft_cap, hard_cap, planned_outcome``: last year's rate, soft cap = budget, hard cap = 110 %)."""

    quarter: str
    as_of: pd.Timestamp
    sellout: pd.DataFrame
    spend: pd.DataFrame
    budgets: pd.DataFrame


def quarter_in_progress(
    world: object,
    quarter: str,
    as_of: str | pd.Timestamp,
    *,
    overspend: str = "search",
    overspend_factor: float = 1.35,
    seed: int = 0,
) -> InProgress:
    """The world's actuals of ``quarter`` through ``as_of`` (weeks whose last day is on or before it)."""
    from salesplan.simulator.world import SimulatedWorld

    if not isinstance(world, SimulatedWorld):
        raise TypeError(f"world must be a SimulatedWorld, got {type(world).__name__}")
    q = pd.Period(quarter, "Q")
    first, last, day = q.start_time.normalize(), q.end_time.normalize(), pd.Timestamp(as_of).normalize()
    fu = world.truth.future_units
    fut = world.future.drop(columns=[c for c in ("y", "expected") if c in world.future.columns])
    rows = fu[["unique_id", "ds", "y"]].merge(fut, on=["unique_id", "ds"], how="left")
    ends = rows["ds"] + pd.Timedelta(days=6)
    rows = rows[(ends >= first) & (rows["ds"] <= last) & (ends <= day)]
    if rows.empty:
        have = f"{fu['ds'].min().date()}..{fu['ds'].max().date()}" if len(fu) else "none"
        raise ValueError(
            f"the world has no sold weeks of {quarter} through {day.date()} (its future weeks: {have}); "
            "simulate with an end just before the quarter and a horizon that reaches as_of"
        )
    keep = [c for c in world.sellout.df.columns if c in rows.columns]
    sellout = validate_sellout(
        rows[keep].reset_index(drop=True), world.sellout.spec, source="simulated quarter"
    )
    spend, budgets = _spend(world.spend, q, day, overspend, overspend_factor, seed)
    return InProgress(str(q), day, sellout, spend, budgets)


def _spend(
    hist: pd.DataFrame, q: pd.Period, day: pd.Timestamp, overspend: str, factor: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    first, last = q.start_time.normalize(), q.end_time.normalize()
    h = hist.assign(period=pd.to_datetime(hist["period"]))
    recent = h[h["period"] > h["period"].max() - pd.Timedelta(weeks=13)]
    rate = recent.groupby(["channel", "region"], as_index=False)[["spend", "outcome"]].mean()
    weeks = pd.date_range(first - pd.Timedelta(days=first.dayofweek), last, freq="7D")
    months = [str(p) for p in pd.period_range(first, last, freq="M")]
    budgets = rate.merge(pd.DataFrame({"month": months}), how="cross")
    days = pd.PeriodIndex(budgets["month"], freq="M").days_in_month.to_numpy()
    budgets["budget"] = (budgets["spend"] * days / 7).round(2)
    budgets["planned_outcome"] = (budgets["outcome"] * days / 7).round(2)
    budgets["soft_cap"] = budgets["budget"]
    budgets["hard_cap"] = (budgets["budget"] * 1.1).round(2)
    budgets = budgets[["month", "channel", "region", "budget", "soft_cap", "hard_cap", "planned_outcome"]]
    done = weeks[weeks + pd.Timedelta(days=6) <= day]
    sp = rate.merge(pd.DataFrame({"period": done}), how="cross")
    noise = rng.lognormal(0.0, 0.08, len(sp))
    lift = np.where(sp["channel"] == overspend, factor, 1.0)
    sp["spend"] = (sp["spend"] * noise * lift).round(2)
    sp["outcome"] = (sp["outcome"] * noise * np.sqrt(lift)).round(2)
    spend = validate_spend(sp[["period", "channel", "region", "spend", "outcome"]].reset_index(drop=True))
    return spend, budgets.reset_index(drop=True)
