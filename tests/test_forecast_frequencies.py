"""Forecasters at every frequency and on awkward panels: quarterly and yearly series, plain ``unique_id,
ds, y`` frames, series down to a few periods, series that end on different dates, and weights learned on
inner folds only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from salesplan.contracts import SelloutSpec
from salesplan.models.forecast.baselines import Drift, Naive, SeasonalNaive, WindowAverage
from salesplan.models.forecast.coldstart import ColdStartForecaster
from salesplan.models.forecast.ensemble import SalesplanForecaster, default_members
from salesplan.models.forecast.global_lgbm import GlobalLGBM
from salesplan.models.forecast.panel import infer_freq, origin_splits
from salesplan.models.forecast.seasonal import SeasonalLevel
from salesplan.models.forecast.statistical import AutoCES, AutoETS, AutoTheta
from salesplan.models.forecast.weights import learn_weights, series_groups
from salesplan.training.backtest import backtest
from salesplan.training.forecast_job import production_model

STEP = {"D": "D", "W": "W-MON", "M": "MS", "Q": "QS", "Y": "YS"}


def panel(freq: str, n: int, n_series: int = 12, start: str = "2001-01-01", seed: int = 0) -> pd.DataFrame:
    """Positive series with a trend and (for M, Q, W, D) a season, on the frequency's period starts."""
    rng = np.random.default_rng(seed)
    season = {"D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1}[freq]
    ds = pd.date_range(pd.Timestamp(start) if freq != "W" else "2001-01-01", periods=n, freq=STEP[freq])
    parts = []
    for k in range(n_series):
        t = np.arange(n)
        level = 50 + 10 * k
        shape = 1 + 0.3 * np.sin(2 * np.pi * (t + k) / season) if season > 1 else 1.0
        y = (level + (0.5 + 0.1 * k) * t) * shape * rng.lognormal(0, 0.05, n)
        parts.append(pd.DataFrame({"unique_id": f"s{k:02d}", "ds": ds, "y": y}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize(("freq", "n", "season"), [("Q", 32, 4), ("Y", 20, 1), ("M", 48, 12), ("D", 70, 7)])
def test_every_member_forecasts_the_frequency_with_its_default_season(freq: str, n: int, season: int) -> None:
    df = panel(freq, n)
    h = 3
    for est in [
        Naive(calib_horizon=h),
        SeasonalNaive(calib_horizon=h, calib_windows=2),
        WindowAverage(calib_horizon=h),
        Drift(calib_horizon=h),
        AutoTheta(model="DOTM", calib_horizon=h, calib_windows=2),
        AutoCES(calib_horizon=h, calib_windows=2),
        GlobalLGBM(n_estimators=30, calib_horizon=h, calib_windows=2),
        GlobalLGBM(n_estimators=30, seasonal_diff=True, calib_horizon=h, calib_windows=2),
    ]:
        model = clone(est).fit(df)
        assert model.freq_ == freq and model.season_length_ == season, est.name
        fc = model.predict(h)
        last = df["ds"].max()
        expect = pd.date_range(last, periods=h + 1, freq=STEP[freq])[1:]
        assert (
            fc.groupby("unique_id")["ds"].apply(list).map(lambda d, e=list(expect): list(d) == e)
        ).all(), est.name
        assert np.isfinite(fc[["yhat", "q10", "q90"]].to_numpy()).all(), est.name
        assert (fc["q10"] <= fc["q90"]).all(), est.name


def test_lightgbm_features_follow_the_frequency() -> None:
    monthly = GlobalLGBM(n_estimators=10, calib_windows=0)
    monthly.fit(panel("M", 60))
    assert monthly.lags_ == [1, 2, 3, 6, 12] and monthly.windows_ == [3, 12]
    names = set(monthly.mlf_.ts.features_order_)
    assert "month" in names and "week_of_year" not in names and "lag52" not in names
    quarterly = GlobalLGBM(n_estimators=10, calib_windows=0)
    quarterly.fit(panel("Q", 40))
    assert quarterly.lags_ == [1, 2, 3, 4, 8] and "quarter" in quarterly.mlf_.ts.features_order_
    yearly = GlobalLGBM(n_estimators=10, calib_windows=0)
    yearly.fit(panel("Y", 25))
    assert yearly.lags_ == [1, 2, 3]
    assert not {"month", "quarter", "week_of_year"} & set(yearly.mlf_.ts.features_order_)
    # a season set by hand wins over the frequency's and becomes a lag
    custom = GlobalLGBM(n_estimators=10, calib_windows=0, season_length=6)
    custom.fit(panel("M", 60))
    assert custom.season_length_ == 6 and 6 in custom.lags_


def test_frequency_inferred_from_a_plain_panel_and_spec_season_used() -> None:
    for freq in ("D", "W", "M", "Q", "Y"):
        df = panel(freq, 30, n_series=2)
        assert infer_freq(df["ds"], df["unique_id"]) == freq
    m = SeasonalNaive(calib_windows=0).fit(panel("M", 30), SelloutSpec(freq="M", season_length=6))
    assert m.season_length_ == 6


def test_default_members_per_frequency() -> None:
    weekly = {m.name for m in default_members("W")}
    assert "SeasonalLevel" in weekly and "AutoCES" not in weekly  # m=52: no seasonal ETS-family fits
    yearly = {m.name for m in default_members("Y")}
    assert {"Drift", "AutoTheta", "AutoCES", "Naive"} <= yearly and "SeasonalNaive" not in yearly
    assert {"AutoTheta", "AutoCES", "SeasonalNaive"} <= {m.name for m in default_members("M")}
    assert all(m.season_length == 4 for m in default_members("Q"))


@pytest.fixture(scope="module")
def yearly_default() -> tuple[SalesplanForecaster, pd.DataFrame]:
    """A yearly plain panel with short series: 8 long (20 years), 3 of 6 years, 1 of 2 years, one that
    ends three years before the others."""
    df = panel("Y", 20, n_series=8)
    short = panel("Y", 6, n_series=3, start="2014-01-01", seed=1).assign(
        unique_id=lambda d: "short" + d["unique_id"]
    )
    tiny = panel("Y", 2, n_series=1, start="2018-01-01", seed=2).assign(unique_id="tiny")
    ended = panel("Y", 12, n_series=1, start="2005-01-01", seed=3).assign(unique_id="ended")
    data = pd.concat([df, short, tiny, ended], ignore_index=True)
    model = SalesplanForecaster(calib_horizon=3, calib_windows=2)
    return model.fit(data), data


def test_short_series_and_plain_panels_get_a_forecast_from_their_own_end(yearly_default) -> None:  # type: ignore[no-untyped-def]
    model, data = yearly_default
    fc = model.predict(4)
    assert set(fc["unique_id"]) == set(data["unique_id"])
    assert fc.groupby("unique_id").size().eq(4).all()
    assert np.isfinite(fc[["yhat", "q10", "q90"]].to_numpy()).all() and (fc["yhat"] >= 0).all()
    last = data.groupby("unique_id")["ds"].max()
    first_fc = fc.groupby("unique_id")["ds"].min()
    assert (first_fc == last + pd.offsets.YearBegin(1)).all()  # each series from its own last year
    w = model.series_weights_
    assert np.allclose(w.sum(axis=1), 1.0) and (w.to_numpy() >= 0).all()
    # a two-year series can only use members that need two years or less
    tiny_members = {name.split(":")[1] for name, v in w.loc["tiny"].items() if v > 0}
    assert tiny_members <= {"Naive", "Drift"}


def test_weights_come_from_inner_folds_only(yearly_default) -> None:  # type: ignore[no-untyped-def]
    """Moving or changing the scored test window leaves the weights unchanged: the fit backtests only
    inside its own training data."""
    _, data = yearly_default
    long = data[data["unique_id"].str.match(r"s\d")]
    fitted: list[SalesplanForecaster] = []

    def make() -> SalesplanForecaster:
        model = SalesplanForecaster(calib_horizon=3, calib_windows=2)
        fitted.append(model)
        return model

    cut = long["ds"].max() - pd.DateOffset(years=4)
    train = long[long["ds"] <= cut]
    for test_years in (2, 4):  # the test window moves (2 or 4 years after the cut), the training stays
        part = long[long["ds"] <= cut + pd.DateOffset(years=test_years)]
        backtest(make, part, h=test_years, n_origins=1, season_length=1)
    shifted = long.assign(y=np.where(long["ds"] > cut, long["y"] * 3, long["y"]))  # other test values
    backtest(make, shifted[shifted["ds"] <= cut + pd.DateOffset(years=4)], h=4, n_origins=1, season_length=1)
    fitted = [m for m in fitted if hasattr(m, "series_weights_")]  # backtest also builds an unfitted probe
    assert len(fitted) == 3
    first = fitted[0].series_weights_
    for other in fitted[1:]:
        pd.testing.assert_frame_equal(other.series_weights_, first)
    assert fitted[0].calib_cv_["ds"].max() <= cut
    assert fitted[0].last_ds_.max() == train["ds"].max()


def test_group_and_lp_weights() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(100, 10, 400)
    good, bad = y + rng.normal(0, 1, 400), y + rng.normal(0, 20, 400)
    w = learn_weights(np.column_stack([bad, good]), y, np.ones(400))
    assert w[1] >= 0.95 and w.sum() == pytest.approx(1.0)
    # two members biased in opposite directions: the exact L1 optimum mixes them
    w = learn_weights(np.column_stack([y + 5, y - 5]), y, np.ones(400))
    assert w == pytest.approx([0.5, 0.5], abs=1e-6)
    feats = pd.DataFrame(
        {"n": [40] * 40 + [10] * 40, "seasonal": [0.9] * 20 + [0.1] * 60, "zeros": [0.0] * 80},
        index=[f"u{i}" for i in range(80)],
    )
    groups = series_groups(feats, season=4, horizon=4, min_size=15)
    assert set(groups) == {"long/seasonal", "long/flat", "short/flat"}
    assert set(series_groups(feats, season=4, horizon=4, min_size=30)) == {"all", "short/flat"}


def test_production_model_takes_a_plain_monthly_panel() -> None:
    """No spec, no attribute columns: frequency inferred, every series forecast, the analogue fallback
    noted instead of raised."""
    df = pd.concat(
        [panel("M", 40, n_series=6), panel("M", 5, n_series=1, start="2004-01-01").assign(unique_id="new")]
    )
    model = production_model({"calib_horizon": 4, "calib_windows": 2})
    fc = model.fit(df).predict(6)
    assert isinstance(model, ColdStartForecaster)
    assert set(fc["unique_id"]) == set(df["unique_id"]) and len(fc) == 7 * 6
    assert model.freq_ == "M" and model.match_cols_ == [] and "plain panel" in model.match_note_
    assert not fc["cold_start"].any()


def test_cold_series_are_dated_from_their_own_last_period() -> None:
    """With a base that needs long histories, short series fall to cold start and are forecast for the
    periods after *their own* last one, also when they ended before the panel's last date."""
    df = panel("Q", 30, n_series=8)
    early = panel("Q", 5, n_series=2, start="2003-01-01", seed=4).assign(
        unique_id=lambda d: "early" + d["unique_id"]
    )
    data = pd.concat([df, early], ignore_index=True)
    base = SeasonalLevel(calib_horizon=4, calib_windows=2)
    model = ColdStartForecaster(base=base).fit(data)
    assert sorted(model.cold_ids_) == ["earlys00", "earlys01"]
    fc = model.predict(4)
    cold = fc[fc["cold_start"]]
    assert set(cold["unique_id"]) == {"earlys00", "earlys01"}
    ends = early.groupby("unique_id")["ds"].max()
    for uid, g in cold.groupby("unique_id"):
        assert list(g["ds"]) == list(pd.date_range(ends[uid], periods=5, freq="QS")[1:])
    assert np.isfinite(cold[["yhat", "q10", "q90"]].to_numpy()).all()


def test_origin_splits_count_back_from_each_series_end() -> None:
    df = pd.concat(
        [panel("M", 30, n_series=1), panel("M", 12, n_series=1, start="2001-06-01").assign(unique_id="b")]
    )
    df = df.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    splits = origin_splits(df, h=4, n_windows=2, min_train=6)
    assert [w for w, _, _ in splits] == [2, 1]
    for w, train, test in splits:
        for uid, g in test.groupby("unique_id"):
            full = df[df["unique_id"] == uid]
            assert list(g["ds"]) == list(full["ds"].iloc[len(full) - w * 4 : len(full) - (w - 1) * 4])
            assert train[train["unique_id"] == uid]["ds"].max() < g["ds"].min()
    # "b" (12 months) joins only the window that leaves it 6 months of history: 12 - 2*4 = 4 < 6
    assert set(splits[0][2]["unique_id"]) == {"s00"} and set(splits[1][2]["unique_id"]) == {"s00", "b"}


def test_seasonal_members_fit_with_a_long_enough_quarterly_history() -> None:
    m = AutoETS(calib_windows=0).fit(panel("Q", 24))
    assert m.season_length_ == 4 and len(m.predict(8)) == 12 * 8
