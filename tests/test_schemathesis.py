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
from hypothesis import HealthCheck, settings
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
# started; the calls go to the started one. (schemathesis.pytest.from_fixture would be the natural way,
# but it writes pytest's read-only node id, which pytest 9 refuses.)
schema = schemathesis.openapi.from_dict(create_app(ServingSettings(load_models=False)).openapi())
# The coverage phase (every boundary of every field) multiplies the cases far past max_examples; the
# planning calls cost up to seconds each, so the bounded run uses the examples and fuzzing phases only.
schema.config.phases.coverage.enabled = False


@schema.parametrize()
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case: Any, running: tuple[FastAPI, str]) -> None:
    app, admin = running
    case.call_and_validate(app=app, headers={"X-API-Key": admin}, checks=CHECKS)
