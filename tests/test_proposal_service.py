"""One proposal workflow: a proposal created through the CLI changes and reads back the same through the
API and vice versa, with its own settings (over-assignment, levels); stored parameters have one versioned
shape, and migration 0002 converts the two older ones."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from alembic import command
from fastapi.testclient import TestClient
from serving_world import World, build_world, make_keys, mlflow_env, settings_for, world_dir
from sqlalchemy import text
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.cli._common import console
from salesplan.config import get_settings
from salesplan.planning.proposals import ProposalRequest
from salesplan.serving.app import create_app
from salesplan.serving.db.engine import (
    alembic_config,
    head_revision,
    make_engine,
    migrate,
    session_factory,
)
from salesplan.serving.db.proposal_parameters import SCHEMA, ProposalParameters
from salesplan.serving.db.repository import ProposalRepository
from salesplan.serving.routers.proposal_models import proposal_out

runner = CliRunner()
ID_RE = re.compile(r"stored proposal ([0-9a-f-]{36})")


def _cli(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


def _children_ok(rows: list[dict[str, Any]], oa: float) -> None:
    """Every parent's children sum to the parent, × (1 + oa) where they are leaves (the over-assignment
    is applied once), to the cent per child."""
    by_id = {r["unit_id"]: r for r in rows}
    parents = {r["parent_id"] for r in rows if r["parent_id"]}
    for parent in parents:
        kids = [r for r in rows if r["parent_id"] == parent]
        rate = 1 + oa if not {k["unit_id"] for k in kids} & parents else 1.0
        total = sum(k["target"] for k in kids)
        assert total == pytest.approx(by_id[parent]["target"] * rate, abs=0.011 * len(kids)), parent


# ------------------------------------------------------------------------------------ CLI ↔ API, one store
@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    """The API and the CLI on one database and one MLflow store (the serving test world)."""
    world: World = build_world(world_dir(tmp_path_factory))
    tmp = tmp_path_factory.mktemp("one-workflow")
    settings = settings_for(world, tmp)
    with pytest.MonkeyPatch.context() as mp, mlflow_env(world):
        mp.setenv("SALESPLAN_DATABASE_URL", settings.database_url)
        mp.setattr(console, "_width", 200)  # wide tables: the console may exist already, sized at import
        get_settings.cache_clear()
        with TestClient(create_app(settings)) as client:
            yield client, make_keys(client.app.state.services), tmp  # type: ignore[attr-defined]
    get_settings.cache_clear()


def test_cli_created_proposal_is_overridden_by_the_api_and_reads_back_the_same(
    both: tuple[TestClient, dict[str, str], Path],
) -> None:
    client, keys, tmp = both
    out = _cli(["plan", "targets", "--quarter", "2027Q1", "--by", "region,store", "--over-assignment", "0.05",
                "--out", str(tmp / "cli"), "--author", "cli-planner"])  # fmt: skip
    pid = ID_RE.search(out).group(1)  # type: ignore[union-attr]
    url = f"/api/v1/targets/proposals/{pid}"
    p = client.get(url, headers={"X-API-Key": keys["analyst"]}).json()
    assert p["parameters"]["by"] == ["region", "store"] and p["parameters"]["over_assignment"] == 0.05
    assert (
        p["measure"] == "units" and len(p["months"]) == 3 and p["company"]["target"] == p["rows"][0]["target"]
    )
    # weekly data: weekly phasing too, every unit's weeks adding up to its quarter (#19)
    assert p["weeks"] and all(
        sum(r["weekly"].values()) == pytest.approx(r["target"], abs=0.011) for r in p["rows"]
    )
    shown = _cli(["plan", "show", pid, "--weekly"])
    assert "weekly targets (14 weeks" in shown and p["weeks"][0] in shown
    region = next(r for r in p["rows"] if r["level"] == "region")
    patched = client.patch(
        url,
        json={"version": 1, "overrides": {region["unit_id"]: round(region["target"] * 0.8, 2)}},
        headers={"X-API-Key": keys["planner"]},
    )
    assert patched.status_code == 200, patched.text  # a CLI draft is a draft like any other
    q = patched.json()
    assert q["version"] == 2
    _children_ok(q["rows"], 0.05)  # the proposal's own over-assignment, not a default
    assert all(sum(r["weekly"].values()) == pytest.approx(r["target"], abs=0.011) for r in q["rows"])
    moved = next(r for r in q["rows"] if r["unit_id"] == region["unit_id"])
    assert moved["p_hit"] > region["p_hit"]  # same model runs: the moved unit is priced again

    shown = _cli(["plan", "show", pid[:8], "--csv", str(tmp / "shown.csv")])
    assert f"proposal {pid}: 2027Q1 by region,store" in shown and "version 2" in shown
    csv = pd.read_csv(tmp / "shown.csv").set_index("unit_id")
    for r in q["rows"]:
        assert csv.loc[r["unit_id"], "target"] == pytest.approx(r["target"], abs=0.005)
    assert "region,store" in _cli(["plan", "list", "--quarter", "2027Q1"])
    newest = client.get("/api/v1/targets/proposals", headers={"X-API-Key": keys["analyst"]}).json()
    latest = newest["items"][0]["id"]
    assert f"proposal {latest}:" in _cli(["plan", "show", "latest"])  # the word the README uses
    got = client.get("/api/v1/targets/proposals/latest", headers={"X-API-Key": keys["analyst"]})
    assert got.status_code == 200 and got.json()["id"] == latest
    refused = runner.invoke(app, ["plan", "approve", "latest", "--by", "someone"])
    assert refused.exit_code == 1 and "'latest' only names one to read" in refused.output


def test_api_created_proposal_is_overridden_by_the_cli_with_its_own_settings(
    both: tuple[TestClient, dict[str, str], Path],
) -> None:
    client, keys, _ = both
    body = {"quarter": "2027Q1", "by": ["region", "store"], "over_assignment": 0.02, "method": "top_down"}
    res = client.post("/api/v1/targets/proposals", json=body, headers={"X-API-Key": keys["planner"]})
    assert res.status_code == 201, res.text
    p = res.json()
    stores = [r for r in p["rows"] if r["level"] == "store"]
    store = next(
        r for r in stores if sum(s["parent_id"] == r["parent_id"] for s in stores) > 1
    )  # has siblings
    new = round(store["target"] * 1.3, 2)
    out = _cli(
        ["plan", "override", p["id"], "--unit", store["unit_id"], "--target", str(new), "--by", "lead"]
    )
    assert "version 2" in out and "by region,store" in out
    q = client.get(f"/api/v1/targets/proposals/{p['id']}", headers={"X-API-Key": keys["analyst"]}).json()
    assert q["version"] == 2 and q["parameters"]["over_assignment"] == 0.02
    got = {r["unit_id"]: r for r in q["rows"]}
    assert got[store["unit_id"]]["target"] == new and got[store["unit_id"]]["overridden"]
    _children_ok(q["rows"], 0.02)
    assert got[store["unit_id"]]["p_hit"] < store["p_hit"]  # priced again by the CLI, from the registry
    xlsx = client.get(
        f"/api/v1/targets/proposals/{p['id']}:export", params={"format": "xlsx"},
        headers={"X-API-Key": keys["analyst"]},
    )  # fmt: skip
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    sheet = pd.read_excel(pd.io.common.BytesIO(xlsx.content), sheet_name="targets").set_index("unit_id")
    assert sheet.loc[store["unit_id"], "target"] == pytest.approx(new)

    assert "approved" in _cli(["plan", "approve", p["id"][:8], "--by", "director"])
    approved = client.get(f"/api/v1/targets/proposals/{p['id']}", headers={"X-API-Key": keys["analyst"]})
    assert approved.json()["status"] == "approved" and approved.json()["approved_by"] == "director"


def test_the_slider_and_the_cli_price_a_target_alike(both: tuple[TestClient, dict[str, str], Path]) -> None:
    client, keys, _ = both
    curve = client.get(
        "/api/v1/targets/curve", params={"quarter": "2027Q1", "by": "region,store"},
        headers={"X-API-Key": keys["planner"]},
    ).json()  # fmt: skip
    at_60 = next(r["target"] for r in curve["rows"] if r["p_hit"] == pytest.approx(0.6))
    services = client.app.state.services  # type: ignore[attr-defined]
    p, _ = services.proposals.implied_probability("2027Q1", ["region", "store"], "sellout", "total", at_60)
    assert p == pytest.approx(0.6, abs=1e-6)


# ------------------------------------------------------------------------------------------ the migration
def test_migration_0002_converts_both_older_shapes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url, create=True)  # an old database, as an earlier salesplan left it
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
    cli_params = {  # what `plan targets` stored before schema 2: flat
        "quarter": "2027Q1", "by": ["region", "team", "rep"], "domain": "bookings", "mode": "probability",
        "probability": 0.6, "growth": None, "value": None, "over_assignment": 0.1, "max_change": None,
        "floors": {}, "caps": {}, "ramp": [0.25, 0.5, 0.75, 1.0], "measure": "won_value",
        "months": ["2027-01", "2027-02", "2027-03"], "last_period": "2026Q4", "company_target": 1000.0,
        "company_p_hit": 0.6, "binding_units": 0,
    }  # fmt: skip
    api_params = {  # what the API stored: request / plan / summary, no schema
        "request": {"quarter": "2027Q1", "by": ["region", "store"], "domain": "sellout", "mode": "growth",
                    "probability": 0.6, "growth": 0.08, "value": None, "method": "top_down",
                    "over_assignment": 0.05, "max_change": None, "floors": {}, "caps": {}, "ramp": [1.0],
                    "overrides": {}},
        "plan": {"measure": "units", "months": ["2027-01", "2027-02", "2027-03"], "last_period": "2026Q4"},
        "summary": {"company": {"unit_id": "total", "target": 500.0}, "measure": "units",
                    "months": ["2027-01", "2027-02", "2027-03"], "curve": [], "fairness": {}},
    }  # fmt: skip
    now = "2026-12-01 10:00:00"
    with engine.begin() as c:
        for pid, params, models in (
            ("cli-made", cli_params, {"salesplan-deals": "4"}),
            ("api-made", api_params, {"salesplan-forecast": {"version": "2", "run_id": "r2"}}),
        ):
            c.execute(
                text(
                    "INSERT INTO proposals (id, quarter, method, parameters, input_models, status, author, "
                    "created_at, updated_at, version) VALUES (:id, '2027Q1', 'blended', :p, :m, 'draft', 'x', "
                    ":t, :t, 1)"
                ),
                {"id": pid, "p": json.dumps(params), "m": json.dumps(models), "t": now},
            )
            c.execute(
                text(
                    "INSERT INTO proposal_rows (proposal_id, position, level, unit_id, parent_id, target, "
                    "forecast_q50, p_hit, phasing, overridden) VALUES (:id, 0, 'total', 'total', NULL, 1000, "
                    "900, 0.6, '{}', 0)"
                ),
                {"id": pid},
            )
    assert migrate(engine) == head_revision()
    with session_factory(engine).begin() as session:
        repo = ProposalRepository(session)
        cli_p, api_p = repo.get("cli-made"), repo.get("api-made")
    engine.dispose()
    for p in (cli_p, api_p):
        assert p.parameters["schema"] == SCHEMA
        assert all(isinstance(v, dict) and "version" in v for v in p.input_models.values())
        assert proposal_out(p).parameters["quarter"] == "2027Q1"  # the API reads it
    c2, a2 = ProposalParameters.from_json(cli_p.parameters), ProposalParameters.from_json(api_p.parameters)
    assert c2.request == ProposalRequest(
        quarter="2027Q1", by=("region", "team", "rep"), domain="bookings", over_assignment=0.1
    )
    assert c2.measure == "won_value" and c2.months == ["2027-01", "2027-02", "2027-03"]
    assert c2.summary["company"]["target"] == 1000.0 and c2.summary["company"]["forecast_q50"] == 900.0
    assert cli_p.input_models == {"salesplan-deals": {"version": "4", "run_id": None}}
    # built before schema 2, their over-assignment compounded at every level: re-balancing keeps that
    assert c2.over_assignment_by_level == {"region": 0.1, "team": 0.1, "rep": 0.1}
    assert (a2.request.mode, a2.request.growth, a2.request.over_assignment) == ("growth", 0.08, 0.05)
    assert a2.request.method == "top_down" and a2.plan["last_period"] == "2026Q4"


def test_a_target_under_the_p_hit_floor_needs_the_approvers_reason(
    both: tuple[TestClient, dict[str, str], Path],
) -> None:
    """Through either door: a store pushed far above its forecast (P(hit) ≈ 0) blocks approval without a
    reason; with one it is approved and the reason is in the proposal's history."""
    client, keys, _ = both
    body = {"quarter": "2027Q1", "by": ["region", "store"], "method": "top_down"}
    p = client.post("/api/v1/targets/proposals", json=body, headers={"X-API-Key": keys["planner"]}).json()
    assert p["plan"]["below_floor"]["floor"] == 0.3 and p["plan"]["below_floor"]["count"] == 0
    stores = [r for r in p["rows"] if r["level"] == "store"]
    store = next(r for r in stores if sum(s["parent_id"] == r["parent_id"] for s in stores) > 1)
    url = f"/api/v1/targets/proposals/{p['id']}"
    big = {"version": 1, "overrides": {store["unit_id"]: round(store["target"] * 1.6, 2)}}
    patched = client.patch(url, json=big, headers={"X-API-Key": keys["planner"]})
    assert patched.status_code == 200, patched.text
    q = patched.json()
    assert next(r for r in q["rows"] if r["unit_id"] == store["unit_id"])["p_hit"] < 0.3
    refused = client.post(f"{url}:approve", json={"version": 2}, headers={"X-API-Key": keys["admin"]})
    assert refused.status_code == 422 and "under the 30% floor" in refused.json()["detail"]
    assert store["unit_id"] in refused.json()["detail"] and "reason" in refused.json()["detail"]
    res = runner.invoke(app, ["plan", "approve", p["id"], "--by", "director"])  # the CLI refuses alike
    assert res.exit_code == 1 and "under the 30% floor" in res.output and "Traceback" not in res.output
    why = "the new flagship store opens in January"
    ok = client.post(
        f"{url}:approve", json={"version": 2, "reason": why}, headers={"X-API-Key": keys["admin"]}
    )
    assert ok.status_code == 200, ok.text
    history = client.get(f"{url}/history", headers={"X-API-Key": keys["analyst"]}).json()
    approval = [e for e in history["entries"] if e["action"] == "proposal.approve"]
    assert len(approval) == 1 and approval[0]["reason"] == why
