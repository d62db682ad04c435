"""How the default blend weights its members: per series, from the errors of the fit's own rolling origins
(inner folds only: the data after the training cut never informs them), shrunk towards the weights of the
series' group of similar series, and those towards the weights learned on every series.

Why shrinkage rather than per-series selection: a series has a handful of origins, and choosing its best
member on them picks noise (on the M1 training data, per-series selection was worse than one pooled
blend for yearly, quarterly and monthly series). Pooled weights are stable but ignore that a strongly
seasonal series wants the seasonal members and a trending yearly one the trend members. So three levels:

* **all series** (``pooled``): the weight vector minimising the scaled absolute error (a MASE-like loss,
  ``learn_weights``) over every origin's rows, exactly, by linear programming (HiGHS);
* **group** (``series_groups``: history length × seasonal strength × intermittency, groups smaller than
  ``MIN_GROUP`` series fold into the pooled weights): the same optimum on the group's rows, shrunk towards
  the pooled weights by ``n / (n + KAPPA_GROUP)`` (``n`` series with origins in the group);
* **series**: inverse squared mean scaled error of each member on the series' own rows, shrunk towards its
  group's weights by ``r / (r + KAPPA_SERIES)`` (``r`` backtest rows of the series).

A series too short for any origin takes its group's (or the pooled) weights. The constants were chosen on
the inner folds of the M1 *training* series (each series' last horizon held out, the competition's test
part never read) and checked on the simulator; see ``benchmarks/forecast.py``.

How far down the tiers a fit goes is not fixed: ``SalesplanForecaster`` (``weight_levels="auto"``)
compares the pooled weights, group weights and series weights on its own cross-fitted backtest and keeps
the lowest loss (``fit_series_weights_for`` solves the linear programs once for all three). Series
weights won on M1's yearly and quarterly training folds; on Dominick's weekly panel they pulled the blend
off its LightGBM member, which the pooled weights keep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linprog

__all__ = [
    "KAPPA_GROUP",
    "KAPPA_SERIES",
    "MIN_GROUP",
    "WEIGHT_LEVELS",
    "LevelChoice",
    "SeriesWeights",
    "choose_weight_level",
    "combined_weights",
    "fit_series_weights_for",
    "learn_weights",
    "level_kappas",
    "series_features",
    "series_groups",
    "shrunk_weights",
]

KAPPA_GROUP = 50.0
"""Series with origins a group needs for its own weights to count as much as the pooled ones."""
KAPPA_SERIES = 50.0
"""Backtest rows a series needs for its own weights to count as much as its group's."""
WEIGHT_LEVELS = ("pooled", "group", "series")
"""How far down the tiers the blend's weights may go, simplest first (``choose_weight_level``)."""
MIN_GROUP = 30
"""Fewest series a group of similar series needs to get weights of its own."""
SEASONAL_STRENGTH = 0.5
"""Seasonal strength (share of the detrended variance the seasonal profile explains) above which a
series counts as seasonal."""
INTERMITTENT = 0.3
"""Share of zero periods above which a series counts as intermittent."""


