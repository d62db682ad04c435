"""A quarterly target proposal from forecasts (sell-out) or CRM bookings: the company target in the mode
the planner chose, split down the unit tree with the allocation engine, phased over the three months,
with every unit's probability of hitting its target and the fairness of the split.

One function, :func:`build_proposal`, for both domains so the API and the planner page treat them alike:
``by`` names the levels under ``total`` (sell-out: hierarchy columns of one dimension, e.g.
``("region", "store")``; bookings: ``("region", "team", "rep")``). The inputs are frames, never models:
the Forecast / history frames of the batch outputs, or the CRM tables (plus optional deal scores)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.contracts import CRMData
from salesplan.errors import ConfigError, InsufficientDataError
from salesplan.planning.allocation import allocate
from salesplan.planning.distributions import QuarterDistribution
from salesplan.planning.fairness import fairness_report
from salesplan.planning.phasing import phase_tree
from salesplan.planning.phasing_weeks import phase_weeks, weekly_record
from salesplan.planning.proposals.inputs import PlanInputs, bookings_inputs, sellout_inputs
from salesplan.planning.proposals.request import BOOKINGS_LEVELS, ProposalRequest
from salesplan.planning.proposals.targets import (
    implied_probability,
    probability_curve,
    proposal,
    target_for_probability,
    unit_target,
)
from salesplan.planning.types import (
    AllocationConfig,
    FairnessReport,
    TargetChoice,
    TargetProposal,
)

__all__ = [
    "BOTTOM_UP_BASIS",
    "DEFAULT_P_HIT_FLOOR",
    "ProposalResult",
    "below_floor",
    "build_from_inputs",
    "build_proposal",
    "implied_probability_for",
    "leaf_over_assignment",
    "plan_inputs",
]

DEFAULT_P_HIT_FLOOR = 0.30
"""Units whose target has a lower P(hit) than this are flagged when the proposal is built and need the
approver's reason to be approved (``SALESPLAN_P_HIT_FLOOR`` sets the service's)."""
MAX_LISTED = 50
BOTTOM_UP_BASIS = "own_target"
"""Leaf column the bottom-up method rolls up: each leaf's own target in the chosen mode (its own
P(hit) = probability quantile, or its last-year actual × (1 + growth))."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _opt_float(v: Any) -> float | None:
    x = pd.to_numeric(v, errors="coerce")
    return None if pd.isna(x) else float(x)


@dataclass(frozen=True)
class ProposalResult:
    """The proposal rows and header parameters, the company target, the slider curve of the top unit,
    the fairness report, the measure (``units`` or ``won_value``), the three month labels, and the
    quarter distributions of every unit (for :func:`implied_probability_for`)."""

    proposal: TargetProposal
    company: TargetChoice
    curve: pd.DataFrame
    fairness: FairnessReport
    measure: str
    months: tuple[str, str, str]
    distribution: QuarterDistribution | None = None


def _check_ids(inputs: PlanInputs, req: ProposalRequest) -> None:
    known = set(inputs.units["unit_id"])
    for name in ("floors", "caps", "overrides"):
        bad = sorted(set(getattr(req, name)) - known)
        if bad:
            sample = inputs.units["unit_id"].head(5).tolist()
            raise ConfigError(f"{name} name unknown unit(s) {bad[:5]}; units are e.g. {sample}")
    root = set(inputs.units.loc[inputs.units["parent_id"].isna(), "unit_id"])
    on_root = sorted(root & (set(req.floors) | set(req.caps)))
    if on_root:
        raise ConfigError(
            f"floors/caps on {on_root} would be ignored: the top target comes from mode "
            "(probability/growth/value) or an override; bound the units under it instead"
        )
    bad = sorted(k for k in set(req.floors) & set(req.caps) if req.floors[k] > req.caps[k])
    if bad:
        raise ConfigError(f"floor above cap for {bad[:5]}; lower the floor or raise the cap")


def _bottom_up_basis(req: ProposalRequest, dist: QuarterDistribution, u: pd.DataFrame) -> np.ndarray:
    """Each unit's own target in the planner's mode (growth: last year × (1 + growth), units without a
    last year fall back to their own P(hit)-quantile)."""
    own = target_for_probability(dist, req.probability, u["unit_id"].tolist())[:, 0]
    if req.mode == "growth":
        ly = pd.to_numeric(u["last_year_actual"], errors="coerce").to_numpy(dtype=float)
        own = np.where(np.isnan(ly), own, ly * (1.0 + float(req.growth or 0.0)))
    return own


def leaf_over_assignment(units: pd.DataFrame, over_assignment: float) -> dict[str, float]:
    """The over-assignment by child level: only the leaf level gets it (units with no children), so it is
    applied once whatever the depth of the tree."""
    leaves = ~units["unit_id"].astype(str).isin(set(units["parent_id"].dropna().astype(str)))
    return {str(lv): float(over_assignment) for lv in units.loc[leaves, "level"].unique()}


