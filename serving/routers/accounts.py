"""Key accounts and their joint business plans (``serving.jbp_service``): the accounts with their segment
and latest plan, a plan drafted for an account (baseline, gap to peers, levers, joint target with P(hit),
investments per side, P&L), its versions, agreeing it (someone other than its author, naming the account's
signatory; the agreed plan before it is superseded), the quarterly review against actuals, and exports
(CSV, Excel, a self-contained HTML one-pager)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from salesplan.errors import NotFoundError
from salesplan.io import jsonable, records
from salesplan.planning.jbp import LeverSettings
from salesplan.serving.auth import require
from salesplan.serving.db.jbps import JbpRecord
from salesplan.serving.db.records import Actor, ApiKeyRecord
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, errors
from salesplan.serving.routers.proposal_models import HistoryEntry, history_entry
from salesplan.serving.services import Services

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])
AccountId = Annotated[str, Path(min_length=1, max_length=64, description="Account id, e.g. A01")]
JbpId = Annotated[str, Path(min_length=8, max_length=64, description="Plan id (or its first 8+ characters)")]
Share = Annotated[float, Field(ge=0, le=1)]
Rate = Annotated[float, Field(ge=0, le=5)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class AccountOut(BaseModel):
    account_id: str
    name: str
    segment: str
    outlets: int
    latest_version: int | None
    latest_status: str | None


class AccountsOut(BaseModel):
    accounts: list[AccountOut]


class LeversIn(BaseModel):
    """The lever settings (``planning.jbp.LeverSettings``: its docstring says what each means)."""

    model_config = ConfigDict(extra="forbid")

    promo_weeks: int = Field(default=2, ge=0, le=13)
    promo_depth: float = Field(default=0.2, ge=0, lt=0.95)
    promo_supplier_share: Share = 1.0
    price_change: float = Field(default=0.0, ge=-0.5, le=0.5, description="Shelf price, e.g. -0.03")
    price_supplier_share: Share = 0.5
    featured_products: int = Field(default=2, ge=0, le=100)
    feature_lift: Rate = 0.08
    feature_fee_rate: Rate = 0.02
    new_outlets: int = Field(default=0, ge=0, le=1000)
    outlet_ramp: list[Annotated[float, Field(ge=0, le=2)]] = Field(
        default=[0.5, 0.8, 1.0], min_length=1, max_length=8
    )
    listing_fee_rate: Rate = 0.1
    fitout_rate: Rate = 0.25
    service_from: float = Field(default=0.95, gt=0, le=1)
    service_to: float = Field(default=0.95, gt=0, le=1)
    service_cost_rate: Rate = 0.2
    lever_cv: Rate = 0.3


class JbpIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"levers": {"new_outlets": 1}, "confidence": 0.5}]}
    )

    levers: LeversIn = Field(default_factory=LeversIn)
    target: float | None = Field(default=None, gt=0, le=1e15, description="Joint target over the plan")
    confidence: float = Field(default=0.5, ge=0.05, le=0.95, description="P(hit) the target is set at")
    note: str | None = Field(default=None, max_length=2000)


class AgreeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signatory: str = Field(min_length=1, max_length=200, description="Who agreed on the account's side")


class JbpHeader(BaseModel):
    id: str
    account_id: str
    version: int
    status: str
    quarters: str
    target: float
    p_hit: float
    author: str
    created_at: datetime
    agreed_by: str | None
    account_signatory: str | None
    agreed_at: datetime | None
    note: str | None
    superseded_by: str | None

    @classmethod
    def of(cls, r: JbpRecord) -> JbpHeader:
        return cls(**{**r.header(), "target": float(r.target)})


class JbpOut(BaseModel):
    header: JbpHeader
    plan: dict[str, Any] = Field(
        description="Baseline, gaps, levers, investments, P&L, assumptions, settings"
    )


class JbpVersions(BaseModel):
    current: JbpOut | None = Field(description="The agreed plan, else the newest draft; null when none")
    versions: list[JbpHeader] = Field(description="Every version, newest first")


class JbpHistory(BaseModel):
    header: JbpHeader
    entries: list[HistoryEntry] = Field(description="jbp.create, jbp.agree, jbp.supersede: oldest first")


class ReviewOut(BaseModel):
    header: JbpHeader
    quarters: list[dict[str, Any]]


def _mine(services: Services, account_id: str, jbp_id: str) -> JbpRecord:
    rec = services.jbp.get(jbp_id)
    if rec.account_id != account_id:
        raise NotFoundError(f"plan {jbp_id} is not a plan of account {account_id} (it is {rec.account_id}'s)")
    return rec


@router.get("", responses=errors(*AUTH_ERRORS), summary="Key accounts with segment, outlets and latest plan")
def list_accounts(services: ServicesDep, _: Annotated[ApiKeyRecord, require("accounts:read")]) -> AccountsOut:
    return AccountsOut(accounts=[AccountOut(**r) for r in records(services.jbp.accounts())])


@router.post("/{account_id}/jbp", status_code=201, responses=errors(400, 404, 413, *AUTH_ERRORS),
             summary="Draft the account's next joint business plan version")  # fmt: skip
def create_jbp(
    account_id: AccountId,
    body: JbpIn,
    services: ServicesDep,
    key: Annotated[ApiKeyRecord, require("accounts:write")],
) -> JbpOut:
    settings = LeverSettings.from_dict(body.levers.model_dump())
    rec, _ = services.jbp.create(account_id, settings, author=Actor(key.name, key.id), target=body.target,
                                 confidence=body.confidence, note=body.note)  # fmt: skip
    return JbpOut(header=JbpHeader.of(rec), plan=rec.plan)


@router.get(
    "/{account_id}/jbp", responses=errors(404, *AUTH_ERRORS), summary="The account's plan and versions"
)
def get_jbp(account_id: AccountId, services: ServicesDep,
            _: Annotated[ApiKeyRecord, require("accounts:read")]) -> JbpVersions:  # fmt: skip
    current, versions = services.jbp.latest(account_id)
    return JbpVersions(
        current=JbpOut(header=JbpHeader.of(current), plan=current.plan) if current else None,
        versions=[JbpHeader.of(v) for v in versions],
    )


# before GET /{jbp_id}: that route would take 'ID:export' as an id
@router.get(
    "/{account_id}/jbp/{jbp_id}:export",
    responses={**errors(404, *AUTH_ERRORS),
               200: {"content": {"text/csv": {}, XLSX: {}, "text/html": {}}, "description": "The plan as a file"}},
    response_class=Response, summary="A plan as CSV (quarters), Excel (every table) or an HTML one-pager",
)  # fmt: skip
def export_jbp(
    account_id: AccountId, jbp_id: JbpId, services: ServicesDep,
    _: Annotated[ApiKeyRecord, require("accounts:read")],
    format: Annotated[Literal["csv", "xlsx", "html"], Query()] = "csv",
) -> Response:  # fmt: skip
    rec = _mine(services, account_id, jbp_id)
    out = services.jbp.export(rec.id, format)
    return Response(out.content, media_type=out.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{out.filename}"'})  # fmt: skip


@router.get("/{account_id}/jbp/{jbp_id}", responses=errors(404, *AUTH_ERRORS), summary="One plan version")
def get_version(account_id: AccountId, jbp_id: JbpId, services: ServicesDep,
                _: Annotated[ApiKeyRecord, require("accounts:read")]) -> JbpOut:  # fmt: skip
    rec = _mine(services, account_id, jbp_id)
    return JbpOut(header=JbpHeader.of(rec), plan=rec.plan)


@router.post(
    "/{account_id}/jbp/{jbp_id}:agree",
    responses=errors(400, 404, 409, 413, *AUTH_ERRORS),
    summary="Agree a draft (someone other than its author; names the account's signatory)",
)
def agree_jbp(
    account_id: AccountId, jbp_id: JbpId, body: AgreeIn, services: ServicesDep,
    key: Annotated[ApiKeyRecord, require("accounts:agree")],
) -> JbpHeader:  # fmt: skip
    rec = _mine(services, account_id, jbp_id)
    return JbpHeader.of(services.jbp.agree(rec.id, by=Actor(key.name, key.id), signatory=body.signatory))


@router.get("/{account_id}/jbp/{jbp_id}/review", responses=errors(404, *AUTH_ERRORS),
            summary="Plan vs actual per plan quarter: actual to date, landing, P(hit), status")  # fmt: skip
def review_jbp(account_id: AccountId, jbp_id: JbpId, services: ServicesDep,
               _: Annotated[ApiKeyRecord, require("accounts:read")]) -> ReviewOut:  # fmt: skip
    rec = _mine(services, account_id, jbp_id)
    return ReviewOut(header=JbpHeader.of(rec), quarters=jsonable(records(services.jbp.review(rec.id))))


@router.get("/{account_id}/jbp/{jbp_id}/history", responses=errors(404, *AUTH_ERRORS),
            summary="Who drafted, agreed or superseded a plan version, when, with which key")  # fmt: skip
def jbp_history(account_id: AccountId, jbp_id: JbpId, services: ServicesDep,
                _: Annotated[ApiKeyRecord, require("accounts:read")]) -> JbpHistory:  # fmt: skip
    rec = _mine(services, account_id, jbp_id)
    return JbpHistory(
        header=JbpHeader.of(rec), entries=[history_entry(e) for e in services.jbp.history(rec.id)]
    )
