"""``salesplan forecast`` (every level from the champion's batch) and ``salesplan forecast what-if``.
One small simulated world and a cheap blend with a small LightGBM member (what-if needs price/promotion
effects) trained once for the module keep it fast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow_template import work_in_fresh_store
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.contracts import QUANTILES, quantile_cols
from salesplan.models.forecast import GlobalLGBM, WindowAverage
from salesplan.simulator import SimConfig, simulate
from salesplan.training.forecast_job import train_forecast

runner = CliRunner()
QCOLS = quantile_cols(QUANTILES)


@pytest.fixture(scope="module")
def world() -> Any:
    return simulate(SimConfig(seed=4, n_products=4, n_stores=3))


@pytest.fixture(scope="module")
def trained(world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("cli-forecast")
    with pytest.MonkeyPatch.context() as mp:
        work_in_fresh_store(mp, tmp)
        params = {"members": [WindowAverage(), GlobalLGBM(n_estimators=60)]}
        train_forecast(world.sellout, h=8, n_origins=2, params=params, source="sim", future=world.future)
        mlflow.end_run()
        yield tmp


@pytest.fixture
def store(trained: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(trained)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{trained / 'mlruns.db'}")
    return trained


def test_forecast_writes_every_level_and_frequency(store: Path) -> None:
    res = runner.invoke(app, ["forecast", "--model", "champion", "--h", "13", "--out", "f.parquet"])
    assert res.exit_code == 0, res.output
    assert "9 levels" in res.output and "batch of run" in res.output
    fc = pd.read_parquet(store / "f.parquet")
    levels = ["total", "region", "category", "store", "region/category", "product", "store/category"]
    assert set(fc["level"]) == {*levels, "region/product", "store/product"}
    assert set(fc["freq"]) == {"W", "M", "Q", "Y"} and set(QCOLS) <= set(fc.columns)
    assert (fc["q10"] <= fc["yhat"] + 1e-9).all() and (fc["yhat"] <= fc["q90"] + 1e-9).all()
    weeks = fc[fc["freq"] == "W"]
    assert weeks.groupby("unique_id").size().eq(13).all()
    assert weeks["ds"].min() == pd.Timestamp("2026-11-30") and weeks["ds"].max() == pd.Timestamp("2027-02-22")
    assert set(fc.loc[fc["freq"] == "Q", "period"]) == {"2026Q4", "2027Q1"}  # the quarters 13 weeks touch
    assert set(fc.loc[fc["freq"] == "M", "period"]) == {"2026-11", "2026-12", "2027-01", "2027-02"}
    assert set(fc.loc[fc["freq"] == "Y", "period"]) == {"2026", "2027"}
    assert fc["model_version"].eq("1").all()


def test_forecast_filters_frequencies_and_levels_to_csv(store: Path) -> None:
    res = runner.invoke(
        app, ["forecast", "--h", "4", "--freq", "Q", "--level", "total,region", "--out", "f.csv"]
    )
    assert res.exit_code == 0, res.output
    fc = pd.read_csv(store / "f.csv")
    assert set(fc["freq"]) == {"Q"} and set(fc["level"]) == {"total", "region"}
    assert fc["period"].tolist() == ["2026Q4", "2026Q4", "2026Q4"]


def test_forecast_errors_are_clean(store: Path) -> None:
    for args, text in (
        (["forecast", "--h", "40", "--out", "f.csv"], "covers 18 weeks"),
        (["forecast", "--out", "f.csv", "--level", "planet"], "unknown --level"),
        (["forecast", "--out", "f.csv", "--freq", "D"], "--freq"),
        (["forecast", "--model", "7", "--out", "f.csv"], "no model"),
        (["forecast"], "--out is required"),
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, (args, res.output)
        assert text in res.output and "Traceback" not in res.output, res.output


def _quiet_weeks(world: Any, uid: str, n: int) -> list[pd.Timestamp]:
    """``n`` consecutive planned weeks without a promotion for ``uid``."""
    plan = world.future[world.future["unique_id"] == uid].set_index("ds")["promo"]
    quiet = (plan == 0).rolling(n).sum() == n
    end = quiet[quiet].index[0]
    return list(plan.loc[:end].index[-n:])


def test_what_if_promotion_raises_the_forecast_and_shows_siblings(store: Path, world: Any) -> None:
    weeks = _quiet_weeks(world, "S01/P003", 2)
    args = ["forecast", "what-if", "--ids", "S01/P003", "--start", str(weeks[0].date())]
    args += ["--end", str(weeks[-1].date()), "--promo", "1", "--promo-depth", "0.2", "--out", "w.csv"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "S01/P004" in res.output and "sibling" in res.output and "lift %" in res.output
    rows = pd.read_csv(store / "w.csv", parse_dates=["ds"])
    mine = rows[rows["unique_id"] == "S01/P003"]
    assert mine["changed"].all() and set(mine["ds"]) == set(weeks)
    assert (mine["scenario"] > mine["baseline"]).all()  # promotion + 20 % price cut sell more
    sib = rows[rows["unique_id"] == "S01/P004"]
    assert len(sib) == len(weeks) and not sib["changed"].any()
    assert {"baseline", "scenario", "diff", "lift_pct"} <= set(rows.columns)


def test_what_if_price_cut_and_absolute_price(store: Path) -> None:
    base = [
        "forecast",
        "what-if",
        "--ids",
        "S01/P001,S02/P001",
        "--start",
        "2027-03-01",
        "--end",
        "2027-03-15",
    ]
    res = runner.invoke(app, [*base, "--price-change", "-30", "--out", "cut.csv"])
    assert res.exit_code == 0, res.output
    cut = pd.read_csv(store / "cut.csv")
    assert cut.loc[cut["changed"], "diff"].sum() > 0
    res = runner.invoke(app, [*base, "--price", "100", "--out", "dear.csv"])
    assert res.exit_code == 0, res.output
    dear = pd.read_csv(store / "dear.csv")
    assert dear.loc[dear["changed"], "diff"].sum() < 0


def test_what_if_errors_are_clean(store: Path) -> None:
    ok = ["--start", "2026-12-07", "--end", "2026-12-28"]
    for args, text in (
        (["--ids", "S01/P999", *ok, "--promo", "1"], "S01/P999"),
        (["--ids", "S01/P001", "--start", "2027-06-07", "--end", "2027-06-28", "--promo", "1"], "outside"),
        (["--ids", "S01/P001", *ok, "--price", "3.2", "--price-change", "-10"], "not both"),
        (["--ids", "S01/P001", *ok], "nothing to change"),
        (["--ids", "S01/P001", *ok, "--promo", "0", "--promo-depth", "0.2"], "needs promo 1"),
        (["--ids", "S01/P001", "--start", "soon", "--end", "2026-12-28", "--promo", "1"], "not a date"),
    ):
        res = runner.invoke(app, ["forecast", "what-if", *args])
        assert res.exit_code == 1, (args, res.output)
        assert text in res.output and "Traceback" not in res.output, res.output
