"""Capacity links: the selling hours a deal takes in each stage, measured from the activities, fed into the
reverse funnel and the headcount plan, so "how many reps for target T" counts the time the deals need and
the time reps have, not only conversion rates and bookings per rep."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts import STAGES
from salesplan.errors import InsufficientDataError
from salesplan.planning.funnel import (
    FunnelInputs,
    Ramp,
    ReversePlan,
    Staffing,
    inputs_from_history,
    productivity,
    ramped_productivity,
    reps_needed,
    reverse_funnel,
)
from salesplan.planning.funnel.reps import MONTH_DAYS
from salesplan.planning.funnel.reverse import PRE_SIGN
from salesplan.planning.process.data import ProcessData

__all__ = [
    "CapacityInputs",
    "CapacityPlan",
    "capacity_inputs",
    "capacity_plan",
    "selling_hours_per_rep_month",
    "stage_hours",
]


@dataclass(frozen=True)
class CapacityPlan:
    """The reverse funnel of ``target`` with the hours its deals take, the staffing it needs (value and
    time side by side) and the measured inputs behind them."""

    target: float
    quarter: str
    inputs: FunnelInputs
    plan: ReversePlan
    staffing: Staffing
    stage_hours: pd.DataFrame
    hours_per_rep_month: float
    per_ramped_rep_month: float
    current_reps: int


def stage_hours(data: ProcessData) -> pd.DataFrame:
    """Per stage, the deal owner's hours (travel included) per deal that entered it and left it (moved on or
    lost), over complete stays only; ``Sign`` is per signing (contract and handoff)."""
    a = data.activities
    deal, st = a["deal"].to_numpy(), a["stage_code"].to_numpy()
    own = (deal >= 0) & (st >= 0) & (a["person"].to_numpy() == a["owner"].to_numpy())
    n_deals = len(data.paths.frame)
    per = np.zeros((n_deals, len(STAGES)))
    np.add.at(per, (deal[own], st[own]), a["hours"].to_numpy()[own])
    touched = np.zeros(n_deals, bool)
    touched[deal[own]] = True
    sp = data.spells
    keep = sp["stage"].isin([*PRE_SIGN, "Sign"]).to_numpy() & sp["status"].isin([1, 2]).to_numpy()
    keep &= touched[sp["deal"].to_numpy()]
    sp = sp[keep]
    hours = per[sp["deal"].to_numpy(), sp["stage_code"].to_numpy()]
    agg = (
        pd.DataFrame({"stage": sp["stage"].to_numpy(), "hours": hours})
        .groupby("stage")["hours"]
        .agg(["size", "sum", "mean"])
        .set_axis(["deals", "hours", "hours_per_deal"], axis=1)
    )
    out = agg.reindex([*PRE_SIGN, "Sign"]).rename_axis("stage").reset_index()
    if out["deals"].isna().all():
        raise InsufficientDataError(
            "no deal with both its owner's activities and a complete stage. Fix: check the activities' "
            "opportunity and rep ids"
        )
    return out


def selling_hours_per_rep_month(data: ProcessData, months: int = 12) -> float:
    """Median over deal owners of the hours they put into their own deals per month employed, over the last
    ``months`` months."""
    end = data.as_of
    start = max(data.start, end - pd.DateOffset(months=months))
    inwin, _, _ = data.window(start, end)
    a = data.activities
    own = inwin & (a["deal"].to_numpy() >= 0) & (a["person"].to_numpy() == a["owner"].to_numpy())
    n = len(data.reps)
    person = a["person"].to_numpy()[own]
    hours = np.bincount(person[person >= 0], weights=a["hours"].to_numpy()[own][person >= 0], minlength=n)
    r = data.reps
    hire = (
        pd.to_datetime(r["hire_date"]).fillna(start).clip(lower=start)  # type: ignore[call-overload]
        if "hire_date" in r
        else pd.Series(start, index=r.index)
    )
    leave = (
        pd.to_datetime(r["end_date"]).fillna(end).clip(upper=end)  # type: ignore[call-overload]
        if "end_date" in r
        else pd.Series(end, index=r.index)
    )
    rep_months = ((leave - hire).dt.days / MONTH_DAYS).clip(lower=0).to_numpy()
    ok = (hours > 0) & (rep_months >= 1)
    if not ok.any():
        raise InsufficientDataError(
            "no deal owner was employed a month or more in the window with logged deal work"
        )
    return float(np.median(hours[ok] / rep_months[ok]))


@dataclass(frozen=True)
class CapacityInputs:
    """What every target's plan of one data set shares (measured once): funnel inputs with stage hours,
    the stage-hours table, won value per ramped rep-month and the ramp, the measured selling hours per
    rep-month, and the current reps' tenure in months."""

    funnel: FunnelInputs
    stage_hours: pd.DataFrame
    per_ramped_rep_month: float
    ramp: Ramp | list[float]
    hours_per_rep_month: float
    tenure_months: list[float]


def capacity_inputs(data: ProcessData) -> CapacityInputs:
    """Measure the inputs of :func:`capacity_plan` from the history (rates, deal size, stage days and hours,
    productivity and ramp, selling hours, the reps still employed on the as-of date)."""
    sh = stage_hours(data)
    base = inputs_from_history(data.paths)["all"]
    hours = {
        str(s): float(h) for s, h in zip(sh["stage"], sh["hours_per_deal"], strict=True) if np.isfinite(h)
    }
    prod = productivity(data.crm, as_of=data.as_of)
    owners = set(data.paths.frame["rep_id"].astype(str))
    reps = data.crm.reps[data.crm.reps["rep_id"].astype(str).isin(owners)]
    if "end_date" in reps.columns:
        reps = reps[reps["end_date"].isna() | (reps["end_date"] > data.as_of)]
    if "hire_date" in reps.columns:
        tenure = (
            ((data.as_of - pd.to_datetime(reps["hire_date"])).dt.days / MONTH_DAYS).fillna(120.0).to_numpy()
        )
    else:
        tenure = np.full(len(reps), 120.0)
    return CapacityInputs(
        funnel=replace(base, stage_hours=hours), stage_hours=sh, per_ramped_rep_month=ramped_productivity(prod),
        ramp=prod.ramp if prod.ramp is not None else [1.0], hours_per_rep_month=selling_hours_per_rep_month(data),
        tenure_months=[float(x) for x in tenure],
    )  # fmt: skip


def capacity_plan(
    data: ProcessData | CapacityInputs, target: float, quarter: Any, *, months: int = 3, attrition: float = 0.0,
    hours_per_rep_month: float | None = None,
) -> CapacityPlan:  # fmt: skip
    """Reverse funnel of ``target`` in ``quarter`` from the history's rates, deal size, stage times and the
    measured stage hours; hires needed for the won value (ramp-aware productivity) and for the hours
    (``hours_per_rep_month``, default the measured median), whichever needs more. Pass the
    :func:`capacity_inputs` of the data to plan many targets without measuring again."""
    ci = data if isinstance(data, CapacityInputs) else capacity_inputs(data)
    plan = reverse_funnel(target, ci.funnel, quarter)
    hpm = hours_per_rep_month if hours_per_rep_month is not None else ci.hours_per_rep_month
    staff = reps_needed(target, ci.ramp, ci.per_ramped_rep_month, tenure_months=ci.tenure_months, months=months,
                        attrition=attrition, hours_needed=plan.hours, hours_per_rep_month=hpm)  # fmt: skip
    return CapacityPlan(float(target), str(plan.quarter), ci.funnel, plan, staff, ci.stage_hours, hpm,
                        ci.per_ramped_rep_month, len(ci.tenure_months))  # fmt: skip
