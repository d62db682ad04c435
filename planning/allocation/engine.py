"""The allocation pass itself: :func:`allocate` walks the unit tree top-down one depth at a time, solving
only the parents where a bound binds and rounding every level to exact cents; :func:`rebalance` re-runs it
with more overrides and :func:`check_totals` audits the sums. The rules are in :mod:`planning.allocation`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import DataValidationError, Problem
from salesplan.planning.allocation.solve import fix_sum, round_exact, solve_exact, solve_highs
from salesplan.planning.allocation.tree import (
    check_config,
    over_assignment,
    propagate_bounds,
    raise_infeasible,
    ramp_factor,
    rollup,
    root_targets,
    sibling_share,
    unit_bounds,
    unit_tree,
)
from salesplan.planning.types import Allocation, AllocationConfig

__all__ = ["LP_MAX_VARS", "PASS_THROUGH", "allocate", "check_totals", "rebalance"]
LP_MAX_VARS = 2_000
"""With solver="auto", binding parents with up to this many children in total go to HiGHS, larger
batches to the closed-form optimum of the same LP (identical up to solver tolerance, and linear-time)."""
PASS_THROUGH = ("forecast_q50", "last_period_actual", "last_quota", "pipeline", "tenure_months")


def allocate(
    units: pd.DataFrame,
    top_targets: float | Mapping[Any, float] | pd.Series | None,
    config: AllocationConfig | None = None,
    *,
    overrides: Mapping[Any, float] | None = None,
) -> Allocation:
    """Targets for every unit and quarter of ``units`` (``unit_id, parent_id, level``, optional ``quarter``,
    potential columns named in ``config.weights`` / ``bottom_up_basis``, optional ``tenure_months,
    capacity, floor, cap, last_quota``). ``top_targets``: a number, or a mapping keyed by root id, by quarter
    or by (quarter, root id); ignored (may be None) for ``bottom_up``. ``overrides`` fix units' targets
    (keys unit_id or (quarter, unit_id)); their siblings re-balance to keep the parent total."""
    c = config or AllocationConfig()
    check_config(c)
    overrides = dict(overrides or {})
    u, par, depth = unit_tree(units)
    n = len(u)
    is_leaf = np.bincount(par[par >= 0], minlength=n) == 0
    ramp = ramp_factor(u, c)
    oa = over_assignment(u, c)
    roots = np.flatnonzero(par < 0)

    def basis(col: str) -> np.ndarray:
        if col not in u.columns:
            raise DataValidationError(
                [Problem(col, "potential column missing", fix="add it or change the config")], "units"
            )
        v = pd.to_numeric(u[col], errors="coerce").to_numpy(dtype=float)
        bad = is_leaf & (np.isnan(v) | (v < 0))
        if bad.any():
            raise DataValidationError(
                [
                    Problem(
                        col,
                        "missing or negative potential on leaf units",
                        rows=u.loc[bad, "unit_id"].head(5).tolist(),
                        n_rows=int(bad.sum()),
                        fix="fill it (0 for no potential)",
                    )
                ],
                "units",
            )
        return rollup(v * ramp, par, depth, is_leaf)

    lo, hi = propagate_bounds(*unit_bounds(u, c, overrides), par, depth, oa)

    def bottom_up() -> np.ndarray:
        leaf = basis(c.bottom_up_basis) * (1 + c.growth) * 100
        amount = np.where(is_leaf, np.clip(leaf, np.maximum(lo, 0), hi), 0.0)
        for d in range(int(depth.max()), 0, -1):
            at = np.flatnonzero(depth == d)
            amount += np.bincount(par[at], weights=amount[at] / (1 + oa[at]), minlength=n)
        return amount

    def top_down_amount(top: np.ndarray, share: np.ndarray) -> np.ndarray:
        amount = np.zeros(n)
        amount[roots] = top
        for d in range(1, int(depth.max()) + 1):
            at = np.flatnonzero(depth == d)
            amount[at] = amount[par[at]] * (1 + oa[at]) * share[at]
        return amount

    def blend_share() -> np.ndarray:
        """Weighted blend of each potential column's share within the parent."""
        tot_w = sum(c.weights.values())
        out = np.zeros(n)
        for col, w in c.weights.items():
            if w > 0:
                out += (w / tot_w) * sibling_share(basis(col), par)
        return out

    if c.method == "top_down":
        share = blend_share()
        top = root_targets(u, roots, top_targets)
    else:
        bu = bottom_up()
        if c.method == "bottom_up":
            share, top = sibling_share(bu, par), np.clip(np.round(bu[roots]), lo[roots], hi[roots])
        else:
            top = root_targets(u, roots, top_targets)
            mix = c.blend_weight * top_down_amount(top, blend_share()) + (1 - c.blend_weight) * bu
            share = sibling_share(mix, par)
    for i, r in enumerate(roots):
        if lo[r] == hi[r]:  # an override on a root replaces its top target
            top[i] = lo[r]
    target = np.zeros(n)
    target[roots] = top
    desired = top_down_amount(top, share)
    binding = np.zeros(n, dtype=bool)
    lp_parents = 0
    for d in range(1, int(depth.max()) + 1):
        at = np.flatnonzero(depth == d)
        need_row = np.zeros(n)
        pa = par[at]
        need_row[pa] = np.rint(target[pa] * (1 + oa[at]))  # children sum to parent × (1 + oa), in cents
        x = need_row[pa] * share[at]
        viol = (x < lo[at] - 1e-6) | (x > hi[at] + 1e-6)
        bad_par = np.unique(pa[viol])
        if len(bad_par):
            in_bad = np.isin(pa, bad_par)
            sub = at[in_bad]
            order = np.argsort(par[sub], kind="stable")
            sub = sub[order]
            kids_need = need_row[par[sub]]
            s_lo = np.bincount(par[sub], weights=lo[sub], minlength=n)[par[sub]]
            s_hi = np.bincount(par[sub], weights=hi[sub], minlength=n)[par[sub]]
            bad = (s_lo > kids_need) | (s_hi < kids_need) | (lo[sub] > hi[sub])
            if bad.any():
                p0 = int(par[sub][bad][0])
                raise_infeasible(u, sub[par[sub] == p0], p0, need_row[p0], (lo, hi), target[p0], par)
            use_lp = c.solver == "highs" or (c.solver == "auto" and len(sub) <= LP_MAX_VARS)
            solve = solve_highs if use_lp else solve_exact
            xs = solve(par[sub], need_row, x[in_bad][order], lo[sub], hi[sub])
            x[in_bad] = fix_sum(xs, par[sub], need_row, lo[sub], hi[sub])[np.argsort(order)]
            binding[sub] = True
            lp_parents += len(bad_par)
        target[at] = round_exact(np.clip(x, lo[at], hi[at]), pa, need_row, hi[at])
    out = u[["quarter", "unit_id", "parent_id", "level"]].copy()
    out["depth"] = depth
    for col in sorted({*c.weights, c.bottom_up_basis, *PASS_THROUGH} & set(u.columns)):
        out[col] = u[col]
    out["share"] = share
    out["ramp"] = ramp
    out["desired"] = desired / 100
    out["lower"] = lo / 100
    out["upper"] = hi / 100
    out["target"] = target / 100
    out["binding"] = binding
    top_s = pd.Series(
        top / 100,
        index=pd.MultiIndex.from_arrays([u["quarter"].to_numpy()[roots], u["unit_id"].to_numpy()[roots]]),
    )
    return Allocation(out, c, top_s, units, overrides, lp_parents)


