"""Forecasters on simulated data with known truth: contract, errors, quantile coverage, price/promo
what-ifs, cold start and the backtest-weighted default."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from salesplan.contracts import SelloutSpec
from salesplan.errors import (
    ConfigError,
    DataValidationError,
    InsufficientDataError,
    NotFittedError,
    NotFoundError,
)
from salesplan.models.forecast.baselines import Naive, SeasonalNaive, WindowAverage
from salesplan.models.forecast.coldstart import ColdStartForecaster
from salesplan.models.forecast.ensemble import SalesplanForecaster
from salesplan.models.forecast.global_lgbm import GlobalLGBM
from salesplan.models.forecast.promotion_band import promotion_calibration
from salesplan.models.forecast.seasonal import SeasonalLevel
from salesplan.models.forecast.statistical import MSTLETS, AutoARIMA, AutoETS, AutoTheta
from salesplan.models.forecast.weights import learn_weights
from salesplan.models.forecast.whatif import Scenario, apply_scenario, what_if
from salesplan.simulator import SimConfig, simulate

H = 13


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    # no launches/discontinuations: every series spans the whole history, so splits stay simple
    cfg = SimConfig(seed=7, n_products=8, n_stores=4, n_weeks=130, launch_share=0.0, discontinue_share=0.0)
    return simulate(cfg)


@pytest.fixture(scope="module")
def split(world):  # type: ignore[no-untyped-def]
    df = world.sellout.df
    n = df.groupby("unique_id").size()
    df = df[df["unique_id"].isin(n.index[n == n.max()])]
    cut = df["ds"].max() - pd.Timedelta(weeks=H)
    train, test = df[df["ds"] <= cut], df[df["ds"] > cut]
    return train, test, test.drop(columns=["y", "revenue"]), world.sellout.spec


@pytest.fixture(scope="module")
def lgbm(split):  # type: ignore[no-untyped-def]
    train, _, _, spec = split
    return GlobalLGBM(n_estimators=150, learning_rate=0.08, num_leaves=31).fit(train, spec)


def _tiny(n_weeks: int = 30, season: int = 4) -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=n_weeks, freq="7D")
    rng = np.random.default_rng(1)
    parts = [
        pd.DataFrame(
            {
                "unique_id": u,
                "ds": ds,
                "y": 10 + 5 * np.sin(np.arange(n_weeks) * 2 * np.pi / season) + rng.normal(0, 1, n_weeks),
            }
        )
        for u in ("a", "b")
    ]
    return pd.concat(parts, ignore_index=True)


FAST = [
    Naive(season_length=4, calib_windows=2, calib_horizon=3),
    SeasonalNaive(season_length=4, calib_windows=2, calib_horizon=3),
    WindowAverage(window_size=3, season_length=4, calib_windows=2, calib_horizon=3),
    AutoETS(season_length=4, calib_windows=2, calib_horizon=3),
    AutoTheta(season_length=4, calib_windows=2, calib_horizon=3),
    AutoARIMA(seasonal=False, season_length=4, calib_windows=2, calib_horizon=3),
    MSTLETS(season_length=4, calib_windows=2, calib_horizon=3),
    GlobalLGBM(n_estimators=20, season_length=4, calib_windows=2, calib_horizon=3),
    SeasonalLevel(level_window=3, season_length=4, calib_windows=2, calib_horizon=3),
]


@pytest.mark.parametrize("est", FAST, ids=lambda e: type(e).__name__)
def test_estimator_contract(est) -> None:  # type: ignore[no-untyped-def]
    model = clone(est)
    assert model.get_params()["season_length"] == 4
    with pytest.raises(NotFittedError):
        model.predict(3)
    assert not hasattr(model, "last_ds_")  # __init__ stores params only
    df = _tiny()
    assert model.fit(df) is model
    fc = model.predict(3)
    assert list(fc.columns[:6]) == ["unique_id", "ds", "yhat", "q10", "q50", "q90"]
    assert len(fc) == 6 and (fc[["yhat", "q10", "q50", "q90"]] >= 0).all().all()
    assert (fc["q10"] <= fc["q50"]).all() and (fc["q50"] <= fc["q90"]).all()
    assert (fc["ds"] > df["ds"].max()).all()
    assert clone(model).get_params() == model.get_params()


def test_custom_quantiles_and_predict_quantiles() -> None:
    m = SeasonalNaive(season_length=4, quantiles=(0.05, 0.5, 0.95), calib_windows=3, calib_horizon=3).fit(
        _tiny()
    )
    fc = m.predict(3)
    assert {"q05", "q50", "q95"} <= set(fc.columns)  # contract names (salesplan.contracts.quantile_col)
    wide = m.predict_quantiles(3, quantiles=(0.025, 0.975))
    assert (wide["q97.5"] - wide["q2.5"] >= fc["q95"] - fc["q05"] - 1e-9).all()
    with pytest.raises(ConfigError, match="quantiles"):
        SeasonalNaive(quantiles=(0.1, 1.5)).fit(_tiny())


def test_too_short_history_is_a_clear_error() -> None:
    with pytest.raises(InsufficientDataError, match=r"fewer than 60 periods.*a \(30"):
        SeasonalNaive(season_length=52, calib_windows=2, calib_horizon=4).fit(_tiny())
    with pytest.raises(ConfigError, match="positive integer"):
        Naive(season_length=4, calib_windows=0).fit(_tiny()).predict(0)


def test_missing_future_regressors_are_named(split, lgbm) -> None:  # type: ignore[no-untyped-def]
    _, _, X, _ = split
    assert "price" in lgbm.required_regressors and "promo" in lgbm.required_regressors
    with pytest.raises(DataValidationError, match="X_future is required"):
        lgbm.predict(H)
    with pytest.raises(DataValidationError, match=r"lacks column\(s\) \['price'\]"):
        lgbm.predict(H, X.drop(columns=["price"]))
    with pytest.raises(DataValidationError, match="no value for"):
        lgbm.predict(H, X[X["ds"] < X["ds"].max()])


def test_global_model_intervals_cover_near_nominal(split, lgbm) -> None:  # type: ignore[no-untyped-def]
    _, test, X, _ = split
    fc = lgbm.predict(H, X).merge(test[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
    cover = ((fc["y"] >= fc["q10"]) & (fc["y"] <= fc["q90"])).mean()
    assert 0.70 <= cover <= 0.90
    below = (fc["y"] < fc["q50"]).mean()
    assert 0.35 <= below <= 0.65
    # and it beats seasonal naive on the same holdout
    train = split[0]
    sn = SeasonalNaive().fit(train).predict(H).merge(test[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
    assert (fc["y"] - fc["yhat"]).abs().sum() < (sn["y"] - sn["yhat"]).abs().sum()


def test_price_cut_raises_units_by_about_the_true_elasticity(world, split, lgbm) -> None:  # type: ignore[no-untyped-def]
    _, _, X, _ = split
    ids = sorted(X["unique_id"].unique())
    res = what_if(lgbm, X, Scenario(tuple(ids), X["ds"].min(), X["ds"].max(), price_change=-0.10))
    out = res.rows
    assert out["changed"].all() and {"baseline", "scenario", "diff", "lift_pct"} <= set(out.columns)
    assert len(res.weeks) == H and res.siblings == [] and res.siblings_diff == 0.0
    effect = np.log(out["scenario"].sum() / out["baseline"].sum()) / np.log(0.9)
    prod = pd.Series(ids).str.split("/").str[1]
    true = float(world.truth.elasticity.reindex(prod).mean())
    assert effect < 0  # a price cut raises units
    assert 0.4 * abs(true) <= abs(effect) <= 1.6 * abs(true)


def test_promo_what_if_raises_its_weeks_and_returns_siblings(split, lgbm) -> None:  # type: ignore[no-untyped-def]
    _, _, X, spec = split
    free = X.groupby("unique_id")["promo"].sum()
    sid = str(free.idxmin())
    plan = X[X["unique_id"] == sid].set_index("ds")["promo"].sort_index()
    quiet = (plan == 0) & (plan.shift(-1) == 0)
    w0 = quiet[quiet].index[0]
    weeks = [w0, w0 + pd.Timedelta(weeks=1)]
    # a range from mid-week to mid-week covers the two weeks it touches
    sc = Scenario((sid,), w0 + pd.Timedelta(days=3), w0 + pd.Timedelta(days=9), promo=1, promo_depth=0.2)
    res = what_if(lgbm, X, sc, spec.hierarchy.to_dict())
    out = res.rows
    assert res.weeks == weeks and set(out["ds"]) == set(weeks)
    mine = out[out["changed"]]
    assert (mine["diff"] > 0).all()
    assert mine["scenario"].sum() > 1.2 * mine["baseline"].sum()
    # category siblings in the same store come back for cannibalisation, from the hierarchy and the
    # model's promotion group alike
    cat, store = (X.loc[X["unique_id"] == sid, c].iloc[0] for c in ("category", "store"))
    same = X[(X["category"] == cat) & (X["store"] == store)]["unique_id"]
    assert res.siblings == sorted(set(same) - {sid}) and res.siblings
    assert what_if(lgbm, X, sc).siblings == res.siblings  # group_of_ alone (no hierarchy given)
    assert res.siblings_diff == pytest.approx(float(out.loc[~out["changed"], "diff"].sum()))


def test_siblings_lose_units_to_a_promotion(split, lgbm) -> None:  # type: ignore[no-untyped-def]
    """On a world with enough promotions to show it, the sibling-share feature learns the cannibalisation
    of the simulator's truth; its monotone constraint keeps the sign (a sibling's promotion never adds)."""
    _, _, X, spec = split
    diffs = []
    for sid in sorted(X["unique_id"].astype(str).unique())[:6]:
        plan = X[X["unique_id"] == sid].set_index("ds")["promo"].sort_index()
        w0 = plan.index[((plan == 0) & (plan.shift(-1) == 0)).to_numpy()][0]
        sc = Scenario((sid,), w0, w0 + pd.Timedelta(days=9), promo=1, promo_depth=0.2)
        res = what_if(lgbm, X, sc, spec.hierarchy.to_dict())
        assert (res.rows.loc[~res.rows["changed"], "diff"] <= 1e-9).all()
        diffs.append(res.siblings_diff)
    assert max(diffs) < 0, diffs
    assert lgbm.feature_importance()["promo_group_share"] > 0


def test_blend_what_if_takes_the_response_of_the_members_that_see_the_plan(split, blend) -> None:  # type: ignore[no-untyped-def]
    """Baseline: the blend's forecast; change: its LightGBM member's (the only member that sees price and
    promotion), undiluted by the weight of the members that forecast the same under any plan; except the
    weeks put on promotion, which take the promoted class's calibration (``promotion_band``)."""
    _, _, X, _ = split
    lgbm = blend.members_[blend.member_names_.index("0:GlobalLGBM")]
    sid = str(X.groupby("unique_id")["promo"].sum().idxmin())
    plan = X[X["unique_id"] == sid].set_index("ds")["promo"].sort_index()
    w0 = plan.index[((plan == 0) & (plan.shift(-1) == 0)).to_numpy()][0]
    sc = Scenario((sid,), w0, w0 + pd.Timedelta(days=9), promo=1, promo_depth=0.2)
    mixed, alone = what_if(blend, X, sc), what_if(lgbm, X, sc)
    both = mixed.rows.merge(alone.rows, on=["unique_id", "ds"], suffixes=("", "_lgbm"))
    assert len(both) == len(mixed.rows) > 0
    sibs = ~both["changed"]
    np.testing.assert_allclose(both.loc[sibs, "diff"], both.loc[sibs, "diff_lgbm"], atol=1e-9)
    base = blend.predict(H, X).merge(both, on=["unique_id", "ds"])
    np.testing.assert_allclose(base["baseline"], base["yhat"], rtol=1e-12)
    cal = promotion_calibration(blend)
    assert cal is not None  # the blend's backtest has promoted rows; its member alone has no backtest
    scen = apply_scenario(X, sc, mixed.weeks, blend.required_regressors, ["promo", "promo_depth"])
    want = cal.apply(blend.predict(H, scen)).merge(both[both["changed"]], on=["unique_id", "ds"])
    assert len(want) == 2
    np.testing.assert_allclose(want["scenario_q90"], want["q90"], rtol=1e-12)  # band: the promoted class's
    r0 = want["scenario_lgbm"] - want["diff_lgbm"]  # the LightGBM member alone: its response r1 − r0
    np.testing.assert_allclose(want["diff"], cal.response(r0, want["scenario_lgbm"]), rtol=1e-9)
    price = Scenario((sid,), w0, w0 + pd.Timedelta(days=9), price_change=-0.2)
    p_mixed, p_alone = what_if(blend, X, price), what_if(lgbm, X, price)
    np.testing.assert_allclose(p_mixed.rows["diff"], p_alone.rows["diff"], atol=1e-9)
    assert blend.series_weights_.loc[sid, "0:GlobalLGBM"] < 1  # so a plain blended scenario would differ
    driver = blend.driver_blend()
    assert [m.name for m in driver.members_] == ["GlobalLGBM"] and np.allclose(driver.series_weights_, 1.0)


