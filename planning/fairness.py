"""Fairness of a quota allocation: how unevenly quota is loaded onto reps relative to their potential.
Equal quota/potential ratios are the fair reference (every rep stretched the same), so the spread of that
ratio is the measure, alongside the share of reps asked for more than their own median forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError
from salesplan.planning.types import Allocation, FairnessReport


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = all equal, → 1 = all on one); NaN when empty."""
    v = np.sort(np.asarray(x, dtype=float))
    if len(v) == 0 or v.sum() <= 0:
        return float("nan")
    n = len(v)
    return float((2 * np.arange(1, n + 1) - n - 1) @ v / (n * v.sum()))


def _stats(g: pd.DataFrame) -> pd.Series:
    r = g["ratio"].to_numpy()
    r = r[np.isfinite(r)]
    mean = r.mean() if len(r) else np.nan
    return pd.Series(
        {
            "units": len(g),
            "units_without_potential": int((~np.isfinite(g["ratio"])).sum()),
            "gini": gini(r),
            "cv": float(r.std(ddof=0) / mean) if len(r) and mean > 0 else np.nan,
            "share_above_p50": float(g["above_p50"].mean()) if g["above_p50"].notna().any() else np.nan,
            "max_min_ratio": float(r.max() / r.min()) if len(r) and r.min() > 0 else np.inf,
            "quota": float(g["target"].sum()),
            "potential": float(g["potential"].sum()),
        }
    )


def fairness_report(
    allocation: Allocation, *, potential: str = "forecast_q50", level: str | None = None
) -> FairnessReport:
    """Gini and coefficient of variation of quota / potential, share of units whose quota exceeds their
    own P50 forecast (``forecast_q50``), and max/min ratio, per quarter, over the leaf units (or the units
    of ``level``). Units with zero potential are counted apart (their ratio is undefined)."""
    t = allocation.targets
    if potential not in t.columns:
        raise ConfigError(
            f"potential column {potential!r} not in the allocation; pass one of {list(t.columns)}"
        )
    if level is None:
        parents = set(zip(t["quarter"], t["parent_id"], strict=True))
        sel = t[[(q, u) not in parents for q, u in zip(t["quarter"], t["unit_id"], strict=True)]]
    else:
        sel = t[t["level"] == level]
    if sel.empty:
        raise ConfigError(
            f"no units at level {level!r}; levels are {sorted(t['level'].astype(str).unique())}"
        )
    pot = pd.to_numeric(sel[potential], errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pot > 0, sel["target"].to_numpy() / pot, np.nan)
    per = sel[["quarter", "unit_id", "parent_id", "level", "target"]].assign(potential=pot, ratio=ratio)
    if "forecast_q50" in sel.columns:
        p50 = pd.to_numeric(sel["forecast_q50"], errors="coerce")
        per["above_p50"] = (sel["target"] > p50).where(p50.notna())
    else:
        per["above_p50"] = np.nan
    by_q = (
        per.groupby("quarter", sort=True)[["target", "potential", "ratio", "above_p50"]]
        .apply(_stats)
        .reset_index()
    )
    return FairnessReport(by_quarter=by_q, per_unit=per.reset_index(drop=True))
