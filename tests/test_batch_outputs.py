"""Batch forecast outputs of the forecast training run (the frames of ``salesplan.contracts.forecast``):
logged with the model, coherent at every level and frequency (weeks, months, quarters, years), the mean
inside its own P10–P90 everywhere, whole next quarter, honest about assumed regressors, loadable offline
from a cache. One small simulated world and a cheap two-member blend keep it fast; the run is shared by
the module."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow_template import work_in_fresh_store

from salesplan.contracts import QUANTILES, SelloutSpec, forecast_columns, history_columns, quantile_cols
from salesplan.errors import ConfigError, ModelNotFoundError, ServiceUnavailableError
from salesplan.models.batch import BatchForecast, load_batch
from salesplan.models.forecast import SeasonalNaive, WindowAverage
from salesplan.models.hierarchy import aggregate, bottom_level
from salesplan.simulator import SimConfig, simulate
from salesplan.training import batch_outputs as bo
from salesplan.training.forecast_job import train_forecast

QCOLS = quantile_cols(QUANTILES)
LEVELS = [
    "total", "region", "category", "store", "region/category", "product", "store/category",
    "region/product", "store/product",
]  # fmt: skip


@pytest.fixture(scope="module")
def world() -> Any:
    return simulate(SimConfig(seed=4, n_products=4, n_stores=3))


@pytest.fixture(scope="module")
def store(world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """One training run (champion) in a throw-away MLflow store, shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        work_in_fresh_store(mp, tmp)
        params = {"members": [WindowAverage(), SeasonalNaive()]}
        result = train_forecast(
            world.sellout, h=8, n_origins=2, params=params, source="sim", future=world.future
        )
        yield tmp, result
        mlflow.end_run()


@pytest.fixture
def batch(store: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch) -> BatchForecast:
    tmp, _ = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlruns.db'}")
    return load_batch(cache_dir=tmp / "cache")


def test_run_logs_the_batch_and_it_loads_back(
    store: tuple[Path, Any], batch: BatchForecast, world: Any
) -> None:
    _, result = store
    assert result.batch_status.startswith("logged") and result.ref.alias == "champion"
    assert batch.ref.version == result.ref.version and batch.ref.run_id == result.ref.run_id
    assert batch.source == "registry"
    fc, hist = batch.forecast, batch.history
    hierarchy = list(world.sellout.spec.hierarchy.columns)
    assert list(fc.columns) == forecast_columns(QUANTILES, hierarchy)
    assert QCOLS[0] == "q05" and QCOLS[-1] == "q95"  # the contract names, from the model on (no renaming)
    assert fc["model_version"].eq(result.ref.version).all() and fc["model"].eq("salesplan-forecast").all()
    assert list(hist.columns) == history_columns(hierarchy)
    for frame in (fc, hist):
        assert set(frame["freq"]) == {"W", "M", "Q", "Y"}
        for freq in ("W", "M", "Q", "Y"):
            assert list(dict.fromkeys(frame.loc[frame["freq"] == freq, "level"])) == LEVELS
        assert not frame.duplicated(["unique_id", "freq", "period"]).any()
    assert batch.info["levels"] == LEVELS and batch.info["reconciliation"] == "bottom_up"
    assert batch.info["freq"] == "W" and batch.info["freqs"] == ["W", "M", "Q", "Y"]
    assert batch.info["point"] == "mean" and batch.info["horizon"] == batch.info["horizon_weeks"] == 18
    assert batch.info["n_not_forecast"] == 0 and batch.info["n_discontinued"] > 0  # ended series are named
    assert batch.info["calibration_folds"] == 2 and batch.info["folds_left_out"] == []  # 2 origins: both kept
    params = mlflow.MlflowClient().get_run(result.ref.run_id).data
    assert params.params["batch_horizon"] == "18" and params.params["batch_assumed_periods"] == "5"
    assert params.params["batch_freq"] == "W" and params.params["batch_last_period"] == "2027-03-29"
    assert "last known non-promotional price" in params.tags["batch_future_assumption"]