def test_what_if_errors(split, lgbm) -> None:  # type: ignore[no-untyped-def]
    train, _, X, _ = split
    first, last, uid = X["ds"].min(), X["ds"].max(), str(X["unique_id"].iloc[0])
    with pytest.raises(NotFoundError, match=r"NOPE/P999.*Fix: use ids such as"):
        what_if(lgbm, X, Scenario(("NOPE/P999",), first, last, price_change=-0.1))
    with pytest.raises(ConfigError, match="outside the forecast horizon"):
        what_if(lgbm, X, Scenario((uid,), pd.Timestamp("2001-01-01"), pd.Timestamp("2001-01-07"), promo=1))
    with pytest.raises(DataValidationError, match=r"lack.*price"):
        what_if(lgbm, X.drop(columns="price"), Scenario((uid,), first, last, promo=1))
    snaive = SeasonalNaive(calib_windows=0).fit(train)
    with pytest.raises(ConfigError, match="ignores price"):
        what_if(snaive, X, Scenario((uid,), first, last, price_change=-0.1))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"price": 3.0, "price_change": -0.1}, "not both"),
        ({}, "nothing to change"),
        ({"price_change": -1.0}, "above -100 %"),
        ({"price": 0.0}, "positive"),
        ({"promo": 2}, "promo must be 0"),
        ({"promo": 0, "promo_depth": 0.2}, "needs promo 1"),
        ({"promo": 1, "promo_depth": 1.0}, r"in \[0, 1\)"),
        ({"promo": 1, "end": "2026-01-01"}, "before start"),
        ({"promo": 1, "ids": ()}, "no series"),
        ({"promo": 1, "start": "soon"}, "not a date"),
    ],
)
def test_scenario_refuses_what_cannot_run(kwargs: dict[str, object], words: str) -> None:
    args = {"ids": ("S01/P001",), "start": "2026-02-02", "end": "2026-02-09", **kwargs}
    with pytest.raises(ConfigError, match=words):
        Scenario(**args)  # type: ignore[arg-type]


