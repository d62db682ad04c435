"""Property-based run over the whole OpenAPI schema (schemathesis): for inputs generated from the schema,
with an admin key against a service holding real models and planning data, no response is a server
error and every response conforms to what the schema declares (status code, content type, body).

Bounded (a few examples per operation) so the run stays around a minute or two."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serving_world import World, build_world, make_keys, mlflow_env, settings_for, world_dir

from salesplan.serving.app import create_app
from salesplan.serving.settings import ServingSettings

pytestmark = pytest.mark.slow
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(world_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def running(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    """The app with its lifespan started (models, batch, planning data loaded) and an admin key."""
    app = create_app(settings_for(world, tmp_path_factory.mktemp("schemathesis")))
    with mlflow_env(world), TestClient(app):
        yield app, make_keys(app.state.services)["admin"]


# The schema is static (routes do not depend on settings), so it is read from an app that is never
# started; the calls go to the started one. One test per operation, with its own id ("GET /health"), so
# every operation is a separate pytest item (schemathesis' own parametrize gives them one shared node id,
# which test distributors that group by node id collapse into a single test).
schema = schemathesis.openapi.from_dict(create_app(ServingSettings(load_models=False)).openapi())
OPERATIONS = {op.label: op for op in (result.ok() for result in schema.get_all_operations())}


def _check(strategy: SearchStrategy[Any], n: int, app: FastAPI, admin: str) -> None:
    """``n`` cases from ``strategy`` (derandomized: the same cases every run), each called and validated."""

    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=strategy)
    def run(case: Any) -> None:
        case.call_and_validate(app=app, headers={"X-API-Key": admin}, checks=CHECKS)

    run()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_conforms_to_its_schema(label: str, running: tuple[FastAPI, str]) -> None:
    """The operation's documented examples once each, then a few generated cases. (Schemathesis' coverage
    phase, every boundary of every field, would multiply the cases far past that; the planning calls cost
    up to seconds each.)"""
    app, admin = running
    operation = OPERATIONS[label]
    for example in operation.get_strategies_from_examples():
        _check(example, 1, app, admin)
    _check(operation.as_strategy(), 4, app, admin)
