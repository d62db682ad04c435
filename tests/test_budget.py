"""Budget optimiser: the known optimum on the simulator's true curves, equal marginal ROI, bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError, InfeasibleError
from salesplan.planning.budget import (
    curves_from_params,
    fit_response,
    grid_optimum,
    optimise_budget,
    response,
)
from salesplan.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return simulate(SimConfig(seed=0, scale="small"))


def _last_spend(spend: pd.DataFrame, k: int = 13) -> dict[tuple[str, str], float]:
    last = spend[spend["period"] >= sorted(spend["period"].unique())[-k]]
    return {(c, r): float(v) for (c, r), v in last.groupby(["channel", "region"])["spend"].mean().items()}


def test_optimiser_finds_true_optimum_on_simulator_curves(world) -> None:  # type: ignore[no-untyped-def]
    truth = world.truth
    last = _last_spend(world.spend)
    curves = curves_from_params(truth.spend_response, last)
    budget = sum(last.values())
    plan = optimise_budget(curves, budget)
    a = plan.allocation
    assert a["spend"].sum() == pytest.approx(budget, rel=1e-9)
    # the simulator's own function agrees with the outcome the optimiser reports
    own = sum(
        truth.expected_outcome(c, r, [s])[0]
        for c, r, s in zip(a["channel"], a["region"], a["spend"], strict=True)
    )
    assert plan.expected_outcome == pytest.approx(own, rel=1e-9)
    # independent brute force: dynamic programme over a 1/2000 grid of the budget
    _, grid_best = grid_optimum(curves, budget, steps=2000)
    base = response(curves, np.zeros(len(a))).sum()
    incr_opt, incr_grid = plan.expected_outcome - base, grid_best - base
    assert incr_opt >= incr_grid * 0.99  # within 1 % of the known optimum (on incremental outcome)
    assert incr_opt <= incr_grid * 1.002  # and not better than the optimum beyond the grid step
    assert plan.uplift > 0 and plan.expected_outcome > plan.proportional_outcome
    interior = ~a["at_bound"] & (a["spend"] > 0)
    m = a.loc[interior, "marginal_roi"]
    assert interior.sum() >= 2 and (m.max() - m.min()) / m.mean() < 1e-3  # equal marginal ROI at the optimum


def test_fitted_curves_plan_is_close_to_true_optimum(world) -> None:  # type: ignore[no-untyped-def]
    truth = world.truth
    curves = fit_response(world.spend)
    p = curves.params
    assert set(p["model"]) <= {"hill", "log"} and (p["r2"] > 0.8).all()
    budget = float(p["last_spend"].sum())
    plan = optimise_budget(curves, budget, n_boot=200)
    a = plan.allocation
    true_out = sum(
        truth.expected_outcome(c, r, [s])[0]
        for c, r, s in zip(a["channel"], a["region"], a["spend"], strict=True)
    )
    best = optimise_budget(curves_from_params(truth.spend_response, _last_spend(world.spend)), budget)
    assert true_out >= best.expected_outcome * 0.99
    lo, hi = plan.outcome_range
    assert lo < plan.expected_outcome < hi


def _synthetic(n_ch: int = 4) -> tuple:  # type: ignore[type-arg]
    params = pd.DataFrame(
        {
            "channel": [f"c{i}" for i in range(n_ch)],
            "region": "all",
            "beta": np.linspace(1000, 4000, n_ch),
            "alpha": np.linspace(0.8, 1.6, n_ch),
            "half": np.linspace(300, 900, n_ch),
            "theta": np.linspace(0.0, 0.5, n_ch),
            "baseline": 100.0,
        }
    )
    last = {(c, "all"): 400.0 + 100 * i for i, c in enumerate(params["channel"])}
    return curves_from_params(params, last), last


def test_bounds_roi_floor_and_profit_objective() -> None:
    curves, _ = _synthetic()
    budget = 2000.0
    free = optimise_budget(curves, budget)
    mc = optimise_budget(curves, budget, max_change=0.1)
    ls = mc.allocation["last_spend"].to_numpy()
    assert (mc.allocation["spend"] >= ls * 0.9 - 1e-6).all() and (
        mc.allocation["spend"] <= ls * 1.1 + 1e-6
    ).all()
    assert mc.expected_outcome <= free.expected_outcome + 1e-6
    cb = optimise_budget(curves, budget, channel_bounds={"c3": (None, 300.0), "c0": (500.0, None)})
    s = cb.allocation.set_index("channel")["spend"]
    assert s["c3"] <= 300 + 1e-6 and s["c0"] >= 500 - 1e-6 and s.sum() == pytest.approx(budget)
    profit = optimise_budget(curves, 50_000.0, objective="profit", margin=0.5)
    a = profit.allocation
    assert a["spend"].sum() < 50_000  # does not spend money that returns less than it costs
    inner = a[~a["at_bound"] & (a["spend"] > 1)]
    np.testing.assert_allclose(inner["marginal_roi"] * 0.5, 1.0, rtol=2e-3)  # margin × marginal return = 1
    roi = optimise_budget(curves, 20_000.0, objective="profit", margin=1.0, roi_floor=3.0)
    inc = roi.allocation["incremental"].sum()
    assert inc >= 3.0 * roi.allocation["spend"].sum() - 1e-3
    with pytest.raises(InfeasibleError, match=r"c0/all \(min 400 > max 10\)"):
        optimise_budget(
            curves,
            budget,
            item_bounds=pd.DataFrame({"channel": ["c0"], "region": ["all"], "max": [10.0]}),
            max_change=0.0,
        )
    with pytest.raises(InfeasibleError, match=r"budget 2,000.00 per period is outside \[Σ min 2,200.00"):
        optimise_budget(curves, budget, max_change=0.0)
    with pytest.raises(ConfigError, match="unknown channel"):
        optimise_budget(curves, budget, channel_bounds={"nope": (1.0, None)})
    for total in (0.0, -5.0):
        with pytest.raises(ConfigError, match="total must be > 0"):
            optimise_budget(curves, total)
    with pytest.raises(ConfigError, match="under a cent per period"):
        optimise_budget(curves, 1e-300)


def test_fit_recovers_log_curve() -> None:
    rng = np.random.default_rng(1)
    n = 120
    s = rng.uniform(200, 2000, n) * (rng.random(n) > 0.05)
    theta = 0.3
    a = np.zeros(n)
    for t in range(n):
        a[t] = s[t] + (theta * a[t - 1] if t else 0.0)
    y = 500 + 3000 * np.log1p(a * (1 - theta) / 800) * np.exp(rng.normal(0, 0.02, n))
    df = pd.DataFrame(
        {
            "period": pd.date_range("2024-01-01", periods=n, freq="7D"),
            "channel": "x",
            "region": "r",
            "spend": s,
            "outcome": y,
        }
    )
    c = fit_response(df)
    grid = np.array([300.0, 900.0, 1800.0])
    np.testing.assert_allclose(response(c, grid[:, None])[:, 0], 500 + 3000 * np.log1p(grid / 800), rtol=0.03)
    assert c.params["theta"].iloc[0] == pytest.approx(0.3, abs=0.1)


def test_large_problem_lagrangian_path_matches_grid_optimum() -> None:
    rng = np.random.default_rng(5)
    n = 60
    typical = rng.lognormal(7, 0.6, n)
    theta = rng.uniform(0, 0.6, n)
    params = pd.DataFrame(
        {
            "channel": [f"c{i}" for i in range(n)],
            "region": "r",
            "beta": typical * rng.uniform(2, 6, n),
            "alpha": rng.uniform(0.8, 2.2, n),  # mix of concave and S-shaped curves
            "half": typical / (1 - theta) * rng.uniform(0.6, 1.6, n),
            "theta": theta,
            "baseline": 10.0,
        }
    )
    curves = curves_from_params(
        params, {(c, "r"): float(v) for c, v in zip(params["channel"], typical, strict=True)}
    )
    budget = float(typical.sum())
    plan = optimise_budget(curves, budget, n_boot=0)
    assert plan.starts == 1 and plan.allocation["spend"].sum() == pytest.approx(budget)
    _, best = grid_optimum(curves, budget, steps=1200)
    base = response(curves, np.zeros(n)).sum()
    assert plan.expected_outcome - base >= (best - base) * 0.99
    a = plan.allocation
    inner = a[~a["at_bound"] & (a["spend"] > 0)]
    assert (inner["marginal_roi"].max() - inner["marginal_roi"].min()) / inner["marginal_roi"].mean() < 1e-3
