"""Joint business plans through the API (``/api/v1/accounts``) on the shared serving world: the champion's
what-ifs for the promotion and price levers, four eyes on agreeing, a newer agreed version superseding the
older, exports read back, and problem details for an unknown account or bad input."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from serving_world import World, build_world, make_keys, mlflow_env, settings_for, world_dir

from salesplan.serving.app import create_app

pytestmark = pytest.mark.slow  # the shared world trains a forecaster (once per run)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    world: World = build_world(world_dir(tmp_path_factory))
    with mlflow_env(world), TestClient(create_app(settings_for(world, tmp_path_factory.mktemp("jbp")))) as c:
        yield c, make_keys(c.app.state.services)  # type: ignore[attr-defined]


def test_draft_agree_supersede_export(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    planner, admin = {"X-API-Key": keys["planner"]}, {"X-API-Key": keys["admin"]}
    accounts = c.get("/api/v1/accounts", headers=planner).json()["accounts"]
    assert accounts and {"account_id", "name", "segment", "outlets"} <= set(accounts[0])
    aid = accounts[0]["account_id"]
    body = {"levers": {"new_outlets": 1, "price_change": -0.05, "promo_weeks": 2}, "note": "Q1 push"}
    res = c.post(f"/api/v1/accounts/{aid}/jbp", json=body, headers=planner)
    assert res.status_code == 201, res.text
    v1 = res.json()
    plan = v1["plan"]
    levers = pd.DataFrame(plan["levers"])
    assert {"promotion", "price", "added outlets"} <= set(levers["lever"])  # the champion's what-ifs ran
    assert set(levers.loc[levers["lever"].isin(["promotion", "price"]), "source"]) == {"what-if"}
    q = pd.DataFrame(plan["quarters"])
    assert (q["baseline_p10"] <= q["baseline_p50"]).all() and (q["baseline_p50"] <= q["baseline_p90"]).all()
    assert q["levers"].sum() == pytest.approx(levers["revenue"].sum())
    assert v1["header"]["status"] == "draft" and 0 < v1["header"]["p_hit"] < 1
    own = c.post(f"/api/v1/accounts/{aid}/jbp/{v1['header']['id']}:agree", json={"signatory": "Buyer"},
                 headers=planner)  # fmt: skip
    assert own.status_code == 403 and "four eyes" in own.json()["detail"]
    ok = c.post(
        f"/api/v1/accounts/{aid}/jbp/{v1['header']['id']}:agree", json={"signatory": "Buyer"}, headers=admin
    )
    assert ok.status_code == 200 and ok.json()["status"] == "agreed"
    v2 = c.post(f"/api/v1/accounts/{aid}/jbp", json={}, headers=planner).json()["header"]
    assert v2["version"] == 2
    assert (
        c.post(
            f"/api/v1/accounts/{aid}/jbp/{v2['id'][:8]}:agree", json={"signatory": "B"}, headers=admin
        ).status_code
        == 200
    )
    got = c.get(f"/api/v1/accounts/{aid}/jbp", headers=planner).json()
    assert got["current"]["header"]["id"] == v2["id"]
    assert [(v["version"], v["status"]) for v in got["versions"]] == [(2, "agreed"), (1, "superseded")]
    assert got["versions"][1]["superseded_by"] == v2["id"]
    hist = c.get(f"/api/v1/accounts/{aid}/jbp/{v1['header']['id']}/history", headers=planner).json()[
        "entries"
    ]
    assert [e["action"] for e in hist] == ["jbp.create", "jbp.agree", "jbp.supersede"]
    assert hist[-1]["superseded_by"] == v2["id"] and hist[0]["actor_key_id"]
    review = c.get(f"/api/v1/accounts/{aid}/jbp/{v2['id']}/review", headers=planner)
    assert review.status_code == 200 and review.json()["quarters"][0]["status"] in (
        "not started",
        "on track",
        "at risk",
        "off track",
    )
    for fmt, check in (("csv", lambda b: pd.read_csv(io.BytesIO(b))["quarter"].notna().all()),
                       ("xlsx", lambda b: "levers" in load_workbook(io.BytesIO(b)).sheetnames),
                       ("html", lambda b: b.startswith(b"<!doctype html>") and b"http" not in b)):  # fmt: skip
        res = c.get(f"/api/v1/accounts/{aid}/jbp/{v2['id']}:export", params={"format": fmt}, headers=planner)
        assert res.status_code == 200 and check(res.content), fmt


def test_problems_for_unknown_account_and_bad_input(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    planner = {"X-API-Key": keys["planner"]}
    res = c.post("/api/v1/accounts/NOPE/jbp", json={}, headers=planner)
    assert res.status_code == 404 and "no account 'NOPE'" in res.json()["detail"]
    assert res.headers["content-type"].startswith("application/problem+json")
    assert c.get("/api/v1/accounts/NOPE/jbp", headers=planner).status_code == 404
    bad = c.post("/api/v1/accounts/A01/jbp", json={"levers": {"promo_depth": 2}}, headers=planner)
    assert bad.status_code == 422 and "promo_depth" in bad.text
    assert c.post("/api/v1/accounts/A01/jbp", json={"levers": {"wat": 1}}, headers=planner).status_code == 422
    assert c.get("/api/v1/accounts", headers={"X-API-Key": keys["crm"]}).status_code == 403
    assert (
        c.post("/api/v1/accounts/A01/jbp", json={}, headers={"X-API-Key": keys["analyst"]}).status_code == 403
    )
    missing = c.get("/api/v1/accounts/A01/jbp/00000000-0000-0000-0000-000000000000", headers=planner)
    assert missing.status_code == 404
