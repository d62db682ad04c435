"""Funnel conversion Find → Meet → Pitch → Sign of the planning data's CRM, censoring-aware, per cut."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from salesplan.errors import ConfigError
from salesplan.io import records
from salesplan.planning.funnel import FUNNEL_STAGES, Method, funnel
from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, DAY_MAX, DAY_MIN, errors

router = APIRouter(prefix="/api/v1", tags=["funnel"], dependencies=[require("funnel:read")])

FunnelCut = Literal["total", "region", "team", "rep", "product", "lead_source", "cohort"]
COLUMNS = [
    "stage", "next_stage", "entered", "converted", "lost", "open", "resolved", "rate", "ci_low", "ci_high",
    "cumulative", "cum_low", "cum_high",
]  # fmt: skip


class FunnelRow(BaseModel):
    """One transition of one cut value (the cut's column, e.g. ``team``, is included when cut)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"team": "North-1", "stage": "Find", "next_stage": "Meet", "entered": 190, "converted": 142,
                 "lost": 40, "open": 8, "resolved": 182, "rate": 0.77, "ci_low": 0.70, "ci_high": 0.82,
                 "cumulative": 0.77, "cum_low": 0.70, "cum_high": 0.82}
            ]
        },
    )  # fmt: skip

    stage: str
    next_stage: str
    entered: int
    converted: int
    lost: int
    open: int
    resolved: int
    rate: float | None = Field(description="P(move on | left the stage), censoring-aware; null if too few")
    ci_low: float | None = None
    ci_high: float | None = None
    cumulative: float | None = Field(default=None, description="P(reach next_stage | entered Find)")
    cum_low: float | None = None
    cum_high: float | None = None


class FunnelOut(BaseModel):
    stages: list[str] = Field(examples=[list(FUNNEL_STAGES)])
    by: FunnelCut
    as_of: str = Field(examples=["2026-11-23"])
    method: str = Field(examples=["mixture"])
    level: float = Field(examples=[0.95])
    rows: list[FunnelRow]


@router.get("/funnel", responses=errors(*AUTH_ERRORS), summary="Stage conversion rates with intervals")
async def get_funnel(
    services: ServicesDep,
    by: Annotated[FunnelCut, Query(description="Cut of the rows")] = "total",
    created_from: Annotated[
        date | None, Query(ge=DAY_MIN, le=DAY_MAX, description="Only deals created on or after")
    ] = None,
    created_to: Annotated[
        date | None, Query(ge=DAY_MIN, le=DAY_MAX, description="Only deals created on or before")
    ] = None,
    method: Annotated[Method, Query(description="Estimator of the rates")] = "mixture",
    level: Annotated[float, Query(gt=0.5, lt=1.0, description="Interval level")] = 0.95,
) -> FunnelOut:
    data = services.planning_data()
    data.need("crm")
    assert data.paths is not None
    period = None
    if created_from is not None or created_to is not None:
        start, end = created_from or DAY_MIN, created_to or DAY_MAX
        if end < start:
            raise ConfigError(f"created_to {end} is before created_from {start}")
        period = (start.isoformat(), end.isoformat())
    cut = None if by == "total" else by
    result = await run_in_threadpool(funnel, data.paths, by=cut, period=period, method=method, level=level)
    keys = list(result.by)
    return FunnelOut(
        stages=list(FUNNEL_STAGES),
        by=by,
        as_of=result.as_of.date().isoformat(),
        method=method,
        level=level,
        rows=[FunnelRow(**r) for r in records(result.table, [*keys, *COLUMNS])],
    )
