"""Request and response bodies of the target-proposal endpoints, and the mapping from stored proposals.

A stored proposal's ``parameters`` (``serving.db.proposal_parameters``) hold the request, the engine's facts
and a summary computed once at creation (it needs the models) and read back unchanged, so GET never re-runs
the planner. The create body *is* the planning layer's ``ProposalRequest`` (plus a note): one definition of
every parameter's domain for the API, the CLI and the web page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from salesplan.planning.proposals import Amounts, ProposalRequest
from salesplan.serving.db.proposal_parameters import ProposalParameters
from salesplan.serving.db.records import AuditRecord, ProposalHeader, StoredProposal
from salesplan.serving.proposal_tables import weekly_frame
from salesplan.serving.routers.common import ModelInfo, StrictInteger

if TYPE_CHECKING:
    from salesplan.serving.services import Services

Status = Literal["draft", "approved", "rejected", "superseded"]
Version = Annotated[
    int, Field(strict=True, ge=1, le=2**31 - 1, description="The version you read"), StrictInteger
]
UNIT_ID = Field(min_length=1, max_length=200)


class ProposalRowOut(BaseModel):
    level: str = Field(examples=["region"])
    unit_id: str = Field(examples=["North"])
    name: str | None = Field(
        default=None, examples=["Ana Silva"], description="The unit's name where the data have one (reps)"
    )
    parent_id: str | None = Field(default=None, examples=["total"])
    target: float = Field(examples=[152000.0])
    forecast_q50: float | None = Field(default=None, examples=[140000.0])
    p_hit: float | None = Field(default=None, examples=[0.6], description="P(actual ≥ target) when proposed")
    last_period_actual: float | None = Field(default=None, examples=[131000.0])
    phasing: dict[str, float] = Field(
        default_factory=dict, examples=[{"2027-01": 50000.0, "2027-02": 49000.0, "2027-03": 53000.0}]
    )
    weekly: dict[str, float] | None = Field(
        default=None,
        examples=[{"2027-01-04": 11800.0, "2027-01-11": 11650.0}],
        description="Targets per week (keyed by its first day) where the data are weekly; they sum to the "
        "quarter and to the parent's weeks",
    )
    overridden: bool = False


class CompanyTarget(BaseModel):
    unit_id: str = Field(examples=["total"])
    mode: str = Field(examples=["probability"])
    target: float = Field(examples=[610000.0])
    p_hit: float | None = Field(examples=[0.6], description="null after an override it cannot be priced for")
    forecast_q50: float = Field(examples=[590000.0])
    last_period_actual: float | None = None


class CurvePoint(BaseModel):
    p_hit: float = Field(examples=[0.6])
    target: float = Field(examples=[610000.0])


class ProposalHeaderOut(BaseModel):
    id: str = Field(examples=["0b6f7c1e-2f55-4a8e-9d0c-1d2e3f4a5b6c"])
    quarter: str = Field(examples=["2027Q1"])
    method: str = Field(examples=["blended"])
    status: Status
    version: int = Field(examples=[1], description="Send it back with PATCH/approve/reject (optimistic lock)")
    author: str = Field(examples=["north-planning"])
    created_at: datetime
    updated_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    note: str | None = None
    scope: str = Field(
        examples=["sellout:region,store"],
        description="What it plans besides the quarter: one proposal per quarter and scope is approved",
    )
    superseded_by: str | None = Field(
        default=None, description="The proposal whose approval replaced this one (status superseded)"
    )
    parameters: dict[str, Any] = Field(description="What the planner asked for")
    plan: dict[str, Any] = Field(default_factory=dict, description="Settings and facts the engine used")
    input_models: dict[str, Any] = Field(description="Model versions the numbers came from")
    model: ModelInfo | None = Field(default=None, description="The main model behind the numbers")


class ProposalOut(ProposalHeaderOut):
    measure: str | None = Field(default=None, examples=["units"], description="units or won_value")
    months: list[str] = Field(default_factory=list, examples=[["2027-01", "2027-02", "2027-03"]])
    weeks: list[str] = Field(
        default_factory=list, examples=[["2026-12-28", "2027-01-04"]], description="Weekly phasing's weeks"
    )
    company: CompanyTarget | None = None
    curve: list[CurvePoint] = Field(default_factory=list, description="Top target for each P(hit)")
    fairness: dict[str, Any] = Field(default_factory=dict, description="Spread of target vs potential")
    rows: list[ProposalRowOut]


class ProposalList(BaseModel):
    items: list[ProposalHeaderOut]
    total: int = Field(examples=[12])
    limit: int = Field(examples=[50])
    offset: int = Field(examples=[0])


class ProposalIn(ProposalRequest):
    """A proposal request and an optional note stored with the draft."""

    note: str | None = Field(default=None, max_length=2000)

    def request(self) -> ProposalRequest:
        return ProposalRequest(**self.model_dump(exclude={"note"}))


class PatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"version": 1, "overrides": {"North": 220.0}}]}
    )

    version: Version
    overrides: Amounts = Field(min_length=1, description="unit_id → new target")


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 1}]})

    version: Version


class ApproveIn(VersionIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"version": 2, "reason": "in line with the board's growth plan"}]},
    )

    reason: str | None = Field(
        default=None, max_length=2000, description="Why it is approved; kept in the approval history"
    )


class RejectIn(VersionIn):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"version": 1, "reason": "too aggressive in South"}]}
    )

    reason: str | None = Field(default=None, max_length=2000)


class HistoryEntry(BaseModel):
    """One step of a proposal's life, from the audit log."""

    at: datetime
    action: str = Field(
        examples=["proposal.approve"],
        description="proposal.create, .replace_rows (an edit), .approve, .reject or .supersede",
    )
    actor: str = Field(examples=["north-planning"], description="Who: the API key's name, or the CLI user")
    actor_key_id: str | None = Field(default=None, description="The API key that acted (none from the CLI)")
    from_version: int | None = None
    to_version: int | None = None
    reason: str | None = None
    superseded_by: str | None = Field(default=None, description="On supersede: the newer approved proposal")
    supersedes: list[str] = Field(default_factory=list, description="On approve: what it replaced")
    detail: dict[str, Any] = Field(default_factory=dict, description="Everything recorded")


