"""Weighted pipeline of a quarter from the open deals of the planning data, scored once with the deal
champion: expected won value, its P10–P90 range and the Commit / Best case / Pipeline split."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from salesplan.io import records
from salesplan.planning.funnel import data_end
from salesplan.planning.pipeline import next_quarter, weighted_pipeline
from salesplan.planning.pipeline_shock import dependence_note
from salesplan.planning.proposals import QUARTER_HORIZON, QUARTER_PATTERN, check_quarter_range
from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, ModelInfo, errors

router = APIRouter(prefix="/api/v1", tags=["pipeline"], dependencies=[require("pipeline:read")])
PipelineCut = Literal["total", "region", "team", "rep", "product"]
ROW_COLUMNS = [
    "n_deals", "pipeline_value", "expected_value", "q10", "q50", "q90", "commit_value",
    "best_case_value", "pipeline_rest_value", "commit_expected", "best_case_expected", "method",
]  # fmt: skip


class PipelineRow(BaseModel):
    """One group; its key column is named after the cut (``region``, ``team``, ``rep_id``, ``product``),
    or ``group`` = "total"."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"region": "North", "n_deals": 41, "pipeline_value": 812000.0, "expected_value": 301500.0,
                 "q10": 220000.0, "q50": 300000.0, "q90": 385000.0, "commit_value": 250000.0,
                 "best_case_value": 310000.0, "pipeline_rest_value": 252000.0, "commit_expected": 190000.0,
                 "best_case_expected": 80000.0, "method": "monte_carlo"}
            ]
        },
    )  # fmt: skip

    n_deals: int
    pipeline_value: float = Field(description="Σ amount of the open deals expected to close in the quarter")
    expected_value: float = Field(description="Σ p_win × amount")
    q10: float | None = None
    q50: float | None = None
    q90: float | None = None
    commit_value: float | None = Field(default=None, description="Σ amount of deals with p_win ≥ 0.7")
    best_case_value: float | None = Field(
        default=None, description="Σ amount of deals with p_win ≥ 0.4 (the commit deals included: ≥ commit)"
    )
    pipeline_rest_value: float | None = None
    commit_expected: float | None = None
    best_case_expected: float | None = None
    method: str | None = Field(
        default=None, examples=["monte_carlo"], description="How q10–q90 were computed"
    )


class PipelineOut(BaseModel):
    quarter: str = Field(examples=["2027Q1"])
    by: PipelineCut = Field(examples=["region"])
    as_of: str = Field(examples=["2026-11-23"], description="Date of the CRM data the deals were scored at")
    rows: list[PipelineRow]
    model: ModelInfo
    dependence: str = Field(
        description="How the bands treat deals of one quarter: a shared quarter shock fitted on past quarters "
        "(by `salesplan plan backtest`), or independent deals when none is stored (narrower bands)"
    )


@router.get(
    "/pipeline", responses=errors(*AUTH_ERRORS), summary="Weighted pipeline of a quarter, in total or by cut"
)
async def pipeline(
    services: ServicesDep,
    quarter: Annotated[
        str | None,
        Query(
            pattern=QUARTER_PATTERN,
            examples=["2027Q1"],
            description="Default: the quarter after the data; at most "
            f"{QUARTER_HORIZON} quarters before or after the CRM's data",
        ),
    ] = None,
    by: Annotated[PipelineCut, Query(description="Split of the rows")] = "total",
) -> PipelineOut:
    data = services.planning_data()
    crm, scores = data.need("crm"), data.need("deal_scores")
    assert data.scores_ref is not None
    as_of = data_end(crm)
    q = quarter or next_quarter(as_of)
    check_quarter_range(q, *services.plan_cache.span(crm), "the planning data's CRM")
    cut = None if by == "total" else by
    shock = services.track_record.shock()  # fitted by `salesplan plan backtest`; none: independent deals
    table = await run_in_threadpool(weighted_pipeline, scores, q, by=cut, shock=shock)
    keys = ["group"] if cut is None else ["rep_id" if cut == "rep" else cut]
    if cut == "rep" and "name" in crm.reps.columns:  # the rep's name beside the id, for the page
        names = crm.reps.drop_duplicates("rep_id").set_index("rep_id")["name"].astype(str)
        table = table.assign(rep_name=table["rep_id"].astype(str).map(names))
        keys.append("rep_name")
    rows: list[dict[str, Any]] = records(table, [*keys, *ROW_COLUMNS])
    return PipelineOut(
        quarter=q,
        by=by,
        as_of=as_of.date().isoformat(),
        rows=[PipelineRow(**r) for r in rows],
        model=ModelInfo.of(data.scores_ref),
        dependence=dependence_note(shock),
    )
