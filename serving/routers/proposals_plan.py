"""Building target proposals with the planning engine: create a draft, re-balance it after overrides
(PATCH, optimistic lock on ``version``), and the slider's curve and implied probability.

A sell-out plan reads the forecast champion's batch outputs; a bookings plan (levels region/team/rep) reads
the planning data's CRM and the open deals scored by the deal champion. The versions used are stored with
the proposal and returned as ``model``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from salesplan.errors import ConflictError, NotFoundError
from salesplan.planning.proposals import ProposalRequest, implied_probability_for
from salesplan.planning.rebalance import rebalance_rows
from salesplan.planning.types import RAMP_BY_QUARTER
from salesplan.serving import planner
from salesplan.serving.auth import require
from salesplan.serving.db.records import ApiKeyRecord, NewProposal
from salesplan.serving.db.repository import ProposalRepository
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers._common import AUTH_ERRORS, ModelInfo, errors
from salesplan.serving.routers.proposal_models import ProposalOut, proposal_out
from salesplan.serving.routers.proposals import ProposalId

router = APIRouter(prefix="/api/v1/targets", tags=["proposals"])

QUARTER = Field(pattern=r"^\d{4}Q[1-4]$", examples=["2027Q1"])
Level = Annotated[str, Field(min_length=1, max_length=64)]
Amounts = dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[float, Field(ge=0, le=1e15)]]


class ProposalIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"quarter": "2027Q1", "by": ["region", "store"], "mode": "probability", "probability": 0.6,
                 "method": "blended", "over_assignment": 0.1, "note": "first cut"},
                {"quarter": "2027Q1", "by": ["region", "team", "rep"], "mode": "growth", "growth": 0.08},
            ]
        },
    )  # fmt: skip

    quarter: str = QUARTER
    by: list[Level] = Field(min_length=1, max_length=6, description="Levels under the total, top → bottom")
    domain: planner.Domain = Field(default="auto", description="auto: bookings when by has team or rep")
    mode: Literal["probability", "growth", "value"] = "probability"
    probability: float = Field(default=0.6, gt=0, lt=1, description="P(hit) of the company target")
    growth: float | None = Field(default=None, gt=-1, le=10, description="0.08 = +8 % on last year")
    value: float | None = Field(default=None, ge=0, le=1e15, description="Company target (mode=value)")
    method: Literal["top_down", "bottom_up", "blended"] = "blended"
    over_assignment: float = Field(
        default=0.10, ge=-0.5, le=2, description="Children sum to parent × (1 + this)"
    )
    max_change: float | None = Field(default=None, ge=0, le=10, description="± vs last quarter")
    floors: Amounts = Field(default_factory=dict, max_length=10_000)
    caps: Amounts = Field(default_factory=dict, max_length=10_000)
    ramp: list[Annotated[float, Field(ge=0, le=10)]] = Field(
        default_factory=lambda: list(RAMP_BY_QUARTER), min_length=1, max_length=24
    )
    overrides: Amounts = Field(default_factory=dict, max_length=10_000)
    note: str | None = Field(default=None, max_length=2000)


class PatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"version": 1, "overrides": {"region=North": 220.0}}]}
    )

    version: int = Field(ge=1, le=2**31 - 1, description="The version you read")
    overrides: Amounts = Field(min_length=1, max_length=10_000, description="unit_id → new target")


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


def _model(inputs: planner.Inputs) -> ModelInfo | None:
    for name, v in inputs.input_models.items():
        return ModelInfo(name=name, version=v["version"], run_id=v["run_id"])
    return None


def _create(body: ProposalIn, services: Any, author: str) -> ProposalOut:
    domain = planner.resolve_domain(body.by, body.domain)
    request = ProposalRequest(
        quarter=body.quarter, by=tuple(body.by), mode=body.mode, probability=body.probability,
        growth=body.growth, value=body.value, method=body.method, over_assignment=body.over_assignment,
        max_change=body.max_change, floors=body.floors, caps=body.caps, ramp=tuple(body.ramp),
        overrides=body.overrides,
    )  # fmt: skip
    result, inputs = planner.build(services, request, domain)
    asked = {**body.model_dump(exclude={"note"}), "domain": domain}
    header = NewProposal(
        quarter=request.quarter,
        method=request.method,
        author=author,
        parameters={
            "request": asked,
            "plan": dict(result.proposal.parameters),
            "summary": planner.summary(result),
        },
        input_models=inputs.input_models,
        note=body.note,
    )
    rows = planner.to_rows(result.proposal.rows, result.months)
    with services.session() as session:
        return proposal_out(ProposalRepository(session).create(header, rows))


@router.post(
    "/proposals",
    status_code=201,
    responses=errors(400, 404, 413, *AUTH_ERRORS),
    summary="Build and store a draft target proposal",
)
async def create_proposal(
    body: ProposalIn, services: ServicesDep, key: Annotated[ApiKeyRecord, require("proposals:write")]
) -> ProposalOut:
    return await run_in_threadpool(_create, body, services, key.name)


def _patch(proposal_id: str, body: PatchIn, services: Any, actor: str) -> ProposalOut:
    with services.session() as session:
        stored = ProposalRepository(session).get(proposal_id)
    if stored.status != "draft":
        raise ConflictError(f"proposal {proposal_id} is {stored.status}; only drafts can be re-balanced")
    if stored.version != body.version:
        raise ConflictError(
            f"proposal {proposal_id} is at version {stored.version}, not {body.version}; reload and retry"
        )
    request = dict(stored.parameters.get("request") or {})
    months = list((stored.parameters.get("summary") or {}).get("months") or [])
    if len(months) != 3:
        raise ConflictError(
            f"proposal {proposal_id} was not built by the planner (no months); create a new one"
        )
    known = {r.unit_id for r in stored.rows}
    unknown = sorted(set(body.overrides) - known)
    if unknown:
        raise NotFoundError(
            f"unit(s) {unknown[:10]} are not in proposal {proposal_id}; units are e.g. {sorted(known)[:5]}"
        )
    dist = planner.stored_distribution(services, stored)
    new = rebalance_rows(
        planner.to_frame(stored, months),
        body.overrides,
        over_assignment=float(request.get("over_assignment", 0.0)),
        dist=dist,
    )
    # Read, compute, then write in a second short transaction: the guarded UPDATE in replace_rows is the
    # lock. If anyone changed the proposal since our read, it matches nothing and we answer 409 instead of
    # overwriting their change; no transaction stays open while the rows are re-balanced.
    with services.session() as session:
        updated = ProposalRepository(session).replace_rows(
            proposal_id, planner.to_rows(new, months), expected_version=body.version, actor=actor
        )
    return proposal_out(updated)


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
    return await run_in_threadpool(_patch, proposal_id, body, services, key.name)


def _by(by: list[str]) -> list[str]:
    levels = [b.strip() for part in by for b in part.split(",") if b.strip()]
    return levels


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
    quarter: Annotated[str, Query(pattern=r"^\d{4}Q[1-4]$", examples=["2027Q1"])],
    by: ByQuery,
    unit_id: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Default: the top unit")
    ] = None,
    domain: Annotated[planner.Domain, Query()] = "auto",
) -> CurveOut:
    from salesplan.planning.targets import probability_curve

    levels = _by(by)
    dom = planner.resolve_domain(levels, domain)
    dist, top, inputs = await run_in_threadpool(planner.distribution, services, quarter, levels, dom)
    unit = unit_id or top
    if unit not in dist.unit_ids:
        raise NotFoundError(
            f"unit {unit!r} is not in the {levels} tree of {quarter}; e.g. {list(dist.unit_ids[:5])}"
        )
    table = probability_curve(dist, unit)
    return CurveOut(
        quarter=quarter,
        by=levels,
        unit_id=unit,
        measure="units" if dom == "sellout" else "won_value",
        rows=[
            {"p_hit": float(p), "target": float(t)}
            for p, t in zip(table["p_hit"], table["target"], strict=True)
        ],
        model=_model(inputs),
    )


@router.get(
    "/implied-probability", responses=errors(404, *AUTH_ERRORS), summary="P(hit) of a target typed for a unit"
)
async def implied_probability(
    services: ServicesDep,
    _: Annotated[ApiKeyRecord, require("proposals:read")],
    quarter: Annotated[str, Query(pattern=r"^\d{4}Q[1-4]$", examples=["2027Q1"])],
    by: ByQuery,
    unit_id: Annotated[str, Query(min_length=1, max_length=200, examples=["total"])],
    value: Annotated[float, Query(ge=0, le=1e15, description="The target")],
    domain: Annotated[planner.Domain, Query()] = "auto",
) -> ImpliedOut:
    levels = _by(by)
    dom = planner.resolve_domain(levels, domain)
    dist, _top, inputs = await run_in_threadpool(planner.distribution, services, quarter, levels, dom)
    if unit_id not in dist.unit_ids:
        raise NotFoundError(
            f"unit {unit_id!r} is not in the {levels} tree of {quarter}; e.g. {list(dist.unit_ids[:5])}"
        )
    return ImpliedOut(
        quarter=quarter,
        unit_id=unit_id,
        value=value,
        p_hit=implied_probability_for(dist, unit_id, value),
        model=_model(inputs),
    )
