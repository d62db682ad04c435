"""One what-if, two doors: ``salesplan forecast what-if`` and ``POST /api/v1/forecasts/what-if`` run the same
scenario through ``models.forecast.whatif`` on the same champion and batch future, so they must agree on the
weeks, the changed series, the siblings (category × store) and every total, including the units the
siblings lose to the promotion (the API used to answer ``siblings_diff: 0.0`` there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_world import World, build_world, make_keys, mlflow_env, settings_for, world_dir
from typer.testing import CliRunner

from salesplan.cli import app as cli_app
from salesplan.serving.app import create_app

pytestmark = pytest.mark.slow  # shares the trained serving world (about a minute when built here)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(world_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def client(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with mlflow_env(world), TestClient(create_app(settings_for(world, tmp_path_factory.mktemp("wi")))) as c:
        yield c


@pytest.fixture(scope="module")
def analyst(client: TestClient) -> dict[str, str]:
    return {"X-API-Key": make_keys(client.app.state.services)["analyst"]}  # type: ignore[attr-defined]


def _scenario(client: TestClient) -> tuple[str, pd.Timestamp, pd.Timestamp]:
    """The best-selling bottom series that has siblings (other products of its category in its store)
    and two planned weeks in a row without a promotion (a promotion there is a real change; on a slow
    seller the lift drowns in the model's noise)."""
    batch = client.app.state.services.models.batch()  # type: ignore[attr-defined]
    fc = batch.forecast
    bottom = list(batch.info["levels"])[-1]  # store/product: the ids a what-if takes
    sales = fc[(fc["level"] == bottom) & (fc["freq"] == "W")].groupby("unique_id")["yhat"].sum()
    fut = batch.future.assign(unique_id=batch.future["unique_id"].astype(str))
    fut = fut.assign(ds=pd.to_datetime(fut["ds"])).sort_values("ds")
    hier = batch.info["hierarchy"]
    group = fut.groupby("unique_id")[[hier["product"][-2], hier["geo"][-1]]].first()
    size = group.groupby(list(group.columns))[group.columns[0]].transform("size")
    for uid in sales[sales.index.isin(size[size > 1].index)].sort_values(ascending=False).index.astype(str):
        plan = fut[fut["unique_id"] == uid]
        quiet = (plan["promo"].to_numpy() == 0) & (plan["promo"].shift(-1).to_numpy() == 0)
        if quiet.any():
            w0 = pd.Timestamp(plan["ds"].to_numpy()[quiet.argmax()])
            return str(uid), w0, w0 + pd.Timedelta(weeks=1)
    raise AssertionError("no series with two quiet planned weeks")


def test_cli_and_api_give_the_same_what_if(
    client: TestClient, analyst: dict[str, str], world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid, w0, w1 = _scenario(client)
    # mid-week to mid-week: both doors count the two weeks the range touches
    start, end = (
        (w0 + pd.Timedelta(days=2)).date().isoformat(),
        (w1 + pd.Timedelta(days=3)).date().isoformat(),
    )
    body: dict[str, Any] = {"ids": [uid], "start": start, "end": end, "promo": 1, "promo_depth": 0.25}
    res = client.post("/api/v1/forecasts/what-if", json=body, headers=analyst)
    assert res.status_code == 200, res.text
    api = res.json()

    monkeypatch.chdir(tmp_path)
    with mlflow_env(world):
        args = ["forecast", "what-if", "--ids", uid, "--start", start, "--end", end]
        run = CliRunner().invoke(cli_app, [*args, "--promo", "1", "--promo-depth", "0.25", "--out", "w.csv"])
    assert run.exit_code == 0, run.output
    cli = pd.read_csv(tmp_path / "w.csv", parse_dates=["ds"])

    weeks = [w0.date().isoformat(), w1.date().isoformat()]
    assert api["weeks"] == weeks and sorted(cli["ds"].dt.date.astype(str).unique()) == weeks
    rows = pd.DataFrame(api["rows"])
    assert set(rows.loc[rows["changed"], "unique_id"]) == set(cli.loc[cli["changed"], "unique_id"]) == {uid}
    api_sibs, cli_sibs = (set(f.loc[~f["changed"], "unique_id"]) for f in (rows, cli))
    assert api_sibs == cli_sibs and api_sibs, "siblings: the same category and store, from both doors"
    mine = cli[cli["changed"]]
    s = api["summary"]
    assert s["baseline"] == pytest.approx(mine["baseline"].sum(), rel=1e-9)
    assert s["scenario"] == pytest.approx(mine["scenario"].sum(), rel=1e-9)
    assert s["scenario"] > s["baseline"] > 0  # a promotion with a 25 % cut sells more
    cli_sib_diff = float(cli.loc[~cli["changed"], "diff"].sum())
    assert s["siblings_diff"] == pytest.approx(cli_sib_diff, rel=1e-9, abs=1e-9)
    # siblings never gain from a sibling's promotion (GlobalLGBM's monotone sibling-share constraint); this
    # small world cannot show how much they lose: the history's 60 sibling-weeks with a category sibling on
    # promotion sold 173 units against 171 at the level of the weeks around them, so the learned loss is 0
    # here. The loss itself
    # is tested where the data show it: test_forecast_models.test_siblings_lose_units_to_a_promotion
    assert s["siblings_diff"] <= 0, "the siblings cannot gain units from the promoted series"
    assert f"{s['siblings_diff']:+.1f}" in run.output  # the CLI's "all siblings" total row
    per_row = rows.merge(cli.assign(ds=cli["ds"].dt.date.astype(str)), on=["unique_id", "ds"])
    assert len(per_row) == len(rows) == len(cli)
    assert (per_row["diff_x"] - per_row["diff_y"]).abs().max() < 1e-9
