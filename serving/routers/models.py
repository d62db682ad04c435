"""Model administration: which champions are loaded, and reload after retraining without a restart
(the reload also re-reads the planning data and re-scores its open deals with the new deal champion)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from salesplan.serving.auth import require
from salesplan.serving.deps import ServicesDep
from salesplan.serving.routers.common import errors

router = APIRouter(prefix="/api/v1/models", tags=["models"])


class ModelStatus(BaseModel):
    loaded: bool
    version: str | None = None
    run_id: str | None = None
    source: str | None = Field(default=None, description="registry, or cache when the registry was down")
    problem: str | None = None


class ReloadResult(BaseModel):
    outcome: dict[str, str] = Field(
        examples=[{"salesplan-deals": "loaded version 3", "planning_data": "loaded from /data/plan"}]
    )
    models: dict[str, ModelStatus]


@router.get(
    "",
    dependencies=[require("models:read")],
    responses=errors(401, 403, 429, 503),
    summary="Loaded champion models",
)
def status(services: ServicesDep) -> dict[str, ModelStatus]:
    return {k: ModelStatus(**v) for k, v in services.models.status().items()}


@router.post(
    "/reload",
    dependencies=[require("models:admin")],
    responses=errors(401, 403, 413, 429, 503),
    summary="Reload champions and planning data",
)
async def reload(services: ServicesDep) -> ReloadResult:
    outcome = await run_in_threadpool(services.reload)
    return ReloadResult(
        outcome=outcome, models={k: ModelStatus(**v) for k, v in services.models.status().items()}
    )