def test_cold_start_flags_short_and_new_series(split) -> None:  # type: ignore[no-untyped-def]
    train, test, X, spec = split
    ids = sorted(train["unique_id"].unique())
    short, new = ids[0], ids[1]
    last = train["ds"].max()
    tr = train[
        (train["unique_id"] != new)
        & ((train["unique_id"] != short) | (train["ds"] > last - pd.Timedelta(weeks=6)))
    ]
    base = GlobalLGBM(n_estimators=60, learning_rate=0.1)
    model = ColdStartForecaster(base=base).fit(tr, spec)
    assert model.cold_ids_ == [short]
    fc = model.predict(H, X)  # X carries category/store, the attributes the new series is matched on
    cold = fc[fc["cold_start"]]
    assert set(cold["unique_id"]) == {short, new}
    assert len(cold) == 2 * H and (cold["yhat"] > 0).all() and cold[["q10", "q90"]].notna().all().all()
    assert not fc.loc[~fc["cold_start"], "unique_id"].isin([short, new]).any()
    # a brand-new series' level comes from its analogues: same order of magnitude as its true sales
    actual = test.loc[test["unique_id"] == new, "y"].mean()
    assert 0.2 * actual <= cold.loc[cold["unique_id"] == new, "yhat"].mean() <= 5 * actual
    with pytest.raises(DataValidationError, match="attribute"):
        model.predict(H, X.drop(columns=["category", "store"]))


