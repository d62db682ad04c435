"""Which backtest folds calibrate a batch: folds whose models had less history than the fitted model's
structure needs are left out (``training.level_calibration.representative_folds``), the newest two always
stay, and every wrapper reports its base model's ``full_history``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.models.forecast import (
    ColdStartForecaster,
    PartitionedForecaster,
    SalesplanForecaster,
    SeasonalNaive,
    WindowAverage,
    full_history,
)
from salesplan.training.backtest import BacktestResult
from salesplan.training.level_calibration import representative_folds

START = pd.Timestamp("2024-01-01")


def _panel(weeks: int, n_series: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range(START, periods=weeks, freq="7D")
    return pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i}" for i in range(n_series)], weeks),
            "ds": np.tile(ds, n_series),
            "y": 10
            + 3 * np.sin(np.tile(np.arange(weeks), n_series) / 1.3)
            + rng.normal(0, 1, weeks * n_series),
        }
    )


def _backtest(df: pd.DataFrame, origins_at: list[int], h: int = 4) -> BacktestResult:
    """Folds whose origins are the ``origins_at``-th week (so a model at origin k saw k weeks)."""
    dates = np.sort(df["ds"].unique())
    parts = []
    for k in origins_at:
        cut = pd.Timestamp(dates[k - 1])
        test = df[(df["ds"] > cut) & (df["ds"] <= cut + pd.Timedelta(weeks=h))]
        parts.append(
            test.assign(yhat=test["y"] * 0.9, cutoff=cut, step=test.groupby("unique_id").cumcount() + 1)
        )
    cutoffs = [pd.Timestamp(dates[k - 1]) for k in origins_at]
    return BacktestResult(pd.concat(parts, ignore_index=True), cutoffs, h, h, 52, "test")


def test_folds_trained_on_too_little_history_are_left_out_and_said() -> None:
    df = _panel(120)
    bt = _backtest(df, [60, 80, 100])
    kept, info = representative_folds(bt, df, need=70)
    assert kept.cutoffs == bt.cutoffs[1:]
    assert sorted(pd.to_datetime(kept.forecasts["cutoff"]).unique()) == bt.cutoffs[1:]
    assert info["calibration_folds"] == 2
    assert len(info["folds_left_out"]) == 1 and "60 periods of history" in info["folds_left_out"][0]
    assert "needs 70" in info["folds_left_out"][0]
    assert bt.forecasts["cutoff"].nunique() == 3  # the caller's backtest is not changed


def test_the_newest_two_folds_stay_when_too_few_are_long_enough() -> None:
    df = _panel(120)
    bt = _backtest(df, [60, 80, 100])
    kept, info = representative_folds(bt, df, need=90)  # only the newest has 90 weeks
    assert kept.cutoffs == bt.cutoffs[1:]
    assert info["calibration_folds"] == 2 and len(info["folds_left_out"]) == 1
    none_long, _ = representative_folds(bt, df, need=500)
    assert none_long.cutoffs == bt.cutoffs[1:]


@pytest.mark.parametrize("origins", [[60, 80, 100], [60, 80]])
def test_folds_with_enough_history_are_all_kept(origins: list[int]) -> None:
    df = _panel(120)
    bt = _backtest(df, origins)
    kept, info = representative_folds(bt, df, need=50 if len(origins) == 3 else 500)
    assert kept is bt
    assert info == {"calibration_folds": len(origins), "folds_left_out": []}


def test_history_is_the_typical_series_length_of_the_fold_not_the_calendar() -> None:
    """A panel whose series started later: the fold's history is what its series had, not the weeks since
    the panel's first date."""
    late = _panel(120).assign(ds=lambda d: d["ds"])
    late = late[late["ds"] >= START + pd.Timedelta(weeks=30)]  # every series starts in week 31
    bt = _backtest(_panel(120), [60, 80, 100])
    bt = BacktestResult(bt.forecasts, bt.cutoffs, bt.h, bt.step, 52, "test")
    _, info = representative_folds(bt, late, need=45)  # the folds saw 30, 50 and 70 weeks
    assert len(info["folds_left_out"]) == 1 and "30 periods of history" in info["folds_left_out"][0]


def test_full_history_is_the_longest_member_plus_the_weight_origins_through_every_wrapper() -> None:
    """Season 8: seasonal naive needs one season (8) and the weights two origins of 4 → 16."""
    params: dict[str, Any] = {"season_length": 8, "freq": "W", "calib_windows": 2, "calib_horizon": 4}
    df = _panel(40)
    blend = SalesplanForecaster(members=[WindowAverage(), SeasonalNaive()], **params).fit(df)
    assert full_history(blend) == 16
    cold = ColdStartForecaster(  # the wrapper hands its own settings down (as ``production_model`` sets them)
        base=SalesplanForecaster(members=[WindowAverage(), SeasonalNaive()]), **params
    ).fit(df)
    assert full_history(cold) == 16
    part = PartitionedForecaster(
        base=SalesplanForecaster(members=[WindowAverage(), SeasonalNaive()], **params), max_series=2
    ).fit(df)
    assert full_history(part) == 16
    assert full_history(object()) == 1  # a duck-typed foreign model: every fold counts


def test_the_weekly_default_needs_92_weeks_and_says_when_it_cannot_know() -> None:
    """Seasonal-difference LightGBM: 52 + 1 weeks, then 3 origins × 13 weeks to weigh it (unfitted, from
    the parameters the training job sets)."""
    assert SalesplanForecaster(freq="W").full_history() == 92
    assert SalesplanForecaster(freq="M").full_history() == 13 + 3 * 18
    with pytest.raises(ConfigError, match="set freq or fit first"):
        SalesplanForecaster().full_history()


def test_the_training_output_says_which_folds_the_batch_left_out() -> None:
    from salesplan.cli._forecast_batch import batch_notes

    info: dict[str, Any] = {
        "freq": "W",
        "assumed_periods": 0,
        "horizon": 13,
        "n_discontinued": 0,
        "hierarchy_given": True,
        "calibration_folds": 2,
        "folds_left_out": ["2024-11-04 (48 periods of history, fitted model needs 92)"],
    }
    (line,) = batch_notes(info)
    assert "calibrated on the newest 2 backtest folds" in line and "48 periods of history" in line
    assert batch_notes({**info, "folds_left_out": []}) == []
    assert batch_notes({**info, "folds_left_out": [], "hierarchy_given": False}) == [
        "no hierarchy in the data: levels are the total and each series"
    ]
