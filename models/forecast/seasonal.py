"""Seasonal profile plus current level: the same weeks of the past seasons, lightly smoothed and averaged,
shifted to the level of the latest weeks. The closed-form counterpart of an STL/MSTL decomposition."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesplan.models.forecast.base import BaseForecaster
from salesplan.models.forecast.panel import future_grid


class SeasonalLevel(BaseForecaster):
    """``y[t − j·m]`` averaged over up to ``n_seasons`` past seasons (each smoothed with the 1-2-1 kernel
    over neighbouring periods when ``smooth``), each season aligned to the latest season's level, plus
    ``damping`` × the change of the last ``level_window`` periods against the same periods one season ago.

    Hand-written rather than statsforecast ``MSTL``: MSTL needs two full seasons (so it cannot be
    backtested on a rolling origin inside two-to-three years of weekly data, and falls back to a naive
    forecast there), fits one STL+ETS per series, and its seasonal component is, with 2–3 seasons, close
    to this average anyway. This closed form works from one season on, costs a pivot, and on Walmart's
    rolling origins it is more accurate than MSTL (the smoothing averages out week-to-week noise; the
    damping keeps one noisy quarter from shifting the whole forecast). Series shorter than a season get
    the mean of their last ``level_window`` periods. ``level_window=None``: a quarter of a season (13
    weeks, 3 months, 1 quarter)."""

    def __init__(
        self,
        level_window: int | None = None,
        n_seasons: int = 3,
        damping: float = 0.7,
        smooth: bool = True,
        season_length: int | None = None,
        freq: str | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int | None = None,
    ) -> None:
        super().__init__(season_length, freq, quantiles, n_jobs, calib_windows, calib_horizon)
        self.level_window = level_window
        self.n_seasons = n_seasons
        self.damping = damping
        self.smooth = smooth

    def _fit_point(self, data: pd.DataFrame) -> None:
        # keep the tail each forecast needs, right-aligned in one matrix (NaN before a series starts)
        self.level_window_ = int(self.level_window or max(1, self.season_ // 4))
        keep = (self.n_seasons + 1) * self.season_ + self.level_window_ + 1
        tail = data.groupby("unique_id", sort=False).tail(keep)
        pos = tail.groupby("unique_id", sort=False).cumcount(ascending=False).to_numpy()
        uids = pd.Index(tail["unique_id"].unique())
        Y = np.full((len(uids), keep), np.nan)
        Y[uids.get_indexer(pd.Index(tail["unique_id"])), keep - 1 - pos] = tail["y"].to_numpy(dtype=float)
        self.uids_, self.tail_ = uids, Y

    def _predict_point(self, h: int, X: pd.DataFrame | None) -> pd.DataFrame:
        yhat = self._forecast(self.tail_, h)
        grid = future_grid(self.last_ds_.reindex(self.uids_), h, self.pfreq_)
        return grid.assign(yhat=yhat.ravel())

    def _forecast(self, Y: np.ndarray, h: int) -> np.ndarray:
        n, m, L = Y.shape[1], self.season_, self.level_window_
        recent = _nanmean(Y[:, n - L :])
        out = np.zeros((Y.shape[0], h))
        steps = np.arange(1, h + 1)
        first = (steps - 1) // m + 1  # the most recent season that lies in the history for that step
        total, count = np.zeros_like(out), np.zeros_like(out)
        for s in range(self.n_seasons):
            j = first + s  # season lag per step
            idx = n - 1 + steps - j * m
            val = self._smoothed(Y, idx)
            shift = self._level_shift(Y, j)  # brings season j to the latest season's level
            ok = np.isfinite(val) & np.isfinite(shift)
            total += np.where(ok, val + shift, 0.0)
            count += ok
        base1 = _nanmean(Y[:, n - L - m : n - m])
        trend = np.where(np.isfinite(base1), recent - base1, 0.0)
        seasonal = total / np.maximum(count, 1) + self.damping * trend[:, None]
        out = np.where(count > 0, seasonal, recent[:, None])
        return np.where(np.isfinite(out), out, 0.0)

    def _smoothed(self, Y: np.ndarray, idx: np.ndarray) -> np.ndarray:
        n = Y.shape[1]
        mid = np.where(idx >= 0, Y[:, np.clip(idx, 0, n - 1)], np.nan)
        if not self.smooth:
            return mid
        # NaN-aware 1-2-1 kernel: at a series' first or last period the missing neighbour is left out
        acc, wsum = 2 * np.nan_to_num(mid), 2.0 * np.isfinite(mid)
        for o in (-1, 1):
            j = idx + o
            v = np.where((j >= 0) & (j < n), Y[:, np.clip(j, 0, n - 1)], np.nan)
            acc, wsum = acc + np.nan_to_num(v), wsum + np.isfinite(v)
        return np.where(np.isfinite(mid), acc / np.maximum(wsum, 1), np.nan)

    def _level_shift(self, Y: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Per series and step: level of the season before the forecast origin's minus season ``j``'s,
        from the ``level_window`` before the origin when both exist, else chained whole-season means."""
        n, m, L = Y.shape[1], self.season_, self.level_window_
        cols = {}
        for jj in np.unique(j):
            shift = np.zeros(Y.shape[0])
            for k in range(1, int(jj)):  # chain season k+1 -> k
                a, b = _nanmean(Y[:, max(n - L - k * m, 0) : n - k * m]), _window(Y, n - L - (k + 1) * m, L)
                local = a - b
                whole = _nanmean(Y[:, max(n - k * m, 0) : n - (k - 1) * m]) - _window(Y, n - (k + 1) * m, m)
                shift += np.where(np.isfinite(local), local, whole)
            cols[int(jj)] = shift
        return np.column_stack([cols[int(v)] for v in j])


def _window(Y: np.ndarray, start: int, width: int) -> np.ndarray:
    """Mean of ``Y[:, start:start+width]`` (NaN-aware; NaN when the window starts before the matrix)."""
    if start < 0:
        part = Y[:, : max(start + width, 0)]
        return _nanmean(part) if part.shape[1] >= width // 2 else np.full(Y.shape[0], np.nan)
    return _nanmean(Y[:, start : start + width])


def _nanmean(a: np.ndarray) -> np.ndarray:
    cnt = np.isfinite(a).sum(axis=1)
    return np.where(cnt > 0, np.nansum(a, axis=1) / np.maximum(cnt, 1), np.nan)
