"""Plan vs actual of a quarter in progress: per unit of the approved sell-out or bookings proposal the
actual to date, the plan to date (phased), pace, the landing P10/P50/P90 (sell-out: conditioned on what has
sold; bookings: won + open pipeline + run-rate of new deals) and the updated P(hit); the spend against budgets and caps; the cumulative series for the fan chart; and any of these
tables as CSV or Excel. Read only: alerts are evaluated by ``POST /api/v1/alerts:evaluate`` and after each
actuals load."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from salesplan.errors import SalesplanError
from salesplan.io import records
from salesplan.planning.proposals import QUARTER_PATTERN
from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, errors
from salesplan.serving.tracking_bookings import CRMState
from salesplan.serving.tracking_service import (
    XLSX,
    TrackingReport,
    TrackingService,
    alerts_frame,
    marginal_returns,
)

router = APIRouter(prefix="/api/v1/tracking", tags=["tracking"], dependencies=[require("tracking:read")])

Quarter = Annotated[str, Query(pattern=QUARTER_PATTERN, examples=["2027Q1"])]
Domain = Annotated[
    Literal["sellout", "bookings"] | None,
    Query(description="Which approved proposal (default: sell-out if the quarter has one, else bookings)"),
]


def tracking_service(services: ServicesDep) -> TrackingService:
    """The tracking workflow on the running service's database, champion batch and spend curves."""

    def marginal() -> pd.DataFrame | None:
        try:
            return marginal_returns(services.planning_data().curves)
        except SalesplanError:  # no planning data or no spend in it: alerts suggest a cut instead
            return None

    def crm() -> CRMState:
        data = services.planning_data()
        # the quarter shock of the latest track record (`salesplan plan backtest`); none: deals independent
        return CRMState(data.need("crm"), data.scores, services.track_record.shock())

    return TrackingService(services.session, lambda: services.models.batch().forecast, marginal, crm)


TrackingDep = Annotated[TrackingService, Depends(tracking_service)]


class TrackingOut(BaseModel):
    quarter: str = Field(examples=["2027Q1"])
    as_of: date
    proposal_id: str
    domain: str = Field(examples=["sellout"], description="sellout or bookings")
    measure: str = Field(examples=["units"])
    units: list[dict[str, Any]] = Field(description="One row per unit (plan, actual, pace, landing, P(hit))")
    series: list[dict[str, Any]] = Field(description="Cumulative plan, actual and landing fan per period")
    spend: list[dict[str, Any]] | None = Field(description="Spend vs budget and caps per channel × region")
    alerts: list[dict[str, Any]]
    notes: list[str]
    deals: list[dict[str, Any]] | None = Field(
        default=None, description="Bookings: the open deals that can still book, per unit they count in"
    )


def _out(rep: TrackingReport) -> TrackingOut:
    return TrackingOut(
        quarter=rep.quarter,
        as_of=rep.as_of.date(),
        proposal_id=rep.proposal_id,
        domain=rep.domain,
        measure=rep.measure,
        units=records(rep.units),
        series=records(rep.series.assign(ds=rep.series["ds"].dt.strftime("%Y-%m-%d"))),
        spend=None if rep.spend is None else records(rep.spend),
        alerts=records(alerts_frame(rep.alerts)),
        notes=rep.notes,
        deals=None
        if rep.deals is None
        else records(rep.deals.assign(expected_close_date=rep.deals["expected_close_date"].astype(str))),
    )


@router.get("", responses=errors(400, 404, *AUTH_ERRORS), summary="Plan vs actual vs landing of a quarter")
async def get_tracking(
    tracking: TrackingDep,
    quarter: Quarter,
    level: Annotated[str | None, Query(max_length=64, description="Only this hierarchy level")] = None,
    as_of: Annotated[date | None, Query(description="Actuals through this day (default: the latest)")] = None,
    domain: Domain = None,
) -> TrackingOut:
    rep = await run_in_threadpool(tracking.track, quarter, as_of, level, domain)
    return _out(rep)


@router.get(
    ":export",
    responses={
        **errors(400, 404, *AUTH_ERRORS),
        200: {"content": {"text/csv": {}, XLSX: {}}, "description": "The table as a file"},
    },
    response_class=Response,
    summary="A tracking table (units, series, spend, alerts, bookings deals) as CSV or Excel",
)
async def export_tracking(
    tracking: TrackingDep,
    quarter: Quarter,
    table: Annotated[Literal["units", "series", "spend", "alerts", "deals"], Query()] = "units",
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
    level: Annotated[str | None, Query(max_length=64)] = None,
    as_of: Annotated[date | None, Query()] = None,
    domain: Domain = None,
) -> Response:
    rep = await run_in_threadpool(tracking.track, quarter, as_of, level, domain)
    out = tracking.export(rep, table, format)
    return Response(
        out.content,
        media_type=out.media_type,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
    )


__all__ = ["Domain", "TrackingDep", "router", "tracking_service"]
