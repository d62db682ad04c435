"""The database under faults (issue #20, finding 1): a service that starts only on a database made by
``salesplan db upgrade``, and that answers 503 (writes and ``/ready``) instead of acknowledging a change it
could not keep when the file is deleted, made read-only or replaced while it runs. Each fault test checks
the file afterwards: every acknowledged change is in it, and no refused change is."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from serving_world import upgraded
from typer.testing import CliRunner

from salesplan.planning.proposals import ProposalRequest
from salesplan.serving.app import create_app
from salesplan.serving.db.engine import (
    alembic_config,
    head_revision,
    make_engine,
    session_factory,
    transaction,
)
from salesplan.serving.db.proposal_parameters import ProposalParameters
from salesplan.serving.db.repository import ApiKeyRepository, NewProposal, ProposalRepository, ProposalRowData
from salesplan.serving.services import DatabaseNotReadyError
from salesplan.serving.settings import ServingSettings


def _settings(db: Path, tmp: Path) -> ServingSettings:
    return ServingSettings(database_url=f"sqlite:///{db}", model_cache_dir=tmp / "cache", load_models=False)


def _statuses(db: Path) -> dict[str, str]:
    """What the file at ``db`` holds, read without the service."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT id, status FROM proposals").fetchall())


@dataclass
class Running:
    client: TestClient
    db: Path
    admin: str
    fresh_key: str  # valid, never used: its first check reads the database
    drafts: list[str]

    def approve(self, pid: str) -> Any:
        return self.client.post(
            f"/api/v1/targets/proposals/{pid}:approve", json={"version": 1}, headers={"X-API-Key": self.admin}
        )

    def ready(self) -> Any:
        return self.client.get("/ready", headers={"X-API-Key": self.admin})


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    db = tmp_path / "data" / "app.db"
    upgraded(f"sqlite:///{db}")
    engine = make_engine(f"sqlite:///{db}")
    params = ProposalParameters(ProposalRequest(quarter="2027Q1", by=("region",))).to_json()
    with transaction(session_factory(engine), write=True) as s:
        keys = ApiKeyRepository(s)
        admin, _ = keys.create("admin", "admin")
        fresh, _ = keys.create("fresh", "analyst")
        repo = ProposalRepository(s)
        drafts = [
            repo.create(
                NewProposal(f"2027Q{q}", "blended", "ana", params),
                [ProposalRowData(level="total", unit_id="total", target=Decimal("100"))],
            ).id
            for q in (1, 2, 3)
        ]
    engine.dispose()
    with TestClient(create_app(_settings(db, tmp_path))) as client:
        r = Running(client, db, admin, fresh, drafts)
        assert r.approve(drafts[0]).status_code == 200  # acknowledged before the fault
        assert r.ready().status_code == 503  # (no models: not ready, but the database check is fine)
        assert r.ready().json()["checks"]["database"]["ok"]
        yield r


def _refuses_writes(r: Running, why: str) -> None:
    for res in (r.approve(r.drafts[1]), r.ready()):
        assert res.status_code == 503, res.text
    body = r.approve(r.drafts[1]).json()
    assert why in body["detail"], body
    database = r.ready().json()["checks"]["database"]
    assert not database["ok"] and why in database["detail"], database
    assert r.client.get("/ready").json()["detail"] == "not ready"  # the public learns nothing more


def test_deleted_database_file_refuses_writes_and_loses_no_acknowledged_one(running: Running) -> None:
    r = running
    keep = r.db.with_name("kept.db")
    os.link(r.db, keep)  # the inode the service still has open, to look into afterwards
    os.unlink(r.db)
    _refuses_writes(r, "was deleted")
    assert not r.db.exists()  # nothing re-created an empty database on the side
    assert _statuses(keep) == {r.drafts[0]: "approved", r.drafts[1]: "draft", r.drafts[2]: "draft"}
    os.link(keep, r.db)  # the same file back: the service takes writes again
    assert r.approve(r.drafts[1]).status_code == 200
    assert _statuses(r.db)[r.drafts[1]] == "approved"


