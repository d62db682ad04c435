"""Pieces every resource router shares: declared problem responses, the model stamp, and the domains of
parameters that recur (days, offsets, money): every parameter has one, so out-of-range input is a 422 that
says the range, never a 500 from deep inside pandas or numpy."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field
from pydantic.config import JsonDict

from salesplan.models.registry import ModelRef
from salesplan.serving.problems import PROBLEM_JSON, ProblemDetails

__all__ = [
    "AUTH_ERRORS",
    "DAY_MAX",
    "DAY_MIN",
    "MAX_OFFSET",
    "Day",
    "ModelInfo",
    "Money",
    "StrictInteger",
    "day_field",
    "errors",
    "json_integer",
]

DAY_MIN, DAY_MAX = date(1900, 1, 1), date(2199, 12, 31)
"""Every date the API takes lies in these years: wide enough for any sales history or plan, and inside what
pandas timestamps (1677–2262) and nanosecond day arithmetic hold (year 9999 was a 500)."""
MAX_OFFSET = 10_000_000
"""Largest ``offset`` of a paged list (10^30 was a 500)."""


def day_field(description: str = "", **kw: Any) -> Any:
    """``Field`` of a date in the API's range (``DAY_MIN``–``DAY_MAX``); JSON Schema has no bounds for
    dates, so the range is also spelled out in the description and as ``formatMinimum/formatMaximum``."""
    text = f"{description} ({DAY_MIN.isoformat()} to {DAY_MAX.isoformat()})".strip()
    extra: JsonDict = {"formatMinimum": DAY_MIN.isoformat(), "formatMaximum": DAY_MAX.isoformat()}
    return Field(ge=DAY_MIN, le=DAY_MAX, description=text, json_schema_extra=extra, **kw)


Day = Annotated[date, day_field()]
Money = Annotated[float, Field(strict=True, ge=0, le=1e15, allow_inf_nan=False)]
"""An amount of money: a JSON number (not a string or a boolean), 0 to 10^15."""


def json_integer(value: Any) -> Any:
    """JSON Schema's ``integer``: a number with no fraction, so ``3.0`` is one (and becomes 3), while
    ``"3"`` and ``true`` stay what they are for a strict ``int`` to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


StrictInteger = BeforeValidator(json_integer)
"""Put after a ``Field(strict=True)`` int (after it, so the field's bounds stay in the schema): strict
refuses the strings and booleans the schema forbids, this lets through the integral floats it allows."""

_WHY = {
    400: "Malformed JSON body",
    401: "Missing or invalid API key",
    403: "The key's role may not do this",
    404: "Unknown id",
    409: "Stale version or proposal no longer a draft",
    413: "Request body too large",
    422: "Invalid parameters, data or infeasible bounds",
    429: "Too many failed authentications from this client: wait Retry-After seconds",
    503: "Database, model or planning data unavailable",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring each code as problem details (so clients and schemathesis know)."""
    out: dict[int | str, dict[str, Any]] = {
        code: {
            "model": ProblemDetails,
            "description": _WHY.get(code, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for code in codes
    }
    if 429 in out:
        out[429]["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}
        }
    return out


AUTH_ERRORS = (401, 403, 422, 429, 503)


class ModelInfo(BaseModel):
    """Which registered model version produced the numbers."""

    name: str = Field(examples=["salesplan-deals"])
    version: str = Field(examples=["3"])
    run_id: str = Field(examples=["9eace51dadc94ccf9614d2eaea9d352f"])

    @classmethod
    def of(cls, ref: ModelRef) -> ModelInfo:
        return cls(name=ref.name, version=str(ref.version), run_id=ref.run_id)
