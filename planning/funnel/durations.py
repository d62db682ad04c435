"""Deal velocity: time in each stage and end-to-end cycle time, censoring-aware, and stalled open deals.

A deal still open in a stage on the as-of date has spent *at least* its time so far there; dropping it
would make stages look faster the more recent the history. Time in a stage is the time to *move on*
(losses stall and are a competing exit), estimated from the Aalen–Johansen cumulative incidence of moving
on, normalised to a distribution: F(t) = CIF_move(t) / CIF_move(end). Cycle time created → closed is a
Kaplan–Meier curve (statsmodels ``SurvfuncRight``) with open deals right-censored; created → won uses the
same competing-risk normalisation with lost as the other exit. Skipped stages have no time and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.duration.survfunc import SurvfuncRight

from salesplan.contracts.crm import STAGES, CRMData
from salesplan.errors import ConfigError
from salesplan.planning.funnel.paths import DealPaths, deal_paths, filter_period, resolve_cut, stage_spells
from salesplan.planning.funnel.survival import cumulative_incidence

__all__ = [
    "DURATION_STAGES",
    "QUANTILES",
    "Velocity",
    "cycle_spells",
    "km_closed",
    "stalled",
    "time_to_move_on",
    "velocity",
]

DURATION_STAGES: tuple[str, ...] = STAGES[:-1]
"""Stages with a time in them (Operate is the last, it is never left)."""
QUANTILES: dict[str, float] = {"median": 0.5, "p80": 0.8, "p90": 0.9}


@dataclass(frozen=True)
class Velocity:
    """``stages``: per cut and stage the median, P80, P90 and mean days to move on (``complete``: no open
    deal outlasts the longest observed move, so the mean is not truncated); ``cycle``: created → closed
    (KM) and created → won; ``curves``: step curves (stage, days, cdf) for plots; ``spells``: raw spells."""

    stages: pd.DataFrame
    cycle: pd.DataFrame
    curves: pd.DataFrame
    spells: pd.DataFrame
    as_of: pd.Timestamp


def _summary_from_cdf(t: np.ndarray, cdf: np.ndarray) -> dict[str, float]:
    """Quantiles (first time the CDF reaches q) and mean of a step CDF on times ``t``."""
    out = {}
    for name, q in QUANTILES.items():
        hit = np.nonzero(cdf >= q - 1e-12)[0]
        out[name] = float(t[hit[0]]) if len(hit) else np.nan
    mass = np.diff(np.concatenate([[0.0], cdf]))
    out["mean"] = float(np.sum(mass * t)) if len(t) else np.nan
    return out


def time_to_move_on(days: np.ndarray, status: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Distribution (times, CDF) of days to move on among deals that do, with open deals censored and
    losses a competing exit; ``complete`` is False when open deals outlast the last observed move."""
    days, status = np.asarray(days, float), np.asarray(status, int)
    ci = cumulative_incidence(days, status)
    moves = ci[np.diff(np.concatenate([[0.0], ci["cif_1"].to_numpy()])) > 0]
    if moves.empty:
        return np.array([]), np.array([]), False
    t, cif = moves["days"].to_numpy(), moves["cif_1"].to_numpy()
    complete = not bool(np.any((status == 0) & (days > t[-1])))
    return t, cif / cif[-1], complete


def _row(days: np.ndarray, status: np.ndarray) -> dict[str, Any]:
    t, cdf, complete = time_to_move_on(days, status)
    base: dict[str, Any] = {
        "n": len(days),
        "moved": int((status == 1).sum()),
        "lost": int((status == 2).sum()),
        "open": int((status == 0).sum()),
    }
    if not len(t):
        return {**base, **dict.fromkeys([*QUANTILES, "mean"], np.nan), "complete": False}
    return {**base, **_summary_from_cdf(t, cdf), "complete": complete}


def km_closed(days: np.ndarray, closed: np.ndarray) -> dict[str, Any]:
    """Kaplan–Meier summary of created → closed with open deals censored (NaN when never reached)."""
    days, closed = np.asarray(days, float), np.asarray(closed, int)
    base: dict[str, Any] = {
        "n": len(days),
        "moved": int(closed.sum()),
        "lost": 0,
        "open": int(len(days) - closed.sum()),
    }
    if closed.sum() == 0:
        return {**base, **dict.fromkeys([*QUANTILES, "mean"], np.nan), "complete": False}
    sf = SurvfuncRight(days, closed)
    t, s = np.asarray(sf.surv_times, float), np.asarray(sf.surv_prob, float)
    out = _summary_from_cdf(t, 1 - s)
    complete = bool(s[-1] <= 1e-12)
    if not complete:  # restricted mean: the curve never reaches zero
        out["mean"] = float(np.sum(np.diff(np.concatenate([[0.0], t])) * np.concatenate([[1.0], s[:-1]])))
    return {**base, **out, "complete": complete}


