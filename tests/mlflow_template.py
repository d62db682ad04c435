"""Fresh MLflow stores without MLflow's first-use migration each time: a new SQLite file gets its tables
from MLflow's Alembic migrations (seconds per store, paid by dozens of tests); an up-to-date database is
used as is. So one empty store is migrated per test process and copied where a test wants a fresh one.

The copy holds the tables and no experiment: MLflow creates its ``Default`` experiment when a client first
opens the copy, with the artifact location of that test's settings and working folder, as it does for a
new file. Stores that a test checks MLflow creates (the demo's) are left to MLflow."""

from __future__ import annotations

import atexit
import functools
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

import pytest

__all__ = ["fresh_store", "work_in_fresh_store"]


@functools.cache
def _template() -> Path:
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    db = Path(tempfile.mkdtemp(prefix="mlflow-template-")) / "mlruns.db"
    atexit.register(shutil.rmtree, db.parent, True)
    uri = f"sqlite:///{db}"
    for store in (SqlAlchemyStore(uri, str(db.parent / "mlartifacts")), RegistryStore(uri)):
        store.engine.dispose()
    with closing(sqlite3.connect(db)) as conn, conn:  # the Default experiment: made again per copy
        conn.execute("DELETE FROM experiment_tags")
        conn.execute("DELETE FROM experiments")
    return db


def fresh_store(db: Path) -> str:
    """Write an empty, migrated MLflow store to ``db`` (which must not exist) and return its tracking URI."""
    if db.exists():
        raise FileExistsError(f"{db} exists: a fresh store goes to a new file")
    db.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(_template())) as src, closing(sqlite3.connect(db)) as dst:
        src.backup(dst)  # SQLite's own copy: consistent whatever the journal mode
    return f"sqlite:///{db}"


def work_in_fresh_store(mp: pytest.MonkeyPatch, folder: Path) -> None:
    """Run in ``folder`` with a fresh MLflow store there, artifacts beside it (MLflow's default for the
    working folder, not a ``SALESPLAN_ARTIFACT_ROOT`` from outside the test)."""
    mp.chdir(folder)
    mp.setenv("MLFLOW_TRACKING_URI", fresh_store(folder / "mlruns.db"))
    mp.delenv("SALESPLAN_ARTIFACT_ROOT", raising=False)
