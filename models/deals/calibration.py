"""Probability calibration on the log-odds scale and the metrics the champion gate reads.

Calibration maps the model's raw log-odds ``r`` to calibrated log-odds ``g(r)``: identity (``none``),
Platt (``sigmoid``: ``a·r + b``) or isotonic (monotone, piecewise linear in ``r``, evaluated with
``np.interp`` so one deal costs microseconds). Working on log-odds keeps the reasons exact: see
:mod:`models.deals.reasons`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from salesplan.errors import ConfigError

CALIBRATIONS: tuple[str, ...] = ("none", "sigmoid", "isotonic")
SIMPLER_BY = 5e-4
"""A more flexible calibration must beat a simpler one by this much log loss, and by two standard errors,
to be chosen: a recalibration fitted to one period's win rate rarely carries over to the next."""


def group_folds(g: np.ndarray, y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds of whole deals, stratified by the deal's label (a fast StratifiedGroupKFold)."""
    deal_y = pd.Series(y).groupby(g).max()
    rng = np.random.default_rng(seed)
    fold_of: dict[Any, int] = {}
    for label in (0, 1):
        deals = deal_y.index[deal_y.to_numpy() == label].to_numpy()
        for i, d in enumerate(rng.permutation(deals)):
            fold_of[d] = i % k
    f = pd.Series(g).map(fold_of).to_numpy()
    return [(np.flatnonzero(f != i), np.flatnonzero(f == i)) for i in range(k)]


EPS = 1e-4
"""Calibrated probabilities are kept in [EPS, 1 − EPS] so log-odds stay finite."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


class Calibrator:
    """Monotone map raw log-odds → calibrated log-odds."""

    def __init__(self, kind: str = "sigmoid") -> None:
        self.kind = kind

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        if self.kind not in CALIBRATIONS:
            raise ConfigError(f"calibration must be one of {CALIBRATIONS}, got {self.kind!r}")
        raw = np.asarray(raw, dtype=float)
        if self.kind == "sigmoid":
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw[:, None], y)
            self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        elif self.kind == "isotonic":
            iso = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(raw, y)
            self.x_ = np.asarray(iso.X_thresholds_, dtype=float)
            self.y_ = logit(np.asarray(iso.y_thresholds_, dtype=float))
        self.fitted_ = True
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.kind == "sigmoid":
            return self.a_ * raw + self.b_
        if self.kind == "isotonic":
            return np.interp(raw, self.x_, self.y_)
        return raw

    def slope(self, raw: np.ndarray, h: float = 1e-3) -> np.ndarray:
        """Local slope of the map (used where a deal's raw log-odds equal the base value)."""
        raw = np.asarray(raw, dtype=float)
        return (self.transform(raw + h) - self.transform(raw - h)) / (2 * h)


def ece(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: Σ_b (n_b / n)·|mean p − mean y| over 10 equal-width bins."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    b = np.minimum((p * n_bins).astype(int), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    sp = np.bincount(b, weights=p, minlength=n_bins)
    sy = np.bincount(b, weights=y, minlength=n_bins)
    m = n > 0
    return float(np.sum(np.abs(sp[m] - sy[m])) / max(len(y), 1))


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, Brier, log loss and ECE of probabilities ``p`` against 0/1 outcomes ``y``."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    auc = float(roc_auc_score(y, p)) if 0 < y.mean() < 1 else float("nan")
    return {
        "auc": auc,
        "brier": float(brier_score_loss(y, p)),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "ece": ece(y, p),
        "n": len(y),
    }


def choose_calibration(
    raw: np.ndarray, y: np.ndarray, g: np.ndarray, when: pd.Series | None, kinds: list[str], seed: int = 0
) -> tuple[str, np.ndarray, dict[str, float]]:
    """The calibration with the lowest held-out log loss, a more flexible one only when clearly better.

    Undated: cross-fitted over grouped 5 folds. Dated (``when`` = close date of each held-out row): fitted
    on the earlier half of the held-out closes and scored on the later half, because folds within one
    period share its win rate and so reward a recalibration to that period's rate that does not carry over
    to the next. Returns (kind, cross-fitted calibrated probabilities for ``validation_``, losses)."""
    splits = group_folds(g, y, 5, seed)
    forward = None
    if when is not None:
        t = pd.to_datetime(when).to_numpy()
        late = t >= np.quantile(t, 0.5)
        if min(y[late].sum(), (1 - y[late]).sum(), y[~late].sum(), (1 - y[~late]).sum()) >= 10:
            forward = (np.flatnonzero(~late), np.flatnonzero(late))
    losses: dict[str, float] = {}
    preds: dict[str, np.ndarray] = {}
    row_loss: dict[str, np.ndarray] = {}
    rows = np.arange(len(y)) if forward is None else forward[1]
    for kind in kinds:
        L = np.empty(len(y))
        for tr, va in splits:
            L[va] = Calibrator(kind).fit(raw[tr], y[tr]).transform(raw[va])
        preds[kind] = sigmoid(L)
        pe = preds[kind][rows]
        if forward is not None:
            a, b = forward
            pe = sigmoid(Calibrator(kind).fit(raw[a], y[a]).transform(raw[b]))
        pe = np.clip(pe, 1e-6, 1 - 1e-6)
        row_loss[kind] = -(y[rows] * np.log(pe) + (1 - y[rows]) * np.log(1 - pe))
        losses[kind] = float(row_loss[kind].mean())
    chosen = None
    for kind in losses:  # ordered simplest first
        if chosen is None or clearly_better(row_loss[kind], row_loss[chosen], g[rows]):
            chosen = kind
    assert chosen is not None
    return chosen, preds[chosen], losses


def clearly_better(new: np.ndarray, old: np.ndarray, groups: np.ndarray) -> bool:
    """Mean log-loss gain above SIMPLER_BY and above two standard errors (deals as the unit, since the
    snapshots of one deal are not independent)."""
    gain = pd.Series(old - new).groupby(groups).sum()
    mean = float(gain.sum()) / len(new)
    se = float(gain.std(ddof=1)) * np.sqrt(len(gain)) / len(new) if len(gain) > 1 else np.inf
    return mean > max(SIMPLER_BY, 2 * se)
