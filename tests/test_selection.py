"""Selection ranking and the featured-portfolio MILP on small hand-made batch frames (no model runs)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from salesplan.contracts.forecast import quantile_col
from salesplan.errors import ConfigError
from salesplan.planning.selection import (
    Margins,
    PortfolioRules,
    SelectionRequest,
    pick_portfolio,
    rank_candidates,
)

HIER = {"geo": ["store"], "product": ["category", "product"]}
CATS = {"P1": "A", "P2": "A", "P3": "B", "P4": "B", "P5": "C"}


def frames(
    level: dict[str, float], growth: dict[str, float], new: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weekly history (156 weeks) and a 13-week forecast of store × product: ``level`` per product,
    growing by ``growth`` per year; ``new`` products have only the last 20 weeks of history."""
    hist, fc = [], []
    weeks = pd.date_range("2024-01-01", periods=169, freq="7D")
    for store in ("S1", "S2"):
        for p, base in level.items():
            for k, w in enumerate(weeks):
                y = base * (1 + growth[p]) ** (k / 52) * (1.2 if store == "S1" else 1.0)
                row = {"unique_id": f"{store}/{p}", "level": "store/product", "freq": "W", "period": str(w.date()),
                       "ds": w, "store": store, "category": CATS[p], "product": p}  # fmt: skip
                if k < 156:
                    if p not in new or k >= 136:
                        hist.append({**row, "y": y})
                else:
                    fc.append({**row, "yhat": y, quantile_col(0.1): 0.8 * y, quantile_col(0.9): 1.25 * y,
                               "coverage": 1.0, "method": "m"})  # fmt: skip
    return pd.DataFrame(fc), pd.DataFrame(hist)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    level = {"P1": 100.0, "P2": 80.0, "P3": 60.0, "P4": 50.0, "P5": 40.0}
    growth = {"P1": 0.0, "P2": -0.3, "P3": 0.2, "P4": 0.0, "P5": 0.1}
    return frames(level, growth, new=("P5",))


