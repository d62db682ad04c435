"""The deal model's training job and CLI: MLflow run, registry, champion gate, scoring and pipeline."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.models import registry
from salesplan.simulator import SimConfig, simulate
from salesplan.training.deals_job import train_deals

runner = CliRunner()


def test_gate_keeps_a_worse_model_out(mlflow_store: Path) -> None:
    crm = simulate(SimConfig(seed=1)).crm
    first = train_deals(crm, source="sim")
    assert first.ref.alias == "champion" and first.holdout["auc"] > 0.7
    worse = train_deals(crm, params={"models": ("prior",)}, source="sim")
    assert worse.ref.alias == "challenger" and "auc" in worse.decision.reason
    champion = registry.find_version(registry.DEALS_MODEL)
    assert champion is not None and champion.version == first.ref.version
    run = mlflow.get_run(first.ref.run_id)
    assert {"holdout_auc", "holdout_ece", "validation_brier"} <= set(run.data.metrics)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first.ref.run_id, "report")}
    assert {"report/calibration.png", "report/reliability.csv", "report/feature_importance.csv"} <= artifacts


def test_cli_train_score_and_pipeline(mlflow_store: Path) -> None:
    res = runner.invoke(app, ["train", "deals", "--simulated", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "champion" in res.output and "auc" in res.output
    world = simulate(SimConfig(seed=3))
    world.write(mlflow_store / "world", fmt="csv")
    res = runner.invoke(
        app, ["score", "deals", "--crm", str(mlflow_store / "world" / "crm"), "--out", "scored.csv"]
    )
    assert res.exit_code == 0, res.output
    scored = pd.read_csv(mlflow_store / "scored.csv")
    n_open = int((world.crm.opportunities["outcome"] == "open").sum())
    assert len(scored) == n_open and scored["score"].between(1, 99).all()
    assert set(scored["grade"]) <= {"A", "B", "C", "D"} and scored["model_version"].eq(1).all()
    res = runner.invoke(
        app,
        [
            "pipeline",
            "--simulated",
            "--seed",
            "3",
            "--quarter",
            "2027Q1",
            "--by",
            "region",
            "--out",
            "pipe.csv",
        ],
    )
    assert res.exit_code == 0, res.output
    pipe = pd.read_csv(mlflow_store / "pipe.csv")
    assert (pipe["q10"] <= pipe["expected_value"]).all() and (pipe["expected_value"] <= pipe["q90"]).all()


def test_cli_errors_are_clean(mlflow_store: Path) -> None:
    res = runner.invoke(app, ["score", "deals", "--input", "x.csv", "--out", "s.csv"])
    assert res.exit_code == 1 and "no model 'salesplan-deals'" in res.output
    res = runner.invoke(app, ["train", "deals", "--simulated", "--min-won", "100000"])
    assert res.exit_code == 1 and "at least 100000 won" in res.output
    res = runner.invoke(app, ["train", "deals"])
    assert res.exit_code == 1 and "exactly one data source" in res.output
