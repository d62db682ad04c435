"""A small simulated world for the API tests: planning data written to disk and both champions trained
into a throw-away MLflow store, built once per test process (training takes about a minute) and shared by
tests/test_serving_api.py, tests/test_schemathesis.py and tests/test_serving_pg.py."""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlflow_template import fresh_store

from salesplan.serving.db.engine import migrate
from salesplan.serving.db.repository import ApiKeyRepository
from salesplan.serving.settings import ServingSettings
from salesplan.simulator import SimConfig, simulate

ROLES = ("planner", "crm", "analyst", "admin")


@dataclass(frozen=True)
class World:
    root: Path
    plan: Path
    tracking_uri: str
    artifact_root: Path


@contextmanager
def mlflow_env(world: World) -> Iterator[None]:
    """Point MLflow at the world's store for the duration (the service reads it at start and reload)."""
    from salesplan.cli.workspace import workspace_env

    with workspace_env(
        {"MLFLOW_TRACKING_URI": world.tracking_uri, "SALESPLAN_ARTIFACT_ROOT": str(world.artifact_root)}
    ):
        yield


def world_dir(tmp_path_factory: object) -> Path:
    """Where the world lives: ``SALESPLAN_TEST_SERVING_WORLD`` (kept between runs, for quick iteration on
    the API), else the test session's temporary root, which pytest-xdist's workers share (the parent of
    each worker's own folder): one world per run, not one per worker."""
    kept = os.environ.get("SALESPLAN_TEST_SERVING_WORLD")
    if kept:
        return Path(kept)
    base = Path(tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return shared / "serving-world"


@functools.cache
def build_world(root: Path) -> World:
    """Simulate, write the planning-data folder, train the deal and forecast champions (with batch). Workers
    of one run take turns on a lock file: the first builds, the others wait and read it (the world is
    read-only for the tests)."""
    world = World(root, root / "plan", f"sqlite:///{root / 'mlruns.db'}", root / "mlartifacts")
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (root / "built.ok").exists():
                _build(world)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return world


def _build(world: World) -> None:
    from salesplan.training.deals_job import train_deals
    from salesplan.training.forecast_job import train_forecast

    shutil.rmtree(world.root, ignore_errors=True)
    world.root.mkdir(parents=True)
    sim = simulate(SimConfig(seed=7, n_products=4, n_stores=3, n_opportunities=600, n_reps=8))
    sim.write(world.plan)
    fresh_store(world.root / "mlruns.db")
    with mlflow_env(world):
        train_deals(sim.crm, source="sim-serving-tests")
        train_forecast(sim.sellout, h=8, n_origins=2, source="sim-serving-tests", future=sim.future)
    (world.root / "built.ok").write_text("trained\n")


def upgraded(url: str) -> str:
    """``url`` after ``salesplan db upgrade`` (what an operator runs before the first start)."""
    migrate(url)
    return url


def settings_for(world: World, tmp: Path, upgrade: bool = True, **overrides: object) -> ServingSettings:
    """Settings on the world's planning data and a database in ``tmp``, upgraded unless ``upgrade=False``."""
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp / 'app.db'}",
        "model_cache_dir": tmp / "cache",
        "planning_data": world.plan,
        "track_record_dir": tmp / "track-record",
    }
    values.update(overrides)
    settings = ServingSettings(**values)  # type: ignore[arg-type]
    if upgrade:
        upgraded(settings.database_url)
    return settings


def make_keys(services: object) -> dict[str, str]:
    """One API key per role: ``{"planner": "sp_...", ...}``."""
    keys = {}
    with services.session() as session:  # type: ignore[attr-defined]
        repo = ApiKeyRepository(session)
        for role in ROLES:
            keys[role], _ = repo.create(f"test-{role}", role)  # type: ignore[arg-type]
    return keys
