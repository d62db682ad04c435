"""Liveness and readiness: ``/health`` says the process answers, ``/ready`` says it can do its job.

``/ready`` answers everyone with ready (200) or not ready (503) and nothing more: data paths, counts, model
versions and the registry are an operator's business, shown only to a key allowed ``models:read`` (analyst,
admin). No key is required (a load balancer's probe has none); a wrong one is counted like any failed
authentication and simply gets the public answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from salesplan.errors import SalesplanError
from salesplan.serving.auth import authenticate, may, presented_key
from salesplan.serving.deps import ServicesDep
from salesplan.serving.problems import PROBLEM_JSON

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Ready(BaseModel):
    status: str = Field(examples=["ready"])
    checks: dict[str, dict[str, Any]] | None = Field(
        default=None, description="Per check: ok, detail (only for a key allowed models:read)"
    )


@router.get("/health", summary="Process is alive")
def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model_exclude_none=True,
    summary="Database, models and planning data are ready",
    description="200 ready or 503 not ready. Send an API key allowed `models:read` (analyst, admin) to see "
    "each check and why it fails.",
    responses={
        503: {
            "description": "Not ready (the checks to a key allowed models:read)",
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
    },
)
async def ready(request: Request, services: ServicesDep) -> Any:
    checks = await run_in_threadpool(services.readiness)
    missing = [name for name, c in checks.items() if not c["ok"]]
    detailed = await _may_see_details(request, services)
    if missing:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": "Service unavailable",
            "status": 503,
            "detail": "not ready",
            "instance": "/ready",
            "request_id": getattr(request.state, "request_id", None),
        }
        if detailed:
            body["detail"] = "not ready: " + "; ".join(f"{m}: {checks[m]['detail']}" for m in missing)
            body["checks"] = checks
        return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)
    return Ready(status="ready", checks=checks if detailed else None)


async def _may_see_details(request: Request, services: ServicesDep) -> bool:
    plaintext = presented_key(request)
    if not plaintext:
        return False
    try:
        record = await authenticate(services, request, plaintext)
    except (HTTPException, SalesplanError):  # throttled (429), key store down (503): the public answer
        return False
    return may(record, "models:read")
