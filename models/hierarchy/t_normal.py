"""Quantiles of a Student-t plus an independent normal: the predictive of an aggregate whose common shift
is known from a few backtest origins (``temporal_quantiles.moment_quantiles``, whose module doc says why)."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = ["t_normal_quantiles"]


def t_normal_quantiles(a: np.ndarray, b: np.ndarray, dof: float, qs: np.ndarray) -> np.ndarray:
    """Quantiles (rows × levels) of ``a · T_dof + b · Z`` (independent Student-t and standard normal).
    No closed form and scipy has no such convolution, so by hand: the CDF is ``E_T[Φ((x − a T) / b)]``,
    the expectation over 2,000 stratified t quantiles (deterministic), inverted per row and level by
    Newton steps kept inside a bisection bracket (the density is the same expectation of ``φ``), each
    stopping once its step is below 1e-12 of ``a + b``: the bisection's root to that precision in a
    fifth of its time (this is the batch's hot spot)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    qs = np.asarray(qs, dtype=float)
    t = stats.t.ppf((np.arange(2000) + 0.5) / 2000, dof)
    tq, zq = stats.t.ppf(qs, dof), stats.norm.ppf(qs)  # per level, once
    out = a[:, None] * tq[None, :]  # no normal part: the t itself, not the grid
    rows = np.flatnonzero(b > 0)
    if not rows.size:
        return out
    r, c = np.repeat(rows, qs.size), np.tile(np.arange(qs.size), rows.size)
    a_, b_, q = a[r], b[r], qs[c]
    # bracket: the t quantile alone plus 9 sd of the normal part on each side; start: the two quantiles added
    span = a_ * np.abs(stats.t.ppf(np.minimum(q, 1 - q), dof)) + 9 * b_ + 1e-12
    lo, hi, x = -span, span, a_ * tq[c] + b_ * zq[c]
    tol = 1e-12 * (a_ + b_)
    live = np.arange(r.size)
    for _ in range(100):
        z = (x[live, None] - a_[live, None] * t[None, :]) / b_[live, None]
        # special.ndtr is what stats.norm.cdf computes, without its per-call argument handling
        cdf = special.ndtr(z).mean(axis=1)
        pdf = np.exp(-0.5 * z * z).mean(axis=1) / (np.sqrt(2 * np.pi) * b_[live])
        below = cdf < q[live]
        lo[live] = np.where(below, x[live], lo[live])
        hi[live] = np.where(below, hi[live], x[live])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = x[live] - (cdf - q[live]) / pdf
        newton = np.isfinite(step) & (step > lo[live]) & (step < hi[live])
        nxt = np.where(newton, step, (lo[live] + hi[live]) / 2)
        moved = np.abs(nxt - x[live])
        x[live] = nxt
        live = live[(moved > tol[live]) & (hi[live] - lo[live] > tol[live])]
        if not live.size:
            break
    out[r, c] = x
    return out
