"""Company and unit targets from quarter-total distributions, and the probability ↔ target mapping a
planner reads off ("a target hit with probability 70 %" is the 30 % quantile of the quarter total).

Three modes: ``probability`` (target = quantile(1 − p)), ``growth`` (last year's actual × (1 + g)) and
``value`` (a number given). Whatever the mode, ``p_hit`` is reported: P(total ≥ target) = 1 − CDF(target).
Both directions use the same monotone piecewise-linear CDF, so they invert each other and equal the input
quantiles at the input levels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError
from salesplan.planning.distributions import QuarterDistribution
from salesplan.planning.proposals.request import Mode
from salesplan.planning.types import Allocation, TargetChoice, TargetProposal

__all__ = [
    "implied_probability",
    "probability_curve",
    "proposal",
    "target_for_probability",
    "unit_target",
    "unit_targets",
]


def target_for_probability(
    dist: QuarterDistribution, p_hit: Any, unit: str | Sequence[str] | None = None
) -> np.ndarray:
    """Targets hit with probability ``p_hit`` (scalar or array) per unit: the (1 − p_hit) quantile."""
    p = np.asarray(p_hit, dtype=float)
    if np.any((p <= 0) | (p >= 1)):
        raise ConfigError(f"p_hit must be strictly between 0 and 1, got {p_hit!r}")
    return dist.quantile(1.0 - p, unit)


def implied_probability(
    dist: QuarterDistribution, unit: str | Sequence[str] | None, target: Any
) -> np.ndarray:
    """P(quarter total ≥ target) for any number(s) a planner types, per unit: 1 − CDF(target)."""
    return 1.0 - dist.cdf(target, unit)


def unit_target(
    dist: QuarterDistribution,
    unit: str,
    mode: Mode = "probability",
    *,
    p_hit: float = 0.7,
    growth: float | None = None,
    last_year: float | None = None,
    value: float | None = None,
) -> TargetChoice:
    """One unit's (e.g. the company's) target in the chosen mode, with its implied hit probability."""
    if mode == "probability":
        target = float(target_for_probability(dist, p_hit, unit)[0, 0])
    elif mode == "growth":
        if growth is None or last_year is None:
            raise ConfigError("mode='growth' needs growth= (e.g. 0.08) and last_year= (last year's actual)")
        target = float(last_year) * (1.0 + float(growth))
    elif mode == "value":
        if value is None:
            raise ConfigError("mode='value' needs value= (the target number)")
        target = float(value)
    else:
        raise ConfigError(f"mode must be 'probability', 'growth' or 'value', got {mode!r}")
    return TargetChoice(
        unit_id=unit,
        mode=mode,
        target=round(target, 2),
        p_hit=float(implied_probability(dist, unit, target)[0, 0]),
        forecast_q50=float(dist.quantile(0.5, unit)[0, 0]),
        last_period_actual=None if last_year is None else float(last_year),
    )


def unit_targets(
    dist: QuarterDistribution,
    mode: Mode = "probability",
    *,
    p_hit: float = 0.7,
    growth: float | None = None,
    last_year: Mapping[str, float] | pd.Series | None = None,
    values: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:
    """Targets for every unit of ``dist``: ``unit_id, target, p_hit, forecast_q50, last_period_actual``."""
    ids = list(dist.unit_ids)
    ly = (
        pd.Series(last_year, dtype=float).reindex(ids)
        if last_year is not None
        else pd.Series(np.nan, index=ids)
    )
    if mode == "probability":
        t = target_for_probability(dist, p_hit)[:, 0]
    elif mode == "growth":
        if growth is None or last_year is None or ly.isna().any():
            missing = ly.index[ly.isna()].tolist()[:5]
            raise ConfigError(
                f"mode='growth' needs growth= and last_year= for every unit (missing {missing})"
            )
        t = ly.to_numpy() * (1.0 + growth)
    elif mode == "value":
        v = (
            pd.Series(values, dtype=float).reindex(ids)
            if values is not None
            else pd.Series(np.nan, index=ids)
        )
        if v.isna().any():
            raise ConfigError(
                f"mode='value' needs values= for every unit (missing {v.index[v.isna()][:5].tolist()})"
            )
        t = v.to_numpy()
    else:
        raise ConfigError(f"mode must be 'probability', 'growth' or 'value', got {mode!r}")
    t = np.round(t, 2)
    return pd.DataFrame(
        {
            "unit_id": ids,
            "target": t,
            "p_hit": 1.0 - dist.cdf(t[:, None])[:, 0],
            "forecast_q50": dist.quantile(0.5)[:, 0],
            "last_period_actual": ly.to_numpy(),
        }
    )


def probability_curve(dist: QuarterDistribution, unit: str, p: Sequence[float] | None = None) -> pd.DataFrame:
    """Target against hit probability for one unit (for the planner's slider): ``p_hit, target``."""
    grid = np.asarray(p if p is not None else np.round(np.arange(0.05, 0.951, 0.05), 2), dtype=float)
    return pd.DataFrame({"p_hit": grid, "target": target_for_probability(dist, grid, unit)[0]})


def proposal(
    allocation: Allocation,
    quarter: Any,
    *,
    dist: QuarterDistribution | None = None,
    phasing: pd.DataFrame | None = None,
    input_model_versions: Mapping[str, str] | None = None,
) -> TargetProposal:
    """The rows of a target proposal for one quarter from an allocation: ``p_hit`` from ``dist`` (units
    absent from it get NaN) and monthly ``m1, m2, m3`` from a phasing frame
    (:func:`planning.phasing.phase` output, wide or long)."""
    t = allocation.targets
    q = str(pd.Period(str(quarter), freq="Q"))
    rows = t[t["quarter"].astype(str) == q]
    if rows.empty:
        raise ConfigError(
            f"quarter {q} not in the allocation (has {sorted(t['quarter'].astype(str).unique())})"
        )
    out = rows[["level", "unit_id", "parent_id", "target"]].copy()
    out["forecast_q50"] = rows.get("forecast_q50", np.nan)
    out["last_period_actual"] = rows.get("last_period_actual", np.nan)
    out["p_hit"] = np.nan
    if dist is not None:
        known = out["unit_id"].isin(set(dist.unit_ids)).to_numpy()
        if known.any():
            ids = out.loc[known, "unit_id"].tolist()
            x = out.loc[known, "target"].to_numpy()[:, None]
            out.loc[known, "p_hit"] = 1.0 - dist.cdf(x, ids)[:, 0]
    if phasing is not None:
        ph = phasing[phasing["quarter"].astype(str) == q]
        if "m1" not in ph.columns:
            ph = ph.pivot_table(index="unit_id", columns="m", values="target", aggfunc="sum")
            ph.columns = [f"m{int(c)}" for c in ph.columns]
            ph = ph.reset_index()
        out = out.merge(ph[["unit_id", "m1", "m2", "m3"]], on="unit_id", how="left")
    c = allocation.config
    params = {
        "method": c.method,
        "weights": dict(c.weights),
        "growth": c.growth,
        "blend_weight": c.blend_weight,
        "over_assignment": c.over_assignment
        if isinstance(c.over_assignment, float)
        else dict(c.over_assignment),
        "ramp": list(c.ramp),
        "max_change": c.max_change,
        "overrides": {str(k): v for k, v in allocation.overrides.items()},
    }
    return TargetProposal(q, c.method, params, dict(input_model_versions or {}), out.reset_index(drop=True))
