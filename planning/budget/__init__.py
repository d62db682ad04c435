"""Marketing budget: response curves of outcome to spend per channel × region, and the split of a total
budget that maximises expected outcome (or profit) under bounds.

Curves. Outcome per period = baseline + beta · hill(a) with a the geometric adstock of spend
(a_t = s_t + theta · a_{t−1}) and hill(a) = a^alpha / (a^alpha + half^alpha); or the log curve
baseline + beta · log(1 + (1 − theta) · a / scale). Both are fitted jointly with theta by bounded least
squares (``curve_fit``, several starts over theta) on spend and outcome scaled to their means; the model with the
lower AIC is kept. For planning, spend is held at a constant s per period, so a = s / (1 − theta): the
steady-state curve, the one ``truth.expected_outcome(..., steady=True)`` gives in the simulator.

Optimiser. SLSQP with analytic gradients on spend shares of the per-period budget, from several starts
(a Lagrangian split — each item's best spend at a common price of spend, the price set to meet the
budget —, last period's split, a greedy marginal-return split, the even split, random splits with a fixed
seed), the best kept. Hill curves with alpha > 1 are S-shaped, hence the starts; :func:`grid_optimum` is an
independent brute-force check (dynamic programming over a fine grid, exact for this separable problem up
to the grid step). At an interior optimum every channel's marginal return d outcome / d spend is equal.

Modules: :mod:`.curves` (fitting and evaluating the curves), :mod:`.optimise` (the split and its check)."""

from __future__ import annotations

from salesplan.planning.budget.curves import (
    HILL_PARAMS,
    LOG_PARAMS,
    THETA_STARTS,
    curves_from_params,
    fit_response,
    response,
)
from salesplan.planning.budget.optimise import grid_optimum, optimise_budget

__all__ = [
    "HILL_PARAMS",
    "LOG_PARAMS",
    "THETA_STARTS",
    "curves_from_params",
    "fit_response",
    "grid_optimum",
    "optimise_budget",
    "response",
]
