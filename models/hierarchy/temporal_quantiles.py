"""Distributions of period sums from base-period distributions (weeks → months, days → quarters, ...).

Quantiles do not add: the q90 of a month is not the sum of its weeks' q90s (that assumes perfectly
correlated errors and overstates the width). Three documented ways are offered:

- ``aggregate_moments`` + ``moment_quantiles``: the mean of the sum is the sum of the means (exact); its
  variance is ``sum_ij w_i w_j s_i s_j rho^|i-j|`` (AR(1) correlation ``rho`` between base periods of one
  series, which ``estimate_error_correlation`` estimates from a backtest); quantiles then come from the
  gamma distribution with that mean and variance (non-negative series), else the normal one. The mean
  of the result is exactly the coherent mean, so the point forecast stays a statistic of the same
  distribution.
- ``aggregate_quantiles``: a Gaussian error model per quantile level (per-side spread from each
  quantile's distance to the median), keeping skewed inputs skewed.
- ``aggregate_sample_paths``: exact up to Monte-Carlo error when the model can simulate joint paths.

Few origins (issues #19, #21). The width of an aggregate's quarter (the total, a region) is dominated by
the shift its forecast misses by, and that shift is common to every series of one origin: the backtest
shows it only once per origin (2-3 of them), whatever the number of series. A variance estimated from
``k`` origins has ``k - 1`` degrees of freedom (with ``k = 2`` it is below a tenth of the truth one time in
four), so plugging it into a gamma or normal band gives bands that are right on average but far too
narrow whenever the few origins happened to agree. Diagnosed on the tracking benchmark's champion
batches (simulated seeds 5 and 11, 2 origins): the estimated shift share of the total ranged 0.02-0.91
between neighbouring quarters, its quarter half-band 3-45 %, and 4 of 8 total quarters fell outside
P10-P90 (|z| up to 1.9; errors of one sign across every store of a quarter: a width problem, the sign
changes from quarter to quarter, so not a bias). ``error_dependence`` therefore splits the shift into the
part common to the level's series (``common``, known from ``k`` origins) and the series' own, and
``moment_quantiles`` gives the common part the Student-t predictive distribution of a new draw from a
normal sample of ``k`` (``x̄ ± t_{k-1} s sqrt(1 + 1/k)``; e.g. Hahn & Meeker, *Statistical Intervals*,
2nd ed., 2017, ch. 4; the same finite-sample argument as split conformal's ``(n + 1)`` correction):
exact marginal coverage over quarters when the shift is normal, whatever ``k``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from salesplan.contracts import period_days, period_index, quantile_col, quantile_levels
from salesplan.errors import ConfigError
from salesplan.models.hierarchy.frames import monotone_around_median
from salesplan.models.hierarchy.t_normal import t_normal_quantiles
from salesplan.models.hierarchy.temporal import (
    check_unique,
    default_by,
    fail,
    period_shares,
    to_periods,
)

__all__ = [
    "ErrorDependence",
    "aggregate_moments",
    "aggregate_quantiles",
    "aggregate_sample_paths",
    "error_dependence",
    "estimate_error_correlation",
    "estimate_error_dependence",
    "moment_quantiles",
]


def _groups(
    df: pd.DataFrame, freq: str, by: list[str], base: str, week_start: int
) -> tuple[pd.DataFrame, dict[Any, np.ndarray]]:
    """Per row of the split frame: the base row, its share, its base period number; and the row positions
    of each (by..., period, period_start) group."""
    shares = period_shares(df["ds"], freq, base=base, week_start=week_start)
    rows = df.iloc[shares["row"].to_numpy()].reset_index(drop=True)
    rows["_w"] = shares["share"].to_numpy()
    rows["_days"] = shares["days"].to_numpy()
    rows["_k"] = period_index(pd.to_datetime(rows["ds"]), base).to_numpy()
    keys = [*by, "period", "period_start"]
    frame = rows[by].assign(period=shares["period"], period_start=shares["period_start"])
    indices = frame.groupby(keys, sort=True, dropna=False).indices
    groups: dict[Any, np.ndarray] = {k: np.asarray(v) for k, v in indices.items()}
    return rows, groups


def _corr(k: np.ndarray, rho: float, shared: float = 0.0, noise: float | None = None) -> np.ndarray:
    """Correlation of the errors of base periods ``k``: a share ``shared`` of each error's variance is one
    shift common to them all (one origin's forecast missing the level), the rest (``noise``, default
    ``1 - shared``) AR(1) with ``rho``."""
    noise = 1.0 - shared if noise is None else noise
    lag = np.abs(k[:, None] - k[None, :])
    return shared + noise * rho ** lag.astype(float)


def aggregate_moments(
    df: pd.DataFrame,
    freq: str = "M",
    *,
    by: Sequence[str] | None = None,
    rho: float = 0.0,
    shared: float = 0.0,
    common: float = 0.0,
    noise: float | None = None,
    mean_col: str = "yhat",
    sd_col: str = "sd",
    base: str = "W",
    week_start: int = 0,
) -> pd.DataFrame:
    """Mean and standard deviation of each period sum from per-base-period means and standard
    deviations: ``mean = sum_i w_i m_i`` and ``var = sum_ij w_i w_j s_i s_j c_ij`` with ``c_ij = shared +
    (1 - shared) rho^|i-j|`` (``w``: day shares, ``|i-j|`` in base periods; ``shared``: the share of an
    error's variance that is a shift common to all periods of one forecast, ``estimate_error_dependence``).
    With ``error_dependence``'s split the variance ratios are given separately (each relative to ``s²``):
    ``shared`` the series' own shift, ``noise`` the AR(1) rest (``c_ij = shared + noise rho^|i-j|``) and
    ``common`` the shift common to every series of the level, whose spread ``sd_common = sqrt(common)
    sum_i w_i s_i`` is the scale of ``moment_quantiles``' Student-t part (``common`` may exceed 1: a
    predictive variance from a few origins can exceed the spread the pool saw). ``noise=None`` means
    ``1 - shared`` (no split). Returns ``by..., period, period_start, mean, sd, sd_common, coverage``."""
    if not -1.0 < rho <= 1.0:
        raise ConfigError(f"rho must be in (-1, 1], got {rho}; estimate it with estimate_error_correlation")
    if not 0.0 <= shared <= 1.0:
        raise ConfigError(f"shared must be in [0, 1], got {shared}")
    noise = 1.0 - shared if noise is None else noise
    if not 0.0 <= noise <= 1.0 or common < 0.0:
        raise ConfigError(f"noise must be in [0, 1] and common ≥ 0, got {noise}, {common}")
    by = default_by(df, by)
    missing = [c for c in [*by, "ds", mean_col, sd_col] if c not in df.columns]
    if missing:
        fail(f"column(s) {missing} missing", fix="pass base-period means and standard deviations")
    check_unique(df, [*by, "ds"])
    rows, groups = _groups(df, freq, by, base, week_start)
    m = rows[mean_col].to_numpy(dtype=float)
    s = rows[sd_col].to_numpy(dtype=float)
    w, k, days = rows["_w"].to_numpy(), rows["_k"].to_numpy(), rows["_days"].to_numpy()
    mean, sd, covered = np.empty(len(groups)), np.empty(len(groups)), np.empty(len(groups))
    sd_common = np.empty(len(groups))
    for g, idx in enumerate(groups.values()):
        ws = w[idx] * s[idx]
        mean[g] = w[idx] @ m[idx]
        sd_common[g] = np.sqrt(common) * abs(float(ws.sum()))
        rest = float(ws @ _corr(k[idx], rho, shared, noise) @ ws)
        sd[g] = np.sqrt(max(rest, 0.0) + sd_common[g] ** 2)
        covered[g] = days[idx].sum()
    out = pd.DataFrame(list(groups.keys()), columns=[*by, "period", "period_start"])
    out["mean"], out["sd"], out["sd_common"] = mean, sd, sd_common
    out["coverage"] = covered / period_days(out["period_start"], freq)
    return out


def moment_quantiles(
    mean: np.ndarray,
    sd: np.ndarray,
    quantiles: Sequence[float],
    nonnegative: bool = True,
    *,
    sd_common: np.ndarray | None = None,
    dof: float = np.inf,
) -> np.ndarray:
    """Quantiles (rows × levels) of the distribution with each row's mean and standard deviation: gamma
    when ``nonnegative`` and the mean is positive (unit sales are skewed and never negative; its mean is
    exactly ``mean``), normal otherwise; a zero standard deviation gives the mean itself.

    With ``sd_common`` and a finite ``dof`` (a common shift estimated from ``dof + 1`` origins, module
    doc) the row is ``mean + sd_common · T_dof + sqrt(sd² − sd_common²) · Z`` instead: the Student-t
    predictive of the common shift plus the normal rest (symmetric around ``mean``, floored at 0 when
    ``nonnegative``)."""
    mean, sd = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    qs = np.asarray(list(quantiles), dtype=float)
    out = mean[:, None] + sd[:, None] * stats.norm.ppf(qs)[None, :]
    heavy = np.zeros(len(mean), dtype=bool)
    if sd_common is not None and np.isfinite(dof):
        if dof <= 0:
            raise ConfigError(f"dof must be > 0 (origins - 1), got {dof}")
        a = np.minimum(np.asarray(sd_common, dtype=float), sd)
        heavy = a > 0
        if heavy.any():
            b = np.sqrt(np.maximum(sd[heavy] ** 2 - a[heavy] ** 2, 0.0))
            out[heavy] = mean[heavy][:, None] + t_normal_quantiles(a[heavy], b, float(dof), qs)
    gamma = nonnegative & (mean > 0) & (sd > 0) & ~heavy
    if gamma.any():
        shape = (mean[gamma] / sd[gamma]) ** 2
        scale = sd[gamma] ** 2 / mean[gamma]
        out[gamma] = stats.gamma.ppf(qs[None, :], shape[:, None], scale=scale[:, None])
    if nonnegative:
        out = np.maximum(out, 0.0)
    return out


def aggregate_quantiles(
    df: pd.DataFrame,
    freq: str = "M",
    *,
    by: Sequence[str] | None = None,
    rho: float = 0.0,
    nonnegative: bool = False,
    week_start: int = 0,
    base: str = "W",
) -> pd.DataFrame:
    """Quantiles of period sums from base-period quantile columns (``q10``, ``q50``, ``q90``, …)
    under a Gaussian error model.

    For each quantile level ``tau``, base period ``i`` gets the spread ``s_i = (q_tau,i - q50_i) / z_tau``
    (one per side, so skewed inputs stay skewed); the period value is ``sum_i w_i Y_i`` with ``w_i``
    the day share of period ``i``, so ``q_tau = c + z_tau * sqrt(sum_ij w_i w_j s_i s_j rho^|i-j|)``
    with ``|i-j|`` in base periods. The centre ``c`` is ``sum_i w_i yhat_i`` when ``yhat`` is there
    (means add exactly, and a sum of periods is closer to symmetric than one period), else
    ``sum_i w_i q50_i``. Exact when errors are Gaussian with AR(1) correlation ``rho``; ``rho=0``
    (independent) gives the narrowest, ``rho=1`` the sum of the offsets.
    ``coverage`` (as in ``to_periods``) flags periods the base periods only partly cover."""
    if not -1.0 < rho <= 1.0:
        raise ConfigError(f"rho must be in (-1, 1], got {rho}; estimate it with estimate_error_correlation")
    by = default_by(df, by)
    missing = [c for c in [*by, "ds"] if c not in df.columns]
    if missing:
        fail(f"column(s) {missing} missing", fix="pass the forecast frame with its id columns")
    qcols = quantile_levels(df.columns)
    if "q50" not in qcols:
        fail("column 'q50' missing", fix="the median is the centre of the aggregated distribution")
    check_unique(df, [*by, "ds"])
    rows, groups = _groups(df, freq, by, base, week_start)
    w, k, days = rows["_w"].to_numpy(), rows["_k"].to_numpy(), rows["_days"].to_numpy()
    q = rows[list(qcols)].to_numpy(dtype=float)
    j50 = list(qcols).index("q50")
    centre = rows["yhat"].to_numpy(dtype=float) if "yhat" in rows.columns else q[:, j50]
    z = np.array([stats.norm.ppf(t) if t != 0.5 else 1.0 for t in qcols.values()])
    spread = (q - q[:, [j50]]) / z
    spread[:, j50] = 0.0
    out_vals = np.empty((len(groups), len(qcols)))
    covered = np.array([days[idx].sum() for idx in groups.values()], dtype=float)
    for g, idx in enumerate(groups.values()):
        ws = w[idx][:, None] * spread[idx]
        var = np.einsum("ik,ij,jk->k", ws, _corr(k[idx], rho), ws)
        out_vals[g] = w[idx] @ centre[idx] + z * np.sqrt(np.maximum(var, 0.0))
        out_vals[g, j50] = w[idx] @ centre[idx]
    out_vals = monotone_around_median(out_vals, list(qcols.values()), out_vals[:, j50])
    if nonnegative:
        out_vals = np.maximum(out_vals, 0.0)
    out = pd.DataFrame(list(groups.keys()), columns=[*by, "period", "period_start"])
    for j, c in enumerate(qcols):
        out[c] = out_vals[:, j]
    out["coverage"] = covered / period_days(out["period_start"], freq)
    return out


def aggregate_sample_paths(
    samples: pd.DataFrame,
    freq: str = "M",
    *,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    by: Sequence[str] | None = None,
    value_col: str = "value",
    sample_col: str = "sample",
    week_start: int = 0,
    base: str = "W",
) -> pd.DataFrame:
    """Quantiles of period sums from joint sample paths (``by..., ds, sample, value``): each path is
    summed over the period by day shares, then quantiles are taken across paths. Keeps whatever
    dependence between base periods the sampler produced. Returns ``by..., period, period_start, yhat
    (the mean), q..``."""
    by = default_by(samples, by)
    missing = [c for c in [*by, "ds", sample_col, value_col] if c not in samples.columns]
    if missing:
        fail(f"column(s) {missing} missing", fix="pass one row per series, period and sample path")
    sums = to_periods(samples, freq, [value_col], [*by, sample_col], week_start=week_start, base=base)
    keys = [*by, "period", "period_start"]
    g = sums.groupby(keys, sort=True, dropna=False)[value_col]
    out = g.mean().rename("yhat").to_frame()
    for t in quantiles:
        out[quantile_col(t)] = g.quantile(t)
    return out.reset_index()


def estimate_error_correlation(
    errors: pd.DataFrame, *, by: Sequence[str] = ("unique_id",), value_col: str = "resid", base: str = "W"
) -> float:
    """Pooled lag-1 correlation of forecast errors between consecutive base periods (within one
    ``cutoff`` when the frame is a backtest, so it measures how the errors of neighbouring horizons move
    together): the ``rho`` to give ``aggregate_quantiles`` or ``aggregate_moments``. Errors are centred
    and scaled per series over all its rows, not per forecast window: demeaning a 12-period window would
    bias the lag-1 correlation down by about (1 + 3 rho) / 12."""
    series = list(by)
    keys = [*series, "cutoff"] if "cutoff" in errors.columns else series
    if value_col not in errors.columns:
        if {"y", "yhat"} <= set(errors.columns):
            errors = errors.assign(**{value_col: errors["y"] - errors["yhat"]})
        else:
            fail(f"column {value_col!r} (or 'y' and 'yhat') missing", fix="pass backtest errors")
    e = errors.sort_values([*keys, "ds"])
    e = e.assign(_k=period_index(pd.to_datetime(e["ds"]), base).to_numpy())
    grp = e.groupby(series, sort=False)[value_col]
    z = (e[value_col] - grp.transform("mean")) / grp.transform("std").replace(0.0, np.nan)
    lagged = z.groupby([e[k] for k in keys], sort=False).shift(1)
    step = e.groupby(keys, sort=False)["_k"].diff() == 1
    ok = step & z.notna() & lagged.notna()
    if ok.sum() < 3:
        fail("fewer than 3 pairs of consecutive errors", fix="pass a longer backtest")
    a, b = z[ok].to_numpy(), lagged[ok].to_numpy()
    return float(np.clip(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)), -0.99, 1.0))


def estimate_error_dependence(
    errors: pd.DataFrame, *, value_col: str = "e", base: str = "W", inflate: bool = True
) -> tuple[float, float]:
    """``(shared, rho)`` of backtest errors (``unique_id, cutoff, ds, <value_col>``): each forecast
    (one series from one origin) misses by a shift common to all its periods plus AR(1) noise. ``shared``
    is the shift's share of the error variance: the variance of the per-forecast means beyond what the
    noise gives them, the between-origin part widened by ``(k + 1) / (k - 1)`` for ``k`` origins (a new
    origin's shift is as uncertain as the ``k`` seen, plus the uncertainty of their mean); ``rho`` the
    lag-1 correlation of the noise around each forecast's mean, corrected for the bias demeaning a short
    window gives it (about ``-(1 + 3 rho) / n``). Both 0 when there is too little to tell."""
    e = errors.sort_values(["cutoff", "unique_id", "ds"])
    x = e[value_col].to_numpy(dtype=float)
    group = e.groupby(["cutoff", "unique_id"], sort=False).ngroup().to_numpy()
    n_g = np.bincount(group)
    if len(n_g) < 2 or len(x) - len(n_g) < 3:
        return 0.0, 0.0
    means = np.bincount(group, weights=x) / n_g
    u = x - means[group]
    var_u = float(np.sum(u**2) / (len(x) - len(n_g)))
    k = e["cutoff"].nunique()
    fold_of = e.groupby(["cutoff", "unique_id"], sort=False)["cutoff"].first().to_numpy()
    m = pd.Series(means)
    var_b = float(max(m.var(ddof=1) - var_u / float(np.mean(n_g)), 0.0))
    if inflate and k > 1:
        centre = m.groupby(fold_of).transform("mean")
        between = float(centre.var(ddof=1)) if len(m) > 1 else 0.0
        var_b += between * (2.0 / (k - 1))  # (k + 1) / (k - 1) of the between-origin part, as a total
    shared = var_b / (var_b + var_u) if var_b + var_u > 0 else 0.0
    period = period_index(pd.to_datetime(e["ds"]), base).to_numpy()
    same = (np.diff(group) == 0) & (np.diff(period) == 1)
    if same.sum() < 3 or var_u <= 0:
        return float(np.clip(shared, 0.0, 0.95)), 0.0
    r = float(np.sum(u[1:][same] * u[:-1][same]) / np.sum(u**2) * len(u) / same.sum())
    n = float(np.mean(n_g))
    rho = (r + 1.0 / n) / (1.0 - 3.0 / n) if n > 3 else r
    return float(np.clip(shared, 0.0, 0.95)), float(np.clip(rho, 0.0, 0.95))


MIN_DOF = 2
"""Fewest degrees of freedom the common shift's Student-t gets (``ErrorDependence.dof``)."""


@dataclass(frozen=True)
class ErrorDependence:
    """How one level's backtest errors hang together (``error_dependence``), as variances in the errors'
    units: ``common_var``, the predictive variance of a new origin's shift common to every series of the
    level (what the total and the regions mostly miss by; Student-t with ``dof``); ``own_var``, each
    series' own shift; ``noise_var``, the AR(1) rest with correlation ``rho``; ``spread_var``, the
    errors' plain variance; ``origins``, how many origins ``common_var`` was estimated from."""

    common_var: float
    own_var: float
    noise_var: float
    rho: float
    spread_var: float
    origins: int

    @property
    def dof(self) -> float:
        """Degrees of freedom of the common shift's variance: ``origins − 1``, at least ``MIN_DOF``; ∞ when
        not estimable. Why the floor: 2 origins give a Cauchy (1 dof), whose P10 put a tenth of a company's
        quarter at zero after clipping (the serving test world, 2 origins): a band no planner can use and
        no backtest supports. Floored, 2 origins get the tails of 3 (the CLI's default), which is what the
        benchmarks measured (``benchmarks.tracking``, ``benchmarks.target_backtest``: 3 origins)."""
        return float(max(self.origins - 1, MIN_DOF)) if self.origins >= 2 else float("inf")

    def ratios(self, spread_var: float | None = None) -> tuple[float, float, float]:
        """``(shared, noise, common)`` for ``aggregate_moments``: the variances over the per-period
        variance the sums' ``sd`` column stands for (default: the errors' plain variance), so that
        ``common · sd²`` is the predictive variance itself and the t keeps the sample's own scale."""
        v = self.spread_var if spread_var is None else float(spread_var)
        if v <= 0:
            return 0.0, 1.0, 0.0
        return min(self.own_var / v, 1.0), min(self.noise_var / v, 1.0), self.common_var / v


def error_dependence(errors: pd.DataFrame, *, value_col: str = "e", base: str = "W") -> ErrorDependence:
    """``ErrorDependence`` of backtest errors (``unique_id, cutoff, ds, <value_col>``). The per-forecast
    means ``m`` (over each window) split into the origin centre (mean over the level's series) and each
    series' deviation from it. The common part, seen ``k`` times, is the centres' sample variance scaled
    by ``(k + 1) / k`` (a new origin's shift around the mean of ``k``) and meant for a Student-t with
    ``k − 1`` degrees of freedom (``moment_quantiles``); it is kept raw (the noise in a centre is counted
    again in the sum's noise part: a little conservative, negligible where the shift dominates, i.e. at
    the total and the regions), because netting it out and flooring at 0 leaves no scale exactly when
    the few origins happened to agree. The series' own part (``k (n − 1)`` degrees of freedom) is net of
    the noise a window mean carries and stays normal. ``rho`` as in ``estimate_error_dependence``."""
    _, rho = estimate_error_dependence(errors, value_col=value_col, base=base, inflate=False)
    e = errors.sort_values(["cutoff", "unique_id", "ds"])
    x = e[value_col].to_numpy(dtype=float)
    keys = e.groupby(["cutoff", "unique_id"], sort=False)
    group = keys.ngroup().to_numpy()
    n_g = np.bincount(group)
    k = int(e["cutoff"].nunique())
    if len(n_g) < 2 or len(x) - len(n_g) < 3:
        plain = float(np.var(x)) if len(x) else 0.0
        return ErrorDependence(0.0, 0.0, plain, 0.0, plain, k)
    means = np.bincount(group, weights=x) / n_g
    u = x - means[group]
    var_u = float(np.sum(u**2) / (len(x) - len(n_g)))
    fold_of = keys["cutoff"].first().to_numpy()
    m = pd.Series(means)
    centre = m.groupby(fold_of).mean()
    n_bar = float(np.mean(n_g))
    # the origin centres raw, noise and all: the t predictive is exact for the sample variance itself;
    # netting the noise out and flooring at 0 would leave no scale when the few origins happened to agree
    var_c = float(centre.var(ddof=1)) if k > 1 else 0.0
    dev = m - centre.reindex(fold_of).to_numpy()
    dof_s = len(m) - k
    own = float(np.sum(dev.to_numpy() ** 2)) / dof_s - var_u / n_bar if dof_s > 0 else 0.0
    var_s = max(own, 0.0)
    var_c_pred = var_c * (k + 1) / k if k > 1 else 0.0
    total = float(np.var(x, ddof=1))
    return ErrorDependence(var_c_pred, var_s, var_u, float(rho), total, k)
