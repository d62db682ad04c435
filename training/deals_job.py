"""Training job of the deal-win model: fit, gate against the champion on the same recent deals, log to
MLflow, register, move the alias.

Gate protocol (why): the candidate and a clone of the champion's configuration are both fit on the deals
closed before the holdout cut and scored on the deals closed after it (the most recent
``holdout_fraction``), so the comparison is like for like whatever data each was first trained on. The
registered model is then refit on every closed deal."""

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
from salesplan.models import registry
from salesplan.models.deals.calibration import metrics
from salesplan.models.deals.features import TrainingSet, training_set
from salesplan.models.deals.scorer import DealScorer
from salesplan.training import tracking
from salesplan.training.reports import reliability_plot, reliability_table

EXPERIMENT = "salesplan-deals"
GATE_RULES = (tracking.GateRule("auc", "higher", 0.01), tracking.GateRule("ece", "lower", 0.0))
"""AUC may drop by at most 0.01 against the champion; calibration (ECE) must be no worse."""


@dataclass(frozen=True)
class DealsTraining:
    ref: registry.ModelRef
    decision: tracking.GateDecision
    holdout: Mapping[str, float]
    validation: Mapping[str, Any]
    n_deals: int
    scorer: DealScorer


def fingerprint(crm: CRMData) -> str:
    """Short hash of the opportunities, so runs on the same data can be recognised."""
    o = crm.opportunities
    cols = [c for c in ("opportunity_id", "outcome", "close_date", "amount") if c in o.columns]
    digest = pd.util.hash_pandas_object(o[cols], index=False).to_numpy()
    return hashlib.sha256(digest.tobytes()).hexdigest()[:16]


def holdout_mask(ts: TrainingSet, fraction: float, seed: int = 0) -> np.ndarray:
    """Rows of deals closed in the last ``fraction`` of close dates (undated data: a seeded share of deals)."""
    deals = pd.Series(ts.groups).astype(str)
    if ts.close_date.notna().all():
        per_deal = ts.close_date.groupby(deals.to_numpy()).max()
        cut = per_deal.quantile(1 - fraction)
        late = per_deal.index[per_deal > cut].to_numpy()
    else:
        ids = np.unique(deals)
        rng = np.random.default_rng(seed)
        late = rng.choice(ids, size=max(1, round(fraction * len(ids))), replace=False)
    return deals.isin(set(late)).to_numpy()


def _fit(scorer: DealScorer, ts: TrainingSet, rows: np.ndarray) -> DealScorer:
    close = ts.close_date[rows].reset_index(drop=True) if ts.close_date.notna().all() else None
    return scorer.fit(ts.X[rows].reset_index(drop=True), ts.y[rows], close_date=close, groups=ts.groups[rows])


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
    """Fit, gate, log and register a deal scorer on a validated CRM."""
    tracking.setup(experiment)
    ts = training_set(crm, every_days=every_days)
    late = holdout_mask(ts, holdout_fraction)
    scorer = DealScorer(**dict(params or {}))
    with mlflow.start_run(run_name=f"deals-{source}") as run:
        mlflow.log_params(
            {
                **scorer.get_params(),
                "holdout_fraction": holdout_fraction,
                "every_days": every_days,
                "source": source,
                "data_fingerprint": fingerprint(crm),
            }
        )
        candidate = _fit(clone(scorer), ts, ~late)
        new = _holdout_metrics(candidate, ts, late)
        champion = registry.find_version(registry.DEALS_MODEL)
        champ_metrics = None
        if champion is not None:
            stored, _ = registry.load_deal_scorer(champion.version)
            champ_metrics = _holdout_metrics(_fit(clone(stored), ts, ~late), ts, late)
            mlflow.log_metrics({f"champion_holdout_{k}": v for k, v in champ_metrics.items()})
        decision = tracking.champion_gate(new, champ_metrics, GATE_RULES)
        final = _fit(scorer, ts, np.ones(len(ts.y), dtype=bool))
        mlflow.log_metrics({f"holdout_{k}": v for k, v in new.items()})
        mlflow.log_metrics(
            {f"validation_{k}": float(v) for k, v in final.validation_.items() if isinstance(v, int | float)}
        )
        mlflow.log_metrics(
            {"auc": new["auc"], "ece": new["ece"], "n_deals": float(len(np.unique(ts.groups)))}
        )
        _log_artifacts(candidate, ts, late)
        ref = tracking.log_estimator(
            final,
            "deals",
            registry.DEALS_MODEL,
            tags={"source": source, "model": final.model_name, "run_id": run.info.run_id},
        )
        ref = tracking.apply_decision(ref, decision)
    final.model_version = ref.version
    return DealsTraining(ref, decision, new, dict(final.validation_), len(np.unique(ts.groups)), final)


def _log_artifacts(scorer: DealScorer, ts: TrainingSet, rows: np.ndarray) -> None:
    """Reliability table and plot on the holdout, and mean |points| per feature (importance)."""
    X = ts.X[rows].reset_index(drop=True)
    p = scorer.predict_proba(X)[:, 1]
    table = reliability_table(ts.y[rows], p)
    explained = scorer.explain_matrix(scorer.encoder_.matrix(X))
    importance = pd.DataFrame(
        {
            "feature": scorer.encoder_.features,
            "mean_abs_points": np.abs(explained["points"]).mean(axis=0),
        }
    ).sort_values("mean_abs_points", ascending=False)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        table.to_csv(d / "reliability.csv", index=False)
        importance.to_csv(d / "feature_importance.csv", index=False)
        reliability_plot(table, d / "calibration.png", f"holdout calibration ({scorer.model_name})")
        mlflow.log_artifacts(str(d), artifact_path="report")
