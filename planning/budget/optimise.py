"""The budget split that maximises expected outcome (or profit) under bounds, from response curves:
SLSQP from several starts (Lagrangian, last split, greedy, even, random), its outcome range by parametric
bootstrap, and :func:`grid_optimum`, the brute-force reference. See :mod:`planning.budget`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from salesplan.errors import ConfigError, InfeasibleError
from salesplan.planning.budget.curves import HILL_PARAMS, LOG_PARAMS, curve_arrays, steady_state
from salesplan.planning.types import BudgetPlan, ResponseCurves

__all__ = ["grid_optimum", "optimise_budget"]


def _box(
    prm: pd.DataFrame, budget: float, item_bounds: pd.DataFrame | None, max_change: float | None
) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.zeros(len(prm)), np.full(len(prm), budget)
    if item_bounds is not None:
        b = prm[["channel", "region"]].merge(item_bounds, on=["channel", "region"], how="left")
        lo = np.fmax(lo, b.get("min", pd.Series(np.nan, index=b.index)).to_numpy(dtype=float))
        hi = np.fmin(hi, b.get("max", pd.Series(np.nan, index=b.index)).to_numpy(dtype=float))
    if max_change is not None:
        last = prm["last_spend"].to_numpy(dtype=float)
        lo = np.fmax(lo, np.nan_to_num(last * (1 - max_change), nan=0.0))
        hi = np.fmin(hi, np.nan_to_num(last * (1 + max_change), nan=budget))
    return lo, hi


def _greedy(
    p: dict[str, np.ndarray], budget: float, lo: np.ndarray, hi: np.ndarray, steps: int = 400
) -> np.ndarray:
    """Budget handed out in equal steps, each to the item with the largest gain for that step."""
    s = lo.copy()
    step = max(budget - lo.sum(), 0.0) / steps
    for _ in range(steps):
        nxt = np.minimum(s + step, hi)
        gain = steady_state(p, nxt)[0] - steady_state(p, s)[0]
        gain[nxt <= s] = -np.inf
        i = int(np.argmax(gain))
        if not np.isfinite(gain[i]):
            break
        s[i] = nxt[i]
    return s


def _lagrange(
    p: dict[str, np.ndarray],
    budget: float,
    lo: np.ndarray,
    hi: np.ndarray,
    price_floor: float = 0.0,
    points: int = 768,
) -> np.ndarray:
    """Lagrangian start: for a price λ each item takes argmax_s f(s) − λ·s on its own grid (global in
    one dimension, so S-shaped curves switch on only when worth it); λ by bisection to meet the budget,
    the small remainder spread over items with room. With ``price_floor`` (1 / margin for profit) λ never
    goes below it, so money that returns less than it costs stays unspent."""
    reach = np.where(p["log"], 50 * p["scale"], 20 * p["half"] * (1 - p["theta"]))
    top = np.minimum(hi, np.maximum(np.nan_to_num(reach, nan=budget), lo + budget / len(lo)))
    t = np.linspace(0.0, 1.0, points) ** 2
    grid = lo[:, None] + (np.maximum(top, lo) - lo)[:, None] * t[None, :]
    val = steady_state({k: v[:, None] for k, v in p.items()}, grid)[0]
    rows = np.arange(len(lo))

    def take(lam: float) -> np.ndarray:
        return grid[rows, np.argmax(val - lam * grid, axis=1)]

    slope = np.diff(val, axis=1) / np.maximum(np.diff(grid, axis=1), 1e-12)
    lam_lo, lam_hi = 0.0, float(np.nanmax(slope)) * 2 + 1e-9
    for _ in range(60):
        mid = 0.5 * (lam_lo + lam_hi)
        lam_lo, lam_hi = (mid, lam_hi) if take(mid).sum() > budget else (lam_lo, mid)
    binding = take(price_floor).sum() > budget
    lam_hi = lam_hi if binding else price_floor
    s = take(lam_hi)
    # refine off the grid: items strictly inside their bounds sit on the falling branch of their marginal
    # return; solve f'(s_i) = λ there exactly (nested bisection), λ such that the budget is met
    peak = grid[rows, np.argmax(slope, axis=1)]
    free = (s > lo + 1e-12) & (s < hi - 1e-12) & (s >= peak)
    if free.any():
        fp = {k: v[free] for k, v in p.items()}
        a0, b0 = np.maximum(peak[free], lo[free]), hi[free]
        b0 = np.where(np.isfinite(b0), b0, budget)
        fixed = s[~free].sum()

        def spend_at(lam: float) -> np.ndarray:
            a, b = a0.copy(), b0.copy()
            for _ in range(60):
                m = 0.5 * (a + b)
                hi_side = steady_state(fp, m)[1] > lam
                a, b = np.where(hi_side, m, a), np.where(hi_side, b, m)
            return 0.5 * (a + b)

        l_lo, l_hi = 0.0, float(steady_state(fp, a0)[1].max()) * 1.01 + 1e-12
        for _ in range(60 if binding else 0):
            mid = 0.5 * (l_lo + l_hi)
            l_lo, l_hi = (mid, l_hi) if spend_at(mid).sum() + fixed > budget else (l_lo, mid)
        s = s.copy()
        s[free] = spend_at(0.5 * (l_lo + l_hi) if binding else price_floor)
    room = hi - s
    rest = budget - s.sum()
    if binding and rest > 0 and room.sum() > 0:
        s = s + rest * room / room.sum()
    return np.clip(s, lo, hi)


def optimise_budget(
    curves: ResponseCurves,
    total: float,
    *,
    objective: Literal["outcome", "profit"] = "outcome",
    margin: float = 1.0,
    periods: int = 1,
    item_bounds: pd.DataFrame | None = None,
    channel_bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    max_change: float | None = None,
    roi_floor: float | None = None,
    starts: int | None = None,
    seed: int = 0,
    n_boot: int = 300,
) -> BudgetPlan:
    """Split ``total`` (spent evenly over ``periods`` periods) over the curves' channel × region pairs.
    ``objective``: expected outcome (the whole budget is spent) or profit = margin × outcome − spend (up to
    the budget). Per-period bounds: ``item_bounds`` (``channel, region, min, max``), ``channel_bounds``
    (channel → (min, max) of the channel's total), ``max_change`` (±fraction of ``last_spend``), and
    ``roi_floor`` (incremental outcome of the plan ≥ roi_floor × its spend). ``starts`` defaults to 6 for
    up to 50 pairs and to 1 (the Lagrangian start, already at equal marginal returns) above, where each
    further SLSQP start costs seconds."""
    prm = curves.params.reset_index(drop=True)
    if total <= 0 or periods < 1:
        raise ConfigError(f"total must be > 0 and periods ≥ 1, got total={total}, periods={periods}")
    if total / periods < 0.01:  # below a cent per period the split is meaningless (and 0/0 in the solver)
        raise ConfigError(
            f"total {total:g} over {periods} periods is under a cent per period; plan a larger budget"
        )
    if objective not in ("outcome", "profit"):
        raise ConfigError(f"objective must be 'outcome' or 'profit', got {objective!r}")
    if objective == "profit" and margin <= 0:
        raise ConfigError(
            f"margin must be > 0 for objective='profit' (profit per unit of outcome), got {margin}"
        )
    budget = total / periods
    p = curve_arrays(prm)
    n = len(prm)
    lo, hi = _box(prm, budget, item_bounds, max_change)
    names = [f"{c}/{r}" for c, r in zip(prm["channel"], prm["region"], strict=True)]
    if (lo > hi).any():
        bad = [f"{names[i]} (min {lo[i]:,.0f} > max {hi[i]:,.0f})" for i in np.flatnonzero(lo > hi)[:5]]
        raise InfeasibleError(
            f"per-item spend bounds conflict: {', '.join(bad)}. Fix: widen min/max or max_change"
        )
    if lo.sum() > budget + 1e-6 or (objective == "outcome" and hi.sum() < budget - 1e-6):
        raise InfeasibleError(
            f"budget {budget:,.2f} per period is outside [Σ min {lo.sum():,.2f}, Σ max {hi.sum():,.2f}] of "
            f"the items {', '.join(names[:8])}{'…' if n > 8 else ''}. Fix: change the budget or loosen "
            "min/max/max_change"
        )
    f0 = steady_state(p, np.zeros(n))[0]
    scale = max(float(np.abs(steady_state(p, np.full(n, budget / n))[0] - f0).sum()), 1e-9)
    sign = margin if objective == "profit" else 1.0

    def obj(x: np.ndarray) -> tuple[float, np.ndarray]:
        v, d = steady_state(p, x * budget)
        cost = budget * x.sum() if objective == "profit" else 0.0
        return -(sign * (v - f0).sum() - cost) / scale, -(
            sign * d * budget - (budget if objective == "profit" else 0.0)
        ) / scale

    cons: list[dict[str, Any]] = [
        {
            "type": "eq" if objective == "outcome" else "ineq",
            "fun": lambda x: 1.0 - x.sum(),
            "jac": lambda x: -np.ones(n),
        }
    ]
    for ch, (cmin, cmax) in (channel_bounds or {}).items():
        m = (prm["channel"] == ch).to_numpy(dtype=float)
        if not m.any():
            raise ConfigError(
                f"channel_bounds names unknown channel {ch!r}; known {sorted(set(prm['channel']))}"
            )
        if cmin is not None:
            cons.append(
                {"type": "ineq", "fun": lambda x, m=m, v=cmin: m @ x - v / budget, "jac": lambda x, m=m: m}
            )
        if cmax is not None:
            cons.append(
                {"type": "ineq", "fun": lambda x, m=m, v=cmax: v / budget - m @ x, "jac": lambda x, m=m: -m}
            )
    if roi_floor is not None:

        def roi_fun(x: np.ndarray) -> float:
            return float(
                (steady_state(p, x * budget)[0] - f0).sum() / scale - roi_floor * budget * x.sum() / scale
            )

        def roi_jac(x: np.ndarray) -> np.ndarray:
            return (steady_state(p, x * budget)[1] * budget - roi_floor * budget) / scale

        cons.append({"type": "ineq", "fun": roi_fun, "jac": roi_jac})
    last = prm["last_spend"].to_numpy(dtype=float) if "last_spend" in prm else np.full(n, np.nan)
    prop = np.nan_to_num(last, nan=0.0)
    prop = prop / prop.sum() * budget if prop.sum() > 0 else np.full(n, budget / n)
    rng = np.random.default_rng(seed)
    starts = starts if starts is not None else (6 if n <= 50 else 1)
    floor_price = 1.0 / margin if objective == "profit" else 0.0
    x0s = [
        _lagrange(p, budget, lo, hi, floor_price),
        prop,
        _greedy(p, budget, lo, hi),
        np.full(n, budget / n),
    ]
    x0s += [rng.dirichlet(np.ones(n)) * budget for _ in range(max(starts - 4, 0))]
    best, converged = None, False
    maxiter = 500 if n <= 50 else 150
    for x0 in x0s[: max(starts, 1)]:
        res = minimize(
            obj,
            np.clip(x0, lo, hi) / budget,
            jac=True,
            method="SLSQP",
            constraints=cons,
            bounds=list(zip(lo / budget, hi / budget, strict=True)),
            options={"maxiter": maxiter, "ftol": 1e-10},
        )
        feas = all(
            (c["fun"](res.x) >= -1e-7) if c["type"] == "ineq" else abs(c["fun"](res.x)) < 1e-7 for c in cons
        )
        if feas and (best is None or res.fun < best.fun):
            best, converged = res, bool(res.success)
    if best is None:
        raise InfeasibleError(
            f"no feasible split of {budget:,.2f} per period found under the channel bounds "
            f"{dict(channel_bounds or {})}"
            f" and ROI floor {roi_floor}. Fix: loosen them or change the budget"
        )
    s = np.clip(best.x * budget, lo, hi)
    val, der = steady_state(p, s)
    pval = steady_state(p, prop)[0]
    lo_b, hi_b = _bootstrap(curves, prm, s, n_boot, seed)
    alloc = prm[["channel", "region"]].assign(
        spend=s,
        last_spend=last,
        proportional_spend=prop,
        outcome=val * periods,
        proportional_outcome=pval * periods,
        incremental=(val - f0) * periods,
        marginal_roi=der,
        roi=np.where(s > 0, (val - f0) / np.where(s > 0, s, 1), np.nan),
        at_bound=(s <= lo + 1e-6 * budget) | (s >= hi - 1e-6 * budget),
    )
    exp_out, prop_out = float(val.sum() * periods), float(pval.sum() * periods)
    return BudgetPlan(
        allocation=alloc,
        total_budget=float(total),
        objective=objective,
        expected_outcome=exp_out,
        outcome_range=(lo_b * periods, hi_b * periods),
        proportional_outcome=prop_out,
        uplift=exp_out / prop_out - 1 if prop_out else float("nan"),
        periods=periods,
        converged=converged,
        starts=len(x0s[: max(starts, 1)]),
    )


def _bootstrap(
    curves: ResponseCurves, prm: pd.DataFrame, s: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float]:
    """q10 and q90 of the total expected outcome at spend ``s`` with parameters drawn from each curve's
    fit covariance (independent across curves; curves without a covariance count as known)."""
    base = curve_arrays(prm)
    total = np.tile(steady_state(base, s)[0], (max(n_boot, 1), 1))
    rng = np.random.default_rng(seed)
    for i, (ch, rg, m) in enumerate(zip(prm["channel"], prm["region"], prm["model"], strict=True)):
        cov = curves.cov.get((str(ch), str(rg)))
        if cov is None or not np.all(np.isfinite(cov)) or n_boot < 2:
            continue
        names = HILL_PARAMS if m == "hill" else LOG_PARAMS
        mean = np.array([base[k][i] for k in names])
        draw = rng.multivariate_normal(mean, cov, size=n_boot, check_valid="ignore", method="eigh")
        q = {k: np.full(n_boot, base[k][i]) for k in base}
        q.update({k: draw[:, j] for j, k in enumerate(names)})
        q["beta"], q["half"] = np.maximum(q["beta"], 0), np.maximum(q["half"], 1e-9)
        q["alpha"], q["theta"] = np.clip(q["alpha"], 0.1, 10), np.clip(q["theta"], 0, 0.99)
        total[:, i] = steady_state(q, np.full(n_boot, s[i]))[0]
    sums = total.sum(axis=1)
    return float(np.quantile(sums, 0.1)), float(np.quantile(sums, 0.9))


def grid_optimum(curves: ResponseCurves, budget: float, *, steps: int = 2000) -> tuple[np.ndarray, float]:
    """Brute-force reference: the best split of ``budget`` per period on a grid of ``steps`` equal
    increments by dynamic programming (global for separable curves, S-shaped or not). Returns the spend
    per item and the total outcome per period."""
    p = curve_arrays(curves.params.reset_index(drop=True))
    grid = np.arange(steps + 1) * budget / steps
    vals = steady_state({k: v[:, None] for k, v in p.items()}, grid[None, :])[0]  # (items, steps + 1)
    best = vals[0].copy()
    choice = []
    idx = np.arange(steps + 1)
    diff = idx[:, None] - idx[None, :]  # b − k
    for v in vals[1:]:
        cand = np.where(diff >= 0, best[np.clip(diff, 0, None)] + v[None, :], -np.inf)
        k = np.argmax(cand, axis=1)
        choice.append(k)
        best = cand[idx, k]
    spend = np.zeros(len(vals))
    b = steps
    for i in range(len(vals) - 1, 0, -1):
        k = int(choice[i - 1][b])
        spend[i] = grid[k]
        b -= k
    spend[0] = grid[b]
    return spend, float(best[steps])
