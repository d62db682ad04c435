"""The process analyses through the API (``/api/v1/process/...``, scope ``process:read``) and the CLI
(``salesplan process ...``), on one small simulated planning folder (no models needed)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.serving.app import create_app
from salesplan.serving.settings import ServingSettings
from salesplan.simulator import SimConfig, simulate

runner = CliRunner()


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("process-plan")
    simulate(SimConfig(seed=3, n_opportunities=800, n_reps=10, n_products=2, n_stores=2)).write(root / "plan")
    return root / "plan"


@pytest.fixture(scope="module")
def api(plan: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from serving_world import make_keys, upgraded

    tmp = tmp_path_factory.mktemp("process-api")
    settings = ServingSettings(database_url=upgraded(f"sqlite:///{tmp / 'app.db'}"), model_cache_dir=tmp / "cache",
                               load_models=False, planning_data=plan)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        yield c, make_keys(c.app.state.services)  # type: ignore[attr-defined]


def test_every_process_endpoint_answers(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    h = {"X-API-Key": keys["analyst"]}
    ready = c.get("/ready", headers=h).json()["checks"]["planning_data"]["parts"]
    assert "activities of" in ready["activities"]
    f = c.get("/api/v1/process/funnel", headers=h).json()
    assert [r["next_stage"] for r in f["rows"]][-3:] == ["First order", "Active 30d", "Active 90d"]
    assert all(r["ci_low"] <= r["rate"] <= r["ci_high"] for r in f["rows"])
    t = c.get("/api/v1/process/time-allocation", headers=h).json()
    assert (
        t["by"] == ["role", "stage", "location_group"]
        and abs(sum(r["share_of_hours"] for r in t["rows"]) - 1) < 1e-9
    )
    assert t["hours_by_outcome"]
    t2 = c.get("/api/v1/process/time-allocation", params={"by": "role,channel"}, headers=h).json()
    assert {r["channel"] for r in t2["rows"]} >= {"visit", "call", "message", "online"}
    ine = c.get("/api/v1/process/inefficiencies", params={"limit": 2}, headers=h).json()
    assert 0 < len(ine["findings"]) <= 2 and ine["findings"][0]["evidence"]["top_reps"]
    cad = c.get("/api/v1/process/cadence", headers=h).json()
    assert len(cad["standard"]) == 3 and cad["effect"]["odds_ratio"] > 1
    sc = c.get(
        "/api/v1/process/scorecards", params={"role": "AE", "sort": "bookings", "limit": 3}, headers=h
    ).json()
    assert sc["total"] >= 3 and len(sc["rows"]) == 3 and {r["role"] for r in sc["rows"]} == {"AE"}
    assert sc["rows"][0]["bookings"] >= sc["rows"][1]["bookings"] >= sc["rows"][2]["bookings"]
    rep = sc["rows"][0]["rep_id"]
    card = c.get(f"/api/v1/process/scorecards/{rep}", headers=h).json()
    assert card["card"]["role"] == "AE" and "bench_bookings" in card["card"]
    lead = c.get("/api/v1/process/scorecards", params={"role": "manager", "limit": 1}, headers=h).json()[
        "rows"
    ][0]
    card = c.get(f"/api/v1/process/scorecards/{lead['rep_id']}", headers=h).json()
    assert (
        card["card"]["reports"] > 0
        and card["card"]["team_attainment"] > 0
        and card["card"]["bookings"] is None
    )
    page = c.get(f"/api/v1/process/scorecards/{rep}/page", headers=h)
    assert (
        page.status_code == 200 and page.headers["content-type"].startswith("text/html") and rep in page.text
    )
    cap = c.get(
        "/api/v1/process/capacity", params={"target": 1_000_000, "quarter": "2027Q1"}, headers=h
    ).json()
    assert cap["staffing"]["hires_needed"] >= 0 and cap["hours_needed"] > 0 and len(cap["stages"]) == 4


def test_exports_and_errors(api: tuple[TestClient, dict[str, str]]) -> None:
    from openpyxl import load_workbook

    c, keys = api
    h = {"X-API-Key": keys["planner"]}
    csv = c.get("/api/v1/process/scorecards:export", headers=h)
    assert csv.status_code == 200 and "attachment" in csv.headers["content-disposition"]
    table = pd.read_csv(io.StringIO(csv.text))
    assert {"rep_id", "bookings", "bench_bookings", "action_1"} <= set(table.columns)
    xlsx = c.get("/api/v1/process/scorecards:export", params={"format": "xlsx"}, headers=h)
    assert load_workbook(io.BytesIO(xlsx.content)).sheetnames == ["Scorecards", "Role benchmarks", "Actions"]
    assert c.get("/api/v1/process/funnel", headers={"X-API-Key": keys["crm"]}).status_code == 403
    assert c.get("/api/v1/process/funnel").status_code == 401
    nobody = c.get("/api/v1/process/scorecards/nobody", headers=h)
    assert nobody.status_code == 404 and "no scorecard" in nobody.json()["detail"]
    bad = c.get("/api/v1/process/time-allocation", params={"by": "role,colour"}, headers=h)
    assert bad.status_code == 422 and "colour" in bad.json()["detail"]
    assert (
        c.get("/api/v1/process/capacity", params={"target": 1, "quarter": "Q1"}, headers=h).status_code == 422
    )


def test_without_activities_the_api_says_why(plan: Path, tmp_path: Path) -> None:
    import shutil

    from serving_world import make_keys, upgraded

    bare = tmp_path / "plan"
    shutil.copytree(plan, bare, ignore=shutil.ignore_patterns("activities"))
    settings = ServingSettings(database_url=upgraded(f"sqlite:///{tmp_path / 'app.db'}"),
                               model_cache_dir=tmp_path / "cache", load_models=False, planning_data=bare)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        keys = make_keys(c.app.state.services)  # type: ignore[attr-defined]
        res = c.get("/api/v1/process/funnel", headers={"X-API-Key": keys["analyst"]})
        assert (
            res.status_code == 503
            and "activities" in res.json()["detail"]
            and "no activities.csv" in res.json()["detail"]
        )
        assert (
            c.get("/api/v1/funnel", headers={"X-API-Key": keys["analyst"]}).status_code == 200
        )  # the rest still works


def test_cli_commands(plan: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["process", "funnel", "--data", str(plan)])
    assert res.exit_code == 0, res.output
    assert "Active 90d" in res.output
    res = runner.invoke(app, ["process", "inefficiencies", "--data", str(plan), "--top", "2"])
    assert res.exit_code == 0 and "could be saved" in res.output, res.output
    out = tmp_path / "cards"
    res = runner.invoke(app, ["process", "scorecards", "--data", str(plan), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "scorecards.csv").is_file() and (out / "scorecards.xlsx").is_file()
    assert len(list((out / "reps").glob("*.html"))) == len(pd.read_csv(out / "scorecards.csv"))
    res = runner.invoke(app, ["process", "capacity", "--data", str(plan), "--target", "1000000", "--quarter", "2027Q1",
                              "--hours-per-rep-month", "2"])  # fmt: skip
    assert res.exit_code == 0 and "time binds" in res.output, res.output
    res = runner.invoke(app, ["process", "report", "--data", str(plan), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0 and (tmp_path / "r.html").read_text().count("<h2>") >= 5
    res = runner.invoke(app, ["process", "funnel"])
    assert res.exit_code != 0 and "exactly one source" in res.output


def test_cli_reads_a_salesforce_export(plan: Path, tmp_path: Path) -> None:
    """An export with its own column names, mapped by a JSON column map onto the contract."""
    acts = pd.read_parquet(plan / "activities" / "activities.parquet")
    export = acts.rename(columns={"activity_id": "Id", "rep_id": "Owner", "opportunity_id": "Deal", "type": "Subject",
                                  "started_at": "When", "minutes": "Duration"}).drop(columns=["stage", "account_id"])  # fmt: skip
    export.to_csv(tmp_path / "tasks.csv", index=False)
    cmap = tmp_path / "map.json"
    cmap.write_text('{"Id": "activity_id", "Owner": "rep_id", "Deal": "opportunity_id", "Subject": "type", '
                    '"When": "started_at", "Duration": "minutes", "channel": "channel", "outcome": "outcome"}')  # fmt: skip
    res = runner.invoke(app, ["process", "funnel", "--data", str(plan), "--export", str(tmp_path / "tasks.csv"),
                              "--column-map", str(cmap)])  # fmt: skip
    # the export names managers and CSMs the CRM's reps do not know: the contract says so, cleanly
    assert res.exit_code != 0 and "rep not in reps" in res.output and "Traceback" not in res.output
