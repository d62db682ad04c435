"""Product and market selection: market × product candidates ranked by the margin the champion's batch
forecast expects next quarter (or year), and the featured portfolio picked exactly under slot, margin and
diversification rules, with the reason for each pick (``serving.selection_service``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from salesplan.io import jsonable, records
from salesplan.planning.selection import PortfolioRules, SelectionRequest
from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, ModelInfo, errors
from salesplan.serving.selection_service import load_products, margins_input, run_selection
from salesplan.serving.services import Services

router = APIRouter(prefix="/api/v1/selection", tags=["selection"], dependencies=[require("selection:read")])
Rows = list[dict[str, Any]]
RANK_COLUMNS = [
    "market", "product", "category", "unique_id", "units", "units_p10", "units_p90", "unit_margin",
    "contribution", "contribution_p10", "contribution_p90", "last_year", "growth", "trend", "trend_strength",
    "risk", "cold_start", "declining", "rank",
]  # fmt: skip
Column = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class SelectionOut(BaseModel):
    level: str = Field(examples=["store/product"])
    freq: str = Field(examples=["W"], description="Frequency of the forecast periods summed")
    span: list[str] = Field(
        examples=[["2026-11-30", "2027-02-22"]], description="First and last period summed"
    )
    coverage: float = Field(description="Share of the asked quarter(s)/year the forecast horizon holds")
    margin_source: str = Field(examples=["products table (price − unit cost)"])
    candidates: int
    ranking: Rows = Field(description="Best expected contribution first (at most `top` rows)")
    picks: Rows = Field(description="The featured portfolio, each with its `reason`")
    left_out: Rows = Field(description="Good candidates not picked, each with the rule that kept it out")
    expected_margin: float
    solver: str
    missing_margin: list[str] = Field(description="Candidates without a margin input (not ranked)")
    model: ModelInfo


def _select(
    services: Services, req: SelectionRequest, rules: PortfolioRules, rate: float | None, top: int
) -> SelectionOut:
    batch = services.models.batch()
    folder = services.settings.planning_data
    margins, source = margins_input(load_products(folder), margin_rate=rate, future=batch.future)
    sel = run_selection(
        batch.forecast, batch.history, batch.info.get("hierarchy"), req, rules, margins, source
    )
    extra = [c for c in ("score", "reason") if c in sel.portfolio.picks.columns]
    return SelectionOut(
        level=sel.ranking.level,
        freq=sel.ranking.freq,
        span=list(sel.ranking.span),
        coverage=sel.ranking.coverage,
        margin_source=sel.margin_source,
        candidates=len(sel.ranking.table),
        ranking=records(sel.ranking.table.head(top), RANK_COLUMNS),
        picks=records(sel.portfolio.picks, [*RANK_COLUMNS, *extra]),
        left_out=records(sel.portfolio.left_out, [*RANK_COLUMNS, "reason"]),
        expected_margin=float(jsonable(sel.portfolio.expected_margin) or 0.0),
        solver=sel.portfolio.status,
        missing_margin=list(sel.ranking.missing_margin),
        model=ModelInfo.of(batch.ref),
    )


@router.get(
    "", responses=errors(404, *AUTH_ERRORS), summary="Rank market × product and pick the featured portfolio"
)
async def selection(
    services: ServicesDep,
    market: Column = "store",
    product: Column = "product",
    category: Annotated[str | None, Query(max_length=64, description="Default: the product's parent")] = None,
    horizon: Annotated[Literal["Q", "Y"], Query(description="Next quarter (13 weeks) or next year")] = "Q",
    periods: Annotated[int, Query(ge=1, le=4, description="How many quarters (years)")] = 1,
    slots: Annotated[int, Query(ge=1, le=1000, description="Featured slots per market")] = 3,
    max_per_category: Annotated[int | None, Query(ge=1, le=1000, description="Per market")] = None,
    total_slots: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    max_category_share: Annotated[
        float | None, Query(gt=0, le=1, description="Of the whole portfolio")
    ] = None,
    min_margin: Annotated[
        float, Query(ge=-1e12, le=1e12, description="Expected margin a pick must reach")
    ] = 0.0,
    exclude_declining: bool = False,
    risk_aversion: Annotated[
        float, Query(ge=0, le=1, description="0: by expected margin, 1: by its P10")
    ] = 0.0,
    margin_rate: Annotated[
        float | None, Query(gt=-1, lt=1, description="Margin rate instead of the products table")
    ] = None,
    top: Annotated[int, Query(ge=1, le=5000, description="Ranking rows returned")] = 100,
) -> SelectionOut:
    req = SelectionRequest(
        market=market, product=product, category=category, horizon=horizon, periods=periods
    )
    rules = PortfolioRules(
        slots_per_market=slots,
        max_per_category=max_per_category,
        total_slots=total_slots,
        max_category_share=max_category_share,
        min_margin=min_margin,
        exclude_declining=exclude_declining,
        risk_aversion=risk_aversion,
    )
    return await run_in_threadpool(_select, services, req, rules, margin_rate, top)
