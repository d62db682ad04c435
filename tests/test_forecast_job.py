"""The forecaster's training job and CLI: backtest, MLflow run, registry, gate, batch forecast."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.forecast import Naive
from salesplan.cli import app
from salesplan.simulator import SimConfig, simulate
from training import tracking
from training.forecast_job import alive, train_forecast

runner = CliRunner()


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return simulate(SimConfig(seed=4, n_products=4, n_stores=3))


def test_gate_keeps_a_worse_forecaster_out(mlflow_store: Path, world) -> None:  # type: ignore[no-untyped-def]
    first = train_forecast(world.sellout, h=8, n_origins=2, source="sim")
    assert first.ref.alias == "champion"
    assert {"mase", "wape", "coverage80"} <= set(first.overall)
    worse = train_forecast(world.sellout, h=8, n_origins=2, params={"members": [Naive()]}, source="sim")
    assert worse.ref.alias == "challenger" and "mase" in worse.decision.reason
    assert worse.overall["mase"] > first.overall["mase"]
    champ = tracking.find_version(tracking.FORECAST_MODEL)
    assert champ is not None and champ.version == first.ref.version
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first.ref.run_id, "report")}
    assert {"report/forecast_vs_actual.png", "report/backtest_forecasts.parquet"} <= artifacts


def test_logged_forecaster_loads_back_and_predicts_the_same(mlflow_store: Path, world) -> None:  # type: ignore[no-untyped-def]
    result = train_forecast(world.sellout, h=8, n_origins=2, source="sim")
    expected = result.model.predict(8, X_future=world.future)
    loaded, ref = tracking.load_estimator(tracking.FORECAST_MODEL, "champion")
    assert ref.version == result.ref.version
    got = loaded.predict(8, X_future=world.future)
    pd.testing.assert_frame_equal(got, expected)
    assert set(got["unique_id"]) == set(alive(world.sellout.df)["unique_id"])
    assert (got[["q10", "q50", "q90"]].to_numpy() >= 0).all()
    assert np.all(got["q10"] <= got["q90"])


def test_cli_train_and_forecast(mlflow_store: Path) -> None:
    res = runner.invoke(
        app, ["train", "forecast", "--simulated", "--seed", "5", "--horizon", "8", "--origins", "2"]
    )
    assert res.exit_code == 0, res.output
    assert "champion" in res.output and "mase" in res.output
    res = runner.invoke(app, ["forecast", "--simulated", "--seed", "5", "--h", "13", "--out", "fc.csv"])
    assert res.exit_code == 0, res.output
    fc = pd.read_csv(mlflow_store / "fc.csv")
    assert fc.groupby("unique_id").size().eq(13).all() and fc["model_version"].eq(1).all()


def test_cli_errors_are_clean(mlflow_store: Path) -> None:
    res = runner.invoke(app, ["forecast", "--simulated", "--out", "fc.csv"])
    assert res.exit_code == 1 and "no model 'salesplan-forecast'" in res.output
    res = runner.invoke(app, ["train", "forecast", "--dataset", "maven"])
    assert res.exit_code == 1 and "sell-out must be one of" in res.output
    res = runner.invoke(app, ["train", "forecast", "--simulated", "--horizon", "60", "--origins", "3"])
    assert res.exit_code == 1 and "Traceback" not in res.output
