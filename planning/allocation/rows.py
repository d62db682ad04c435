"""Re-balance a stored target proposal after a planner fixes some units' targets — from the stored rows
alone, no model: the API's PATCH works even when the forecast is no longer loaded. The stored-rows
counterpart of :func:`planning.allocation.engine.rebalance`, which re-runs the whole allocation.

Rules (as the proposal request states them). Fixed units (the new overrides, and rows already marked
``overridden``) take their value. At every parent whose target or whose fixed children changed, the other
children share what is left of parent × (1 + o) pro rata to their current targets (``o``: the
over-assignment of the children's level, 0 except where the proposal put it), so the parent's total
holds to the cent; a re-scaled unit passes its change down the same way, so descendants of an overridden
unit re-scale. Months ``m1..m3`` are then re-phased over the whole tree with
:func:`planning.phasing.phase_tree`, each unit keeping its old monthly shape: every unit's months sum to
its target and every parent's months to its children's, to the cent; units and parents that did not
change keep their months. Units whose target changed lose their ``p_hit`` (NaN) unless ``dist`` is
given."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, InfeasibleError, Problem
from salesplan.planning.allocation.tree import fmt_cents
from salesplan.planning.distributions import QuarterDistribution
from salesplan.planning.phasing import phase_tree

__all__ = ["rebalance_rows"]
MONTHS = ("m1", "m2", "m3")


def _links(r: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Parent row number (-1 at roots) and depth per row; raises on unknown parents, duplicates, cycles."""
    ids = r["unit_id"].to_numpy()
    problems = []
    dup = r["unit_id"].duplicated(keep=False)
    if dup.any():
        problems.append(Problem("unit_id", "duplicate unit", rows=r.loc[dup, "unit_id"].head(5).tolist(),
                                n_rows=int(dup.sum()), fix="one row per unit"))  # fmt: skip
    pos = pd.Series(np.arange(len(r)), index=ids)
    has = r["parent_id"].notna().to_numpy()
    found = r.loc[has, "parent_id"].map(pos) if not dup.any() else pd.Series(dtype=float)
    if found.isna().any():
        problems.append(Problem("parent_id", "parent not among the rows",
                                rows=r.loc[found[found.isna()].index, "unit_id"].head(5).tolist(),
                                n_rows=int(found.isna().sum()), fix="pass all rows of the proposal"))  # fmt: skip
    if problems:
        raise DataValidationError(problems, "proposal rows")
    par = np.full(len(r), -1, dtype=np.int64)
    par[has] = found.to_numpy(dtype=np.int64)
    depth = np.zeros(len(r), dtype=np.int64)
    cur = par.copy()
    for _ in range(len(r) + 1):
        live = cur >= 0
        if not live.any():
            return par, depth
        depth[live] += 1
        cur[live] = par[cur[live]]
    raise DataValidationError([Problem("parent_id", "the parent links form a cycle")], "proposal rows")


def _split(rest: float, weights: np.ndarray) -> np.ndarray:
    """``rest`` cents over ``weights`` in whole cents by largest remainder (even where all weights are 0)."""
    w = np.where(weights > 0, weights, 0.0)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
    raw = rest * w
    fl = np.floor(raw + 1e-9)
    extra = round(rest - fl.sum())
    order = np.argsort(-(raw - fl), kind="stable")
    fl[order[:extra]] += 1
    return fl


def _check_overrides(r: pd.DataFrame, overrides: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in dict(overrides).items():
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float | np.integer | np.floating)
            or not math.isfinite(v)
        ):
            raise ConfigError(f"override for {k!r} must be a finite number, got {v!r}")
        if v < 0:
            raise ConfigError(f"override for {k!r} must be ≥ 0, got {v}")
        out[str(k)] = float(v)
    unknown = sorted(set(out) - set(r["unit_id"]))
    if unknown:
        raise ConfigError(
            f"overrides name unknown unit(s) {unknown[:5]}; the proposal's units are e.g. "
            f"{r['unit_id'].head(5).tolist()}"
        )
    return out


def _rates(over_assignment: float | Mapping[str, float]) -> Mapping[str, float] | float:
    """The over-assignment as given: one number for every level, or per child level name."""
    values = over_assignment.values() if isinstance(over_assignment, Mapping) else [over_assignment]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > -1:
            raise ConfigError(
                f"over_assignment must be a number > -1 (the proposal's), got {over_assignment!r}"
            )
    return over_assignment


