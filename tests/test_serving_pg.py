"""The API on PostgreSQL under concurrency: racing approvals and overrides of one proposal never lose an
update (exactly one writer per version wins, the others get 409), and a dead database is 503.

``pg_url`` (tests/conftest_pg.py) gives the server; each test works in its own schema."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_pg import fresh_schema
from fastapi.testclient import TestClient
from serving_world import World, build_world, make_keys, mlflow_env, settings_for, world_dir

from salesplan.serving.app import create_app
from salesplan.serving.db.repository import ProposalRepository

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(world_dir(tmp_path_factory))


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    with fresh_schema(pg_url) as url:
        yield url


@pytest.fixture
def client(world: World, pg_schema_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = settings_for(world, tmp_path, database_url=pg_schema_url)
    with mlflow_env(world), TestClient(create_app(settings)) as c:
        yield c


def _race(n: int, call: Any) -> dict[int, int]:
    """Run ``call(i)`` in ``n`` threads released together; status code per thread."""
    barrier = threading.Barrier(n, timeout=60)
    codes: dict[int, int] = {}

    def run(i: int) -> None:
        barrier.wait()
        codes[i] = call(i).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(codes) == n, "a request thread died"
    return codes


def test_racing_overrides_and_approvals_lose_no_update(client: TestClient) -> None:
    keys = make_keys(client.app.state.services)  # type: ignore[attr-defined]
    hp = {"X-API-Key": keys["planner"]}
    res = client.post(
        "/api/v1/targets/proposals", json={"quarter": "2027Q1", "by": ["region", "store"]}, headers=hp
    )
    assert res.status_code == 201, res.text
    p = res.json()
    pid, url = p["id"], f"/api/v1/targets/proposals/{p['id']}"
    stores = [r for r in p["rows"] if r["level"] == "store"]
    siblings = {r["parent_id"]: sum(s["parent_id"] == r["parent_id"] for s in stores) for r in stores}
    stores = [r for r in stores if siblings[r["parent_id"]] > 1]  # an only child cannot move alone
    assert stores
    n = 6
    for _ in range(2):  # each round every writer holds the same version; exactly one may win
        version = client.get(url, headers=hp).json()["version"]

        def override(i: int, version: int = version) -> Any:
            unit = stores[0]  # one unit: overriding its sibling too would leave the parent no free child
            body = {
                "version": version,
                "overrides": {unit["unit_id"]: round(unit["target"] * (0.8 + 0.01 * i), 2)},
            }
            return client.patch(url, json=body, headers=hp)

        codes = _race(n, override)
        assert sorted(codes.values()) == [200] + [409] * (n - 1), codes
    version = client.get(url, headers=hp).json()["version"]
    assert version == 3

    checker = {"X-API-Key": keys["admin"]}  # four eyes: the planner who made and edited it may not approve

    def approve_or_override(i: int) -> Any:
        if i % 2:
            return client.post(f"{url}:approve", json={"version": version}, headers=checker)
        unit = stores[0]
        return client.patch(url, json={"version": version, "overrides": {unit["unit_id"]: 1.0}}, headers=hp)

    codes = _race(n, approve_or_override)
    assert sorted(codes.values()) == [200] + [409] * (n - 1), codes
    final = client.get(url, headers=hp).json()
    assert final["version"] == 4
    with client.app.state.services.session() as session:  # type: ignore[attr-defined]
        history = ProposalRepository(session).history(pid)
    # create + one change per round: every accepted change is in the audit log, no silent overwrite
    assert [h.action for h in history][:3] == [
        "proposal.create",
        "proposal.replace_rows",
        "proposal.replace_rows",
    ]
    assert len(history) == 4 and [h.detail.get("to_version") for h in history[1:]] == [2, 3, 4]
    last = history[-1].action
    assert final["status"] == ("approved" if last == "proposal.approve" else "draft")


def test_dead_database_is_503_everywhere(world: World, tmp_path: Path) -> None:
    dead = "postgresql://nobody:nothing@127.0.0.1:1/none?connect_timeout=2"
    settings = settings_for(world, tmp_path, upgrade=False, database_url=dead)
    with mlflow_env(world), TestClient(create_app(settings)) as c:
        ready = c.get("/ready")
        assert ready.status_code == 503 and ready.json()["detail"] == "not ready"
        database = c.app.state.services.readiness()["database"]  # type: ignore[attr-defined]
        assert not database["ok"] and "unreachable" in database["detail"]
        res = c.get("/api/v1/me", headers={"X-API-Key": "sp_abcdefgh_" + "x" * 43})
        assert res.status_code == 503, res.text
        assert res.headers["content-type"].startswith("application/problem+json")
        assert "database unavailable" in res.json()["detail"]
        assert c.get("/health").status_code == 200
