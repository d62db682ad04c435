"""The salesplan default forecaster: a weighted blend of a global LightGBM model and local statistical
models, with weights learned on the members' own rolling-origin errors and conformal quantiles from the
blend's errors on the same origins."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from salesplan.contracts import SelloutSpec
from salesplan.errors import ConfigError
from salesplan.models.forecast.base import BaseForecaster
from salesplan.models.forecast.baselines import SeasonalNaive, WindowAverage
from salesplan.models.forecast.conformal import ConformalCalibrator
from salesplan.models.forecast.global_lgbm import GlobalLGBM
from salesplan.models.forecast.seasonal import SeasonalLevel

KEYS = ["unique_id", "ds", "cutoff"]
MIN_MEMBER_SHARE = 0.1  # a member covering fewer of the series (too little history) sits out


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

    Each member fits the series with enough history for it; series covered by different sets of members
    (tiers: e.g. new products without a season for the seasonal-difference model) are blended with their
    tier's own weights (``tier_weights_``); a member covering under 10 % of the series sits out
    (``dropped_members_``).
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
        n = data.groupby("unique_id", sort=False).size()
        members = self._members()
        # Each member fits the series long enough for it (a new product must not switch LightGBM off for
        # the whole catalogue); one covering too few series sits out (``dropped_members_``).
        covered = [n >= m.min_history() for m in members]
        keep = [bool(c.sum() >= max(1, MIN_MEMBER_SHARE * len(n))) for c in covered]
        self.dropped_members_ = [m.name for m, k in zip(members, keep, strict=True) if not k]
        usable = [(m, c) for m, c, k in zip(members, covered, keep, strict=True) if k]
        self.members_ = [
            m.fit(data if c.all() else data[data["unique_id"].isin(n.index[c.to_numpy()])], spec)
            for m, c in usable
        ]
        names = [f"{i}:{m.name}" for i, m in enumerate(self.members_)]
        mask = np.column_stack([c.to_numpy() for _, c in usable])  # series × member: member covers series
        if mask.all():
            self._fit_one_tier(names)
        else:
            self._fit_tiers(names, pd.Series([tuple(r) for r in mask.tolist()], index=n.index.astype(str)))
        self.calibrator_ = (
            ConformalCalibrator(self.quantiles).fit(self.calib_cv_, self.scale_) if self.quantiles else None
        )
        return self

    def _cv_wide(self, names: list[str], how: str) -> pd.DataFrame:
        cv = None
        for name, m in zip(names, self.members_, strict=True):
            part = m.calib_cv_[[*KEYS, "step", "y", "yhat"]].rename(columns={"yhat": name})
            if cv is None:
                cv = part
            elif how == "inner":
                cv = cv.merge(part.drop(columns=["y", "step"]), on=KEYS, how="inner")
            else:
                cv = cv.merge(part, on=KEYS, how="outer", suffixes=("", "_r"))
                for c in ("y", "step"):
                    cv[c] = cv[c].fillna(cv.pop(f"{c}_r"))
        assert cv is not None
        return cv

    def _recency(self, cv: pd.DataFrame) -> np.ndarray:
        # recent origins count more (×recency per older window): the blend serves the next weeks
        age = cv["cutoff"].rank(method="dense", ascending=False).to_numpy() - 1
        return np.asarray(self.recency**age, dtype=float)

    def _fit_one_tier(self, names: list[str]) -> None:
        """Every member covers every series: one weight vector learned on all backtest rows."""
        cv = self._cv_wide(names, "inner")
        preds = cv[names].to_numpy(dtype=float)
        y = cv["y"].to_numpy(dtype=float)
        scale = cv["unique_id"].map(self.scale_).to_numpy(dtype=float)
        self.weights_ = learn_weights(preds, y, scale, self.weight_step, self._recency(cv))
        self.tier_weights_ = {tuple([True] * len(names)): self.weights_}
        self.tier_of_: pd.Series | None = None  # every series in the one tier
        cv["yhat"] = preds @ self.weights_
        self.member_scores_ = pd.Series(
            np.abs(y[:, None] - np.column_stack([preds, cv["yhat"]])).T @ (1 / scale) / len(y),
            index=[*names, "blend"],
        )
        self.calib_cv_ = cv[[*KEYS, "step", "y", "yhat"]]

    def _fit_tiers(self, names: list[str], tier_of: pd.Series) -> None:
        """Series differ in which members cover them (history length): each tier (set of covering members)
        gets weights learned on the backtest rows where all its members forecast (so on the longer series
        too), and each series is blended with its tier's weights."""
        cv = self._cv_wide(names, "outer")
        preds = cv[names].to_numpy(dtype=float)
        y = cv["y"].to_numpy(dtype=float)
        scale = cv["unique_id"].map(self.scale_).to_numpy(dtype=float)
        recency = self._recency(cv)
        self.tier_weights_ = {}
        for tier in sorted(set(tier_of), key=sum, reverse=True):
            cols = np.flatnonzero(tier)
            rows = ~np.isnan(preds[:, cols]).any(axis=1)
            w = np.zeros(len(names))
            w[cols] = learn_weights(
                preds[rows][:, cols], y[rows], scale[rows], self.weight_step, recency[rows]
            )
            self.tier_weights_[tier] = w
        self.tier_of_ = tier_of
        full = tuple([True] * len(names))
        self.weights_ = self.tier_weights_.get(full, self.tier_weights_[max(self.tier_weights_, key=sum)])
        W = np.array([self.tier_weights_[t] for t in cv["unique_id"].map(tier_of)])
        cv["yhat"] = np.nansum(W * np.nan_to_num(preds), axis=1)
        # rows where the series' members all forecast
        own = np.asarray(~np.isnan(np.where(W > 0, preds, 0.0)).any(axis=1), dtype=bool)
        both = ~np.isnan(preds).any(axis=1)
        self.member_scores_ = pd.Series(
            np.abs(y[both, None] - np.column_stack([preds[both], cv["yhat"].to_numpy()[both]])).T
            @ (1 / scale[both])
            / max(int(both.sum()), 1),
            index=[*names, "blend"],
        )
        self.calib_cv_ = cv.loc[own, [*KEYS, "step", "y", "yhat"]].assign(
            step=lambda d: d["step"].astype(int)
        )

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
        # one path for one tier and many: a fit with every member on every series has tier_of_ None and one
        # tier (models pickled before tiers existed have no tier_weights_ and blend with weights_)
        tier_of = getattr(self, "tier_of_", None)
        tiers = getattr(self, "tier_weights_", None) or {tuple([True] * len(self.members_)): self.weights_}
        W = np.array(list(tiers.values()))
        wide: pd.DataFrame | None = None
        for i, m in enumerate(self.members_):
            if not (W[:, i] > 0).any():
                continue
            fc = m._predict_point(h, m._check_future(h, X))[["unique_id", "ds", "yhat"]]
            fc = fc.assign(yhat=fc["yhat"].clip(lower=0.0 if self.nonneg_ else None)).rename(
                columns={"yhat": i}
            )
            wide = fc if wide is None else wide.merge(fc, on=["unique_id", "ds"], how="outer")
        assert wide is not None
        cols = [int(c) for c in wide.columns if c not in ("unique_id", "ds")]  # member positions
        if tier_of is None:
            weights = W[:1, cols]
        else:
            code = {t: k for k, t in enumerate(tiers)}
            tier_code = pd.Series([code[t] for t in tier_of], index=tier_of.index)
            weights = W[wide["unique_id"].map(tier_code).to_numpy(dtype=int)][:, cols]
        out = wide[["unique_id", "ds"]].copy()
        out["yhat"] = (weights * np.nan_to_num(wide[cols].to_numpy(dtype=float))).sum(axis=1)
        return out

    def member_forecasts(self, h: int, X_future: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
        """Each member's own forecast (with its own conformal quantiles), for inspection."""
        self._check_fitted()
        return {m.name: m.predict(h, X_future) for m in self.members_}
