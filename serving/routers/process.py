"""Sales process and productivity of the planning data's activities: the full funnel through Operate, time
allocation, inefficiencies, the standard cadence, scorecards (JSON, CSV/Excel, a per-rep page) and the
capacity plan of a target. Every answer comes from the data set's ``ProcessWorkbench`` (computed once per
load with the defaults), the same object the CLI and the demo use."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from salesplan.errors import ConfigError
from salesplan.io import jsonable, records
from salesplan.planning.process import (
    ALLOCATION_CUTS,
    METRICS,
    ProcessWorkbench,
    scorecard_page,
    scorecards_workbook,
    time_allocation,
)
from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, errors

router = APIRouter(prefix="/api/v1/process", tags=["process"], dependencies=[require("process:read")])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Rows = list[dict[str, Any]]
SCORECARD_COLUMNS = [
    "rep_id", "name", "role", "location_group", "team", "region", "active_days", "activities", "hours",
    "selling_hours", *METRICS, "bookings_gap", "bench_bookings", "action_1", "action_2",
]  # fmt: skip


class Table(BaseModel):
    """Rows of an analysis (columns as in the planning function's frame)."""

    model_config = ConfigDict(extra="allow")
    rows: Rows = Field(default_factory=list)


class FunnelOut(BaseModel):
    as_of: str = Field(examples=["2026-11-29"])
    level: float = Field(examples=[0.95])
    rows: Rows = Field(description="One row per step: stage → next_stage, entered, converted, lost, open, "
                       "rate with ci_low/ci_high, cumulative with cum_low/cum_high, median_days")  # fmt: skip


class AllocationOut(BaseModel):
    by: list[str]
    weeks: float
    won_deals: int
    rows: Rows
    hours_by_outcome: Rows


class InefficienciesOut(BaseModel):
    evaluated: int = Field(description="Patterns with enough deals on both sides to judge")
    findings: Rows = Field(description="Flagged patterns, most hours saved first, each with its evidence")
    stage_benchmark: Rows


class CadenceOut(BaseModel):
    standard: Rows
    effect: dict[str, Any]
    reps: Rows
    top_reps: list[str]


class ScorecardsOut(BaseModel):
    start: str
    end: str
    total: int
    rows: Rows
    benchmarks: Rows


class ScorecardOut(BaseModel):
    rep_id: str
    card: dict[str, Any]
    actions: Rows


class CapacityOut(BaseModel):
    target: float
    quarter: str
    stages: Rows
    hours_needed: float | None
    stage_hours: Rows
    staffing: dict[str, Any]
    hours_per_rep_month: float
    per_ramped_rep_month: float
    current_reps: int


def _bench(services: ServicesDep) -> ProcessWorkbench:
    return services.planning_data().need_process()


@router.get("/funnel", responses=errors(*AUTH_ERRORS), summary="Full funnel through Deliver and Operate")
async def get_funnel(services: ServicesDep) -> FunnelOut:
    wb = _bench(services)
    f = await run_in_threadpool(lambda: wb.funnel)
    return FunnelOut(as_of=f.as_of.date().isoformat(), level=f.level, rows=records(f.table))


@router.get(
    "/time-allocation", responses=errors(*AUTH_ERRORS), summary="Hours by role × stage × location group"
)
async def get_allocation(
    services: ServicesDep,
    by: Annotated[
        str,
        Query(
            pattern=r"^[a-z_]+(,[a-z_]+){0,3}$",
            description=f"Comma-separated cuts of {list(ALLOCATION_CUTS)}",
        ),
    ] = "role,stage,location_group",
) -> AllocationOut:
    wb = _bench(services)
    cuts = tuple(by.split(","))
    bad = [c for c in cuts if c not in ALLOCATION_CUTS]
    if bad:
        raise ConfigError(f"by={by!r}: {bad} not allowed. Fix: use {list(ALLOCATION_CUTS)}")

    def run() -> tuple[Any, Any]:
        alloc = wb.allocation if cuts == wb.allocation.by else time_allocation(wb.data, cuts)
        return alloc, wb.hours_vs_outcome

    alloc, hvo = await run_in_threadpool(run)
    return AllocationOut(by=list(alloc.by), weeks=alloc.weeks, won_deals=alloc.won_deals,
                         rows=records(alloc.table), hours_by_outcome=records(hvo))  # fmt: skip


@router.get(
    "/inefficiencies", responses=errors(*AUTH_ERRORS), summary="Low-yield activity patterns, hours to save"
)
async def get_inefficiencies(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Most findings returned")] = 10,
) -> InefficienciesOut:
    wb = _bench(services)
    ineff = await run_in_threadpool(lambda: wb.inefficiencies)
    return InefficienciesOut(
        evaluated=int(ineff.patterns["evaluated"].sum()) if len(ineff.patterns) else 0,
        findings=records(ineff.findings.head(limit)),
        stage_benchmark=records(ineff.benchmark),
    )


@router.get("/cadence", responses=errors(*AUTH_ERRORS), summary="Standard cadence, adherence and its effect")
async def get_cadence(services: ServicesDep) -> CadenceOut:
    wb = _bench(services)
    cad = await run_in_threadpool(lambda: wb.cadence)
    if cad is None:
        raise ConfigError(
            "too few reps with closed deals to find a best-performing quartile (4+ reps with 10+ closed deals)"
        )
    reps = cad.reps.drop(columns=["owner"])
    return CadenceOut(standard=records(cad.standard), effect=jsonable(cad.effect), reps=records(reps),
                      top_reps=list(cad.top_reps))  # fmt: skip


SortKey = Literal[
    "bookings_gap",
    "bookings",
    "ramp_adjusted_attainment",
    "activities_per_day",
    "hours_per_won_deal",
    "rep_id",
]


@router.get("/scorecards", responses=errors(*AUTH_ERRORS), summary="Productivity scorecards per person")
async def get_scorecards(
    services: ServicesDep,
    role: Annotated[str | None, Query(max_length=60, description="Only this role (e.g. AE)")] = None,
    sort: Annotated[
        SortKey, Query(description="Sort key (largest first, rep_id ascending)")
    ] = "bookings_gap",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ScorecardsOut:
    wb = _bench(services)
    sc = await run_in_threadpool(lambda: wb.scorecards)
    t = sc.table if role is None else sc.table[sc.table["role"] == role]
    t = t.sort_values(sort, ascending=sort == "rep_id", na_position="last", kind="stable")
    return ScorecardsOut(
        start=sc.period[0].date().isoformat(), end=sc.period[1].date().isoformat(), total=len(t),
        rows=records(t.iloc[offset : offset + limit], SCORECARD_COLUMNS), benchmarks=records(sc.benchmarks),
    )  # fmt: skip


# before /scorecards/{rep_id}: that route would take 'scorecards:export' apart otherwise
@router.get(
    "/scorecards:export",
    responses={
        **errors(*AUTH_ERRORS),
        200: {"content": {"text/csv": {}, XLSX: {}}, "description": "The file"},
    },
    response_class=Response,
    summary="Every scorecard as CSV or Excel (scorecards, role benchmarks, actions)",
)
async def export_scorecards(
    services: ServicesDep, format: Annotated[Literal["csv", "xlsx"], Query()] = "csv"
) -> Response:
    wb = _bench(services)
    sc = await run_in_threadpool(lambda: wb.scorecards)
    if format == "xlsx":
        content = await run_in_threadpool(scorecards_workbook, sc)
        return Response(
            content,
            media_type=XLSX,
            headers={"Content-Disposition": 'attachment; filename="scorecards.xlsx"'},
        )
    csv = sc.table.to_csv(index=False)
    return Response(
        csv, media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="scorecards.csv"'}
    )


RepId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[^/]+$")]


@router.get("/scorecards/{rep_id}", responses=errors(404, *AUTH_ERRORS), summary="One person's scorecard")
async def get_scorecard(rep_id: RepId, services: ServicesDep) -> ScorecardOut:
    wb = _bench(services)
    sc = await run_in_threadpool(lambda: wb.scorecards)
    card = sc.card(rep_id)
    row: pd.Series = card["row"]
    return ScorecardOut(rep_id=rep_id, card=jsonable(row.to_dict()), actions=records(card["actions"]))


@router.get(
    "/scorecards/{rep_id}/page",
    responses={**errors(404, *AUTH_ERRORS), 200: {"content": {"text/html": {}}, "description": "HTML page"}},
    response_class=HTMLResponse,
    summary="One person's scorecard as a self-contained HTML page",
)
async def get_scorecard_page(rep_id: RepId, services: ServicesDep) -> HTMLResponse:
    wb = _bench(services)
    sc = await run_in_threadpool(lambda: wb.scorecards)
    html = await run_in_threadpool(scorecard_page, sc, rep_id)
    return HTMLResponse(html)


@router.get("/capacity", responses=errors(*AUTH_ERRORS), summary="Reps needed for a target, rates and time")
async def get_capacity(
    services: ServicesDep,
    target: Annotated[float, Query(gt=0, le=1e15, description="Won value to sign in the quarter")],
    quarter: Annotated[str, Query(pattern=r"^\d{4}Q[1-4]$", description="e.g. 2027Q1")],
    months: Annotated[int, Query(ge=1, le=12, description="Months the reps have to deliver it")] = 3,
    attrition: Annotated[float, Query(ge=0, lt=1, description="Monthly attrition rate")] = 0.0,
    hours_per_rep_month: Annotated[
        float | None, Query(gt=0, le=744, description="Selling hours one rep has a month (default: measured)")
    ] = None,
) -> CapacityOut:
    wb = _bench(services)
    cp = await run_in_threadpool(
        lambda: wb.capacity(
            target, quarter, months=months, attrition=attrition, hours_per_rep_month=hours_per_rep_month
        )
    )
    return CapacityOut(
        target=cp.target, quarter=cp.quarter, stages=records(cp.plan.stages), hours_needed=cp.plan.hours,
        stage_hours=records(cp.stage_hours), staffing=jsonable(cp.staffing.__dict__),
        hours_per_rep_month=cp.hours_per_rep_month, per_ramped_rep_month=cp.per_ramped_rep_month,
        current_reps=cp.current_reps,
    )  # fmt: skip
