"""A forecaster fitted per partition of series: scale-out for large catalogues.

``PartitionedForecaster`` splits the series into the deterministic partitions of
``salesplan.engine.partition_ids``, fits one clone of the base forecaster per partition (locally or on
Dask, through ``salesplan.engine.run_tasks``) and concatenates their forecasts. The partitions are the same
whichever engine runs them, so the local and the Dask engine give the same numbers (tested), and memory per
task is bounded by the partition, not the data set. Global members (LightGBM) then learn per partition,
which is how large catalogues are usually trained anyway (one model per category); with the default
``max_series=None`` and no ``partition_by`` there is a single partition and the model is exactly the base.

It lives with the forecasters because the registry stores it pickled: whoever loads the production model
(the service, the CLI) needs this class, not the training job."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sklearn.base import BaseEstimator, clone

from salesplan.contracts import SelloutSpec
from salesplan.engine import ENGINES, ScaleOut, partition_ids, run_tasks
from salesplan.errors import ConfigError, NotFittedError
from salesplan.models.forecast.base import Forecaster, full_history

__all__ = ["PartitionedForecaster", "partitioned"]


def _fit_part(base: Forecaster, part: pd.DataFrame, spec: SelloutSpec | None) -> Forecaster:
    model: Forecaster = clone(base)
    return model.fit(part, spec) if spec is not None else model.fit(part)


def _predict_part(model: Forecaster, h: int, x: pd.DataFrame | None) -> pd.DataFrame:
    return model.predict(h, x)


class PartitionedForecaster(BaseEstimator):
    """A forecaster fitted per partition of series, on the local engine or on Dask (module docstring).

    Same contract as every salesplan forecaster: ``fit(df, spec)`` returns self, ``predict(h, X_future)``
    returns the Forecast frame; ``models_`` holds one fitted base per partition, ``partitions_`` their ids."""

    def __init__(
        self,
        base: Forecaster | None = None,
        partition_by: str | None = None,
        max_series: int | None = None,
        engine: str = "local",
        workers: int | None = None,
        address: str | None = None,
    ) -> None:
        self.base = base
        self.partition_by = partition_by
        self.max_series = max_series
        self.engine = engine
        self.workers = workers
        self.address = address

    # the attributes the backtest and the training job read off a forecaster (``Forecaster``)
    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def season_length(self) -> int | None:
        return self._base().season_length

    @property
    def freq(self) -> str | None:
        return self._base().freq

    @property
    def quantiles(self) -> Sequence[float]:
        return self._base().quantiles

    def min_history(self) -> int:
        return int(self._base().min_history())

    def full_history(self) -> int:
        """The longest of the fitted partitions' (they share one base, so normally all the same)."""
        self._check_fitted()
        return max(full_history(m) for m in self.models_)

    def _base(self) -> Forecaster:
        if self.base is None:
            raise ConfigError("PartitionedForecaster needs base= (e.g. SalesplanForecaster())")
        return self.base

    def fit(self, df: pd.DataFrame, spec: SelloutSpec | None = None) -> PartitionedForecaster:
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        base = self._base()
        ids = df["unique_id"].astype(str)
        parts = partition_ids(df, self.partition_by, self.max_series)
        frames = [df[ids.isin(set(p))] for p in parts]
        self.models_: list[Forecaster] = run_tasks(
            _fit_part,
            [(base, f, spec) for f in frames],
            engine=self.engine,
            workers=self.workers,
            address=self.address,
        )
        self.partitions_ = [list(p) for p in parts]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("PartitionedForecaster is not fitted yet; call fit(df) before predict")

    def predict(self, h: int, X_future: pd.DataFrame | None = None) -> pd.DataFrame:
        self._check_fitted()
        tasks = []
        for model, ids in zip(self.models_, self.partitions_, strict=True):
            x = None
            if X_future is not None:
                x = X_future[X_future["unique_id"].astype(str).isin(set(ids))]
            tasks.append((model, h, x))
        out = run_tasks(_predict_part, tasks, engine=self.engine, workers=self.workers, address=self.address)
        return pd.concat(out, ignore_index=True)

    def local(self) -> PartitionedForecaster:
        """The same fitted model predicting in this process (what is stored and served: a cluster is for
        fitting, not a dependency of every forecast)."""
        return self.set_params(engine="local", workers=None, address=None)

    @property
    def required_regressors(self) -> list[str]:
        self._check_fitted()
        return sorted({c for m in self.models_ for c in getattr(m, "required_regressors", [])})


def partitioned(model: Forecaster, scale: ScaleOut | None = None) -> Forecaster:
    """``model`` itself when ``scale`` is trivial (or None), else a ``PartitionedForecaster`` around it
    running on ``scale``'s engine and partitions."""
    if scale is None or scale.trivial:
        return model
    return PartitionedForecaster(
        model, scale.partition_by, scale.max_series, scale.engine, scale.workers, scale.address
    )
