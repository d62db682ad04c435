"""Bottom-level forecast → one consistent forecast distribution for every hierarchy level, at the data's
frequency and every coarser one (days → weeks, months, quarters, years; weeks → months, quarters, years;
months → quarters, years; quarters → years), calibrated on the forecaster's rolling-origin backtest.

The point forecast ``yhat`` is the **mean** of its row's distribution; the quantile columns are quantiles
of that same distribution (``q50`` its median). How:

0. *Folds.* Only the backtest folds whose models saw the fitted model's ``full_history`` calibrate (the
   newest two in any case; ``build_batch`` calls ``level_calibration.representative_folds``): a fold
   trained on less is a weaker model, and its errors would widen and shift every level's distribution.
1. *Bottom means.* The bottom model's point forecast is often nearer a median than a mean (LightGBM on
   ``log1p(y)``, blends chosen for absolute error), and medians do not add up: the sum of the stores'
   medians runs below the total's median. So each bottom point is scaled by the backtest's ratio
   ``sum(y) / sum(yhat)`` of its horizon pool, shared out by size third (``bottom_means``: small
   forecasts are low by more than large ones, so each third's ratio sets its share, and the pool's sum
   keeps the pooled correction; bounded to 0.5–2; no correction for series that may go negative).
2. *Coherent means.* Those means are summed bottom-up to every level (``models.hierarchy.aggregate``) and
   to every coarser frequency (``models.hierarchy.to_periods``, weeks split by their days): every parent
   equals the sum of its children and months add up to quarters at every level, by construction.
   Bottom-up was chosen by backtest against MinT-shrink (lower mean per-level WAPE on the simulator and on
   Walmart; ``benchmarks/reconcile.py``); MinT stays in ``models.hierarchy``. Re-run since the blend
   chooses its weight level on its own backtest, MinT-shrink is ahead on the simulator (0.168 against
   0.176) and level on Walmart (0.0398 against 0.0400): switching is open (it needs a base model per upper
   level in the training job, and each level's distribution would then be calibrated around MinT means).
3. *Each level's own distribution.* The backtest folds are summed the same way (bottom means → levels →
   frequencies, each fold on its own), giving per level and frequency the relative errors ``e = (y - mean)
   / n(mean)``, ``n`` the ``level_calibration.normaliser``: ``max(mean, ref / 2)`` (``ref``: the level's
   median backtest mean; near-zero series keep a real width). A row's distribution is its level's error
   distribution shifted so its mean is ``yhat``: ``q_tau = yhat + n(yhat) * (Q_tau(e) - mean(e))``
   (``Q_tau``: conformal empirical quantiles). Studied, not shipped: ``size_power="auto"``, a power law
   ``ref · (mean / ref) ** (1 − power)`` chosen per batch by leave-one-origin-out interval score
   (``choose_size_power``). It evens the coverage across unit sizes (a product a tenth of the median gets
   1.8× the median's relative band, not 5×; ``benchmarks/size_power.py`` on calibration worlds), but the
   landing's constants were chosen on the floor's band shape and over-covered with it (tracking, scored
   worlds, weeks 4 / 8 / 12: 0.791 / 0.795 / 0.836 → 0.830 / 0.837 / 0.867), so it waits for both to be
   chosen together. Pools: at the base frequency (level, horizon bucket), then the level, then its depth,
   then all levels, the first with ``min_samples`` errors; at coarser frequencies only the level's own
   whole periods (a fold window too short for a calendar period but as long as one, e.g. 13 weeks, counts
   as one period-like total).
4. *Summed from the base distribution* when a level has too few whole periods of its own (e.g. the total's
   quarters after 3 folds): its base-period distributions (mean, robust standard deviation) are summed
   with the dependence of that level's backtest errors (``aggregate_moments``): one forecast's errors
   share a shift (the level it missed; its share ``shared`` of the variance) plus AR(1) noise (``rho``;
   ``error_dependence``). The part of the shift common to all the level's series (``common``: what the
   total and the regions miss by) is seen once per origin, so with 2-3 origins its variance is barely
   known: it gets the Student-t predictive with ``origins − 1`` degrees of freedom (issues #19/#21; the
   diagnosis is in ``models.hierarchy.temporal_quantiles``), the rest the gamma distribution with that
   mean and variance (normal for series that may go negative), so the centre is still ``yhat``. Partial periods (``coverage`` < 1) keep the whole-period pool by
   default (on held-out folds of simulated worlds the summed rule covered partial quarters less well);
   ``partial_from_base`` switches to it.
5. *Clipping.* Quantiles are clipped at 0 for non-negative data and made non-decreasing; a mean that a
   very skewed distribution (e.g. a series that is zero more than 90 % of the time) puts outside its own
   P10–P90 widens that interval to reach it, so P10 ≤ yhat ≤ P90 always holds (the count of such rows is
   in the frame's ``attrs``).

``source`` says which pool each row's distribution came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.contracts import (
    FREQS,
    PERIOD_COLUMNS,
    SelloutDataset,
    coarser,
    history_columns,
    period_index,
    period_label,
    quantile_cols,
)
from salesplan.contracts.sellout import Hierarchy
from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError
from salesplan.models.hierarchy import (
    ErrorDependence,
    aggregate_moments,
    error_dependence,
    hierarchy_levels,
    moment_quantiles,
    to_periods,
)
from salesplan.models.hierarchy.frames import problem
from salesplan.training.backtest import BacktestResult
from salesplan.training.bottom_means import mean_correction
from salesplan.training.level_calibration import (
    apply_pools,
    backtest_aggregates,
    bucket_of,
    choose_size_power,
    error_pools,
    horizon_buckets,
    levels_wide,
    relative_errors,
)

__all__ = ["PLAIN_LEVEL", "LevelSetup", "forecast_all_levels", "history_levels", "level_setup", "week_start"]

PLAIN_LEVEL = "series"
"""The bottom level of a panel without a hierarchy: its units are the series (levels: total, series)."""
OUT_COLS = [*PERIOD_COLUMNS, "yhat"]


def week_start(ds: pd.Series) -> int:
    """Weekday the data's weeks start on (0 = Monday; Walmart's weeks start on Friday, 4)."""
    return int(pd.to_datetime(pd.Series(ds)).iloc[0].dayofweek) if len(ds) else 0


@dataclass(frozen=True)
class LevelSetup:
    """The levels of a data set: its hierarchy (a plain panel gets ``total`` and ``series``), the bottom
    keys, the base frequency, the frequencies summed to and the weekday weeks start on."""

    hierarchy: Hierarchy
    keys: pd.DataFrame
    base: str
    freqs: list[str]
    week_start: int
    plain: bool

    @property
    def depth(self) -> dict[str, int]:
        return {lv.name: len(lv.prefix) for lv in hierarchy_levels(self.hierarchy)}


def level_setup(
    dataset: SelloutDataset, freqs: Sequence[str] | None = None, what: str = "levels"
) -> LevelSetup:
    """Levels and frequencies of ``dataset``; ``freqs`` default to the data's and every coarser one."""
    base = dataset.spec.freq
    allowed = [base, *coarser(base)]
    freqs = list(dict.fromkeys(freqs)) if freqs is not None else allowed
    bad = [f for f in freqs if f not in allowed]
    if bad or not freqs:
        raise ConfigError(
            f"{what}: freqs must be a non-empty subset of {allowed} (the data's {base!r} and the coarser "
            f"frequencies it sums to), got {list(freqs)}"
        )
    df = dataset.df
    hierarchy = dataset.spec.hierarchy
    plain = hierarchy is None
    if hierarchy is None:
        hierarchy = Hierarchy({PLAIN_LEVEL: [PLAIN_LEVEL]})
        keys = pd.DataFrame({"unique_id": df["unique_id"].astype(str).unique()})
        keys[PLAIN_LEVEL] = keys["unique_id"]
    else:
        missing = [c for c in ["unique_id", *hierarchy.columns] if c not in df.columns]
        if missing:
            raise DataValidationError(
                [
                    problem(
                        None,
                        f"history lacks hierarchy column(s) {missing}",
                        fix="load them with the sell-out",
                    )
                ],
                f"{what} (dataset)",
            )
        keys = df[["unique_id", *hierarchy.columns]].drop_duplicates("unique_id").astype(str)
    ws = week_start(df["ds"]) if base == "W" else 0  # days → weeks: ISO weeks (Monday)
    order = sorted(freqs, key=FREQS.index)
    return LevelSetup(hierarchy, keys.reset_index(drop=True), base, order, ws, plain)


