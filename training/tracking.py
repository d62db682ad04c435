"""The write side of MLflow tracking and the registry: setting up the experiment, logging a salesplan
estimator as a registered model version, and the champion gate that moves the ``champion`` alias.

Reading (which version is champion, loading its estimator) is ``salesplan.models.registry``; the service
uses that without this module."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import joblib
import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from salesplan.errors import ConfigError
from salesplan.models.registry import (
    CHALLENGER,
    CHAMPION,
    ESTIMATOR_FILE,
    ModelRef,
    quiet_mlflow,
    tracking_uri,
)

if TYPE_CHECKING:
    from salesplan.models.deals import DealScorer
    from salesplan.models.forecast import Forecaster

__all__ = [
    "DEFAULT_ARTIFACT_ROOT",
    "EstimatorPyfunc",
    "GateDecision",
    "GateRule",
    "ModelKind",
    "apply_decision",
    "champion_gate",
    "log_estimator",
    "setup",
]

DEFAULT_ARTIFACT_ROOT = "mlartifacts"
ModelKind = Literal["forecast", "deals"]


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


class EstimatorPyfunc(PythonModel):
    """Generic pyfunc face of a salesplan estimator: deals → scored frame, forecast → forecast frame
    (``params={"h": 13}``; ``model_input`` may carry future regressors).

    ``estimator`` is what ``log_estimator`` pickled for ``kind`` (not checked at run time: the pyfunc only
    calls ``score_frame`` or ``predict`` on it)."""

    def __init__(self, kind: ModelKind) -> None:
        self.kind = kind
        self.estimator: DealScorer | Forecaster | None = None

    def load_context(self, context: Any) -> None:
        self.estimator = joblib.load(context.artifacts["estimator"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        if self.kind == "deals":
            return cast("DealScorer", self.estimator).score_frame(model_input)
        h = int((params or {}).get("h", 13))
        x_future = model_input if isinstance(model_input, pd.DataFrame) and len(model_input) else None
        return cast("Forecaster", self.estimator).predict(h, X_future=x_future)


def log_estimator(
    estimator: DealScorer | Forecaster,
    kind: ModelKind,
    registered_name: str,
    *,
    tags: Mapping[str, str] | None = None,
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


@dataclass(frozen=True)
class GateRule:
    """One comparison of the gate: ``metric`` must be better than the champion's, within ``tolerance``."""

    metric: str
    better: Literal["lower", "higher"]
    tolerance: float = 0.0


@dataclass(frozen=True)
class GateDecision:
    """What the gate decided and why, with both sides' metrics."""

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
    failures: list[str] = []
    passes: list[str] = []
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
