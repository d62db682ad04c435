"""Pieces every resource router shares: declared problem responses, the model stamp, frame → JSON rows."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from salesplan.serving.problems import PROBLEM_JSON, ProblemDetails
from salesplan.training.tracking import ModelRef

_WHY = {
    400: "Malformed JSON body",
    401: "Missing or invalid API key",
    403: "The key's role may not do this",
    404: "Unknown id",
    409: "Stale version or proposal no longer a draft",
    413: "Request body too large",
    422: "Invalid parameters, data or infeasible bounds",
    503: "Database, model or planning data unavailable",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring each code as problem details (so clients and schemathesis know)."""
    return {
        code: {
            "model": ProblemDetails,
            "description": _WHY.get(code, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for code in codes
    }


AUTH_ERRORS = (401, 403, 422, 503)


class ModelInfo(BaseModel):
    """Which registered model version produced the numbers."""

    name: str = Field(examples=["salesplan-deals"])
    version: str = Field(examples=["3"])
    run_id: str = Field(examples=["9eace51dadc94ccf9614d2eaea9d352f"])

    @classmethod
    def of(cls, ref: ModelRef) -> ModelInfo:
        return cls(name=ref.name, version=str(ref.version), run_id=ref.run_id)


def clean(value: Any) -> Any:
    """One JSON-safe scalar: NaN/inf/NaT → None, numpy → Python, timestamps → ISO dates."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, pd.Period):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        return [clean(v) for v in value]
    return value


def records(df: pd.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows of ``df`` as JSON-safe dicts (only ``columns`` when given, in that order)."""
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    return [
        {c: clean(v) for c, v in zip(cols, row, strict=True)}
        for row in df[cols].itertuples(index=False, name=None)
    ]