def below_floor(rows: pd.DataFrame, floor: float) -> dict[str, Any]:
    """Units whose target's P(hit) is under ``floor``, by level (a planner must see them; approving them
    needs a reason)."""
    p = pd.to_numeric(rows["p_hit"], errors="coerce")
    low = rows[p < floor]
    return {
        "floor": float(floor),
        "count": len(low),
        "by_level": {str(k): int(v) for k, v in low["level"].value_counts().items()},
        "units": low.sort_values("p_hit")["unit_id"].astype(str).head(MAX_LISTED).tolist(),
    }


def _plan(
    req: ProposalRequest,
    inputs: PlanInputs,
    input_model_versions: Mapping[str, str] | None,
    p_hit_floor: float = DEFAULT_P_HIT_FLOOR,
) -> ProposalResult:
    """Company target → allocation → phasing → p_hit, curve and fairness, for either domain."""
    _check_ids(inputs, req)
    dist, u = inputs.dist, inputs.units.copy()
    root = str(u.loc[u["parent_id"].isna(), "unit_id"].iat[0])
    at_root = u.set_index("unit_id").loc[root]
    ly_root = _opt_float(at_root["last_year_actual"])
    lp_root = _opt_float(at_root["last_period_actual"])
    ly_quarter = pd.Period(req.quarter, "Q") - 4
    unseen = inputs.domain == "sellout" and inputs.notes.get("season_seen") is False
    if req.mode == "probability" and unseen:
        median = float(dist.quantile(0.5, root)[0, 0])
        raise InsufficientDataError(
            f"{req.quarter}: the history has no whole {ly_quarter}, so the forecast has not seen this "
            f"quarter's season and a target at a promised P(hit) of {req.probability:.0%} cannot be backed "
            "(its backtest origins saw even less of the year). Fix: plan a quarter with a year "
            f"of history behind it, or type the company target (mode='value'; CLI: --mode value --value N; "
            f"the forecast median is {median:,.0f}): its P(hit) is then shown with this caveat"
        )
    if req.mode == "growth" and ly_root is None:
        raise ConfigError(
            f"mode='growth' needs last year's actual for {req.quarter}'s same quarter a year earlier "
            f"({ly_quarter}), which the history does not have; use "
            + ("mode='value'" if unseen else "mode='probability'")
        )
    top = unit_target(
        dist, root, req.mode, p_hit=req.probability, growth=req.growth,
        last_year=ly_root, value=req.value,
    )  # fmt: skip
    u["quarter"] = req.quarter
    u["forecast_q50"] = dist.quantile(0.5, u["unit_id"].tolist())[:, 0]
    u[BOTTOM_UP_BASIS] = _bottom_up_basis(req, dist, u)
    u["floor"] = u["unit_id"].map(req.floors)
    u["cap"] = u["unit_id"].map(req.caps)
    if req.max_change is not None:
        base = u["last_quota"] if "last_quota" in u.columns else pd.Series(np.nan, index=u.index)
        u["last_quota"] = base.fillna(u["last_period_actual"]).where(u["parent_id"].notna())
    oa_levels = leaf_over_assignment(u, req.over_assignment)
    cfg = AllocationConfig(
        method=req.method, weights={"forecast_q50": 1.0}, bottom_up_basis=BOTTOM_UP_BASIS,
        over_assignment=oa_levels, ramp=inputs.ramp or req.ramp, max_change=req.max_change,
    )  # fmt: skip
    alloc = allocate(u, top.target, cfg, overrides=req.overrides)
    this_q = alloc.targets[alloc.targets["quarter"].astype(str) == req.quarter]
    ph = phase_tree(
        this_q[["unit_id", "parent_id", "target"]], req.quarter, inputs.monthly_shape,  # type: ignore[arg-type]
        source=inputs.monthly,
    )  # fmt: skip
    prop = proposal(alloc, req.quarter, dist=dist, phasing=ph, input_model_versions=input_model_versions)
    rows = prop.rows
    rows["overridden"] = rows["unit_id"].isin(set(req.overrides))
    rows["p_hit"] = rows["p_hit"].clip(0.0, 1.0)
    rows = rows[["level", "unit_id", "parent_id", "target", "forecast_q50", "p_hit", "last_period_actual",
                 "m1", "m2", "m3", "overridden"]]  # fmt: skip
    is_root = (alloc.targets["unit_id"] == root).to_numpy()
    root_target = float(alloc.targets["target"].to_numpy(dtype=float)[is_root][0])
    company = TargetChoice(
        unit_id=root,
        mode=req.mode,
        target=root_target,
        p_hit=float(implied_probability(dist, root, root_target)[0, 0]),
        forecast_q50=float(dist.quantile(0.5, root)[0, 0]),
        last_period_actual=lp_root,
    )
    shapes = ph.drop_duplicates("unit_id")["shape"].value_counts().to_dict()
    weekly = None
    if inputs.weekly is not None:  # weekly data: weeks too, adding up to the months both ways
        pw = phase_weeks(this_q[["unit_id", "parent_id"]], ph, req.quarter, "forecast", source=inputs.weekly,
                         week_start=inputs.week_start)  # fmt: skip
        weekly = weekly_record(pw, inputs.week_start)
    params = {
        **dict(prop.parameters),
        "quarter": req.quarter,
        "by": list(req.by),
        "domain": inputs.domain,
        "measure": inputs.measure,
        "mode": req.mode,
        "probability": req.probability,
        "growth": req.growth,
        "value": req.value,
        "over_assignment": req.over_assignment,
        "over_assignment_by_level": oa_levels,
        "below_floor": below_floor(rows, p_hit_floor),
        "floors": dict(req.floors),
        "caps": dict(req.caps),
        "ramp": list(req.ramp),
        "months": list(inputs.months),
        "last_period": inputs.last_period,
        "last_year_actual": ly_root,
        "phasing_shape": {str(k): int(v) for k, v in shapes.items()},
        **({"weekly": weekly} if weekly is not None else {}),
        "company_target": company.target,
        "company_p_hit": company.p_hit,
        "binding_units": int(alloc.targets["binding"].sum()),
        **inputs.notes,
    }
    return ProposalResult(
        proposal=TargetProposal(req.quarter, req.method, params, prop.input_model_versions, rows),
        company=company,
        curve=probability_curve(dist, root),
        fairness=fairness_report(alloc),
        measure=inputs.measure,
        months=inputs.months,
        distribution=dist,
    )


