"""Shared fixtures: small clean frames that each test breaks in one way."""

from __future__ import annotations

import os
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest_pg import pg_url  # noqa: F401  (the PostgreSQL fixture, shared by every test module)
from mlflow_template import work_in_fresh_store
from web_server import browser_context, chromium_browser, web_server  # noqa: F401  (the web page's)

from salesplan.config import get_settings


@pytest.fixture(autouse=True, scope="session")
def _no_workspace_files() -> Iterator[None]:
    """A settings file in the folder the suite runs from (``salesplan.env`` that ``make demo`` writes in the
    repository root, or a developer's ``.env``) must not point the tests at real stores; the workspace
    tests (test_workspace.py) turn the files back on for themselves."""
    from salesplan.config import Settings
    from salesplan.serving.settings import ServingSettings

    old = {cls: cls.model_config.get("env_file") for cls in (Settings, ServingSettings)}
    for cls in old:
        cls.model_config["env_file"] = None
    yield
    for cls, value in old.items():
        cls.model_config["env_file"] = value


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings are cached per process; tests that change env vars must see a fresh copy."""
    get_settings.cache_clear()
    os.environ.setdefault("MPLBACKEND", "Agg")


# Test modules by descending run time on 2 cores (measured with a per-worker schedule, 2026-12-06;
# test_mlflow_server.py moved down once its server stopped starting MLflow's job runner, 2026-12-07). `make
# test` hands whole modules to the two workers (--dist loadscope, so a module's expensive fixture is built
# once) in this order (--no-loadscope-reorder: xdist would sort them by test count), longest first, which
# keeps both workers busy to the end instead of one finishing a long module alone. The serving world's
# first user leads and the next does not need it, so no worker waits on its build; the web pages (one unit,
# below) come once it is built. Modules not listed follow in their usual order.
LONGEST_FIRST = (
    "test_schemathesis.py", "test_notebooks.py", "test_web.py", "test_web_layout.py", "test_web_accounts.py",
    "test_forecast_job.py", "test_demo.py", "test_mlproject.py", "test_cli_report.py",
    "test_engine.py", "test_forecast_levels.py", "test_determinism.py", "test_cli_plan.py",
    "test_serving_runner.py", "test_mlflow_server.py", "test_cli_forecast.py", "test_serving_api.py",
    "test_batch_outputs.py", "test_proposals.py", "test_deal_fastpath_property.py", "test_forecast_models.py",
    "test_funnel.py", "test_frequencies.py",
)  # fmt: skip


# Modules that share one per-process fixture too costly to start twice go to one worker as one unit: the web
# page's tests share a live server and Chromium (tests/web_server.py), about ten seconds to start per worker.
SHARED_SCOPE = {
    "test_web.py": "web pages",
    "test_web_layout.py": "web pages",
    "test_web_accounts.py": "web pages",
}


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadscope`` with the modules of ``SHARED_SCOPE`` as one unit (xdist's own hook)."""
    if config.getoption("dist", None) != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            shared = SHARED_SCOPE.get(Path(nodeid.split("::", 1)[0]).name)
            return shared or super()._split_scope(nodeid)

    return SharedScopeScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within a module kept


def _overflow_here(kind: str, _flag: int) -> None:
    """A numpy overflow names the code that overflowed, not numpy's own wrapper (a rare overflow seen in
    full-suite runs only pointed at ``fromnumeric.py``; this keeps the stack in the warnings summary)."""
    stack = "".join(traceback.format_stack(limit=14)[:-1])
    warnings.warn(f"numpy floating-point {kind}, raised at:\n{stack}", RuntimeWarning, stacklevel=2)


@pytest.fixture(autouse=True, scope="session")
def _numpy_overflow_with_stack() -> Iterator[None]:
    old, old_call = np.seterr(over="call"), np.seterrcall(_overflow_here)
    yield
    np.seterr(**old)
    np.seterrcall(old_call)


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throw-away MLflow store (SQLite + ./mlartifacts) in a temporary working folder."""
    import mlflow

    work_in_fresh_store(monkeypatch, tmp_path)
    yield tmp_path
    mlflow.end_run()
    # mlflow.set_experiment() exports the experiment id; it must not leak into the next test's store
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


@pytest.fixture
def clean_sellout() -> pd.DataFrame:
    weeks = pd.date_range("2025-01-06", periods=8, freq="7D")
    rows = []
    for store, region in (("S1", "North"), ("S2", "South")):
        for product, category in (("P1", "Drinks"), ("P2", "Snacks")):
            for i, ds in enumerate(weeks):
                rows.append(
                    {
                        "unique_id": f"{store}/{product}",
                        "ds": ds.strftime("%Y-%m-%d"),
                        "y": 10 + i,
                        "price": 2.5,
                        "promo": int(i == 3),
                        "region": region,
                        "store": store,
                        "category": category,
                        "product": product,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def clean_crm_frames() -> dict[str, pd.DataFrame]:
    reps = pd.DataFrame(
        {
            "rep_id": ["r1", "r2"],
            "team": ["T1", "T1"],
            "region": ["North", "North"],
            "hire_date": ["2024-01-01", "2025-03-01"],
        }
    )
    accounts = pd.DataFrame({"account_id": ["a1", "a2"], "industry": ["retail", "tech"]})
    opps = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3"],
            "rep_id": ["r1", "r2", "r1"],
            "account_id": ["a1", "a2", "a1"],
            "product": ["X", "Y", "X"],
            "amount": [1000.0, 500.0, 2500.0],
            "created_date": ["2025-01-01", "2025-01-10", "2025-02-01"],
            "stage": ["Sign", "Pitch", "Meet"],
            "close_date": ["2025-03-01", "2025-02-20", None],
            "outcome": ["won", "lost", "open"],
        }
    )
    events = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o1", "o1", "o1", "o2", "o2", "o2", "o3", "o3"],
            "stage": ["Find", "Meet", "Pitch", "Sign", "Find", "Pitch", "Lost", "Find", "Meet"],
            "ts": [
                "2025-01-01",
                "2025-01-10",
                "2025-02-01",
                "2025-03-01",
                "2025-01-10",
                "2025-02-01",
                "2025-02-20",
                "2025-02-01",
                "2025-02-10",
            ],
        }
    )
    return {"reps": reps, "accounts": accounts, "opportunities": opps, "stage_events": events}
