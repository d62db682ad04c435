"""The MLproject entry points: each wraps the ``salesplan`` CLI (checked fast with ``--help`` on the rendered
command) and really runs under ``mlflow run --env-manager local`` (slow)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from mlflow_template import fresh_store

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's bin: salesplan and mlflow live next to python
ENTRY_POINTS = {
    "simulate",
    "train_forecast",
    "backtest_forecast",
    "train_deals",
    "plan_targets",
    "plan_budget",
}


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}
    # mlflow.set_experiment() in earlier in-process tests leaves MLFLOW_EXPERIMENT_ID in os.environ
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(var, None)
    return env


def _commands() -> dict[str, str]:
    from mlflow.projects import _project_spec

    project = _project_spec.load_project(str(ROOT))
    return {name: ep.compute_command({}, None) for name, ep in project._entry_points.items()}


def test_every_entry_point_is_declared_with_defaults() -> None:
    from mlflow.projects import _project_spec

    project = _project_spec.load_project(str(ROOT))
    assert set(project._entry_points) == ENTRY_POINTS
    for name, ep in project._entry_points.items():
        for pname, p in ep.parameters.items():
            assert p.default is not None, f"{name}.{pname} has no default"
            assert p.type in ("string", "float", "path", "uri"), f"{name}.{pname}: {p.type}"
        assert "salesplan " in ep.command, name


@functools.cache
def _rendered_args() -> dict[str, list[str]]:
    """What each entry point's command, rendered with its defaults, passes to ``salesplan``: one bash runs
    all six with ``salesplan`` as a function that writes its arguments out (the shell logic of each command
    runs for real; six CLI start-ups would cost seconds each); once per test process, read by every test."""
    lines = ['salesplan() { printf \'%s\\0\' "$@" > "$SP_ARGS"; }']
    for name, cmd in sorted(_commands().items()):
        lines.append(f"SP_ARGS={name}.args; ( {cmd} )")
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run(
            ["bash", "-c", "\n".join(lines)], capture_output=True, text=True, cwd=tmp, timeout=60
        )
        assert res.returncode == 0, res.stderr
        return {p.stem: p.read_text().split("\0")[:-1] for p in Path(tmp).glob("*.args")}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_point_command_parses(name: str) -> None:
    """The command rendered with its defaults is accepted by the CLI (``--help`` stops before running)."""
    from typer.testing import CliRunner

    from salesplan.cli import app

    args = _rendered_args()[name]
    res = CliRunner().invoke(app, [*args, "--help"])
    assert res.exit_code == 0, (name, args, res.output)
    assert "Usage:" in res.output


def _mlflow_run(tmp: Path, entry: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "mlflow"), "run", str(ROOT), "-e", entry, "--env-manager", "local", *args]
    env = _env(
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlruns.db'}",
        SALESPLAN_ARTIFACT_ROOT=str(tmp / "mlartifacts"),
        SALESPLAN_DATABASE_URL=f"sqlite:///{tmp / 'plans.db'}",
    )
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, timeout=900)


@pytest.mark.slow
def test_mlflow_run_train_forecast_train_deals_then_plan_budget(tmp_path: Path) -> None:
    """``mlflow run`` opens a run; the training job logs into it and registers the model; plan_budget logs
    its CSV and report to its own run."""
    from mlflow.tracking import MlflowClient

    fresh_store(tmp_path / "mlruns.db")  # the store all three runs log to
    res = _mlflow_run(
        tmp_path,
        "train_forecast",
        "-P",
        "data=simulated",
        "-P",
        "scale=tiny",
        "-P",
        "horizon=4",
        "-P",
        "origins=1",
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    fv = client.get_model_version_by_alias("salesplan-forecast", "champion")
    assert client.get_run(fv.run_id).data.tags.get("mlflow.project.entryPoint") == "train_forecast"

    res = _mlflow_run(tmp_path, "train_deals", "-P", "data=simulated", "-P", "scale=tiny")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    mv = client.get_model_version_by_alias("salesplan-deals", "champion")
    run = client.get_run(mv.run_id)
    assert run.data.tags.get("mlflow.project.entryPoint") == "train_deals"  # the project's own run
    assert run.data.params["data"] == "simulated" and "holdout_auc" in run.data.metrics

    out = tmp_path / "budget"
    res = _mlflow_run(tmp_path, "plan_budget", "-P", "total=500000", "-P", f"out={out}")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert pd.read_csv(out / "budget.csv")["spend_total"].sum() == pytest.approx(5e5, rel=1e-6)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        "tags.`mlflow.project.entryPoint` = 'plan_budget'",
    )
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(runs[0].info.run_id)} >= {"budget.csv", "budget.html"}
    assert runs[0].data.metrics["uplift"] > -1
