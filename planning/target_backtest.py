"""Target backtest: replay past quarters as a planner would have lived them — the quarter-total
distributions known before each quarter started, targets set at hit probability ``p`` by each method,
then what was actually sold. Calibrated distributions give a hit rate ≈ the promised probability.

Methods. ``own_quantile``: every unit's own (1 − p) quantile, so each unit is promised exactly ``p``.
``top_down`` / ``bottom_up`` / ``blended`` go through :func:`planning.allocation.allocate`: the company
target is the total's (1 − p) quantile; top-down splits it by median forecast, bottom-up rolls up each
leaf's own p-target (the company target is then an output), blended mixes the two. An allocated unit is
promised its own implied P(actual ≥ target) under its distribution, which differs from ``p`` (a sum is
less spread than its parts, so a split company target asks more of the units than their own p-targets).

Figures per method (on the leaf units by default, and per level): ``promised`` (mean promised p_hit),
``hit_rate`` (share with actual ≥ target), ``gap`` = hit_rate − promised, and the fairness spread of
target / median forecast (``gini``, ``cv``) and of target / actual (``gini_actual``, ``cv_actual``),
averaged over quarters (:mod:`planning.fairness`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.planning.allocation import METHODS, allocate
from salesplan.planning.distributions import COMBINED_LEVELS, QuarterDistribution
from salesplan.planning.fairness import fairness_report
from salesplan.planning.types import Allocation, AllocationConfig

ALL_METHODS: tuple[str, ...] = ("own_quantile", *METHODS)
MIN_RATIOS = 8
"""Fewest actual/point ratios a level needs for its own quantiles."""
BIN_RATIOS = 60
"""Fewest ratios per size bin: below this the bins' quantiles are noisier than what they separate."""
DistFn = Callable[[str], tuple[Mapping[str, QuarterDistribution], pd.DataFrame]]
ActualFn = Callable[[str], "pd.Series | Mapping[str, float]"]


@dataclass(frozen=True)
class TargetBacktest:
    """``rows``: quarter, method, level, unit_id, parent_id, is_leaf, forecast_q50, target, p_hit
    (promised), actual, hit. ``summary``: one row per method (leaf units): units, quarters, promised,
    hit_rate, gap, gini, cv, gini_actual, cv_actual. ``by_level``: the same per method × level."""

    probability: float
    rows: pd.DataFrame
    summary: pd.DataFrame
    by_level: pd.DataFrame


