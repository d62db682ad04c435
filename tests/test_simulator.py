"""The simulator: reproducible, contract-clean, and its ground truth is recoverable from the data
with ordinary estimators (so models scored against the truth are scored against something real)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesplan.contracts import EVENT_RANK, STAGES, validate_crm, validate_sellout, validate_spend
from salesplan.errors import ConfigError
from salesplan.io import read_crm, read_table
from salesplan.simulator import SimConfig, SimulatedWorld, simulate
from salesplan.simulator.calendar import easter_sunday, fourier

SELLOUT_COLS = [
    "unique_id", "ds", "y", "price", "revenue", "promo", "promo_depth", "holiday",
    "region", "store", "category", "product", "channel",
]  # fmt: skip


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    return simulate(SimConfig(seed=0, scale="small"))


@pytest.fixture(scope="module")
def wide() -> SimulatedWorld:
    """Many stores per product: enough data for per-product econometrics (validated elsewhere)."""
    return simulate(SimConfig(seed=3, n_products=10, n_stores=100, n_opportunities=50, validate=False))


@pytest.fixture(scope="module")
def deals() -> SimulatedWorld:
    """Many deals, a short sell-out: for the funnel and win-driver checks."""
    return simulate(
        SimConfig(seed=5, n_products=2, n_stores=2, n_reps=40, n_opportunities=8000, validate=False)
    )


# --- reproducibility and contracts -------------------------------------------------------------------


def test_same_seed_same_world_and_other_seed_differs(world: SimulatedWorld) -> None:
    again = simulate(SimConfig(seed=0, scale="small"))
    pd.testing.assert_frame_equal(world.sellout.df, again.sellout.df)
    for name, frame in world.crm.frames().items():
        pd.testing.assert_frame_equal(frame, again.crm.frames()[name], obj=name)
    pd.testing.assert_frame_equal(world.spend, again.spend)
    pd.testing.assert_series_equal(world.truth.win_probability, again.truth.win_probability)
    other = simulate(SimConfig(seed=1, scale="small"))
    assert not world.sellout.df["y"].equals(other.sellout.df["y"])
    assert not world.crm.opportunities["amount"].equals(other.crm.opportunities["amount"])
    assert not world.spend["spend"].equals(other.spend["spend"])


def test_outputs_pass_the_contract_validators(world: SimulatedWorld) -> None:
    df = world.sellout.df
    pd.testing.assert_frame_equal(validate_sellout(df, world.sellout.spec), df)
    validate_crm(world.crm)
    validate_spend(world.spend)
    assert sorted(df.columns) == sorted(SELLOUT_COLS) and list(df.columns[:3]) == ["unique_id", "ds", "y"]
    assert set(world.sellout.spec.hierarchy.columns) <= set(df.columns)  # type: ignore[union-attr]


def test_unvalidated_fast_path_gives_the_same_frames(world: SimulatedWorld) -> None:
    raw = simulate(SimConfig(seed=0, scale="small", validate=False))
    pd.testing.assert_frame_equal(raw.sellout.df, world.sellout.df)
    for name, frame in world.crm.frames().items():
        pd.testing.assert_frame_equal(raw.crm.frames()[name], frame, obj=name, check_dtype=False)
    pd.testing.assert_frame_equal(raw.spend, world.spend)


def test_sellout_shape_and_accounting(world: SimulatedWorld) -> None:
    df = world.sellout.df
    assert df["unique_id"].nunique() == 12 * 6
    assert df["unique_id"].str.fullmatch(r"S\d{2}/P\d{3}").all()
    assert (df["unique_id"] == df["store"] + "/" + df["product"]).all()
    assert (df["ds"].dt.dayofweek == 0).all() and df["ds"].max() == pd.Timestamp("2026-11-23")
    assert (df["y"] >= 0).all() and (df["y"] == df["y"].round()).all()
    np.testing.assert_allclose(df["revenue"], df["y"] * df["price"], atol=0.006)
    assert ((df["promo"] == 0) == (df["promo_depth"] == 0)).all()
    assert 0.03 < df["promo"].mean() < 0.2
    assert df["channel"].nunique() >= 3 and df.groupby("store")["channel"].nunique().eq(1).all()
    assert df.groupby("store")["region"].nunique().eq(1).all()
    exp = world.truth.expected_units
    assert (exp["unique_id"].to_numpy() == df["unique_id"].to_numpy()).all()
    assert abs(df["y"].sum() / exp["expected"].sum() - 1) < 0.03


def test_promotions_and_prices_are_known_future(world: SimulatedWorld) -> None:
    df = world.sellout.df
    promo = df[df["promo"] == 1]
    regular = df[df["promo"] == 0].groupby("unique_id")["price"].median()
    assert (promo["price"] < regular.reindex(promo["unique_id"]).to_numpy()).mean() > 0.95
    assert df[["price", "promo", "promo_depth", "holiday"]].notna().all().all()


def test_the_planned_horizon_never_changes_the_history(world: SimulatedWorld) -> None:
    """One seed, one history: the demo (18 planned weeks) and the CLI (13) see the same data."""
    for horizon in (0, 18, 104):
        other = simulate(SimConfig(seed=0, scale="small", horizon=horizon))
        pd.testing.assert_frame_equal(other.sellout.df, world.sellout.df)
        assert other.future["ds"].nunique() == horizon
    longer = simulate(SimConfig(seed=0, scale="small", horizon=18)).future
    pd.testing.assert_frame_equal(
        longer[longer["ds"].isin(world.future["ds"])].reset_index(drop=True), world.future
    )


def test_config_errors_are_clean() -> None:
    with pytest.raises(ConfigError, match="freq"):
        SimConfig(freq="H")
    with pytest.raises(ConfigError, match="horizon"):
        SimConfig(horizon=105)
    with pytest.raises(ConfigError, match="Monday"):
        SimConfig(end="2026-11-24")
    with pytest.raises(ConfigError, match="scale"):
        SimConfig(scale="huge")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_products"):
        SimConfig(n_products=0)


def test_easter_dates() -> None:
    assert [easter_sunday(y).strftime("%Y-%m-%d") for y in (2024, 2025, 2026)] == [
        "2024-03-31",
        "2025-04-20",
        "2026-04-05",
    ]


# --- other frequencies -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def by_freq() -> dict[str, SimulatedWorld]:
    """One small weekly world (seed 2, 5 years) at every frequency."""
    return {f: simulate(SimConfig(seed=2, n_products=3, n_stores=2, n_weeks=260, freq=f)) for f in "DWMQY"}


@pytest.mark.parametrize("freq", ["D", "M", "Q", "Y"])
def test_every_frequency_is_contract_clean_with_whole_periods(
    by_freq: dict[str, SimulatedWorld], freq: str
) -> None:
    w = by_freq[freq]
    df, spec = w.sellout.df, w.sellout.spec
    assert spec.freq == freq and w.sellout.name.endswith(f"-{freq}")
    pd.testing.assert_frame_equal(validate_sellout(df, spec), df)
    pd.testing.assert_frame_equal(validate_sellout(w.future.assign(y=0.0), spec).drop(columns="y"), w.future)
    if freq == "D":
        np.testing.assert_allclose(df["revenue"], df["y"] * df["price"], atol=0.006)
    else:  # units at each day's price; ``price`` is the period's mean price (promotions cut up to 35 %)
        sold = df[df["y"] > 0]
        assert (sold["revenue"] / (sold["y"] * sold["price"])).between(0.6, 1.4).all()
    assert (df["y"] == df["y"].round()).all() and df[["promo", "holiday"]].stack().between(0, 1).all()
    exp = w.truth.expected_units
    assert (exp["unique_id"].to_numpy() == df["unique_id"].to_numpy()).all() and len(exp) == len(df)
    assert abs(df["y"].sum() / exp["expected"].sum() - 1) < 0.05
    start, end = w.config.weeks_index[0], w.config.end_ts + pd.Timedelta(days=6)
    last = df["ds"].max() + (
        pd.DateOffset(days=1)
        if freq == "D"
        else pd.offsets.DateOffset(months={"M": 1, "Q": 3, "Y": 12}[freq])
    )
    assert df["ds"].min() >= start and last - pd.Timedelta(days=1) <= end  # whole periods only
    assert w.future["ds"].min() > df["ds"].max()
    assert len(w.truth.future_units) == len(w.future)


def test_frequencies_are_cut_from_the_same_days(by_freq: dict[str, SimulatedWorld]) -> None:
    """Days add up to the weekly world, months to quarters, quarters to years: one seed, one world."""
    d, wk = by_freq["D"].sellout.df, by_freq["W"].sellout.df
    week = (
        d.assign(ds=d["ds"] - pd.to_timedelta(d["ds"].dt.dayofweek, unit="D"))
        .groupby(["unique_id", "ds"])["y"]
        .sum()
    )
    pd.testing.assert_series_equal(week, wk.set_index(["unique_id", "ds"])["y"], check_names=False)
    for fine, coarse in (("D", "M"), ("M", "Q"), ("Q", "Y")):
        f, c = by_freq[fine].sellout.df, by_freq[coarse].sellout.df.set_index(["unique_id", "ds"])["y"]
        sums = f.assign(ds=f["ds"].dt.to_period(coarse).dt.start_time).groupby(["unique_id", "ds"])["y"].sum()
        np.testing.assert_allclose(c.to_numpy(), sums.loc[c.index].to_numpy())
    dow = d.groupby(d["ds"].dt.dayofweek)["y"].sum()
    assert dow.idxmax() == 5 and dow.idxmin() in (0, 1)  # Saturdays sell most


def test_coarse_frequencies_simulate_enough_periods() -> None:
    assert (
        SimConfig(freq="Q").weeks == 260
        and SimConfig(freq="Y").weeks == 520
        and SimConfig(freq="M").weeks == 156
    )
    y = simulate(SimConfig(seed=1, freq="Y", n_products=3, n_stores=2))
    n = y.sellout.df.groupby("unique_id").size()
    assert n.max() == 9 and y.sellout.df["ds"].max() == pd.Timestamp("2025-01-01")
    assert y.future["ds"].unique().tolist() == [pd.Timestamp("2026-01-01")]  # 2026 ends in the planned weeks


# --- sell-out truth recoverable --------------------------------------------------------------------


def _design(world: SimulatedWorld) -> pd.DataFrame:
    """Per-row regressors a forecaster could build from the frame alone (promo lags, sibling promos)."""
    df = world.sellout.df.copy()
    g = df.groupby("unique_id")["promo"]
    df["after1"] = ((g.shift(1) == 1) & (df["promo"] == 0)).astype(float)
    df["after2"] = ((g.shift(2) == 1) & (df["promo"] == 0) & (df["after1"] == 0)).astype(float)
    key = ["region", "category", "ds"]
    stores = df.groupby(key)["store"].transform("nunique")
    n_cat = df.groupby("category")["product"].transform("nunique")
    share = (df.groupby(key)["promo"].transform("sum") / stores - df["promo"]) / (n_cat - 1).clip(lower=1)
    df["others"] = share.where(df["promo"] == 0, 0.0)
    df["age"] = (df["ds"] - df.groupby("unique_id")["ds"].transform("min")).dt.days // 7
    df["t"] = (df["ds"] - df["ds"].min()).dt.days / 365.25
    four = fourier(pd.DatetimeIndex(df["ds"]), 2)
    for k in range(four.shape[1]):
        df[f"f{k}"] = four[:, k]
    names = world.truth.holidays.reindex(df["ds"]).to_numpy()
    for h in world.truth.holiday_lifts.index:
        df[f"h_{h}"] = (names == h).astype(float)
    return df[df["age"] >= 12]  # past any launch ramp


def _ppml(d: pd.DataFrame, cols: list[str]) -> pd.Series:
    """Poisson pseudo-ML with series fixed effects (consistent for log-linear means, zeros welcome).
    The fixed effects are concentrated out (alpha_i = log Σy / Σexp(xb)), Newton runs on b only."""
    keep = [c for c in cols if d[c].std() > 0]  # e.g. a launch that missed every Easter week
    x = d[keep].to_numpy(float)
    y = d["y"].to_numpy(float)
    g = pd.factorize(d["unique_id"])[0]
    b = np.zeros(x.shape[1])
    for _ in range(50):
        eta = x @ b
        w = np.exp(eta - eta.max())
        mu = w * (np.bincount(g, y) / np.bincount(g, w))[g]
        xbar = np.stack([np.bincount(g, mu * x[:, k]) for k in range(x.shape[1])], axis=1)
        xc = x - (xbar / np.bincount(g, mu)[:, None])[g]
        step = np.linalg.solve((xc * mu[:, None]).T @ xc, xc.T @ (y - mu))
        b += step
        if np.abs(step).max() < 1e-8:
            break
    return pd.Series(b, index=keep).reindex(cols)


def _season_cols(d: pd.DataFrame) -> list[str]:
    return [c for c in d.columns if (c[0] == "f" and c[1:].isdigit()) or c.startswith("h_")]


def test_price_elasticity_recovered_from_non_promo_weeks(wide: SimulatedWorld) -> None:
    d = _design(wide)
    d = d[(d["promo"] == 0) & (d["after1"] == 0) & (d["after2"] == 0)].assign(lp=lambda x: np.log(x["price"]))
    truth = wide.truth.elasticity
    volume = d.groupby("product")["y"].mean()
    busy = volume[volume > 1.5].index
    est = pd.Series(
        {p: _ppml(d[d["product"] == p], ["lp", "t", "others", *_season_cols(d)])["lp"] for p in busy}
    )
    assert len(busy) >= 5
    assert abs(est.mean() / truth[busy].mean() - 1) < 0.1
    top = volume.idxmax()
    # one product's estimate: its store-clustered bootstrap standard error is ~5 % of the truth here, so
    # 3 standard errors (10 % was 2, which a redraw of the world missed by a hair: 10.7 %)
    assert abs(est[top] / truth[top] - 1) < 0.16
    assert np.corrcoef(est, truth[busy])[0, 1] > 0.9


def test_promo_lift_post_promo_dip_cannibalisation_and_holidays(wide: SimulatedWorld) -> None:
    d = _design(wide).assign(lp=lambda x: np.log(x["price"]))
    cols = ["lp", "t", "promo", "after1", "after2", "others", *_season_cols(d)]
    volume = d.groupby("product")["y"].mean()
    est = pd.DataFrame({p: _ppml(d[d["product"] == p], cols) for p in volume[volume > 1.5].index}).T.mean()
    t = wide.truth
    assert abs(est["promo"] - np.log(t.promo_lift)) < 0.05
    assert abs(est["after1"] - np.log1p(-t.post_promo_dip[0])) < 0.04
    assert abs(est["after2"] - np.log1p(-t.post_promo_dip[1])) < 0.04
    assert est["after1"] < est["after2"] < 0  # the dip fades
    assert abs(est["others"] - np.log1p(-t.cannibalisation)) < 0.06
    for h, lift in t.holiday_lifts.items():
        assert abs(est[f"h_{h}"] - np.log(lift)) < 0.06, h


def test_promo_weeks_show_the_configured_lift(world: SimulatedWorld, wide: SimulatedWorld) -> None:
    """Actual vs truth-without-promo (price effect kept) shows the lift; the knob moves exactly that."""
    df, t = wide.sellout.df, wide.truth
    on = (df["promo"] == 1).to_numpy()
    exp = t.expected_units["expected"].to_numpy()
    ratio = df["y"].to_numpy()[on].sum() / (exp[on] / t.promo_lift).sum()
    assert abs(ratio - t.promo_lift) < 0.05
    off = simulate(SimConfig(seed=0, scale="small", promo_lift=1.0, validate=False))
    on = (world.sellout.df["promo"] == 1).to_numpy()
    base, flat = (
        world.truth.expected_units["expected"].to_numpy(),
        off.truth.expected_units["expected"].to_numpy(),
    )
    np.testing.assert_allclose(flat[on] * world.truth.promo_lift, base[on], rtol=1e-9)
    np.testing.assert_allclose(flat[~on], base[~on], rtol=1e-9)
    assert off.sellout.df["y"][on].sum() < world.sellout.df["y"][on].sum()


def test_future_holds_planned_regressors_and_what_then_sold(world: SimulatedWorld) -> None:
    df, fut, fu = world.sellout.df, world.future, world.truth.future_units
    end = pd.Timestamp(world.config.end)
    assert sorted(fut.columns) == sorted(set(SELLOUT_COLS) - {"y", "revenue"})
    assert fut["ds"].min() == end + pd.Timedelta(days=7) and fut["ds"].nunique() == world.config.horizon
    running = df.loc[df["ds"] == end, "unique_id"]
    assert set(fut["unique_id"]) == set(running)
    assert fut.groupby("unique_id").size().eq(world.config.horizon).all()
    assert (fu["unique_id"].to_numpy() == fut["unique_id"].to_numpy()).all() and (fu["ds"] == fut["ds"]).all()
    assert fut["promo"].sum() > 0 and (fut.loc[fut["promo"] == 1, "promo_depth"] > 0).all()
    assert abs(fu["y"].sum() / fu["expected"].sum() - 1) < 0.05
    last = df[df["ds"] == end].set_index("unique_id")[["store", "category", "channel"]]
    first = fut[fut["ds"] == fut["ds"].min()].set_index("unique_id")[["store", "category", "channel"]]
    pd.testing.assert_frame_equal(first.sort_index(), last.sort_index())


def test_launches_discontinuations_and_intermittent_series(
    world: SimulatedWorld, wide: SimulatedWorld
) -> None:
    for w in (world, wide):
        df, s = w.sellout.df, w.truth.series
        span = df.groupby("unique_id")["ds"].agg(["min", "max", "size"])
        first, last = df["ds"].min(), df["ds"].max()
        launched = s["launch_date"].notna()
        ended = s["discontinue_date"].notna()
        assert launched.any() and ended.any() and (~launched & ~ended).any()
        assert (span.loc[launched[launched].index, "min"] > first).all()
        assert (span.loc[launched[launched].index, "min"] == s.loc[launched, "launch_date"]).all()
        assert (span.loc[ended[ended].index, "max"] < last).all()
        assert (span.loc[ended[ended].index, "max"] == s.loc[ended, "discontinue_date"]).all()
        assert (span.loc[~launched & ~ended, ["min", "max"]] == [first, last]).all().all()
        zero_share = df.groupby("unique_id")["y"].apply(lambda y: (y == 0).mean())
        assert (zero_share > 0.5).sum() >= 3
        assert zero_share.loc[s.index[s["intermittent"]]].median() > 0.5
    launched_early = world.sellout.df.merge(
        world.truth.series["launch_date"].dropna().rename("l"), left_on="unique_id", right_index=True
    )
    weeks_in = (launched_early["ds"] - launched_early["l"]).dt.days // 7
    ramp = launched_early.groupby(weeks_in < 4)["y"].sum() / launched_early.groupby(weeks_in < 4)["y"].size()
    assert ramp[True] < ramp[False]  # launches ramp up


# --- CRM truth recoverable -------------------------------------------------------------------------


def _closed(w: SimulatedWorld) -> pd.DataFrame:
    o = w.crm.opportunities
    old = o["created_date"] < w.truth.asof - pd.Timedelta(days=365)  # old cohort: (nearly) all closed
    return o[old & o["outcome"].isin(["won", "lost"])].assign(won=lambda x: x["outcome"].eq("won"))


def test_win_rate_follows_the_drivers(deals: SimulatedWorld) -> None:
    c = _closed(deals)
    skill = deals.truth.rep_skill.reindex(c["rep_id"]).to_numpy()
    lo, hi = np.quantile(skill, [1 / 3, 2 / 3])
    assert c["won"][skill > hi].mean() > c["won"][skill < lo].mean() + 0.08
    by_source = c.groupby("lead_source")["won"].mean()
    assert by_source["Referral"] > by_source["Inbound"] > by_source["Outbound"]
    assert by_source["Partner"] > by_source["Outbound"] + 0.1
    by_comp = c.groupby("competitor")["won"].mean()
    assert by_comp["no"] > by_comp["yes"] + 0.08
    small, large = c["amount"] < c["amount"].quantile(0.25), c["amount"] > c["amount"].quantile(0.75)
    assert c["won"][small].mean() > c["won"][large].mean() + 0.08


def test_true_win_probability_is_calibrated_and_oracle_by_stage(deals: SimulatedWorld) -> None:
    c = _closed(deals)
    t = deals.truth
    p = t.win_probability.reindex(c["opportunity_id"]).to_numpy()
    bins = pd.qcut(p, 5, labels=False)
    obs = c["won"].groupby(bins).mean().to_numpy()
    pred = pd.Series(p).groupby(bins).mean().to_numpy()
    assert np.abs(obs - pred).max() < 0.05
    ev = deals.crm.stage_events
    for stage in ("Meet", "Pitch"):
        ids = c["opportunity_id"][c["opportunity_id"].isin(ev.loc[ev["stage"] == stage, "opportunity_id"])]
        oracle = t.p_win_from_stage(ids, stage)
        assert abs(oracle.mean() - c.set_index("opportunity_id").loc[ids, "won"].mean()) < 0.03
        assert (oracle >= t.p_win_from_stage(ids, "Find")).all()
    assert (t.p_win_from_stage(ids[:3], ["Sign", "Lost", "Operate"]) == [1.0, 0.0, 1.0]).all()
    with pytest.raises(ConfigError):
        t.p_win_from_stage(["nope"], "Find")
    # population conversion rates match the realised ones in the old cohort
    reached = ev[ev["opportunity_id"].isin(c["opportunity_id"])].groupby("stage")["opportunity_id"].nunique()
    assert abs(reached["Meet"] / reached["Find"] - t.stage_conversion["Find→Meet"]) < 0.03
    assert abs(reached["Sign"] / reached["Pitch"] - t.stage_conversion["Pitch→Sign"]) < 0.04


def test_deal_fate_is_consistent_and_calibrated(deals: SimulatedWorld) -> None:
    o = deals.crm.opportunities.set_index("opportunity_id")
    fate = deals.truth.deal_fate.reindex(o.index)
    closed = o["outcome"] != "open"
    assert (fate.loc[closed, "final_outcome"] == o.loc[closed, "outcome"]).all()
    assert (fate.loc[closed, "final_close_date"] == o.loc[closed, "close_date"]).all()
    assert (fate.loc[~closed, "final_close_date"] > deals.truth.asof).all()
    p = deals.truth.win_probability.reindex(o.index)
    assert abs(p.mean() - fate["final_outcome"].eq("won").mean()) < 0.02  # uncensored: no selection


def test_stage_durations_stalls_and_slippage(deals: SimulatedWorld) -> None:
    t = deals.truth
    c = _closed(deals)
    ev = deals.crm.stage_events
    ev = ev[ev["opportunity_id"].isin(c["opportunity_id"])]
    wide_ts = ev.pivot(index="opportunity_id", columns="stage", values="ts")
    for a, b in (("Find", "Meet"), ("Meet", "Pitch"), ("Pitch", "Sign")):
        days = (wide_ts[b] - wide_ts[a]).dt.days.dropna()
        assert abs(days.mean() / t.stage_duration_days[a] - 1) < 0.1, a
    # lost deals stall: age in the last stage before Lost is longer than a normal stage stay
    last = ev[ev["stage"] != "Lost"].groupby("opportunity_id")["ts"].max()
    lost_at = wide_ts["Lost"].dropna()
    stall = (lost_at - last.reindex(lost_at.index)).dt.days
    assert stall.mean() > 1.5 * np.mean([t.stage_duration_days[s] for s in ("Find", "Meet", "Pitch")])
    slips = (
        deals.crm.close_date_changes.groupby("opportunity_id")
        .size()
        .reindex(c["opportunity_id"], fill_value=0)
    )
    per_outcome = slips.groupby(c.set_index("opportunity_id")["outcome"]).mean()
    assert per_outcome["lost"] > per_outcome["won"] > 0
    ch = deals.crm.close_date_changes.sort_values(["opportunity_id", "ts"])
    assert (ch.groupby("opportunity_id")["expected_close_date"].diff().dropna() > pd.Timedelta(0)).all()
    assert (ch["expected_close_date"] > ch["ts"]).all()


def test_funnel_order_censoring_and_open_deals(world: SimulatedWorld, deals: SimulatedWorld) -> None:
    for w in (world, deals):
        o, ev = w.crm.opportunities, w.crm.stage_events
        asof = w.truth.asof
        assert (o["outcome"] == "open").sum() >= 10
        assert (ev["ts"] <= asof).all() and (o["close_date"].dropna() <= asof).all()
        assert (o.loc[o["outcome"] == "open", "created_date"] > asof - pd.Timedelta(days=300)).all()
        assert set(o["stage"]) <= set(STAGES)
        rank = ev["stage"].map(EVENT_RANK).fillna(99)
        assert (rank.groupby(ev["opportunity_id"]).diff().dropna() > 0).all()
        assert {"Deliver", "Operate"} <= set(ev["stage"])
        won = o.set_index("opportunity_id")["outcome"].eq("won")
        assert ev.loc[ev["stage"] == "Sign", "opportunity_id"].isin(won[won].index).all()


def test_reps_ramp_and_attrition(deals: SimulatedWorld) -> None:
    reps, o, t = deals.crm.reps, deals.crm.opportunities, deals.truth
    first = deals.sellout.df["ds"].min()
    assert (reps["hire_date"] > first).sum() >= 5 and reps["end_date"].notna().sum() >= 3
    assert set(reps["role"]) == {"AE"} and reps["quota"].gt(0).all()
    left = reps.dropna(subset=["end_date"]).set_index("rep_id")["end_date"]
    after = o["created_date"] >= o["rep_id"].map(left)
    assert not after.any()
    # deals per rep-month by month of tenure, new hires only (their whole ramp is in the history)
    hires = reps[reps["hire_date"] > first + pd.Timedelta(days=30)].set_index("rep_id")
    stop = hires["end_date"].fillna(t.asof)
    months = np.arange(15)
    month_start = (
        hires["hire_date"].to_numpy()[:, None] + pd.to_timedelta(months * 30.44, unit="D").to_numpy()
    )
    exposure = (month_start + np.timedelta64(30, "D") <= stop.to_numpy()[:, None]).sum(axis=0)
    mine = o[o["rep_id"].isin(hires.index)]
    tenure = (mine["created_date"] - mine["rep_id"].map(hires["hire_date"])).dt.days // 30.44
    rate = tenure.value_counts().reindex(months, fill_value=0).to_numpy() / np.maximum(exposure, 1)
    assert exposure[12:].min() >= 3
    assert rate[:3].mean() < 0.5 * rate[12:].mean()
    assert rate[:3].mean() < rate[3:6].mean() < rate[12:].mean()
    month_in_quarter = (o["created_date"].dt.month - 1) % 3
    per_month = month_in_quarter.value_counts()
    assert per_month[2] > 1.2 * per_month[0]  # quarter-end push in deal creation
    np.testing.assert_allclose(t.ramp[:3], 0.25)
    assert t.ramp[-1] == 1.0


# --- spend ---------------------------------------------------------------------------------------


def test_spend_response_increases_saturates_and_matches_the_data(world: SimulatedWorld) -> None:
    t, sp = world.truth, world.spend
    for row in t.spend_response.itertuples():
        grid = np.linspace(0, 20 * row.half, 200)
        y = t.expected_outcome(row.channel, row.region, grid)
        assert (np.diff(y) >= 0).all() and y[0] == pytest.approx(row.baseline)
        assert y[-1] > row.baseline + 0.9 * row.beta  # saturates near baseline + beta
        mid, high = t.expected_outcome(
            row.channel, row.region, np.array([row.half, 4 * row.half]) * (1 - row.theta)
        )
        assert (y[-1] - high) < (high - mid)  # diminishing returns
        s = sp[(sp["channel"] == row.channel) & (sp["region"] == row.region)].sort_values("period")
        path = t.expected_outcome(row.channel, row.region, s["spend"].to_numpy(), steady=False)
        ratio = s["outcome"].to_numpy()[8:] / path[8:]  # skip the adstock warm-up
        assert abs(np.median(ratio) - 1) < 0.03
    assert sp["spend"].eq(0).any() and sp.groupby(["channel", "region"])["spend"].std().gt(0).all()
    corr = sp.groupby("channel")[["spend", "outcome"]].corr(method="spearman").xs("spend", level=1)["outcome"]
    assert (corr > 0).all()


# --- I/O and scale -------------------------------------------------------------------------------


def test_write_round_trip(world: SimulatedWorld, tmp_path: Path) -> None:
    root = world.write(tmp_path / "w")
    back = read_table(root / "sellout.parquet")
    pd.testing.assert_frame_equal(validate_sellout(back, world.sellout.spec), world.sellout.df)
    crm = validate_crm(read_crm(root / "crm"))
    assert len(crm.opportunities) == len(world.crm.opportunities)
    validate_spend(read_table(root / "spend.csv"))
    truth = json.loads((root / "truth.json").read_text())
    assert truth["promo_lift"] == world.truth.promo_lift
    assert truth["elasticity"] == pytest.approx(world.truth.elasticity.to_dict())
    assert len(read_table(root / "truth" / "expected_units.parquet")) == len(world.sellout.df)


def test_medium_scale_generates() -> None:
    w = simulate(SimConfig(seed=0, scale="medium", validate=False))
    df = w.sellout.df
    assert df["unique_id"].nunique() == 5_000 and df["ds"].nunique() == 156
    assert 550_000 < len(df) <= 780_000
    assert 8_000 < len(w.crm.opportunities) < 12_000 and len(w.crm.reps) == 60
