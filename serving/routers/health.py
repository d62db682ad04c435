"""Liveness and readiness: ``/health`` says the process answers, ``/ready`` says it can do its job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from salesplan.serving.problems import PROBLEM_JSON

router = APIRouter(tags=["health"])


@router.get("/health", summary="Process is alive")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Models and database are ready",
    responses={503: {"description": "Not ready: names what is missing", "content": {PROBLEM_JSON: {}}}},
)
def ready(request: Request) -> Any:
    services = request.app.state.services
    checks = services.readiness()
    missing = [name for name, c in checks.items() if not c["ok"]]
    if missing:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Service unavailable",
                "status": 503,
                "detail": "not ready: " + "; ".join(f"{m}: {checks[m]['detail']}" for m in missing),
                "instance": "/ready",
                "checks": checks,
            },
            status_code=503,
            media_type=PROBLEM_JSON,
        )
    return {"status": "ready", "checks": checks}
