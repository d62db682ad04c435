"""The batch says which model made each bottom series' forecast: a series too short for the members that
need a season gets the simpler ones, and its label says so (``training.batch_methods``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.contracts import SelloutSpec
from salesplan.models.forecast import ColdStartForecaster, Naive, SalesplanForecaster, WindowAverage
from salesplan.models.forecast.baselines import SeasonalNaive
from salesplan.training.batch_methods import series_methods

LENGTHS = {"s0": 3, "s1": 6, "s2": 14, "s3": 20, "s4": 20, "s5": 20}


@pytest.fixture(scope="module")
def fitted() -> tuple[ColdStartForecaster, pd.DataFrame]:
    """Quarterly series of 3 to 20 periods, seasonal; cheap members (naive, a 2-quarter mean, seasonal
    naive: the last needs a year of history)."""
    rng = np.random.default_rng(0)
    parts = []
    for k, (uid, n) in enumerate(LENGTHS.items()):
        t = np.arange(n)
        y = (100 + 10 * k) * (1 + 0.3 * np.sin(2 * np.pi * t / 4)) * rng.lognormal(0, 0.05, n)
        ds = pd.date_range(end="2026-07-01", periods=n, freq="QS")
        parts.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y}))
    df = pd.concat(parts, ignore_index=True)
    members = [Naive(), WindowAverage(window_size=2), SeasonalNaive()]
    base = SalesplanForecaster(members=members, freq="Q", season_length=4, calib_horizon=2)
    model = ColdStartForecaster(base=base, freq="Q", season_length=4, calib_horizon=2)
    return model.fit(df, SelloutSpec(freq="Q")), df


def test_each_series_is_labelled_with_the_members_that_carry_it(
    fitted: tuple[ColdStartForecaster, pd.DataFrame],
) -> None:
    model, _ = fitted
    fc = model.predict(2)
    labels = series_methods(model, fc)
    assert list(labels.index) == list(LENGTHS)  # every series, none dropped
    # three quarters: too short for the seasonal member and for an origin of its own
    assert labels["s0"].startswith("short history: ") and "SeasonalNaive" not in labels["s0"]
    weights = model.base_.series_weights_
    names = [m.name for m in model.base_.members_]
    for uid in ("s2", "s3"):
        top = names[int(np.argmax(weights.loc[uid].to_numpy()))]
        assert top in labels[uid] and not labels[uid].startswith("short history")
    for label in labels:
        shares = [float(x.rsplit(" ", 1)[1]) for x in label.split(": ", 1)[-1].split(" (")[0].split(", ")
                  if x.rsplit(" ", 1)[-1].replace(".", "", 1).isdigit()]  # fmt: skip
        assert not shares or abs(sum(shares) - 1.0) < 0.02, label


def test_a_method_column_of_the_model_wins_and_other_models_give_their_name(
    fitted: tuple[ColdStartForecaster, pd.DataFrame],
) -> None:
    model, df = fitted
    fc = model.predict(1).assign(method="AutoETS")
    assert set(series_methods(model, fc)) == {"AutoETS"}
    plain = Naive(freq="Q", calib_windows=0).fit(df, SelloutSpec(freq="Q"))
    assert set(series_methods(plain, plain.predict(1))) == {"Naive"}
