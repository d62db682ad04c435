"""Probability calibration on the log-odds scale and the metrics the champion gate reads.

Calibration maps the model's raw log-odds ``r`` to calibrated log-odds ``g(r)``: identity (``none``),
Platt (``sigmoid``: ``a·r + b``) or isotonic (monotone, piecewise linear in ``r``, evaluated with
``np.interp`` so one deal costs microseconds). Working on log-odds keeps the reasons exact: see
:mod:`models.deals.reasons`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import rankdata
from sklearn.isotonic import IsotonicRegression

from salesplan.errors import ConfigError
from salesplan.models.deals.linear import fit_logistic

CALIBRATIONS: tuple[str, ...] = ("none", "sigmoid", "isotonic")
SIMPLER_BY = 5e-4
"""A more flexible blend or calibration must beat a simpler one by this much log loss, and by two standard
errors (deals as the unit), to be chosen."""


EPS = 1e-4
"""Calibrated probabilities are kept in [EPS, 1 − EPS] so log-odds stay finite."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(expit(np.asarray(z, dtype=float)), dtype=float)


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
        if self.kind == "sigmoid":  # Platt: an unpenalised logistic regression on the raw log-odds
            self.a_, self.b_ = (float(v) for v in fit_logistic(raw[:, None], y, C=1e6, tol=1e-9))
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
    """AUC, Brier, log loss and ECE of probabilities ``p`` against 0/1 outcomes ``y``. Written with numpy
    (the same numbers as scikit-learn's scorers, tests/test_deal_members.py): their input validation cost
    ~40 ms a call, a fifth of the scorer's whole fit on a few hundred deals."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    n1 = int(y.sum())
    n0 = len(y) - n1
    auc = float("nan")
    if n1 and n0:  # Mann-Whitney from average ranks (ties count one half, as roc_auc_score)
        auc = (float(rankdata(p)[y == 1].sum()) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return {
        "auc": auc,
        "brier": float(np.mean((p - y) ** 2)),
        "logloss": float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))),
        "ece": ece(y, p),
        "n": len(y),
    }


def clearly_better(new: np.ndarray, old: np.ndarray, groups: np.ndarray) -> bool:
    """Mean log-loss gain above SIMPLER_BY and above two standard errors (deals as the unit, since the
    snapshots of one deal are not independent)."""
    codes = pd.factorize(pd.Series(np.asarray(groups)), use_na_sentinel=False)[0]
    gain = np.bincount(codes, weights=np.asarray(old, dtype=float) - np.asarray(new, dtype=float))
    mean = float(gain.sum()) / len(new)
    se = float(gain.std(ddof=1)) * np.sqrt(len(gain)) / len(new) if len(gain) > 1 else np.inf
    return mean > max(SIMPLER_BY, 2 * se)
