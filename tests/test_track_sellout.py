"""The sell-out track record plans each past quarter from the series still selling at its start: a series
that ended before the quarter must not come back as a cold-start forecast (issues #18/#19: phantom units
made world 101's replayed quarter totals run above what sold)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from salesplan.cli import track_sellout
from salesplan.models.forecast import Naive, WindowAverage
from salesplan.serving.track_record import past_quarters
from salesplan.simulator import SimConfig, simulate
from salesplan.training import forecast_job
from salesplan.training.forecast_job import production_model


def test_replayed_quarter_forecasts_only_the_series_alive_at_its_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def cheap(params: Any, scale: Any = None) -> Any:  # the default's wrapping, two cheap members
        return production_model({**dict(params or {}), "members": [Naive(), WindowAverage()]}, scale)

    monkeypatch.setattr(forecast_job, "production_model", cheap)  # the replay runs default_batch
    ds = simulate(SimConfig(seed=4, n_products=4, n_stores=3)).sellout
    q = past_quarters(track_sellout.last_day(ds), 1)[0]
    before = ds.df[ds.df["ds"] + pd.Timedelta(days=7) <= pd.Period(q, freq="Q").start_time]
    last = before.groupby("unique_id", observed=True)["ds"].max()
    live, ended = set(last.index[last == last.max()]), set(last.index[last < last.max()])
    assert ended, "the test world needs a series that ended before the quarter"

    forecast, _ = track_sellout.SelloutReplay(ds, [q], n_origins=2).batch(q)
    bottom = forecast[(forecast["level"] == "store/product") & (forecast["period"].astype(str) == q)]
    assert set(bottom["unique_id"].astype(str)) == live
    total = forecast[(forecast["level"] == "total") & (forecast["period"].astype(str) == q)]
    assert total["yhat"].sum() == pytest.approx(bottom["yhat"].sum())
