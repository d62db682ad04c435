"""Selection and promotion planning through the API (``GET /api/v1/selection``, ``POST
/api/v1/promotions/plan``) and the CLI (``salesplan plan select``, ``salesplan plan promotions``) on the
shared serving world (trained champion with its batch, planning data with products and candidates)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_world import World, build_world, make_keys, mlflow_env, settings_for, world_dir
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.serving.app import create_app

pytestmark = pytest.mark.slow  # the shared world trains a forecaster (once per run)
runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(world_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def api(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with mlflow_env(world), TestClient(create_app(settings_for(world, tmp_path_factory.mktemp("sel")))) as c:
        yield c, make_keys(c.app.state.services)  # type: ignore[attr-defined]


def test_selection_ranks_and_picks(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    res = c.get("/api/v1/selection", params={"slots": 2}, headers={"X-API-Key": keys["analyst"]})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["level"] == "store/product" and 0 < body["coverage"] <= 1
    assert "planned price" in body["margin_source"]
    rank = pd.DataFrame(body["ranking"])
    assert rank["contribution"].is_monotonic_decreasing
    assert (rank["contribution_p10"] <= rank["contribution"] + 1e-9).all()
    assert (rank["contribution"] <= rank["contribution_p90"] + 1e-9).all()
    picks = pd.DataFrame(body["picks"])
    assert picks.groupby("market").size().max() <= 2 and picks["reason"].str.contains("expected margin").all()
    assert body["expected_margin"] == pytest.approx(picks["contribution"].sum())
    top2 = rank[rank["rank"] <= 2]
    assert set(picks["unique_id"]) == set(top2.loc[top2["contribution"] > 0, "unique_id"])  # no other rule


def test_selection_refuses_bad_requests(api: tuple[TestClient, dict[str, str]]) -> None:
    c, keys = api
    bad = c.get(
        "/api/v1/selection",
        params={"market": "region", "product": "nope"},
        headers={"X-API-Key": keys["planner"]},
    )
    assert bad.status_code in (400, 422) and "no forecast level is keyed by" in bad.json()["detail"]
    assert c.get("/api/v1/selection", headers={"X-API-Key": keys["crm"]}).status_code == 403
    agg = c.get("/api/v1/selection", params={"market": "region", "product": "category", "margin_rate": 0.3},
                headers={"X-API-Key": keys["planner"]})  # fmt: skip
    assert agg.status_code == 200 and agg.json()["level"] == "region/category"


def test_promotion_plan_keeps_the_budget(api: tuple[TestClient, dict[str, str]], world: World) -> None:
    c, keys = api
    cands = pd.read_csv(world.plan / "promotion_candidates.csv")
    res = c.post("/api/v1/promotions/plan", json={"budget": 50.0}, headers={"X-API-Key": keys["planner"]})
    assert res.status_code == 200, res.text
    body = res.json()
    table = pd.DataFrame(body["candidates"])
    assert len(table) == len(cands) and set(table["candidate_id"]) == set(cands["candidate_id"])
    assert body["spend"] <= 50.0 + 1e-9 and body["spend"] == pytest.approx(
        table.loc[table["chosen"], "cost"].sum()
    )
    assert (table.loc[table["chosen"], "incremental_margin"] > 0).all()
    assert table["reason"].str.len().gt(10).all() and len(body["dip"]) == 2
    one = cands.iloc[:1].rename(columns={"region": "market"})[
        ["candidate_id", "market", "product", "start", "weeks", "depth", "cost"]
    ]
    unknown = one.assign(product="P999").to_dict("records")
    miss = c.post(
        "/api/v1/promotions/plan",
        json={"budget": 10, "candidates": unknown},
        headers={"X-API-Key": keys["planner"]},
    )
    assert miss.status_code == 404 and "P999" in miss.json()["detail"]


def test_cli_select_and_promotions(world: World, tmp_path: Path) -> None:
    out = tmp_path / "sel.csv"
    with mlflow_env(world):
        r = runner.invoke(
            app,
            [
                "plan",
                "select",
                "--products",
                str(world.plan / "products.csv"),
                "--slots",
                "1",
                "--out",
                str(out),
            ],
        )
        assert r.exit_code == 0, r.output
        assert "featured portfolio" in r.output and out.exists() and (tmp_path / "sel_picks.csv").exists()
        picks = pd.read_csv(tmp_path / "sel_picks.csv")
        assert picks.groupby("market").size().max() == 1
        bad = runner.invoke(
            app, ["plan", "select", "--market", "store", "--product", "store", "--margin-rate", "0.2"]
        )
        assert bad.exit_code != 0 and "two different columns" in bad.output
        cands = pd.read_csv(world.plan / "promotion_candidates.csv").iloc[:1]
        cands.to_csv(tmp_path / "one.csv", index=False)
        r = runner.invoke(app, ["plan", "promotions", "--data", str(world.plan), "--candidates", str(tmp_path / "one.csv"),
                                "--budget", "1000", "--out", str(tmp_path / "plan.csv")])  # fmt: skip
        assert r.exit_code == 0, r.output
        assert "promotion plan" in r.output and len(pd.read_csv(tmp_path / "plan.csv")) == 1