def _check_inputs(bottom: pd.DataFrame, bt: BacktestResult, dataset: SelloutDataset, method: str) -> None:
    """Fail early with one message per problem: what is wrong, where, and how to fix it."""
    src = "forecast_all_levels"
    if method != "bottom_up":
        raise ConfigError(
            f"{src}: method {method!r} is not supported; only 'bottom_up' (coherent by construction) is "
            "implemented. Fix: pass method='bottom_up'"
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
                    "duplicate rows for one series and period",
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


def _finish(out: pd.DataFrame, qnames: list[str], quantiles: Sequence[float], nonneg: bool) -> int:
    """Clip, order, and widen an interval that misses its own mean (step 5); returns how many rows
    were widened."""
    q = out[qnames].to_numpy(dtype=float)
    if nonneg:
        q = np.maximum(q, 0.0)
    q = np.sort(q, axis=1)
    yhat = out["yhat"].to_numpy(dtype=float)[:, None]
    lo = np.array([t <= 0.1 + 1e-12 for t in quantiles])
    hi = np.array([t >= 0.9 - 1e-12 for t in quantiles])
    before = q.copy()
    q[:, lo] = np.minimum(q[:, lo], yhat)
    q[:, hi] = np.maximum(q[:, hi], yhat)
    widened = int((q != before).any(axis=1).sum())
    out[qnames] = np.sort(q, axis=1)
    return widened


def forecast_all_levels(
    bottom_forecast: pd.DataFrame,
    backtest: BacktestResult,
    dataset: SelloutDataset,
    *,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    freqs: Sequence[str] | None = None,
    method: str = "bottom_up",
    min_samples: int = 20,
    partial_from_base: bool = False,
    size_power: float | str | None = None,
) -> pd.DataFrame:
    """Coherent forecast distribution of every hierarchy level at the data's frequency and the coarser
    ``freqs`` (default: all of them), calibrated on ``backtest`` (module docstring). ``size_power``: the
    error normaliser's power (``level_calibration.normaliser``): None, the default, the half-median floor;
    a number in [0, 1]; or ``"auto"`` (``choose_size_power`` on the backtest; studied, not the default:
    module docstring, step 3).

    Returns ``unique_id, level, freq, period, ds, yhat, q.., coverage, source, method``: ``period`` the
    label (``2027-01-04`` for days and weeks, ``2027-01``, ``2027Q1``, ``2027``), ``ds`` the period start,
    ``yhat`` the mean, ``coverage`` the share of the period's days the forecast covers (below 1: partial
    period), ``source`` the calibration pool (``backtest:level+horizon|level|depth|all levels`` or
    ``from-W(shared=..,rho=..,common=..,origins=..)``), ``method`` what made the point (the bottom model's label per series, ``sum`` for
    aggregates). ``attrs["salesplan"]`` holds the mean correction and the widened-interval count."""
    _check_inputs(bottom_forecast, backtest, dataset, method)
    if not (
        size_power is None
        or size_power == "auto"
        or (isinstance(size_power, float | int) and not isinstance(size_power, bool) and 0 <= size_power <= 1)
    ):
        raise ConfigError(
            f"forecast_all_levels: size_power must be None, a number in [0, 1] or 'auto', got {size_power!r}"
        )
    setup = level_setup(dataset, freqs, "forecast_all_levels")
    quantiles = sorted(float(q) for q in quantiles)
    if 0.5 not in quantiles or any(not 0.0 < q < 1.0 for q in quantiles):
        raise ConfigError(
            f"forecast_all_levels: quantiles must lie in (0, 1) and include 0.5 (the median), got {quantiles}"
        )
    qnames = quantile_cols(quantiles)
    base, ws, hier, depth = setup.base, setup.week_start, setup.hierarchy, setup.depth
    nonneg = bool((dataset.df["y"] >= 0).all())
    buckets = horizon_buckets(backtest.h)
    known = set(setup.keys["unique_id"])

    # 1. bottom means, in the backtest and in the forecast
    f = backtest.forecasts
    folds = f[f["unique_id"].astype(str).isin(known)][["unique_id", "ds", "cutoff", "step", "y", "yhat"]]
    folds = folds.assign(unique_id=folds["unique_id"].astype(str))
    correction = mean_correction(folds, buckets, min_samples, nonneg, span=backtest.h)
    folds = folds.assign(
        yhat=folds["yhat"].to_numpy(dtype=float)
        * correction.factors(folds, ["unique_id", "cutoff"], ["cutoff"])
    )
    bottom = bottom_forecast.assign(unique_id=bottom_forecast["unique_id"].astype(str))
    origin = int(period_index(pd.Series([pd.Timestamp(dataset.df["ds"].max())]), base).iloc[0])
    bottom_step = (period_index(pd.to_datetime(bottom["ds"]), base) - origin).to_numpy()
    bottom = bottom.assign(
        yhat=bottom["yhat"].to_numpy(dtype=float)
        * correction.factors(bottom.assign(step=bottom_step), ["unique_id"])
    )

    # 2.-3. coherent means and each level's own calibrated distribution at the base frequency
    calib = backtest_aggregates(folds, hier, setup.keys, base, setup.freqs, ws)
    base_rows = levels_wide(bottom[["unique_id", "ds", "yhat"]], hier, setup.keys, ["yhat"])
    step = (period_index(base_rows["ds"], base) - origin).to_numpy()
    power = choose_size_power(calib[base]) if isinstance(size_power, str) else size_power
    btable = error_pools(calib[base], depth, quantiles, buckets, min_samples, power=power)
    weak = sorted(set(depth) - {lv for lv, _ in btable})
    if weak:
        raise InsufficientDataError(
            f"forecast_all_levels: the backtest has fewer than min_samples={min_samples} errors even pooled "
            f"over all levels (levels {weak}). Fix: run more backtest origins or lower min_samples"
        )
    base_q, _ = apply_pools(base_rows, btable, quantiles, bucket_of(step, buckets))
    parts = []
    if base in setup.freqs:
        parts.append(base_q.assign(freq=base, period=period_label(base_q["ds"], base), coverage=1.0))

    # 3.-4. coarser frequencies: the level's own whole periods, else summed from the base distribution
    err = calib[base].dropna(subset=["y", "yhat"])
    err = err.assign(e=relative_errors(err, power)[0]) if len(err) else err.assign(e=0.0)
    dependence: dict[str, ErrorDependence] = {}
    for freq in (x for x in setup.freqs if x != base):
        per = to_periods(base_rows, freq, ["yhat"], ["unique_id", "level"], week_start=ws, base=base)
        per = per.rename(columns={"period_start": "ds"})
        table = error_pools(calib[freq], depth, quantiles, None, min_samples, power=power)
        per, got = apply_pools(per, table, quantiles, None)
        todo = ~got
        if partial_from_base:
            todo |= per["coverage"].to_numpy() < 1.0 - 1e-9
        for level in pd.unique(per.loc[todo, "level"]):
            if level not in dependence:
                dependence[level] = error_dependence(err[err["level"] == level], base=base)
            dep = dependence[level]
            # as ratios to the variance the base rows' ``sd`` stands for: the level's all-horizon pool
            shared, noise, common = dep.ratios(btable[(level, 0)].sd ** 2)
            src = base_q[base_q["level"] == level][["unique_id", "level", "ds", "yhat", "sd"]]
            mom = aggregate_moments(
                src,
                freq,
                rho=dep.rho,
                shared=shared,
                common=common,
                noise=noise,
                base=base,
                week_start=ws,
            )
            rows = todo & (per["level"] == level).to_numpy()
            hit = per.loc[rows, ["unique_id", "ds"]].merge(
                mom.rename(columns={"period_start": "ds"}), on=["unique_id", "ds"], how="left"
            )
            per.loc[rows, qnames] = moment_quantiles(
                hit["mean"].to_numpy(),
                hit["sd"].to_numpy(),
                quantiles,
                nonneg,
                sd_common=hit["sd_common"].to_numpy(),
                dof=dep.dof,
            )
            per.loc[rows, "source"] = (
                f"from-{base}(shared={shared:.2f},rho={dep.rho:.2f},"
                f"common={common:.2f},origins={dep.origins})"
            )
        parts.append(per.assign(freq=freq))
    out = pd.concat(parts, ignore_index=True)
    widened = _finish(out, qnames, quantiles, nonneg)
    out["method"] = _methods(out, bottom_forecast, depth)
    order = {lv: i for i, lv in enumerate(depth)}
    out = out.assign(_o=out["level"].map(order), _f=out["freq"].map(FREQS.index))
    out = out.sort_values(["_f", "_o", "unique_id", "ds"], kind="stable")
    out = out[[*OUT_COLS, *qnames, "coverage", "source", "method"]].reset_index(drop=True)
    out.attrs["salesplan"] = {
        "point": "mean",
        "mean_correction": correction.info(),
        "interval_widened_to_mean": widened,
        "size_power": power,
        "horizon_buckets": [[lo, hi if hi < 10**9 else None] for lo, hi in buckets],
    }
    return out


def _methods(out: pd.DataFrame, bottom_forecast: pd.DataFrame, depth: dict[str, int]) -> np.ndarray:
    """What made each row's point: the bottom model's per-series label (its ``method`` column when it has
    one, else ``model``, plus ``cold start`` when the model says so), ``sum`` for every aggregate."""
    bottom_level = list(depth)[-1]
    label = pd.Series("forecast", index=pd.Index(bottom_forecast["unique_id"].astype(str).unique()))
    col = next((c for c in ("method", "model") if c in bottom_forecast.columns), None)
    if col is not None:
        first = bottom_forecast.assign(unique_id=bottom_forecast["unique_id"].astype(str)).drop_duplicates(
            "unique_id"
        )
        names = first.set_index("unique_id")[col].astype(str)
        if "cold_start" in first.columns:
            cold = first.set_index("unique_id")["cold_start"].fillna(False).astype(bool)
            said = names.str.contains("cold start", regex=False)
            names = names.where(~cold | said, names + " (cold start)")
        label = names
    is_bottom = (out["level"] == bottom_level).to_numpy()
    return np.where(is_bottom, out["unique_id"].map(label).fillna("forecast").to_numpy(dtype=object), "sum")


def history_levels(dataset: SelloutDataset, freqs: Sequence[str] | None = None) -> pd.DataFrame:
    """Actuals of every hierarchy level (a plain panel: total and series) at the data's frequency and the
    coarser ``freqs``, whole periods only: ``unique_id, level, freq, period, ds, y``. A coarser period is
    whole when the data's calendar covers all of its days (judged on all series together, so a product
    launched mid-quarter still adds its sales to the quarter and parents stay the sum of their children)."""
    setup = level_setup(dataset, freqs, "history_levels")
    base, ws = setup.base, setup.week_start
    df = dataset.df
    base_rows = levels_wide(
        df[["unique_id", "ds", "y"]].assign(unique_id=df["unique_id"].astype(str)),
        setup.hierarchy,
        setup.keys,
        ["y"],
    )
    dates = pd.Series(np.sort(df["ds"].unique()))
    parts = []
    if base in setup.freqs:
        parts.append(base_rows.assign(freq=base, period=period_label(base_rows["ds"], base)))
    for freq in (f for f in setup.freqs if f != base):
        calendar = pd.DataFrame({"unique_id": "all", "ds": dates, "y": 0.0})
        cover = to_periods(calendar, freq, ["y"], ["unique_id"], week_start=ws, base=base)
        whole = set(cover.loc[cover["coverage"] >= 1.0 - 1e-9, "period"])
        per = to_periods(base_rows, freq, ["y"], ["unique_id", "level"], week_start=ws, base=base)
        per = per[per["period"].isin(whole)].rename(columns={"period_start": "ds"})
        parts.append(per.assign(freq=freq))
    out = pd.concat(parts, ignore_index=True)
    order = {lv: i for i, lv in enumerate(setup.depth)}
    out = out.assign(_o=out["level"].map(order), _f=out["freq"].map(FREQS.index))
    out = out.sort_values(["_f", "_o", "unique_id", "ds"], kind="stable")
    return out[history_columns()].reset_index(drop=True)
