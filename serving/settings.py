"""Settings of the API process (env ``SALESPLAN_*``), extending the core settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from salesplan.config import SETTINGS_FILES, Settings
from salesplan.planning.proposals import DEFAULT_P_HIT_FLOOR


class ServingSettings(Settings):
    """Everything the service reads from its environment; one instance per app, injected, never global."""

    model_config = SettingsConfigDict(env_prefix="SALESPLAN_", env_file=SETTINGS_FILES, extra="ignore")

    model_cache_dir: Path = Field(
        default=Path(".salesplan/model-cache"),
        description="Last loaded champions, so the service can start while the registry is unreachable.",
    )
    forecast_dir: Path = Field(
        default=Path(".salesplan/forecasts"), description="Batch forecasts (Parquet) served by /forecasts."
    )
    track_record_dir: Path = Field(
        default=Path(".salesplan/track-record"),
        description="Where `salesplan plan backtest` stores the latest track record the API and page show.",
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
        default=120.0,
        gt=0,
        description="How long loading one champion (or the batch) from the model registry may take before "
        "the service gives up and serves its cached copy (SALESPLAN_REGISTRY_TIMEOUT_S). A registry that "
        "refuses connections fails at once; this bounds a slow or hung one. Generous by default: a normal "
        "start on a busy machine takes tens of seconds.",
    )
    load_models: bool = Field(
        default=True, description="Load champion models at start (off for DB-only tests)."
    )
    maker_checker: bool = Field(
        default=True,
        description="Four eyes: a proposal is approved by someone other than its author and its editors "
        "(SALESPLAN_MAKER_CHECKER=false lets one person do both, e.g. a team of one).",
    )
    p_hit_floor: float = Field(
        default=DEFAULT_P_HIT_FLOOR,
        ge=0,
        lt=1,
        description="A proposal with a unit whose target's P(hit) is below this is flagged when "
        "built and approved only with the approver's reason, kept in the audit trail.",
    )
    key_revocation_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="A revoked API key stops working in every worker within this many seconds.",
    )
    key_touch_s: float = Field(
        default=60.0, gt=0, description="How often the keys' last use is written (in one batch)."
    )
    auth_failures_per_minute: int = Field(
        default=30,
        ge=1,
        description="Failed authentications a client address may make per minute (per worker) before "
        "its attempts get 429 with Retry-After.",
    )