def test_ranking_contribution_growth_and_flags(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    fc, hist = data
    margins = Margins(
        unit_margin=pd.DataFrame({"product": list(CATS), "price": 10.0, "unit_cost": [6, 5, 7, 8, 2]})
    )
    r = rank_candidates(fc, hist, SelectionRequest("store", "product"), margins, HIER)
    t = r.table.set_index("unique_id")
    assert r.level == "store/product" and r.freq == "W" and r.coverage == 1.0
    assert r.span == ("2026-12-28", "2027-03-22")
    row = t.loc["S1/P1"]
    assert row["contribution"] == pytest.approx(13 * 100 * 1.2 * 4)  # flat: 13 weeks × 120 units × (10 − 6)
    assert row["contribution_p10"] == pytest.approx(0.8 * 13 * 120 * 4)
    assert row["growth"] == pytest.approx(0.0, abs=1e-9)
    assert t.loc["S1/P3", "growth"] == pytest.approx(0.2, rel=1e-6)
    assert t.loc["S1/P3", "trend"] == pytest.approx(
        0.2, rel=0.02
    )  # log1p fit and t.loc["S1/P3", "trend_strength"] > 0.99
    assert bool(t.loc["S1/P2", "declining"]) and not bool(t.loc["S1/P1", "declining"])
    assert bool(t.loc["S1/P5", "cold_start"]) and not bool(t.loc["S1/P3", "cold_start"])
    assert t.loc["S1/P1", "risk"] == pytest.approx(0.45)
    assert set(t["category"]) == {"A", "B", "C"}  # the product's parent by default
    s1 = r.table[r.table["market"] == "S1"]
    assert list(s1["rank"]) == [1, 2, 3, 4, 5] and s1["contribution"].is_monotonic_decreasing


def test_margin_rate_per_category_on_revenue(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    fc, hist = data
    m = Margins(rates={"A": 0.5}, rate_col="category", default_rate=0.1)
    t = rank_candidates(fc, hist, SelectionRequest("store", "product"), m, HIER).table.set_index("unique_id")
    assert t.loc["S2/P1", "contribution"] == pytest.approx(13 * 100 * 0.5)
    assert t.loc["S2/P4", "contribution"] == pytest.approx(13 * 50 * 0.1)


def test_bad_inputs_are_named(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    fc, hist = data
    with pytest.raises(ConfigError, match="no forecast level is keyed by"):
        rank_candidates(fc, hist, SelectionRequest("region", "product"), Margins(default_rate=0.2), HIER)
    with pytest.raises(ConfigError, match="no margin input"):
        Margins()
    with pytest.raises(ConfigError, match="two different columns"):
        SelectionRequest("store", "store")
    with pytest.raises(ConfigError, match="slots per market"):
        PortfolioRules(slots_per_market=0)


def brute_force(t: pd.DataFrame, rules: PortfolioRules) -> float:
    """Best feasible total over every subset (numpy counts: 4,096 subsets in well under a second)."""
    m = pd.factorize(t["market"])[0]
    c = pd.factorize(t["category"])[0]
    mc = pd.factorize(t["market"] + "|" + t["category"])[0]
    v = t["contribution"].to_numpy()
    best = 0.0
    for mask in itertools.product((False, True), repeat=len(t)):
        x = np.array(mask)
        k = x.sum()
        if (np.bincount(m[x], minlength=m.max() + 1) > rules.slots_per_market).any():
            continue
        if (
            rules.max_per_category
            and (np.bincount(mc[x], minlength=mc.max() + 1) > rules.max_per_category).any()
        ):
            continue
        if rules.total_slots is not None and k > rules.total_slots:
            continue
        if rules.max_category_share and k and (np.bincount(c[x]) > rules.max_category_share * k + 1e-9).any():
            continue
        if (v[x] < rules.min_margin).any():
            continue
        best = max(best, float(v[x].sum()))
    return best


@pytest.mark.parametrize(
    "rules",
    [
        PortfolioRules(slots_per_market=2),
        PortfolioRules(slots_per_market=3, max_per_category=1),
        PortfolioRules(slots_per_market=3, total_slots=4, max_category_share=0.5, min_margin=100),
    ],
)
def test_portfolio_is_the_exact_optimum(rules: PortfolioRules) -> None:
    rng = np.random.default_rng(3)
    n = 12
    t = pd.DataFrame({
        "market": rng.choice(["M1", "M2", "M3"], n), "product": [f"P{i}" for i in range(n)],
        "category": rng.choice(["A", "B", "C"], n), "unique_id": [f"u{i}" for i in range(n)],
        "contribution": rng.uniform(20, 500, n), "growth": np.nan, "cold_start": False, "declining": False,
    })  # fmt: skip
    t["contribution_p10"] = 0.7 * t["contribution"]
    t = t.sort_values("contribution", ascending=False)
    t["rank"] = t.groupby("market").cumcount() + 1
    p = pick_portfolio(t, rules)
    assert p.expected_margin == pytest.approx(brute_force(t, rules))
    assert p.picks["reason"].str.contains("by expected margin").all()
    assert (p.left_out["reason"].str.len() > 0).all()


def test_risk_aversion_prefers_the_safer_candidate() -> None:
    t = pd.DataFrame({
        "market": ["M", "M"], "product": ["safe", "wild"], "category": ["A", "A"], "unique_id": ["s", "w"],
        "contribution": [100.0, 110.0], "contribution_p10": [90.0, 20.0], "growth": np.nan,
        "cold_start": False, "declining": False, "rank": [2, 1],
    })  # fmt: skip
    assert list(pick_portfolio(t, PortfolioRules(slots_per_market=1)).picks["product"]) == ["wild"]
    safe = pick_portfolio(t, PortfolioRules(slots_per_market=1, risk_aversion=1.0))
    assert list(safe.picks["product"]) == ["safe"]


def test_planned_prices_set_each_weeks_margin(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    fc, hist = data
    costs = pd.DataFrame({"product": list(CATS), "unit_cost": 6.0})
    prices = fc[["unique_id", "ds"]].assign(price=10.0)
    promo = (prices["unique_id"] == "S1/P1") & (prices["ds"] < prices["ds"].min() + pd.Timedelta(weeks=4))
    prices.loc[promo, "price"] = 7.0  # four weeks of a planned promotion
    m = Margins(unit_margin=costs, period_prices=prices)
    t = rank_candidates(fc, hist, SelectionRequest("store", "product"), m, HIER).table.set_index("unique_id")
    assert t.loc["S1/P1", "contribution"] == pytest.approx(120 * (4 * 1 + 9 * 4))
    assert t.loc["S2/P1", "contribution"] == pytest.approx(13 * 100 * 4)
    assert t.loc["S1/P1", "unit_margin"] == pytest.approx((4 + 36) / 13)


def test_a_short_horizon_says_what_it_covers(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    fc, hist = data
    short = fc[fc["ds"] < fc["ds"].min() + pd.Timedelta(weeks=8)]
    r = rank_candidates(short, hist, SelectionRequest("store", "product"), Margins(default_rate=0.2), HIER)
    assert r.coverage == pytest.approx(8 / 13)
    assert r.table.set_index("unique_id").loc["S2/P1", "growth"] == pytest.approx(0.0, abs=1e-9)
