"""Settings from the environment (prefix ``SALESPLAN_``), read once and passed down, never global state.

A *workspace* is one folder holding the application database, the MLflow store, the track record, the
model cache and the data. Its settings file (``salesplan.env``, written by ``salesplan init DIR`` and by
``salesplan demo``) sits in the folder commands are run from, so every command finds the workspace without
exports. Precedence, highest first: the environment, ``.env``, ``salesplan.env``, the defaults below.
Relative paths in either file are read relative to the current folder (the one holding the file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SETTINGS_FILES", "WORKSPACE_FILE", "Settings", "get_settings"]

WORKSPACE_FILE = "salesplan.env"
# pydantic-settings gives later files priority: a hand-written .env beats the generated workspace file
SETTINGS_FILES = (WORKSPACE_FILE, ".env")


class Settings(BaseSettings):
    """Process-wide settings. Every field can be set as ``SALESPLAN_<FIELD>`` (e.g. ``SALESPLAN_DATA_DIR``)."""

    model_config = SettingsConfigDict(env_prefix="SALESPLAN_", env_file=SETTINGS_FILES, extra="ignore")

    data_dir: Path = Field(
        default=Path("../shared/data"), description="Folder holding the real public data sets (read-only)."
    )
    database_url: str = Field(
        default="sqlite:///salesplan.db", description="Application database (proposals, API keys, audit)."
    )
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking store (runs and the model registry). MLFLOW_TRACKING_URI, when set, "
        "wins; with neither, the embedded SQLite store ./mlruns.db.",
    )
    artifact_root: Path = Field(
        default=Path("mlartifacts"),
        description="Where new experiments of a local (file or SQLite) tracking store keep their artifacts.",
    )
    engine: Literal["local", "dask"] = Field(default="local", description="Engine for per-series work.")
    seed: int = Field(default=42, description="Default seed of the simulator and of stochastic models.")
    currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of money amounts (won value, deal amounts, spend): the planner page "
        "shows them in it.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read from the environment, cached; call ``get_settings.cache_clear()`` in tests."""
    return Settings()
