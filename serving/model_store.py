"""Champion models held by the service: loaded from the MLflow registry at start and on reload, each within
``SALESPLAN_REGISTRY_TIMEOUT_S``; if the registry is unreachable the last loaded (or locally cached, see
``serving.model_cache``) model stays in service. The forecast champion's batch outputs (every hierarchy
level by week, month and quarter; the frames of ``salesplan.contracts.forecast``) are loaded next to it:
forecasts and target proposals are read from them, never computed per request.

A load that runs out of time is abandoned, not killed (a thread cannot be), so it may still finish later;
it then only refreshes the cache, atomically. Once one load of a round times out the registry counts as
down for the rest of the round: the others go straight to the cache instead of waiting out the timeout
again."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from salesplan.errors import ServiceUnavailableError
from salesplan.models.batch import BatchForecast, load_batch
from salesplan.models.registry import (
    CHAMPION,
    DEALS_MODEL,
    FORECAST_MODEL,
    ModelRef,
    as_deal_scorer,
    as_forecaster,
    load_estimator,
)
from salesplan.serving.model_cache import ModelCache

if TYPE_CHECKING:
    from salesplan.models.deals import DealScorer
    from salesplan.models.forecast import Forecaster

log = logging.getLogger("salesplan.serving")
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

    def __init__(self, cache_dir: Path, timeout_s: float = 120.0, alias: str = CHAMPION) -> None:
        self.cache_dir = cache_dir
        self.cache = ModelCache(cache_dir)
        self.timeout_s = timeout_s
        self.alias = alias
        self._registry_down: str | None = None  # set for the rest of a load_all round after a timeout
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
        self._registry_down = None
        try:
            outcome = {name: self._load(name) for name in MODEL_NAMES}
            outcome[BATCH] = self._load_batch()
        finally:
            self._registry_down = None
        return outcome

    def _in_time(self, fn: Any, timeout_s: float) -> Any:
        """``fn()`` in a thread, at most ``timeout_s`` (``cf.TimeoutError`` after, the thread left to end)."""
        if self._registry_down is not None:
            raise cf.TimeoutError(self._registry_down)
        pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesplan-model-load")
        try:
            return pool.submit(fn).result(timeout=timeout_s)
        except cf.TimeoutError:
            self._registry_down = f"registry timed out after {timeout_s:g} s"
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _load_batch(self) -> str:
        """The forecast champion's batch outputs; on failure the previous or the cached batch serves."""

        def load() -> BatchForecast:
            batch = load_batch(FORECAST_MODEL, self.alias, None)
            self.cache.put_batch(batch)  # atomic: a late (abandoned) load cannot leave half a cache
            return batch

        try:
            batch = self._in_time(load, self.timeout_s * 4)  # Parquet files, not one small object
        except Exception as exc:
            reason = (
                self._registry_down or "registry timed out"
                if isinstance(exc, cf.TimeoutError)
                else str(exc).splitlines()[0][:300]
            )
            return self._batch_fallback(reason)
        with self._lock:
            self._batch, self._batch_error = batch, None
        return f"loaded version {batch.ref.version}"

    def _batch_fallback(self, reason: str) -> str:
        with self._lock:
            if self._batch is not None:
                self._batch_error = f"reload failed ({reason}); serving version {self._batch.ref.version}"
                return self._batch_error
        cached = self._cached(lambda: self.cache.get_batch(FORECAST_MODEL))
        with self._lock:
            if cached is not None:
                self._batch = cached
                self._batch_error = (
                    f"registry unavailable ({reason}); serving cached version {cached.ref.version}"
                )
            else:
                self._batch_error = reason
            return self._batch_error

    @staticmethod
    def _cached(read: Any) -> Any:
        """A cache read; a broken entry (disk trouble, an old format) counts as none, with a warning."""
        try:
            return read()
        except Exception as exc:
            log.warning("model cache unreadable", extra={"problem": str(exc).splitlines()[0][:300]})
            return None

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
        def load() -> tuple[object, ModelRef]:
            estimator, ref = load_estimator(name, self.alias, None)
            self.cache.put_estimator(name, estimator, ref)  # atomic, whenever it finishes
            return estimator, ref

        try:
            estimator, ref = self._in_time(load, self.timeout_s)
        except Exception as exc:
            reason = (
                self._registry_down or "registry timed out"
                if isinstance(exc, cf.TimeoutError)
                else str(exc).splitlines()[0][:300]
            )
            return self._fallback(name, reason)
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
        cached = self._cached(lambda: self.cache.get_estimator(name))
        with self._lock:
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
