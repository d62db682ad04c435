"""The promotion calendar: candidate promotions' effects from the champion's what-if (the same
``models.forecast.whatif`` as ``POST /api/v1/forecasts/what-if``, siblings' cannibalisation included), the
post-promotion dip measured on the planning data's sell-out, and the exact plan under a budget and slot
limits (``serving.promotion_service``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from salesplan.errors import ConfigError, NotFoundError
from salesplan.io import find_table, read_table, records
from salesplan.models.registry import FORECAST_MODEL
from salesplan.planning.promotions import PromotionRules
from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.promotion_service import MAX_CANDIDATES, run_promotion_plan
from salesplan.serving.routers.common import AUTH_ERRORS, ModelInfo, day_field, errors
from salesplan.serving.selection_service import load_products
from salesplan.serving.services import Services

router = APIRouter(
    prefix="/api/v1/promotions", tags=["promotions"], dependencies=[require("promotions:plan")]
)
CANDIDATES_TABLE = "promotion_candidates"
Name = Annotated[str, Field(min_length=1, max_length=200)]
PLAN_COLUMNS = [
    "candidate_id", "market", "product", "category", "start", "weeks", "depth", "cost", "baseline_units",
    "promo_units", "siblings_diff", "dip_units", "incremental_units", "margin_own", "margin_siblings",
    "margin_dip", "incremental_margin", "chosen", "reason",
]  # fmt: skip


class CandidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: Name
    market: Name = Field(description="Value of the market column (e.g. a region or a store)")
    product: Name
    start: date = day_field("First week (any day of it)")
    weeks: int = Field(ge=1, le=13)
    depth: float = Field(ge=0, lt=0.95, description="Price cut, e.g. 0.2")
    cost: float = Field(ge=0, le=1e12, description="Spend the promotion takes from the budget")
    ids: list[Name] | None = Field(default=None, max_length=500, description="Bottom series (default: found)")


class PlanIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"budget": 2000, "max_per_market_week": 3}]}
    )

    budget: float = Field(ge=0, le=1e12, description="Most spend over the chosen promotions")
    candidates: list[CandidateIn] | None = Field(
        default=None,
        max_length=MAX_CANDIDATES,
        description="Default: the planning data's promotion_candidates table",
    )
    max_per_market_week: int | None = Field(default=None, ge=1, le=1000)
    max_per_category_week: int | None = Field(default=1, ge=1, le=1000)
    gap_weeks: int = Field(default=2, ge=0, le=13)
    market_col: Name = Field(default="region", description="Column the candidates' market is a value of")
    product_col: Name = "product"


class PlanOut(BaseModel):
    candidates: list[dict[str, Any]]
    chosen: int
    spend: float
    incremental_margin: float
    dip: list[float] = Field(
        description="Share of baseline lost in the 1st and 2nd week after (0: not in data)"
    )
    solver: str
    model: ModelInfo


def _candidates(body: PlanIn, services: Services) -> pd.DataFrame:
    if body.candidates is not None:
        rows = [{**c.model_dump(), "ids": ";".join(c.ids) if c.ids else ""} for c in body.candidates]
        return pd.DataFrame(rows)
    folder = services.settings.planning_data
    path = find_table(folder, CANDIDATES_TABLE) if folder is not None else None
    if path is None:
        raise NotFoundError(
            f"no candidates given and no {CANDIDATES_TABLE}.csv in the planning data; send `candidates`"
        )
    t = read_table(path)
    if "market" not in t.columns and body.market_col in t.columns:
        t = t.rename(columns={body.market_col: "market"})
    return t


def _plan(body: PlanIn, services: Services) -> PlanOut:
    products = load_products(services.settings.planning_data)
    if products is None:
        raise ConfigError("the planning data has no products table (products.csv: product, price, unit_cost)")
    batch = services.models.batch()
    model = services.models.forecaster()
    if batch.future is None:
        raise NotFoundError(
            f"the batch of {FORECAST_MODEL} v{batch.ref.version} has no future regressors to run what-ifs on"
        )
    data = services.planning_data()
    spec = data.spec
    promo_col = next((c for c in (spec.promo_cols if spec else ()) if "depth" not in c), "promo")
    rules = PromotionRules(
        budget=body.budget,
        max_per_market_week=body.max_per_market_week,
        max_per_category_week=body.max_per_category_week,
        gap_weeks=body.gap_weeks,
    )
    plan = run_promotion_plan(
        model.estimator, batch.future, data.sellout, _candidates(body, services), products, rules,
        batch.info.get("hierarchy"), body.market_col, body.product_col, promo_col,
    )  # fmt: skip
    table = plan.table.assign(start=plan.table["start"].dt.date.astype(str))
    return PlanOut(
        candidates=records(
            table.sort_values(["chosen", "incremental_margin"], ascending=False), PLAN_COLUMNS
        ),
        chosen=int(plan.table["chosen"].sum()),
        spend=plan.spend,
        incremental_margin=plan.incremental_margin,
        dip=list(plan.dip),
        solver=plan.status,
        model=ModelInfo.of(model.ref),
    )


@router.post("/plan", responses=errors(404, *AUTH_ERRORS), summary="Choose the promotions to run")
async def plan_promotions(body: PlanIn, services: ServicesDep) -> PlanOut:
    return await run_in_threadpool(_plan, body, services)
