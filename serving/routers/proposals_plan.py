"""Building target proposals: create a draft, re-balance it after overrides (PATCH, optimistic lock on
``version``), and the slider's curve and implied probability. Every handler is a thin adapter over
``services.proposals`` (:class:`~salesplan.serving.proposal_service.ProposalService`), the same object the
CLI uses, so a proposal behaves the same whichever door it came through.

A sell-out plan reads the forecast champion's batch outputs; a bookings plan (levels region/team/rep) reads
the planning data's CRM and the open deals scored by the deal champion. The versions used are stored with
the proposal and returned as ``model``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from salesplan.planning.proposals import QUARTER_PATTERN, Domain, resolve_domain
from salesplan.serving.auth import require
from salesplan.serving.db.records import ApiKeyRecord
from salesplan.serving.deps import ServicesDep
from salesplan.serving.proposal_service import ModelStamps
from salesplan.serving.routers.common import AUTH_ERRORS, ModelInfo, errors
from salesplan.serving.routers.proposal_models import (
    PatchIn,
    ProposalIn,
    ProposalOut,
    proposal_out,
    unit_names,
)
from salesplan.serving.routers.proposals import ProposalId, actor

router = APIRouter(prefix="/api/v1/targets", tags=["proposals"])


class CurveOut(BaseModel):
    quarter: str
    by: list[str]
    unit_id: str = Field(examples=["total"])
    measure: str = Field(examples=["units"])
    rows: list[dict[str, float]] = Field(
        examples=[[{"p_hit": 0.5, "target": 600.0}, {"p_hit": 0.6, "target": 580.0}]]
    )
    model: ModelInfo | None = None


class ImpliedOut(BaseModel):
    quarter: str
    unit_id: str
    value: float
    p_hit: float = Field(examples=[0.62], description="P(the unit's quarter total ≥ value)")
    model: ModelInfo | None = None


def _model(models: ModelStamps) -> ModelInfo | None:
    for name, v in models.items():
        if v.get("version") is not None and v.get("run_id"):
            return ModelInfo(name=name, version=str(v["version"]), run_id=str(v["run_id"]))
    return None


@router.post(
    "/proposals",
    status_code=201,
    responses=errors(400, 404, 413, *AUTH_ERRORS),
    summary="Build and store a draft target proposal",
)
async def create_proposal(
    body: ProposalIn, services: ServicesDep, key: Annotated[ApiKeyRecord, require("proposals:write")]
) -> ProposalOut:
    created = await run_in_threadpool(
        services.proposals.create, body.request(), author=actor(key), note=body.note
    )
    return proposal_out(created.proposal, unit_names(services))


@router.patch(
    "/proposals/{proposal_id}",
    responses=errors(400, 404, 409, 413, *AUTH_ERRORS),
    summary="Override unit targets; the rest re-balances (send the version you read)",
)
async def patch_proposal(
    proposal_id: ProposalId,
    body: PatchIn,
    services: ServicesDep,
    key: Annotated[ApiKeyRecord, require("proposals:write")],
) -> ProposalOut:
    stored = await run_in_threadpool(
        services.proposals.override,
        proposal_id,
        body.overrides,
        actor=actor(key),
        expected_version=body.version,
    )
    return proposal_out(stored, unit_names(services))


def _by(by: list[str]) -> list[str]:
    return [b.strip() for part in by for b in part.split(",") if b.strip()]


Quarter = Annotated[str, Query(pattern=QUARTER_PATTERN, examples=["2027Q1"])]
ByQuery = Annotated[
    list[str],
    Query(
        min_length=1, max_length=6, description="Levels, e.g. by=region,store", examples=[["region,store"]]
    ),
]


@router.get(
    "/curve", responses=errors(404, *AUTH_ERRORS), summary="Target for each P(hit) of one unit (slider)"
)
async def curve(
    services: ServicesDep,
    _: Annotated[ApiKeyRecord, require("proposals:read")],
    quarter: Quarter,
    by: ByQuery,
    unit_id: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Default: the top unit")
    ] = None,
    domain: Annotated[Domain, Query()] = "auto",
) -> CurveOut:
    levels = _by(by)
    dom = resolve_domain(levels, domain)
    unit, table, sourced = await run_in_threadpool(services.proposals.curve, quarter, levels, dom, unit_id)
    return CurveOut(
        quarter=quarter,
        by=levels,
        unit_id=unit,
        measure=sourced.plan.measure,
        rows=[
            {"p_hit": float(p), "target": float(t)}
            for p, t in zip(table["p_hit"], table["target"], strict=True)
        ],
        model=_model(sourced.models),
    )


@router.get(
    "/implied-probability", responses=errors(404, *AUTH_ERRORS), summary="P(hit) of a target typed for a unit"
)
async def implied_probability(
    services: ServicesDep,
    _: Annotated[ApiKeyRecord, require("proposals:read")],
    quarter: Quarter,
    by: ByQuery,
    unit_id: Annotated[str, Query(min_length=1, max_length=200, examples=["total"])],
    value: Annotated[float, Query(ge=0, le=1e15, description="The target")],
    domain: Annotated[Domain, Query()] = "auto",
) -> ImpliedOut:
    levels = _by(by)
    dom = resolve_domain(levels, domain)
    p_hit, sourced = await run_in_threadpool(
        services.proposals.implied_probability, quarter, levels, dom, unit_id, value
    )
    return ImpliedOut(
        quarter=quarter, unit_id=unit_id, value=value, p_hit=p_hit, model=_model(sourced.models)
    )
