"""The salesplan default forecaster: a weighted blend of a global LightGBM model and local statistical
models, with weights learned on the members' own rolling-origin errors and conformal quantiles from the
blend's errors on the same origins."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from models.forecast.base import BaseForecaster
from models.forecast.baselines import SeasonalNaive, WindowAverage
from models.forecast.conformal import ConformalCalibrator
from models.forecast.global_lgbm import GlobalLGBM
from models.forecast.seasonal import SeasonalLevel
from salesplan.contracts import SelloutSpec
from salesplan.errors import ConfigError

KEYS = ["unique_id", "ds", "cutoff"]


def default_members(season_length: int = 52, n_jobs: int = 1) -> list[BaseForecaster]:
    """Two global LightGBMs carry the drivers (price, promotion, calendar): one on levels, one on the
    change from the same week last season; the seasonal profile at the current level (``SeasonalLevel``,
    the closed-form counterpart of MSTL, which beat the blend without it on Walmart), seasonal naive and a
    4-week mean are robust anchors. (AutoTheta got weight 0–0.1 on Walmart/Dominick's backtests for ~40 %
    of the fit time, so it is not a default member; pass it in ``members`` to try.)"""
    return [
        GlobalLGBM(season_length=season_length, n_jobs=n_jobs),
        GlobalLGBM(seasonal_diff=True, season_length=season_length, n_jobs=n_jobs),
        SeasonalLevel(season_length=season_length, n_jobs=n_jobs),
        SeasonalNaive(season_length=season_length, n_jobs=n_jobs),
        WindowAverage(window_size=4, season_length=season_length, n_jobs=n_jobs),
    ]


def simplex_grid(k: int, step: float) -> np.ndarray:
    """All weight vectors on the ``step`` lattice of the k-simplex (vertices = single members)."""
    n = round(1 / step)
    pts = [c for c in itertools.product(range(n + 1), repeat=k) if sum(c) == n]
    return np.array(pts, dtype=float) / n


def learn_weights(
    preds: np.ndarray,
    y: np.ndarray,
    scale: np.ndarray,
    step: float = 0.05,
    row_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Weights minimising the scaled absolute error (a MASE-like loss) over the backtest rows.

    A lattice search rather than a solver: it is exact on the lattice, cannot overfit to negative weights,
    and includes every single member, so the learned blend is never worse than the best member on the
    rows it was learned on. Chunked so memory stays at ~64 × rows floats."""
    grid = simplex_grid(preds.shape[1], step)
    inv = (row_weight if row_weight is not None else 1.0) / scale
    loss = np.concatenate(
        [np.abs(y[None, :] - g @ preds.T) @ inv for g in np.array_split(grid, max(1, len(grid) // 64))]
    )
    return np.asarray(grid[int(np.argmin(loss))])


class SalesplanForecaster(BaseForecaster):
    """Backtest-weighted blend of ``members`` (default: ``default_members()``).

    Members that need more history than the shortest series are left out (``dropped_members_``).
    At fit, every member runs ``calib_windows`` rolling origins of ``calib_horizon``; weights are learned
    on those errors (``learn_weights``; each older origin counts ``recency`` times the next), the blend's errors on the same origins calibrate the quantiles,
    and the members are refit on all data. ``member_scores_`` holds the backtest MASE-like loss of each
    member and of the blend."""

    def __init__(
        self,
        members: Sequence[BaseForecaster] | None = None,
        weight_step: float = 0.05,
        recency: float = 0.5,
        season_length: int = 52,
        freq: str = "W",
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int = 13,
    ) -> None:
        super().__init__(season_length, freq, quantiles, n_jobs, calib_windows, calib_horizon)
        self.members = members
        self.weight_step = weight_step
        self.recency = recency

    def _members(self) -> list[BaseForecaster]:
        base = self.members if self.members is not None else default_members(self.season_length, self.n_jobs)
        if not base:
            raise ConfigError("SalesplanForecaster: members is empty; pass at least one forecaster or None")
        return [
            clone(m).set_params(
                calib_windows=self.calib_windows, calib_horizon=self.calib_horizon, quantiles=self.quantiles
            )
            for m in base
        ]

    def _min_length(self) -> int:
        return min(m._min_length() for m in self._members())

    def fit(self, df: pd.DataFrame, spec: SelloutSpec | None = None) -> SalesplanForecaster:
        self._check_params()
        if self.calib_windows < 1:
            raise ConfigError(
                "SalesplanForecaster needs calib_windows >= 1: the weights are learned on backtest errors"
            )
        data = self._prepare(df, spec)
        self._check_length(data, extra=self.calib_windows * self.calib_horizon)
        shortest = int(data.groupby("unique_id", sort=False).size().min())
        # members needing more history than the shortest series (SeasonalNaive on < 1 season) sit out
        usable = [m for m in self._members() if m.min_history() <= shortest]
        self.dropped_members_ = [m.name for m in self._members() if m.min_history() > shortest]
        self.members_ = [m.fit(data, spec) for m in usable]
        names = [f"{i}:{m.name}" for i, m in enumerate(self.members_)]
        cv = None
        for name, m in zip(names, self.members_, strict=True):
            part = m.calib_cv_[[*KEYS, "step", "y", "yhat"]].rename(columns={"yhat": name})
            cv = part if cv is None else cv.merge(part.drop(columns=["y", "step"]), on=KEYS, how="inner")
        assert cv is not None
        preds = cv[names].to_numpy(dtype=float)
        y = cv["y"].to_numpy(dtype=float)
        scale = cv["unique_id"].map(self.scale_).to_numpy(dtype=float)
        # recent origins count more (×recency per older window): the blend serves the next weeks
        age = cv["cutoff"].rank(method="dense", ascending=False).to_numpy() - 1
        self.weights_ = learn_weights(preds, y, scale, self.weight_step, self.recency**age)
        cv["yhat"] = preds @ self.weights_
        self.member_scores_ = pd.Series(
            np.abs(y[:, None] - np.column_stack([preds, cv["yhat"]])).T @ (1 / scale) / len(y),
            index=[*names, "blend"],
        )
        self.calib_cv_ = cv[[*KEYS, "step", "y", "yhat"]]
        self.calibrator_ = (
            ConformalCalibrator(self.quantiles).fit(self.calib_cv_, self.scale_) if self.quantiles else None
        )
        return self

    @property
    def required_regressors(self) -> list[str]:
        self._check_fitted()
        return sorted({c for m in self.members_ for c in m.required_regressors})

    @property
    def weights(self) -> pd.Series:
        """Learned weight of each member (by member name)."""
        self._check_fitted()
        return pd.Series(self.weights_, index=[m.name for m in self.members_])

    def _predict_point(self, h: int, X: pd.DataFrame | None) -> pd.DataFrame:
        out: pd.DataFrame | None = None
        for w, m in zip(self.weights_, self.members_, strict=True):
            if w == 0:
                continue
            fc = m._predict_point(h, m._check_future(h, X))[["unique_id", "ds", "yhat"]]
            fc["yhat"] = w * fc["yhat"].clip(lower=0.0 if self.nonneg_ else None)
            out = fc if out is None else _add(out, fc)
        assert out is not None
        return out

    def member_forecasts(self, h: int, X_future: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
        """Each member's own forecast (with its own conformal quantiles), for inspection."""
        self._check_fitted()
        return {m.name: m.predict(h, X_future) for m in self.members_}


def _add(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    m = a.merge(b, on=["unique_id", "ds"], how="inner", suffixes=("", "_b"))
    m["yhat"] = m["yhat"] + m.pop("yhat_b")
    return m
