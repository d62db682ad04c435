"""Common base of every salesplan forecaster: frequency and season, input checks, rolling origins, conformal
quantiles (the panel helpers it builds on, column roles, frequencies, splits and the future grid, are in
``panel.py``).

Subclasses implement ``_fit_point(data)``, ``_predict_point(h, X)`` and (for speed) ``_cross_validate``;
the base turns point forecasts into the Forecast frame ``unique_id, ds, yhat, q10, q50, q90, model``.
``Forecaster`` is the type the rest of the code takes a forecaster as (these and ``PartitionedForecaster``).

Frequencies: D, W, M, Q, Y (``salesplan.contracts``). ``freq=None`` takes the spec's frequency, or infers it
from the dates of a plain panel; ``season_length=None`` takes the spec's season or the frequency's default
(``SEASON_LENGTH``: 7, 52, 12, 4, 1); ``calib_horizon=None`` the frequency's ``CALIB_HORIZON``. Rolling
origins count back from *each series' own* last period, so a panel whose series end on different dates
is backtested as each series would have been forecast."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from salesplan.contracts import FREQS, SEASON_LENGTH, SelloutSpec
from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError, NotFittedError, Problem
from salesplan.models.forecast.conformal import (
    NOISE_EXPONENTS,
    ConformalCalibrator,
    check_exponent,
    origin_scales,
    scale_window,
    series_level,
    series_scale,
)
from salesplan.models.forecast.panel import (
    Roles,  # noqa: F401  re-exported: models fitted before panel.py existed pickled ``base.Roles``
    add_step,
    future_grid,
    infer_freq,
    origin_splits,
    pandas_freq,
    resolve_roles,
)

CALIB_HORIZON: dict[str, int] = {"D": 28, "W": 13, "M": 18, "Q": 8, "Y": 6}
"""Default calibration horizon (periods each rolling origin forecasts) per frequency: four weeks of days,
a quarter of weeks, and for months, quarters and years the horizons the M competitions set as the planning
horizon of each (18 months, 8 quarters, 6 years; M1, M3, M4)."""
CV_COLS = ["unique_id", "ds", "cutoff", "window", "y", "yhat"]
"""Rows of a rolling-origin backtest: ``window`` 1 is each series' most recent origin."""