def learn_weights(
    preds: np.ndarray, y: np.ndarray, scale: np.ndarray, row_weight: np.ndarray | None = None
) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise ``Σ row_weight · |y − preds @ w| / scale``.

    Solved exactly as the dual linear program of that L1 fit (``N`` bounded variables and one constraint
    per member: seconds for 10⁵ rows with HiGHS' interior point, where the primal LP or a lattice search
    over the simplex take minutes), so the learned blend is never worse on its rows than the best single
    member. Rows with a missing forecast are ignored; no rows give equal weights."""
    k = preds.shape[1]
    r = (row_weight if row_weight is not None else np.ones(len(y))) / scale
    ok = np.isfinite(preds).all(axis=1) & np.isfinite(y) & np.isfinite(r) & (r > 0)
    if not ok.any():
        return np.full(k, 1.0 / k)
    if k == 1:
        return np.ones(1)
    P, yy, rr = preds[ok], y[ok], r[ok] / r[ok].mean()
    # dual of min_w Σ r|y − Pw| s.t. w ≥ 0, Σw = 1:  max u·y + t  s.t.  Pᵀu + t ≤ 0,  |u| ≤ r
    c = np.concatenate([-yy, [-1.0]])
    A = np.hstack([P.T, np.ones((k, 1))])
    bounds = [*zip(-rr, rr, strict=True), (None, None)]
    res = linprog(c, A_ub=A, b_ub=np.zeros(k), bounds=bounds, method="highs-ipm")
    if res.status != 0 or res.ineqlin is None:
        loss = np.abs(yy[:, None] - P).T @ rr  # fall back to the best single member
        return np.eye(k)[int(np.argmin(loss))]
    w = np.clip(-np.asarray(res.ineqlin.marginals, dtype=float), 0.0, None)
    return w / w.sum() if w.sum() > 0 else np.full(k, 1.0 / k)


def combined_weights(
    preds: np.ndarray,
    y: np.ndarray,
    scale: np.ndarray,
    row_weight: np.ndarray | None = None,
    equal_share: float = 0.0,
    tolerance: float = 0.1,
) -> np.ndarray:
    """``learn_weights``' optimum mixed with ``equal_share`` of an equal-weight mean of the members whose
    loss is within ``tolerance`` of the best one (the "combination puzzle": a plain mean of good members
    often beats optimised weights out of sample, where the optimum overfits the backtest rows)."""
    w = learn_weights(preds, y, scale, row_weight)
    if equal_share <= 0:
        return w
    r = (row_weight if row_weight is not None else np.ones(len(y))) / scale
    ok = np.isfinite(preds).all(axis=1) & np.isfinite(y) & np.isfinite(r)
    if not ok.any():
        return w
    loss = np.abs(y[ok, None] - preds[ok]).T @ r[ok]
    top = loss <= (1 + tolerance) * loss.min()
    return (1 - equal_share) * w + equal_share * top / top.sum()


def series_features(data: pd.DataFrame, season: int) -> pd.DataFrame:
    """Per series: ``n`` (periods), ``seasonal`` (strength in [0, 1]: 1 − var(remainder)/var(detrended),
    the detrending a centred moving average of one season; 0 when the season is 1 or the series shorter
    than two seasons) and ``zeros`` (share of zero periods)."""
    rows = []
    for uid, g in data.groupby("unique_id", sort=False):
        y = g["y"].to_numpy(dtype=float)
        strength = 0.0
        if season > 1 and len(y) >= 2 * season:
            kernel = np.ones(season) / season
            trend = np.convolve(y, kernel, mode="same")
            half = season // 2
            detr = (y - trend)[half : len(y) - half]
            pos = (np.arange(len(y)) % season)[half : len(y) - half]
            prof = pd.Series(detr).groupby(pos).transform("mean").to_numpy()
            v = float(np.var(detr))
            strength = float(np.clip(1 - np.var(detr - prof) / v, 0, 1)) if v > 0 else 0.0
        rows.append((uid, len(y), strength, float(np.mean(y == 0))))
    return pd.DataFrame(rows, columns=["unique_id", "n", "seasonal", "zeros"]).set_index("unique_id")


def series_groups(features: pd.DataFrame, season: int, horizon: int, min_size: int = MIN_GROUP) -> pd.Series:
    """Group label per series: ``short``/``long`` history (under two seasons plus a horizon, at least
    ``8 + horizon`` periods), ``seasonal``/``flat`` (strength above ``SEASONAL_STRENGTH``) and
    ``intermittent`` (over ``INTERMITTENT`` zeros); a group under ``min_size`` series becomes ``all``."""
    long_from = max(2 * season, 8) + horizon
    label = np.where(features["n"] >= long_from, "long", "short").astype(object)
    if season > 1:
        label = label + np.where(features["seasonal"] > SEASONAL_STRENGTH, "/seasonal", "/flat")
    label = label + np.where(features["zeros"] > INTERMITTENT, "/intermittent", "")
    out = pd.Series(label, index=features.index, dtype=object)
    size = out.map(out.value_counts())
    return out.where(size >= min_size, "all")


def shrunk_weights(own: np.ndarray, prior: np.ndarray, evidence: float, kappa: float) -> np.ndarray:
    """``own`` moved towards ``prior`` by ``kappa / (evidence + kappa)`` (both on the simplex)."""
    a = evidence / (evidence + kappa) if evidence > 0 else 0.0
    w = a * own + (1 - a) * prior
    return w / w.sum() if w.sum() > 0 else prior


@dataclass
class SeriesWeights:
    """What ``fit_series_weights_for`` learns for one pair of kappas: ``series`` (series × member, rows
    summing to 1), ``pooled`` (the weights of the series every member covers) and ``groups`` ((group,
    members covering) → weights)."""

    series: pd.DataFrame
    pooled: np.ndarray
    groups: dict[tuple[str, tuple[bool, ...]], np.ndarray]


def fit_series_weights_for(
    cv: pd.DataFrame,
    names: list[str],
    avail: pd.DataFrame,
    group_of: pd.Series,
    recency: float,
    kappas: Sequence[tuple[float, float]],
    equal_share: float = 0.0,
) -> list[SeriesWeights]:
    """Pooled → group → series weights (module docstring) from backtest rows ``cv`` (``unique_id, window,
    y, scale`` and one forecast column per member in ``names``; NaN where a member has none), for each
    set of members covering a series (``avail``: series × member, bool), once per ``(kappa_group,
    kappa_series)`` pair: the linear programs (pooled and group optima) are solved once and only the
    shrinkage differs. Rows of older windows count ``recency`` times the next. An infinite kappa keeps
    that tier's prior (group: the pooled weights; series: its group's)."""
    preds = cv[names].to_numpy(dtype=float)
    y = cv["y"].to_numpy(dtype=float)
    scale = cv["scale"].to_numpy(dtype=float)
    rw = recency ** (cv["window"].to_numpy(dtype=float) - 1)
    uid = cv["unique_id"].to_numpy()
    group = pd.Series(uid).map(group_of).to_numpy()
    err = pd.DataFrame(np.abs(preds - y[:, None]) / scale[:, None] * rw[:, None], columns=names)
    own_loss = err.groupby(uid).sum().div(pd.Series(rw).groupby(uid).sum(), axis=0)
    own_rows = pd.Series(uid).value_counts()
    tiers = avail.apply(tuple, axis=1)
    Ws = [pd.DataFrame(0.0, index=avail.index, columns=names) for _ in kappas]
    groups: list[dict[tuple[str, tuple[bool, ...]], np.ndarray]] = [{} for _ in kappas]
    pooled_full = np.full(len(names), 1.0 / len(names))
    for tier in sorted(set(tiers), key=sum, reverse=True):
        cols = _weighable([c for c, on in zip(names, tier, strict=True) if on], cv)
        idx = [names.index(c) for c in cols]
        rows = np.isfinite(preds[:, idx]).all(axis=1)
        pooled = np.zeros(len(names))
        pooled[idx] = combined_weights(preds[rows][:, idx], y[rows], scale[rows], rw[rows], equal_share)
        if all(tier):
            pooled_full = pooled
        in_tier = (tiers == tier).to_numpy()
        for g in sorted(set(group_of.reindex(tiers.index)[in_tier])):
            grows = rows & (group == g)
            n_g = len(set(uid[grows]))
            own = None
            if g != "all" and n_g and any(np.isfinite(kg) for kg, _ in kappas):
                own = np.zeros(len(names))
                own[idx] = combined_weights(
                    preds[grows][:, idx], y[grows], scale[grows], rw[grows], equal_share
                )
            ids = tiers.index[in_tier & (group_of.reindex(tiers.index) == g).to_numpy()]
            for k, (kappa_group, kappa_series) in enumerate(kappas):
                gw = pooled if own is None else shrunk_weights(own, pooled, n_g, kappa_group)
                groups[k][(str(g), tier)] = gw
                Ws[k].loc[ids] = _own_weights(ids, gw, idx, names, own_loss, own_rows, kappa_series)
    return [SeriesWeights(W, pooled_full, gr) for W, gr in zip(Ws, groups, strict=True)]


def _weighable(cols: list[str], cv: pd.DataFrame) -> list[str]:
    """The members of a tier that share backtest rows: while no row has all of them, the one with the
    fewest rows sits out of the weights (e.g. a model that needs two seasons before an origin)."""
    cols = list(cols)
    while len(cols) > 1 and not cv[cols].notna().all(axis=1).any():
        cols.remove(min(cols, key=lambda c: int(cv[c].notna().sum())))
    return cols


def _own_weights(
    ids: pd.Index,
    prior: np.ndarray,
    idx: list[int],
    names: list[str],
    own_loss: pd.DataFrame,
    own_rows: pd.Series,
    kappa: float,
) -> np.ndarray:
    """Each series' inverse squared loss weights over the members ``prior`` uses, shrunk towards it (a
    series re-weights the members its group uses, so members without weight need no refit)."""
    out = np.tile(prior, (len(ids), 1))
    if not np.isfinite(kappa):
        return out
    cols = [names[i] for i in idx]
    loss = own_loss.reindex(ids)[cols].to_numpy(dtype=float)
    rows = own_rows.reindex(ids).fillna(0).to_numpy(dtype=float)
    support = prior[idx] > 0
    for j in np.flatnonzero(np.isfinite(loss).all(axis=1) & (rows > 0)):
        inv = np.where(support, 1.0 / np.maximum(loss[j], 1e-9) ** 2, 0.0)
        own = np.zeros(len(names))
        own[idx] = inv / inv.sum()
        out[j] = shrunk_weights(own, prior, rows[j], kappa)
    return out


def level_kappas(level: str, kappa_group: float, kappa_series: float) -> tuple[float, float]:
    """``(kappa_group, kappa_series)`` of a weight level: an infinite kappa keeps that tier's prior."""
    if level == "pooled":
        return np.inf, np.inf
    if level == "group":
        return kappa_group, np.inf
    return kappa_group, kappa_series