def cycle_spells(paths: DealPaths) -> pd.DataFrame:
    """Created → closed per deal: ``status`` 1 won, 2 lost, 0 open (censored at the as-of date)."""
    d = paths.frame[paths.frame["created_date"].notna()]
    status = np.select([d["outcome"].eq("won"), d["outcome"].eq("lost")], [1, 2], 0)
    stop = d["close_date"].where(status > 0, paths.as_of)
    days = (stop - d["created_date"]).dt.total_seconds() / 86400.0
    return d.assign(days=days.clip(lower=0.0).to_numpy(), status=status)


def _groups(df: pd.DataFrame, keys: list[str]) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    if not keys:
        return [({}, df)]
    return [(dict(zip(keys, k, strict=True)), g) for k, g in df.groupby(keys, sort=True)]


def velocity(
    crm: CRMData | DealPaths,
    *,
    by: str | Sequence[str] | None = None,
    period: tuple[Any, Any] | None = None,
    as_of: Any = None,
) -> Velocity:
    """Time in each stage and cycle time for deals created in ``period``, per cut (module docstring)."""
    paths = crm if isinstance(crm, DealPaths) else deal_paths(crm, as_of)
    cols = list(resolve_cut(by, paths.frame.columns))
    sub, _ = filter_period(paths.frame, period)
    sub_paths = DealPaths(sub, paths.as_of)
    sp = stage_spells(sub_paths)
    sp = sp[~sp["skipped"] & sp["days"].notna()].assign(
        **{c: lambda d, c=c: d[c].fillna("(none)") for c in cols}
    )
    stage_rows, curves = [], []
    for key, g in _groups(sp, cols):
        for s in DURATION_STAGES:
            gs = g[g["stage"] == s]
            if len(gs):
                stage_rows.append({**key, "stage": s, **_row(gs["days"].to_numpy(), gs["status"].to_numpy())})
    for s in DURATION_STAGES:
        gs = sp[sp["stage"] == s]
        t, cdf, _ = time_to_move_on(gs["days"].to_numpy(), gs["status"].to_numpy())
        curves.append(pd.DataFrame({"stage": s, "days": t, "cdf": cdf}))
    cyc = cycle_spells(sub_paths).assign(**{c: lambda d, c=c: d[c].fillna("(none)") for c in cols})
    cycle_rows = []
    for key, g in _groups(cyc, cols):
        days, st = g["days"].to_numpy(), g["status"].to_numpy()
        cycle_rows.append({**key, "measure": "created→closed", **km_closed(days, (st > 0).astype(int))})
        cycle_rows.append({**key, "measure": "created→won", **_row(days, st)})
    t, cdf, _ = time_to_move_on(cyc["days"].to_numpy(), cyc["status"].to_numpy())
    curves.append(pd.DataFrame({"stage": "created→won", "days": t, "cdf": cdf}))
    return Velocity(
        pd.DataFrame(stage_rows),
        pd.DataFrame(cycle_rows),
        pd.concat(curves, ignore_index=True),
        sp,
        paths.as_of,
    )


def stalled(crm: CRMData | DealPaths, *, as_of: Any = None, quantile: float = 0.9) -> pd.DataFrame:
    """Open deals whose time in their current stage exceeds that stage's P90 (``quantile``) of time to
    move on: most deals that will move on have done so by then. Stages without an estimate flag nothing."""
    if not 0 < quantile < 1:
        raise ConfigError(f"quantile={quantile} must be in (0, 1), e.g. 0.9")
    paths = crm if isinstance(crm, DealPaths) else deal_paths(crm, as_of)
    sp = stage_spells(paths)
    sp = sp[~sp["skipped"] & sp["days"].notna()]
    limits = {}
    for s, g in sp.groupby("stage"):
        t, cdf, _ = time_to_move_on(g["days"].to_numpy(), g["status"].to_numpy())
        hit = np.nonzero(cdf >= quantile - 1e-12)[0]
        limits[s] = float(t[hit[0]]) if len(hit) else np.nan
    open_ = sp[(sp["status"] == 0) & sp["outcome"].eq("open")].copy()
    open_["limit_days"] = open_["stage"].map(limits).astype(float)
    open_["stalled"] = open_["days"] > open_["limit_days"]
    keep = ["opportunity_id", "rep_id", "team", "region", "stage", "days", "limit_days", "stalled", "amount"]
    return open_[[c for c in keep if c in open_.columns]].reset_index(drop=True)
