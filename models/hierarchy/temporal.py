"""Weekly → calendar months and quarters, exactly.

A week is seven equal days, so a week that straddles a month (or quarter, or year) boundary gives
each side its share of days: Mon 2026-12-28 puts 4/7 of its value in 2026-12 / 2026Q4 and 3/7 in
2027-01 / 2027Q1. Totals are conserved to float precision (the shares of a week sum to 1).

Quantiles do not add: the q90 of a month is not the sum of its weeks' q90s (that assumes perfectly
correlated errors and overstates the width). Two documented ways are offered:
``aggregate_sample_paths`` (exact up to Monte-Carlo error, when the model can simulate joint paths)
and ``aggregate_quantiles`` (Gaussian error model: per-week spread from each quantile's distance to the
median, AR(1) correlation ``rho`` between weeks of one series, which ``estimate_error_correlation``
can estimate from a backtest).

Grouping (``by``) defaults to ``unique_id`` plus ``level`` when the frame has one, so a forecast frame
of all hierarchy levels goes through as is (and stays coherent: day shares are linear)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from salesplan.contracts import quantile_col, quantile_levels
from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.models.hierarchy.frames import monotone_around_median

__all__ = [
    "Period",
    "aggregate_quantiles",
    "aggregate_sample_paths",
    "estimate_error_correlation",
    "period_coverage",
    "quarter_coverage",
    "to_periods",
    "week_shares",
]

Period = Literal["M", "Q"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _fail(message: str, rows: Iterable[object] = (), fix: str = "", column: str | None = None) -> None:
    items = [str(r) for r in rows]
    raise DataValidationError(
        [Problem(column, message, rows=tuple(items[:5]), n_rows=len(items), fix=fix)], "temporal aggregation"
    )


def _by(df: pd.DataFrame, by: Sequence[str] | None) -> list[str]:
    """Default grouping: the series id, plus its hierarchy ``level`` when the frame has one."""
    if by is not None:
        return list(by)
    return ["unique_id", *(["level"] if "level" in df.columns else [])]


def _check_freq(freq: str) -> None:
    if freq not in ("M", "Q"):
        raise ConfigError(f"freq must be 'M' (calendar month) or 'Q' (calendar quarter), got {freq!r}")


def _week_starts(ds: pd.Series, week_start: int) -> pd.Series:
    """Weekly dates as midnight timestamps, all on ``week_start`` (0 = Monday)."""
    if not pd.api.types.is_datetime64_any_dtype(ds):
        ds = pd.to_datetime(ds, errors="coerce")
    if ds.isna().any():
        _fail("missing or unreadable week dates", ds.index[ds.isna()], "give every row its week start", "ds")
    bad = (ds != ds.dt.normalize()) | (ds.dt.dayofweek != week_start)
    if bad.any():
        _fail(
            f"weekly dates must be {DAYS[week_start]} midnights (the start of each week)",
            ds[bad].dt.strftime("%Y-%m-%d %H:%M").unique(),
            f"shift each date to its week's {DAYS[week_start]}, e.g. ds - pd.to_timedelta(ds.dt.dayofweek, 'D')",
            "ds",
        )
    return ds


def week_shares(ds: pd.Series, freq: Period = "M", *, week_start: int = 0) -> pd.DataFrame:
    """Split each week over calendar periods by days: one or two rows per input row, with ``row``
    (position in ``ds``), ``period`` ("2027-01" / "2027Q1"), ``period_start``, ``days`` (of that week in
    the period) and ``share`` (= days / 7)."""
    _check_freq(freq)
    start = _week_starts(ds.reset_index(drop=True), week_start)
    first = start.dt.to_period(freq)
    end_first = first.dt.end_time.dt.normalize()
    days1 = np.minimum((end_first - start).dt.days.to_numpy() + 1, 7)
    pos = np.arange(len(start))
    second = (start + pd.Timedelta(days=6)).dt.to_period(freq)
    split = days1 < 7
    periods = pd.concat([first, second[split]], ignore_index=True)
    days = np.concatenate([days1, 7 - days1[split]])
    out = pd.DataFrame(
        {
            "row": np.concatenate([pos, pos[split]]),
            "period": periods.astype(str).to_numpy(),
            "period_start": periods.dt.start_time.to_numpy(),
            "days": days,
            "share": days / 7.0,
        }
    )
    return out.sort_values(["row", "period_start"], kind="stable").reset_index(drop=True)


def _period_days(period_start: pd.Series, freq: Period) -> np.ndarray:
    p = period_start.dt.to_period(freq)
    return ((p.dt.end_time.dt.normalize() - p.dt.start_time).dt.days + 1).to_numpy()


def _check_unique(df: pd.DataFrame, keys: list[str]) -> None:
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        _fail(
            f"duplicate rows for {keys}",
            df.loc[dup, keys].astype(str).agg("/".join, axis=1).unique(),
            "keep one row per series and week (sum them first)",
        )


def to_periods(
    df: pd.DataFrame,
    freq: Period = "M",
    value_cols: Sequence[str] = ("yhat",),
    by: Sequence[str] | None = None,
    *,
    week_start: int = 0,
) -> pd.DataFrame:
    """Sum weekly values (forecasts or actuals; not quantiles) to calendar months or quarters.

    Returns ``by..., period, period_start, value_cols..., coverage`` where ``coverage`` is the share of
    the period's days covered by that group's weeks (1.0 = complete; below 1 = partial, e.g. the
    forecast horizon ends mid-quarter). A NaN week makes its periods NaN."""
    by, value_cols = _by(df, by), list(value_cols)
    missing = [c for c in [*by, "ds", *value_cols] if c not in df.columns]
    if missing:
        _fail(f"column(s) {missing} missing", fix="pass the weekly frame with its id and value columns")
    _check_unique(df, [*by, "ds"])
    shares = week_shares(df["ds"], freq, week_start=week_start)
    rows = shares["row"].to_numpy()
    base = df.iloc[rows].reset_index(drop=True)
    vals = base[value_cols].to_numpy(dtype=float) * shares["share"].to_numpy()[:, None]
    work = pd.DataFrame(vals, columns=value_cols)
    for c in by:
        work[c] = base[c].to_numpy()
    work["period"], work["period_start"] = shares["period"], shares["period_start"]
    work["days"] = shares["days"].to_numpy()
    keys = [*by, "period", "period_start"]
    g = work.groupby(keys, sort=True, dropna=False)
    out = g[value_cols].sum()
    out = out.mask(work[value_cols].isna().groupby([work[k] for k in keys], dropna=False).any())
    out["coverage"] = g["days"].sum()
    out = out.reset_index()
    out["coverage"] = out["coverage"] / _period_days(out["period_start"], freq)
    return out


def _parse_period(period: str) -> tuple[pd.Period, Period]:
    text = str(period).strip().upper()
    freq: Period = "Q" if "Q" in text else "M"
    try:
        return pd.Period(text, freq=freq), freq
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"period {period!r} is not like '2027Q1' or '2027-01'") from exc


def period_coverage(ds: pd.Series | Sequence[object], period: str, *, week_start: int = 0) -> float:
    """Share (0–1) of the days of ``period`` ("2027Q1" or "2027-01") covered by the weeks in ``ds``
    (duplicates, e.g. one row per series, are fine) — below 1 means a partial period."""
    p, freq = _parse_period(period)
    weeks = pd.Series(pd.to_datetime(pd.Series(list(ds)), errors="coerce")).drop_duplicates()
    if weeks.empty:
        return 0.0
    shares = week_shares(weeks, freq, week_start=week_start)
    covered = int(shares.loc[shares["period"] == str(p), "days"].sum())
    total = (p.end_time.normalize() - p.start_time).days + 1
    return covered / total


def quarter_coverage(ds: pd.Series | Sequence[object], quarter: str, *, week_start: int = 0) -> float:
    """Share of the days of ``quarter`` (e.g. "2027Q1") covered by the available weeks."""
    if "Q" not in str(quarter).upper():
        raise ConfigError(f"quarter must look like '2027Q1', got {quarter!r}")
    return period_coverage(ds, quarter, week_start=week_start)


def aggregate_quantiles(
    df: pd.DataFrame,
    freq: Period = "M",
    *,
    by: Sequence[str] | None = None,
    rho: float = 0.0,
    nonnegative: bool = False,
    week_start: int = 0,
) -> pd.DataFrame:
    """Quantiles of monthly/quarterly sums from weekly quantile columns (``q10``, ``q50``, ``q90``, …)
    under a Gaussian error model.

    For each quantile level ``tau``, week ``i`` gets the spread ``s_i = (q_tau,i - q50_i) / z_tau``
    (one per side, so skewed inputs stay skewed); the period value is ``sum_i w_i Y_i`` with ``w_i``
    the day share of week ``i``, so ``q_tau = c + z_tau * sqrt(sum_ij w_i w_j s_i s_j rho^|i-j|)``
    with ``|i-j|`` in weeks. The centre ``c`` is ``sum_i w_i yhat_i`` when ``yhat`` is there (means add
    exactly, and a sum of weeks is closer to symmetric than one week), else ``sum_i w_i q50_i``. Exact
    when weekly errors are Gaussian with AR(1) correlation ``rho``; ``rho=0`` (independent) gives the
    narrowest, ``rho=1`` the sum of the weekly offsets.
    ``coverage`` (as in ``to_periods``) flags periods the weeks only partly cover."""
    if not -1.0 < rho <= 1.0:
        raise ConfigError(f"rho must be in (-1, 1], got {rho}; estimate it with estimate_error_correlation")
    by = _by(df, by)
    missing = [c for c in [*by, "ds"] if c not in df.columns]
    if missing:
        _fail(f"column(s) {missing} missing", fix="pass the weekly forecast frame with its id columns")
    qcols = quantile_levels(df.columns)
    if "q50" not in qcols:
        _fail("column 'q50' missing", fix="the median is the centre of the aggregated distribution")
    _check_unique(df, [*by, "ds"])
    shares = week_shares(df["ds"], freq, week_start=week_start)
    base = df.iloc[shares["row"].to_numpy()].reset_index(drop=True)
    week_no = ((pd.to_datetime(base["ds"]) - pd.Timestamp("1970-01-05")).dt.days // 7).to_numpy()
    w = shares["share"].to_numpy()
    q = base[list(qcols)].to_numpy(dtype=float)
    j50 = list(qcols).index("q50")
    centre = base["yhat"].to_numpy(dtype=float) if "yhat" in base.columns else q[:, j50]
    z = np.array([stats.norm.ppf(t) if t != 0.5 else 1.0 for t in qcols.values()])
    spread = (q - q[:, [j50]]) / z
    spread[:, j50] = 0.0
    keys = [*by, "period", "period_start"]
    frame = base[by].assign(period=shares["period"], period_start=shares["period_start"])
    groups = frame.groupby(keys, sort=True, dropna=False).indices
    out_vals = np.empty((len(groups), len(qcols)))
    days = shares["days"].to_numpy()
    covered = np.array([days[idx].sum() for idx in groups.values()], dtype=float)
    for g, idx in enumerate(groups.values()):
        wi, si = w[idx], spread[idx]
        lag = np.abs(week_no[idx][:, None] - week_no[idx][None, :])
        corr = np.where(lag == 0, 1.0, rho ** lag.astype(float))
        ws = wi[:, None] * si
        var = np.einsum("ik,ij,jk->k", ws, corr, ws)
        out_vals[g] = wi @ centre[idx] + z * np.sqrt(np.maximum(var, 0.0))
        out_vals[g, j50] = wi @ centre[idx]
    out_vals = monotone_around_median(out_vals, list(qcols.values()), out_vals[:, j50])
    if nonnegative:
        out_vals = np.maximum(out_vals, 0.0)
    out = pd.DataFrame(list(groups.keys()), columns=keys)
    for j, c in enumerate(qcols):
        out[c] = out_vals[:, j]
    out["coverage"] = covered / _period_days(out["period_start"], freq)
    return out


def aggregate_sample_paths(
    samples: pd.DataFrame,
    freq: Period = "M",
    *,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    by: Sequence[str] | None = None,
    value_col: str = "value",
    sample_col: str = "sample",
    week_start: int = 0,
) -> pd.DataFrame:
    """Quantiles of period sums from joint weekly sample paths (``by..., ds, sample, value``): each path
    is summed over the period by day shares, then quantiles are taken across paths. Keeps whatever
    dependence between weeks the sampler produced. Returns ``by..., period, period_start, yhat, q..``."""
    by = _by(samples, by)
    missing = [c for c in [*by, "ds", sample_col, value_col] if c not in samples.columns]
    if missing:
        _fail(f"column(s) {missing} missing", fix="pass one row per series, week and sample path")
    sums = to_periods(samples, freq, [value_col], [*by, sample_col], week_start=week_start)
    keys = [*by, "period", "period_start"]
    g = sums.groupby(keys, sort=True, dropna=False)[value_col]
    out = g.mean().rename("yhat").to_frame()
    for t in quantiles:
        out[quantile_col(t)] = g.quantile(t)
    return out.reset_index()


def estimate_error_correlation(
    errors: pd.DataFrame, *, by: Sequence[str] = ("unique_id",), value_col: str = "resid"
) -> float:
    """Pooled lag-1 correlation of forecast errors between consecutive weeks (within one ``cutoff``
    when the frame is a backtest, so it measures how the errors of neighbouring horizons move
    together): the ``rho`` to give ``aggregate_quantiles``. Errors are centred and scaled per series
    over all its rows, not per forecast window: demeaning a 12-week window would bias the lag-1
    correlation down by about (1 + 3 rho) / 12."""
    series = list(by)
    keys = [*series, "cutoff"] if "cutoff" in errors.columns else series
    if value_col not in errors.columns:
        if {"y", "yhat"} <= set(errors.columns):
            errors = errors.assign(**{value_col: errors["y"] - errors["yhat"]})
        else:
            _fail(f"column {value_col!r} (or 'y' and 'yhat') missing", fix="pass backtest errors")
    e = errors.sort_values([*keys, "ds"])
    grp = e.groupby(series, sort=False)[value_col]
    z = (e[value_col] - grp.transform("mean")) / grp.transform("std").replace(0.0, np.nan)
    lagged = z.groupby([e[k] for k in keys], sort=False).shift(1)
    step = e.groupby(keys, sort=False)["ds"].diff() == pd.Timedelta(days=7)
    ok = step & z.notna() & lagged.notna()
    if ok.sum() < 3:
        _fail("fewer than 3 pairs of consecutive weekly errors", fix="pass a longer backtest")
    a, b = z[ok].to_numpy(), lagged[ok].to_numpy()
    return float(np.clip(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)), -0.99, 1.0))
