"""Each deal's path through the stages as known on an as-of date, and its spells in each stage: the
censored view every funnel estimate (conversion, time in stage, productivity) starts from. An earlier
as-of date replays the history, so the estimators can be checked on what was known then."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts.crm import EVENT_RANK, STAGES, CRMData
from salesplan.errors import ConfigError, InsufficientDataError

__all__ = [
    "CUTS",
    "SIGN",
    "DealPaths",
    "data_end",
    "deal_paths",
    "filter_period",
    "resolve_cut",
    "stage_spells",
    "to_date",
]

CUTS: dict[str, str] = {"rep": "rep_id", "cohort": "cohort"}
"""Cut aliases; any other column of the deal-path frame (region, team, product, lead_source, ...) works too."""
SIGN = EVENT_RANK["Sign"]


@dataclass(frozen=True)
class DealPaths:
    """One row per opportunity as of ``as_of``: attributes, the rank of the furthest stage reached, the
    entry time of each stage (``ts_<Stage>``, NaT when skipped or unknown), outcome and loss."""

    frame: pd.DataFrame
    as_of: pd.Timestamp


def data_end(crm: CRMData) -> pd.Timestamp:
    """Latest date anywhere in the CRM: the natural censoring date of the history."""
    o = crm.opportunities
    dates = [crm.stage_events["ts"].max()] if len(crm.stage_events) else []
    dates += [o[c].max() for c in ("created_date", "close_date") if c in o.columns]
    dates = [d for d in dates if pd.notna(d)]
    if not dates:
        raise InsufficientDataError(
            "CRM has no dates (stage_events.ts, opportunities.created_date/close_date): "
            "cannot tell which deals are still open. Fix: pass as_of or add the dates"
        )
    return pd.Timestamp(max(dates))


def to_date(value: Any, what: str) -> pd.Timestamp:
    """A date argument, or a ConfigError that names it."""
    msg = f"{what} {value!r} is not a date. Fix: use ISO dates like 2026-06-30"
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(msg) from None
    if pd.isna(ts):
        raise ConfigError(msg)
    return ts


def deal_paths(crm: CRMData, as_of: Any = None) -> DealPaths:
    """Each deal's path through the funnel as known on ``as_of`` (default: the end of the data).

    An earlier ``as_of`` replays the history: later deals, events and closes are dropped, so the same
    estimators can be checked on a censored view. Expects a CRM that passed ``validate_crm``."""
    end = data_end(crm)
    cut = end if as_of is None else to_date(as_of, "as_of")
    truncated = cut < end
    o = crm.opportunities.copy()
    for c in ("created_date", "close_date", "expected_close_date"):
        o[c] = pd.to_datetime(o[c]) if c in o.columns else pd.NaT
    o = o[o["created_date"].isna() | (o["created_date"] <= cut)]
    if "amount" not in o.columns:
        o["amount"] = np.nan
    closed_late = o["close_date"] > cut
    o.loc[closed_late, "outcome"] = "open"
    o.loc[closed_late, "close_date"] = pd.NaT
    ev = crm.stage_events
    has_events = o["opportunity_id"].isin(ev["opportunity_id"])
    ev = ev[(ev["ts"] <= cut) & ev["opportunity_id"].isin(o["opportunity_id"])]
    ev = ev.assign(stage=ev["stage"].replace({"Won": "Sign"}))
    first = ev.groupby(["opportunity_id", "stage"])["ts"].min().unstack()
    ids = o["opportunity_id"]
    rank = ev[ev["stage"] != "Lost"].assign(r=lambda d: d["stage"].map(EVENT_RANK))
    reached = ids.map(rank.groupby("opportunity_id")["r"].max()).fillna(0)
    if "stage" in o.columns and not truncated:
        # The current-stage column speaks only for deals with no events at all (e.g. Maven prospects).
        col = o["stage"].map(EVENT_RANK).where(~has_events)
        reached = pd.Series(np.fmax(reached.to_numpy(float), col.fillna(0).to_numpy(float)), index=o.index)
    reached = reached.where(o["outcome"] != "won", reached.clip(lower=SIGN)).astype(int)
    out = o.assign(reached=reached.to_numpy())
    for s in STAGES:
        ts = ids.map(first[s]) if s in first.columns else pd.Series(pd.NaT, index=o.index)
        out[f"ts_{s}"] = pd.to_datetime(ts)
    out["ts_Find"] = out["ts_Find"].fillna(out["created_date"])
    out["lost"] = out["outcome"].eq("lost")
    lost_ts = ids.map(first["Lost"]) if "Lost" in first.columns else pd.Series(pd.NaT, index=o.index)
    out["loss_ts"] = pd.to_datetime(lost_ts).fillna(out["close_date"]).where(out["lost"])
    out["cohort"] = out["created_date"].dt.to_period("M").astype(str).where(out["created_date"].notna())
    return DealPaths(_attach_rep_attrs(out, crm.reps).reset_index(drop=True), cut)


def _attach_rep_attrs(deals: pd.DataFrame, reps: pd.DataFrame) -> pd.DataFrame:
    """Team/region/role of the deal's rep where the opportunity itself does not carry them."""
    r = reps.set_index("rep_id") if "rep_id" in reps.columns else pd.DataFrame()
    for c in ("team", "region", "role", "manager"):
        from_rep = deals["rep_id"].map(r[c]) if c in r.columns else pd.Series(np.nan, index=deals.index)
        deals[c] = deals[c].fillna(from_rep) if c in deals.columns else from_rep
    return deals


