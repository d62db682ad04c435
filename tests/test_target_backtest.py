"""Target backtest: replayed quarters, hit rate against the promised probability, allocation methods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.planning.bookings import bookings_actuals, bookings_distributions
from salesplan.planning.distributions import QuarterDistribution
from salesplan.planning.target_backtest import conformal_distributions, target_backtest
from salesplan.simulator import SimConfig, simulate

LEVELS = np.round(np.arange(0.05, 0.951, 0.05), 2)


def _toy(n: int = 400, seed: int = 0) -> tuple[dict[str, QuarterDistribution], pd.DataFrame, pd.Series]:
    """A total over n units whose quarter totals are lognormal(log 100, 0.3), with their exact quantiles."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    ids = tuple(f"u{i:03d}" for i in range(n))
    q = 100 * np.exp(0.3 * stats.norm.ppf(LEVELS))
    leaf = QuarterDistribution(ids, LEVELS, np.tile(q, (n, 1)))
    top = QuarterDistribution(
        ("total",), LEVELS, (n * 100 * np.exp(0.045) * (1 + 0.3 / np.sqrt(n) * stats.norm.ppf(LEVELS)))[None]
    )
    tree = pd.DataFrame(
        {"unit_id": ["total", *ids], "parent_id": [None, *["total"] * n], "level": ["total", *["unit"] * n]}
    )
    actual = pd.Series(100 * np.exp(0.3 * rng.standard_normal(n)), index=ids)
    return {"total": top, "unit": leaf}, tree, pd.concat([pd.Series({"total": actual.sum()}), actual])


def test_hit_rate_matches_promise_when_distributions_are_true() -> None:
    dists, tree, actual = _toy()
    bt = target_backtest(["2025Q1"], lambda q: (dists, tree), lambda q: actual, probability=0.6)
    s = bt.summary.set_index("method")
    assert s.loc["own_quantile", "promised"] == pytest.approx(0.6, abs=1e-3)  # targets are cents
    assert abs(s.loc["own_quantile", "hit_rate"] - 0.6) < 0.06  # 400 units: ±2.5 standard errors
    # own targets are the units' 40 % quantiles, hit counted by actual ≥ target
    rows = bt.rows[(bt.rows["method"] == "own_quantile") & bt.rows["is_leaf"]]
    expect = 100 * np.exp(0.3 * -0.2533471)
    assert np.allclose(rows["target"], expect, rtol=1e-3)
    assert (rows["hit"] == (rows["actual"] >= rows["target"] - 0.005)).all()


def test_allocation_methods_keep_their_contracts() -> None:
    dists, tree, actual = _toy(50)
    bt = target_backtest(["2025Q1", "2025Q2"], lambda q: (dists, tree), lambda q: actual, probability=0.7)
    r = bt.rows
    top = dists["total"].quantile(0.3)[0, 0]
    for m in ("top_down", "blended"):
        sub = r[(r["method"] == m) & (r["quarter"] == "2025Q1")]
        assert sub.loc[sub["level"] == "total", "target"].iat[0] == pytest.approx(top, abs=0.01)
        assert sub.loc[sub["is_leaf"], "target"].sum() == pytest.approx(round(top, 2), abs=0.02)
    bu = r[(r["method"] == "bottom_up") & r["is_leaf"]]
    own = r[(r["method"] == "own_quantile") & r["is_leaf"]]
    np.testing.assert_allclose(bu["target"].to_numpy(), own["target"].to_numpy(), atol=0.01)
    # the total is less spread than its parts, so splitting its 30 % quantile asks more of each unit
    td = r[(r["method"] == "top_down") & r["is_leaf"]]
    assert td["p_hit"].mean() < 0.7
    assert set(bt.summary["method"]) == {"own_quantile", "top_down", "bottom_up", "blended"}
    assert set(bt.by_level["level"]) == {"total", "unit"} and (bt.summary["quarters"] == 2).all()


