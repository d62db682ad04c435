"""RFC 9457 problem details for every error the API returns, so clients parse one shape."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from salesplan.errors import (
    ConfigError,
    ConflictError,
    DataNotFoundError,
    DataValidationError,
    ForbiddenError,
    InfeasibleError,
    InsufficientDataError,
    ModelNotFoundError,
    NotFittedError,
    NotFoundError,
    SalesplanError,
    ServiceUnavailableError,
)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("salesplan.serving")


class ProblemDetails(BaseModel):
    """The error body (``application/problem+json``)."""

    type: str = Field(default="about:blank", examples=["https://salesplan.dev/problems/validation"])
    title: str = Field(examples=["Request validation failed"])
    status: int = Field(examples=[422])
    detail: str | None = Field(default=None, examples=["body.amount: Input should be a valid number"])
    instance: str | None = Field(default=None, examples=["/api/v1/deals/score"])
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


# What each salesplan error means to an HTTP client.
ERROR_STATUS: list[tuple[type[SalesplanError], int, str]] = [
    (ForbiddenError, 403, "Forbidden"),
    (NotFoundError, 404, "Not found"),
    (DataNotFoundError, 404, "Not found"),
    (ConflictError, 409, "Conflict"),
    (InfeasibleError, 422, "Infeasible planning bounds"),
    (DataValidationError, 422, "Invalid data"),
    (InsufficientDataError, 422, "Not enough data"),
    (ConfigError, 422, "Invalid parameters"),
    (ModelNotFoundError, 503, "Model not available"),
    (NotFittedError, 503, "Model not available"),
    (ServiceUnavailableError, 503, "Service unavailable"),
]


def problem(
    request: Request, status: int, title: str, detail: str | None = None, **extra: Any
) -> JSONResponse:
    body = ProblemDetails(
        type=extra.pop("type", "about:blank"),
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        **extra,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error path answers with problem details; unexpected ones are logged and say only 500."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
            413: "Request too large",
            429: "Too many requests",
            503: "Service unavailable",
        }
        resp = problem(request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))
        for key, value in (exc.headers or {}).items():
            resp.headers[key] = value
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(
                request, 400, "Malformed JSON", "the request body is not valid JSON", errors=errors
            )
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:10])
        return problem(request, 422, "Request validation failed", detail, errors=errors)

    @app.exception_handler(SalesplanError)
    async def _salesplan(request: Request, exc: SalesplanError) -> JSONResponse:
        for cls, status, title in ERROR_STATUS:
            if isinstance(exc, cls):
                return problem(request, status, title, str(exc))
        return problem(request, 400, "Bad request", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Errors inside the app are answered by RequestContextMiddleware (with the request id, keeping the
        # connection); this is for errors in the middleware itself.
        log.exception("unhandled error", extra={"request_id": getattr(request.state, "request_id", None)})
        return problem(
            request,
            500,
            "Internal server error",
            "an unexpected error happened; quote the request id when reporting it",
        )
