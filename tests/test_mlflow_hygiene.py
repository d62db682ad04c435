"""MLflow hygiene (#24): each metric logged once, models carry a signature and an input example, and a
retrain on identical data (a tie) keeps the champion, which the CLI says."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.models import get_model_info
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.models import registry

pytestmark = pytest.mark.slow  # two trainings of the deal model (~20 s on a quiet machine)
runner = CliRunner()


def test_a_deals_retrain_on_the_same_data_is_a_tie_that_keeps_the_champion(mlflow_store: Path) -> None:
    first = runner.invoke(app, ["train", "deals", "--simulated", "--seed", "5"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["train", "deals", "--simulated", "--seed", "5"])
    assert again.exit_code == 0, again.output
    text = " ".join(again.output.split())
    assert "kept the champion: a tie" in text and "the same holdout" in text
    champion = registry.find_version(registry.DEALS_MODEL)
    challenger = registry.find_version(registry.DEALS_MODEL, registry.CHALLENGER)
    assert champion is not None and champion.version == "1"
    assert challenger is not None and challenger.version == "2"

    run = mlflow.get_run(champion.run_id)
    metrics = set(run.data.metrics)
    assert {"holdout_auc", "holdout_ece", "n_deals"} <= metrics
    assert not metrics & {"auc", "ece", "brier", "logloss"}  # once, under the holdout_ name only
    second = mlflow.get_run(challenger.run_id).data.metrics
    assert second["champion_holdout_auc"] == second["holdout_auc"]  # the same holdout for both

    info = get_model_info(f"models:/{registry.DEALS_MODEL}/1")
    assert info.signature is not None and info.saved_input_example_info is not None
    inputs = {c.name for c in info.signature.inputs.inputs}
    outputs = {c.name for c in info.signature.outputs.inputs}
    assert {"amount", "stage_rank"} <= inputs and {"p_win", "score", "grade"} <= outputs
