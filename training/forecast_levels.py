"""Bottom-level weekly forecast → coherent Forecast frame at every hierarchy level, for weeks, calendar
months and quarters, with quantiles calibrated per level and frequency on the forecaster's backtest.

Why this shape:
- Points are summed bottom-up (``models.hierarchy.aggregate``, then ``models.hierarchy.to_periods``), so every
  parent equals the sum of its children at every level and frequency by construction. Chosen by backtest:
  against MinT-shrink on base forecasts of every level (the default blend refit on each level's sums),
  bottom-up had the lower mean per-level WAPE on the simulator (every level) and on Walmart (0.0402 vs
  0.0403; ``benchmarks/reconcile.py``, ``benchmarks/results/reconcile_*.md``); MinT stays in
  ``models.hierarchy``.
- Quantiles do not add, and the bottom model's quantiles say nothing about the spread of a region's
  quarter. So each (level, frequency) gets its own empirical quantiles of the *relative* error
  ``e = (y - yhat) / max(yhat, floor)`` of the same aggregate in the backtest (per cutoff: bottom → level,
  weeks → months/quarters inside that fold's window), and ``q = yhat + max(yhat, floor) * Q(e)``.
  ``floor`` (half the median backtest ``yhat`` of the pool) keeps near-zero series from getting a zero
  width interval.
- Pools, first one with at least ``min_samples`` errors wins: weeks use (level, horizon bucket), then
  (level), then (all levels of the same depth), then (all levels); months and quarters use (level), then (depth). When none
  is big enough, month/quarter quantiles come from the level's calibrated weekly quantiles through
  ``models.hierarchy.aggregate_quantiles`` with the lag-1 error correlation of that level's backtest
  (``source`` column tells which rule was used). Partial periods (``coverage`` < 1) keep the whole-period
  pool by default: on held-out folds of simulated worlds (seeds 4-6) the weekly rule covered partial
  quarters less well (80 % interval: 0.69 vs 0.84-0.85 for region and store/product); ``partial_from_weeks``
  switches to it.
- A fold's window (e.g. 13 weeks) rarely holds a whole calendar quarter: months are calibrated on whole
  months inside the window; quarters on whole quarters when one fits, else on the fold's whole window
  as a "quarter-like" total if the window has 13+ weeks (≈ one quarter); shorter windows give no quarter
  samples, so quarters then use the weekly-aggregated fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from salesplan.contracts import PERIOD_COLUMNS, SelloutDataset, history_columns, quantile_cols
from salesplan.contracts.sellout import Hierarchy
from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError
from salesplan.models.hierarchy import (
    aggregate,
    aggregate_quantiles,
    estimate_error_correlation,
    hierarchy_levels,
    to_periods,
)
from salesplan.models.hierarchy.frames import problem
from salesplan.training.backtest import BacktestResult

FREQS = ("W", "M", "Q")
BUCKETS = ((1, 4), (5, 8), (9, 10_000))
"""Weekly horizon buckets (steps ahead): errors grow with the horizon, pooling keeps samples per pool up."""
QUARTER_LIKE_WEEKS = 13
"""A fold window of at least this many weeks stands in for a quarter when no calendar quarter fits in it."""
OUT_COLS = [*PERIOD_COLUMNS, "yhat"]


def _check_inputs(
    bottom: pd.DataFrame, bt: BacktestResult, dataset: SelloutDataset, freqs: Sequence[str], method: str
) -> Hierarchy:
    """Fail early with one message per problem: what is wrong, where, and how to fix it."""
    if method != "bottom_up":
        raise ConfigError(
            f"forecast_all_levels: method {method!r} is not supported; only 'bottom_up' (coherent by "
            "construction) is implemented. Fix: pass method='bottom_up'"
        )
    bad = [f for f in freqs if f not in FREQS]
    if bad or not freqs:
        raise ConfigError(f"forecast_all_levels: freqs must be a non-empty subset of {FREQS}, got {freqs}")
    hierarchy = dataset.spec.hierarchy
    if hierarchy is None:
        raise ConfigError(
            f"forecast_all_levels: data set {dataset.name!r} has no hierarchy in its spec. "
            "Fix: give SelloutSpec(hierarchy=Hierarchy({...}))"
        )
    src = "forecast_all_levels"
    missing = [c for c in ["unique_id", *hierarchy.columns] if c not in dataset.df.columns]
    if missing:
        raise DataValidationError(
            [
                problem(
                    None, f"history lacks hierarchy column(s) {missing}", fix="load them with the sell-out"
                )
            ],
            f"{src} (dataset)",
        )
    missing = [c for c in ("unique_id", "ds", "yhat") if c not in bottom.columns]
    if missing:
        raise DataValidationError(
            [problem(None, f"column(s) {missing} missing", fix="pass the forecaster's predict() frame")],
            f"{src} (bottom_forecast)",
        )
    dup = bottom.duplicated(["unique_id", "ds"])
    if dup.any():
        raise DataValidationError(
            [
                problem(
                    None,
                    "duplicate rows for one series and week",
                    bottom.loc[dup, "unique_id"].astype(str).unique(),
                    "keep one forecast per unique_id and ds",
                )
            ],
            f"{src} (bottom_forecast)",
        )
    unknown = sorted(set(bottom["unique_id"].astype(str)) - set(dataset.df["unique_id"].astype(str)))
    if unknown:
        raise DataValidationError(
            [
                problem(
                    "unique_id",
                    "bottom series not in the history, so their place in the hierarchy is unknown",
                    unknown,
                    "forecast only series of the data set, or add their history rows",
                )
            ],
            f"{src} (bottom_forecast)",
        )
    f = bt.forecasts
    need = {"unique_id", "ds", "y", "yhat", "cutoff", "step"}
    if f.empty or not need <= set(f.columns):
        raise InsufficientDataError(
            f"{src}: the backtest has {len(f)} rows and columns {sorted(set(f.columns) & need)} of "
            f"{sorted(need)}; quantiles are calibrated on it. Fix: pass the BacktestResult of "
            "salesplan.training.forecast_job.run_backtest on this data set"
        )
    return hierarchy


def _levels_wide(
    frame: pd.DataFrame, hierarchy: Hierarchy, keys: pd.DataFrame, cols: list[str]
) -> pd.DataFrame:
    """Weekly values at every level (``unique_id, level, ds, cols``)."""
    agg = aggregate(frame[["unique_id", "ds", *cols]], hierarchy, cols, keys=keys)
    return agg[["unique_id", "level", "ds", *cols]]


def week_start(ds: pd.Series) -> int:
    """Weekday the data's weeks start on (0 = Monday; Walmart's weeks start on Saturday, 5)."""
    return int(pd.to_datetime(pd.Series(ds)).iloc[0].dayofweek) if len(ds) else 0


def _backtest_aggregates(
    bt: BacktestResult, hierarchy: Hierarchy, keys: pd.DataFrame, freqs: Sequence[str], ws: int = 0
) -> dict[str, pd.DataFrame]:
    """Per frequency, backtest aggregates ``unique_id, level, cutoff, step, y, yhat`` (step: weeks ahead
    for W, 0 for M/Q), each fold aggregated on its own so one origin's forecasts are summed together."""
    out: dict[str, list[pd.DataFrame]] = {f: [] for f in freqs}
    f = bt.forecasts
    known = f["unique_id"].astype(str).isin(set(keys["unique_id"]))
    for cutoff, fold in f[known].groupby("cutoff", sort=True):
        weekly = _levels_wide(fold, hierarchy, keys, ["y", "yhat"])
        start = pd.to_datetime(fold["cutoff"]).iloc[0]
        weekly["step"] = (pd.to_datetime(weekly["ds"]).sub(start).dt.days // 7).astype(int)
        weekly["cutoff"] = cutoff
        if "W" in out:
            out["W"].append(weekly)
        for freq in (x for x in freqs if x != "W"):
            per = to_periods(weekly, freq, ["y", "yhat"], ["unique_id", "level"], week_start=ws)  # type: ignore[arg-type]
            whole = per[per["coverage"] >= 1.0 - 1e-9]
            if whole.empty and freq == "Q" and weekly["step"].max() >= QUARTER_LIKE_WEEKS:
                whole = weekly.groupby(["unique_id", "level"], as_index=False)[["y", "yhat"]].sum()
            out[freq].append(
                whole.assign(cutoff=cutoff, step=0)[["unique_id", "level", "cutoff", "step", "y", "yhat"]]
            )
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in out.items()}


