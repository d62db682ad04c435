"""``salesplan init DIR`` and ``salesplan status``: one workspace folder holding the application database,
the MLflow store (tracking URI and artifact root), the track record, the model cache, batch forecasts and
the planning data, found by every command through the settings file ``salesplan.env`` in the current
folder (``salesplan.config``: the environment and ``.env`` still override it).

``init`` and ``demo`` both write ``DIR/salesplan.env`` (paths relative to ``DIR``: ``cd DIR`` and every
command uses it) and, when the current folder has no ``salesplan.env`` yet, one here pointing at ``DIR`` (so
commands run from here use it too). An existing settings file is never overwritten: the user may have edited
it, and silently re-pointing a team's commands at another database is worse than one printed line."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from salesplan.cli._common import clean_errors, console
from salesplan.cli.app import app
from salesplan.config import WORKSPACE_FILE

__all__ = [
    "WORKSPACE_LAYOUT",
    "WorkspaceFiles",
    "install_workspace",
    "workspace_env",
    "workspace_values",
]

# setting -> what it holds in the workspace (a sub-path, or a SQLite file for the two URLs)
WORKSPACE_LAYOUT: dict[str, str] = {
    "SALESPLAN_DATABASE_URL": "salesplan.db",
    "SALESPLAN_TRACKING_URI": "mlruns.db",
    "SALESPLAN_ARTIFACT_ROOT": "mlartifacts",
    "SALESPLAN_TRACK_RECORD_DIR": "track-record",
    "SALESPLAN_MODEL_CACHE_DIR": "model-cache",
    "SALESPLAN_FORECAST_DIR": "forecasts",
    "SALESPLAN_PLANNING_DATA": "data",
}
_URLS = ("SALESPLAN_DATABASE_URL", "SALESPLAN_TRACKING_URI")


def workspace_values(root: Path, relative_to: Path | None = None) -> dict[str, str]:
    """Every workspace setting for the workspace at ``root``: paths relative to ``relative_to`` (the folder
    the settings file is read from) so the workspace can move, absolute when ``relative_to`` is None."""
    values: dict[str, str] = {}
    for key, sub in WORKSPACE_LAYOUT.items():
        target = root.resolve() / sub
        path = Path(os.path.relpath(target, relative_to.resolve())) if relative_to is not None else target
        values[key] = f"sqlite:///{path.as_posix()}" if key in _URLS else path.as_posix()
    return values


@contextmanager
def workspace_env(values: Mapping[str, str]) -> Iterator[None]:
    """Run a block with ``values`` in the environment (restored after), for the steps of ``init`` that go
    through the same code as the standalone commands (``salesplan db upgrade``)."""
    from salesplan.config import get_settings

    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


def _render(values: Mapping[str, str], what: str, skipped: Mapping[str, str]) -> str:
    lines = [
        f"# salesplan workspace settings ({what}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC).",
        "# Every salesplan command run from this folder reads them; relative paths are relative to this",
        "# folder. The environment (SALESPLAN_*, and MLFLOW_TRACKING_URI for the tracking store) and a",
        "# .env file here override them. 'salesplan status' shows what is in use.",
    ]
    lines += [f"{k}={v}" for k, v in values.items()]
    lines += [f"# {k}: not written, the environment sets it ({why})" for k, why in skipped.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class WorkspaceFiles:
    """What ``install_workspace`` wrote: the workspace's own file, and the one in the current folder
    (None with the reason when it was left alone)."""

    own: Path
    own_written: bool
    here: Path | None
    here_note: str

    def report(self) -> None:
        verb = "wrote" if self.own_written else "kept the existing"
        console.print(f"{verb} {self.own} (run commands from {self.own.parent})", soft_wrap=True)
        console.print(self.here_note, soft_wrap=True, highlight=False)


def install_workspace(root: Path, what: str, *, env_overrides: bool = True) -> WorkspaceFiles:
    """Write ``root/salesplan.env`` (unless it exists) and, if the current folder has none, a
    ``./salesplan.env`` pointing at ``root``. With ``env_overrides`` a setting already in the environment
    is left out (commented), since the environment wins anyway and the file should say where things went."""
    root.mkdir(parents=True, exist_ok=True)
    here = Path.cwd().resolve()
    skipped: dict[str, str] = {}
    if env_overrides:
        for key in WORKSPACE_LAYOUT:
            if os.environ.get(key):
                skipped[key] = f"{key} is set"
        if os.environ.get("MLFLOW_TRACKING_URI"):
            skipped["SALESPLAN_TRACKING_URI"] = "MLFLOW_TRACKING_URI is set"

    def values(rel: Path) -> dict[str, str]:
        return {k: v for k, v in workspace_values(root, rel).items() if k not in skipped}

    own = root.resolve() / WORKSPACE_FILE
    own_written = not own.exists()
    if own_written:
        own.write_text(_render(values(root), what, skipped), encoding="utf-8")
    local = here / WORKSPACE_FILE
    if root.resolve() == here:
        return WorkspaceFiles(own, own_written, own, "this folder is the workspace")
    if local.exists():
        note = (
            f"left {local} as it is (it may point at another workspace); to use this one from here, "
            f"replace it with a copy of {own} with the paths prefixed by {os.path.relpath(root, here)}/, "
            f"or run commands from {root}"
        )
        return WorkspaceFiles(own, own_written, None, note)
    local.write_text(_render(values(here), what + f", pointing at {root}", skipped), encoding="utf-8")
    note = (
        f"wrote {local}: commands run from {here} now use the workspace {root.resolve()} without any export "
        "(delete the file to stop)"
    )
    return WorkspaceFiles(own, own_written, local, note)


@app.command("init")
@clean_errors
def init_cmd(
    directory: Annotated[Path, typer.Argument(help="The workspace folder (created if missing).")] = Path("."),
) -> None:
    """Create a workspace: its settings file, its database (as 'salesplan db upgrade' does) and folders."""
    from salesplan.cli.db import upgrade_cmd

    root = directory.resolve()
    files = install_workspace(root, "written by 'salesplan init'")
    absolute = workspace_values(root)
    for key in ("SALESPLAN_ARTIFACT_ROOT", "SALESPLAN_TRACK_RECORD_DIR", "SALESPLAN_PLANNING_DATA"):
        if not os.environ.get(key):
            Path(absolute[key]).mkdir(parents=True, exist_ok=True)
    database = {} if os.environ.get("SALESPLAN_DATABASE_URL") else {k: absolute[k] for k in _URLS[:1]}
    with workspace_env(database):
        upgrade_cmd()  # the one code path that creates or migrates a database
    files.report()
    console.print(
        f"next: put your data in {root / 'data'} (sellout.parquet, crm/, spend.parquet; or 'salesplan "
        f"simulate --out {root / 'data'}'), train ('salesplan train forecast ...'), then 'salesplan status'",
        soft_wrap=True,
        highlight=False,
    )


@app.command("status")
@clean_errors
def status_cmd() -> None:
    """Which workspace, database (and its schema revision), tracking store and champions are in use, and
    what is missing with the command that fixes it."""
    from salesplan.cli._workspace_status import print_status

    print_status()