def test_read_only_database_refuses_writes_but_still_checks_keys(running: Running) -> None:
    r = running
    r.db.chmod(0o444)  # as root too: a file without write bits is read-only by intent
    try:
        _refuses_writes(r, "is read-only")
        # key checks only read: a key never used before still authenticates
        me = r.client.get("/api/v1/me", headers={"X-API-Key": r.fresh_key})
        assert me.status_code == 200 and me.json()["name"] == "fresh", me.text
    finally:
        r.db.chmod(0o644)
    assert _statuses(r.db)[r.drafts[1]] == "draft"
    assert r.approve(r.drafts[1]).status_code == 200  # writable again: back in service


def test_read_only_database_folder_refuses_writes(running: Running) -> None:
    r = running
    r.db.parent.chmod(0o555)  # SQLite writes its journal next to the file
    try:
        _refuses_writes(r, "of the database file is read-only")
    finally:
        r.db.parent.chmod(0o755)
    assert r.approve(r.drafts[1]).status_code == 200


def test_replaced_database_file_refuses_writes_until_a_restart(running: Running, tmp_path: Path) -> None:
    r = running
    copy = tmp_path / "restored.db"
    shutil.copy(r.db, copy)
    original = r.db.with_name("original.db")
    os.replace(r.db, original)
    os.replace(copy, r.db)  # e.g. a backup restored under the running service
    _refuses_writes(r, "was replaced")
    for db in (original, r.db):
        assert _statuses(db)[r.drafts[1]] == "draft"
    r.client.app.state.services.stop()  # type: ignore[attr-defined]
    with TestClient(create_app(_settings(r.db, tmp_path))) as restarted:  # a restart takes the new file
        res = restarted.post(
            f"/api/v1/targets/proposals/{r.drafts[1]}:approve",
            json={"version": 1},
            headers={"X-API-Key": r.admin},
        )
        assert res.status_code == 200, res.text
    assert _statuses(r.db)[r.drafts[1]] == "approved"


# ------------------------------------------------------------------------------------------ start-up
def _old(db: Path) -> None:
    """A database an earlier salesplan left at revision 0002."""
    engine = make_engine(f"sqlite:///{db}", create=True)
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0002")
    engine.dispose()


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda db: None, "no database file at .* run 'salesplan db upgrade'"),
        (lambda db: sqlite3.connect(db).close(), "no salesplan schema .* run 'salesplan db upgrade'"),
        (
            _old,
            f"schema is at revision 0002, this salesplan needs {head_revision()}: run 'salesplan db upgrade'",
        ),
        (lambda db: (upgraded(f"sqlite:///{db}"), db.chmod(0o444)), "is read-only"),
    ],
    ids=["missing", "empty", "outdated", "read-only"],
)
def test_the_service_refuses_to_start_on_a_database_it_cannot_keep(
    tmp_path: Path, prepare: Callable[[Path], Any], message: str
) -> None:
    db = tmp_path / "app.db"
    prepare(db)
    existed = db.exists()
    with pytest.raises(DatabaseNotReadyError, match=message), TestClient(create_app(_settings(db, tmp_path))):
        pass
    assert db.exists() == existed  # nothing created on the side


def test_serve_and_the_cli_say_how_to_fix_a_missing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesplan.cli import app
    from salesplan.config import get_settings

    db = tmp_path / "app.db"
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", f"sqlite:///{db}")
    get_settings.cache_clear()
    runner = CliRunner()
    for args in (["serve", "--port", "1"], ["plan", "list"], ["apikey", "list"], ["db", "current"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, (args, res.output)
        assert "no database file" in res.output and "salesplan db upgrade" in res.output, res.output
        assert "Traceback" not in res.output and not db.exists()
    _old(db)
    res = runner.invoke(app, ["serve", "--port", "1"])
    assert res.exit_code == 1 and "revision 0002" in res.output and "salesplan db upgrade" in res.output
    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0 and f"upgraded from revision 0002 to revision {head_revision()}" in up.output, (
        up.output
    )
    assert runner.invoke(app, ["db", "current"]).exit_code == 0


def test_database_keeps_no_memory_mapped_wal(tmp_path: Path) -> None:
    """A WAL database maps its -shm file into memory; truncated or unwritable, it killed the process with
    SIGBUS. The store runs with a rollback journal, and the upgrade moves an older WAL database off it."""
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    upgraded(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    engine = make_engine(f"sqlite:///{db}")
    with transaction(session_factory(engine), write=True) as s:
        ApiKeyRepository(s).create("k", "crm")
    engine.dispose()
    assert not (tmp_path / "app.db-shm").exists() and not (tmp_path / "app.db-wal").exists()
