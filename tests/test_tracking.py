"""MLflow logging, registry aliases and the champion gate, on a throw-away SQLite store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError, ModelNotFoundError
from salesplan.models import registry
from salesplan.training import tracking
from salesplan.training.tracking import GateRule, champion_gate


class TinyScorer:
    """Stands in for a deal scorer: a fixed logistic function of the amount."""

    def __init__(self, slope: float) -> None:
        self.slope = slope

    def score_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        p = 1 / (1 + np.exp(-self.slope * np.log(df["amount"].to_numpy())))
        return pd.DataFrame({"opportunity_id": df["opportunity_id"], "p_win": p})


def _train(slope: float, auc: float, ece: float) -> registry.ModelRef:
    tracking.setup("test-deals")
    with mlflow.start_run():
        mlflow.log_metrics({"auc": auc, "ece": ece})
        ref = tracking.log_estimator(TinyScorer(slope), "deals", registry.DEALS_MODEL, tags={"auc": str(auc)})
        champ = registry.find_version(registry.DEALS_MODEL)
        champ_metrics = None
        if champ is not None:
            run = mlflow.get_run(champ.run_id)
            champ_metrics = dict(run.data.metrics)
        rules = [GateRule("auc", "higher", 0.005), GateRule("ece", "lower", 0.005, role="guard")]
        return tracking.apply_decision(ref, champion_gate({"auc": auc, "ece": ece}, champ_metrics, rules))


def test_gate_promotes_first_and_keeps_worse_out(mlflow_store: Path) -> None:
    first = _train(0.5, auc=0.80, ece=0.02)
    assert first.alias == "champion" and first.version == "1"
    worse = _train(0.7, auc=0.70, ece=0.02)
    assert worse.alias == "challenger"
    champ = registry.find_version(registry.DEALS_MODEL)
    assert champ is not None and champ.version == "1"
    same = _train(0.5, auc=0.80, ece=0.02)  # a retrain on identical data: a tie keeps the champion
    assert same.alias == "challenger"
    better = _train(0.9, auc=0.82, ece=0.015)
    assert better.alias == "champion"
    assert (mlflow_store / "mlartifacts").is_dir()


def test_logged_model_loads_back_with_same_numbers(mlflow_store: Path) -> None:
    ref = _train(0.5, auc=0.8, ece=0.02)
    deals = pd.DataFrame({"opportunity_id": ["a", "b"], "amount": [100.0, 5000.0]})
    expected = TinyScorer(0.5).score_frame(deals)
    est, loaded = registry.load_estimator(registry.DEALS_MODEL, "champion", cache_dir=mlflow_store / "cache")
    assert loaded.version == ref.version and loaded.run_id == ref.run_id
    pd.testing.assert_frame_equal(est.score_frame(deals), expected)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.DEALS_MODEL}@champion")
    pd.testing.assert_frame_equal(pyfunc.predict(deals), expected)
    cached = registry.load_cached(registry.DEALS_MODEL, mlflow_store / "cache")
    assert cached is not None and cached[1].version == ref.version


def test_missing_model_is_clear(mlflow_store: Path) -> None:
    tracking.setup("empty")
    assert registry.find_version("nothing-here") is None
    with pytest.raises(ModelNotFoundError, match="train one first"):
        registry.load_estimator("nothing-here")


def test_gate_promotes_only_by_more_than_the_margin_and_says_a_tie_keeps_the_champion() -> None:
    rules = [GateRule("mase", "lower", 0.01)]
    tie = champion_gate({"mase": 1.0}, {"mase": 1.0}, rules, basis="the same 3 origins")
    assert not tie.promote and tie.outcome == "tie"
    assert "a tie" in tie.reason and "kept the champion" in tie.reason and "the same 3 origins" in tie.reason
    within = champion_gate({"mase": 0.995}, {"mase": 1.0}, rules)
    assert not within.promote and within.outcome == "tie"
    better = champion_gate({"mase": 0.98}, {"mase": 1.0}, rules)
    assert better.promote and better.outcome == "promoted"
    worse = champion_gate({"mase": 1.05}, {"mase": 1.0}, rules)
    assert not worse.promote and worse.outcome == "worse" and "kept as challenger" in worse.reason
    # a guard: better AUC, but calibration worse by more than its margin
    guarded = [GateRule("auc", "higher", 0.005), GateRule("ece", "lower", 0.005, role="guard")]
    assert champion_gate({"auc": 0.9, "ece": 0.03}, {"auc": 0.8, "ece": 0.02}, guarded).outcome == "worse"
    assert champion_gate({"auc": 0.9, "ece": 0.024}, {"auc": 0.8, "ece": 0.02}, guarded).promote
    with pytest.raises(ConfigError, match="improve"):
        champion_gate({"ece": 0.1}, {"ece": 0.1}, [GateRule("ece", "lower", role="guard")])


def test_gate_rules() -> None:
    rules = [GateRule("mase", "lower")]
    assert champion_gate({"mase": 0.9}, {"mase": 1.0}, rules).promote
    decision = champion_gate({"mase": 1.1}, {"mase": 1.0}, rules)
    assert not decision.promote and "mase 1.1000 vs champion 1.0000" in decision.reason
    with pytest.raises(ConfigError, match="missing"):
        champion_gate({"wape": 1.0}, {"mase": 1.0}, rules)
