"""Weighted pipeline: expectation, range, splits, forecast categories and periods."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError, DataValidationError
from salesplan.planning.pipeline import (
    forecast_category,
    period_bounds,
    pipeline_deals,
    weighted_pipeline,
    won_value_quantiles,
)


def _deals(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "opportunity_id": [f"o{i}" for i in range(n)],
            "p_win": rng.uniform(0.02, 0.95, n),
            "amount": np.round(rng.lognormal(9, 1, n), -2),
            "expected_close_date": pd.Timestamp("2025-12-01")
            + pd.to_timedelta(rng.integers(0, 200, n), unit="D"),
            "region": rng.choice(["North", "South"], n),
            "rep_id": rng.choice(["r1", "r2", "r3"], n),
        }
    )


def test_expected_value_is_sum_p_times_amount_in_the_period() -> None:
    d = _deals()
    out = weighted_pipeline(d, "2026Q1")
    inq = d[(d["expected_close_date"] >= "2026-01-01") & (d["expected_close_date"] < "2026-04-01")]
    row = out.iloc[0]
    assert row["n_deals"] == len(inq)
    assert row["expected_value"] == pytest.approx(float((inq["p_win"] * inq["amount"]).sum()), rel=1e-12)
    assert row["pipeline_value"] == pytest.approx(float(inq["amount"].sum()))
    assert row["q10"] <= row["expected_value"] <= row["q90"]
    assert row["q10"] <= row["q50"] <= row["q90"]
    assert row["method"] == "monte_carlo"


def test_normal_approximation_for_large_diffuse_pipelines() -> None:
    d = _deals(3000).assign(amount=1000.0)
    out = weighted_pipeline(d, ("2025-12-01", "2026-07-01"), normal_min_deals=400)
    mc = weighted_pipeline(d, ("2025-12-01", "2026-07-01"), normal_min_deals=10**9)
    r, m = out.iloc[0], mc.iloc[0]
    assert r["method"] == "normal" and m["method"] == "monte_carlo"
    assert r["q10"] <= r["expected_value"] <= r["q90"]
    for q in ("q10", "q50", "q90"):
        assert r[q] == pytest.approx(m[q], rel=0.01)


def test_monte_carlo_matches_the_exact_distribution_of_a_small_pipeline() -> None:
    p, a = np.array([0.3, 0.6, 0.8]), np.array([100.0, 250.0, 40.0])
    outcomes = list(itertools.product((0, 1), repeat=3))
    values = np.array([np.dot(o, a) for o in outcomes])
    probs = np.array([np.prod(np.where(np.array(o) == 1, p, 1 - p)) for o in outcomes])
    order = np.argsort(values)
    cdf = np.cumsum(probs[order])
    exact = [values[order][np.searchsorted(cdf, q - 1e-12)] for q in (0.1, 0.5, 0.9)]
    got, method = won_value_quantiles(p, a, (0.1, 0.5, 0.9), n_draws=40_000)
    assert method == "monte_carlo"
    np.testing.assert_allclose(got, exact)


def test_split_by_region_and_rep_adds_up() -> None:
    d = _deals()
    total = weighted_pipeline(d, "2026Q1").iloc[0]
    by = weighted_pipeline(d, "2026Q1", by=["region", "rep"])
    assert set(by.columns) >= {"region", "rep_id", "q10", "q90", "commit_value"}
    assert len(by) == 6
    assert by["expected_value"].sum() == pytest.approx(total["expected_value"])
    assert by["n_deals"].sum() == total["n_deals"]
    for c in ("commit", "best_case", "pipeline_rest"):
        assert by[f"{c}_value"].sum() == pytest.approx(total[f"{c}_value"])


def test_forecast_categories_and_thresholds() -> None:
    cats = forecast_category([0.9, 0.7, 0.69, 0.4, 0.39, 0.0])
    assert list(cats) == ["Commit", "Commit", "Best case", "Best case", "Pipeline", "Pipeline"]
    assert list(forecast_category([0.75, 0.6], commit=0.8, best_case=0.5)) == ["Best case", "Best case"]
    with pytest.raises(ConfigError):
        forecast_category([0.5], commit=0.3, best_case=0.4)
    d = _deals()
    row = weighted_pipeline(d, "2026Q1", commit=0.8, best_case=0.5).iloc[0]
    assert row["best_case_deals"] + row["pipeline_rest_deals"] == row["n_deals"]  # best case holds commit
    assert row["best_case_expected"] + row["pipeline_rest_expected"] == pytest.approx(row["expected_value"])
    assert row["best_case_value"] >= row["commit_value"] and row["best_case_deals"] >= row["commit_deals"]


def test_periods() -> None:
    assert period_bounds("2026Q1") == (pd.Timestamp("2026-01-01"), pd.Timestamp("2026-04-01"))
    assert period_bounds("2025q4") == (pd.Timestamp("2025-10-01"), pd.Timestamp("2026-01-01"))
    assert period_bounds("2026-03") == (pd.Timestamp("2026-03-01"), pd.Timestamp("2026-04-01"))
    assert period_bounds(pd.Period("2026Q2", freq="Q")) == (
        pd.Timestamp("2026-04-01"),
        pd.Timestamp("2026-07-01"),
    )
    with pytest.raises(ConfigError, match="2026Q5"):
        period_bounds("2026Q5")


def test_bad_inputs_and_empty_periods() -> None:
    d = _deals()
    with pytest.raises(DataValidationError, match="p_win"):
        weighted_pipeline(d.drop(columns="p_win"), "2026Q1")
    with pytest.raises(DataValidationError, match="outside"):
        weighted_pipeline(d.assign(p_win=1.5), "2026Q1")
    empty = weighted_pipeline(d, "2030Q1").iloc[0]
    assert empty["n_deals"] == 0 and empty["expected_value"] == 0 and empty["q90"] == 0


def test_pipeline_deals_keeps_open_scored_deals() -> None:
    opps = pd.DataFrame(
        {"opportunity_id": ["a", "b", "c"], "outcome": ["open", "won", "open"], "amount": [1, 2, 3]}
    )
    scores = pd.DataFrame({"opportunity_id": ["a", "b"], "p_win": [0.5, 0.9], "grade": ["B", "A"]})
    out = pipeline_deals(opps, scores)
    assert list(out["opportunity_id"]) == ["a"] and out["p_win"].iloc[0] == 0.5


def _shocked_quarters(n_q: int, mean: float, sd: float, seed: int, n: int = 150) -> pd.DataFrame:
    """Past quarters whose deals' odds all moved by one shared draw ε ~ N(mean, sd²) (column ``eps``)."""
    from scipy import special

    rng = np.random.default_rng(seed)
    parts = []
    for q in range(n_q):
        p = rng.uniform(0.05, 0.9, n)
        eps = rng.normal(mean, sd)
        won = rng.random(n) < special.expit(special.logit(p) + eps)
        parts.append(pd.DataFrame({"period": f"Q{q}", "p_win": p, "won": won, "amount": 1000.0, "eps": eps}))
    return pd.concat(parts, ignore_index=True)


