"""Settings of the API process (env ``SALESPLAN_*``), extending the core settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from salesplan.config import Settings


class ServingSettings(Settings):
    """Everything the service reads from its environment; one instance per app, injected, never global."""

    model_config = SettingsConfigDict(env_prefix="SALESPLAN_", env_file=".env", extra="ignore")

    model_cache_dir: Path = Field(
        default=Path(".salesplan/model-cache"),
        description="Last loaded champions, so the service can start while the registry is unreachable.",
    )
    forecast_dir: Path = Field(
        default=Path(".salesplan/forecasts"), description="Batch forecasts (Parquet) served by /forecasts."
    )
    planning_data: Path | None = Field(
        default=None,
        description="Folder of planning data (sell-out, crm/, spend, future) as `salesplan simulate` writes it; "
        "needed by pipeline, funnel, budgets, what-if and proposals.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Allowed browser origins; none by default."
    )
    max_body_bytes: int = Field(default=8_000_000, description="Requests with larger bodies get 413.")
    max_batch: int = Field(default=10_000, description="Most deals one batch-score call may carry.")
    registry_timeout_s: float = Field(
        default=5.0, description="Give up on the model registry after this long."
    )
    load_models: bool = Field(
        default=True, description="Load champion models at start (off for DB-only tests)."
    )