def conformal_distributions(
    points: pd.DataFrame,
    calibration: pd.DataFrame,
    order: Sequence[str],
    *,
    quantile_levels: Sequence[float] = COMBINED_LEVELS,
    bins: int = 3,
    min_ratios: int = MIN_RATIOS,
) -> dict[str, QuarterDistribution]:
    """Split-conformal quarter distributions: unit quantile = point × quantile of actual / point over
    ``calibration`` rows (``level, point, actual`` of earlier quarters, replayed with the same method and
    lead). Ratios are pooled per level and, when there are enough, per size bin of the point (Mondrian
    conformal: small units are relatively noisier than big ones). A level with fewer than ``min_ratios``
    ratios borrows those of the next finer level in ``order`` (coarse → fine), a wider spread, so its
    targets err on the safe side. Units with point ≤ 0 get a distribution at 0."""
    qs = np.asarray(quantile_levels, dtype=float)
    cal = calibration[calibration["point"] > 0]
    ratio = {str(k): g for k, g in cal.assign(r=cal["actual"] / cal["point"]).groupby("level")}
    out: dict[str, QuarterDistribution] = {}
    for i, name in enumerate(order):
        src = next((n for n in order[i:] if len(ratio.get(n, ())) >= min_ratios), None)
        src = src or next((n for n in reversed(order) if n in ratio), None)
        sub = points[points["level"] == name]
        pt = sub["point"].to_numpy(dtype=float)
        vals = np.zeros((len(sub), len(qs)))
        if src == name:
            g = ratio[src]
            nb = max(1, min(bins, len(g) // BIN_RATIOS))
            edges = np.quantile(g["point"], np.linspace(0, 1, nb + 1)[1:-1]) if nb > 1 else np.array([])
            own, cb = np.searchsorted(edges, pt), np.searchsorted(edges, g["point"].to_numpy())
            for b in range(nb):
                rq = np.quantile(g["r"].to_numpy()[cb == b], qs)
                vals[own == b] = np.outer(pt[own == b], rq)
        elif src is not None:
            # borrowed from finer units: keep their (wider) spread but centre the median on their mean
            # ratio — a sum of many skewed parts has its median near its mean
            r = ratio[src]["r"].to_numpy()
            rq = np.maximum(np.quantile(r, qs) - np.median(r) + r.mean(), 0.0)
            vals = np.outer(pt, rq)
        vals[pt <= 0] = 0.0
        out[name] = QuarterDistribution(tuple(sub["unit_id"].astype(str)), qs, vals)
    return out


def _flatten(dists: Mapping[str, QuarterDistribution], tree: pd.DataFrame, quarter: str) -> pd.DataFrame:
    missing = [c for c in ("unit_id", "parent_id", "level") if c not in tree.columns]
    if missing:
        raise DataValidationError(
            [
                Problem(c, "column missing", fix="dist_fn's tree needs unit_id, parent_id, level")
                for c in missing
            ],
            f"target backtest tree {quarter}",
        )
    t = tree[["unit_id", "parent_id", "level"]].copy()
    t["unit_id"] = t["unit_id"].astype(str)
    where = {u: lv for lv, d in dists.items() for u in d.unit_ids}
    lost = t.loc[~t["unit_id"].isin(list(where)), "unit_id"].tolist()
    if lost:
        raise ConfigError(
            f"{quarter}: units {lost[:5]} of the tree have no distribution; dist_fn must cover all"
        )
    t["dist"] = t["unit_id"].map(where)
    return t.reset_index(drop=True)


def _p_hit(dists: Mapping[str, QuarterDistribution], t: pd.DataFrame, target: np.ndarray) -> np.ndarray:
    out = np.full(len(t), np.nan)
    for lv, idx in t.groupby("dist").indices.items():
        out[idx] = 1.0 - dists[str(lv)].cdf(target[idx, None], t["unit_id"].to_numpy()[idx].tolist())[:, 0]
    return out


def _quantile(dists: Mapping[str, QuarterDistribution], t: pd.DataFrame, p: float) -> np.ndarray:
    out = np.full(len(t), np.nan)
    for lv, idx in t.groupby("dist").indices.items():
        out[idx] = dists[str(lv)].quantile(p, t["unit_id"].to_numpy()[idx].tolist())[:, 0]
    return out


def _targets(
    dists: Mapping[str, QuarterDistribution], t: pd.DataFrame, method: str, p: float, over_assignment: float
) -> np.ndarray:
    if method == "own_quantile":
        return np.round(t["forecast_p"].to_numpy(), 2)
    roots = t.loc[t["parent_id"].isna(), "unit_id"].tolist()
    top = {r: float(t.loc[t["unit_id"] == r, "forecast_p"].iat[0]) for r in roots}
    cfg = AllocationConfig(
        method=method,
        weights={"forecast_q50": 1.0},
        bottom_up_basis="forecast_p",
        over_assignment=over_assignment,
        ramp=(1.0,),  # the distributions already hold each unit's ramp
    )
    a = allocate(t.drop(columns=["dist"]), top if method != "bottom_up" else None, cfg)
    got = a.targets.set_index("unit_id")["target"]
    return got.reindex(t["unit_id"]).to_numpy(dtype=float)


def _fair(rows: pd.DataFrame, potential: str) -> tuple[float, float]:
    """Mean over quarters of the Gini and CV of target / ``potential`` on the rows (leaf units)."""
    if rows.empty:
        return float("nan"), float("nan")
    tg = rows.rename(columns={potential: "_pot"})[
        ["quarter", "unit_id", "parent_id", "level", "target", "_pot"]
    ]
    tg = tg.assign(parent_id=None)  # every row is a leaf of this report
    alloc = Allocation(targets=tg, config=AllocationConfig(), top_targets=pd.Series(dtype=float), units=tg)
    by_q = fairness_report(alloc, potential="_pot", level=None).by_quarter
    return float(by_q["gini"].mean()), float(by_q["cv"].mean())


def _summarise(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    out = []
    for key, g in rows.groupby(list(keys), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        gini, cv = _fair(g, "forecast_q50")
        gini_a, cv_a = _fair(g, "actual")
        promised, hit_rate = float(g["p_hit"].mean()), float(g["hit"].mean())
        rec: dict[str, Any] = dict(zip(keys, key, strict=True))
        rec.update(
            units=len(g),
            quarters=g["quarter"].nunique(),
            promised=promised,
            hit_rate=hit_rate,
            gini=gini,
            cv=cv,
            gini_actual=gini_a,
            cv_actual=cv_a,
            gap=hit_rate - promised,
        )
        out.append(rec)
    return pd.DataFrame(out)


def target_backtest(
    quarters: Sequence[Any],
    dist_fn: DistFn,
    actual_fn: ActualFn,
    *,
    probability: float = 0.6,
    methods: Sequence[str] = ALL_METHODS,
    over_assignment: float = 0.0,
) -> TargetBacktest:
    """Replay ``quarters``: ``dist_fn(quarter)`` → (distributions by level, unit tree) from data known
    before the quarter (e.g. :func:`planning.bookings.bookings_distributions` with ``as_of`` = its start);
    ``actual_fn(quarter)`` → actual per unit_id (missing units count as 0). ``over_assignment`` is handed
    to the allocation (0 keeps the promised probability readable)."""
    if not 0 < probability < 1:
        raise ConfigError(f"probability must be strictly between 0 and 1, got {probability}")
    bad = [m for m in methods if m not in ALL_METHODS]
    if bad or not methods:
        raise ConfigError(f"methods must be a non-empty subset of {ALL_METHODS}, got {list(methods)}")
    if not quarters:
        raise ConfigError("quarters is empty; pass the past quarters to replay, e.g. ['2025Q1', '2025Q2']")
    frames = []
    for quarter in quarters:
        q = str(pd.Period(str(quarter), freq="Q"))
        dists, tree = dist_fn(q)
        t = _flatten(dists, tree, q)
        t["forecast_q50"] = _quantile(dists, t, 0.5)
        t["forecast_p"] = _quantile(dists, t, 1.0 - probability)
        act = pd.Series(actual_fn(q), dtype=float)
        act.index = act.index.astype(str)
        actual = act.reindex(t["unit_id"]).fillna(0.0).to_numpy()
        is_leaf = ~t["unit_id"].isin(set(t["parent_id"].dropna().astype(str)))
        for m in methods:
            target = _targets(dists, t, m, probability, over_assignment)
            frames.append(
                t.drop(columns=["dist", "forecast_p"]).assign(
                    quarter=q,
                    method=m,
                    is_leaf=is_leaf.to_numpy(),
                    target=target,
                    p_hit=_p_hit(dists, t, target),
                    actual=actual,
                    hit=actual >= target - 0.005,
                )
            )
    rows = pd.concat(frames, ignore_index=True)
    cols = [
        "quarter",
        "method",
        "level",
        "unit_id",
        "parent_id",
        "is_leaf",
        "forecast_q50",
        "target",
        "p_hit",
        "actual",
        "hit",
    ]
    rows = rows[cols]
    return TargetBacktest(
        probability=float(probability),
        rows=rows,
        summary=_summarise(rows[rows["is_leaf"]], ["method"]),
        by_level=_summarise(rows, ["method", "level"]),
    )
