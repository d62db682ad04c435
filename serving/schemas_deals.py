"""Request and response bodies of the deal-scoring endpoints (pydantic lives at the API edge only).

A deal is what an external CRM knows about one open opportunity; the service turns it into the model's
as-of features with the history of the CRM it holds (``models.deals.fastpath``)."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictFloat, StrictStr, model_validator

from salesplan.contracts.crm import STAGES
from salesplan.serving.routers.common import ModelInfo, day_field

Stage = Literal["Find", "Meet", "Pitch", "Sign", "Deliver", "Operate"]
assert set(Stage.__args__) == set(STAGES)  # type: ignore[attr-defined]

DEAL_EXAMPLE: dict[str, JsonValue] = {
    "opportunity_id": "O001286",
    "amount": 17800,
    "stage": "Pitch",
    "stage_entered_date": "2026-08-27",
    "created_date": "2026-08-07",
    "expected_close_date": "2026-09-21",
    "n_slips": 0,
    "product": "Platform",
    "lead_source": "Partner",
    "competitor": "no",
    "region": "North",
    "team": "North-1",
    "rep_id": "R003",
    "account_id": "A00007",
    "as_of": "2026-11-29",
}


class DealIn(BaseModel):
    """One open opportunity as the CRM holds it. Unknown reps, accounts or categories are scored with those
    features unknown (listed in the answer's ``fallbacks``), never refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [DEAL_EXAMPLE]})

    opportunity_id: str | None = Field(default=None, max_length=200, description="Echoed back.")
    amount: float = Field(
        strict=True, ge=0, le=1e15, allow_inf_nan=False, description="Deal value in the CRM's currency."
    )
    stage: Stage | None = Field(default=None, description="Furthest funnel stage the deal has reached.")
    stage_entered_date: date | None = day_field("When it entered that stage", default=None)
    created_date: date | None = day_field("When the deal was created", default=None)
    expected_close_date: date | None = day_field(
        "Current expected close (used once the date has moved: n_slips > 0)", default=None
    )
    n_slips: int = Field(
        default=0, strict=True, ge=0, le=1000, description="Times the expected close date was moved."
    )
    product: str | None = Field(default=None, max_length=200)
    lead_source: str | None = Field(default=None, max_length=200)
    competitor: str | None = Field(default=None, max_length=200, examples=["yes", "no"])
    region: str | None = Field(default=None, max_length=200, description="Default: the rep's region.")
    team: str | None = Field(default=None, max_length=200, description="Default: the rep's team.")
    rep_id: str | None = Field(default=None, max_length=200)
    account_id: str | None = Field(default=None, max_length=200)
    account: dict[str, StrictStr | StrictFloat | None] | None = Field(
        default=None,
        max_length=200,
        description="Account attributes (e.g. industry, size); override the CRM's record of account_id.",
        examples=[{"industry": "Retail", "size": "M"}],
    )
    attributes: dict[str, StrictStr | StrictFloat | None] | None = Field(
        default=None,
        max_length=200,
        description="Extra opportunity columns the model was trained on (by column name).",
    )
    as_of: date | None = day_field("Score as of this day (default: today, UTC)", default=None)

    @model_validator(mode="after")
    def _dates_in_order(self) -> DealIn:
        """A deal's own dates must be possible: created, then its stage entered, then scored. A deal
        created after its scoring day would be scored from features it could not have had yet."""
        order = [("created_date", self.created_date), ("stage_entered_date", self.stage_entered_date),
                 ("as_of", self.as_of)]  # fmt: skip
        known = [(n, d) for n, d in order if d is not None]
        for (a, da), (b, db) in pairwise(known):
            if da > db:
                raise ValueError(
                    f"{a} {da} is after {b} {db}; a deal is created, then enters its stage, then is scored"
                )
        return self


class BatchIn(BaseModel):
    """Up to ``SALESPLAN_MAX_BATCH`` (10,000 by default) deals; more → 413."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"deals": [DEAL_EXAMPLE]}]})

    deals: list[DealIn] = Field(min_length=1)


class Reason(BaseModel):
    feature: str = Field(examples=["n_slips"])
    direction: Literal["+", "-"] = Field(description="'+' raises the win chance, '-' lowers it.")
    contribution: float = Field(description="Score points (base score + Σ points = 100·p_win).")
    text: str = Field(examples=["deal has slipped its close date 2 times"])


class DealModelInfo(ModelInfo):
    kind: str = Field(examples=["deal-scorer/logistic+none"], description="Model family and calibration.")


class DealScoreItem(BaseModel):
    opportunity_id: str | None
    p_win: float = Field(ge=0, le=1, description="Calibrated probability the deal is won.")
    score: int = Field(ge=1, le=99)
    grade: Literal["A", "B", "C", "D"] = Field(description="A ≥ 0.70, B ≥ 0.45, C ≥ 0.20, else D (p_win).")
    reasons: list[Reason] = Field(description="Top reasons for (largest first), then against.")
    fallbacks: list[str] = Field(default_factory=list, description="What was unknown and scored as such.")


class DealScore(DealScoreItem):
    model: DealModelInfo


class BatchOut(BaseModel):
    results: list[DealScoreItem]
    model: DealModelInfo


class OpenDeal(BaseModel):
    opportunity_id: str
    p_win: float
    score: int
    grade: Literal["A", "B", "C", "D"]
    reasons: list[str]
    amount: float | None = None
    expected_value: float | None = Field(default=None, description="p_win × amount.")
    stage: str | None = None
    expected_close_date: date | None = None
    rep_id: str | None = None
    rep_name: str | None = Field(default=None, description="The rep's name, when the CRM's reps have one.")
    team: str | None = None
    region: str | None = None
    product: str | None = None
    account_id: str | None = None
    account_name: str | None = Field(default=None, description="When the CRM's accounts have a name.")


class OpenDeals(BaseModel):
    total: int
    amount_total: float = Field(description="Σ amount of every deal that matches (all pages).")
    expected_total: float = Field(description="Σ p_win × amount of every deal that matches (all pages).")
    limit: int
    offset: int
    rows: list[OpenDeal]
    model: DealModelInfo
