"""Marketing budget allocation over the response curves fitted (once, at load) to the planning data's
spend history: the split of a total that maximises expected outcome under caps, floors and ROI bounds."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from salesplan.errors import ConfigError
from salesplan.io import records
from salesplan.planning.budget import optimise_budget, response
from salesplan.planning.types import BudgetPlan, ResponseCurves
from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, StrictInteger, errors

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"], dependencies=[require("budgets:run")])

MAX_AMOUNT = 1e12
Amount = Annotated[float, Field(strict=True, ge=0, le=MAX_AMOUNT)]
Channel = Annotated[str, Field(min_length=1, max_length=200)]
CURVE_POINTS = 25


class AllocateIn(BaseModel):
    """Amounts (total, caps, floors) are over the whole plan of ``periods`` periods, in spend currency."""

    model_config = ConfigDict(
        extra="forbid",  # a misspelt "cap" must not be silently ignored
        json_schema_extra={
            "examples": [
                {"total": 1_300_000, "caps": {"display": 300_000}, "floors": {"search": 100_000},
                 "max_change": 0.5, "periods": 13}
            ]
        },
    )  # fmt: skip

    total: float = Field(strict=True, gt=0, le=MAX_AMOUNT, description="Budget to split over the plan")
    caps: dict[Channel, Amount] = Field(
        default_factory=dict, max_length=1000, description="channel → most it may get"
    )
    floors: dict[Channel, Amount] = Field(
        default_factory=dict, max_length=1000, description="channel → least it must get"
    )
    max_change: float | None = Field(
        default=None,
        strict=True,
        gt=0,
        le=10,
        description="± fraction each channel × region may move from last spend",
    )
    roi_floor: float | None = Field(
        default=None, strict=True, ge=0, le=1000, description="incremental outcome / spend ≥"
    )
    periods: Annotated[int, StrictInteger] = Field(
        default=13, strict=True, ge=1, le=104, description="Periods (weeks of the spend data) of the plan"
    )
    objective: Literal["outcome", "profit"] = "outcome"
    margin: float = Field(
        default=1.0, strict=True, gt=0, le=1e6, description="Profit per unit of outcome (objective=profit)"
    )


class AllocationRow(BaseModel):
    channel: str = Field(examples=["search"])
    region: str = Field(examples=["North"])
    spend: float = Field(description="Per period", examples=[14500.0])
    spend_total: float = Field(description="Over the plan", examples=[188500.0])
    last_spend: float | None = Field(default=None, description="Mean spend per period recently")
    proportional_spend: float = Field(description="Per period if split like last spend")
    outcome: float = Field(description="Expected outcome over the plan")
    marginal_roi: float | None = Field(default=None, description="d outcome / d spend at the plan")
    roi: float | None = Field(default=None, description="Incremental outcome per unit of spend")
    at_bound: bool


class CurveOut(BaseModel):
    channel: str
    region: str
    model: str = Field(examples=["hill"])
    points: list[tuple[float, float]] = Field(
        description="(spend per period, expected outcome per period)",
        examples=[[[0.0, 9000.0], [5000.0, 21000.0]]],
    )


class AllocateOut(BaseModel):
    total: float
    periods: int
    objective: str
    rows: list[AllocationRow]
    expected_outcome: float
    outcome_range: tuple[float, float] = Field(description="q10, q90 from the curve-fit uncertainty")
    proportional_outcome: float = Field(description="Outcome of splitting like last spend")
    uplift: float | None = Field(description="expected / proportional − 1")
    converged: bool
    curves: list[CurveOut]


def _curves(curves: ResponseCurves, plan: BudgetPlan) -> list[CurveOut]:
    prm = curves.params.reset_index(drop=True)
    alloc = plan.allocation.reset_index(drop=True)
    last = np.nan_to_num(prm["last_spend"].to_numpy(float), nan=0.0) if "last_spend" in prm else 0.0
    top = np.maximum(np.maximum(2 * last, 1.5 * alloc["spend"].to_numpy(float)), 1.0)
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)[:, None] * top[None, :]
    out = response(curves, grid)
    return [
        CurveOut(
            channel=str(prm.loc[i, "channel"]),
            region=str(prm.loc[i, "region"]),
            model=str(prm.loc[i, "model"]),
            points=[(float(s), float(o)) for s, o in zip(grid[:, i], out[:, i], strict=True)],
        )
        for i in range(len(prm))
    ]


@router.post("/allocate", responses=errors(400, 413, *AUTH_ERRORS), summary="Optimal split of a budget")
async def allocate(body: AllocateIn, services: ServicesDep) -> AllocateOut:
    data = services.planning_data()
    data.need("spend")
    curves = data.curves
    assert curves is not None
    channels = set(curves.params["channel"])
    unknown = sorted((set(body.caps) | set(body.floors)) - channels)
    if unknown:
        raise ConfigError(
            f"caps/floors name unknown channel(s) {unknown}; the spend data has {sorted(channels)}"
        )
    p = body.periods
    bounds = {
        ch: (
            body.floors[ch] / p if ch in body.floors else None,
            body.caps[ch] / p if ch in body.caps else None,
        )
        for ch in sorted(set(body.caps) | set(body.floors))
    }
    plan = await run_in_threadpool(
        lambda: optimise_budget(
            curves,
            body.total,
            objective=body.objective,
            margin=body.margin,
            periods=p,
            channel_bounds=bounds or None,
            max_change=body.max_change,
            roi_floor=body.roi_floor,
        )
    )
    alloc = plan.allocation.assign(spend_total=plan.allocation["spend"] * p)
    return AllocateOut(
        total=body.total,
        periods=p,
        objective=plan.objective,
        rows=[AllocationRow(**r) for r in records(alloc, list(AllocationRow.model_fields))],
        expected_outcome=plan.expected_outcome,
        outcome_range=plan.outcome_range,
        proportional_outcome=plan.proportional_outcome,
        uplift=None if not np.isfinite(plan.uplift) else plan.uplift,
        converged=plan.converged,
        curves=_curves(curves, plan),
    )