BLEND_MEMBERS = [GlobalLGBM(n_estimators=80, learning_rate=0.1), SeasonalNaive(), WindowAverage()]


@pytest.fixture(scope="module")
def blend(split):  # type: ignore[no-untyped-def]
    train, _, _, spec = split
    return SalesplanForecaster(members=BLEND_MEMBERS, calib_windows=2).fit(train, spec)


def test_default_blend_learns_weights_and_beats_members_on_its_backtest(split, blend) -> None:  # type: ignore[no-untyped-def]
    train, _, X, spec = split
    members, model = BLEND_MEMBERS, blend
    w = model.weights
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    sw = model.series_weights_
    assert set(sw.index) == set(train["unique_id"]) and np.allclose(sw.sum(axis=1), 1.0)
    scores = model.member_scores_
    # the blend's backtest loss is cross-fitted (each window blended with weights learned on the others),
    # so it need not beat the best member there, but it beats the typical one
    assert scores["blend"] < scores.drop("blend").median()
    assert model.required_regressors == sorted({c for m in model.members_ for c in m.required_regressors})
    fc = model.predict(H, X)
    assert (fc["model"] == "SalesplanForecaster").all() and len(fc) == len(X)
    assert set(model.member_forecasts(H, X)) == {m.name for m in model.members_}
    # a member with no weight anywhere is not refit
    assert set(model.member_names_) == {c for c in sw.columns}
    with pytest.raises(ConfigError, match="calib_windows"):
        SalesplanForecaster(members=members, calib_windows=0).fit(train, spec)


