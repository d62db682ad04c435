"""The default blend chooses how far down its weight tiers to go (pooled → group → series) on its own
cross-fitted backtest: a panel whose series all want the same member keeps the pooled weights, a panel
whose series want different members (that no group feature separates) gets series weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.models.forecast.baselines import SeasonalNaive, WindowAverage
from salesplan.models.forecast.ensemble import WEIGHT_LEVELS, SalesplanForecaster

N_WEEKS = 80


def _panel(kinds: list[str], seed: int = 0) -> pd.DataFrame:
    """Weekly series: ``seasonal`` a strong 4-week cycle with a little noise (last cycle's week, the
    seasonal naive forecast, is best), ``noise`` white noise around a fixed level (a window mean is best).
    14 of each fall in one group (``weights.MIN_GROUP`` is 30), so only series weights can tell them
    apart."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-02", periods=N_WEEKS, freq="7D")
    t = np.arange(N_WEEKS)
    parts = []
    for i, kind in enumerate(kinds):
        if kind == "seasonal":
            y = 200 + 40 * np.sin(2 * np.pi * t / 4 + rng.uniform(0, 2 * np.pi)) + rng.normal(0, 3, N_WEEKS)
        else:
            y = 200 + rng.normal(0, 8, N_WEEKS)
        parts.append(pd.DataFrame({"unique_id": f"s{i:02d}", "ds": ds, "y": y}))
    return pd.concat(parts, ignore_index=True)


def _blend(**kw: Any) -> SalesplanForecaster:
    members = [SeasonalNaive(), WindowAverage(window_size=8)]
    return SalesplanForecaster(members=members, season_length=4, calib_windows=4, calib_horizon=6, **kw)


def test_one_kind_of_series_keeps_the_pooled_weights() -> None:
    model = _blend().fit(_panel(["noise"] * 40))
    losses = model.weight_level_losses_
    assert set(losses) == set(WEIGHT_LEVELS)
    # per-series weights only add noise here: they do not lower the cross-fitted loss
    assert losses["series"] >= losses["pooled"]
    assert model.weight_level_ == "pooled"
    # every series carries the pooled weights, which favour the window mean
    sw = model.series_weights_
    assert np.allclose(sw.to_numpy(), sw.iloc[[0]].to_numpy())
    assert float(sw.filter(like="WindowAverage").to_numpy()[0, 0]) > 0.5


def test_series_that_want_different_members_get_their_own_weights() -> None:
    kinds = ["seasonal", "noise"] * 14
    model = _blend().fit(_panel(kinds))
    losses = model.weight_level_losses_
    assert losses["series"] < min(losses["pooled"], losses["group"])
    assert model.weight_level_ == "series"
    snaive = model.series_weights_.filter(like="SeasonalNaive").iloc[:, 0].astype(float)
    cycles = [f"s{i:02d}" for i, k in enumerate(kinds) if k == "seasonal"]
    noise = [f"s{i:02d}" for i, k in enumerate(kinds) if k == "noise"]
    assert snaive[cycles].min() > snaive[noise].max()


def test_a_fixed_level_is_kept_and_a_bad_one_refused() -> None:
    df = _panel(["noise"] * 40)
    model = _blend(weight_levels="series").fit(df)
    assert model.weight_level_ == "series" and set(model.weight_level_losses_) == {"series"}
    assert not np.allclose(model.series_weights_.to_numpy(), model.series_weights_.iloc[[0]].to_numpy())
    with pytest.raises(ConfigError, match="weight_levels"):
        _blend(weight_levels="per-series").fit(df)


def test_a_panel_too_short_for_any_origin_still_fits() -> None:
    """No series has an origin of its own (no backtest row to compare levels on): the blend keeps the
    series tier, as before the choice existed, and every series gets a forecast."""
    df = _panel(["noise"] * 6).groupby("unique_id").head(7)
    model = _blend().fit(df)
    assert model.weight_level_ == "series" and model.weight_level_losses_ == {"series": np.inf}
    fc = model.predict(3)
    assert len(fc) == 18 and np.isfinite(fc["yhat"]).all()
