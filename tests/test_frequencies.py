"""Quarterly and yearly sell-out end to end: written and read back through the contract, backtested and
registered by the training job at its own frequency, its batch holding every level at that frequency and
the coarser ones (never finer: quarters → years), coherent, with the mean inside its own P10–P90, and
served by the API and the CLI. The yearly world has short series (launches: 4 to 9 years), none dropped.
Small simulated worlds and a cheap blend, one training per frequency for the module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow_template import work_in_fresh_store
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.contracts import validate_sellout
from salesplan.io import read_table
from salesplan.models.forecast import Naive, WindowAverage
from salesplan.models.hierarchy import aggregate, bottom_level
from salesplan.serving.app import create_app
from salesplan.serving.settings import ServingSettings
from salesplan.simulator import SimConfig, simulate
from salesplan.training.forecast_job import alive, train_forecast

pytestmark = pytest.mark.slow  # two training runs (a few seconds each) and two service starts
runner = CliRunner()
CASES = {"Q": (4, ["Q", "Y"]), "Y": (2, ["Y"])}  # backtest horizon (short worlds), frequencies served


@pytest.fixture(scope="module", params=["Q", "Y"])
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    freq = str(request.param)
    tmp = tmp_path_factory.mktemp(f"freq-{freq}")
    world = simulate(SimConfig(seed=6, n_products=3, n_stores=2, freq=freq))
    world.write(tmp / "data")
    spec = world.sellout.spec
    back = validate_sellout(read_table(tmp / "data" / "sellout.parquet"), spec, source="sellout.parquet")
    pd.testing.assert_frame_equal(back, world.sellout.df)
    data = world.sellout
    with pytest.MonkeyPatch.context() as mp:
        work_in_fresh_store(mp, tmp)
        h = CASES[freq][0]
        params = {"members": [WindowAverage(window_size=2), Naive()]}
        result = train_forecast(data, h=h, n_origins=2, params=params, source="sim", future=world.future)
        mlflow.end_run()
        yield {"freq": freq, "world": world, "result": result, "tmp": tmp}


def test_the_job_trains_and_logs_every_level_at_its_frequency_and_coarser(trained: dict[str, Any]) -> None:
    freq, world, result = trained["freq"], trained["world"], trained["result"]
    assert result.batch is not None and result.batch_status.startswith("logged")
    info = result.batch.info
    assert info["freq"] == freq and info["freqs"] == CASES[freq][1] and info["point"] == "mean"
    assert result.backtest.h == CASES[freq][0] and "mase" in result.overall
    fc, hist = result.batch.forecast, result.batch.history
    assert list(dict.fromkeys(fc["freq"])) == CASES[freq][1] == list(dict.fromkeys(hist["freq"]))
    live = set(alive(world.sellout.df)["unique_id"])
    bottom = bottom_level(world.sellout.spec.hierarchy).name
    assert set(fc.loc[fc["level"] == bottom, "unique_id"]) == live  # short series too: none dropped
    labels = fc.loc[fc["level"] == bottom, "method"]  # which member(s) made each series' forecast
    assert labels.str.contains("WindowAverage|Naive|cold start").all(), labels.unique()
    inside = (fc["q10"] <= fc["yhat"] + 1e-9) & (fc["yhat"] <= fc["q90"] + 1e-9)
    assert inside.all(), fc.loc[~inside]
    h = world.sellout.spec.hierarchy
    for f in CASES[freq][1]:
        part = fc[fc["freq"] == f]
        again = aggregate(part[part["level"] == bottom][["unique_id", "period", "yhat"]], h, ["yhat"],
                          keys=world.sellout.df, time_col="period")  # fmt: skip
        m = part.merge(again, on=["unique_id", "period", "level"], suffixes=("", "_sum"), validate="1:1")
        np.testing.assert_allclose(m["yhat"], m["yhat_sum"], rtol=1e-9)
    if freq == "Q":  # quarters add up to their years at every level
        q = fc[fc["freq"] == "Q"].assign(year=lambda d: d["ds"].dt.year.astype(str))
        y = fc[(fc["freq"] == "Y") & (fc["coverage"] >= 1 - 1e-9)].set_index(["unique_id", "period"])["yhat"]
        sums = q.groupby(["unique_id", "year"])["yhat"].sum()
        np.testing.assert_allclose(y.to_numpy(), sums.loc[y.index].to_numpy(), rtol=1e-9)


@pytest.fixture(scope="module")
def client(trained: dict[str, Any]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from serving_world import make_keys

    from salesplan.serving.db.engine import migrate

    tmp = trained["tmp"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlruns.db'}")
        settings = ServingSettings(database_url=f"sqlite:///{tmp / 'app.db'}", model_cache_dir=tmp / "cache")
        migrate(settings.database_url)  # what 'salesplan db upgrade' does before a first start
        with TestClient(create_app(settings)) as c:
            yield c, make_keys(c.app.state.services)  # type: ignore[attr-defined]


def test_the_api_serves_the_frequencies_the_batch_has(trained: dict[str, Any], client: Any) -> None:
    c, keys = client
    freq, served = trained["freq"], CASES[trained["freq"]][1]
    hp = {"X-API-Key": keys["planner"]}
    levels = c.get("/api/v1/forecasts/levels", headers=hp).json()
    assert levels["freq"] == freq and levels["freqs"] == served and levels["bottom"] == "store/product"
    total = c.get("/api/v1/forecasts", params={"level": "total"}, headers=hp).json()
    assert total["freq"] == freq and total["rows"] and total["history"]
    assert all(r["q10"] <= r["yhat"] <= r["q90"] for r in total["rows"])
    year = c.get("/api/v1/forecasts", params={"level": "region", "freq": "Y"}, headers=hp).json()
    assert (
        year["freq"] == "Y"
        and {r["period"][:4] for r in year["rows"]}
        and year["rows"][0]["period"].isdigit()
    )
    finer = c.get("/api/v1/forecasts", params={"freq": "M"}, headers=hp)
    assert finer.status_code == 422 and "never split into finer periods" in finer.json()["detail"]


def test_the_cli_writes_the_batch_at_its_frequencies(
    trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, freq = trained["tmp"], trained["freq"]
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlruns.db'}")
    res = runner.invoke(app, ["forecast", "--out", "f.csv", "--h", "1"])
    assert res.exit_code == 0, res.output
    fc = pd.read_csv(tmp / "f.csv")
    assert list(dict.fromkeys(fc["freq"])) == CASES[freq][1]
    assert fc[fc["freq"] == freq]["ds"].nunique() == 1  # --h 1: one period at the data's frequency
    res = runner.invoke(app, ["forecast", "--out", "f.csv", "--freq", "W"])
    assert res.exit_code == 1 and "never split into finer periods" in res.output
    # the user's own file, read at the model's frequency with its hierarchy; past the batch: refit
    spec, more = trained["world"].sellout.spec, int(trained["result"].batch.info["horizon"]) + 1
    cols = {"--promo-cols": spec.promo_cols, "--exog-cols": spec.exog_cols, "--static-cols": spec.static_cols}
    args = [a for k, v in cols.items() for a in (k, ",".join(v))]
    path = str(tmp / "data" / "sellout.parquet")
    res = runner.invoke(app, ["forecast", "--data", path, "--out", "g.csv", "--h", str(more), *args])
    assert res.exit_code == 0 and "refit on sellout" in res.output, res.output
    g = pd.read_csv(tmp / "g.csv")
    assert g[g["freq"] == freq]["ds"].nunique() == more and set(g["level"]) == set(fc_levels(trained))
    assert ((g["q10"] <= g["yhat"] + 1e-9) & (g["yhat"] <= g["q90"] + 1e-9)).all()


def fc_levels(trained: dict[str, Any]) -> list[str]:
    return list(trained["result"].batch.info["levels"])
