"""Quota allocation down a unit tree (region → team → rep, or region → store → product), per quarter.

Totals. At every parent, the children's targets sum to ``round(parent_cents × (1 + over_assignment))``
cents exactly: the parent target is what is preserved, the over-assignment is the explicit, documented
excess handed down (10 % by default, compounding per level). Each root receives its top target.

Shares. ``top_down`` splits by a weighted blend of potential shares (forecast, last year, territory...
each column normalised within the parent first, so the scales do not matter); ``bottom_up`` takes each
leaf's own basis × (1 + growth) and rolls it up (a parent is its children's sum / (1 + over_assignment));
``blended`` mixes the two amounts per unit and re-splits so the given top target holds. Potentials are
read on the leaves, scaled by the ramp of new reps, and summed up the tree.

Bounds (floor, cap, capacity, ±max_change vs last quota, overrides). Parents whose proportional split
stays inside every child's bounds keep it. Where a bound binds, all such parents are solved together in
one sparse linear programme with HiGHS: start from the split clipped to the bounds and move the other
children as little as possible — minimise the largest move relative to each child's proportional amount
— so the rest of the siblings absorb the gap in proportion to their potential. Then every target is
rounded to cents by largest remainder within its parent, which keeps each sum exact and each bound held.
Bounds that cannot hold together raise ``InfeasibleError`` naming the parent, the sums and the units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from planning.types import Allocation, AllocationConfig
from salesplan.errors import ConfigError, DataValidationError, InfeasibleError, Problem

METHODS = ("top_down", "bottom_up", "blended")
SOLVERS = ("auto", "highs", "exact")
LP_MAX_VARS = 2_000
"""With solver="auto", binding parents with up to this many children in total go to HiGHS, larger
batches to the closed-form optimum of the same LP (identical up to solver tolerance, and linear-time)."""
PASS_THROUGH = ("forecast_q50", "last_period_actual", "last_quota", "pipeline", "tenure_months")


def _fmt(cents: float) -> str:
    return f"{cents / 100:,.2f}"


def _check_config(c: AllocationConfig) -> None:
    if c.method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {c.method!r}")
    if c.method != "bottom_up" and (
        not c.weights or any(w < 0 for w in c.weights.values()) or sum(c.weights.values()) <= 0
    ):
        raise ConfigError(f"weights must be non-negative with a positive sum, got {dict(c.weights)}")
    if not 0 <= c.blend_weight <= 1:
        raise ConfigError(f"blend_weight is the top-down weight in [0, 1], got {c.blend_weight}")
    oa = c.over_assignment.values() if isinstance(c.over_assignment, Mapping) else [c.over_assignment]
    if any(o <= -1 for o in oa):
        raise ConfigError(
            f"over_assignment must be > -1 (0.10 = children sum to 110 %), got {c.over_assignment}"
        )
    if c.solver not in SOLVERS:
        raise ConfigError(f"solver must be one of {SOLVERS}, got {c.solver!r}")
    ramp = c.ramp_monthly if c.ramp_monthly is not None else c.ramp
    if not ramp or any(r < 0 for r in ramp):
        raise ConfigError(f"ramp must be a non-empty list of factors ≥ 0, got {ramp}")
    if c.max_change is not None and c.max_change < 0:
        raise ConfigError(f"max_change is a fraction ≥ 0 (0.2 = ±20 %), got {c.max_change}")


def _tree(units: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Validated copy with a ``quarter`` column, parent row numbers (-1 at roots) and depths (0 at roots)."""
    missing = [c for c in ("unit_id", "parent_id", "level") if c not in units.columns]
    if missing:
        raise DataValidationError(
            [Problem(c, "column missing", fix="units need unit_id, parent_id, level") for c in missing],
            "units",
        )
    u = units.reset_index(drop=True).copy()
    if "quarter" not in u.columns:
        u["quarter"] = "current"
    u["quarter"] = u["quarter"].astype(str)
    u["unit_id"] = u["unit_id"].astype(str)
    u["parent_id"] = u["parent_id"].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    key = u["quarter"] + "\x1f" + u["unit_id"]
    dup = key.duplicated(keep=False)
    problems = []
    if dup.any():
        problems.append(
            Problem(
                "unit_id",
                "duplicate unit in a quarter",
                rows=u.loc[dup, "unit_id"].head(5).tolist(),
                n_rows=int(dup.sum()),
                fix="one row per unit and quarter",
            )
        )
    pos = pd.Series(np.arange(len(u)), index=key)
    has_parent = u["parent_id"].notna().to_numpy()
    pkey = u["quarter"] + "\x1f" + u["parent_id"].fillna("")
    par = np.full(len(u), -1, dtype=np.int64)
    if not dup.any():
        found = pkey[has_parent].map(pos)
        orphan = found.isna()
        if orphan.any():
            problems.append(
                Problem(
                    "parent_id",
                    "parent not among the units of its quarter",
                    rows=u.loc[orphan[orphan].index, "unit_id"].head(5).tolist(),
                    n_rows=int(orphan.sum()),
                    fix="add the parent rows, or leave parent_id empty on roots",
                )
            )
        else:
            par[has_parent] = found.to_numpy(dtype=np.int64)
    if problems:
        raise DataValidationError(problems, "units")
    depth = np.zeros(len(u), dtype=np.int64)
    cur = par.copy()
    for _ in range(len(u) + 1):
        live = cur >= 0
        if not live.any():
            break
        depth[live] += 1
        cur[live] = par[cur[live]]
    else:
        raise DataValidationError(
            [Problem("parent_id", "the tree has a cycle", fix="make parent links acyclic")], "units"
        )
    return u, par, depth


