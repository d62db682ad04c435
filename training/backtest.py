"""Rolling-origin backtest: refit at each origin on all data before it, forecast ``h`` periods, keep the
forecasts next to the actuals and the scales the metrics need.

Which series take part in a fold: those with a row at the cutoff (alive), a full ``h`` periods of actuals
after it, and enough history for the model (``min_history``). Others are left out of that fold and
counted in ``BacktestResult.excluded`` — discontinued, launched-late and too-short series cannot be
scored fairly at that origin."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import clone

from salesplan.contracts import SelloutSpec
from salesplan.errors import ConfigError, InsufficientDataError
from salesplan.training.metrics import evaluate, seasonal_scales, series_metrics

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from salesplan.models.forecast import Forecaster


@dataclass
class BacktestResult:
    """Per-origin forecasts with actuals (``unique_id, ds, cutoff, step, y, yhat, q.., scale, scale_sq``)."""

    forecasts: pd.DataFrame
    cutoffs: list[pd.Timestamp]
    h: int
    step: int
    season_length: int
    model: str
    seconds: list[float] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)

    def metrics(self, by: str | Sequence[str] | None = None) -> pd.DataFrame:
        """Overall (``by=None``), per origin (``by="cutoff"``) or per hierarchy level column."""
        return evaluate(self.forecasts, by=by)

    def per_series(self) -> pd.DataFrame:
        return series_metrics(self.forecasts)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))


def origins(
    dates: Sequence[pd.Timestamp] | np.ndarray, h: int, n_origins: int, step: int
) -> list[pd.Timestamp]:
    """Cutoffs (last training date) so that the last fold's test ends on the last date."""
    d = np.sort(np.unique(np.asarray(dates)))
    need = h + (n_origins - 1) * step
    if need >= len(d):
        raise InsufficientDataError(
            f"backtest: {n_origins} origins of h={h} every {step} periods need more than {need} periods, "
            f"the data has {len(d)}. Fix: fewer origins, a smaller h or step"
        )
    return [pd.Timestamp(d[len(d) - 1 - h - (n_origins - 1 - i) * step]) for i in range(n_origins)]


def backtest(
    model: Forecaster | Callable[[], Forecaster],
    df: pd.DataFrame,
    h: int,
    n_origins: int = 3,
    step: int | None = None,
    spec: SelloutSpec | None = None,
    season_length: int = 52,
    min_history: int | None = None,
    keep_cols: Sequence[str] = (),
    on_fold: Callable[[int, int, pd.Timestamp], None] | None = None,
) -> BacktestResult:
    """Fit a fresh copy of ``model`` (an estimator, cloned, or a zero-argument factory) at each origin.
    ``on_fold(i, n, cutoff)`` is told before fold ``i`` of ``n`` is fitted (the CLI's progress bar).

    ``step`` defaults to ``h`` (non-overlapping folds). Future regressors for each fold come from the
    actual rows of the test window (they are known in advance by definition). ``keep_cols`` (e.g.
    hierarchy columns) are carried into ``forecasts`` for per-level metrics."""
    if h < 1 or n_origins < 1:
        raise ConfigError(f"backtest: h and n_origins must be >= 1, got h={h}, n_origins={n_origins}")
    step = step or h
    make = model if _is_factory(model) else partial(clone, model)
    probe = make()
    need = min_history if min_history is not None else _min_history(probe)
    cutoffs = origins(df["ds"].unique(), h, n_origins, step)
    dates = np.sort(df["ds"].unique())
    parts, seconds, excluded = [], [], {}
    for i, cutoff in enumerate(cutoffs, 1):
        if on_fold is not None:
            on_fold(i, len(cutoffs), pd.Timestamp(cutoff))
        end = pd.Timestamp(dates[np.searchsorted(dates, np.datetime64(cutoff)) + h])
        train, test = df[df["ds"] <= cutoff], df[(df["ds"] > cutoff) & (df["ds"] <= end)]
        n_train = train.groupby("unique_id", sort=False).size()
        last = train.groupby("unique_id", sort=False)["ds"].max()
        n_test = test.groupby("unique_id", sort=False).size()
        ok = n_train.index[(n_train >= need) & (last == cutoff)]
        ok = ok[n_test.reindex(ok).fillna(0).to_numpy() == h]
        excluded[str(cutoff.date())] = int(n_train.size - len(ok))
        if len(ok) == 0:
            raise InsufficientDataError(
                f"backtest: no series has {need}+ periods before {cutoff.date()} and {h} after it. "
                "Fix: fewer origins or more history"
            )
        train, test = train[train["unique_id"].isin(ok)], test[test["unique_id"].isin(ok)]
        est = make()
        t0 = time.perf_counter()
        est.fit(train, spec) if spec is not None else est.fit(train)
        fc = est.predict(h, test.drop(columns=[c for c in ("y", "revenue") if c in test.columns]))
        seconds.append(time.perf_counter() - t0)
        fc = fc.merge(test[["unique_id", "ds", "y", *keep_cols]], on=["unique_id", "ds"], how="inner")
        fc = fc.merge(seasonal_scales(train, season_length), on="unique_id", how="left")
        fc["cutoff"] = cutoff
        fc["step"] = fc.groupby("unique_id", sort=False).cumcount() + 1
        parts.append(fc)
    name = getattr(probe, "name", type(probe).__name__)
    return BacktestResult(
        pd.concat(parts, ignore_index=True), cutoffs, h, step, season_length, name, seconds, excluded
    )


def _is_factory(model: Forecaster | Callable[[], Forecaster]) -> TypeIs[Callable[[], Forecaster]]:
    """A zero-argument factory: callable and without ``fit`` (every forecaster has ``fit``)."""
    return callable(model) and not hasattr(model, "fit")


def _min_history(est: Forecaster) -> int:
    """History a salesplan forecaster needs (model + its calibration windows); 1 for foreign models (duck
    typed ``fit``/``predict`` only, e.g. in notebooks)."""
    fn = getattr(est, "min_history", None)
    return int(fn()) if callable(fn) else 1
