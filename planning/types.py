"""Typed results shared by the planning modules: frozen dataclasses holding frames, so a caller (the API,
a benchmark, a notebook) gets one object with the numbers *and* the settings that produced them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

RAMP_BY_QUARTER: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
"""Default productivity of a new rep by quarter of tenure (first quarter 25 %, fourth and later 100 %)."""


@dataclass(frozen=True)
class AllocationConfig:
    """How a parent target is split over its children.

    ``method``: ``top_down`` (shares of a weighted blend of potentials, the top target given),
    ``bottom_up`` (each leaf's ``bottom_up_basis`` × (1 + ``growth``), rolled up; the top is an output) or
    ``blended`` (``blend_weight`` × top-down + (1 − ``blend_weight``) × bottom-up per unit, re-split
    so the top target given is kept).

    ``over_assignment`` (one number, or one per *child* level name): at every parent, the children's
    targets sum to parent × (1 + over_assignment), exactly to the cent. One number applies at every level
    and so compounds down the tree; the per-level form applies only where named (levels not named get 0):
    proposals name only the leaf level, so the over-assignment is applied once. Default 0.

    ``ramp`` scales the potential of units that have a ``tenure_months`` value: ``ramp[k]`` is the
    productivity in the k-th quarter of tenure (the last value holds afterwards); pass ``ramp_monthly`` to
    use a monthly curve instead (the quarter's factor is the mean of its three months).

    ``max_change``: a unit with ``last_quota`` must land within last_quota × (1 ± max_change).

    ``solver`` for parents whose bounds bind: ``highs`` (scipy ``linprog``), ``exact`` (the closed-form
    optimum of the same LP, for large batches) or ``auto`` (HiGHS for small batches).
    """

    method: str = "top_down"
    weights: Mapping[str, float] = field(default_factory=lambda: {"forecast_q50": 1.0})
    bottom_up_basis: str = "forecast_q50"
    growth: float = 0.0
    blend_weight: float = 0.5
    over_assignment: float | Mapping[str, float] = 0.0
    ramp: tuple[float, ...] = RAMP_BY_QUARTER
    ramp_monthly: tuple[float, ...] | None = None
    max_change: float | None = None
    solver: str = "auto"


@dataclass(frozen=True)
class Allocation:
    """Targets per (quarter, unit). ``targets`` columns: ``quarter, unit_id, parent_id, level, depth,
    potential, ramp, desired, lower, upper, target, binding`` plus the potential columns passed in.
    ``desired`` is the unconstrained proportional split, ``binding`` marks units whose parent needed the LP.
    ``units``/``top_targets``/``overrides`` are the inputs, kept so :func:`planning.allocation.rebalance`
    can re-run with one more override."""

    targets: pd.DataFrame
    config: AllocationConfig
    top_targets: pd.Series
    units: pd.DataFrame
    overrides: Mapping[Any, float] = field(default_factory=dict)
    lp_parents: int = 0


@dataclass(frozen=True)
class FairnessReport:
    """Spread of quota relative to potential across leaf units (reps), per quarter: ``gini`` and ``cv`` of
    quota/potential, ``share_above_p50`` (quota above the rep's own P50 forecast), ``max_min_ratio``."""

    by_quarter: pd.DataFrame
    per_unit: pd.DataFrame


@dataclass(frozen=True)
class TargetChoice:
    """One unit's target and what it means: the probability of hitting it under the forecast distribution."""

    unit_id: str
    mode: str
    target: float
    p_hit: float
    forecast_q50: float
    last_period_actual: float | None = None


@dataclass(frozen=True)
class TargetProposal:
    """The planning half of a target proposal (the DB adds id, status, author, timestamps, version).
    ``rows``: ``level, unit_id, parent_id, target, forecast_q50, p_hit, last_period_actual, m1, m2, m3``."""

    quarter: str
    method: str
    parameters: Mapping[str, Any]
    input_model_versions: Mapping[str, str]
    rows: pd.DataFrame


@dataclass(frozen=True)
class ResponseCurves:
    """Fitted outcome-per-period response of each channel × region to spend held constant.
    ``params`` columns: ``channel, region, model`` (hill or log), ``beta, alpha, half, theta, baseline``,
    ``scale`` (log model), ``r2, rmse, aic, n, last_spend``; ``cov`` maps (channel, region) to the covariance
    of the fitted parameter vector (order given by ``cov_params``)."""

    params: pd.DataFrame
    cov: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    cov_params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetPlan:
    """Optimal spend per period per channel × region. ``allocation`` columns: ``channel, region, spend,
    last_spend, proportional_spend, outcome, proportional_outcome, marginal_roi, roi, at_bound``.
    Totals are per period × ``periods``; ``outcome_range`` is the (q10, q90) of the expected outcome from
    the curve-fit uncertainty (parametric bootstrap)."""

    allocation: pd.DataFrame
    total_budget: float
    objective: str
    expected_outcome: float
    outcome_range: tuple[float, float]
    proportional_outcome: float
    uplift: float
    periods: int
    converged: bool
    starts: int


@dataclass(frozen=True)
class PnL:
    """Contribution P&L per region × quarter (``lines``) and its total (``total``)."""

    lines: pd.DataFrame
    total: pd.DataFrame
