"""Forecasts of every hierarchy level at the data's frequency and every coarser one (days, weeks, months,
quarters, years: whichever the champion's batch outputs hold, loaded at start: no model runs per read) and
what-if scenarios on price and promotion (these do run the champion, twice: baseline and scenario).
``yhat`` is the mean of each row's forecast distribution, the quantile columns are quantiles of the same
distribution (``q50`` its median)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from salesplan.contracts import FREQS, PERIOD_COLUMNS, quantile_cols
from salesplan.errors import ConfigError, NotFoundError
from salesplan.io import records
from salesplan.models.forecast.whatif import Scenario, lift_pct, what_if
from salesplan.models.registry import FORECAST_MODEL
from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import AUTH_ERRORS, DAY_MAX, DAY_MIN, ModelInfo, day_field, errors
from salesplan.serving.services import Services

router = APIRouter(prefix="/api/v1/forecasts", tags=["forecasts"], dependencies=[require("forecasts:read")])

Freq = Literal["D", "W", "M", "Q", "Y"]
MAX_IDS = 200
UnitId = Annotated[str, Field(min_length=1, max_length=200)]


class Level(BaseModel):
    name: str = Field(examples=["region"])
    units: list[str] = Field(examples=[["North", "South"]])


class LevelsOut(BaseModel):
    levels: list[Level]
    freq: str = Field(default="W", examples=["W"], description="The data's frequency (D, W, M, Q or Y)")
    freqs: list[str] = Field(
        examples=[["W", "M", "Q", "Y"]], description="The data's frequency and the coarser ones it sums to"
    )
    hierarchy: dict[str, list[str]] = Field(examples=[{"geo": ["region", "store"]}])
    bottom: str = Field(examples=["store/product"], description="Level what-if scenarios take ids from")
    first_week: str | None = Field(
        default=None, examples=["2026-11-30"], description="Start of the first forecast period (any freq)"
    )
    last_week: str | None = Field(
        default=None, examples=["2027-03-29"], description="Start of the last forecast period (any freq)"
    )
    first_period: str | None = Field(default=None, examples=["2026-11-30"])
    last_period: str | None = Field(default=None, examples=["2027-03-29"])
    model: ModelInfo


class ForecastRow(BaseModel):
    model_config = ConfigDict(extra="allow")  # q05 … q95, assumed_share

    unique_id: str = Field(examples=["North"])
    level: str = Field(examples=["region"])
    freq: str = Field(examples=["M"])
    period: str = Field(examples=["2027-01"])
    ds: str = Field(examples=["2027-01-01"])
    yhat: float = Field(examples=[1520.4], description="Mean of the row's forecast distribution")
    coverage: float | None = Field(default=None, description="Share of the period inside the horizon")


class HistoryRow(BaseModel):
    unique_id: str
    period: str
    ds: str
    y: float


class ForecastsOut(BaseModel):
    level: str
    freq: str = Field(examples=["M"])
    rows: list[ForecastRow]
    history: list[HistoryRow]
    model: ModelInfo


class WhatIfIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "ids": ["S01/P001"],
                    "start": "2026-12-07",
                    "end": "2026-12-21",
                    "promo": 1,
                    "promo_depth": 0.2,
                }
            ]
        },
    )

    ids: list[UnitId] = Field(min_length=1, max_length=MAX_IDS, description="Bottom-level unique_ids")
    start: date = day_field("First week (any day of it) of the scenario")
    end: date = day_field("Last week (any day of it) of the scenario")
    price_change_pct: float | None = Field(
        default=None, strict=True, gt=-100, le=500, description="e.g. -10 = 10 % cut"
    )
    price: float | None = Field(
        default=None, strict=True, gt=0, le=1e9, description="Absolute price of the ids"
    )
    promo: int = Field(
        default=0, strict=True, ge=0, le=1, description="1 puts the weeks on promotion; 0 keeps the plan"
    )
    promo_depth: float | None = Field(
        default=None, strict=True, gt=0, lt=1, description="Discount of the promotion"
    )

    def scenario(self) -> Scenario:
        """The request as the scenario the CLI builds too (``models.forecast.whatif``)."""
        pct = self.price_change_pct
        return Scenario(
            ids=tuple(self.ids),
            start=pd.Timestamp(self.start),
            end=pd.Timestamp(self.end),
            price_change=None if pct is None else pct / 100,
            price=self.price,
            promo=1 if self.promo == 1 else None,
            promo_depth=self.promo_depth,
        )

    @model_validator(mode="after")
    def _check(self) -> WhatIfIn:
        self.scenario()  # the scenario's own checks: its ConfigError is a ValueError, so a 422 here
        return self


class WhatIfRow(BaseModel):
    unique_id: str
    ds: str
    baseline: float
    scenario: float
    scenario_q10: float | None = Field(
        default=None, description="The scenario week's P10 (promoted weeks: calibrated on promoted weeks)"
    )
    scenario_q90: float | None = Field(default=None, description="The scenario week's P90")
    diff: float
    changed: bool = Field(
        description="False for siblings: same category and store, or promotion group (cannibalisation)"
    )


class WhatIfSummary(BaseModel):
    baseline: float = Field(description="Units of the chosen ids over the scenario weeks")
    scenario: float
    lift_pct: float | None
    siblings_diff: float = Field(description="Units the siblings gain (+) or lose (−) over those weeks")


class WhatIfOut(BaseModel):
    rows: list[WhatIfRow]
    summary: WhatIfSummary
    weeks: list[str]
    model: ModelInfo


@router.get("/levels", responses=errors(*AUTH_ERRORS), summary="Hierarchy levels and their units")
def levels(services: ServicesDep) -> LevelsOut:
    batch = services.models.batch()
    fc = batch.forecast
    info = dict(batch.info)
    order = list(info.get("levels") or dict.fromkeys(fc["level"]))
    units = fc.groupby("level", sort=False)["unique_id"].unique()
    return LevelsOut(
        levels=[Level(name=lv, units=sorted(map(str, units[lv]))) for lv in order if lv in units.index],
        freq=str(info.get("freq", "W")),
        freqs=[f for f in FREQS if f in set(fc["freq"])],
        hierarchy={k: list(v) for k, v in (info.get("hierarchy") or {}).items()},
        bottom=order[-1],
        first_week=info.get("first_ds", info.get("first_week")),
        last_week=info.get("last_ds", info.get("last_week")),
        first_period=info.get("first_period", info.get("first_week")),
        last_period=info.get("last_period", info.get("last_week")),
        model=ModelInfo.of(batch.ref),
    )


@router.get("", responses=errors(404, *AUTH_ERRORS), summary="Forecast and actuals of units of one level")
def forecasts(
    services: ServicesDep,
    level: Annotated[str, Query(min_length=1, max_length=64, examples=["region"])] = "total",
    ids: Annotated[
        str | None,
        Query(max_length=20_000, description="Comma-separated unit ids; default all", examples=["North"]),
    ] = None,
    freq: Annotated[
        Freq | None, Query(description="D, W, M, Q or Y; default: the data's own frequency")
    ] = None,
    start: Annotated[
        date | None, Query(ge=DAY_MIN, le=DAY_MAX, description="Periods starting on or after")
    ] = None,
    end: Annotated[
        date | None, Query(ge=DAY_MIN, le=DAY_MAX, description="Periods starting on or before")
    ] = None,
) -> ForecastsOut:
    batch = services.models.batch()
    fc, hist = batch.forecast, batch.history
    known_levels = list(dict.fromkeys(fc["level"]))
    if level not in known_levels:
        raise ConfigError(f"level {level!r} is not one of {known_levels}")
    have = [f for f in FREQS if f in set(fc["freq"])]
    chosen = freq or str(batch.info.get("freq", have[0] if have else "W"))
    if chosen not in have:
        raise ConfigError(
            f"freq {chosen!r} is not in this forecast; it has {have} (the data's frequency and the coarser "
            "ones: a forecast is never split into finer periods)"
        )
    fc = fc[(fc["level"] == level) & (fc["freq"] == chosen)]
    hist = hist[(hist["level"] == level) & (hist["freq"] == chosen)]
    units = set(map(str, fc["unique_id"]))
    wanted = [i.strip() for i in ids.split(",") if i.strip()] if ids else sorted(units)
    if len(wanted) > MAX_IDS:
        raise ConfigError(
            f"{len(wanted)} units asked at level {level!r}; ask for at most {MAX_IDS} (ids=...)"
        )
    missing = [i for i in wanted if i not in units]
    if missing:
        raise NotFoundError(
            f"unit(s) {missing[:10]} not at level {level!r}; GET /api/v1/forecasts/levels lists them"
        )
    fc, hist = fc[fc["unique_id"].isin(wanted)], hist[hist["unique_id"].isin(wanted)]
    if start is not None:
        fc, hist = fc[fc["ds"] >= pd.Timestamp(start)], hist[hist["ds"] >= pd.Timestamp(start)]
    if end is not None:
        fc, hist = fc[fc["ds"] <= pd.Timestamp(end)], hist[hist["ds"] <= pd.Timestamp(end)]
    cols = [*PERIOD_COLUMNS, "yhat", *quantile_cols(), "coverage", "assumed_share", "source", "method"]
    return ForecastsOut(
        level=level,
        freq=chosen,
        rows=[ForecastRow(**r) for r in records(fc.sort_values(["unique_id", "ds"]), cols)],
        history=[
            HistoryRow(**r)
            for r in records(hist.sort_values(["unique_id", "ds"]), ["unique_id", "period", "ds", "y"])
        ],
        model=ModelInfo.of(batch.ref),
    )


def _run_what_if(body: WhatIfIn, services: Services) -> WhatIfOut:
    batch = services.models.batch()
    model = services.models.forecaster()
    if batch.future is None:
        raise NotFoundError(
            f"the batch of {FORECAST_MODEL} v{batch.ref.version} has no future regressors to run a what-if "
            "on; retrain the forecaster with its future regressors (salesplan train forecast)"
        )
    res = what_if(model.estimator, batch.future, body.scenario(), batch.info.get("hierarchy"))
    base, scen = res.totals(changed=True)
    cols = ["unique_id", "ds", "baseline", "scenario", "diff", "changed"]
    cols += [c for c in ("scenario_q10", "scenario_q90") if c in res.rows.columns]
    return WhatIfOut(
        rows=[WhatIfRow(**{**r, "ds": str(r["ds"])}) for r in records(res.rows, cols)],
        summary=WhatIfSummary(
            baseline=base, scenario=scen, lift_pct=lift_pct(base, scen), siblings_diff=res.siblings_diff
        ),
        weeks=[w.date().isoformat() for w in res.weeks],
        model=ModelInfo.of(model.ref),
    )


@router.post(
    "/what-if",
    responses=errors(400, 404, 413, *AUTH_ERRORS),
    summary="Forecast under a price/promotion change",
)
async def post_what_if(body: WhatIfIn, services: ServicesDep) -> WhatIfOut:
    return await run_in_threadpool(_run_what_if, body, services)
