"""Reading the batch outputs of the forecast training run: the coherent forecast and the actuals of every
hierarchy level at the data's frequency and every coarser one (e.g. weeks, months, quarters, years),
stored as Parquet artifacts next to the registered model.
The service, the planner's CLI and the reports read them here (with a local cache for offline starts);
``salesplan.training.batch_outputs`` builds and logs them.

Artifacts under ``batch/`` (``ARTIFACT_DIR``) of the training run:
- ``forecast_levels.parquet``: the batch forecast frame of ``salesplan.contracts.forecast``
  (``forecast_columns``; ``yhat`` the mean of each row's distribution); its ``assumed_share`` counts the
  days whose price/promotion plan was assumed.
- ``history_levels.parquet``: the history frame of the same contract (``history_columns``), whole periods.
- ``future_regressors.parquet``: the bottom-level future regressors the batch was forecast with
  (``assumed`` marks rows built by the assumption), which what-if scenarios start from.
Each frame carries ``attrs`` (also in the Parquet metadata; ``BatchForecast.info``): ``freq`` (the data's),
``freqs``, hierarchy and levels, ``horizon`` (periods) and ``first_period``/``last_period``, the future
assumption, the discontinued series, the mean correction; weekly batches (and those logged before other
frequencies existed) also carry ``horizon_weeks``, ``first_week`` and ``last_week``."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from salesplan.errors import ModelNotFoundError, ServiceUnavailableError
from salesplan.models.registry import CHAMPION, FORECAST_MODEL, ModelRef, quiet_mlflow, tracking_uri

__all__ = [
    "ARTIFACT_DIR",
    "FORECAST_FILE",
    "FUTURE_FILE",
    "HISTORY_FILE",
    "BatchForecast",
    "load_batch",
    "load_cached_batch",
]

log = logging.getLogger(__name__)

FORECAST_FILE, HISTORY_FILE, FUTURE_FILE = (
    "forecast_levels.parquet",
    "history_levels.parquet",
    "future_regressors.parquet",
)
ARTIFACT_DIR = "batch"


@dataclass(frozen=True)
class BatchForecast:
    """The batch outputs of one registered forecaster (``source``: where they were read from)."""

    forecast: pd.DataFrame
    history: pd.DataFrame
    ref: ModelRef
    future: pd.DataFrame | None = None
    source: Literal["registry", "cache", "run"] = "registry"
    info: Mapping[str, Any] = field(default_factory=dict)


def _read(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    fc, hist = pd.read_parquet(folder / FORECAST_FILE), pd.read_parquet(folder / HISTORY_FILE)
    fut = pd.read_parquet(folder / FUTURE_FILE) if (folder / FUTURE_FILE).exists() else None
    return fc, hist, fut


def load_batch(
    name: str = FORECAST_MODEL, alias: str = CHAMPION, cache_dir: Path | None = None
) -> BatchForecast:
    """The batch outputs of ``name@alias`` (alias or version number). With ``cache_dir`` they are copied
    there on success and read from there when the registry cannot be reached (``source='cache'``); a
    registry that answers "no such model" or a run without batch outputs is an error, never a fallback."""
    quiet_mlflow()
    uri = tracking_uri()
    client = MlflowClient(uri)
    try:
        mv = (
            client.get_model_version(name, alias)
            if alias.isdigit()
            else client.get_model_version_by_alias(name, alias)
        )
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise ModelNotFoundError(
                f"no model {name!r} with alias or version {alias!r} in {uri}; train one first "
                "(salesplan train forecast ...) or check MLFLOW_TRACKING_URI"
            ) from None
        return _from_cache(name, cache_dir, str(exc).splitlines()[0][:300])
    except Exception as exc:  # an unreachable store raises many kinds (connection, SQLAlchemy, OS)
        return _from_cache(name, cache_dir, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    ref = ModelRef(name, str(mv.version), str(mv.run_id), alias, dict(mv.tags or {}))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=ref.run_id, artifact_path=ARTIFACT_DIR, dst_path=tmp, tracking_uri=uri
                )
            )
        except (MlflowException, OSError) as exc:
            raise ModelNotFoundError(
                f"{name} version {ref.version} (run {ref.run_id}) has no batch outputs "
                f"({str(exc).splitlines()[0][:200]}); retrain it with 'salesplan train forecast' so the run "
                "logs batch/forecast_levels.parquet"
            ) from None
        if not (local / FORECAST_FILE).exists() or not (local / HISTORY_FILE).exists():
            raise ModelNotFoundError(
                f"{name} version {ref.version} (run {ref.run_id}) has no batch/{FORECAST_FILE}; retrain "
                "it with 'salesplan train forecast' to produce it"
            )
        fc, hist, fut = _read(local)
        if cache_dir is not None:
            target = cache_dir / f"{name}.batch"
            tmp_target = cache_dir / f".{name}.batch.tmp"
            shutil.rmtree(tmp_target, ignore_errors=True)
            cache_dir.mkdir(parents=True, exist_ok=True)
            shutil.copytree(local, tmp_target)
            (tmp_target / "ref.json").write_text(json.dumps(ref.as_dict()))
            shutil.rmtree(target, ignore_errors=True)
            tmp_target.rename(target)  # whole folder swapped: a crash never leaves half a cache
    return BatchForecast(fc, hist, ref, fut, "registry", dict(fc.attrs.get("salesplan", {})))


def load_cached_batch(name: str, cache_dir: Path) -> BatchForecast | None:
    """The batch outputs ``load_batch`` last cached for ``name``, if any."""
    folder = cache_dir / f"{name}.batch"
    if not (folder / "ref.json").exists():
        return None
    info = json.loads((folder / "ref.json").read_text())
    fc, hist, fut = _read(folder)
    ref = ModelRef(info["model"], info["model_version"], info["run_id"], info.get("alias"))
    return BatchForecast(fc, hist, ref, fut, "cache", dict(fc.attrs.get("salesplan", {})))


def _from_cache(name: str, cache_dir: Path | None, reason: str) -> BatchForecast:
    cached = load_cached_batch(name, cache_dir) if cache_dir is not None else None
    if cached is None:
        raise ServiceUnavailableError(
            f"the model registry at {tracking_uri()} is unreachable ({reason}) and no cached batch "
            f"forecast of {name!r} exists{f' in {cache_dir}' if cache_dir else ''}. Fix: start the tracking "
            "server or set MLFLOW_TRACKING_URI; load once with cache_dir to allow offline starts"
        )
    log.warning("registry unreachable (%s); using cached batch forecast v%s", reason, cached.ref.version)
    return cached
