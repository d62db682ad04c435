"""A shared MLflow tracking server (PostgreSQL backend, served artifacts) started by the project's script:
both models train against it, become champions, and the service's model store loads them from it."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from salesplan.simulator import SimConfig, simulate

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "mlflow_server.sh"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tracking_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the server on a free port with its own database; stop it and drop the database after."""
    import psycopg

    db = f"mlflow_test_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "SALESPLAN_MLFLOW_PORT": str(_free_port()),
        "SALESPLAN_MLFLOW_DIR": str(tmp_path_factory.mktemp("mlflow-server")),
        "SALESPLAN_MLFLOW_DB": db,
    }
    started = subprocess.run(
        ["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=240
    )
    if started.returncode != 0:
        pytest.fail(f"scripts/mlflow_server.sh start failed:\n{started.stderr[-2000:]}")
    uri = started.stdout.strip().splitlines()[-1]
    try:
        yield uri
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60)
        admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_train_promote_and_serve_through_the_shared_server(
    tracking_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesplan.models import registry
    from salesplan.models.forecast import WindowAverage
    from salesplan.serving.model_store import ModelStore
    from salesplan.training.deals_job import train_deals
    from salesplan.training.forecast_job import train_forecast

    monkeypatch.chdir(tmp_path)  # nothing may land in a local ./mlartifacts: the server keeps artifacts
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    monkeypatch.delenv("SALESPLAN_ARTIFACT_ROOT", raising=False)
    world = simulate(SimConfig(seed=4, n_products=4, n_stores=3))

    deals = train_deals(world.crm, source="sim")
    # the model's content is not under test here (the shared store is): a one-member blend trains in seconds
    cheap = {"members": [WindowAverage()]}
    forecast = train_forecast(world.sellout, h=8, n_origins=2, params=cheap, source="sim")
    mlflow.end_run()
    assert deals.ref.alias == "champion" and forecast.ref.alias == "champion"
    for name in (registry.DEALS_MODEL, registry.FORECAST_MODEL):
        version = mlflow.MlflowClient(tracking_server).get_model_version_by_alias(name, "champion")
        assert version.run_id in (deals.ref.run_id, forecast.ref.run_id)
    assert not (tmp_path / "mlartifacts").exists()
    run = mlflow.MlflowClient(tracking_server).get_run(deals.ref.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")

    store = ModelStore(tmp_path / "cache", timeout_s=60)
    outcome = store.load_all()
    assert all(v.startswith("loaded version") for v in outcome.values()), outcome
    scorer = store.get(registry.DEALS_MODEL).estimator
    from salesplan.models.deals.features import features_asof

    scored = scorer.score_frame(features_asof(world.crm))
    assert len(scored) > 0 and scored["p_win"].between(0, 1).all()
    assert store.get(registry.FORECAST_MODEL).ref.version == forecast.ref.version
