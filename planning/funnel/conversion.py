"""Stage-to-stage and cumulative funnel conversion for any period and any cut, with intervals (the
empirical-Bayes shrinkage of rep rates toward their team's, for planning, is in :mod:`.reverse`).

Censoring rule: only *resolved* transitions are events. A deal that reached a stage moved on when it
reached any later stage (a skipped stage counts as passed through) and failed when it was lost there (or,
with ``stall_days``, has sat there open longer than that). A deal still open in the stage on the as-of
date is never a failure: it is right-censored. Dropping open deals is not enough either, because losses
take longer than moves (deals stall before they are lost), so the recent, still-open part of the history
hides more future losses than future moves. The default estimator therefore gives each open deal the
odds of moving on *given how long it has already waited*, using the timing of each exit learnt from all
deals (Aalen–Johansen), and solves for the rate by EM (:func:`.survival.mixture_rate`). With nothing open all methods
equal converted / (converted + lost).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from salesplan.contracts.crm import STAGES, CRMData
from salesplan.errors import ConfigError, InsufficientDataError
from salesplan.planning.funnel.paths import DealPaths, deal_paths, filter_period, resolve_cut, stage_spells
from salesplan.planning.funnel.survival import conversion_rate, exit_survival, mixture_rate

__all__ = [
    "FUNNEL_STAGES",
    "METHODS",
    "TRANSITIONS",
    "FunnelResult",
    "Method",
    "funnel",
    "rates",
    "transition_counts",
    "wilson",
]

FUNNEL_STAGES: tuple[str, ...] = STAGES[: STAGES.index("Sign") + 1]
"""Pre-sale stages whose conversions are planned (Find → Meet → Pitch → Sign); a deal is won when signed."""
TRANSITIONS: tuple[tuple[str, str], ...] = tuple(itertools.pairwise(FUNNEL_STAGES))
_DRAWS = 4000
Method = Literal["mixture", "aalen_johansen", "resolved"]
METHODS: tuple[str, ...] = ("mixture", "aalen_johansen", "resolved")


@dataclass(frozen=True)
class FunnelResult:
    """Funnel table: one row per cut value and transition with counts, rate, interval and cumulative
    conversion from Find (with a Beta-posterior interval)."""

    table: pd.DataFrame
    by: tuple[str, ...]
    as_of: pd.Timestamp
    period: tuple[pd.Timestamp, pd.Timestamp] | None
    level: float


def wilson(k: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval: honest near 0 and 1 and for small n, unlike the normal approximation."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def transition_counts(
    paths: DealPaths,
    by: Sequence[str] = (),
    stall_days: float | None = None,
    method: Method = "mixture",
    timing: DealPaths | None = None,
) -> pd.DataFrame:
    """Per cut and transition: deals that entered the stage, converted, were lost there, are still open,
    and the conversion rate by ``method`` (see ``funnel``)."""
    sp = stage_spells(paths, stall_days)
    sp = sp[sp["stage"].isin(FUNNEL_STAGES[:-1])]
    profile = {}
    if method == "mixture":
        pooled = stage_spells(timing, stall_days) if timing is not None else sp
        # Timing of each exit, from deals that sat in the stage with known times (skips say nothing).
        timed = pooled[~pooled["skipped"] & pooled["days"].notna()]
        for s, g in timed.groupby("stage"):
            profile[s] = exit_survival(g["days"].to_numpy(), g["status"].to_numpy())
    keys = [*by, "stage"]
    sp = sp.assign(**{c: sp[c].fillna("(none)") for c in by})
    rows = []
    for key, g in sp.groupby(keys, sort=False):
        status = g["status"].to_numpy()
        # Unknown time in stage: a resolved deal counts at time 0, an open one carries no information.
        known = g["days"].notna().to_numpy() | (status > 0)
        days, status_k = g["days"].fillna(0.0).to_numpy()[known], status[known]
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        n_conv, n_lost = int((status == 1).sum()), int((status == 2).sum())
        row.update(entered=len(g), converted=n_conv, lost=n_lost, open=int((status == 0).sum()))
        res = n_conv + n_lost
        if method == "resolved":
            row["estimate"] = n_conv / res if res else np.nan
        elif method == "mixture":
            t, s1, s2 = profile.get(str(row["stage"]), (np.zeros(0), np.zeros(0), np.zeros(0)))
            e = days[status_k == 0]
            at = np.searchsorted(t, e, side="right") - 1  # survival just after the last time <= e
            pick = at >= 0
            s1e, s2e = np.where(pick, s1[np.maximum(at, 0)], 1.0), np.where(pick, s2[np.maximum(at, 0)], 1.0)
            row["estimate"] = mixture_rate(n_conv, n_lost, s1e, s2e)
        else:
            row["estimate"] = conversion_rate(days, status_k)
        rows.append(row)
    out = pd.DataFrame(rows)
    order = {s: i for i, s in enumerate(FUNNEL_STAGES)}
    out = out.sort_values([*by, "stage"], key=lambda c: c.map(order) if c.name == "stage" else c)
    out.insert(len(by) + 1, "next_stage", out["stage"].map(dict(TRANSITIONS)))
    return out.reset_index(drop=True)


def _cumulative(table: pd.DataFrame, by: tuple[str, ...], level: float) -> pd.DataFrame:
    """Cumulative Find → next-stage conversion with a Jeffreys-Beta posterior interval (product of draws)."""
    rng = np.random.default_rng(0)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    cum, lo, hi = np.empty(len(table)), np.empty(len(table)), np.empty(len(table))
    groups = table.groupby(list(by), sort=False).indices if by else {(): np.arange(len(table))}
    resolved, rate = table["resolved"].to_numpy(float), table["rate"].to_numpy(float)
    for idx in groups.values():
        draws = np.ones(_DRAWS)
        point = 1.0
        for j in idx:  # rows of a group are in funnel order
            r, p = float(resolved[j]), float(rate[j])
            point *= p
            k = p * r if r and np.isfinite(p) else 0.0
            draws = draws * rng.beta(k + 0.5, r - k + 0.5, _DRAWS)
            cum[j] = point
            lo[j], hi[j] = np.quantile(draws, [lo_q, hi_q]) if np.isfinite(point) else (np.nan, np.nan)
    return table.assign(cumulative=cum, cum_low=lo, cum_high=hi)


def funnel(
    crm: CRMData | DealPaths,
    *,
    by: str | Sequence[str] | None = None,
    period: tuple[Any, Any] | None = None,
    as_of: Any = None,
    level: float = 0.95,
    stall_days: float | None = None,
    min_resolved: int = 1,
    method: Method = "mixture",
) -> FunnelResult:
    """Conversion Find → Meet → Pitch → Sign for deals created in ``period`` (inclusive), per cut.

    Only resolved transitions are events; open deals are censored (module docstring). ``method``:
    ``"mixture"`` (default) credits each open deal by how long it has waited, with exit timings pooled
    over all deals, so small cuts and young cohorts borrow the history's timing; ``"aalen_johansen"``
    uses only the cell's own deals (CIF_move / (CIF_move + CIF_lost) at the last time seen);
    ``"resolved"`` is the plain converted / (converted + lost), biased upward while losses are pending.
    The interval is Wilson's at the resolved count (an approximation for the censoring-aware rates);
    cells with fewer than ``min_resolved`` resolved deals get NaN."""
    if not 0 < level < 1:
        raise ConfigError(f"level={level} must be in (0, 1), e.g. 0.95")
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not one of {list(METHODS)}")
    paths = crm if isinstance(crm, DealPaths) else deal_paths(crm, as_of)
    cols = resolve_cut(by, paths.frame.columns)
    sub, per = filter_period(paths.frame, period)
    if sub.empty:
        raise InsufficientDataError(
            f"no opportunities created in {period} (as of {paths.as_of.date()}). Fix: widen the period"
        )
    t = transition_counts(DealPaths(sub, paths.as_of), cols, stall_days, method, timing=paths)
    resolved = t["converted"] + t["lost"]
    ok = (resolved >= max(min_resolved, 1)).to_numpy()
    t["resolved"] = resolved
    t["rate"] = np.where(ok, t.pop("estimate"), np.nan)
    low, high = wilson((t["rate"].fillna(0) * resolved).to_numpy(), resolved.to_numpy(), level)
    rate = t["rate"].to_numpy(float)
    # Float round-off at rates of exactly 0 or 1 must not leave the point outside its own interval.
    t["ci_low"] = np.where(ok, np.minimum(low, rate), np.nan)
    t["ci_high"] = np.where(ok, np.maximum(high, rate), np.nan)
    t = _cumulative(t, cols, level)
    return FunnelResult(t, cols, paths.as_of, per, level)


def rates(result: FunnelResult, kind: Literal["rate", "cumulative"] = "rate") -> dict[str, float]:
    """``{"Find": p(Find→Meet), ...}`` of an uncut funnel: the input the reverse funnel plans with."""
    if result.by:
        raise ConfigError(f"rates() needs an uncut funnel, got by={list(result.by)}. Fix: funnel(crm)")
    return {str(s): float(v) for s, v in zip(result.table["stage"], result.table[kind], strict=True)}