def _coherent(frame: pd.DataFrame, value: str, world: Any) -> None:
    h = world.sellout.spec.hierarchy
    keys = world.sellout.df[["unique_id", *h.columns]].drop_duplicates("unique_id").astype(str)
    for freq in ("W", "M", "Q", "Y"):
        part = frame[frame["freq"] == freq]
        bottom = part[part["level"] == bottom_level(h).name][["unique_id", "period", value]]
        again = aggregate(bottom, h, [value], keys=keys, time_col="period")
        m = part.merge(again, on=["unique_id", "period", "level"], suffixes=("", "_sum"), validate="1:1")
        assert len(m) == len(part), freq
        np.testing.assert_allclose(m[value], m[f"{value}_sum"], rtol=1e-9, atol=1e-9)


def test_forecast_and_history_are_coherent_at_every_level_and_frequency(
    batch: BatchForecast, world: Any
) -> None:
    _coherent(batch.forecast, "yhat", world)
    _coherent(batch.history, "y", world)


def test_quantiles_are_ordered_nonnegative_and_real(batch: BatchForecast) -> None:
    q = batch.forecast[QCOLS].to_numpy()
    assert np.isfinite(q).all() and (q >= 0).all() and (batch.forecast["yhat"] >= 0).all()
    assert (np.diff(q, axis=1) >= -1e-9).all()
    total = batch.forecast[batch.forecast["level"] == "total"]
    assert (total["q95"] > total["q05"]).all()


def test_the_mean_lies_inside_its_own_p10_p90_at_every_level_and_frequency(batch: BatchForecast) -> None:
    fc = batch.forecast
    inside = (fc["q10"] <= fc["yhat"] + 1e-9) & (fc["yhat"] <= fc["q90"] + 1e-9)
    assert inside.all(), fc.loc[~inside, ["unique_id", "freq", "period", "q10", "yhat", "q90"]]
    assert set(fc.groupby(["level", "freq"]).size().index) == {(lv, f) for lv in LEVELS for f in "WMQY"}


def test_the_next_whole_quarter_is_covered_and_assumptions_are_visible(
    batch: BatchForecast, world: Any
) -> None:
    fc = batch.forecast
    # data ends with the week of 2026-11-23 (Q4): the next quarter 2027Q1 must be whole at every level
    q1 = fc[(fc["freq"] == "Q") & (fc["period"] == "2027Q1")]
    assert set(q1["level"]) == set(LEVELS) and (q1["coverage"] == 1.0).all()
    weeks = fc.loc[fc["freq"] == "W", "ds"]
    assert weeks.max() == pd.Timestamp("2027-03-29") and weeks.nunique() == 18
    # the simulator plans 13 weeks (to 2027-02-22); the last 5 are assumed, and say so
    w = fc[(fc["freq"] == "W") & (fc["level"] == "total")].set_index("ds")["assumed_share"]
    assert (w[w.index <= "2027-02-22"] == 0).all() and (w[w.index > "2027-02-22"] == 1).all()
    share = q1.loc[q1["level"] == "total", "assumed_share"].iloc[0]
    assert share == pytest.approx(31 / 90)  # assumed weeks start 2027-03-01: March of the 90 days
    fut = batch.future
    assert fut is not None
    late = fut[fut["assumed"]]
    assert set(late["ds"]) == set(weeks[weeks > "2027-02-22"]) and (late["promo"] == 0).all()
    easter = late.loc[late["ds"] == "2027-03-22", "holiday"]  # Easter 2027-03-28, computed
    assert (
        len(easter) and (easter == 1).all() and (late.loc[late["ds"] != "2027-03-22", "holiday"] == 0).all()
    )
    planned = fut[~fut["assumed"]].merge(world.future, on=["unique_id", "ds"], suffixes=("", "_plan"))
    np.testing.assert_allclose(planned["price"], planned["price_plan"])


