"""The workspace (#24): ``salesplan init`` writes a settings file that every command finds without exports,
the environment still wins, ``salesplan status`` says what is in use, and read commands never create a
database or a tracking store behind the user's back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.cli.workspace import WORKSPACE_LAYOUT
from salesplan.config import SETTINGS_FILES, Settings, get_settings
from salesplan.models.registry import DEALS_MODEL, find_version, tracking_uri
from salesplan.serving.settings import ServingSettings

runner = CliRunner()
LAYOUT_VARS = ("MLFLOW_TRACKING_URI", *WORKSPACE_LAYOUT)  # what a workspace sets, and MLflow's own


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty current folder, no workspace variables in the environment, settings files read again
    (the suite turns them off so a developer's files cannot leak into tests)."""
    monkeypatch.chdir(tmp_path)
    for var in LAYOUT_VARS:
        monkeypatch.delenv(var, raising=False)
    for cls in (Settings, ServingSettings):
        monkeypatch.setitem(cls.model_config, "env_file", SETTINGS_FILES)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _run(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


def test_init_writes_a_workspace_that_commands_find_without_exports(here: Path) -> None:
    out = _run(["init", "ws"])
    ws = here / "ws"
    assert (ws / "salesplan.db").is_file() and "revision" in out
    assert (ws / "salesplan.env").is_file() and (here / "salesplan.env").is_file()
    assert "SALESPLAN_DATABASE_URL=sqlite:///ws/salesplan.db" in (here / "salesplan.env").read_text()
    settings = ServingSettings()
    assert Path(settings.database_url.removeprefix("sqlite:///")).resolve() == ws / "salesplan.db"
    assert settings.track_record_dir.resolve() == ws / "track-record"
    assert settings.planning_data is not None and settings.planning_data.resolve() == ws / "data"
    assert tracking_uri() == "sqlite:///ws/mlruns.db"
    # a read command uses the workspace's database (it exists and is migrated: no error, nothing created)
    assert "0 proposal" in _run(["plan", "list"])
    assert not (here / "salesplan.db").exists() and not (here / "mlruns.db").exists()


def test_init_keeps_an_existing_settings_file(here: Path) -> None:
    (here / "salesplan.env").write_text("SALESPLAN_DATABASE_URL=sqlite:///mine.db\n")
    out = _run(["init", "ws"])
    assert (
        "left" in out and (here / "salesplan.env").read_text() == "SALESPLAN_DATABASE_URL=sqlite:///mine.db\n"
    )
    assert (here / "ws" / "salesplan.env").is_file()


def test_the_environment_overrides_the_workspace_file(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run(["init", "ws"])
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", f"sqlite:///{here / 'other.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{here / 'team.db'}")
    get_settings.cache_clear()
    assert get_settings().database_url == f"sqlite:///{here / 'other.db'}"
    assert tracking_uri() == f"sqlite:///{here / 'team.db'}"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("SALESPLAN_TRACKING_URI", "sqlite:///x.db")
    assert tracking_uri() == "sqlite:///x.db"
    out = _run(["status"])
    assert "environment" in out and "missing" in out  # other.db does not exist: said, not created
    assert not (here / "other.db").exists()


def test_status_names_workspace_database_revision_store_and_missing_champions(here: Path) -> None:
    from salesplan.serving.db.engine import head_revision

    _run(["init", "ws"])
    out = " ".join(runner.invoke(app, ["status"], terminal_width=200).output.split())
    assert f"workspace settings: {here / 'salesplan.env'}" in out
    assert f"schema revision {head_revision()} (current)" in out
    assert "sqlite:///ws/mlruns.db" in out and "./salesplan.env" in out
    assert "training a model creates it" in out  # no store yet: the fix is named
    assert not (here / "ws" / "mlruns.db").exists()


def test_status_without_a_workspace_says_how_to_make_one(here: Path) -> None:
    out = " ".join(runner.invoke(app, ["status"], terminal_width=200).output.split())
    assert "no salesplan.env in" in out and "salesplan init DIR" in out
    assert "salesplan db upgrade" in out  # the missing default database, with its fix
    assert not (here / "salesplan.db").exists() and not (here / "mlruns.db").exists()


def test_a_read_command_on_a_missing_database_says_how_to_create_it(here: Path) -> None:
    res = runner.invoke(app, ["plan", "list"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "salesplan db upgrade" in " ".join(res.output.split())
    assert not (here / "salesplan.db").exists()


def test_looking_up_a_model_in_a_missing_store_creates_nothing(here: Path) -> None:
    assert find_version(DEALS_MODEL) is None
    assert not (here / "mlruns.db").exists()
