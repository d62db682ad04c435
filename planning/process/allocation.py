"""Where the hours go: time by role × stage × location group (share of hours, hours per person-week, hours
per won deal), and the hours a deal took against how it ended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError
from salesplan.planning.process.data import INTERNAL, ProcessData

__all__ = ["ALLOCATION_CUTS", "TimeAllocation", "hours_vs_outcome", "time_allocation"]

ALLOCATION_CUTS: tuple[str, ...] = ("role", "stage", "location_group", "type", "channel", "team", "region")


@dataclass(frozen=True)
class TimeAllocation:
    """``table``: per cut value the activities, hours, share of all hours and of the role's hours, people,
    hours per person-week and hours per won deal (won deals closed in the window, owned by AEs of the same
    location group when the cut has one); ``won_deals``: the denominator used; ``weeks``: window length."""

    table: pd.DataFrame
    by: tuple[str, ...]
    won_deals: int
    weeks: float


def _won_in_window(data: ProcessData) -> pd.DataFrame:
    d = data.paths.frame
    start, end = data.start, data.as_of
    won = d[d["outcome"].eq("won") & d["close_date"].between(start, end)]
    loc = data.reps.set_index("rep_id")["location_group"] if "location_group" in data.reps.columns else None
    return won.assign(location_group=won["rep_id"].map(loc).fillna("(none)") if loc is not None else "(none)")


def time_allocation(
    data: ProcessData, by: Sequence[str] = ("role", "stage", "location_group")
) -> TimeAllocation:
    """Hours by ``by`` (any of :data:`ALLOCATION_CUTS`; ``stage`` is the funnel stage, or ``(internal)`` for
    work on no deal: admin, coaching, training)."""
    cols = tuple(by)
    bad = [c for c in cols if c not in ALLOCATION_CUTS]
    if bad or not cols:
        raise ConfigError(
            f"allocation cut(s) {bad or list(cols)} not allowed. Fix: use {list(ALLOCATION_CUTS)}"
        )
    a = data.activities
    keys = {c: ("stage_label" if c == "stage" else c) for c in cols}
    frame = a
    for c in ("team", "region"):
        if c in cols:
            attr = data.reps.set_index("rep_id")[c] if c in data.reps.columns else pd.Series(dtype=object)
            frame = frame.assign(**{c: frame["rep_id"].map(attr).astype(object).fillna("(none)")})
    g = frame.groupby([keys[c] for c in cols], observed=True, sort=True)
    t = g.agg(
        activities=("hours", "size"), hours=("hours", "sum"), people=("rep_id", "nunique")
    ).reset_index()
    t = t.rename(columns={v: k for k, v in keys.items()})
    t = t[t["activities"] > 0]
    for c in cols:
        t[c] = t[c].astype(str)
    total = float(t["hours"].sum())
    t["share_of_hours"] = t["hours"] / total if total else np.nan
    if "role" in cols:
        t["share_of_role"] = t["hours"] / t.groupby("role")["hours"].transform("sum")
    weeks = max((data.as_of - data.start).days + 1, 1) / 7.0
    t["hours_per_person_week"] = t["hours"] / (t["people"] * weeks)
    won = _won_in_window(data)
    if "location_group" in cols:
        per_loc = won.groupby("location_group").size()
        t["won_deals"] = t["location_group"].map(per_loc).fillna(0).astype(int)
    else:
        t["won_deals"] = len(won)
    t["hours_per_won_deal"] = t["hours"] / t["won_deals"].where(t["won_deals"] > 0)
    return TimeAllocation(t.reset_index(drop=True), cols, len(won), weeks)


def hours_vs_outcome(data: ProcessData) -> pd.DataFrame:
    """Per outcome (won, lost, open) and stage: deals, mean / median / P90 of the hours every role put into a
    deal there, and for closed deals the win rate by quintile of total pre-sale hours (``hours_band``)."""
    a = data.activities
    deal = a[a["stage_label"].astype(str) != INTERNAL]
    per = deal.groupby(["opportunity_id", "stage_label"], observed=True)["hours"].sum().unstack(fill_value=0)
    per["total"] = per.sum(axis=1)
    d = data.paths.frame.set_index("opportunity_id")
    outcome = d["outcome"].reindex(per.index).fillna("open")
    long = (
        per.assign(outcome=outcome.to_numpy())
        .reset_index()
        .melt(id_vars=["opportunity_id", "outcome"], var_name="stage", value_name="hours")
    )
    long = long[long["hours"] > 0]
    out = (
        long.groupby(["outcome", "stage"], observed=True)["hours"]
        .agg(deals="size", mean="mean", median="median", p90=lambda x: float(np.quantile(x, 0.9)))
        .reset_index()
    )
    pre = [c for c in ("Find", "Meet", "Pitch") if c in per.columns]
    closed = per.loc[outcome.isin(["won", "lost"]).to_numpy(), pre].sum(axis=1)
    if len(closed) >= 5:
        band = pd.qcut(closed.rank(method="first"), 5, labels=[f"Q{i}" for i in range(1, 6)])
        won = outcome.reindex(closed.index).eq("won")
        bands = (
            pd.DataFrame({"band": band, "hours": closed, "won": won})
            .groupby("band", observed=True)
            .agg(deals=("won", "size"), mean=("hours", "mean"), win_rate=("won", "mean"))
            .reset_index()
        )
        bands = bands.assign(outcome="closed", stage="pre-sale hours " + bands.pop("band").astype(str))
        out = pd.concat([out, bands], ignore_index=True)
    return out