def _seasonal_frame(levels: dict[str, list[float]], weeks_per_level: int = 52) -> pd.DataFrame:
    """Weekly series: a yearly sine of amplitude 20 on piecewise-constant levels (no noise)."""
    parts = []
    for uid, lv in levels.items():
        y = np.repeat(lv, weeks_per_level)
        t = np.arange(len(y))
        ds = pd.date_range("2020-01-04", periods=len(y), freq="7D")
        parts.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y + 20 * np.sin(2 * np.pi * t / 52)}))
    return pd.concat(parts, ignore_index=True)


def _close_after_first(actual: pd.Series, expected: np.ndarray) -> None:
    """Within 0.2 from step 2 on; step 1 reads a series' first week, where the 1-2-1 smoothing kernel
    is one-sided (a sine's peak is shifted by < 0.6 there)."""
    np.testing.assert_allclose(actual.iloc[1:], expected[1:], atol=0.2)
    np.testing.assert_allclose(actual.iloc[0], expected[0], atol=0.6)


def test_seasonal_level_recovers_season_and_level() -> None:
    t_next = 104 + np.arange(H)
    season = 20 * np.sin(2 * np.pi * t_next / 52)
    # two flat years: the forecast is the season itself (the smoothing shaves < 1 % off a sine)
    flat = _seasonal_frame({"a": [100, 100]})
    fc = SeasonalLevel(calib_windows=0).fit(flat).predict(H)
    _close_after_first(fc["yhat"], 100 + season)
    # a steady trend: last season's weeks plus a full (damping=1) year-over-year change is the truth;
    # the season before last is aligned by its own level difference, so averaging it in stays exact
    grown = flat.assign(y=flat["y"] + 0.5 * np.arange(104))
    fc = SeasonalLevel(calib_windows=0, damping=1.0).fit(grown).predict(H)
    _close_after_first(fc["yhat"], 100 + 0.5 * t_next + season)
    # a jump in the last level_window weeks of three flat years moves the forecast by damping x the jump
    jump = _seasonal_frame({"c": [100, 100, 100]})
    jump.loc[jump.index[-13:], "y"] += 30
    fc = SeasonalLevel(calib_windows=0, damping=0.5).fit(jump).predict(H)
    _close_after_first(fc["yhat"], 115 + season)
    # steps beyond a season draw on the season before last (steps 53-60 read weeks 52-59)
    fc = SeasonalLevel(calib_windows=0).fit(flat).predict(60)
    late = 104 + np.arange(52, 60)
    np.testing.assert_allclose(fc["yhat"].iloc[52:], 100 + 20 * np.sin(2 * np.pi * late / 52), atol=0.2)


def test_seasonal_level_short_series_get_their_recent_mean() -> None:
    df = _seasonal_frame({"long": [100, 100]})
    short = pd.DataFrame(
        {"unique_id": "new", "ds": df["ds"].iloc[-20:].to_numpy(), "y": np.arange(20, dtype=float)}
    )
    fc = SeasonalLevel(calib_windows=0).fit(pd.concat([df, short], ignore_index=True)).predict(H)
    new = fc[fc["unique_id"] == "new"]
    assert len(new) == H and np.allclose(new["yhat"], np.arange(7, 20).mean())


def test_learn_weights_recovers_the_better_member() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(100, 10, 500)
    good, bad = y + rng.normal(0, 1, 500), y + rng.normal(0, 20, 500)
    w = learn_weights(np.column_stack([good, bad]), y, np.ones(500))
    assert w[0] >= 0.9


def test_spec_roles_and_unknown_roles_inference(split) -> None:  # type: ignore[no-untyped-def]
    train = split[0]
    m = GlobalLGBM(n_estimators=10, calib_windows=0).fit(train.drop(columns=["revenue"]))
    assert {"price", "promo", "holiday"} <= set(m.required_regressors)
    assert "revenue" not in m.required_regressors
    m2 = GlobalLGBM(n_estimators=10, calib_windows=0).fit(train, SelloutSpec(freq="W"))
    assert m2.required_regressors == ["price"]


