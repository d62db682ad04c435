"""The FastAPI application factory. ``uvicorn serving.app:create_app --factory`` or ``salesplan serve``."""

from __future__ import annotations

import contextlib
import faulthandler
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from salesplan.serving import docs, web
from salesplan.serving.middleware import RequestContextMiddleware, configure_logging
from salesplan.serving.problems import install_problem_handlers
from salesplan.serving.routers import (
    accounts,
    actuals,
    alerts,
    budgets,
    deals,
    forecasts,
    funnel,
    health,
    me,
    models,
    pipeline,
    process,
    promotions,
    proposals,
    proposals_plan,
    selection,
    track_record,
    tracking,
)
from salesplan.serving.services import Services
from salesplan.serving.settings import ServingSettings

API_DESCRIPTION = """Forecasts, deal-win scores, weighted pipeline, quarterly target proposals and budgets.

Authenticate with an API key (`Authorization: Bearer sp_...`); create keys with `salesplan apikey create`.
Every error is RFC 9457 problem details (`application/problem+json`)."""


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    settings = settings or ServingSettings()
    configure_logging()
    if not faulthandler.is_enabled():
        # A fatal signal (SIGSEGV, SIGBUS: a native library, a truncated memory-mapped file) leaves a stack
        # on stderr instead of a silent death.
        with contextlib.suppress(ValueError, OSError):  # stderr without a file descriptor (captured)
            faulthandler.enable()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services(settings)
        await run_in_threadpool(services.start)
        app.state.services = services
        try:
            yield
        finally:
            services.stop()

    app = FastAPI(
        title="salesplan",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by serving.docs with local assets
        redoc_url=None,  # ReDoc would load from a CDN
    )
    install_problem_handlers(app)
    routers = (
        health,
        me,
        models,
        deals,
        forecasts,
        pipeline,
        funnel,
        process,
        selection,
        promotions,
        budgets,
        tracking,
        actuals,
        alerts,
        proposals_plan,
        proposals,
        track_record,
        accounts,
        web,
        docs,
    )
    for module in routers:
        app.include_router(module.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