def test_conformal_distributions_recover_ratio_quantiles() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    pts = rng.lognormal(5, 1, n)
    cal = pd.DataFrame({"level": "rep", "point": pts, "actual": pts * rng.lognormal(0, 0.4, n)})
    points = pd.DataFrame({"unit_id": ["a", "b", "z"], "level": "rep", "point": [100.0, 1000.0, 0.0]})
    d = conformal_distributions(points, cal, ["rep"])["rep"]
    from scipy import stats

    np.testing.assert_allclose(d.quantile(0.5, "a")[0, 0], 100.0, rtol=0.08)
    np.testing.assert_allclose(d.quantile(0.9, "b")[0, 0], 1000 * np.exp(0.4 * stats.norm.ppf(0.9)), rtol=0.1)
    assert (d.quantile(LEVELS, "z") == 0).all()
    # a level without ratios of its own borrows the finer level's spread, centred on its mean ratio
    top = pd.DataFrame({"unit_id": ["t"], "level": "total", "point": [1e4]})
    both = conformal_distributions(pd.concat([top, points]), cal, ["total", "rep"])
    mean_ratio = float((cal["actual"] / cal["point"]).mean())
    assert both["total"].quantile(0.5)[0, 0] == pytest.approx(1e4 * mean_ratio, rel=0.02)


def test_clear_errors() -> None:
    dists, tree, actual = _toy(5)
    ok = (lambda q: (dists, tree), lambda q: actual)
    with pytest.raises(ConfigError, match="probability"):
        target_backtest(["2025Q1"], *ok, probability=1.2)
    with pytest.raises(ConfigError, match="methods"):
        target_backtest(["2025Q1"], *ok, methods=["median"])
    with pytest.raises(ConfigError, match="quarters is empty"):
        target_backtest([], *ok)
    extra = pd.concat([tree, pd.DataFrame({"unit_id": ["ghost"], "parent_id": ["total"], "level": ["unit"]})])
    with pytest.raises(ConfigError, match="ghost"):
        target_backtest(["2025Q1"], lambda q: (dists, extra), lambda q: actual)


@pytest.fixture(scope="module")
def world_crm():
    return simulate(SimConfig(seed=0, scale="small")).crm


def _start(q: str) -> pd.Timestamp:
    return pd.Period(q, freq="Q").start_time


def test_bookings_backtest_on_the_simulator_is_calibrated(world_crm) -> None:
    quarters = [str(q) for q in pd.period_range("2025Q1", "2026Q3", freq="Q")]
    bt = target_backtest(
        quarters,
        lambda q: bookings_distributions(world_crm, q, as_of=_start(q)),
        lambda q: bookings_actuals(world_crm, q, as_of=_start(q)),
        probability=0.6,
        methods=("own_quantile", "top_down"),
    )
    s = bt.summary.set_index("method")
    assert s.loc["own_quantile", "units"] >= 80
    # ~85 rep-quarters: a calibrated method lands within ±0.12 (about 2.3 standard errors) of 0.6
    assert abs(s.loc["own_quantile", "hit_rate"] - 0.6) <= 0.12
    assert abs(s.loc["top_down", "hit_rate"] - s.loc["top_down", "promised"]) <= 0.12
    assert np.isfinite(s.loc["own_quantile", "gini_actual"])


@pytest.mark.slow
def test_bookings_backtest_medium_world_within_five_points() -> None:
    crm = simulate(SimConfig(seed=0, scale="medium")).crm
    quarters = [str(q) for q in pd.period_range("2025Q1", "2026Q3", freq="Q")]
    bt = target_backtest(
        quarters,
        lambda q: bookings_distributions(crm, q, as_of=_start(q)),
        lambda q: bookings_actuals(crm, q, as_of=_start(q)),
        probability=0.6,
        methods=("own_quantile",),
    )
    s = bt.summary.set_index("method").loc["own_quantile"]
    assert s["units"] >= 300 and abs(s["hit_rate"] - 0.6) <= 0.05
