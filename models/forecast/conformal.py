"""Split-conformal quantiles from rolling-origin residuals.

Model-based intervals (ETS/ARIMA likelihoods, LightGBM quantile heads) are badly calibrated on retail data
(overdispersed counts, promotions, structural breaks), so every forecaster turns its point forecast into
quantiles the same way: errors of its own backtest, per horizon step, divided by a per-series scale so one
pool serves big and small series alike, then quantiles of those scaled errors. Each backtest error is divided by its series' scale *as of its origin*
(``origin_scales``), and a forecast's quantiles are multiplied by the scale as of its own origin (the end
of the data): a growing series' older, smaller errors divided by today's larger scale would understate
today's errors (on M1's yearly series the intervals covered 72 % instead of 80 % that way). Written by
hand because
statsforecast/mlforecast conformal intervals are symmetric, unscaled and per series (too few residuals per
series for weekly data) — pooling scaled errors across series is what gives ~nominal coverage here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesplan.contracts import quantile_col
from salesplan.errors import InsufficientDataError, NotFittedError


def scale_window(season: int) -> int:
    """Periods the noise scale looks back: two seasons, at least 8 (104 weeks, 24 months, 8 quarters or
    years): recent enough to follow a series' level, long enough to be stable."""
    return max(2 * season, 8)


def series_scale(df: pd.DataFrame, lag: int = 1, window: int = 104) -> pd.Series:
    """Per-series noise scale: mean |y_t − y_{t−lag}| over the last ``window`` periods.

    Constant series have scale 0; they are floored at 1 % of the median scale (or 1e-6) so scaled errors
    stay finite — documented choice, the same floor the metrics use."""
    tail = df.groupby("unique_id", sort=False).tail(window + lag)
    diff = tail.groupby("unique_id", sort=False)["y"].diff(lag).abs()
    scale = diff.groupby(tail["unique_id"], sort=False).mean()
    scale = scale.reindex(df["unique_id"].unique())
    positive = scale[scale > 0]
    floor = max(0.01 * float(positive.median()), 1e-6) if len(positive) else 1.0
    return scale.fillna(floor).clip(lower=floor)


def origin_scales(data: pd.DataFrame, h: int, n_windows: int, window: int) -> pd.DataFrame:
    """``unique_id, window, scale``: each series' ``series_scale`` on its history before each rolling
    origin (window ``w`` ends ``w × h`` periods before the series' own end, as ``origin_splits`` cuts)."""
    pos = data.groupby("unique_id", sort=False).cumcount(ascending=False).to_numpy()
    parts = []
    for w in range(1, n_windows + 1):
        part = data[pos >= w * h]
        if len(part):
            sc = series_scale(part, window=window)
            parts.append(
                pd.DataFrame({"unique_id": sc.index.astype(str), "window": w, "scale": sc.to_numpy()})
            )
    if not parts:
        return pd.DataFrame({"unique_id": [], "window": [], "scale": []})
    return pd.concat(parts, ignore_index=True)


class ConformalCalibrator:
    """Quantiles of scaled backtest errors per horizon step (pooled over series, ±``smooth`` steps).

    ``fit(cv, scale)`` takes rows ``unique_id, step, y, yhat`` (and ``scale``, the series' scale at the
    row's origin, when present; else ``scale`` maps each series); ``apply(fc, scale)`` adds quantile columns
    ``yhat + scale · Q_step(q)``, named by ``salesplan.contracts.quantile_col`` (``q05``, ``q10``, ...).
    Steps beyond the calibrated horizon reuse the last step's errors."""

    def __init__(self, quantiles: Sequence[float] = (0.1, 0.5, 0.9), smooth: int = 1) -> None:
        self.quantiles = tuple(quantiles)
        self.smooth = smooth

    def fit(self, cv: pd.DataFrame, scale: pd.Series) -> ConformalCalibrator:
        if cv.empty:
            raise InsufficientDataError(
                "conformal calibration got no backtest rows; the history is too short for the calibration "
                "windows. Fix: give more history or lower calib_windows / calib_horizon"
            )
        s = (cv["scale"] if "scale" in cv.columns else cv["unique_id"].map(scale)).to_numpy(dtype=float)
        err = (cv["y"].to_numpy(dtype=float) - cv["yhat"].to_numpy(dtype=float)) / s
        steps = cv["step"].to_numpy(dtype=int)
        ok = np.isfinite(err)
        err, steps = err[ok], steps[ok]
        self.max_step_ = int(steps.max())
        table = np.zeros((self.max_step_, len(self.quantiles)))
        for k in range(1, self.max_step_ + 1):
            pool = err[np.abs(steps - k) <= self.smooth]
            n = len(pool)
            # finite-sample correction pushes outer quantiles outward a little (split conformal)
            levels = [min(max((q * (n + 1) - 0.5) / n, 0.0), 1.0) for q in self.quantiles]
            table[k - 1] = np.quantile(pool, levels)
        self.table_ = np.sort(table, axis=1)  # non-crossing
        self.n_residuals_ = len(err)
        return self

    def apply(self, fc: pd.DataFrame, scale: pd.Series, nonneg: bool = True) -> pd.DataFrame:
        """Add quantile columns to ``fc`` (needs ``unique_id``, ``step``, ``yhat``)."""
        if not hasattr(self, "table_"):
            raise NotFittedError("ConformalCalibrator.apply called before fit; call fit(cv, scale) first")
        out = fc.copy()
        step = np.clip(out["step"].to_numpy(dtype=int), 1, self.max_step_) - 1
        s = out["unique_id"].map(scale).to_numpy(dtype=float)
        s = np.where(np.isfinite(s), s, float(np.nanmedian(scale.to_numpy())))
        yhat = out["yhat"].to_numpy(dtype=float)
        for j, q in enumerate(self.quantiles):
            v = yhat + s * self.table_[step, j]
            out[quantile_col(q)] = np.maximum(v, 0.0) if nonneg else v
        return out
