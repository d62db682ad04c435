"""The read side of the MLflow model registry: where runs go, which version holds the ``champion`` alias,
and loading the estimator stored with it (with a local cache for offline restarts).

Estimators are stored twice inside one MLflow model: the raw fitted object (``ESTIMATOR_FILE``, joblib:
what the service loads because it is fast) and a pyfunc wrapper around it (what ``mlflow models serve`` and
other tools use). Writing them (``salesplan.training.tracking``) belongs to training; reading them is here,
so the service and the CLI load models without the training layer.

``load_estimator`` returns what was pickled, typed ``object``: only the name says what it is.
``load_forecaster`` and ``load_deal_scorer`` are the typed doors (``Forecaster``, ``DealScorer``) callers
use; ``as_forecaster`` / ``as_deal_scorer`` type an estimator already loaded under the matching name."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import joblib
import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from salesplan.config import Settings
from salesplan.errors import ModelNotFoundError

if TYPE_CHECKING:
    from salesplan.models.deals.scorer import DealScorer
    from salesplan.models.forecast.base import Forecaster

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEALS_MODEL",
    "DEFAULT_TRACKING_URI",
    "ESTIMATOR_FILE",
    "FORECAST_MODEL",
    "ModelRef",
    "as_deal_scorer",
    "as_forecaster",
    "find_version",
    "load_cached",
    "load_deal_scorer",
    "load_estimator",
    "load_forecaster",
    "quiet_mlflow",
    "tracking_uri",
]

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
FORECAST_MODEL = "salesplan-forecast"
DEALS_MODEL = "salesplan-deals"
CHAMPION = "champion"
CHALLENGER = "challenger"
ESTIMATOR_FILE = "estimator.joblib"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set (MLflow's own variable wins), else the workspace's
    ``SALESPLAN_TRACKING_URI`` (environment or settings file), else the embedded SQLite store in the
    working folder. The settings are read afresh (not the cached copy): cheap, and a test or the demo that
    changes the environment is seen at once."""
    return os.environ.get("MLFLOW_TRACKING_URI") or Settings().tracking_uri or DEFAULT_TRACKING_URI


def _missing_sqlite_store(uri: str) -> bool:
    """A ``sqlite:///`` tracking store whose file does not exist (read commands must not create it)."""
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).expanduser().is_file()


def quiet_mlflow() -> None:
    """MLflow's info logs and download bars would drown the CLI's own output."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass(frozen=True)
class ModelRef:
    """Which registered model version a result came from; carried into every API answer."""

    name: str
    version: str
    run_id: str
    alias: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str | None]:
        return {"model": self.name, "model_version": self.version, "run_id": self.run_id, "alias": self.alias}


def find_version(name: str, alias: str = CHAMPION) -> ModelRef | None:
    """The version behind an alias (or a plain version number), or None if there is none."""
    uri = tracking_uri()
    if _missing_sqlite_store(uri):
        return None  # asking MLflow would create an empty store file, hiding a wrong path
    client = MlflowClient(uri)
    try:
        mv = (
            client.get_model_version(name, alias)
            if alias.isdigit()
            else client.get_model_version_by_alias(name, alias)
        )
    except MlflowException:
        return None
    return ModelRef(name, str(mv.version), str(mv.run_id), alias, dict(mv.tags or {}))


def load_estimator(
    name: str, alias: str = CHAMPION, cache_dir: Path | None = None
) -> tuple[object, ModelRef]:
    """Load the raw estimator behind ``name@alias`` (fast path for serving). With ``cache_dir`` the file is
    also copied there, so a service can restart from it while the tracking server is down."""
    quiet_mlflow()
    mlflow.set_tracking_uri(tracking_uri())
    ref = find_version(name, alias)
    if ref is None:
        raise ModelNotFoundError(
            f"no model {name!r} with alias or version {alias!r} in {tracking_uri()}; "
            "train one first (salesplan train ...) or check the tracking store ('salesplan status' shows which "
            "workspace and store are in use)"
        )
    uri = f"models:/{name}/{ref.version}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
        except MlflowException as exc:
            raise ModelNotFoundError(f"cannot download {uri}: {str(exc).splitlines()[0]}") from None
        files = list(local.rglob(ESTIMATOR_FILE))
        if not files:
            raise ModelNotFoundError(f"{uri} holds no {ESTIMATOR_FILE}; it was not logged by salesplan")
        estimator = joblib.load(files[0])
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            joblib.dump(estimator, cache_dir / f"{name}.joblib")
            (cache_dir / f"{name}.json").write_text(json.dumps(ref.as_dict()))
    return estimator, ref


def load_cached(name: str, cache_dir: Path) -> tuple[object, ModelRef] | None:
    """The last estimator ``load_estimator`` cached for ``name``, if any."""
    path, meta = cache_dir / f"{name}.joblib", cache_dir / f"{name}.json"
    if not (path.exists() and meta.exists()):
        return None
    info = json.loads(meta.read_text())
    return joblib.load(path), ModelRef(
        info["model"], info["model_version"], info["run_id"], info.get("alias")
    )


def as_forecaster(estimator: object) -> Forecaster:
    """``estimator`` loaded under ``FORECAST_MODEL``, as the type ``training.forecast_job`` registers there.

    Not checked at run time (the registry holds pickles of whatever was logged under the name, and the
    pyfunc face serves duck-typed stand-ins too): the name is the contract, and this is the one place it is
    turned into a type."""
    return cast("Forecaster", estimator)


def as_deal_scorer(estimator: object) -> DealScorer:
    """``estimator`` loaded under ``DEALS_MODEL``, as the ``DealScorer`` ``training.deals_job`` registers
    there (not checked at run time, as :func:`as_forecaster`)."""
    return cast("DealScorer", estimator)


def load_forecaster(alias: str = CHAMPION, cache_dir: Path | None = None) -> tuple[Forecaster, ModelRef]:
    """``load_estimator(FORECAST_MODEL, alias, cache_dir)`` typed as a forecaster."""
    estimator, ref = load_estimator(FORECAST_MODEL, alias, cache_dir)
    return as_forecaster(estimator), ref


def load_deal_scorer(alias: str = CHAMPION, cache_dir: Path | None = None) -> tuple[DealScorer, ModelRef]:
    """``load_estimator(DEALS_MODEL, alias, cache_dir)`` typed as a deal scorer."""
    estimator, ref = load_estimator(DEALS_MODEL, alias, cache_dir)
    return as_deal_scorer(estimator), ref
