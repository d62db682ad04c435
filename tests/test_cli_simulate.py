"""``salesplan simulate`` and ``salesplan demo`` through typer's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.contracts import validate_crm, validate_sellout, validate_spend
from salesplan.io import read_crm, read_table
from salesplan.simulator import SimConfig, simulate

runner = CliRunner()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_simulate_writes_valid_files(tmp_path: Path, fmt: str) -> None:
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path / "w"), "--seed", "7", "--format", fmt])
    assert res.exit_code == 0, res.output
    assert "series" in res.output and "opportunities" in res.output
    spec = simulate(SimConfig(seed=7)).sellout.spec
    sellout = validate_sellout(read_table(tmp_path / "w" / f"sellout.{fmt}"), spec)
    assert sellout["unique_id"].nunique() == 72
    validate_crm(read_crm(tmp_path / "w" / "crm"))
    validate_spend(read_table(next((tmp_path / "w").glob("spend.*"))))
    assert (tmp_path / "w" / "truth.json").exists()


def test_simulate_bad_options(tmp_path: Path) -> None:
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--scale", "huge"])
    assert res.exit_code == 1 and "--scale must be one of" in res.output
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--format", "xlsx"])
    assert res.exit_code == 1 and "--format must be csv or parquet" in res.output


@pytest.mark.slow
def test_demo_runs_end_to_end(mlflow_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo points MLflow at its own folder through os.environ; these calls record the variables so
    # that monkeypatch restores (or removes) them afterwards and no later test inherits the demo's store.
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("SALESPLAN_ARTIFACT_ROOT", "unset-by-test")
    monkeypatch.delenv("SALESPLAN_ARTIFACT_ROOT")
    res = runner.invoke(app, ["demo", "--out", str(mlflow_store / "demo")])
    assert res.exit_code == 0, res.output
    for step in (
        "1. simulate",
        "2. validate",
        "3. train the sell-out forecaster",
        "4. train the deal-win model",
        "5. score open deals",
        "6. funnel",
    ):
        assert step in res.output, step
    assert (mlflow_store / "demo" / "mlruns.db").exists()  # the demo keeps its own MLflow store
    assert not (mlflow_store / "mlruns.db").exists()
    assert (mlflow_store / "demo" / "forecast.parquet").exists()
    assert (mlflow_store / "demo" / "funnel_report.html").read_text().startswith("<!")