class ProposalHistory(BaseModel):
    proposal: ProposalHeaderOut
    entries: list[HistoryEntry]


def history_entry(a: AuditRecord) -> HistoryEntry:
    d = a.detail
    return HistoryEntry(
        at=a.at,
        action=a.action,
        actor=a.actor,
        actor_key_id=a.actor_key_id,
        from_version=d.get("from_version") if isinstance(d.get("from_version"), int) else None,
        to_version=d.get("to_version") if isinstance(d.get("to_version"), int) else None,
        reason=d.get("reason") if isinstance(d.get("reason"), str) else None,
        superseded_by=d.get("superseded_by") if isinstance(d.get("superseded_by"), str) else None,
        supersedes=[str(x) for x in d.get("supersedes") or []],
        detail=d,
    )


def _model(input_models: dict[str, Any]) -> ModelInfo | None:
    for name, info in input_models.items():
        if isinstance(info, dict) and info.get("version") is not None and info.get("run_id"):
            return ModelInfo(name=name, version=str(info["version"]), run_id=str(info["run_id"]))
    return None


def header_out(h: ProposalHeader) -> ProposalHeaderOut:
    params = ProposalParameters.from_json(h.parameters, h.id)
    return ProposalHeaderOut(
        id=h.id,
        quarter=h.quarter,
        method=h.method,
        status=h.status,
        version=h.version,
        author=h.author,
        created_at=h.created_at,
        updated_at=h.updated_at,
        approved_by=h.approved_by,
        approved_at=h.approved_at,
        note=h.note,
        scope=h.scope,
        superseded_by=h.superseded_by,
        parameters=params.to_json()["request"],
        plan=dict(params.plan),
        input_models=h.input_models,
        model=_model(h.input_models),
    )


def unit_names(services: Services) -> dict[str, str]:
    """Rep id → name from the planning data's CRM (empty when it has none or no planning data is loaded):
    the page shows "Ana Silva (R012)" for a unit ``rep=R012`` instead of the bare id."""
    data = services.planning
    reps = data.crm.reps if data is not None and data.crm is not None else None
    if reps is None or "name" not in reps.columns:
        return {}
    return dict(zip(reps["rep_id"].astype(str), reps["name"].astype(str), strict=True))


def _name(unit_id: str, names: Mapping[str, str]) -> str | None:
    last = unit_id.rsplit("/", 1)[-1]
    key, _, value = last.partition("=")
    return names.get(value) if key == "rep" else None


def proposal_out(p: StoredProposal, names: Mapping[str, str] | None = None) -> ProposalOut:
    """The stored proposal as the API returns it; ``names`` (see :func:`unit_names`) name the rep units."""
    summary: dict[str, Any] = dict(ProposalParameters.from_json(p.parameters, p.id).summary)
    company = dict(summary.get("company") or {})
    root = next((r for r in p.rows if r.parent_id is None), None)
    if company and root is not None and root.unit_id == company.get("unit_id"):
        # a planner may have overridden the top unit since: the stored row is the truth
        company.update(target=float(root.target), p_hit=root.p_hit)
    wf = weekly_frame(p)
    weeks = [] if wf is None else [c for c in wf.columns if c != "unit_id"]
    weekly = {} if wf is None else {str(u): dict(zip(weeks, vals, strict=True))
                                    for u, vals in zip(wf["unit_id"], wf[weeks].to_numpy(float).tolist(), strict=True)}  # fmt: skip
    return ProposalOut(
        **header_out(p.header).model_dump(),
        measure=summary.get("measure"),
        months=list(summary.get("months") or []),
        weeks=weeks,
        company=CompanyTarget(**company) if company else None,
        curve=[CurvePoint(**c) for c in summary.get("curve") or []],
        fairness=dict(summary.get("fairness") or {}),
        rows=[
            ProposalRowOut(
                level=r.level,
                unit_id=r.unit_id,
                name=_name(r.unit_id, names or {}),
                parent_id=r.parent_id,
                target=float(r.target),
                forecast_q50=None if r.forecast_q50 is None else float(r.forecast_q50),
                p_hit=r.p_hit,
                last_period_actual=None if r.last_period_actual is None else float(r.last_period_actual),
                phasing=dict(r.phasing),
                weekly=weekly.get(r.unit_id),
                overridden=r.overridden,
            )
            for r in p.rows
        ],
    )
