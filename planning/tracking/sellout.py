"""Plan vs actual vs landing for every unit of an approved sell-out proposal.

Inputs are frames, never models: the champion's batch forecast frame (``salesplan.contracts.forecast``,
every level at the data's frequency and the quarter), the actuals of the bottom series (sell-out contract:
``unique_id, ds, y``), and the proposal's rows (``level, unit_id, parent_id, target, p_hit`` and the
monthly targets ``m1..m3``). Bottom actuals are summed to every unit through the hierarchy columns the
batch carries; the plan to date spreads each month's target over its periods in proportion to the
forecast (weekly where the data are weekly), so "pace" compares like with like."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.contracts import quantile_col
from salesplan.errors import ConfigError
from salesplan.planning.tracking.calendar import QuarterCalendar, quarter_calendar
from salesplan.planning.tracking.landing import CONDITIONING, SPREAD_FLOOR, LandingInputs, landing

__all__ = [
    "TRACKING_COLUMNS",
    "Tracking",
    "fan_series",
    "plan_periods",
    "rollup_actuals",
    "track_sellout",
    "unit_rows",
    "unplaced_note",
    "unplaced_series",
    "week_start_of",
]

TRACKING_COLUMNS = [
    "level", "unit_id", "parent_id", "target", "actual_to_date", "plan_to_date", "forecast_to_date",
    "attainment", "pace", "landing_p10", "landing_p50", "landing_p90", "landing_vs_target", "p_hit",
    "p_hit_at_approval", "elapsed", "periods",
]  # fmt: skip
MONTH_COLS = ("m1", "m2", "m3")
HIERARCHY_SKIP = {"unique_id", "level", "freq", "period", "ds", "yhat", "coverage", "source", "method",
                  "assumed_share", "model", "model_version"}  # fmt: skip


@dataclass(frozen=True)
class Tracking:
    """``units``: one row per unit (``TRACKING_COLUMNS``); ``series``: per unit and period ``unit_id, ds,
    plan_cum, actual_cum, landing_p10, landing_p50, landing_p90`` (cumulative, for the fan chart);
    ``as_of`` and ``calendar`` say what was elapsed."""

    quarter: str
    as_of: pd.Timestamp
    calendar: QuarterCalendar
    units: pd.DataFrame
    series: pd.DataFrame


def _hierarchy_cols(forecast: pd.DataFrame) -> list[str]:
    from salesplan.contracts import quantile_levels

    q = set(quantile_levels(forecast.columns))
    return [c for c in forecast.columns if c not in HIERARCHY_SKIP and c not in q]


def rollup_actuals(bottom: pd.DataFrame, forecast: pd.DataFrame, levels: Sequence[str]) -> pd.DataFrame:
    """Bottom-series actuals (``unique_id, ds, y``) summed to the units of ``levels`` (``unique_id, level,
    ds, y``). The bottom series' hierarchy columns come from the batch frame's bottom-level rows; a series
    the batch does not know (new since the forecast) is counted where its own hierarchy columns place it."""
    hcols = _hierarchy_cols(forecast)
    keys = forecast.drop_duplicates("unique_id")
    bottom_level = keys.loc[keys[hcols].notna().sum(axis=1).idxmax(), "level"] if hcols else None
    bmap = keys.loc[keys["level"] == bottom_level, ["unique_id", *hcols]]
    acts = bottom[["unique_id", "ds", "y", *[c for c in hcols if c in bottom.columns]]].copy()
    acts["unique_id"] = acts["unique_id"].astype(str)
    acts = acts.merge(bmap, on="unique_id", how="left", suffixes=("_own", ""))
    for c in hcols:
        if f"{c}_own" in acts.columns:
            acts[c] = acts[c].fillna(acts.pop(f"{c}_own"))
    out = []
    for lv in levels:
        rows = keys[keys["level"] == lv]
        if rows.empty:
            raise ConfigError(
                f"level {lv!r} is not in the forecast batch (it has {sorted(keys['level'].unique())})"
            )
        cols = [c for c in hcols if rows[c].notna().all()]
        if not cols:  # the total
            g = acts.groupby("ds", as_index=False)["y"].sum().assign(unique_id=str(rows["unique_id"].iloc[0]))
        else:
            m = acts.merge(rows[["unique_id", *cols]].rename(columns={"unique_id": "unit"}), on=cols)
            g = m.groupby(["unit", "ds"], as_index=False).agg(y=("y", "sum"))
            g = g.rename(columns={"unit": "unique_id"})
        out.append(g.assign(level=lv))
    return pd.concat(out, ignore_index=True)[["unique_id", "level", "ds", "y"]]


def unplaced_series(bottom: pd.DataFrame, forecast: pd.DataFrame) -> list[str]:
    """The series of ``bottom`` (actuals: ``unique_id`` and any hierarchy columns) the batch does not know
    and that bring none of its hierarchy columns: ``rollup_actuals`` can count them in the total only, so
    a loader should hear of them (a new store's rows without ``region, store`` columns)."""
    hcols = _hierarchy_cols(forecast)
    if not hcols or bottom.empty:
        return []
    keys = forecast.drop_duplicates("unique_id")
    known = set(keys["unique_id"].astype(str))
    ids = bottom["unique_id"].astype(str)
    own = [c for c in hcols if c in bottom.columns]
    placed = bottom[own].notna().any(axis=1) if own else pd.Series(False, index=bottom.index)
    unplaced = ~ids.isin(known) & ~placed
    return sorted(ids[unplaced].unique())


def unplaced_note(bottom: pd.DataFrame, forecast: pd.DataFrame) -> list[str]:
    """A note for the loader and the tracking report on ``unplaced_series`` (empty when there are none)."""
    ids = unplaced_series(bottom, forecast)
    if not ids:
        return []
    some = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
    cols = ", ".join(_hierarchy_cols(forecast))
    return [
        f"{len(ids)} series not in the champion forecast and without hierarchy columns ({some}) count in "
        f"the total only. Fix: load their rows again with the columns {cols} (a changed row is corrected "
        f"and audited), or retrain so the forecast knows them"
    ]


def week_start_of(forecast: pd.DataFrame) -> int:
    """The weekday the batch's weeks start on (0 = Monday; Walmart's start on Friday): its recorded
    ``week_start``, else the weekday of its weekly rows."""
    meta = forecast.attrs.get("salesplan", {})
    if isinstance(meta, dict) and meta.get("week_start") is not None:
        return int(meta["week_start"])
    weeks = pd.to_datetime(forecast.loc[forecast["freq"] == "W", "ds"])
    return int(weeks.dt.dayofweek.mode().iloc[0]) if len(weeks) else 0


def _cells(frame: pd.DataFrame, units: pd.Index, starts: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Row (unit) and column (period) of each row of ``frame``; -1 where it is not tracked."""
    return units.get_indexer(pd.Index(frame["unique_id"].astype(str))), starts.get_indexer(
        pd.Index(frame["ds"])
    )


def _matrix(
    frame: pd.DataFrame, col: str, cells: tuple[np.ndarray, np.ndarray], shape: tuple[int, int]
) -> np.ndarray:
    """Sum of ``col`` per (unit, period), NaN where no row: a scatter-add, as a pivot table costs ~10×
    more on 10k units."""
    r, c = cells
    ok = (r >= 0) & (c >= 0)
    flat = r[ok] * shape[1] + c[ok]
    size = shape[0] * shape[1]
    total = np.bincount(flat, weights=frame[col].to_numpy(float)[ok], minlength=size)
    seen = np.bincount(flat, minlength=size) > 0
    return np.where(seen, total, np.nan).reshape(shape)


def _check_loaded(loaded: np.ndarray, elapsed: int, cal: QuarterCalendar, day: pd.Timestamp) -> None:
    """Refuse an ``as_of`` past the actuals loaded (``loaded``: per period, whether any unit has a row):
    an elapsed period where no unit has a row was not loaded yet, not a period without sales (a unit
    missing from a loaded period did sell nothing), and counting it as zero would land every unit at what
    it sold so far with certainty."""
    loaded = loaded[:elapsed]
    if loaded.all():
        return
    first = int(np.flatnonzero(~loaded)[0])
    have = np.flatnonzero(loaded)
    through = (
        f"are loaded through {cal.ends[have[-1]].date()}" if len(have) else f"of {cal.quarter} are not loaded"
    )
    raise ConfigError(
        f"as of {day.date()}, {int((~loaded).sum())} of the {elapsed} elapsed period(s) of {cal.quarter} have "
        f"no actuals for any unit (the first starts {cal.starts[first].date()}); the actuals {through}. "
        "Load the missing periods (salesplan actuals load; POST /api/v1/actuals) or track as of the last "
        "day loaded"
    )


def track_sellout(
    plan: pd.DataFrame,
    forecast: pd.DataFrame,
    actuals: pd.DataFrame,
    quarter: str,
    as_of: pd.Timestamp | str | None = None,
    freq: str | None = None,
    conditioning: float = CONDITIONING,
    spread_floor: float = SPREAD_FLOOR,
) -> Tracking:
    """Tracking of every unit in ``plan`` (see the module doc). ``actuals``: per unit (``unique_id, ds,
    y``; see :func:`rollup_actuals`). ``as_of`` defaults to the last day of the last period with actuals;
    ``conditioning`` and ``spread_floor`` are ``landing``'s."""
    if freq is None:
        meta = forecast.attrs.get("salesplan", {})
        freq = str(meta.get("freq", "W")) if isinstance(meta, dict) else "W"
    cal = quarter_calendar(quarter, freq, week_start=week_start_of(forecast))
    units = plan["unit_id"].astype(str).tolist()
    index = pd.Index(units)
    shape = (len(units), len(cal.starts))
    # centre on the mean (``yhat``): the mean of a sum is the sum of the means, where summed weekly
    # medians of intermittent series fall far short of the quarter's
    lo_c, hi_c = quantile_col(0.1), quantile_col(0.9)
    mid_c = "yhat" if "yhat" in forecast.columns else quantile_col(0.5)
    fp = forecast[(forecast["freq"] == freq) & forecast["ds"].isin(cal.starts)]
    fq = forecast[(forecast["freq"] == "Q") & (forecast["period"].astype(str) == cal.quarter)]
    fq = fq.set_index(fq["unique_id"].astype(str))
    missing = sorted(set(units) - set(fq.index))
    if missing:
        raise ConfigError(
            f"the forecast batch has no {cal.quarter} quarter for unit(s) {missing[:5]}; track with the batch "
            "the proposal was planned from (or one that covers the quarter)"
        )
    share = cal.share[None, :]
    cells = _cells(fp, index, cal.starts)
    p50, lo, hi = (np.nan_to_num(_matrix(fp, c, cells, shape)) * share for c in (mid_c, lo_c, hi_c))
    act = _matrix(actuals, "y", _cells(actuals, index, cal.starts), shape) * share
    loaded = ~np.isnan(act).all(axis=0)  # periods where some unit has a row
    if as_of is None:
        have = np.flatnonzero(loaded)
        as_of = cal.ends[have[-1]] if len(have) else cal.first_day - pd.Timedelta(days=1)
    day = pd.Timestamp(as_of).normalize()
    e = cal.elapsed(day)
    _check_loaded(loaded, e, cal, day)
    act[:, :e] = np.nan_to_num(act[:, :e])  # a unit with no sale in an elapsed period sold nothing
    act[:, e:] = np.nan
    target = plan["target"].to_numpy(float)
    inp = LandingInputs(
        tuple(units), tuple(cal.starts), p50, lo, hi,
        fq[lo_c].reindex(index).to_numpy(float), fq[hi_c].reindex(index).to_numpy(float), act, e,
        tuple(plan["level"].astype(str)),
    )  # fmt: skip
    land = landing(inp, target, conditioning, spread_floor)
    plan_w = plan_periods(plan, p50, cal)
    plan_to_date = plan_w[:, :e].sum(axis=1)
    out = unit_rows(
        plan, units, land["actual_to_date"].to_numpy(), plan_to_date, land["forecast_to_date"].to_numpy(),
        land[["landing_p10", "landing_p50", "landing_p90"]].to_numpy(), land["p_hit"].to_numpy(), e,
        len(cal.starts),
    )  # fmt: skip
    return Tracking(cal.quarter, day, cal, out, fan_series(units, cal, plan_w, act, p50, land, e))


def unit_rows(
    plan: pd.DataFrame, units: list[str], actual: np.ndarray, plan_to_date: np.ndarray,
    forecast_to_date: np.ndarray | float, landing: np.ndarray, p_hit: np.ndarray, elapsed: int, periods: int,
) -> pd.DataFrame:  # fmt: skip
    """The ``TRACKING_COLUMNS`` of every unit of ``plan`` from its actual and plan to date and its landing
    (``landing``: P10, P50, P90 per unit), with attainment, pace and landing vs target derived here, so
    sell-out and bookings tracking report them alike."""
    target = plan["target"].to_numpy(float)
    q10, q50, q90 = (landing[:, i] for i in range(3))
    with np.errstate(invalid="ignore", divide="ignore"):
        attainment = np.where(target > 0, actual / target, np.nan)
        pace = np.where(plan_to_date > 0, actual / plan_to_date - 1, np.nan)
        vs_target = np.where(target > 0, q50 / target - 1, np.nan)
    return pd.DataFrame(
        {
            "level": plan["level"].astype(str).to_numpy(),
            "unit_id": units,
            "parent_id": plan["parent_id"].to_numpy(),
            "target": target,
            "actual_to_date": actual,
            "plan_to_date": plan_to_date,
            "forecast_to_date": forecast_to_date,
            "attainment": attainment,
            "pace": pace,
            "landing_p10": q10,
            "landing_p50": q50,
            "landing_p90": q90,
            "landing_vs_target": vs_target,
            "p_hit": p_hit,
            "p_hit_at_approval": plan["p_hit"].to_numpy(float) if "p_hit" in plan else np.nan,
            "elapsed": elapsed,
            "periods": periods,
        }
    )


def plan_periods(plan: pd.DataFrame, p50: np.ndarray, cal: QuarterCalendar) -> np.ndarray:
    """Each unit's plan per period: its monthly target over the month's periods by forecast weight (even
    where the forecast is zero); without monthly targets the quarter target by the forecast's shape."""
    out = np.zeros_like(p50)
    month_idx = np.array([cal.months.index(m) if m in cal.months else 0 for m in cal.month])
    have_months = all(c in plan.columns for c in MONTH_COLS) and plan[list(MONTH_COLS)].notna().all(axis=None)
    monthly = (
        plan[list(MONTH_COLS)].to_numpy(float)
        if have_months
        else plan["target"].to_numpy(float)[:, None] * np.array([1.0, 0.0, 0.0])[None, :]
    )
    groups = [np.flatnonzero(month_idx == k) for k in range(3)] if have_months else [np.arange(p50.shape[1])]
    for k, idx in enumerate(groups):
        if not len(idx):
            continue
        w = p50[:, idx]
        tot = w.sum(axis=1, keepdims=True)
        even = np.broadcast_to(cal.share[idx] / cal.share[idx].sum(), w.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            weights = np.where(tot > 0, w / tot, even)
        out[:, idx] = monthly[:, k : k + 1] * weights
    return out


def fan_series(
    units: list[str], cal: QuarterCalendar, plan_w: np.ndarray, act: np.ndarray, p50: np.ndarray,
    land: pd.DataFrame, e: int,
) -> pd.DataFrame:  # fmt: skip
    """Cumulative plan, actual and landing fan per period. The fan's path follows the forecast's shape of
    the remaining periods; its width grows with the square root of the remaining forecast share (a chart
    aid: the end point is exactly the landing P10/P90)."""
    n = len(units)
    plan_cum = plan_w.cumsum(axis=1)
    act_cum = np.where(np.arange(p50.shape[1])[None, :] < e, np.nan_to_num(act).cumsum(axis=1), np.nan)
    rest = p50[:, e:]
    frac = np.divide(rest.cumsum(axis=1), rest.sum(axis=1, keepdims=True), out=np.zeros_like(rest),
                     where=rest.sum(axis=1, keepdims=True) > 0)  # fmt: skip
    a = land["actual_to_date"].to_numpy()[:, None]
    fan = {}
    for q in ("p10", "p50", "p90"):
        end = land[f"landing_{q}"].to_numpy()[:, None] - a
        mid = land["landing_p50"].to_numpy()[:, None] - a
        path = a + mid * frac + (end - mid) * np.sqrt(frac)
        full = np.full_like(p50, np.nan)
        full[:, e:] = path
        if e:
            full[:, e - 1] = a[:, 0]
        fan[q] = full
    return pd.DataFrame(
        {
            "unit_id": pd.Categorical.from_codes(
                list(np.repeat(np.arange(n), len(cal.starts))), categories=pd.Index(units)
            ),
            "ds": np.tile(cal.starts.to_numpy(), n),
            "plan_cum": plan_cum.ravel(),
            "actual_cum": act_cum.ravel(),
            **{f"landing_{q}": v.ravel() for q, v in fan.items()},
        }
    )
