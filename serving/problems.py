"""RFC 9457 problem details for every error the API returns, so clients parse one shape."""

from __future__ import annotations

import logging
from collections.abc import Mapping
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


# Pydantic's error types in words a planner reads (the page shows ``detail`` as it is); ``{...}`` are the
# error's context values. Types not listed keep pydantic's message.
FIELD_WORDS = {
    "missing": "is required",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "date_parsing": "use a date like 2027-01-31",
    "date_from_datetime_parsing": "use a date like 2027-01-31",
    "literal_error": "use one of {expected}",
    "enum": "use one of {expected}",
    "string_too_short": "must have at least {min_length} character(s)",
    "string_too_long": "must have at most {max_length} characters",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} items",
    "list_type": "must be a list",
    "dict_type": "must be an object of names and values",
    "extra_forbidden": "is not a known field: remove it",
}
QUARTER_HINT = "use the form 2027Q1"


def field_sentence(error: Mapping[str, Any]) -> str:
    """One validation error as "field: what to do" ("quarter: use the form 2027Q1"), without the
    validation library's wording or where the field was sent (body, query)."""
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
    where = ".".join(loc) or "the request"
    kind, ctx = str(error.get("type", "")), dict(error.get("ctx") or {})
    if kind == "string_pattern_mismatch":
        quarterly = "Q" in str(ctx.get("pattern", "")) or "quarter" in where
        return f"{where}: {QUARTER_HINT if quarterly else 'does not have the expected form'}"
    if kind == "value_error":  # our own validators' messages: already words, without pydantic's prefix
        return f"{where}: {str(error.get('msg', '')).removeprefix('Value error, ')}"
    words = FIELD_WORDS.get(kind)
    try:
        return f"{where}: {words.format(**ctx)}" if words else f"{where}: {error.get('msg', '')}"
    except (KeyError, IndexError):  # a context value the words name is absent: pydantic's own message
        return f"{where}: {error.get('msg', '')}"


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
        detail = exc.detail  # a mapping as "name: value; ...", never its Python repr
        text = "; ".join(f"{k}: {v}" for k, v in detail.items()) if isinstance(detail, dict) else str(detail)
        resp = problem(request, exc.status_code, titles.get(exc.status_code, "Error"), text)
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
        detail = "; ".join(field_sentence(e) for e in exc.errors()[:10])
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
