"""The track record of what ships: past quarters replayed through the proposal builder with the planner's
own request, and how often each level's targets were hit against what they promised.

For each past quarter, ``inputs_for(quarter)`` returns the :class:`~salesplan.planning.proposals.PlanInputs`
a planner would have had at the quarter's start (the caller trains the forecaster or the deal scorer on
data before it, exactly as ``salesplan train`` does, and builds the inputs exactly as ``salesplan plan
targets`` does); the proposal is then built by :func:`~salesplan.planning.proposals.build_from_inputs`,
the one function every door of the product uses, and compared with ``actuals_for(quarter)``. A quarter
whose inputs cannot be built (too little history before it) is skipped with the reason, not fatal.

Per level: ``promised`` is the mean P(hit) of its units' targets (each unit's own implied probability),
``hit_rate`` the share hit (actual ≥ target). Their 95 % intervals come from a cluster bootstrap over
whole quarters: the units of one quarter share its market, so resampling units would pretend to far more
independent evidence than a handful of quarters holds."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, SalesplanError
from salesplan.planning.proposals import PlanInputs, ProposalRequest, build_from_inputs

__all__ = ["TrackRecord", "cluster_bootstrap", "replay_targets"]

InputsFor = Callable[[str], PlanInputs]
ActualsFor = Callable[[str], Mapping[str, float] | pd.Series]
ROW_COLUMNS = ["quarter", "level", "unit_id", "parent_id", "is_leaf", "target", "p_hit", "actual", "hit"]


@dataclass(frozen=True)
class TrackRecord:
    """``rows``: one per unit and replayed quarter (``ROW_COLUMNS``); ``by_level``: ``level, units,
    quarters, promised, promised_lo, promised_hi, hit_rate, hit_lo, hit_hi`` (95 % cluster-bootstrap
    intervals); ``skipped``: quarter → why it could not be replayed."""

    request: ProposalRequest
    rows: pd.DataFrame
    by_level: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)


def cluster_bootstrap(
    rows: pd.DataFrame, value: str, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Interval of the mean of ``value`` over ``rows`` when whole quarters are resampled with
    replacement (each quarter's units stay together)."""
    per_q = rows.groupby("quarter")[value].agg(["sum", "count"])
    if len(per_q) == 0:
        return float("nan"), float("nan")
    s, c = per_q["sum"].to_numpy(dtype=float), per_q["count"].to_numpy(dtype=float)
    if len(per_q) == 1:
        m = float(s[0] / c[0])
        return m, m
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(per_q), size=(n_boot, len(per_q)))
    means = s[pick].sum(axis=1) / c[pick].sum(axis=1)
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    return float(lo), float(hi)


def _summary(rows: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    out = []
    for lv, g in rows.groupby("level", sort=False):
        p_lo, p_hi = cluster_bootstrap(g, "p_hit", n_boot=n_boot, seed=seed)
        h_lo, h_hi = cluster_bootstrap(g.assign(hit=g["hit"].astype(float)), "hit", n_boot=n_boot, seed=seed)
        out.append(
            {
                "level": lv,
                "units": len(g),
                "quarters": int(g["quarter"].nunique()),
                "promised": float(g["p_hit"].mean()),
                "promised_lo": p_lo,
                "promised_hi": p_hi,
                "hit_rate": float(g["hit"].mean()),
                "hit_lo": h_lo,
                "hit_hi": h_hi,
            }
        )
    return pd.DataFrame(out)


def replay_targets(
    quarters: Sequence[str],
    inputs_for: InputsFor,
    actuals_for: ActualsFor,
    request: ProposalRequest,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> TrackRecord:
    """Replay ``request`` (its quarter replaced by each of ``quarters``) through the proposal builder on the
    inputs known before each quarter and score the targets on the actuals (module docstring)."""
    if not quarters:
        raise ConfigError("no quarters to replay; pass past quarters like ['2025Q3', '2025Q4']")
    frames, skipped = [], {}
    for quarter in quarters:
        q = str(pd.Period(str(quarter), freq="Q"))
        try:
            plan = inputs_for(q)
            req = ProposalRequest(**{**request.model_dump(), "quarter": q})
            result = build_from_inputs(req, plan)
        except SalesplanError as exc:
            skipped[q] = str(exc).splitlines()[0]
            continue
        rows = result.proposal.rows
        act = pd.Series(actuals_for(q), dtype=float)
        act.index = act.index.astype(str)
        actual = act.reindex(rows["unit_id"].astype(str)).fillna(0.0).to_numpy()
        target = rows["target"].to_numpy(dtype=float)
        frames.append(
            rows.assign(
                quarter=q,
                is_leaf=~rows["unit_id"].isin(set(rows["parent_id"].dropna())),
                actual=actual,
                hit=actual >= target - 0.005,
            )[ROW_COLUMNS]
        )
    if not frames:
        why = "; ".join(f"{q}: {r}" for q, r in skipped.items())
        raise ConfigError(f"no quarter could be replayed ({why})")
    rows = pd.concat(frames, ignore_index=True)
    return TrackRecord(request, rows, _summary(rows, n_boot, seed), skipped)
