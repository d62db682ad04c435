"""What ``salesplan status`` prints: each workspace setting with where its value came from, the database's
schema revision, the tracking store and the champions, and for anything missing the command that fixes
it. Nothing here creates a file: a missing SQLite database or tracking store is reported, not made."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from dotenv import dotenv_values
from rich.table import Table

from salesplan.cli._common import console
from salesplan.config import SETTINGS_FILES, WORKSPACE_FILE

__all__ = ["print_status", "setting_sources"]

_SETTINGS = {
    "SALESPLAN_DATABASE_URL": "database",
    "SALESPLAN_TRACKING_URI": "tracking store",
    "SALESPLAN_ARTIFACT_ROOT": "artifact root",
    "SALESPLAN_TRACK_RECORD_DIR": "track record",
    "SALESPLAN_MODEL_CACHE_DIR": "model cache",
    "SALESPLAN_FORECAST_DIR": "batch forecasts",
    "SALESPLAN_PLANNING_DATA": "planning data",
}


class _Rows:
    """Two lines per setting (value and source, then its state), printed unwrapped: a table would fold
    long paths and URLs into pieces nobody can copy."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add_row(self, what: str, value: str, source: str, state: str) -> None:
        self.rows.append((what, value, source, state))

    def print(self) -> None:
        for what, value, source, state in self.rows:
            console.print(
                f"[bold]{what:<16}[/]{value}  [dim](from {source})[/]", soft_wrap=True, highlight=False
            )
            console.print(f"{'':<16}{state}", soft_wrap=True, highlight=False)


def setting_sources() -> dict[str, str]:
    """Where each workspace setting comes from: 'environment', a settings file, or 'default' (the
    precedence of ``salesplan.config``: environment, then the last settings file that sets it)."""
    files = {name: dotenv_values(name) for name in SETTINGS_FILES if Path(name).is_file()}
    out: dict[str, str] = {}
    for key in _SETTINGS:
        if key == "SALESPLAN_TRACKING_URI" and os.environ.get("MLFLOW_TRACKING_URI"):
            out[key] = "environment (MLFLOW_TRACKING_URI)"
        elif os.environ.get(key):
            out[key] = "environment"
        else:
            found = [name for name, values in files.items() if values.get(key)]
            out[key] = f"./{found[-1]}" if found else "default"
    return out


def _database() -> tuple[str, str]:
    from salesplan.cli._plan_io import database_label
    from salesplan.serving.db.engine import current_revision, database_problem, make_engine

    try:
        engine = make_engine()
    except Exception as exc:  # an unparsable URL: say so, keep reporting the rest
        return database_label(), f"[red]unusable[/]: {exc}"
    try:
        problem = database_problem(engine)
        if problem is None:
            return database_label(), f"[green]ok[/], schema revision {current_revision(engine)} (current)"
        kind, message = problem
        fix = " (or 'salesplan init DIR' for a new workspace)" if kind == "missing" else ""
        return database_label(), f"[red]{kind}[/]: {message}{fix}"
    finally:
        engine.dispose()


def _sqlite_store(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///")).expanduser().resolve()


def _champions(uri: str) -> Table | str:
    """The champion (and challenger, if any) of each model, or why there is none."""
    from mlflow.tracking import MlflowClient

    from salesplan.models.registry import CHALLENGER, CHAMPION, DEALS_MODEL, FORECAST_MODEL, find_version

    train = {
        FORECAST_MODEL: "salesplan train forecast --simulated (or --data FILE)",
        DEALS_MODEL: "salesplan train deals --simulated (or --crm DIR)",
    }
    table = Table(title="models")
    for col in ("model", "alias", "version", "run", "registered", "gate decision"):
        table.add_column(col)
    client = MlflowClient(uri)
    for name in (FORECAST_MODEL, DEALS_MODEL):
        found = False
        for alias in (CHAMPION, CHALLENGER):
            ref = find_version(name, alias)
            if ref is None:
                continue
            found = True
            mv = client.get_model_version(name, ref.version)
            when = f"{datetime.fromtimestamp(mv.creation_timestamp / 1000):%Y-%m-%d %H:%M}"
            reason = str((mv.tags or {}).get("gate_decision", ""))
            table.add_row(name, alias, ref.version, ref.run_id, when, reason[:90])
        if not found:
            table.add_row(name, "[red]none[/]", "", "", "", f"train one: {train[name]}")
    return table


def print_status() -> None:
    from salesplan.models.registry import tracking_uri
    from salesplan.serving.settings import ServingSettings

    settings = ServingSettings()
    here = Path.cwd()
    workspace = here / WORKSPACE_FILE
    if workspace.is_file():
        console.print(f"workspace settings: {workspace}", soft_wrap=True, highlight=False)
    else:
        console.print(
            f"no {WORKSPACE_FILE} in {here}: defaults and the environment apply. Fix: 'salesplan init DIR' "
            "(or 'make demo') writes one, or run commands from a workspace folder",
            soft_wrap=True,
            highlight=False,
        )
    sources = setting_sources()
    uri = tracking_uri()
    db_label, db_state = _database()
    store = _sqlite_store(uri)
    store_state = (
        "[green]ok[/]"
        if store is None or store.is_file()
        else f"[red]missing[/]: no file {store}; training a model creates it ('salesplan train forecast')"
    )
    table = _Rows()
    table.add_row("database", db_label, sources["SALESPLAN_DATABASE_URL"], db_state)
    table.add_row("tracking store", uri, sources["SALESPLAN_TRACKING_URI"], store_state)
    dirs = {
        "SALESPLAN_ARTIFACT_ROOT": (settings.artifact_root, "created by the first training run"),
        "SALESPLAN_TRACK_RECORD_DIR": (settings.track_record_dir, "run 'salesplan plan backtest'"),
        "SALESPLAN_MODEL_CACHE_DIR": (settings.model_cache_dir, "filled when 'salesplan serve' loads models"),
        "SALESPLAN_FORECAST_DIR": (settings.forecast_dir, "optional: batch forecasts for /forecasts"),
    }
    for key, (path, fix) in dirs.items():
        state = "[green]ok[/]" if Path(path).is_dir() else f"[yellow]not yet[/]: {fix}"
        table.add_row(_SETTINGS[key], str(path), sources[key], state)
    data = settings.planning_data
    if data is None:
        data_state = "[yellow]not set[/]: set SALESPLAN_PLANNING_DATA (the API's planning endpoints need it)"
    elif not Path(data).is_dir():
        data_state = f"[red]missing[/]: 'salesplan simulate --out {data}' or put sellout, crm/, spend there"
    else:
        names = sorted(p.name for p in Path(data).iterdir())
        data_state = (
            f"[green]ok[/]: {', '.join(names[:6])}{' …' if len(names) > 6 else ''}"
            if names
            else f"[yellow]empty[/]: 'salesplan simulate --out {data}' or put sellout, crm/, spend there"
        )
    table.add_row("planning data", str(data or ""), sources["SALESPLAN_PLANNING_DATA"], data_state)
    table.print()
    if store is not None and not store.is_file():
        console.print("no champions: the tracking store does not exist yet", highlight=False)
        return
    console.print(_champions(uri))
