"""Folds of whole deals and the log loss every choice in the deal scorer is made on.

All snapshots of one deal share its label, so a deal sits in one fold only: otherwise its other snapshots
tell a model its outcome. Every row is validated exactly once (:func:`check_covered` says so before an
out-of-fold vector is used: an unfilled entry once turned into an overflow far downstream)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

Folds = list[tuple[np.ndarray, np.ndarray]]


def group_folds(g: Any, y: np.ndarray, k: int, seed: int) -> Folds:
    """K folds of whole deals, stratified by the deal's label (a fast StratifiedGroupKFold); a missing
    group id is a deal of its own kind, never dropped."""
    codes = pd.factorize(pd.Series(np.asarray(g)), use_na_sentinel=False)[0]
    deal_y = pd.Series(np.asarray(y)).groupby(codes).max()
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=int)
    for label in (0, 1):
        deals = deal_y.index[deal_y.to_numpy() == label].to_numpy()
        fold_of[rng.permutation(deals)] = np.arange(len(deals)) % k
    f = fold_of[codes]
    return [(np.flatnonzero(f != i), np.flatnonzero(f == i)) for i in range(k)]


def check_covered(oof: np.ndarray, what: str) -> np.ndarray:
    """``oof`` itself, after checking every row got a finite out-of-fold value."""
    bad = ~np.isfinite(oof)
    if bad.any():
        raise RuntimeError(f"{what}: {int(bad.sum())} of {len(oof)} rows have no out-of-fold value")
    return oof


def row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    y = np.asarray(y, dtype=float)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def log_loss_of(y: np.ndarray, z: np.ndarray) -> float:
    """Mean log loss of log-odds ``z``."""
    return float(row_log_loss(y, expit(z)).mean())
