"""One LightGBM model across all series (mlforecast): lags, rolling stats, calendar, price/promotion and
other known-future regressors, and series attributes. Learns price and promotion effects from the whole
panel, which local models cannot, so it also powers what-if scenarios."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean, RollingStd
from mlforecast.target_transforms import Differences

from salesplan.models.forecast.base import BaseForecaster

MIN_ROWS_AFTER_LAG = 8  # keep a lag only if the median series still has this many rows with it
PARALLEL_ROWS = 100_000
"""Training rows from which LightGBM gets ``n_jobs`` threads. Below, one thread: its OpenMP threads
busy-wait between the small per-tree jobs, so on a shared 2-core machine two threads made a 7,000-row fit
50× slower (96 s against 1.8 s, M1 quarterly) instead of faster."""


@contextlib.contextmanager
def _null_lags_expected() -> Iterator[None]:
    """Silence mlforecast's "Found null values" around fit, predict and cross-validation: a series younger
    than a lag has NaN there, on purpose (training keeps those rows, ``dropna=False``, so LightGBM learns its
    missing-value branches)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Found null values")
        yield


class SiblingMonotoneLGBM(lgb.LGBMRegressor):
    """LightGBM whose response to the share of siblings on promotion (``*_group_share``) is constrained
    to be non-increasing (LightGBM ``monotone_constraints``, set from the training columns at each fit).

    Why: within a category × store a sibling's promotion takes shoppers from a series, it does not bring
    them (substitution). Left free, the trees fitted noise there: on a slow seller of the serving test
    world a sibling's promotion *raised* its forecast. The constraint only applies when the feature
    exists (a hierarchy with a category and a store), so panels without it fit exactly as before."""

    def fit(self, X: Any, y: Any, *args: Any, **kwargs: Any) -> SiblingMonotoneLGBM:
        cols = [str(c) for c in getattr(X, "columns", [])]
        shares = [-1 if c.endswith("_group_share") else 0 for c in cols]
        self.set_params(monotone_constraints=shares if any(shares) else None)  # none left from a refit
        super().fit(X, y, *args, **kwargs)
        return self


def week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.isocalendar().week.to_numpy().astype("int64")