@dataclass
class LevelChoice:
    """What ``choose_weight_level`` returns: the ``level`` kept, the cross-fitted ``losses`` of every level
    compared, the level's ``weights`` learned on all rows and ``crossed``: per backtest row, the weights of
    that row's series learned without the row's window (rows × members)."""

    level: str
    losses: dict[str, float]
    weights: SeriesWeights
    crossed: np.ndarray


def choose_weight_level(
    cv: pd.DataFrame,
    names: list[str],
    avail: pd.DataFrame,
    group_of: pd.Series,
    recency: float,
    levels: Sequence[str],
    kappa_group: float = KAPPA_GROUP,
    kappa_series: float = KAPPA_SERIES,
    equal_share: float = 0.0,
) -> LevelChoice:
    """The level of ``levels`` whose blend has the lowest scaled absolute error on the backtest windows its
    weights did not learn from (each window blended with weights fitted on the others; with one window
    the weights cannot be cross-fitted and the losses are in-sample, so callers pass a single level).
    Ties go to the simplest (``WEIGHT_LEVELS`` order); a relative 1e-9 absorbs the solver's rounding (a
    group of every series has the pooled weights)."""
    levels = list(levels)
    uid, window = cv["unique_id"].to_numpy(), cv["window"].to_numpy()
    windows = sorted(set(window.tolist()))
    kappas = [level_kappas(lv, kappa_group, kappa_series) for lv in levels]

    def fit(rows: pd.DataFrame) -> dict[str, SeriesWeights]:
        got = fit_series_weights_for(rows, names, avail, group_of, recency, kappas, equal_share)
        return dict(zip(levels, got, strict=True))

    full = fit(cv)
    crossed = {lv: full[lv].series.reindex(uid).to_numpy() for lv in levels}
    for w in windows if len(windows) > 1 else []:
        rest = fit(cv[window != w])
        for lv in levels:
            crossed[lv][window == w] = rest[lv].series.reindex(uid[window == w]).to_numpy()
    preds = cv[names].to_numpy(dtype=float)
    y, scale = cv["y"].to_numpy(dtype=float), cv["scale"].to_numpy(dtype=float)
    losses: dict[str, float] = {}
    for lv in levels:
        on = np.where(np.isfinite(preds), crossed[lv], 0.0)
        tot = on.sum(axis=1)
        ok = (tot > 0) & np.isfinite(y) & (scale > 0)
        blend = (on * np.nan_to_num(preds)).sum(axis=1)[ok] / tot[ok]
        losses[lv] = float(np.mean(np.abs(y[ok] - blend) / scale[ok])) if ok.any() else np.inf
    best = min(losses.values())
    # no level scored (no backtest row has a weighted forecast): the most flexible one, the tiers' default
    level = (
        levels[-1] if not np.isfinite(best) else next(lv for lv in levels if losses[lv] <= best * (1 + 1e-9))
    )
    return LevelChoice(level, losses, full[level], crossed[level])
