"""Alerts of quarters in progress (critical first) with their evidence and suggested action; acknowledge,
resolve or re-open one (who and which key is stored and audited); read and set the rules; evaluate a
quarter now."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from salesplan.planning.proposals import QUARTER_PATTERN
from salesplan.serving.auth import require
from salesplan.serving.db.alerts import AlertRecord
from salesplan.serving.db.records import ApiKeyRecord
from salesplan.serving.routers.common import AUTH_ERRORS, errors
from salesplan.serving.routers.proposals import actor
from salesplan.serving.routers.tracking import Domain, TrackingDep

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

AlertId = Annotated[str, Path(min_length=1, max_length=36)]


class AlertOut(BaseModel):
    id: str
    quarter: str
    domain: Literal["sellout", "bookings"] | str = Field(description="The kind of proposal it watches")
    rule: str
    level: str
    unit_id: str
    severity: Literal["warning", "critical"] | str
    message: str
    action: str = Field(description="What the product suggests doing about it")
    evidence: dict[str, Any]
    status: Literal["open", "acknowledged", "resolved"] | str
    created_at: datetime
    updated_at: datetime
    updated_by: str


class AlertList(BaseModel):
    items: list[AlertOut]


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class RulesModel(BaseModel):
    """``null`` switches a threshold rule off."""

    model_config = ConfigDict(extra="forbid")
    p_hit_below: float | None = Field(default=None, ge=0, le=1)
    pace_behind: float | None = Field(default=None, ge=0, le=1)
    spend_over_cap: bool | None = None
    spend_forecast_over_cap: bool | None = None
    pipeline_coverage_below: float | None = Field(default=None, ge=0, le=100)
    min_elapsed: int | None = Field(default=None, ge=0, le=52)


def _out(a: AlertRecord) -> AlertOut:
    return AlertOut(**{k: getattr(a, k) for k in AlertOut.model_fields})


@router.get("", responses=errors(400, *AUTH_ERRORS), summary="Alerts, critical first")
def list_alerts(
    tracking: TrackingDep,
    _: Annotated[ApiKeyRecord, require("tracking:read")],
    quarter: Annotated[str | None, Query(pattern=QUARTER_PATTERN)] = None,
    status: Annotated[Literal["open", "acknowledged", "resolved"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    domain: Annotated[Literal["sellout", "bookings"] | None, Query(description="Kind of proposal")] = None,
) -> AlertList:
    return AlertList(items=[_out(a) for a in tracking.alerts(quarter, status, limit, domain)])


@router.get("/rules", responses=errors(*AUTH_ERRORS), summary="The alert rules in force")
def get_rules(tracking: TrackingDep, _: Annotated[ApiKeyRecord, require("tracking:read")]) -> dict[str, Any]:
    return tracking.rules().to_dict()


@router.patch("/rules", responses=errors(400, 413, *AUTH_ERRORS), summary="Change some alert rules")
def set_rules(
    body: RulesModel, tracking: TrackingDep, key: Annotated[ApiKeyRecord, require("alerts:write")]
) -> dict[str, Any]:
    return tracking.set_rules(body.model_dump(exclude_unset=True), actor(key)).to_dict()


@router.post(":evaluate", responses=errors(400, 404, *AUTH_ERRORS), summary="Evaluate a quarter's alerts now")
async def evaluate(
    tracking: TrackingDep,
    _: Annotated[ApiKeyRecord, require("alerts:write")],
    quarter: Annotated[str, Query(pattern=QUARTER_PATTERN)],
    as_of: Annotated[date | None, Query()] = None,
    domain: Domain = None,
) -> AlertList:
    _rep, stored = await run_in_threadpool(tracking.evaluate, quarter, as_of, domain)
    return AlertList(items=[_out(a) for a in stored])


def _set(tracking: Any, alert_id: str, status: str, key: ApiKeyRecord, body: StatusIn | None) -> AlertOut:
    return _out(tracking.set_alert_status(alert_id, status, actor(key), body.note if body else None))


@router.post(
    "/{alert_id}:acknowledge", responses=errors(400, 404, 413, *AUTH_ERRORS), summary="Acknowledge an alert"
)
def acknowledge(
    alert_id: AlertId, tracking: TrackingDep, key: Annotated[ApiKeyRecord, require("alerts:write")],
    body: StatusIn | None = None,
) -> AlertOut:  # fmt: skip
    return _set(tracking, alert_id, "acknowledged", key, body)


@router.post("/{alert_id}:resolve", responses=errors(400, 404, 413, *AUTH_ERRORS), summary="Resolve an alert")
def resolve(
    alert_id: AlertId, tracking: TrackingDep, key: Annotated[ApiKeyRecord, require("alerts:write")],
    body: StatusIn | None = None,
) -> AlertOut:  # fmt: skip
    return _set(tracking, alert_id, "resolved", key, body)


@router.post("/{alert_id}:reopen", responses=errors(400, 404, 413, *AUTH_ERRORS), summary="Re-open an alert")
def reopen(
    alert_id: AlertId, tracking: TrackingDep, key: Annotated[ApiKeyRecord, require("alerts:write")],
    body: StatusIn | None = None,
) -> AlertOut:  # fmt: skip
    return _set(tracking, alert_id, "open", key, body)