def month(dates: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(dates.month, dtype="int64")


def quarter(dates: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(dates.quarter, dtype="int64")


def day_of_week(dates: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(dates.dayofweek, dtype="int64")


LAGS: dict[str, tuple[int, ...]] = {
    "D": (1, 2, 3, 4, 5, 6, 7, 14, 21, 28),
    "W": (1, 2, 3, 4, 8, 13, 26, 52),
    "M": (1, 2, 3, 6, 12),
    "Q": (1, 2, 3, 4, 8),
    "Y": (1, 2, 3),
}
"""Default lags per frequency: the last few periods, then one and two seasons back where a season exists
(a week's days, a year's weeks, months and quarters); years have no season."""
ROLLING: dict[str, tuple[int, ...]] = {"D": (7, 28), "W": (4, 13), "M": (3, 12), "Q": (4,), "Y": (3,)}
"""Rolling means of the last value per frequency (a month and a quarter of weeks, a quarter and a year of
months, ...); the longest window also gives a rolling standard deviation."""
DATE_FEATURES: dict[str, tuple[Any, ...]] = {
    "D": (day_of_week, month),
    "W": (week_of_year, month),
    "M": (month,),
    "Q": (quarter,),
    "Y": (),
}
"""Calendar features per frequency: position in the week and year for days, week and month of the year for
weeks, the month or quarter of the year; none for years."""


class GlobalLGBM(BaseForecaster):
    """Global gradient-boosted trees on ``log1p(y)`` (multiplicative effects become additive, big and small
    series share one model).

    Features: ``lags`` (default per frequency, ``LAGS``: weeks 1–4, 8, 13, 26, 52; months 1–3, 6, 12;
    quarters 1–4, 8; years 1–3; dropped when the median series is too short), rolling means/std of lag 1
    (``ROLLING``), calendar features of the frequency (``DATE_FEATURES``), every known-future regressor (price enters as log of price over the
    series' median price, so the model can learn one elasticity-like curve), the share of the *other*
    series of the same ``promo_group`` on promotion (cannibalisation), and static/hierarchy attributes
    as categoricals. ``seasonal_diff=True`` learns the change against the same period one season ago
    (mlforecast ``Differences``): seasonal naive plus learned corrections, strong on yearly retail; with a
    season of one period (yearly data) that is the change from the last period, a learned trend."""

    uses_regressors: ClassVar[bool] = True
    is_global: ClassVar[bool] = True
    min_obs: ClassVar[int] = 8

    def __init__(
        self,
        lags: Sequence[int] | None = None,
        rolling_windows: Sequence[int] | None = None,
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 63,
        min_child_samples: int = 20,
        log_target: bool = True,
        seasonal_diff: bool = False,
        promo_group: Sequence[str] | None = None,
        random_state: int = 0,
        season_length: int | None = None,
        freq: str | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int | None = None,
    ) -> None:
        super().__init__(season_length, freq, quantiles, n_jobs, calib_windows, calib_horizon)
        self.lags = lags
        self.rolling_windows = rolling_windows
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.log_target = log_target
        self.seasonal_diff = seasonal_diff
        self.promo_group = promo_group
        self.random_state = random_state

    @property
    def name(self) -> str:
        return "GlobalLGBM_sdiff" if self.seasonal_diff else "GlobalLGBM"

    def _min_length(self) -> int:
        return max(self.min_obs, self.season_ + 1 if self.seasonal_diff else 0)

    # ------------------------------------------------------------------ features
    def _setup(self, data: pd.DataFrame) -> None:
        typical = int(data.groupby("unique_id", sort=False).size().median())
        self.threads_ = self.n_jobs if len(data) >= PARALLEL_ROWS else 1
        # rows with a missing lag stay in training (LightGBM handles NaN), so a lag only needs to exist in
        # the typical series' history (each rolling origin's fit chooses its own, on its own history)
        usable = typical - MIN_ROWS_AFTER_LAG
        season = self.season_
        lags = list(self.lags) if self.lags is not None else list(LAGS[self.freq_])
        if self.lags is None and season > 1 and season not in lags:
            lags.append(season)  # a custom season (e.g. 365 days) is a lag too
        self.lags_ = sorted(k for k in lags if k <= max(usable, 1)) or [1]
        windows = self.rolling_windows if self.rolling_windows is not None else ROLLING[self.freq_]
        self.windows_ = [w for w in windows if w <= max(usable, 2)] or [2]
        self.log_ = self.log_target and self.nonneg_
        regs = self.roles_.regressors
        self.ref_price_ = (
            data.groupby("unique_id", sort=False)["price"].median().clip(lower=1e-9)
            if "price" in regs
            else None
        )
        self.group_cols_ = list(self.promo_group) if self.promo_group is not None else _default_group(self)
        self.group_cols_ = [c for c in self.group_cols_ if c in data.columns]
        self.group_of_ = (
            data.groupby("unique_id", sort=False)[self.group_cols_].first() if self.group_cols_ else None
        )
        self.cat_levels_ = {
            c: sorted(data[c].astype(str).unique())
            for c in self.roles_.statics
            if not pd.api.types.is_numeric_dtype(data[c])
        }

    def _dynamic(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Known-future features from the raw regressors (same code for history and future rows)."""
        out = frame[["unique_id", "ds"]].copy()
        for c in self.roles_.regressors:
            if c == "price" and self.ref_price_ is not None:
                ref = frame["unique_id"].map(self.ref_price_).to_numpy(dtype=float)
                out["log_rel_price"] = np.log(np.clip(frame["price"].to_numpy(dtype=float), 1e-9, None) / ref)
            else:
                out[c] = frame[c].to_numpy(dtype=float)
        if self.group_of_ is not None:
            for p in self.roles_.promo[:1]:
                out[f"{p}_group_share"] = _sibling_share(frame, p, self.group_of_)
        return out

    def _statics(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[["unique_id"]].copy()
        for c in self.roles_.statics:
            if c in self.cat_levels_:
                out[c] = pd.Categorical(frame[c].astype(str), categories=self.cat_levels_[c])
            else:
                out[c] = frame[c].to_numpy()
        return out.drop(columns="unique_id")

    def _train_frame(self, data: pd.DataFrame) -> pd.DataFrame:
        y = data["y"].to_numpy(dtype=float)
        dyn = self._dynamic(data)
        return pd.concat(
            [
                dyn,
                pd.Series(np.log1p(y) if self.log_ else y, name="y", index=data.index),
                self._statics(data),
            ],
            axis=1,
        )

    def _engine(self) -> MLForecast:
        model = SiblingMonotoneLGBM(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.random_state,
            n_jobs=self.threads_,
            verbose=-1,
        )
        transforms: dict[int, list[Any]] = {
            1: [RollingMean(window_size=w) for w in self.windows_]
            + [RollingStd(window_size=max(self.windows_))]
        }
        return MLForecast(
            models={"lgbm": model},
            freq=self.pfreq_,
            lags=self.lags_,
            lag_transforms=transforms,
            date_features=list(DATE_FEATURES[self.freq_]),
            num_threads=self.threads_,
            target_transforms=[Differences([self.season_])] if self.seasonal_diff else None,
        )

    def _back(self, v: np.ndarray) -> np.ndarray:
        return np.expm1(v) if self.log_ else v

    # ------------------------------------------------------------------ hooks
    def _fit_point(self, data: pd.DataFrame) -> None:
        self._setup(data)
        train = self._train_frame(data)
        self.statics_ = list(self.roles_.statics)
        with _null_lags_expected():
            self.mlf_ = self._engine().fit(train, static_features=self.statics_, dropna=False)

    def _predict_point(self, h: int, X: pd.DataFrame | None) -> pd.DataFrame:
        X_df = self._dynamic(X) if X is not None else None
        has_dyn = X_df is not None and X_df.shape[1] > 2
        with _null_lags_expected():
            fc = self.mlf_.predict(h=h, X_df=X_df if has_dyn else None)
        fc["yhat"] = self._back(fc["lgbm"].to_numpy())
        return fc[["unique_id", "ds", "yhat"]]

    def feature_importance(self) -> pd.Series:
        """LightGBM split counts per feature, to see what drives the forecast."""
        self._check_fitted()
        m: Any = self.mlf_.models_["lgbm"]
        return pd.Series(m.feature_importances_, index=m.feature_name_).sort_values(ascending=False)


def _default_group(est: GlobalLGBM) -> list[str]:
    """Category × store: the parent of the bottom product level plus the bottom geo level, when the
    hierarchy has them (siblings competing for the same shoppers)."""
    hier = est.roles_.hierarchy
    prod = hier.get("product", [])
    geo = hier.get("geo", [])
    if len(prod) < 2:
        return []
    return [prod[-2], *(geo[-1:])]


def _sibling_share(frame: pd.DataFrame, col: str, group_of: pd.DataFrame) -> np.ndarray:
    """Share of the other series of the same group on promotion in the same period (0 when alone)."""
    keys = group_of.reindex(frame["unique_id"]).reset_index(drop=True)
    key = keys.astype(str).agg("|".join, axis=1) if keys.shape[1] > 1 else keys.iloc[:, 0].astype(str)
    on = (frame[col].to_numpy(dtype=float) > 0).astype(float)
    tmp = pd.DataFrame({"k": key.to_numpy(), "ds": frame["ds"].to_numpy(), "on": on})
    g = tmp.groupby(["k", "ds"], sort=False)["on"]
    total, count = g.transform("sum").to_numpy(), g.transform("count").to_numpy()
    return np.where(count > 1, (total - on) / np.maximum(count - 1, 1), 0.0)