def plan_inputs(
    request: ProposalRequest,
    *,
    forecast: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    crm: CRMData | None = None,
    scores: pd.DataFrame | None = None,
    tree: pd.DataFrame | None = None,
) -> PlanInputs:
    """The checked inputs of a proposal (distributions, tree, actuals, monthly shape) for either domain;
    ``plan_inputs(...).dist`` is what the slider endpoints read (with :func:`implied_probability_for`
    and :func:`planning.proposals.targets.probability_curve`) without building a whole proposal."""
    bookings = request.resolved_domain == "bookings" or (forecast is None and crm is not None)
    if bookings:
        if crm is None:
            raise ConfigError(f"by={request.by} plans bookings and needs crm= (the CRM tables)")
        inputs = bookings_inputs(request.quarter, request.by, crm, scores=scores, ramp=request.ramp)
    else:
        if forecast is None:
            raise ConfigError(
                f"by={request.by} plans sell-out and needs forecast= (the batch Forecast frame); "
                f"for bookings use levels from {BOOKINGS_LEVELS} with crm="
            )
        inputs = sellout_inputs(request.quarter, request.by, forecast, history, tree=tree)
    return inputs


def build_proposal(
    request: ProposalRequest,
    *,
    forecast: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    crm: CRMData | None = None,
    scores: pd.DataFrame | None = None,
    input_model_versions: Mapping[str, str] | None = None,
    tree: pd.DataFrame | None = None,
    p_hit_floor: float = DEFAULT_P_HIT_FLOOR,
) -> ProposalResult:
    """Target proposal for ``request.quarter``, as the proposal request asks. Sell-out: ``forecast``
    (+ ``history``) in the batch-output shapes (``salesplan.contracts.forecast``); the unit tree comes
    from their hierarchy columns, else from their sums, unless ``tree`` (``unit_id, parent_id, level``)
    is given. Bookings (``by`` with team/rep, or only ``crm`` given): ``crm`` and optional ``scores``
    (open deals' ``opportunity_id, p_win``). Pure: no I/O."""
    inputs = plan_inputs(request, forecast=forecast, history=history, crm=crm, scores=scores, tree=tree)
    return _plan(request, inputs, input_model_versions, p_hit_floor)


def build_from_inputs(
    request: ProposalRequest,
    inputs: PlanInputs,
    input_model_versions: Mapping[str, str] | None = None,
    p_hit_floor: float = DEFAULT_P_HIT_FLOOR,
) -> ProposalResult:
    """The same proposal from inputs already built by :func:`plan_inputs` for the same quarter and ``by``:
    the distributions are the costly part (the bookings replay), and they do not depend on the probability,
    method or bounds a planner tries, so a caller may keep them. ``inputs`` is not modified."""
    return _plan(request, inputs, input_model_versions, p_hit_floor)


def implied_probability_for(
    result_or_dist: ProposalResult | QuarterDistribution, unit_id: str, value: float
) -> float:
    """P(the unit's quarter total ≥ ``value``): what a target typed on the slider means."""
    dist = result_or_dist.distribution if isinstance(result_or_dist, ProposalResult) else result_or_dist
    if dist is None:
        raise ConfigError("this result carries no distribution; rebuild it with build_proposal")
    v = _number(value, "value")
    return float(np.clip(implied_probability(dist, str(unit_id), v)[0, 0], 0.0, 1.0))