def test_short_series_blend_only_the_members_that_cover_them(split) -> None:  # type: ignore[no-untyped-def]
    """New products with under a season of history must not drop the seasonal members for everyone: each
    member fits the series long enough for it and short series blend only the members that cover them."""
    train, _, X, spec = split
    ids = sorted(train["unique_id"].unique())
    short = ids[:4]
    start = train["ds"].max() - pd.Timedelta(weeks=39)  # 40 weeks: under a season
    train = train[~train["unique_id"].isin(short) | (train["ds"] >= start)]
    members = [GlobalLGBM(n_estimators=60, learning_rate=0.1), SeasonalNaive(), WindowAverage()]
    model = SalesplanForecaster(members=members, calib_windows=2).fit(train, spec)
    assert model.dropped_members_ == []
    sw = model.series_weights_
    snaive = [c for c in sw.columns if c.endswith("SeasonalNaive")]
    assert (sw.loc[short, snaive].to_numpy() == 0).all()  # no season of history: seasonal naive sits out
    assert np.allclose(sw.sum(axis=1), 1.0)
    fc = model.predict(H, X)
    assert len(fc) == len(ids) * H and np.isfinite(fc["yhat"]).all() and (fc["yhat"] >= 0).all()
    assert {"q10", "q90"} <= set(fc.columns)
    # a series is the weighted sum of the members' forecasts with its own weights
    parts = model.member_forecasts(H, X)
    for u in (short[0], ids[-1]):
        expect = sum(
            sw.loc[u, col]
            * parts[col.split(":")[1]]
            .loc[parts[col.split(":")[1]]["unique_id"] == u, "yhat"]
            .clip(lower=0)
            .to_numpy()
            for col in sw.columns
            if sw.loc[u, col] > 0
        )
        got = fc.loc[fc["unique_id"] == u, "yhat"].to_numpy()
        np.testing.assert_allclose(got, expect, rtol=1e-9)


def test_what_if_promotes_the_promotion_columns_the_spec_declares() -> None:
    """Promotion columns need not be named "promo" (Dominick's has ``deal`` and ``feat``): the what-if uses
    the columns the model's spec declared, promo 1 setting the first and promo 0 clearing them all."""
    from types import SimpleNamespace

    from salesplan.models.forecast.whatif import apply_scenario, promotion_columns

    model = SimpleNamespace(roles_=SimpleNamespace(promo=["deal", "feat"]))
    regs = ["price", "deal", "feat", "promo_budget_note"]
    cols = promotion_columns(model, regs)  # type: ignore[arg-type]
    assert cols == ["deal", "feat"]
    assert promotion_columns(SimpleNamespace(), ["price", "promo"]) == ["promo"]  # type: ignore[arg-type]
    weeks = pd.date_range("2027-01-04", periods=3, freq="7D")
    X = pd.DataFrame({
        "unique_id": ["a"] * 3 + ["b"] * 3, "ds": list(weeks) * 2, "price": 2.0, "deal": [0.0, 1, 0, 1, 0, 0],
        "feat": [0.0, 0.5, 0, 1, 0, 0], "promo_budget_note": 7.0,
    })  # fmt: skip
    on = apply_scenario(
        X, Scenario(("a",), weeks[0], weeks[0], promo=1, promo_depth=0.2), weeks[:1], regs, cols
    )
    first = on[(on["unique_id"] == "a") & (on["ds"] == weeks[0])].iloc[0]
    assert first["deal"] == 1.0 and first["price"] == pytest.approx(1.6)
    assert first["promo_budget_note"] == 7.0  # not a promotion: left alone
    off = apply_scenario(X, Scenario(("a", "b"), weeks[0], weeks[-1], promo=0), weeks, regs, cols)
    assert (off[["deal", "feat"]] == 0).all().all()
    untouched = apply_scenario(X, Scenario(("a",), weeks[1], weeks[1], promo=0), weeks[1:2], regs, cols)
    assert untouched.loc[untouched["unique_id"] == "b", "deal"].tolist() == [1.0, 0.0, 0.0]


def test_roles_stay_importable_from_base_for_models_pickled_before_panel_py() -> None:
    import pickle

    from salesplan.models.forecast import base, panel

    assert base.Roles is panel.Roles  # a pickle written before the split names base.Roles
    old = pickle.dumps(panel.Roles(regressors=["price"]), protocol=0).replace(
        b"forecast.panel", b"forecast.base"
    )
    assert pickle.loads(old) == panel.Roles(regressors=["price"])
