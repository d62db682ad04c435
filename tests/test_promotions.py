"""Promotion planning: the margin arithmetic, the exact plan against brute force, the dip measured on a
simulated world against the dip it was built with, and the simulator's commerce tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.planning.promotions import PromotionRules, candidate_margins, plan_promotions, post_promo_dip
from salesplan.simulator import SimConfig, SimulatedWorld, simulate

PRODUCTS = pd.DataFrame(
    {
        "product": ["A", "B", "C"],
        "category": ["x", "x", "y"],
        "price": [10.0, 8.0, 5.0],
        "unit_cost": [6.0, 4.0, 3.0],
    }
)


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    return simulate(SimConfig(seed=0, activities=False))


def test_margin_terms_by_hand() -> None:
    cands = pd.DataFrame({"candidate_id": ["c"], "market": ["M"], "product": ["A"], "start": ["2027-01-04"],
                          "weeks": [2], "depth": [0.2], "cost": [30.0]})  # fmt: skip
    eff = pd.DataFrame(
        {"candidate_id": ["c"], "baseline_units": [100.0], "promo_units": [150.0], "siblings_diff": [-10.0]}
    )
    t = candidate_margins(cands, eff, PRODUCTS, dip=(0.1, 0.05)).iloc[0]
    # own: 150 × (10·0.8 − 6) − 100 × (10 − 6) = 300 − 400; siblings: −10 × mean margin of category x (4)
    assert t["margin_own"] == pytest.approx(-100.0)
    assert t["margin_siblings"] == pytest.approx(-40.0)
    assert t["dip_units"] == pytest.approx(-(0.15) * 50)  # per-week baseline 50, two weeks after
    assert t["margin_dip"] == pytest.approx(-7.5 * 4)
    assert t["incremental_margin"] == pytest.approx(-100 - 40 - 30 - 30)


def brute(t: pd.DataFrame, rules: PromotionRules) -> float:
    """Best feasible total over every subset, the rules checked with numpy on precomputed incidences."""
    n = len(t)
    start = ((t["start"] - t["start"].min()).dt.days // 7).to_numpy()
    wk = t["weeks"].to_numpy()
    span = int((start + wk).max())
    cover = np.zeros((n, span), dtype=int)
    for i in range(n):
        cover[i, start[i] : start[i] + wk[i]] = 1
    m = pd.factorize(t["market"])[0]
    mc = pd.factorize(t["market"] + "|" + t["category"])[0]
    clash = np.zeros((n, n), dtype=bool)
    for a, b in itertools.combinations(range(n), 2):
        same = (t["market"].iat[a], t["product"].iat[a]) == (t["market"].iat[b], t["product"].iat[b])
        overlap = (
            start[a] < start[b] + wk[b] + rules.gap_weeks and start[b] < start[a] + wk[a] + rules.gap_weeks
        )
        clash[a, b] = clash[b, a] = same and overlap
    v, cost = t["incremental_margin"].to_numpy(), t["cost"].to_numpy()
    best = 0.0
    for mask in itertools.product((False, True), repeat=n):
        x = np.array(mask)
        if cost[x].sum() > rules.budget + 1e-9 or clash[np.ix_(x, x)].any():
            continue
        per_m = np.array([cover[x & (m == g)].sum(axis=0) for g in range(m.max() + 1)])
        if rules.max_per_market_week and (per_m > rules.max_per_market_week).any():
            continue
        per_mc = np.array([cover[x & (mc == g)].sum(axis=0) for g in range(mc.max() + 1)])
        if rules.max_per_category_week and (per_mc > rules.max_per_category_week).any():
            continue
        best = max(best, float(v[x].sum()))
    return best


@pytest.mark.parametrize(
    "rules", [PromotionRules(budget=150), PromotionRules(budget=400, max_per_market_week=2, gap_weeks=3)]
)
def test_plan_is_the_exact_optimum(rules: PromotionRules) -> None:
    rng = np.random.default_rng(5)
    n = 10
    weeks = pd.date_range("2027-01-04", periods=6, freq="7D")
    cands = pd.DataFrame({
        "candidate_id": [f"c{i}" for i in range(n)], "market": rng.choice(["M1", "M2"], n),
        "product": rng.choice(["A", "B", "C"], n), "start": rng.choice(weeks, n), "weeks": rng.integers(1, 3, n),
        "depth": rng.choice([0.1, 0.2], n), "cost": rng.uniform(20, 120, n).round(0),
    })  # fmt: skip
    base = rng.uniform(50, 200, n)
    eff = pd.DataFrame({"candidate_id": cands["candidate_id"], "baseline_units": base,
                        "promo_units": base * rng.uniform(1.1, 2.2, n), "siblings_diff": -rng.uniform(0, 20, n)})  # fmt: skip
    plan = plan_promotions(cands, eff, PRODUCTS, rules)
    chosen = plan.table[plan.table["chosen"]]
    assert chosen["cost"].sum() <= rules.budget + 1e-9
    assert plan.incremental_margin == pytest.approx(brute(plan.table, rules), abs=1e-6)
    assert (plan.table["reason"].str.len() > 10).all()


def test_bad_candidates_are_refused() -> None:
    cands = pd.DataFrame({"candidate_id": ["a", "a"], "market": "M", "product": "A", "start": "2027-01-04",
                          "weeks": 1, "depth": 0.1, "cost": 1.0})  # fmt: skip
    eff = pd.DataFrame(
        {"candidate_id": ["a"], "baseline_units": [1.0], "promo_units": [2.0], "siblings_diff": [0.0]}
    )
    with pytest.raises(ConfigError, match="unique"):
        plan_promotions(cands, eff, PRODUCTS, PromotionRules(budget=10))
    with pytest.raises(ConfigError, match="budget"):
        PromotionRules(budget=-1)


def test_dip_measured_on_history_matches_the_world(world: SimulatedWorld) -> None:
    d1, d2 = post_promo_dip(world.sellout.df)
    true1, true2 = world.truth.post_promo_dip
    assert d1 == pytest.approx(true1, abs=0.05) and d2 == pytest.approx(true2, abs=0.05)
    no_promo = world.sellout.df.assign(promo=0.0)
    assert post_promo_dip(no_promo) == (0.0, 0.0)


def test_commerce_tables_and_truth(world: SimulatedWorld) -> None:
    c = world.commerce()
    p = c.products
    assert set(p["product"]) == set(world.sellout.df["product"]) and (p["unit_cost"] < p["price"]).all()
    assert c.outlets["store"].is_unique and set(c.outlets["store"]) == set(world.sellout.df["store"])
    assert c.accounts["outlets"].sum() == len(c.outlets)
    assert len(c.candidates) and c.candidates["candidate_id"].is_unique
    t = c.candidate_truth.set_index("candidate_id")
    assert (t["own_uplift"] > 0).all() and (t["dip"] <= 0).all() and (t["sibling_loss"] <= 0).all()
    assert np.allclose(t["incremental"], t["own_uplift"] + t["dip"] + t["sibling_loss"])
    again = simulate(SimConfig(seed=0, activities=False))
    pd.testing.assert_frame_equal(again.sellout.df, world.sellout.df)  # the commerce stream leaves it alone
    pd.testing.assert_frame_equal(again.commerce().candidates, c.candidates)