def resolve_cut(by: str | Sequence[str] | None, cols: pd.Index) -> tuple[str, ...]:
    """Column names of a cut (``rep`` → ``rep_id``), or a ConfigError listing the cuts there are."""
    names = (by,) if isinstance(by, str) else tuple(by or ())
    cols_out = tuple(CUTS.get(b, b) for b in names)
    missing = [b for b, c in zip(names, cols_out, strict=True) if c not in cols]
    if missing:
        raise ConfigError(
            f"funnel cut(s) {missing} not found. Fix: use rep, cohort or a column of the opportunities "
            f"(or of reps): {sorted(c for c in cols if not c.startswith('ts_'))}"
        )
    return cols_out


def filter_period(d: pd.DataFrame, period: tuple[Any, Any] | None) -> tuple[pd.DataFrame, Any]:
    """Deals created in ``period`` (both ends inclusive): a funnel is a property of a creation cohort."""
    if period is None:
        return d, None
    lo, hi = to_date(period[0], "period start"), to_date(period[1], "period end")
    if hi < lo:
        raise ConfigError(f"period {lo.date()} .. {hi.date()} ends before it starts. Fix: swap the two dates")
    return d[d["created_date"].between(lo, hi)], (lo, hi)


def stage_spells(paths: DealPaths, stall_days: float | None = None) -> pd.DataFrame:
    """One row per deal and stage it reached (Find .. Deliver): ``days`` in the stage and ``status``
    1 = moved on, 2 = lost there (or stalled beyond ``stall_days``), 0 = still there on the as-of date
    (censored). A skipped stage is passed through in 0 days; ``days`` is NaN when a time is missing."""
    d = paths.frame
    ts = d[[f"ts_{s}" for s in STAGES]]
    reached, outcome = d["reached"].to_numpy(), d["outcome"].to_numpy()
    as_of = np.datetime64(paths.as_of, "ns")
    attrs = d.drop(columns=[c for c in d.columns if c.startswith("ts_")])
    rows = []
    for i, s in enumerate(STAGES[:-1]):
        start = ts.iloc[:, i].to_numpy("datetime64[ns]")
        nxt = ts.iloc[:, i + 1 :].min(axis=1).to_numpy("datetime64[ns]")  # NaT-skipping
        moved = reached > i
        lost = d["lost"].to_numpy() & (reached == i)
        # Before Sign an open deal is still in play; after Sign a won deal sits in its post-sale stage.
        here = (outcome == ("open" if i < SIGN else "won")) & (reached == i)
        stop = np.where(moved, nxt, np.where(lost, d["loss_ts"].to_numpy("datetime64[ns]"), as_of))
        skipped = moved & np.isnat(start) & ~np.isnat(nxt) & (i > 0)
        days = (stop - start).astype("timedelta64[s]").astype(float) / 86400.0
        days[np.isnat(start) | np.isnat(stop)] = np.nan  # NaT arithmetic casts to a huge negative
        days = np.where(skipped, 0.0, np.maximum(days, 0.0))
        status = np.where(moved, 1, np.where(lost, 2, 0))
        if stall_days is not None:
            status = np.where((status == 0) & (days > stall_days), 2, status)
        keep = (reached >= i) & (moved | lost | here)
        rows.append(
            attrs.loc[keep].assign(stage=s, days=days[keep], status=status[keep], skipped=skipped[keep])
        )
    return pd.concat(rows, ignore_index=True)