class Forecaster(Protocol):
    """A salesplan forecaster as the code outside ``models/forecast`` uses it: the backtest, the training
    job, the batch build, the what-if, the registry and the service take this type, never ``Any``.

    Satisfied by every :class:`BaseForecaster` subclass and by ``PartitionedForecaster`` (which is not a
    ``BaseForecaster``: it holds one fitted base per partition, so it has no ``last_ds_``, ``roles_`` or
    ``make_future_frame`` of its own). A Protocol rather than a union of the two classes so that a new
    estimator with the same face (or a wrapper around one) needs no edit here; its members are exactly what
    those callers read, so both kinds honour all of them. Fitting returns a ``Forecaster`` (not the own
    class): ``BaseForecaster.fit`` is inherited by subclasses that do not override it.
    Estimators are also scikit-learn estimators (``clone``, ``get_params``); only ``get_params`` is read
    through this type."""

    @property
    def name(self) -> str:
        """Label of the forecasts (the ``model`` column) and of messages."""
        ...

    @property
    def season_length(self) -> int | None:
        """Periods per season; None: the data's (spec or frequency default), resolved at fit."""
        ...

    @property
    def freq(self) -> str | None:
        """D, W, M, Q or Y; None: the spec's, or inferred from the dates, at fit."""
        ...

    @property
    def quantiles(self) -> Sequence[float]: ...

    @property
    def required_regressors(self) -> list[str]:
        """Columns ``predict``'s ``X_future`` must hold (fitted models only; empty when univariate)."""
        ...

    def min_history(self) -> int:
        """Periods of history each series needs to be fitted."""
        ...

    def fit(self, df: pd.DataFrame, spec: SelloutSpec | None = None) -> Forecaster: ...

    def predict(self, h: int, X_future: pd.DataFrame | None = None) -> pd.DataFrame:
        """The Forecast frame ``unique_id, ds, yhat, q.., model`` for ``h`` periods after each series."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...


class BaseForecaster(BaseEstimator):
    """Parameters shared by all forecasters.

    season_length: periods per season (None: the spec's ``season``, else ``SEASON_LENGTH[freq]``: 52 for
    weeks, 12 months, 4 quarters, 7 days, 1 for years).
    freq: contract frequency D, W, M, Q or Y (None: the spec's, else inferred from the dates).
    quantiles: levels returned as quantile columns ``q05``, ``q10``, ... (named by
    ``salesplan.contracts.quantile_col``; conformal, see ``conformal.py``).
    n_jobs: worker processes/threads for the underlying library.
    calib_windows / calib_horizon: rolling origins (each ``calib_horizon`` periods long, None: the
    frequency's ``CALIB_HORIZON``) used to calibrate the quantiles at fit time; 0 windows → no quantile
    columns. Fitted: ``freq_``, ``season_length_``, ``calib_horizon_`` hold the resolved values;
    ``scale_`` and ``abs_level_`` each series' noise scale and level (mean |y|) over ``scale_window``.

    ``calib_exponent`` and ``calib_noise_exponent`` (the conformal difficulties' powers,
    ``conformal.ConformalCalibrator``) are class attributes here, 0 (every period of every series is
    calibrated alike): only the production blend takes them as parameters, and models pickled before
    they existed read them from the class."""

    uses_regressors: ClassVar[bool] = False
    is_global: ClassVar[bool] = False  # one model learned across series (more series: more to learn from)
    min_seasons: ClassVar[float] = 0.0  # history needed, in seasons (SeasonalNaive needs one)
    min_obs: ClassVar[int] = 1
    calib_exponent: float | str = 0.0
    calib_noise_exponent: float | str = 0.0

    def __init__(
        self,
        season_length: int | None = None,
        freq: str | None = None,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        n_jobs: int = 1,
        calib_windows: int = 3,
        calib_horizon: int | None = None,
    ) -> None:
        self.season_length = season_length
        self.freq = freq
        self.quantiles = quantiles
        self.n_jobs = n_jobs
        self.calib_windows = calib_windows
        self.calib_horizon = calib_horizon

    # ------------------------------------------------------------------ public API
    @property
    def name(self) -> str:
        return type(self).__name__

    def fit(self, df: pd.DataFrame, spec: SelloutSpec | None = None) -> BaseForecaster:
        """Fit on a validated sell-out frame (``validate_sellout`` output); ``spec`` names column roles."""
        self._check_params()
        data = self._prepare(df, spec)
        self._check_length(data, extra=self.calib_windows * self.calib_horizon_)
        self._fit_point(data)
        self.calibrator_: ConformalCalibrator | None = None
        if self.calib_windows > 0 and self.quantiles:
            cv = add_step(self._cross_validate(data, self.calib_horizon_, self.calib_windows))
            self.calib_cv_ = self._with_origin_scale(data, cv)
            self.calibrator_ = ConformalCalibrator(
                self.quantiles, exponent=self.calib_exponent, noise_exponent=self.calib_noise_exponent
            ).fit(self.calib_cv_, self.scale_)
        return self

    def predict(self, h: int, X_future: pd.DataFrame | None = None) -> pd.DataFrame:
        """Forecast ``h`` periods after each series' last date: ``unique_id, ds, yhat, q.., model``."""
        self._check_fitted()
        if not isinstance(h, int | np.integer) or h < 1:
            raise ConfigError(f"{self.name}.predict: h must be a positive integer, got {h!r}")
        X = self._check_future(h, X_future)
        fc = self._predict_point(int(h), X)
        return self._finish(fc)

    def predict_quantiles(
        self, h: int, X_future: pd.DataFrame | None = None, quantiles: Sequence[float] | None = None
    ) -> pd.DataFrame:
        """Like ``predict`` but for any quantile levels (re-read from the stored calibration residuals,
        with the exponents the fit chose: the same bands' shape, other levels)."""
        self._check_fitted()
        fc = self.predict(h, X_future)
        if quantiles is None or self.calibrator_ is None:
            return fc
        exponent = getattr(self.calibrator_, "exponent_", 0.0)
        noise = getattr(self.calibrator_, "noise_exponent_", 0.0)
        cal = ConformalCalibrator(quantiles, exponent=exponent, noise_exponent=noise).fit(
            self.calib_cv_, self.scale_
        )
        base = fc[["unique_id", "ds", "yhat", "model"]]
        level = getattr(self, "abs_level_", None)
        return cal.apply(add_step(base), self.scale_, self.nonneg_, level=level).drop(columns="step")

    def make_future_frame(self, h: int) -> pd.DataFrame:
        """The ``unique_id, ds`` grid ``predict(h)`` forecasts; fill it with future regressors."""
        self._check_fitted()
        return future_grid(self.last_ds_, h, self.pfreq_)

    @property
    def required_regressors(self) -> list[str]:
        """Columns ``X_future`` must hold (empty for univariate models)."""
        self._check_fitted()
        return list(self.roles_.regressors) if self.uses_regressors else []

    # ------------------------------------------------------------------ subclass hooks
    def _fit_point(self, data: pd.DataFrame) -> None:
        raise NotImplementedError

    def _predict_point(self, h: int, X: pd.DataFrame | None) -> pd.DataFrame:
        raise NotImplementedError

    def _cross_validate(
        self, data: pd.DataFrame, h: int, n_windows: int, min_train: int | None = None
    ) -> pd.DataFrame:
        """Rolling-origin forecasts (``CV_COLS``) by refitting a clone per window on every series cut
        ``window × h`` periods before its own end; library-backed subclasses override this with a faster
        no-refit version. A series takes part in the windows that leave it ``min_train`` periods (default
        ``_min_length()``)."""
        out = []
        for w, train, test in origin_splits(data, h, n_windows, min_train or self._min_length()):
            model = clone(self).set_params(
                calib_windows=0, freq=self.freq_, season_length=self.season_length_, calib_horizon=h
            )
            model.fit(train, self.spec_)
            X = test[["unique_id", "ds", *self.roles_.regressors]] if self.uses_regressors else None
            fc = model._predict_point(h, model._check_future(h, X))
            fc = fc.merge(test[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")
            cut = train.groupby("unique_id", sort=False)["ds"].max()
            out.append(fc.assign(cutoff=fc["unique_id"].map(cut).to_numpy(), window=w))
        if not out:
            return pd.DataFrame({c: [] for c in CV_COLS})
        return pd.concat(out, ignore_index=True)[CV_COLS]

    def _with_origin_scale(self, data: pd.DataFrame, cv: pd.DataFrame) -> pd.DataFrame:
        """``cv`` with ``scale`` and ``level``: each row's series scale and level as of its origin
        (``conformal.origin_scales``; the level NaN where the series has none there)."""
        sc = origin_scales(data, self.calib_horizon_, self.calib_windows, scale_window(self.season_length_))
        cv = cv.drop(columns=[c for c in ("scale", "level") if c in cv.columns])
        # an empty ``sc`` (no series long enough for a scale window) comes back with float keys
        sc = sc.astype({"window": int, "unique_id": cv["unique_id"].dtype, "level": float})
        out = cv.merge(sc, on=["unique_id", "window"], how="left")
        out = out.assign(scale=out["scale"].fillna(out["unique_id"].map(self.scale_)))
        # ``promoted``: the row's week was on promotion (any declared promotion column > 0), so the
        # what-if can calibrate promoted weeks on their own errors (``whatif.promotion_calibration``)
        promo = [c for c in self.roles_.promo if c in data.columns]
        on = data[promo].gt(0).any(axis=1) if promo else pd.Series(False, index=data.index)
        flags = data[["unique_id", "ds"]].assign(promoted=on.to_numpy())
        out = out.merge(
            flags.astype({"unique_id": out["unique_id"].dtype}), on=["unique_id", "ds"], how="left"
        )
        return out.assign(promoted=out["promoted"].fillna(False).astype(bool))

    @property
    def season_(self) -> int:
        """The season length in use: fitted, else the parameter, else the frequency's default (weekly
        when no frequency is set yet)."""
        if hasattr(self, "season_length_"):
            return int(self.season_length_)
        return int(self.season_length or SEASON_LENGTH[self.freq or "W"])

    @property
    def horizon_(self) -> int:
        """The calibration horizon in use (fitted, else parameter, else the frequency's default)."""
        if hasattr(self, "calib_horizon_"):
            return int(self.calib_horizon_)
        return int(self.calib_horizon or CALIB_HORIZON[self.freq or "W"])

    def _min_length(self) -> int:
        return max(self.min_obs, int(np.ceil(self.min_seasons * self.season_)))

    def min_history(self) -> int:
        """Periods of history each series needs: the model's minimum plus the calibration windows."""
        return self._min_length() + self.calib_windows * self.horizon_

    def full_history(self) -> int:
        """Periods of history from which the model's structure stops growing (for one model: its
        ``min_history``). A backtest fold trained on less is a different, weaker model than one fitted on
        more, so its errors overstate the later model's (``training.level_calibration.representative_folds``)."""
        return self.min_history()

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> None:
        qs = list(self.quantiles)
        if any(not 0 < q < 1 for q in qs):
            raise ConfigError(f"{self.name}: quantiles must lie in (0, 1), got {qs}")
        if self.season_length is not None and self.season_length < 1:
            raise ConfigError(f"{self.name}: season_length must be >= 1 (or None), got {self.season_length}")
        if self.calib_windows < 0 or (self.calib_horizon is not None and self.calib_horizon < 1):
            raise ConfigError(
                f"{self.name}: calib_windows >= 0 and calib_horizon >= 1 (or None) are required"
            )
        check_exponent(self.calib_exponent, f"{self.name}: calib_exponent")
        check_exponent(self.calib_noise_exponent, f"{self.name}: calib_noise_exponent", NOISE_EXPONENTS)
        if self.freq is not None and self.freq not in FREQS:
            raise ConfigError(f"{self.name}: freq must be one of {list(FREQS)} or None, got {self.freq!r}")

    def _prepare(self, df: pd.DataFrame, spec: SelloutSpec | None) -> pd.DataFrame:
        missing = [c for c in ("unique_id", "ds", "y") if c not in df.columns]
        if missing:
            raise DataValidationError(
                [Problem(None, f"missing column(s) {missing}", fix="pass a validate_sellout() frame")],
                source=f"{self.name}.fit",
            )
        data = df.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
        data["unique_id"] = data["unique_id"].astype(str)
        if data["y"].isna().any():
            raise DataValidationError(
                [
                    Problem(
                        "y",
                        "missing unit values",
                        [str(u) for u in data.loc[data["y"].isna(), "unique_id"].unique()[:5]],
                        int(data["y"].isna().sum()),
                        fix="fill gaps (fill_gaps or the loader's gaps='interpolate') before fitting",
                    )
                ],
                source=f"{self.name}.fit",
            )
        self.spec_ = spec
        self.roles_ = resolve_roles(data, spec)
        freq = spec.freq if spec is not None else self.freq or infer_freq(data["ds"], data["unique_id"])
        self.freq_ = str(freq)
        spec_season = getattr(spec, "season", None) if spec is not None else None
        self.season_length_ = int(self.season_length or spec_season or SEASON_LENGTH[self.freq_])
        self.calib_horizon_ = int(self.calib_horizon or CALIB_HORIZON[self.freq_])
        self.pfreq_ = pandas_freq(self.freq_, data["ds"])
        self.last_ds_ = data.groupby("unique_id", sort=False)["ds"].max()
        self.scale_ = series_scale(data, window=scale_window(self.season_length_))
        self.abs_level_: pd.Series | None = series_level(data, scale_window(self.season_length_))
        self.nonneg_ = bool((data["y"] >= 0).all())
        self.n_series_ = int(data["unique_id"].nunique())
        return data

    def _check_length(self, data: pd.DataFrame, extra: int = 0) -> None:
        need = self._min_length() + extra
        n = data.groupby("unique_id", sort=False).size()
        short = n[n < need]
        if len(short):
            rows = [f"{u} ({k} periods)" for u, k in short.sort_values().items()]
            raise InsufficientDataError(
                f"{self.name}: {len(short)} series have fewer than {need} periods of history "
                f"({self._min_length()} for the model + {extra} for {self.calib_windows} calibration "
                f"windows of {self.horizon_}), e.g. {', '.join(rows[:5])}. Fix: use the default "
                "SalesplanForecaster (it fits every series), drop or cold-start them "
                "(models.forecast.coldstart), lower calib_windows, or use a model that needs less history"
            )

    def _check_fitted(self) -> None:
        if not hasattr(self, "last_ds_"):
            raise NotFittedError(f"{self.name} is not fitted yet; call fit(df) before predict")

    def _check_future(self, h: int, X_future: pd.DataFrame | None) -> pd.DataFrame | None:
        """Return the future regressors on the forecast grid, or raise naming what is missing."""
        needed = self.required_regressors
        if not needed:
            return None
        if X_future is None:
            raise DataValidationError(
                [
                    Problem(
                        None,
                        f"X_future is required: the model uses known-future regressors {needed}",
                        fix="pass X_future with unique_id, ds and those columns (make_future_frame(h) "
                        "gives the grid)",
                    )
                ],
                source=f"{self.name}.predict",
            )
        absent = [c for c in ("unique_id", "ds", *needed) if c not in X_future.columns]
        if absent:
            raise DataValidationError(
                [
                    Problem(
                        None, f"X_future lacks column(s) {absent}", fix=f"add {absent} for every future row"
                    )
                ],
                source=f"{self.name}.predict",
            )
        grid = future_grid(self.last_ds_, h, self.pfreq_)
        X = X_future[["unique_id", "ds", *needed]].copy()
        X["unique_id"] = X["unique_id"].astype(str)
        X["ds"] = pd.to_datetime(X["ds"])
        X = grid.merge(
            X.drop_duplicates(["unique_id", "ds"], keep="last"), on=["unique_id", "ds"], how="left"
        )
        bad = X[needed].isna().any(axis=1)
        if bad.any():
            keys = (X.loc[bad, "unique_id"] + "@" + X.loc[bad, "ds"].dt.strftime("%Y-%m-%d")).tolist()
            cols = [c for c in needed if X.loc[bad, c].isna().any()]
            raise DataValidationError(
                [
                    Problem(
                        ", ".join(cols),
                        f"X_future has no value for {cols} on forecast rows",
                        keys[:5],
                        len(keys),
                        fix="give every series a row for each of the next h periods (make_future_frame(h))",
                    )
                ],
                source=f"{self.name}.predict",
            )
        return X

    def _finish(self, fc: pd.DataFrame) -> pd.DataFrame:
        fc = fc[["unique_id", "ds", "yhat"]].copy()
        if self.nonneg_:
            fc["yhat"] = fc["yhat"].clip(lower=0.0)
        if self.calibrator_ is not None:
            level = getattr(self, "abs_level_", None)  # absent in models fitted before it: d = 1
            fc = self.calibrator_.apply(add_step(fc), self.scale_, self.nonneg_, level=level)
            fc = fc.drop(columns="step")
        fc["model"] = self.name
        return fc.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def full_history(model: Any) -> int:
    """``model.full_history()`` where the model has one, else its ``min_history()`` (1 for duck-typed
    foreign models): the history from which its backtest folds stand for the fitted model."""
    fn = getattr(model, "full_history", None) or getattr(model, "min_history", None)
    return int(fn()) if callable(fn) else 1
