"""Settings from the environment (prefix ``SALESPLAN_``), read once and passed down, never global state."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings. Every field can be set as ``SALESPLAN_<FIELD>`` (e.g. ``SALESPLAN_DATA_DIR``)."""

    model_config = SettingsConfigDict(env_prefix="SALESPLAN_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("../shared/data"), description="Folder holding the real public data sets (read-only)."
    )
    database_url: str = Field(
        default="sqlite:///salesplan.db", description="Application database (proposals, API keys, audit)."
    )
    engine: Literal["local", "dask"] = Field(default="local", description="Engine for per-series work.")
    seed: int = Field(default=42, description="Default seed of the simulator and of stochastic models.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read from the environment, cached; call ``get_settings.cache_clear()`` in tests."""
    return Settings()
