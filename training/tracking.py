"""The write side of MLflow tracking and the registry: setting up the experiment, logging a salesplan
estimator as a registered model version, and the champion gate that moves the ``champion`` alias.

Reading (which version is champion, loading its estimator) is ``salesplan.models.registry``; the service
uses that without this module."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import joblib
import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from salesplan.config import Settings
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
    "GateOutcome",
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

    New experiments of a local store keep artifacts in ``SALESPLAN_ARTIFACT_ROOT`` (default ``./mlartifacts``,
    made absolute), as documented."""
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
            root = Path(Settings().artifact_root).resolve()  # afresh, as tracking_uri() reads it
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
    input_example: pd.DataFrame | None = None,
    params: Mapping[str, Any] | None = None,
) -> ModelRef:
    """Log the fitted estimator (raw + pyfunc) in the active run and register a new version of it.

    ``input_example`` (what the pyfunc's ``predict`` takes: deals to score, or a forecaster's future
    regressors) with ``params`` (``{"h": ...}`` for forecasts) is stored with the model, and the model's
    signature is inferred from it and from the pyfunc's own answer to it (``mlflow.models.infer_signature``),
    so tools that load the model know its input, output and parameters."""
    run = mlflow.active_run()
    if run is None:
        raise ConfigError("log_estimator needs an active MLflow run (use mlflow.start_run())")
    signature = None
    example: Any = None
    if input_example is not None:
        face = EstimatorPyfunc(kind)
        face.estimator = estimator
        answer = face.predict(None, input_example, dict(params) if params else None)
        with warnings.catch_warnings():  # MLflow's hint on integer columns (scores are never missing)
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
            signature = infer_signature(input_example, answer, dict(params) if params else None)
        example = (input_example, dict(params)) if params else input_example
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
                signature=signature,
                input_example=example,
            )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in (tags or {}).items():
        client.set_model_version_tag(registered_name, version, key, str(value))
    return ModelRef(registered_name, version, run.info.run_id, tags=dict(tags or {}))


@dataclass(frozen=True)
class GateRule:
    """One comparison of the gate, against the champion measured on the same folds (or holdout).

    ``role="improve"``: the challenger must be better than the champion by more than ``margin`` (in the
    metric's units), so a tie, or a gain within the margin (noise), keeps the champion.
    ``role="guard"``: the challenger may be worse by at most ``margin`` (e.g. calibration while AUC
    improves)."""

    metric: str
    better: Literal["lower", "higher"]
    margin: float = 0.0
    role: Literal["improve", "guard"] = "improve"

    def gain(self, new: float, champion: float) -> float:
        """How much better the challenger is (negative: worse)."""
        return champion - new if self.better == "lower" else new - champion

    def holds(self, new: float, champion: float) -> bool:
        g = self.gain(new, champion)
        return g > self.margin if self.role == "improve" else g >= -self.margin

    def describe(self, new: float, champion: float) -> str:
        need = (
            f"must be better by more than {self.margin:g}"
            if self.role == "improve"
            else f"may be worse by at most {self.margin:g}"
        )
        return f"{self.metric} {new:.4f} vs champion {champion:.4f} ({self.better} is better; {need})"


GateOutcome = Literal["first", "promoted", "tie", "worse"]


@dataclass(frozen=True)
class GateDecision:
    """What the gate decided and why, with both sides' metrics. ``outcome``: ``first`` (no champion yet),
    ``promoted``, ``tie`` (not better by the stated margin: the champion stays) or ``worse``."""

    promote: bool
    reason: str
    new: Mapping[str, float]
    champion: Mapping[str, float] | None
    outcome: GateOutcome | None = None


def champion_gate(
    new: Mapping[str, float],
    champion: Mapping[str, float] | None,
    rules: Sequence[GateRule],
    basis: str = "the same folds",
) -> GateDecision:
    """Promote only if every ``improve`` rule shows a gain above its margin and no ``guard`` rule is broken,
    both sides measured on ``basis``. A challenger that is not better (a tie: e.g. a retrain on identical
    data) keeps the champion. With no champion the first model is promoted."""
    if not any(r.role == "improve" for r in rules):
        raise ConfigError("the champion gate needs at least one 'improve' rule")
    if champion is None:
        return GateDecision(True, "no champion yet: the first model becomes champion", new, None, "first")
    failed: list[GateRule] = []
    texts: list[str] = []
    for r in rules:
        if r.metric not in new or r.metric not in champion:
            raise ConfigError(
                f"gate metric {r.metric!r} missing (new: {sorted(new)}, champion: {sorted(champion)})"
            )
        a, b = float(new[r.metric]), float(champion[r.metric])
        texts.append(r.describe(a, b))
        if not r.holds(a, b):
            failed.append(r)
    on = f" (both on {basis})"
    if not failed:
        return GateDecision(True, "promoted: " + "; ".join(texts) + on, new, champion, "promoted")
    within = all(
        r.role == "improve" and abs(r.gain(float(new[r.metric]), float(champion[r.metric]))) <= r.margin
        for r in failed
    )
    if within:
        return GateDecision(
            False,
            "kept the champion: a tie, this model is not better by the stated margin: "
            + "; ".join(texts)
            + on,
            new,
            champion,
            "tie",
        )
    return GateDecision(False, "kept as challenger: " + "; ".join(texts) + on, new, champion, "worse")


def apply_decision(ref: ModelRef, decision: GateDecision) -> ModelRef:
    """Move the ``champion`` alias to ``ref`` if promoted, else mark it ``challenger``; record why."""
    client = MlflowClient(tracking_uri())
    alias = CHAMPION if decision.promote else CHALLENGER
    client.set_registered_model_alias(ref.name, alias, ref.version)
    client.set_model_version_tag(ref.name, ref.version, "gate_decision", decision.reason[:4000])
    return ModelRef(ref.name, ref.version, ref.run_id, alias, ref.tags)
