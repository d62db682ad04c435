"""The API's frame: health/ready, problem details, request ids, size limit, API keys and roles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serving_world import upgraded

from salesplan.serving.app import create_app
from salesplan.serving.db.repository import ApiKeyRepository
from salesplan.serving.settings import ServingSettings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = ServingSettings(
        database_url=upgraded(f"sqlite:///{tmp_path / 'app.db'}"),
        model_cache_dir=tmp_path / "cache",
        load_models=False,
        max_body_bytes=2_000,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _key(client: TestClient, role: str) -> str:
    services = client.app.state.services  # type: ignore[attr-defined]
    with services.session() as session:
        plaintext, _ = ApiKeyRepository(session).create(f"test-{role}", role)  # type: ignore[arg-type]
    return plaintext


def test_health_and_request_id(client: TestClient) -> None:
    res = client.get("/health")
    assert res.status_code == 200 and res.json() == {"status": "ok"}
    assert len(res.headers["x-request-id"]) == 32
    res = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert res.headers["x-request-id"] == "abc-123"


def test_ready_says_what_is_missing_only_to_an_operator(client: TestClient) -> None:
    res = client.get("/ready")
    assert res.status_code == 503
    assert res.headers["content-type"].startswith("application/problem+json")
    public = res.json()
    assert public["detail"] == "not ready" and "checks" not in public and public["request_id"]
    for role in ("planner", "crm"):  # a key without models:read sees no more than anyone
        other = client.get("/ready", headers={"X-API-Key": _key(client, role)}).json()
        assert other["detail"] == "not ready" and "checks" not in other
    body = client.get("/ready", headers={"X-API-Key": _key(client, "analyst")}).json()
    assert body["checks"]["database"]["ok"] is True and "writable" in body["checks"]["database"]["detail"]
    assert body["checks"]["salesplan-deals"]["ok"] is False
    assert "salesplan-deals: not loaded" in body["detail"]


def test_unknown_route_is_problem_details(client: TestClient) -> None:
    res = client.get("/api/v1/nothing")
    assert res.status_code == 404
    assert res.json()["title"] == "Not found" and res.json()["instance"] == "/api/v1/nothing"


def test_401_vs_403(client: TestClient) -> None:
    assert client.get("/api/v1/models").status_code == 401
    assert client.get("/api/v1/models", headers={"Authorization": "Bearer sp_nothing"}).status_code == 401
    crm = _key(client, "crm")
    res = client.get("/api/v1/models", headers={"Authorization": f"Bearer {crm}"})
    assert res.status_code == 403 and "role 'crm' may not" in res.json()["detail"]
    admin = _key(client, "admin")
    res = client.get("/api/v1/models", headers={"X-API-Key": admin})
    assert res.status_code == 200 and res.json()["salesplan-deals"]["loaded"] is False


def test_revoked_key_fails_once_the_key_sync_has_run(client: TestClient) -> None:
    admin = _key(client, "admin")
    headers = {"Authorization": f"Bearer {admin}"}
    assert client.get("/api/v1/models", headers=headers).status_code == 200
    services = client.app.state.services  # type: ignore[attr-defined]
    with services.session(write=True) as session:
        ApiKeyRepository(session).revoke(admin.split("_")[1])
    services.sync_keys()  # what the key-sync thread does every 0.25 s
    assert client.get("/api/v1/models", headers=headers).status_code == 401


def test_body_size_limit(client: TestClient) -> None:
    admin = _key(client, "admin")
    res = client.post("/api/v1/models/reload", content=b"x" * 5_000, headers={"X-API-Key": admin})
    assert res.status_code == 413 and res.json()["title"] == "Request too large"


def test_reload_without_registry_keeps_service_up(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty-mlruns.db'}")
    admin = _key(client, "admin")
    client.app.state.services.models.timeout_s = 120  # type: ignore[attr-defined]  # first use creates the store
    res = client.post("/api/v1/models/reload", headers={"X-API-Key": admin})
    assert res.status_code == 200
    assert "train one first" in res.json()["outcome"]["salesplan-deals"]
    assert client.get("/health").status_code == 200