def rebalance(allocation: Allocation, overrides: Mapping[Any, float]) -> Allocation:
    """Re-run an allocation with more overrides (a planner fixes a unit's target); the other children of
    the same parent re-balance so the parent total is kept, within their bounds."""
    merged = {**allocation.overrides, **dict(overrides)}
    top = (
        None if allocation.config.method == "bottom_up" else {k: v for k, v in allocation.top_targets.items()}
    )
    return allocate(allocation.units, top, allocation.config, overrides=merged)


def check_totals(allocation: Allocation) -> pd.DataFrame:
    """Per parent: children's sum vs parent × (1 + over_assignment) in cents; ``ok`` is exact equality."""
    t = allocation.targets
    oa = over_assignment(t, allocation.config)
    kids = t[t["parent_id"].notna()].assign(
        _oa=oa[t["parent_id"].notna().to_numpy()], _c=lambda f: np.rint(f["target"] * 100)
    )
    s = (
        kids.groupby(["quarter", "parent_id"])
        .agg(children_cents=("_c", "sum"), oa=("_oa", "first"))
        .reset_index()
    )
    p = t.set_index(["quarter", "unit_id"])["target"]
    s["parent_cents"] = np.rint(
        p.reindex(pd.MultiIndex.from_frame(s[["quarter", "parent_id"]])).to_numpy() * 100
    )
    s["expected_cents"] = np.rint(s["parent_cents"] * (1 + s["oa"]))
    s["ok"] = s["children_cents"] == s["expected_cents"]
    return s
