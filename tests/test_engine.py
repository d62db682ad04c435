"""Scale-out engine (``salesplan.engine``) and the partitioned forecaster: the same partitions fitted here
or on a Dask LocalCluster give the same forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.engine import ScaleOut, partition_ids, run_tasks
from salesplan.errors import ConfigError, DataValidationError, NotFittedError
from salesplan.models.forecast import (
    GlobalLGBM,
    PartitionedForecaster,
    SalesplanForecaster,
    SeasonalNaive,
    WindowAverage,
    partitioned,
)
from salesplan.simulator import SimConfig, simulate
from salesplan.training.backtest import backtest
from salesplan.training.forecast_job import alive


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return simulate(SimConfig(seed=5, n_products=6, n_stores=3))


def _base() -> SalesplanForecaster:
    members = [GlobalLGBM(n_estimators=40, learning_rate=0.1), SeasonalNaive(), WindowAverage()]
    return SalesplanForecaster(members=members, calib_windows=2, calib_horizon=8)


def test_partitions_are_deterministic_and_cover_every_series(world) -> None:  # type: ignore[no-untyped-def]
    df = world.sellout.df
    parts = partition_ids(df, "category", max_series=5)
    flat = np.concatenate(parts)
    assert sorted(flat) == sorted(df["unique_id"].unique()) and len(flat) == len(set(flat))
    assert all(len(p) <= 5 for p in parts)
    assert [list(p) for p in parts] == [
        list(p) for p in partition_ids(df.sample(frac=1, random_state=1), "category", 5)
    ]
    with pytest.raises(DataValidationError, match="partition column missing"):
        partition_ids(df, "no_such_column")


def test_dask_engine_matches_the_local_engine(world) -> None:  # type: ignore[no-untyped-def]
    spec, df = world.sellout.spec, alive(world.sellout.df)  # discontinued series get no future rows
    local = PartitionedForecaster(_base(), partition_by="category").fit(df, spec)
    dask = PartitionedForecaster(_base(), partition_by="category", engine="dask", workers=2)
    dask.fit(df, spec)
    a = local.predict(8, world.future).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    b = dask.predict(8, world.future).sort_values(["unique_id", "ds"]).reset_index(drop=True)
    assert len(local.models_) == df["category"].nunique()
    assert set(a["unique_id"]) == set(df["unique_id"])
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-9)


def test_backtest_runs_unchanged_on_dask(world) -> None:  # type: ignore[no-untyped-def]
    spec = world.sellout.spec
    kw = {"h": 8, "n_origins": 2, "spec": spec, "season_length": 52}
    local = backtest(PartitionedForecaster(_base(), max_series=10), world.sellout.df, **kw)
    dask = backtest(
        PartitionedForecaster(_base(), max_series=10, engine="dask", workers=2), world.sellout.df, **kw
    )
    pd.testing.assert_frame_equal(local.metrics(), dask.metrics(), check_exact=False, rtol=1e-9)


def _describe(xs: list[int], d: dict[str, int], k: int) -> tuple[list[int], dict[str, int], int]:
    return xs, d, k


def test_dask_tasks_get_each_argument_whole() -> None:
    # Each argument is scattered as one object: Dask scatters a list's items one by one and keys a dict's
    # values by the dict's keys, so two tasks' {"a": …} arguments would share one value
    args = [([1, 2, 3], {"a": 1, "b": 2}, 7), ([4], {"a": 9}, 8)]
    assert run_tasks(_describe, args, engine="dask", workers=2) == [tuple(a) for a in args]


def test_engine_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="engine must be one of"):
        run_tasks(print, [("x",)], engine="spark")
    with pytest.raises(NotFittedError):
        PartitionedForecaster(_base()).predict(4)
    with pytest.raises(ConfigError, match="needs base="):
        PartitionedForecaster().fit(
            pd.DataFrame({"unique_id": ["a"], "ds": [pd.Timestamp("2026-01-05")], "y": [1.0]})
        )


def test_partitioned_wraps_only_a_non_trivial_scale_out() -> None:
    base = _base()
    assert partitioned(base) is base and partitioned(base, ScaleOut()) is base
    wrapped = partitioned(base, ScaleOut("dask", workers=3, partition_by="category", max_series=7))
    assert isinstance(wrapped, PartitionedForecaster) and wrapped.base is base
    assert wrapped.get_params(deep=False) == {
        "base": base, "partition_by": "category", "max_series": 7, "engine": "dask", "workers": 3, "address": None,
    }  # fmt: skip


def test_training_job_on_dask_registers_a_local_model(mlflow_store, world) -> None:  # type: ignore[no-untyped-def]
    from salesplan.models import registry
    from salesplan.training.forecast_job import (
        backtested_part,
        production_model,
        run_backtest,
        train_forecast,
    )

    params = {"members": [GlobalLGBM(n_estimators=40, learning_rate=0.1), SeasonalNaive(), WindowAverage()]}
    scale = ScaleOut("dask", workers=2, partition_by="category")
    result = train_forecast(
        world.sellout, h=8, n_origins=2, params=params, source="sim", scale=scale, batch=False
    )
    loaded, ref = registry.load_estimator(registry.FORECAST_MODEL, "champion")
    assert ref.version == result.ref.version
    assert isinstance(loaded, PartitionedForecaster) and loaded.engine == "local"
    fc = loaded.predict(8, world.future)
    assert set(fc["unique_id"]) == set(alive(world.sellout.df)["unique_id"])
    local = production_model(params, ScaleOut(partition_by="category"))
    bt = run_backtest(world.sellout, backtested_part(local), 8, 2, 52)
    assert bt.metrics().iloc[0]["mase"] == pytest.approx(result.overall["mase"], rel=1e-9)
