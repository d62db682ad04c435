"""Champion models held by the service: loaded from the MLflow registry at start and on reload, with short
timeouts; if the registry is unreachable the last loaded (or locally cached) model stays in service. The
forecast champion's batch outputs (every hierarchy level by week, month and quarter; the frames of
``salesplan.contracts.forecast``) are loaded next to it: forecasts and target proposals are read from them,
never computed per request."""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from salesplan.errors import SalesplanError, ServiceUnavailableError
from salesplan.models.batch import BatchForecast, load_batch
from salesplan.models.registry import (
    CHAMPION,
    DEALS_MODEL,
    FORECAST_MODEL,
    ModelRef,
    as_deal_scorer,
    as_forecaster,
    load_cached,
    load_estimator,
)

if TYPE_CHECKING:
    from salesplan.models.deals import DealScorer
    from salesplan.models.forecast import Forecaster

MODEL_NAMES = (DEALS_MODEL, FORECAST_MODEL)
BATCH = f"{FORECAST_MODEL} batch"
E = TypeVar("E", covariant=True)


@dataclass(frozen=True)
class LoadedModel(Generic[E]):
    """A loaded champion: the estimator (``DealScorer`` from :meth:`ModelStore.deals`, ``Forecaster`` from
    :meth:`ModelStore.forecaster`; ``object`` from :meth:`ModelStore.get` by name), its version, where from."""

    estimator: E
    ref: ModelRef
    source: Literal["registry", "cache"]


class ModelStore:
    """Thread-safe holder of the loaded champions and of why any of them is missing."""

    def __init__(self, cache_dir: Path, timeout_s: float = 5.0, alias: str = CHAMPION) -> None:
        self.cache_dir = cache_dir
        self.timeout_s = timeout_s
        self.alias = alias
        self._models: dict[str, LoadedModel[object]] = {}
        self._errors: dict[str, str] = {}
        self._batch: BatchForecast | None = None
        self._batch_error: str | None = None
        self._lock = threading.Lock()
        # Fail fast against a dead tracking server instead of MLflow's long default retries.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, int(timeout_s))))

    def load_all(self) -> dict[str, str]:
        """(Re)load every champion; returns per model 'loaded vN', 'kept vN (...)' or the error."""
        outcome = {name: self._load(name) for name in MODEL_NAMES}
        outcome[BATCH] = self._load_batch()
        return outcome

    def _load_batch(self) -> str:
        """The forecast champion's batch outputs; on failure the previous batch stays in service."""
        pool = cf.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(load_batch, FORECAST_MODEL, self.alias, self.cache_dir)
        try:
            batch = future.result(timeout=self.timeout_s * 4)  # Parquet files, not one small object
        except (cf.TimeoutError, Exception) as exc:
            pool.shutdown(wait=False, cancel_futures=True)
            reason = (
                "registry timed out" if isinstance(exc, cf.TimeoutError) else str(exc).splitlines()[0][:300]
            )
            with self._lock:
                if self._batch is not None:
                    self._batch_error = f"reload failed ({reason}); serving version {self._batch.ref.version}"
                else:
                    self._batch_error = reason
                return self._batch_error
        pool.shutdown(wait=False)
        with self._lock:
            self._batch, self._batch_error = batch, None
        return f"loaded version {batch.ref.version}" + (" from cache" if batch.source == "cache" else "")

    def batch(self) -> BatchForecast:
        """The loaded batch forecast, or 503 saying why there is none."""
        with self._lock:
            batch, error = self._batch, self._batch_error
        if batch is None:
            raise ServiceUnavailableError(
                f"no batch forecast loaded: {error or 'not loaded yet'}; train the forecaster "
                "(salesplan train forecast ...) and call POST /api/v1/models/reload"
            )
        return batch

    def _load(self, name: str) -> str:
        pool = cf.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(load_estimator, name, self.alias, self.cache_dir)
        try:
            estimator, ref = future.result(timeout=self.timeout_s)
        except (cf.TimeoutError, SalesplanError, OSError, Exception) as exc:
            reason = (
                "registry timed out" if isinstance(exc, cf.TimeoutError) else str(exc).splitlines()[0][:300]
            )
            pool.shutdown(wait=False, cancel_futures=True)
            return self._fallback(name, reason)
        pool.shutdown(wait=False)
        with self._lock:
            self._models[name] = LoadedModel(estimator, ref, "registry")
            self._errors.pop(name, None)
        return f"loaded version {ref.version}"

    def _fallback(self, name: str, reason: str) -> str:
        with self._lock:
            current = self._models.get(name)
            if current is not None:
                self._errors[name] = f"reload failed ({reason}); serving version {current.ref.version}"
                return self._errors[name]
            cached = load_cached(name, self.cache_dir)
            if cached is not None:
                self._models[name] = LoadedModel(cached[0], cached[1], "cache")
                self._errors[name] = (
                    f"registry unavailable ({reason}); serving cached version {cached[1].version}"
                )
            else:
                self._errors[name] = reason
            return self._errors[name]

    def get(self, name: str) -> LoadedModel[object]:
        """The champion loaded under ``name`` (untyped: :meth:`deals` and :meth:`forecaster` type it), or
        503 saying why there is none."""
        with self._lock:
            model = self._models.get(name)
            error = self._errors.get(name)
        if model is None:
            raise ServiceUnavailableError(
                f"model {name!r} is not loaded: {error or 'not loaded yet'}; train it (salesplan train ...) "
                "and call POST /api/v1/models/reload"
            )
        return model

    def deals(self) -> LoadedModel[DealScorer]:
        """The deal-win champion (``DEALS_MODEL``), or 503."""
        m = self.get(DEALS_MODEL)
        return LoadedModel(as_deal_scorer(m.estimator), m.ref, m.source)

    def forecaster(self) -> LoadedModel[Forecaster]:
        """The forecast champion (``FORECAST_MODEL``), or 503."""
        m = self.get(FORECAST_MODEL)
        return LoadedModel(as_forecaster(m.estimator), m.ref, m.source)

    def status(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            out: dict[str, dict[str, Any]] = {}
            for name in MODEL_NAMES:
                m = self._models.get(name)
                out[name] = {
                    "loaded": m is not None,
                    "version": m.ref.version if m else None,
                    "run_id": m.ref.run_id if m else None,
                    "source": m.source if m else None,
                    "problem": self._errors.get(name),
                }
            b = self._batch
            out[BATCH] = {
                "loaded": b is not None,
                "version": b.ref.version if b else None,
                "run_id": b.ref.run_id if b else None,
                "source": b.source if b else None,
                "problem": self._batch_error,
            }
            return out