def test_history_holds_whole_periods_of_actuals(batch: BatchForecast, world: Any) -> None:
    hist = batch.history
    df = world.sellout.df
    assert hist.loc[hist["level"] == "total", "y"].groupby(hist["freq"]).size()["W"] == df["ds"].nunique()
    total_w = hist[(hist["freq"] == "W") & (hist["level"] == "total")].set_index("ds")["y"]
    pd.testing.assert_series_equal(total_w, df.groupby("ds")["y"].sum(), check_names=False)
    q = hist[(hist["freq"] == "Q") & (hist["level"] == "total")]
    # data runs 2023-12-04 .. 2026-11-29: 2024Q1 .. 2026Q3 are whole, 2023Q4 and 2026Q4 are not
    assert q["period"].tolist() == [f"{y}Q{k}" for y in (2024, 2025) for k in (1, 2, 3, 4)] + [
        "2026Q1", "2026Q2", "2026Q3",
    ]  # fmt: skip
    days = df.loc[df.index.repeat(7)].assign(
        day=lambda d: d["ds"] + pd.to_timedelta(np.tile(np.arange(7), len(df)), unit="D"),
        y=lambda d: d["y"] / 7,
    )
    expected = days.groupby(days["day"].dt.to_period("Q").astype(str))["y"].sum()
    np.testing.assert_allclose(q.set_index("period")["y"], expected.loc[q["period"]], rtol=1e-9)


