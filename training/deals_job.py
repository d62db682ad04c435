"""Training job of the deal-win model, from a CRM or a plain table: fit, gate against the champion on the
same holdout, log to MLflow (with the leakage guard's verdict on every feature), register, move the alias.

Gate protocol (why): the candidate and a clone of the champion's configuration are both fit on the rows
before the holdout and scored on the holdout, so the comparison is like for like whatever data each was
first trained on. The holdout is the latest ``holdout_fraction`` of closes when every row is dated
(time-ordered: what the model will face), else a seeded random share of deals, and its label says which.
The registered model is then refit on every closed deal. A model trained on a plain table is not promoted
over a champion trained on CRM features (or the reverse): they score differently shaped rows, so the
service could not use it; it is kept as challenger with that reason."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.base import clone

from salesplan.contracts import CRMData
from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError
from salesplan.models import registry
from salesplan.models.deals.calibration import metrics
from salesplan.models.deals.features import TrainingSet, training_set
from salesplan.models.deals.scorer import DealScorer, deal_outcomes
from salesplan.models.deals.table import table_training_set
from salesplan.training import tracking
from salesplan.training.reports import reliability_plot, reliability_table

EXPERIMENT = "salesplan-deals"
# The gate: a challenger must raise the holdout AUC by more than 0.005 (below that, differences between
# refits on the same rows are noise) without worsening calibration (ECE) by more than 0.005; a tie keeps
# the champion.
GATE_RULES = (
    tracking.GateRule("auc", "higher", 0.005),
    tracking.GateRule("ece", "lower", 0.005, role="guard"),
)
"""AUC may drop by at most 0.01 against the champion; calibration (ECE) must be no worse."""


@dataclass(frozen=True)
class DealsTraining:
    ref: registry.ModelRef
    decision: tracking.GateDecision
    holdout: Mapping[str, float]
    holdout_label: str
    validation: Mapping[str, Any]
    n_deals: int
    scorer: DealScorer
    leakage: pd.DataFrame  # every candidate feature with its verdict (the final model's guard)


def fingerprint(frame: pd.DataFrame, columns: tuple[str, ...] = ("opportunity_id", "outcome", "close_date", "amount")) -> str:  # fmt: skip
    """Short hash of the training rows, so runs on the same data can be recognised."""
    cols = [c for c in columns if c in frame.columns] or list(frame.columns)
    digest = pd.util.hash_pandas_object(frame[cols], index=False).to_numpy()
    return hashlib.sha256(digest.tobytes()).hexdigest()[:16]


def holdout_mask(ts: TrainingSet, fraction: float, seed: int = 0) -> tuple[np.ndarray, str]:
    """Rows of the holdout and its honest label: deals closed in the last ``fraction`` of close dates, or a
    seeded share of deals when the rows are not all dated."""
    deals = pd.Series(ts.groups).astype(str)
    if len(ts.close_date) and ts.close_date.notna().all():
        per_deal = ts.close_date.groupby(deals.to_numpy()).max()
        cut = per_deal.quantile(1 - fraction)
        late = per_deal.index[per_deal > cut].to_numpy()
        label = f"holdout (latest {fraction:.0%} of closes, after {pd.Timestamp(cut).date()})"
    else:
        ids = np.unique(deals)
        rng = np.random.default_rng(seed)
        late = rng.choice(ids, size=max(1, round(fraction * len(ids))), replace=False)
        label = f"holdout (random {fraction:.0%} of deals: no dates)"
    return deals.isin(set(late)).to_numpy(), label


def _fit(scorer: DealScorer, ts: TrainingSet, rows: np.ndarray) -> DealScorer:
    X = ts.X[rows].reset_index(drop=True)
    close = ts.close_date[rows].reset_index(drop=True)
    return scorer.fit(X, ts.y[rows], groups=ts.groups[rows], evidence=ts.evidence, close_date=close)


def _holdout_metrics(scorer: DealScorer, ts: TrainingSet, rows: np.ndarray) -> dict[str, float]:
    p = scorer.predict_proba(ts.X[rows].reset_index(drop=True))[:, 1]
    return {k: float(v) for k, v in metrics(ts.y[rows], p).items()}


def train_deals(
    crm: CRMData,
    *,
    params: Mapping[str, Any] | None = None,
    holdout_fraction: float = 0.2,
    every_days: int = 30,
    source: str = "unknown",
    experiment: str = EXPERIMENT,
) -> DealsTraining:
    """Fit, gate, log and register a deal scorer on a validated CRM (snapshots of its closed deals)."""
    ts = training_set(crm, every_days=every_days)
    return train_deals_on(
        ts, params=params, holdout_fraction=holdout_fraction, source=source, experiment=experiment,
        run_params={"every_days": every_days, "data_fingerprint": fingerprint(crm.opportunities)}, kind="crm",
    )  # fmt: skip


def train_deals_table(
    table: pd.DataFrame,
    target: str,
    *,
    id_column: str | None = None,
    date_column: str | None = None,
    params: Mapping[str, Any] | None = None,
    holdout_fraction: float = 0.2,
    source: str = "table",
    experiment: str = EXPERIMENT,
) -> DealsTraining:
    """Fit, gate, log and register a deal scorer on a plain table: one row per deal, the outcome in
    ``target`` (see :func:`models.deals.table.table_training_set`)."""
    ts = table_training_set(table, target, id_column=id_column, date_column=date_column, source=source)
    cols = tuple(c for c in (id_column, target, date_column) if c)
    run_params = {"table_target": target, "table_id_column": id_column or "", "table_date_column": date_column or "",
                  "data_fingerprint": fingerprint(table, cols)}  # fmt: skip
    return train_deals_on(
        ts, params=params, holdout_fraction=holdout_fraction, source=source, experiment=experiment,
        run_params=run_params, kind="table",
    )  # fmt: skip


def train_deals_on(
    ts: TrainingSet,
    *,
    params: Mapping[str, Any] | None,
    holdout_fraction: float,
    source: str,
    experiment: str,
    run_params: Mapping[str, Any],
    kind: str,
) -> DealsTraining:
    """The shared job: holdout, candidate, champion comparison, final refit, logging and registration.
    (Parameter names differ from the MLproject's, which ``mlflow run`` logs in the same run.)"""
    if not 0 < holdout_fraction < 0.5:
        raise ConfigError(f"holdout fraction must be in (0, 0.5), got {holdout_fraction}")
    tracking.setup(experiment)
    late, label = holdout_mask(ts, holdout_fraction)
    scorer = DealScorer(**dict(params or {}))
    _check_outcomes(scorer, ts, late, label)
    with mlflow.start_run(run_name=f"deals-{source}") as run:
        mlflow.log_params({**_loggable(scorer.get_params()), **run_params, "holdout_fraction": holdout_fraction,
                           "holdout_scheme": label, "source": source, "input_kind": kind})  # fmt: skip
        candidate = _fit(clone(scorer), ts, ~late)
        new = _holdout_metrics(candidate, ts, late)
        decision = _gate(new, ts, late, kind)
        final = _fit(scorer, ts, np.ones(len(ts.y), dtype=bool))
        mlflow.log_metrics({f"holdout_{k}": v for k, v in new.items()})
        mlflow.log_metrics(
            {f"validation_{k}": float(v) for k, v in final.validation_.items() if isinstance(v, int | float)}
        )
        n_deals = len(np.unique(ts.groups))
        # each metric once: the holdout's are holdout_<metric> above (beside champion_holdout_<metric>)
        mlflow.log_metrics(
            {"n_deals": float(n_deals), "features_refused": float(len(final.leakage_report_.refused))}
        )
        _log_artifacts(candidate, final, ts, late, label)
        ref = tracking.log_estimator(
            final,
            "deals",
            registry.DEALS_MODEL,
            tags={"source": source, "model": final.model_name, "run_id": run.info.run_id, "input": kind},
            input_example=ts.X.tail(5).reset_index(drop=True),  # the latest snapshots, as scoring gets them
        )
        ref = tracking.apply_decision(ref, decision)
    final.model_version = ref.version
    leakage = final.leakage_report_.frame()
    return DealsTraining(ref, decision, new, label, dict(final.validation_), n_deals, final, leakage)


def _check_outcomes(scorer: DealScorer, ts: TrainingSet, late: np.ndarray, label: str) -> None:
    """Refuse before any MLflow run starts when the deals, or the part of them the candidate is fitted on
    (all but the holdout), have too few wins or losses: the scorer's own check would only count the
    training part, so a table of 600 wins and no losses read "got 480 won and 0 lost"."""
    need = f"at least {scorer.min_won} won and {scorer.min_lost} lost closed deals"
    for what, rows, fix in (
        ("the data has", np.ones(len(ts.y), dtype=bool),
         "add closed deals of the missing outcome (is the target column right?)"),
        (f"the training part (all but the {label}) has", ~late, "add older closed deals"),
    ):  # fmt: skip
        won, lost = deal_outcomes(ts.y[rows], ts.groups[rows])
        if won < scorer.min_won or lost < scorer.min_lost:
            raise InsufficientDataError(
                f"deal scorer needs {need}; {what} {won} won and {lost} lost. Fix: {fix}, pool more teams "
                "or regions, or lower min_won/min_lost knowingly"
            )


def _gate(new: dict[str, float], ts: TrainingSet, late: np.ndarray, kind: str) -> tracking.GateDecision:
    """The champion's configuration refit on the same rows and scored on the same holdout."""
    champion = registry.find_version(registry.DEALS_MODEL)
    if champion is None:
        return tracking.champion_gate(new, None, GATE_RULES)
    theirs = champion.tags.get("input", "crm")
    if theirs != kind:
        return tracking.GateDecision(
            False,
            f"kept as challenger: the champion was trained on {theirs} rows and this model on {kind} rows; "
            "they score differently shaped deals, so promote this one yourself if it is what should serve",
            new,
            None,
        )
    stored, _ = registry.load_deal_scorer(champion.version)
    try:
        champ = _holdout_metrics(_fit(clone(stored), ts, ~late), ts, late)
    except (ConfigError, DataValidationError, InsufficientDataError) as e:
        return tracking.GateDecision(
            False, f"kept as challenger: the champion's configuration does not fit this data ({e})", new, None
        )
    mlflow.log_metrics({f"champion_holdout_{k}": v for k, v in champ.items()})
    return tracking.champion_gate(
        new, champ, GATE_RULES, basis=f"the same holdout ({int(late.sum()):,} rows)"
    )


def _loggable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (",".join(map(str, v)) if isinstance(v, list | tuple) else v) for k, v in params.items()}


def _log_artifacts(
    candidate: DealScorer, final: DealScorer, ts: TrainingSet, rows: np.ndarray, label: str
) -> None:
    """Reliability table and plot on the holdout, mean |points| per feature (importance) and the leakage
    guard's verdict on every candidate feature."""
    X = ts.X[rows].reset_index(drop=True)
    p = candidate.predict_proba(X)[:, 1]
    table = reliability_table(ts.y[rows], p)
    explained = candidate.explain_matrix(candidate.encoder_.matrix(X))
    importance = pd.DataFrame(
        {
            "feature": candidate.encoder_.features,
            "mean_abs_points": np.abs(explained["points"]).mean(axis=0),
        }
    ).sort_values("mean_abs_points", ascending=False)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        table.to_csv(d / "reliability.csv", index=False)
        importance.to_csv(d / "feature_importance.csv", index=False)
        final.leakage_report_.frame().to_csv(d / "leakage_report.csv", index=False)
        reliability_plot(table, d / "calibration.png", f"{label}: calibration ({candidate.model_name})")
        mlflow.log_artifacts(str(d), artifact_path="report")