def _conformal_quantiles(e: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Empirical quantiles with the split-conformal finite-sample correction, sorted (non-crossing)."""
    n = len(e)
    levels = [min(max((q * (n + 1) - 0.5) / n, 0.0), 1.0) for q in quantiles]
    return np.sort(np.quantile(e, levels))


def _error_table(
    agg: pd.DataFrame, depth: dict[str, int], quantiles: Sequence[float], weekly: bool, min_samples: int
) -> tuple[dict[tuple[str, int], tuple[np.ndarray, float, str]], set[str]]:
    """(level, bucket) → (quantiles of relative error, floor, pool used); bucket 0 = all horizons.
    Also returns the levels no pool could calibrate."""
    agg = agg.dropna(subset=["y", "yhat"])
    floors = (0.5 * agg.groupby("level")["yhat"].median()).clip(lower=1e-9)
    denom = np.maximum(agg["yhat"].to_numpy(dtype=float), agg["level"].map(floors).to_numpy(dtype=float))
    agg = agg.assign(e=(agg["y"].to_numpy(dtype=float) - agg["yhat"].to_numpy(dtype=float)) / denom)
    agg = agg.assign(depth=agg["level"].map(depth))
    table: dict[tuple[str, int], tuple[np.ndarray, float, str]] = {}
    uncalibrated: set[str] = set()
    buckets = list(enumerate(BUCKETS, 1)) if weekly else []
    for level in depth:
        mine = agg[agg["level"] == level]
        same = agg[agg["depth"] == depth[level]]
        floor = float(floors.get(level, 1e-9))
        for b, (lo, hi) in [*buckets, (0, (0, 10_000))]:
            pools = [(mine, "level"), (same, "depth"), *([(agg, "all levels")] if weekly else [])]
            if b:
                pools = [(mine[mine["step"].between(lo, hi)], "level+horizon"), *pools]
            for pool, name in pools:
                if len(pool) >= min_samples:
                    table[(level, b)] = (_conformal_quantiles(pool["e"].to_numpy(), quantiles), floor, name)
                    break
            else:
                if b == 0:
                    uncalibrated.add(level)
    return table, uncalibrated


def _apply(
    frame: pd.DataFrame,
    table: dict[tuple[str, int], tuple[np.ndarray, float, str]],
    quantiles: Sequence[float],
    step: pd.Series | None,
) -> pd.DataFrame:
    """Write ``q..`` and ``source`` for the rows whose level has a calibrated pool."""
    qnames = quantile_cols(quantiles)
    out = frame.copy()
    vals = np.full((len(out), len(qnames)), np.nan)
    source = np.full(len(out), "", dtype=object)
    bucket = np.zeros(len(out), dtype=int)
    if step is not None:
        for b, (lo, hi) in enumerate(BUCKETS, 1):
            bucket[step.between(lo, hi).to_numpy()] = b
    yhat = out["yhat"].to_numpy(dtype=float)
    levels = out["level"].to_numpy()
    for i in range(len(out)):
        hit = table.get((levels[i], bucket[i])) or table.get((levels[i], 0))
        if hit is not None:
            qe, floor, name = hit
            vals[i] = yhat[i] + max(yhat[i], floor) * qe
            source[i] = f"backtest:{name}"
    out[qnames] = np.maximum(vals, 0.0)
    out["source"] = source
    return out


def forecast_all_levels(
    bottom_forecast: pd.DataFrame,
    backtest: BacktestResult,
    dataset: SelloutDataset,
    *,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    freqs: Sequence[str] = FREQS,
    method: str = "bottom_up",
    min_samples: int = 20,
    partial_from_weeks: bool = False,
) -> pd.DataFrame:
    """Coherent forecast of every hierarchy level for weeks (``W``), calendar months (``M``) and quarters
    (``Q``) with backtest-calibrated quantiles.

    Returns ``unique_id, level, freq, period, ds, yhat, q.., coverage, source``: ``period`` is the week
    start as text for W, ``2027-01`` for M, ``2027Q1`` for Q; ``ds`` the period start; ``coverage`` the
    share of the period covered by forecast weeks (below 1: partial period); ``source`` the calibration
    pool (``backtest:level+horizon|level|depth|all levels`` or ``weekly-aggregated``). Partial months and
    quarters take the weekly-aggregated rule only with ``partial_from_weeks``; by default they use the
    whole-period pool (its relative spread applied to the partial total)."""
    hierarchy = _check_inputs(bottom_forecast, backtest, dataset, freqs, method)
    quantiles = sorted(float(q) for q in quantiles)
    if 0.5 not in quantiles or any(not 0.0 < q < 1.0 for q in quantiles):
        raise ConfigError(
            f"forecast_all_levels: quantiles must lie in (0, 1) and include 0.5 (the median the weekly "
            f"quantiles are summed around), got {quantiles}"
        )
    qnames = quantile_cols(quantiles)
    keys = dataset.df[["unique_id", *hierarchy.columns]].drop_duplicates("unique_id").astype(str)
    bottom = bottom_forecast[["unique_id", "ds", "yhat"]].assign(
        unique_id=bottom_forecast["unique_id"].astype(str)
    )
    depth = {lv.name: len(lv.prefix) for lv in hierarchy_levels(hierarchy)}
    ws = week_start(bottom["ds"])
    calib = _backtest_aggregates(backtest, hierarchy, keys, [*dict.fromkeys(["W", *freqs])], ws)

    weekly = _levels_wide(bottom, hierarchy, keys, ["yhat"])
    origin = weekly["ds"].min() - pd.Timedelta(days=7)
    step = (weekly["ds"] - origin).dt.days // 7
    wtable, weak = _error_table(calib["W"], depth, quantiles, True, min_samples)
    if weak:
        raise InsufficientDataError(
            f"forecast_all_levels: the backtest has fewer than min_samples={min_samples} weekly errors even "
            f"pooled over all levels (levels {sorted(weak)}). Fix: run more backtest origins or lower min_samples"
        )
    weekly_q = _apply(weekly, wtable, quantiles, step)
    parts = []
    if "W" in freqs:
        parts.append(weekly_q.assign(freq="W", period=weekly_q["ds"].dt.strftime("%Y-%m-%d"), coverage=1.0))
    for freq in (f for f in freqs if f != "W"):
        per = to_periods(weekly, freq, ["yhat"], ["unique_id", "level"], week_start=ws)  # type: ignore[arg-type]
        table, uncalibrated = _error_table(calib[freq], depth, quantiles, False, min_samples)
        per = _apply(per.rename(columns={"period_start": "ds"}), table, quantiles, None)
        rows = per["level"].isin(uncalibrated).to_numpy()
        if partial_from_weeks:
            rows |= per["coverage"].to_numpy() < 1.0 - 1e-9
        if rows.any():
            per = _fallback(per, rows, weekly_q, backtest, hierarchy, keys, freq, qnames, ws)
        parts.append(per.assign(freq=freq))
    out = pd.concat(parts, ignore_index=True)
    q = np.maximum.accumulate(out[qnames].to_numpy(dtype=float), axis=1)  # monotone after the 0 clip
    out[qnames] = q
    order = {lv: i for i, lv in enumerate(depth)}
    out = out.assign(_o=out["level"].map(order), _f=out["freq"].map({f: i for i, f in enumerate(FREQS)}))
    out = out.sort_values(["_f", "_o", "unique_id", "ds"], kind="stable")
    return out[[*OUT_COLS, *qnames, "coverage", "source"]].reset_index(drop=True)


def _fallback(
    per: pd.DataFrame,
    rows: np.ndarray,
    weekly_q: pd.DataFrame,
    bt: BacktestResult,
    hierarchy: Hierarchy,
    keys: pd.DataFrame,
    freq: str,
    qnames: list[str],
    ws: int = 0,
) -> pd.DataFrame:
    """Month/quarter quantiles for ``rows`` (levels without enough backtest aggregates, and partial
    periods, whose spread a whole-period pool does not describe): the level's calibrated weekly quantiles
    summed under an AR(1) error model whose correlation is estimated on that level's backtest."""
    f = bt.forecasts[bt.forecasts["unique_id"].astype(str).isin(set(keys["unique_id"]))]
    errs = []
    for cutoff, fold in f.groupby("cutoff", sort=True):
        errs.append(_levels_wide(fold, hierarchy, keys, ["y", "yhat"]).assign(cutoff=cutoff))
    err = pd.concat(errs, ignore_index=True)
    out = per.copy()
    for level in out.loc[rows, "level"].unique():
        wk = weekly_q[weekly_q["level"] == level]
        try:
            rho = estimate_error_correlation(err[err["level"] == level], by=("unique_id",))
        except DataValidationError:
            rho = 0.0  # fewer than 3 consecutive error pairs: independent weeks (narrowest; documented)
        # centred on the weekly medians (not yhat) so the median correction carries over from the weeks
        period: Literal["M", "Q"] = "Q" if freq == "Q" else "M"
        agg = aggregate_quantiles(
            wk[["unique_id", "level", "ds", *qnames]], period, rho=rho, nonnegative=True, week_start=ws
        )
        idx = out.index[rows & (out["level"] == level).to_numpy()]
        merged = out.loc[idx, ["unique_id", "ds"]].merge(
            agg.rename(columns={"period_start": "ds"}), on=["unique_id", "ds"], how="left"
        )
        out.loc[idx, qnames] = merged[qnames].to_numpy()
        out.loc[idx, "source"] = f"weekly-aggregated(rho={rho:.2f})"
    return out


def history_levels(dataset: SelloutDataset, freqs: Sequence[str] = FREQS) -> pd.DataFrame:
    """Actuals of every hierarchy level for weeks, calendar months and quarters, whole periods only:
    ``unique_id, level, freq, period, ds, y``. A month or quarter is whole when the data's weeks cover
    all of its days (judged on the data's calendar, not per series, so a product launched mid-quarter
    still adds its sales to the quarter and parents stay the sum of their children)."""
    hierarchy = dataset.spec.hierarchy
    if hierarchy is None:
        raise ConfigError(
            f"history_levels: data set {dataset.name!r} has no hierarchy in its spec. "
            "Fix: give SelloutSpec(hierarchy=Hierarchy({...}))"
        )
    bad = [f for f in freqs if f not in FREQS]
    if bad or not freqs:
        raise ConfigError(f"history_levels: freqs must be a non-empty subset of {FREQS}, got {freqs}")
    df = dataset.df
    keys = df[["unique_id", *hierarchy.columns]].drop_duplicates("unique_id").astype(str)
    weekly = _levels_wide(
        df[["unique_id", "ds", "y"]].assign(unique_id=df["unique_id"].astype(str)), hierarchy, keys, ["y"]
    )
    ws = week_start(df["ds"])
    dates = pd.Series(np.sort(df["ds"].unique()))
    parts = []
    if "W" in freqs:
        parts.append(weekly.assign(freq="W", period=weekly["ds"].dt.strftime("%Y-%m-%d")))
    for f in (f for f in freqs if f != "W"):
        freq: Literal["M", "Q"] = "Q" if f == "Q" else "M"
        calendar = pd.DataFrame({"unique_id": "all", "ds": dates, "y": 0.0})
        cover = to_periods(calendar, freq, ["y"], ["unique_id"], week_start=ws)
        whole = set(cover.loc[cover["coverage"] >= 1.0 - 1e-9, "period"])
        per = to_periods(weekly, freq, ["y"], ["unique_id", "level"], week_start=ws)
        per = per[per["period"].isin(whole)].rename(columns={"period_start": "ds"})
        parts.append(per.assign(freq=freq))
    out = pd.concat(parts, ignore_index=True)
    order = {lv.name: i for i, lv in enumerate(hierarchy_levels(hierarchy))}
    out = out.assign(_o=out["level"].map(order), _f=out["freq"].map({f: i for i, f in enumerate(FREQS)}))
    out = out.sort_values(["_f", "_o", "unique_id", "ds"], kind="stable")
    return out[history_columns()].reset_index(drop=True)
