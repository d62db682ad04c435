"""The linear member of the deal scorer: L2 logistic regression, cross-fitted over folds of whole deals.

Solved by Newton's method written here rather than scikit-learn's ``newton-cholesky`` (which reaches the
same coefficients, tests/test_deal_members.py): the scorer fits it a dozen times per training run (folds ×
a grid of C) and the library spent ~90 ms a step on a 14k × 150 design where the Hessian product costs
~20 ms; here that product runs as a float32 symmetric rank-k update (the gradient stays float64, so the
solution is exact to the tolerance) with a backtracking line search and warm starts along the grid. The objective is
scikit-learn's, ``C · Σ log loss + ½ Σ λⱼ wⱼ²`` (intercept unpenalised), with a relative penalty ``λⱼ`` per
column (default 1, scikit-learn's): the scorer's design gives its blocks different weights
(:data:`models.deals.encoding.BEND_PENALTY`, :data:`models.deals.encoding.LEVEL_PENALTY`), and C, the overall
strength, is still chosen by out-of-fold log loss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sl
from scipy.linalg.blas import ssyrk
from scipy.special import expit

from salesplan.errors import ConfigError
from salesplan.models.deals.folds import Folds, log_loss_of

DECREMENT = 5e-7
"""Newton stops once its next step promises less than this gain in mean log loss (half the decrement):
the steps after it move no log-odds by more than ~1e-3 and take a quarter of the fit time."""


def fit_logistic(
    D: np.ndarray, y: np.ndarray, C: float, w0: np.ndarray | None = None, *, tol: float = 1e-4,
    max_iter: int = 100, decrement: float = DECREMENT, penalty: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Coefficients then intercept of the L2 logistic regression of ``y`` (0/1) on ``D`` (``penalty``: the
    relative weight λⱼ ≥ 0 of each column's ½wⱼ² term, default all 1); stops when no
    coefficient moves by ``tol`` (log-odds of standardised columns: far below anything a score shows) or
    the Newton decrement promises less than ``decrement`` of mean log loss (never below 1e-8)."""
    d = D.shape[1]
    yf = np.asarray(y, dtype=float)
    if w0 is None:
        w = np.zeros(d + 1)
        m = min(max(yf.mean(), 1e-6), 1 - 1e-6)
        w[-1] = np.log(m / (1 - m))
    else:
        w = np.array(w0, dtype=float)
    lam = np.ones(d) if penalty is None else np.asarray(penalty, dtype=float)
    if lam.shape != (d,) or not np.all(np.isfinite(lam)) or (lam < 0).any():
        raise ConfigError(f"penalty must hold one finite weight >= 0 per column ({d}), got shape {lam.shape}")
    D32 = D.astype(np.float32)

    def loss(v: np.ndarray) -> tuple[float, np.ndarray]:
        z = D @ v[:-1] + v[-1]
        return float(C * np.sum(np.logaddexp(0.0, z) - yf * z) + 0.5 * v[:-1] @ (lam * v[:-1])), z

    f, z = loss(w)
    for _ in range(max_iter):
        p = expit(z)  # z of the accepted point, kept from the line search: one product with D less a step
        r, h = p - yf, p * (1 - p)
        rh = D.T @ np.column_stack([r, h])  # gradient and Hessian border in one pass over D
        g = np.empty(d + 1)
        g[:-1] = C * rh[:, 0] + lam * w[:-1]
        g[-1] = C * r.sum()
        H = np.empty((d + 1, d + 1))
        upper = ssyrk(C, (D32 * np.sqrt(h).astype(np.float32)[:, None]).T)  # DᵀWD: one triangle, float32
        H[:-1, :-1] = np.triu(upper) + np.triu(upper, 1).T
        dh = C * rh[:, 1]
        H[:-1, -1] = dh
        H[-1, :-1] = dh
        H[-1, -1] = C * h.sum() + 1e-12
        H[np.diag_indices(d)] += lam + 1e-12  # a zero weight leaves the column unpenalised
        try:
            step = sl.solve(H, g, assume_a="pos", check_finite=False)
        except (sl.LinAlgError, ValueError):  # a float32 Hessian can lose definiteness on a flat design
            step = sl.lstsq(H, g, check_finite=False)[0]
        t, gain = 1.0, float(g @ step)
        while t > 1e-8:
            nxt = w - t * step
            fn, zn = loss(nxt)
            if fn <= f - 1e-4 * t * gain:
                break
            t /= 2
        else:
            return w
        w, f, z = nxt, fn, zn
        if np.max(np.abs(t * step)) < tol or gain < 2 * max(decrement, 1e-8) * C * len(yf):
            break
    return w


@dataclass(frozen=True)
class LinearFit:
    """Out-of-fold log-odds of every row at the chosen C, and the final model: the fold models' mean
    coefficients (their average log-odds, so no refit on all rows is needed)."""

    oof: np.ndarray
    coef: np.ndarray
    intercept: float
    C: float
    grid_logloss: dict[float, float]


def cross_fit_logistic(
    D: np.ndarray, y: np.ndarray, folds: Folds, Cs: Sequence[float], penalty: np.ndarray | None = None
) -> LinearFit:
    """C by out-of-fold log loss, searched along the sorted grid from its middle towards the lower loss
    (the loss is unimodal in C in practice), each fit warm-started from the nearest C already fitted on the
    same fold (the first C from the first fold's model): about half the Newton steps of the whole grid."""
    yv = np.asarray(y, dtype=int)
    grid = sorted(Cs)
    fits: dict[float, list[np.ndarray]] = {}
    oof: dict[float, np.ndarray] = {}
    losses: dict[float, float] = {}

    def evaluate(i: int) -> float:
        C = grid[i]
        if C not in losses:
            near = min(fits, key=lambda c: abs(np.log(c / C)), default=None)
            z = np.full(len(yv), np.nan)
            models: list[np.ndarray] = []
            for k, (tr, va) in enumerate(folds):
                start = fits[near][k] if near is not None else models[0] if models else None
                w = fit_logistic(D[tr], yv[tr], C, start, penalty=penalty)
                models.append(w)
                z[va] = D[va] @ w[:-1] + w[-1]
            fits[C], oof[C], losses[C] = models, z, log_loss_of(yv, z)
        return losses[C]

    i = len(grid) // 2
    evaluate(i)
    for step in (1, -1):
        while 0 <= i + step < len(grid) and evaluate(i + step) < losses[grid[i]]:
            i += step
    best = grid[i]
    mean = np.mean(fits[best], axis=0)
    return LinearFit(oof[best], mean[:-1].copy(), float(mean[-1]), float(best), losses)
