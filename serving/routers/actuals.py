"""Actuals of a quarter in progress, in batches: sell-out (series × period), bookings (won deals) and
spend (channel × region × period), and the spend plan (``kind="budget"``). Idempotent by natural key:
posting the same rows again changes nothing; a changed value replaces the stored one and is audited. After
a load the alerts of every quarter it touches that has an approved proposal are re-evaluated."""

from __future__ import annotations

from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from salesplan.errors import NotFoundError, ServiceUnavailableError
from salesplan.serving.auth import require
from salesplan.serving.db.records import ApiKeyRecord
from salesplan.serving.routers.common import AUTH_ERRORS, errors
from salesplan.serving.routers.proposals import actor
from salesplan.serving.routers.tracking import TrackingDep

router = APIRouter(prefix="/api/v1/actuals", tags=["actuals"])

MAX_ROWS = 50_000


class ActualsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "sellout", "rows": [{"unique_id": "S01/P001", "ds": "2027-01-04", "y": 12,
                                               "region": "North", "store": "S01"}]}
            ]
        },
    )  # fmt: skip

    kind: Literal["sellout", "bookings", "spend", "budget"]
    rows: list[dict[str, str | int | float | None]] = Field(  # int before float: id 5 stays "5", not "5.0"
        min_length=1, max_length=MAX_ROWS, description="Rows of the kind's contract"
    )
    freq: Literal["D", "W", "M"] = Field(default="W", description="Sell-out frequency")


class ActualsOut(BaseModel):
    kind: str
    inserted: int
    unchanged: int
    corrected: int
    evaluated: list[str] = Field(description="Quarters whose alerts were re-evaluated")
    notes: list[str]


@router.post("", responses=errors(400, 413, *AUTH_ERRORS), summary="Load a batch of actuals (idempotent)")
async def load_actuals(
    body: ActualsIn, tracking: TrackingDep, key: Annotated[ApiKeyRecord, require("actuals:write")]
) -> ActualsOut:
    frame = pd.DataFrame(body.rows)
    res = await run_in_threadpool(tracking.load, body.kind, frame, actor(key), body.freq)
    evaluated, notes = [], list(res.notes)
    if res.inserted or res.corrected:
        for q in res.quarters:  # from the validated rows, not the raw ones (20270104 is a day, not 1970)
            try:
                await run_in_threadpool(tracking.evaluate, q)
                evaluated.append(q)
            except (NotFoundError, ServiceUnavailableError) as exc:
                notes.append(f"{q}: alerts not evaluated ({exc})")
    return ActualsOut(kind=body.kind, **res.to_dict(), evaluated=evaluated, notes=notes)
