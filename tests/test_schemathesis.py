"""Property-based run over the whole OpenAPI schema (schemathesis) with every built-in check (``--checks
all``), as an admin and as a planner, against a service holding real models and planning data: no
response is a server error, every response conforms to what the schema declares (status, content type,
headers, body), data the schema allows is accepted, data it forbids is refused, and auth is enforced.

What counts as accepted: 2xx, or a 401/403/404/409 schemathesis allows, or a **documented business-rule
422**: a problem whose title is one of ``BUSINESS_RULES`` (raised by the planning layer for what a schema
cannot express: an unknown unit or channel, infeasible bounds, a quarter far from the data), or a request
validation whose every error is a rule of ours (pydantic ``value_error``: a message we wrote, e.g. "mode
value needs `value`", a rule across fields). A 422 with any of pydantic's own type or constraint errors
for data the schema allows is a failure: the schema and the validation disagree.

Two deliberate settings, each the documented domain rather than a weaker test: dates are drawn from
1900–2199 (the API's date domain, stated in each field's description and ``formatMinimum/formatMaximum``,
which JSON Schema generators do not read), and failed-auth throttling is raised for the one test client
that sends thousands of deliberately wrong keys (throttling has its own test).

Bounded (a few examples per operation) so the run stays around a minute or two."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from serving_world import World, build_world, make_keys, mlflow_env, settings_for, world_dir

from salesplan.serving.app import create_app
from salesplan.serving.routers.common import DAY_MAX, DAY_MIN
from salesplan.serving.settings import ServingSettings

pytestmark = pytest.mark.slow
BUSINESS_RULES = frozenset(
    {"Infeasible planning bounds", "Invalid data", "Not enough data", "Invalid parameters"}
)
"""Titles of the 422s the planning layer raises (serving.problems.ERROR_STATUS), documented per operation
as "Invalid parameters, data or infeasible bounds"."""

schemathesis.openapi.format("date", st.dates(DAY_MIN, DAY_MAX).map(lambda d: d.isoformat()))


def accepts_valid_data(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, except for documented business-rule 422s (module docstring)."""
    if response.status_code == 422:
        try:
            body = response.json()
        except ValueError:
            body = {}
        errors = body.get("errors") or []
        ours = bool(errors) and all(e.get("type") == "value_error" for e in errors)
        if body.get("title") in BUSINESS_RULES or (body.get("title") == "Request validation failed" and ours):
            return None
    return positive_data_acceptance(ctx, response, case)  # type: ignore[no-any-return]


class _OneLifespan:
    """The app, answering lifespan events itself: its real lifespan (models, batch and planning data
    loaded, then stopped) runs once, in ``running``, as it does for a server that answers many requests.
    Schemathesis' pytest plugin ends an ASGI app's lifespan after every test and starts it again on the next
    call, which reloaded every model per operation (about a second each, most of this module's time)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(world_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def running(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """The app with its lifespan started (models, batch, planning data loaded) and a key per role."""
    app = create_app(
        settings_for(world, tmp_path_factory.mktemp("schemathesis"), auth_failures_per_minute=10**9)
    )
    with mlflow_env(world), TestClient(app):
        served: Any = _OneLifespan(app)
        schema.app = served  # checks that send follow-up requests (auth, methods, headers) send them here too
        for operation in OPERATIONS.values():
            operation.app = served
        yield served, make_keys(app.state.services)


# The schema is static (routes do not depend on settings), so it is read from an app that is never
# started; the calls go to the started one. One test per operation and role, with its own id ("GET
# /health"), so every operation is a separate pytest item (schemathesis' own parametrize gives them one
# shared node id, which test distributors that group by node id collapse into a single test).
schema = schemathesis.openapi.from_dict(create_app(ServingSettings(load_models=False)).openapi())
OPERATIONS = {op.label: op for op in (result.ok() for result in schema.get_all_operations())}


def _check(strategy: SearchStrategy[Any], n: int, app: FastAPI, key: str) -> None:
    """``n`` cases from ``strategy`` (derandomized: the same cases every run), each called and validated
    with every built-in check."""

    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=strategy)
    def run(case: Any) -> None:
        case.call_and_validate(
            app=app,
            headers={"X-API-Key": key},
            excluded_checks=[positive_data_acceptance],
            additional_checks=[accepts_valid_data],
        )

    run()


@pytest.mark.parametrize("role", ["admin", "planner"])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_conforms_to_its_schema(label: str, role: str, running: tuple[FastAPI, dict[str, str]]) -> None:
    """The operation's documented examples once each, then a few generated cases, valid and invalid.
    (Schemathesis' coverage phase, every boundary of every field, would multiply the cases far past that;
    the planning calls cost up to seconds each.)"""
    app, keys = running
    operation = OPERATIONS[label]
    valid, invalid = (3, 2) if role == "admin" else (2, 1)  # the planner mostly meets 403s and four eyes
    for example in operation.get_strategies_from_examples():
        _check(example, 1, app, keys[role])
    _check(operation.as_strategy(), valid, app, keys[role])
    inputs = (operation.path_parameters, operation.query, operation.headers, operation.cookies)
    if any(len(x) for x in inputs) or len(operation.body):  # something to get wrong
        _check(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE), invalid, app, keys[role])