def test_quarter_shock_is_recovered_and_its_bands_cover() -> None:
    """Deals that share a quarter shock: the fitted shock matches the one simulated, and 80 % bands built
    with it hold about 80 % of later quarters' won values, where independent bands hold far fewer."""
    from salesplan.planning.pipeline_shock import INDEPENDENT, fit_quarter_shock

    past = _shocked_quarters(40, mean=-0.3, sd=0.5, seed=1)
    shock = fit_quarter_shock(past)
    assert shock.quarters == 40 and shock.deals == len(past)
    drawn = past.groupby("period")["eps"].first()  # the shocks that happened, against their estimate
    assert shock.mean == pytest.approx(drawn.mean(), abs=0.15)
    assert shock.sd == pytest.approx(drawn.std() * np.sqrt(1 + 1 / 40), abs=0.15)
    future = _shocked_quarters(60, mean=-0.3, sd=0.5, seed=2)
    inside = {"shock": 0, "independent": 0}
    for _, g in future.groupby("period"):
        actual = float(g.loc[g["won"], "amount"].sum())
        for name, s in (("shock", shock), ("independent", INDEPENDENT)):
            (lo, hi), _ = won_value_quantiles(g["p_win"], g["amount"], (0.1, 0.9), n_draws=4000, shock=s)
            inside[name] += lo <= actual <= hi
    assert 0.68 <= inside["shock"] / 60 <= 0.92
    assert inside["independent"] / 60 < 0.5
    few = fit_quarter_shock(past[past["period"].isin(["Q0", "Q1"])])
    assert few.independent and (few.quarters, few.deals) == (2, 300)  # too few: independent, and says so


def test_shocked_large_pipelines_use_a_normal_mixture_that_matches_monte_carlo() -> None:
    from salesplan.planning.pipeline_shock import QuarterShock

    rng = np.random.default_rng(4)
    p, a = rng.uniform(0.05, 0.9, 2000), np.full(2000, 500.0)
    shock = QuarterShock(mean=-0.2, sd=0.4, quarters=10, deals=1)
    fast, how = won_value_quantiles(p, a, (0.1, 0.5, 0.9), shock=shock)
    slow, how_mc = won_value_quantiles(p, a, (0.1, 0.5, 0.9), shock=shock, normal_min_deals=10**9)
    assert (how, how_mc) == ("normal_mixture", "monte_carlo_shock")
    np.testing.assert_allclose(fast, slow, rtol=0.01)
