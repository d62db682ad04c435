"""The notebooks run top to bottom (a failing cell fails the suite) and are committed without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from mlflow_template import fresh_store
from nbclient import NotebookClient

from salesplan.loaders import available
from salesplan.loaders._common import base_dir

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REAL_DATA = {"02_real_data.ipynb": ("walmart", "maven")}
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert {"01_quick_start.ipynb", "02_real_data.ipynb", "03_planning.ipynb"} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_committed_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{name}: cells {dirty} carry outputs; strip them (see notebooks/README.md)"


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_notebook_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = [d for d in REAL_DATA.get(name, ()) if not available().get(d)]
    if missing:
        pytest.skip(f"{name} needs the real data sets {missing} under SALESPLAN_DATA_DIR (../shared/data)")
    # Each notebook gets its own MLflow store and database in a temp folder.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fresh_store(tmp_path / "mlruns.db"))
    monkeypatch.setenv("SALESPLAN_ARTIFACT_ROOT", str(tmp_path / "mlartifacts"))
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", f"sqlite:///{tmp_path / 'salesplan.db'}")
    monkeypatch.setenv("SALESPLAN_NOTEBOOK_OUT", str(tmp_path))
    # 02's live Walmart backtest (three forecasters, AutoETS at season 52) on 12 of store 1's 77 departments
    monkeypatch.setenv("SALESPLAN_NOTEBOOK_SERIES", "12")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel runs in notebooks/: a relative data folder must not change meaning there
    monkeypatch.setenv("SALESPLAN_DATA_DIR", str(base_dir(None).resolve()))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute(env=dict(os.environ))