def _ramp_factor(u: pd.DataFrame, c: AllocationConfig) -> np.ndarray:
    """Productivity factor per row from ``tenure_months`` (months completed at the quarter start)."""
    if "tenure_months" not in u.columns:
        return np.ones(len(u))
    t = pd.to_numeric(u["tenure_months"], errors="coerce").to_numpy(dtype=float)
    out = np.ones(len(u))
    ok = ~np.isnan(t)
    tm = np.maximum(np.floor(t[ok]), 0).astype(np.int64)
    if c.ramp_monthly is not None:
        r = np.asarray(c.ramp_monthly, dtype=float)
        out[ok] = np.mean([r[np.minimum(tm + j, len(r) - 1)] for j in range(3)], axis=0)
    else:
        r = np.asarray(c.ramp, dtype=float)
        out[ok] = r[np.minimum(tm // 3, len(r) - 1)]
    return out


def _rollup(leaf_values: np.ndarray, par: np.ndarray, depth: np.ndarray, is_leaf: np.ndarray) -> np.ndarray:
    """Leaf values summed up the tree (internal nodes' own values are ignored)."""
    v = np.where(is_leaf, leaf_values, 0.0)
    for d in range(int(depth.max()), 0, -1):
        at = np.flatnonzero(depth == d)
        v += np.bincount(par[at], weights=v[at], minlength=len(v))
    return v


def _share(amount: np.ndarray, par: np.ndarray) -> np.ndarray:
    """amount / sum of siblings' amounts (equal shares where the siblings sum to zero); 1 at roots."""
    kids = par >= 0
    tot = np.bincount(par[kids], weights=amount[kids], minlength=len(amount))
    cnt = np.bincount(par[kids], minlength=len(amount))
    s = np.ones(len(amount))
    p = par[kids]
    s[kids] = np.where(tot[p] > 0, amount[kids] / np.where(tot[p] > 0, tot[p], 1.0), 1.0 / cnt[p])
    return s


def _oa(u: pd.DataFrame, c: AllocationConfig) -> np.ndarray:
    """Over-assignment of the link above each row (by the row's level name)."""
    if isinstance(c.over_assignment, Mapping):
        rates = dict(c.over_assignment)
        return u["level"].astype(str).map(lambda lv: float(rates.get(lv, 0.0))).to_numpy()
    return np.full(len(u), float(c.over_assignment))


def _bounds(
    u: pd.DataFrame, c: AllocationConfig, overrides: Mapping[Any, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bound per row in cents (−inf/inf where none)."""

    def col(name: str) -> np.ndarray:
        return (
            pd.to_numeric(u[name], errors="coerce").to_numpy(dtype=float)
            if name in u.columns
            else np.full(len(u), np.nan)
        )

    lo = np.nan_to_num(col("floor"), nan=-np.inf)
    hi = np.fmin(np.nan_to_num(col("cap"), nan=np.inf), np.nan_to_num(col("capacity"), nan=np.inf))
    if c.max_change is not None:
        last = col("last_quota")
        lo = np.fmax(lo, np.nan_to_num(last * (1 - c.max_change), nan=-np.inf))
        hi = np.fmin(hi, np.nan_to_num(last * (1 + c.max_change), nan=np.inf))
    for k, v in overrides.items():
        hit = (
            (u["unit_id"] == str(k[1])) & (u["quarter"] == str(k[0]))
            if isinstance(k, tuple)
            else u["unit_id"] == str(k)
        )
        if not hit.any():
            raise ConfigError(
                f"override for unknown unit {k!r}; use a unit_id or a (quarter, unit_id) of the tree"
            )
        lo[hit.to_numpy()] = hi[hit.to_numpy()] = float(v)
    lo_c = np.where(np.isfinite(lo), np.ceil(np.round(lo * 100, 6)), -np.inf)
    hi_c = np.where(np.isfinite(hi), np.floor(np.round(hi * 100, 6)), np.inf)
    tie = (lo_c > hi_c) & (lo <= hi)  # floor and cap inside the same cent: the cap's cent wins
    lo_c[tie] = hi_c[tie]
    return lo_c, hi_c


def _top(u: pd.DataFrame, roots: np.ndarray, top_targets: Any) -> np.ndarray:
    """Top target per root row in cents from a number or a mapping keyed by root id, quarter or both."""
    q, ids = u["quarter"].to_numpy()[roots], u["unit_id"].to_numpy()[roots]
    out = np.full(len(roots), np.nan)
    if isinstance(top_targets, int | float | np.floating | np.integer):
        if len(set(ids)) > 1:
            raise ConfigError(
                f"{len(set(ids))} roots {sorted(set(ids))[:5]}: give top_targets per root as a mapping"
            )
        out[:] = float(top_targets)
    elif isinstance(top_targets, Mapping | pd.Series):
        m = dict(top_targets.items())
        for i, (qq, rid) in enumerate(zip(q, ids, strict=True)):
            for k in ((qq, rid), rid, qq):
                if k in m:
                    out[i] = float(m[k])
                    break
    elif top_targets is not None:
        raise ConfigError(f"top_targets must be a number or a mapping, got {type(top_targets).__name__}")
    if np.isnan(out).any():
        miss = [f"{a}/{b}" for a, b, n in zip(q, ids, np.isnan(out), strict=True) if n][:5]
        raise ConfigError(
            f"no top target for root(s) {miss}; key top_targets by root id, quarter or (quarter, root)"
        )
    if (out < 0).any():
        raise ConfigError(f"top targets must be ≥ 0, got {out[out < 0][:3].tolist()}")
    return np.round(out * 100)


def _propagate(
    lo: np.ndarray, hi: np.ndarray, par: np.ndarray, depth: np.ndarray, oa: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Quotas are ≥ 0; a parent can only take what its children can hold together: its bounds are
    tightened to [Σ children's floors, Σ children's caps] / (1 + over-assignment), from the leaves up, so
    the top-down pass never hands a unit a target its subtree cannot absorb."""
    lo, hi = np.maximum(lo, 0.0), hi.copy()
    n = len(lo)
    for d in range(int(depth.max()), 0, -1):
        at = np.flatnonzero(depth == d)
        pa = par[at]
        cnt = np.bincount(pa, minlength=n)
        rate = 1 + np.bincount(pa, weights=oa[at], minlength=n) / np.maximum(cnt, 1)
        s_lo = np.bincount(pa, weights=lo[at], minlength=n)
        inf_hi = np.bincount(pa, weights=~np.isfinite(hi[at]), minlength=n) > 0
        s_hi = np.bincount(pa, weights=np.where(np.isfinite(hi[at]), hi[at], 0.0), minlength=n)
        has = cnt > 0
        lo[has] = np.maximum(lo[has], np.ceil(np.round(s_lo[has] / rate[has], 6)))
        cap = np.where(inf_hi, np.inf, np.floor(np.round(s_hi / rate, 6)))
        hi[has] = np.minimum(hi[has], cap[has])
    return lo, hi


def _infeasible(
    u: pd.DataFrame,
    kids: np.ndarray,
    p: int,
    need: float,
    bounds: tuple[np.ndarray, np.ndarray],
    target: float,
    par: np.ndarray,
) -> None:
    """Raise ``InfeasibleError`` if the children of row ``p`` cannot sum to ``need`` cents within bounds,
    naming the parent, the sums and the bounded units (and, for a unit whose bound comes from its own
    units, those units too)."""
    lo, hi = bounds
    name = u["unit_id"].to_numpy()
    who = f"parent {name[p]!r} (quarter {u['quarter'].iat[p]}, target {_fmt(target)})"

    def listing(idx: np.ndarray, b: np.ndarray) -> str:
        parts = []
        for i in idx[:8]:
            sub = np.flatnonzero(par == i)
            sub = sub[np.isfinite(b[sub]) & (b[sub] > 0)]
            inner = (
                f" from its units {', '.join(f'{name[j]} ({_fmt(b[j])})' for j in sub[:5])}"
                if len(sub)
                else ""
            )
            parts.append(f"{name[i]} ({_fmt(b[i])}{inner})")
        return "; ".join(parts) + (f"; +{len(idx) - 8} more" if len(idx) > 8 else "")

    bad = kids[lo[kids] > hi[kids]]
    if len(bad):
        names = ", ".join(f"{name[i]} (floor {_fmt(lo[i])} > cap {_fmt(hi[i])})" for i in bad[:5])
        raise InfeasibleError(
            f"{who}: floor above cap for {names}. Fix: loosen floor/cap/max_change or the override"
        )
    s_hi, s_lo = hi[kids].sum(), lo[kids].sum()
    if s_hi < need:
        raise InfeasibleError(
            f"{who}: children must sum to {_fmt(need)} but their caps sum to {_fmt(s_hi)}; capped: "
            f"{listing(kids[np.isfinite(hi[kids])], hi)}. Fix: raise caps/capacity/max_change, remove an "
            "override, or lower the parent target or over-assignment"
        )
    if s_lo > need:
        raise InfeasibleError(
            f"{who}: children must sum to {_fmt(need)} but their floors sum to {_fmt(s_lo)}; floored: "
            f"{listing(kids[lo[kids] > 0], lo)}. Fix: lower floors/max_change or an override, or raise the "
            "parent target or over-assignment"
        )


def _moves(
    groups: np.ndarray, need: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, ...]:
    """The LP's data per child: start c = clip(d, lo, hi), direction and size of the gap of its parent,
    room to move that way and weight w (its proportional amount; a tiny floor so zero-potential units move
    last)."""
    c0 = np.clip(d, lo, hi)
    gap = need[groups] - np.bincount(groups, weights=c0, minlength=len(need))[groups]
    up = gap >= 0
    room = np.where(up, hi - c0, c0 - lo)
    w = np.maximum(d, 1e-9 * np.maximum(need[groups], 1.0))
    return c0, np.abs(gap), up, room, w


_HIGHS_TOL = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def _solve_highs(
    groups: np.ndarray, need: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """One sparse HiGHS LP for all binding parents: minimise Σ_g z_g subject to 0 ≤ m_i ≤ room_i,
    m_i ≤ z_g·w_i and Σ_{i∈g} m_i = gap_g; x = c ± m. Scaled to shares of the parent's total."""
    c0, gap, up, room, w = _moves(groups, need, d, lo, hi)
    g_ids, gi = np.unique(groups, return_inverse=True)
    n, ng = len(d), len(g_ids)
    scale = np.maximum(need[groups], 1.0)
    rows = np.arange(n)
    a_ub = sparse.hstack(
        [sparse.eye(n, format="csr"), sparse.csr_matrix((-w / scale, (rows, gi)), shape=(n, ng))]
    )
    a_eq = sparse.hstack(
        [sparse.csr_matrix((np.ones(n), (gi, rows)), shape=(ng, n)), sparse.csr_matrix((ng, ng))]
    )
    ub = np.concatenate([np.where(np.isfinite(room), room / scale, np.inf), np.full(ng, np.inf)])
    bnd = [(0.0, None if not np.isfinite(v) else float(v)) for v in ub]
    b_eq = np.bincount(gi, weights=gap / scale, minlength=ng) / np.bincount(gi, minlength=ng)
    res = linprog(
        np.r_[np.zeros(n), np.ones(ng)],
        A_ub=a_ub.tocsr(),
        b_ub=np.zeros(n),
        A_eq=a_eq.tocsr(),
        b_eq=b_eq,
        bounds=bnd,
        method="highs",
        options=_HIGHS_TOL,
    )
    if res.status != 0:  # feasibility was proven by the sums; a numerically hard batch (a zero-potential
        # unit that must absorb a gap, caps that meet the need exactly) goes to the closed form instead
        return _solve_exact(groups, need, d, lo, hi)
    m = np.minimum(res.x[:n] * scale, room)
    return np.clip(np.where(up, c0 + m, c0 - m), lo, hi)


def _solve_exact(
    groups: np.ndarray, need: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """The same LP's optimum in closed form: m_i = min(z·w_i, room_i) with z the root of the increasing
    piecewise-linear Σ m_i(z) = gap, found between the sorted breakpoints room_i / w_i of each parent."""
    c0, gap, up, room, w = _moves(groups, need, d, lo, hi)
    b = room / w
    order = np.lexsort((b, groups))
    g, bs, ws, rs = groups[order], b[order], w[order], room[order]
    start = np.searchsorted(g, g, side="left")
    end = np.searchsorted(g, g, side="right")
    cw, cr = np.cumsum(ws), np.cumsum(np.where(np.isfinite(rs), rs, 0.0))
    ninf = np.cumsum(~np.isfinite(rs))
    base_w = np.where(start > 0, cw[start - 1], 0.0)
    base_r = np.where(start > 0, cr[start - 1], 0.0)
    base_n = np.where(start > 0, ninf[start - 1], 0)
    r_le = np.where(ninf - base_n > 0, np.inf, cr - base_r)  # Σ room of breakpoints ≤ this one
    w_gt = cw[end - 1] - cw  # Σ w after this one
    # Σ m at z = this breakpoint
    s_at = r_le + np.where(w_gt > 0, np.where(np.isfinite(bs), bs, 0.0) * w_gt, 0.0)
    s_at = np.where(np.isfinite(bs) | (w_gt == 0), s_at, np.inf)
    ok = s_at >= gap[order] * (1 - 1e-12)
    heads = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    pos = np.where(ok, np.arange(len(g)), len(g))
    k = np.minimum(np.repeat(np.minimum.reduceat(pos, heads), np.diff(np.r_[heads, len(g)])), end - 1)
    r_lt = np.where(k > start, cr[np.maximum(k - 1, 0)] - base_r, 0.0)
    w_ge = cw[end - 1] - np.where(k > start, cw[np.maximum(k - 1, 0)], base_w)
    z = np.where(w_ge > 0, (gap[order] - r_lt) / np.where(w_ge > 0, w_ge, 1.0), 0.0)
    m = np.empty(len(d))
    m[order] = np.minimum(np.maximum(z, 0.0) * ws, rs)
    return np.clip(np.where(up, c0 + m, c0 - m), lo, hi)


def _fix_sum(
    x: np.ndarray, groups: np.ndarray, need: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Remove the solver's tolerance-sized residual per parent (Σ x must equal the need before rounding),
    spreading it over the children that still have room that way, in proportion to that room."""
    n = len(need)
    for _ in range(3):
        r = need - np.bincount(groups, weights=x, minlength=n)
        rg = r[groups]
        room = np.where(rg > 0, hi - x, x - lo)
        room = np.where(np.isfinite(room), room, np.maximum(np.abs(x), 1.0) * 1e6)
        tot = np.bincount(groups, weights=room, minlength=n)[groups]
        x = np.clip(x + np.where(tot > 0, rg * room / np.where(tot > 0, tot, 1.0), 0.0), lo, hi)
    return x


def _round_exact(x: np.ndarray, par: np.ndarray, need: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integer cents summing to ``need[parent]`` per parent: floor, then +1 cent by largest remainder
    (units already at their cap are skipped, so bounds hold)."""
    fl = np.floor(x + 1e-9)
    frac = np.where(fl + 1 <= hi, x - fl, -1.0)
    rem = need - np.bincount(par, weights=fl, minlength=len(need))
    order = np.lexsort((-frac, par))
    ps = par[order]
    start = np.searchsorted(ps, ps, side="left")
    rank = np.arange(len(order)) - start
    add = np.zeros(len(x))
    add[order] = (rank < rem[ps]).astype(float)
    return fl + add


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
    _check_config(c)
    overrides = dict(overrides or {})
    u, par, depth = _tree(units)
    n = len(u)
    is_leaf = np.bincount(par[par >= 0], minlength=n) == 0
    ramp = _ramp_factor(u, c)
    oa = _oa(u, c)
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
        return _rollup(v * ramp, par, depth, is_leaf)

    lo, hi = _propagate(*_bounds(u, c, overrides), par, depth, oa)

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
                out += (w / tot_w) * _share(basis(col), par)
        return out

    if c.method == "top_down":
        share = blend_share()
        top = _top(u, roots, top_targets)
    else:
        bu = bottom_up()
        if c.method == "bottom_up":
            share, top = _share(bu, par), np.clip(np.round(bu[roots]), lo[roots], hi[roots])
        else:
            top = _top(u, roots, top_targets)
            mix = c.blend_weight * top_down_amount(top, blend_share()) + (1 - c.blend_weight) * bu
            share = _share(mix, par)
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
                _infeasible(u, sub[par[sub] == p0], p0, need_row[p0], (lo, hi), target[p0], par)
            use_lp = c.solver == "highs" or (c.solver == "auto" and len(sub) <= LP_MAX_VARS)
            solve = _solve_highs if use_lp else _solve_exact
            xs = solve(par[sub], need_row, x[in_bad][order], lo[sub], hi[sub])
            x[in_bad] = _fix_sum(xs, par[sub], need_row, lo[sub], hi[sub])[np.argsort(order)]
            binding[sub] = True
            lp_parents += len(bad_par)
        target[at] = _round_exact(np.clip(x, lo[at], hi[at]), pa, need_row, hi[at])
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
    oa = _oa(t, allocation.config)
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
