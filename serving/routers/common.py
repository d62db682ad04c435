"""Pieces every resource router shares: declared problem responses and the model stamp."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from salesplan.models.registry import ModelRef
from salesplan.serving.problems import PROBLEM_JSON, ProblemDetails

__all__ = ["AUTH_ERRORS", "ModelInfo", "errors"]

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