def rebalance_rows(
    rows: pd.DataFrame,
    overrides: Mapping[str, float],
    *,
    over_assignment: float | Mapping[str, float],
    dist: QuarterDistribution | None = None,
) -> pd.DataFrame:
    """The proposal's rows with ``overrides`` (unit_id → target) applied and everything else re-balanced
    (module docstring). Same columns as ``rows`` plus ``overridden``. Raises ``InfeasibleError`` naming
    the parent and units when fixed children cannot add up to their parent's total."""
    need_cols = [c for c in ("unit_id", "parent_id", "target") if c not in rows.columns]
    if need_cols:
        raise DataValidationError(
            [Problem(c, "column missing", fix="pass the stored proposal rows") for c in need_cols],
            "proposal rows",
        )
    rates = _rates(over_assignment)
    r = rows.reset_index(drop=True).copy()
    r["unit_id"] = r["unit_id"].astype(str)
    r["parent_id"] = r["parent_id"].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    target = pd.to_numeric(r["target"], errors="coerce")
    if target.isna().any() or (target < 0).any():
        raise DataValidationError(
            [Problem("target", "missing or negative target", rows=r.loc[target.isna() | (target < 0), "unit_id"]
                     .head(5).tolist(), n_rows=int((target.isna() | (target < 0)).sum()))], "proposal rows",
        )  # fmt: skip
    new_vals = _check_overrides(r, overrides)
    par, depth = _links(r)
    ids = r["unit_id"].to_numpy()
    old = np.rint(target.to_numpy(dtype=float) * 100)
    new = old.copy()
    was = (
        r["overridden"].fillna(False).astype(bool).to_numpy()
        if "overridden" in r.columns
        else np.zeros(len(r), bool)
    )
    fixed = was.copy()
    for k, v in new_vals.items():
        i = int(np.flatnonzero(ids == k)[0])
        fixed[i] = True
        new[i] = round(v * 100)
    changed_fix = fixed & (new != old)
    levels = r["level"].astype(str).to_numpy() if "level" in r.columns else np.full(len(r), "")
    order = np.argsort(depth, kind="stable")
    children = pd.Series(np.arange(len(r))[par >= 0]).groupby(par[par >= 0]).apply(np.asarray)
    for p in order:
        if p not in children.index:
            continue
        kids = children[p]
        if new[p] == old[p] and not changed_fix[kids].any():
            continue  # nothing above or beside these units moved
        o = rates if not isinstance(rates, Mapping) else float(rates.get(str(levels[kids[0]]), 0.0))
        need = float(np.rint(new[p] * (1.0 + float(o))))
        f, free = kids[fixed[kids]], kids[~fixed[kids]]
        rest = need - new[f].sum()
        who = f"parent {ids[p]!r} (target {fmt_cents(new[p])}, children must sum to {fmt_cents(need)})"
        fixed_list = ", ".join(f"{ids[i]} ({fmt_cents(new[i])})" for i in f[:8])
        if not len(free) and rest != 0:
            raise InfeasibleError(
                f"{who}: all its children are fixed — {fixed_list} — and sum to {fmt_cents(new[f].sum())}. "
                "Fix: change one of these overrides, leave one child free, or override the parent too"
            )
        if rest < 0:
            raise InfeasibleError(
                f"{who}: the fixed children {fixed_list} already sum to {fmt_cents(new[f].sum())}, so "
                f"{', '.join(ids[free][:8])} would go negative. Fix: lower these overrides or raise {ids[p]!r}"
            )
        if len(free):
            new[free] = _split(rest, old[free])
    out = r.copy()
    out["target"] = new / 100
    out["overridden"] = fixed
    moved = new != old
    if all(c in out.columns for c in MONTHS) and moved.any():
        phased = phase_tree(out[["unit_id", "parent_id", "target"]], None, shares=r[["unit_id", *MONTHS]])
        wide_m = phased.pivot(index="unit_id", columns="m", values="target").reindex(out["unit_id"])
        out[list(MONTHS)] = wide_m.to_numpy()
    if "p_hit" in out.columns and moved.any():
        p_hit = pd.to_numeric(out["p_hit"], errors="coerce").to_numpy(dtype=float)
        p_hit[moved] = np.nan
        if dist is not None:
            rows_in = np.flatnonzero(moved & np.isin(ids, list(dist.unit_ids)))
            if len(rows_in):
                x = new[rows_in, None] / 100
                p_hit[rows_in] = np.clip(1.0 - dist.cdf(x, ids[rows_in].tolist())[:, 0], 0.0, 1.0)
        out["p_hit"] = p_hit
    return out
