"""MLflow tracking and registry: one place that knows where runs go, how a salesplan estimator is logged,
and which version holds the ``champion`` alias.

Estimators are stored twice inside one MLflow model: the raw fitted object (joblib, what the API loads
because it is fast) and a pyfunc wrapper around it (what ``mlflow models serve`` and other tools use)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import joblib
import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from salesplan.errors import ConfigError, ModelNotFoundError

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
DEFAULT_ARTIFACT_ROOT = "mlartifacts"
FORECAST_MODEL = "salesplan-forecast"
DEALS_MODEL = "salesplan-deals"
CHAMPION = "champion"
CHALLENGER = "challenger"
ESTIMATOR_FILE = "estimator.joblib"
ModelKind = Literal["forecast", "deals"]


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the embedded SQLite store in the working folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def quiet_mlflow() -> None:
    """MLflow's info logs and download bars would drown the CLI's own output."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def setup(experiment: str) -> str:
    """Point MLflow at the tracking store and make sure ``experiment`` exists; returns its id.

    New experiments of a local store keep artifacts in ``./mlartifacts`` (absolute path), as documented."""
    uri = tracking_uri()
    quiet_mlflow()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    outer = os.environ.get("MLFLOW_RUN_ID")
    if outer:
        # Under `mlflow run` the job logs into the run MLflow Projects opened: keep that run's experiment,
        # or start_run() would try to resume the run in another experiment and fail.
        exp_id = client.get_run(outer).info.experiment_id
        mlflow.set_experiment(experiment_id=exp_id)
        return str(exp_id)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        location = None
        if not uri.startswith(("http://", "https://", "databricks")):
            root = Path(os.environ.get("SALESPLAN_ARTIFACT_ROOT", DEFAULT_ARTIFACT_ROOT)).resolve()
            root.mkdir(parents=True, exist_ok=True)
            location = root.as_uri()
        exp_id = client.create_experiment(experiment, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return str(exp_id)


class EstimatorPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Generic pyfunc face of a salesplan estimator: deals → scored frame, forecast → forecast frame
    (``params={"h": 13}``; ``model_input`` may carry future regressors)."""

    def __init__(self, kind: ModelKind) -> None:
        self.kind = kind
        self.estimator: Any = None

    def load_context(self, context: Any) -> None:
        self.estimator = joblib.load(context.artifacts["estimator"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        if self.kind == "deals":
            return self.estimator.score_frame(model_input)
        h = int((params or {}).get("h", 13))
        x_future = model_input if isinstance(model_input, pd.DataFrame) and len(model_input) else None
        return self.estimator.predict(h, X_future=x_future)


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


def log_estimator(
    estimator: object, kind: ModelKind, registered_name: str, *, tags: Mapping[str, str] | None = None
) -> ModelRef:
    """Log the fitted estimator (raw + pyfunc) in the active run and register a new version of it."""
    run = mlflow.active_run()
    if run is None:
        raise ConfigError("log_estimator needs an active MLflow run (use mlflow.start_run())")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ESTIMATOR_FILE
        joblib.dump(estimator, path)
        # MLflow prints registration chatter straight to stdout/stderr; the CLI prints its own summary.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=EstimatorPyfunc(kind),
                artifacts={"estimator": str(path)},
                pip_requirements=["salesplan"],
                registered_model_name=registered_name,
            )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in (tags or {}).items():
        client.set_model_version_tag(registered_name, version, key, str(value))
    return ModelRef(registered_name, version, run.info.run_id, tags=dict(tags or {}))


def find_version(name: str, alias: str = CHAMPION) -> ModelRef | None:
    """The version behind an alias (or a plain version number), or None if there is none."""
    client = MlflowClient(tracking_uri())
    try:
        mv = (
            client.get_model_version(name, alias)
            if alias.isdigit()
            else client.get_model_version_by_alias(name, alias)
        )
    except MlflowException:
        return None
    return ModelRef(name, str(mv.version), str(mv.run_id), alias, dict(mv.tags or {}))


def load_estimator(name: str, alias: str = CHAMPION, cache_dir: Path | None = None) -> tuple[Any, ModelRef]:
    """Load the raw estimator behind ``name@alias`` (fast path for serving). With ``cache_dir`` the file is
    also copied there, so a service can restart from it while the tracking server is down."""
    quiet_mlflow()
    mlflow.set_tracking_uri(tracking_uri())
    ref = find_version(name, alias)
    if ref is None:
        raise ModelNotFoundError(
            f"no model {name!r} with alias or version {alias!r} in {tracking_uri()}; "
            f"train one first (salesplan train ...) or check MLFLOW_TRACKING_URI"
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


def load_cached(name: str, cache_dir: Path) -> tuple[Any, ModelRef] | None:
    """The last estimator ``load_estimator`` cached for ``name``, if any."""
    path, meta = cache_dir / f"{name}.joblib", cache_dir / f"{name}.json"
    if not (path.exists() and meta.exists()):
        return None
    info = json.loads(meta.read_text())
    return joblib.load(path), ModelRef(
        info["model"], info["model_version"], info["run_id"], info.get("alias")
    )


@dataclass(frozen=True)
class GateRule:
    """One comparison of the gate: ``metric`` must be better than the champion's, within ``tolerance``."""

    metric: str
    better: Literal["lower", "higher"]
    tolerance: float = 0.0


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    new: Mapping[str, float]
    champion: Mapping[str, float] | None


def champion_gate(
    new: Mapping[str, float], champion: Mapping[str, float] | None, rules: Sequence[GateRule]
) -> GateDecision:
    """Promote only if every rule holds against the champion's metrics (measured on the same data).
    With no champion the first model is promoted."""
    if champion is None:
        return GateDecision(True, "no champion yet: the first model becomes champion", new, None)
    failures, passes = [], []
    for r in rules:
        if r.metric not in new or r.metric not in champion:
            raise ConfigError(
                f"gate metric {r.metric!r} missing (new: {sorted(new)}, champion: {sorted(champion)})"
            )
        a, b = float(new[r.metric]), float(champion[r.metric])
        ok = a <= b + r.tolerance if r.better == "lower" else a >= b - r.tolerance
        text = f"{r.metric} {a:.4f} vs champion {b:.4f} ({r.better} is better, tolerance {r.tolerance:g})"
        (passes if ok else failures).append(text)
    if failures:
        return GateDecision(False, "kept as challenger: " + "; ".join(failures), new, champion)
    return GateDecision(True, "promoted: " + "; ".join(passes), new, champion)


def apply_decision(ref: ModelRef, decision: GateDecision) -> ModelRef:
    """Move the ``champion`` alias to ``ref`` if promoted, else mark it ``challenger``; record why."""
    client = MlflowClient(tracking_uri())
    alias = CHAMPION if decision.promote else CHALLENGER
    client.set_registered_model_alias(ref.name, alias, ref.version)
    client.set_model_version_tag(ref.name, ref.version, "gate_decision", decision.reason[:4000])
    return ModelRef(ref.name, ref.version, ref.run_id, alias, ref.tags)
