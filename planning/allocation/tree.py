"""Allocation building blocks on the unit tree: config and tree validation, potentials rolled up and
turned into shares within each parent, per-unit bounds (floor, cap, capacity, ±max_change, overrides)
tightened up the tree, top targets per root, and the ``InfeasibleError`` that names the units in conflict.
Used by :mod:`planning.allocation.engine` (and :func:`fmt_cents` by :mod:`planning.allocation.rows`); all
amounts in cents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, InfeasibleError, Problem
from salesplan.planning.types import AllocationConfig

__all__ = [
    "METHODS",
    "SOLVERS",
    "check_config",
    "fmt_cents",
    "over_assignment",
    "propagate_bounds",
    "raise_infeasible",
    "ramp_factor",
    "rollup",
    "root_targets",
    "sibling_share",
    "unit_bounds",
    "unit_tree",
]
METHODS = ("top_down", "bottom_up", "blended")
SOLVERS = ("auto", "highs", "exact")


def fmt_cents(cents: float) -> str:
    """Cents as currency units with thousands separators, the way error messages show amounts."""
    return f"{cents / 100:,.2f}"


def check_config(c: AllocationConfig) -> None:
    """Raise ``ConfigError`` on a config the allocation cannot honour, before any work is done."""
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


def unit_tree(units: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
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


def ramp_factor(u: pd.DataFrame, c: AllocationConfig) -> np.ndarray:
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


def rollup(leaf_values: np.ndarray, par: np.ndarray, depth: np.ndarray, is_leaf: np.ndarray) -> np.ndarray:
    """Leaf values summed up the tree (internal nodes' own values are ignored)."""
    v = np.where(is_leaf, leaf_values, 0.0)
    for d in range(int(depth.max()), 0, -1):
        at = np.flatnonzero(depth == d)
        v += np.bincount(par[at], weights=v[at], minlength=len(v))
    return v


def sibling_share(amount: np.ndarray, par: np.ndarray) -> np.ndarray:
    """amount / sum of siblings' amounts (equal shares where the siblings sum to zero); 1 at roots."""
    kids = par >= 0
    tot = np.bincount(par[kids], weights=amount[kids], minlength=len(amount))
    cnt = np.bincount(par[kids], minlength=len(amount))
    s = np.ones(len(amount))
    p = par[kids]
    s[kids] = np.where(tot[p] > 0, amount[kids] / np.where(tot[p] > 0, tot[p], 1.0), 1.0 / cnt[p])
    return s


def over_assignment(u: pd.DataFrame, c: AllocationConfig) -> np.ndarray:
    """Over-assignment of the link above each row (by the row's level name)."""
    if isinstance(c.over_assignment, Mapping):
        rates = dict(c.over_assignment)
        return u["level"].astype(str).map(lambda lv: float(rates.get(lv, 0.0))).to_numpy()
    return np.full(len(u), float(c.over_assignment))


def unit_bounds(
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


def root_targets(u: pd.DataFrame, roots: np.ndarray, top_targets: Any) -> np.ndarray:
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


def propagate_bounds(
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


def raise_infeasible(
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
    who = f"parent {name[p]!r} (quarter {u['quarter'].iat[p]}, target {fmt_cents(target)})"

    def listing(idx: np.ndarray, b: np.ndarray) -> str:
        parts = []
        for i in idx[:8]:
            sub = np.flatnonzero(par == i)
            sub = sub[np.isfinite(b[sub]) & (b[sub] > 0)]
            inner = (
                f" from its units {', '.join(f'{name[j]} ({fmt_cents(b[j])})' for j in sub[:5])}"
                if len(sub)
                else ""
            )
            parts.append(f"{name[i]} ({fmt_cents(b[i])}{inner})")
        return "; ".join(parts) + (f"; +{len(idx) - 8} more" if len(idx) > 8 else "")

    bad = kids[lo[kids] > hi[kids]]
    if len(bad):
        names = ", ".join(f"{name[i]} (floor {fmt_cents(lo[i])} > cap {fmt_cents(hi[i])})" for i in bad[:5])
        raise InfeasibleError(
            f"{who}: floor above cap for {names}. Fix: loosen floor/cap/max_change or the override"
        )
    s_hi, s_lo = hi[kids].sum(), lo[kids].sum()
    if s_hi < need:
        raise InfeasibleError(
            f"{who}: children must sum to {fmt_cents(need)} but their caps sum to {fmt_cents(s_hi)}; capped: "
            f"{listing(kids[np.isfinite(hi[kids])], hi)}. Fix: raise caps/capacity/max_change, remove an "
            "override, or lower the parent target or over-assignment"
        )
    if s_lo > need:
        raise InfeasibleError(
            f"{who}: children must sum to {fmt_cents(need)} but their floors sum to {fmt_cents(s_lo)}; floored: "
            f"{listing(kids[lo[kids] > 0], lo)}. Fix: lower floors/max_change or an override, or raise the "
            "parent target or over-assignment"
        )
