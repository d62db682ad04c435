"""The track record of the shipped target method: per level, the share of past targets hit against the
P(hit) they promised (95 % intervals over whole quarters). Computed by ``salesplan plan backtest`` (it
refits a deal scorer per replayed quarter, a batch job); served here and on the planner page."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from salesplan.serving.auth import require
from salesplan.serving.db.records import ApiKeyRecord
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, errors

router = APIRouter(prefix="/api/v1/targets", tags=["proposals"])


class TrackRecordLevel(BaseModel):
    level: str
    units: int = Field(description="Unit-quarters replayed at this level")
    quarters: int
    promised: float = Field(description="Mean P(hit) the targets promised")
    promised_ci95: tuple[float, float]
    hit_rate: float = Field(description="Share of targets hit (actual ≥ target)")
    hit_ci95: tuple[float, float] = Field(description="95 % cluster bootstrap over whole quarters")


class TrackRecordOut(BaseModel):
    domain: Literal["bookings", "sellout"]
    source: str
    computed_at: str
    method: str
    request: dict[str, Any] = Field(description="The proposal request replayed (its quarter aside)")
    quarters: list[str]
    skipped: dict[str, str] = Field(description="Quarters that could not be replayed, and why")
    levels: list[TrackRecordLevel]


@router.get(
    "/track-record",
    responses=errors(404, *AUTH_ERRORS),
    summary="How often targets set by the shipped method were hit, per level, against what they promised",
)
def track_record(
    services: ServicesDep,
    _: Annotated[ApiKeyRecord, require("proposals:read")],
    domain: Annotated[Literal["bookings", "sellout"], Query()] = "bookings",
) -> TrackRecordOut:
    return TrackRecordOut.model_validate(services.track_record.latest(domain))
