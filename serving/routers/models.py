"""Model administration: which champions are loaded, and reload after retraining without a restart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from serving.auth import require
from serving.deps import ServicesDep
from serving.problems import PROBLEM_JSON, ProblemDetails

router = APIRouter(prefix="/api/v1/models", tags=["models"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDetails, "content": {PROBLEM_JSON: {}}} for code in (401, 403)
}


class ModelStatus(BaseModel):
    loaded: bool
    version: str | None = None
    run_id: str | None = None
    source: str | None = Field(default=None, description="registry, or cache when the registry was down")
    problem: str | None = None


class ReloadResult(BaseModel):
    outcome: dict[str, str] = Field(examples=[{"salesplan-deals": "loaded version 3"}])
    models: dict[str, ModelStatus]


@router.get("", dependencies=[require("models:admin")], responses=ERRORS, summary="Loaded champion models")
def status(services: ServicesDep) -> dict[str, ModelStatus]:
    return {k: ModelStatus(**v) for k, v in services.models.status().items()}


@router.post(
    "/reload",
    dependencies=[require("models:admin")],
    responses=ERRORS,
    summary="Reload champions from the registry",
)
def reload(services: ServicesDep) -> ReloadResult:
    outcome = services.models.load_all()
    return ReloadResult(
        outcome=outcome, models={k: ModelStatus(**v) for k, v in services.models.status().items()}
    )