def test_cache_serves_when_the_registry_is_unreachable(
    batch: BatchForecast, store: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, _ = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    cached = load_batch(cache_dir=tmp / "cache")
    assert cached.source == "cache" and cached.ref.version == batch.ref.version
    pd.testing.assert_frame_equal(cached.forecast, batch.forecast)
    pd.testing.assert_frame_equal(cached.history, batch.history)
    assert cached.info["horizon_weeks"] == 18 and cached.info["freq"] == "W"
    with pytest.raises(ServiceUnavailableError, match="unreachable"):
        load_batch(cache_dir=tmp / "no-cache-here")


def test_unknown_model_is_an_error_not_a_fallback(batch: BatchForecast, store: tuple[Path, Any]) -> None:
    tmp, _ = store
    with pytest.raises(ModelNotFoundError, match="train one first"):
        load_batch(alias="no-such-alias", cache_dir=tmp / "cache")
    with pytest.raises(ModelNotFoundError):
        load_batch(name="salesplan-nothing", cache_dir=tmp / "cache")


def test_level_tree_links_each_unit_to_its_parent(batch: BatchForecast, world: Any) -> None:
    tree = bo.level_tree(batch.forecast, ("region", "store"))
    assert list(dict.fromkeys(tree["level"])) == ["total", "region", "store"]
    assert tree.loc[tree["level"] == "total", "parent_id"].isna().all()
    stores = world.sellout.df.drop_duplicates("store").set_index("store")["region"]
    got = tree[tree["level"] == "store"].set_index("unit_id")["parent_id"]
    assert got.to_dict() == {f"store={s}": f"region={r}" for s, r in stores.items()}
    tree = bo.level_tree(batch.history, ("category", "product"))
    prod = tree[tree["level"] == "product"]
    assert prod["parent_id"].str.startswith("category=").all() and prod["unit_id"].is_unique
    mixed = bo.level_tree(batch.forecast, ("region", "category"))
    assert list(dict.fromkeys(mixed["level"])) == ["total", "region", "region/category"]
    with pytest.raises(ConfigError, match="hierarchy columns"):
        bo.level_tree(batch.forecast, ("rep",))


def test_batch_weeks_reach_the_end_of_the_next_quarter() -> None:
    assert bo.batch_weeks(pd.Timestamp("2026-11-23"), 13) == 18  # → week of 2027-03-29
    assert bo.batch_weeks(pd.Timestamp("2026-11-23"), 26) == 26  # never shorter than h
    # the week of 2026-12-28 ends 2027-01-03, in Q1: the next quarter is Q2 (ends 2027-06-30)
    n = bo.batch_weeks(pd.Timestamp("2026-12-28"), 4)
    assert pd.Timestamp("2026-12-28") + pd.Timedelta(weeks=n) == pd.Timestamp("2027-06-28")


def test_future_without_a_plan_is_fully_assumed(world: Any) -> None:
    ds = world.sellout
    ids = ["S01/P001"]
    x = bo.extend_future(ds, None, 4, ids)
    assert x["assumed"].all() and (x["promo"] == 0).all() and (x["promo_depth"] == 0).all()
    hist = ds.df[(ds.df["unique_id"] == "S01/P001") & (ds.df["promo"] == 0)]
    assert (x["price"] == hist["price"].iloc[-1]).all()  # last non-promotional price
    assert x[["region", "store", "category", "product", "channel"]].notna().all().all()


def test_batch_periods_reach_the_end_of_the_next_quarter_at_every_frequency() -> None:
    assert bo.batch_periods(pd.Timestamp("2026-11-01"), 3, "M") == 4  # Dec .. Mar
    assert bo.batch_periods(pd.Timestamp("2026-10-01"), 1, "Q") == 1  # 2027Q1, the next quarter
    assert bo.batch_periods(pd.Timestamp("2026-10-01"), 8, "Q") == 8
    assert bo.batch_periods(pd.Timestamp("2025-01-01"), 3, "Y") == 3
    assert bo.batch_periods(pd.Timestamp("2026-11-29"), 1, "D") == 122  # 2026-11-30 .. 2027-03-31


def test_future_of_other_frequencies_follows_their_calendar() -> None:
    """Monthly data: exogenous columns from the holiday calendar's share of each month, price carried."""
    world = simulate(SimConfig(seed=4, n_products=2, n_stores=2, freq="M", horizon=0))
    ds = world.sellout
    x = bo.extend_future(ds, None, 4, ["S01/P001"])
    assert x["ds"].tolist() == list(pd.date_range("2026-11-01", periods=4, freq="MS"))
    assert x["assumed"].all() and (x["promo"] == 0).all()
    from salesplan.simulator.calendar import holiday_share

    np.testing.assert_allclose(x["holiday"], holiday_share(pd.DatetimeIndex(x["ds"]), "M"))


def test_a_plain_panel_gets_a_total_and_its_series(world: Any) -> None:
    """No hierarchy: levels total and series; discontinued series are listed, not silently dropped."""
    from salesplan.training.backtest import BacktestResult

    flat = dataclasses.replace(world.sellout, spec=SelloutSpec(freq="W", promo_cols=("promo",)))
    flat = dataclasses.replace(flat, df=flat.df[["unique_id", "ds", "y", "price", "promo"]])
    live = sorted(flat.df.loc[flat.df["ds"] == flat.df["ds"].max(), "unique_id"].unique())
    model = WindowAverage(calib_windows=0).fit(flat.df[flat.df["unique_id"].isin(live)], flat.spec)
    rows = world.sellout.df.groupby("unique_id").tail(16).assign(yhat=lambda d: d["y"].mean())
    rows = rows.assign(cutoff=rows["ds"].min(), step=rows.groupby("unique_id").cumcount() + 1)
    bt = BacktestResult(rows, [rows["ds"].min()], 16, 16, 52, "flat")
    built = bo.build_batch(model, bt, flat, h=4, series=live, quantiles=(0.1, 0.5, 0.9))
    fc = built.forecast
    assert list(dict.fromkeys(fc["level"])) == ["total", "series"] and set(fc["freq"]) == {"W", "M", "Q", "Y"}
    assert built.info["hierarchy_given"] is False and built.info["levels"] == ["total", "series"]
    ended = sorted(set(flat.df["unique_id"]) - set(live))
    assert built.info["discontinued"] == ended and built.info["n_discontinued"] == len(ended) > 0
    w = fc[fc["freq"] == "W"]
    top = w[w["level"] == "total"].set_index("ds")["yhat"]
    np.testing.assert_allclose(w[w["level"] == "series"].groupby("ds")["yhat"].sum().loc[top.index], top)
    assert ((fc["q10"] <= fc["yhat"] + 1e-9) & (fc["yhat"] <= fc["q90"] + 1e-9)).all()
