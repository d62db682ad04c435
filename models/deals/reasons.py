"""Why a deal got its score: per-feature contributions in calibrated log-odds and in score points.

Exactness. The model gives raw log-odds ``r = b + Σ c_i`` (LightGBM ``pred_contrib``; for the logistic
model ``c_i`` = coefficients × centred design columns of feature ``i``). Calibration maps ``r`` to
``L = g(r)`` and the base to ``L0 = g(b)``. Each contribution is rescaled by the secant slope of ``g``
between the base and the deal, ``s = (g(r) − g(b)) / (r − b)`` (the local slope when ``r = b``), so
``L0 + Σ s·c_i = L`` exactly; for Platt calibration ``s`` is simply its slope. Points are the same
shares of the probability move: ``pts_i = 100·s·c_i·(p − p0)/(L − L0)``, so base score + Σ pts = 100·p.
Both rescalings keep every contribution's sign and relative size."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from salesplan.contracts.crm import STAGES
from salesplan.models.deals.calibration import Calibrator, sigmoid

if TYPE_CHECKING:
    from salesplan.models.deals.encoding import FeatureEncoder

MIN_POINTS = 0.5
"""Reasons smaller than half a score point are not worth a line."""
DATE_FEATURES: frozenset[str] = frozenset(
    {"rep_tenure_months", "days_in_stage", "stage_age_ratio", "days_to_close", "deal_age_days"}
)
"""Features computed from a date: when the date is missing they still move the score (the model learned
what a missing date means), but they are never given as a reason: "days to close unknown" is no reason a
rep can act on, and a number made up for a missing date would be a false one."""


def reason_points(pts: np.ndarray, M: np.ndarray, encoder: FeatureEncoder) -> np.ndarray:
    """``pts`` with the cells that may not be a reason (a date feature whose date is missing) set to 0:
    both reason builders choose from this, so the batch and the single-deal reasons agree."""
    silent = np.array([f in DATE_FEATURES for f in encoder.features], dtype=bool)
    if not silent.any():
        return pts
    return np.where(silent[None, :] & np.isnan(M), 0.0, pts)


def calibrated_contributions(
    contrib: np.ndarray, base: np.ndarray, cal: Calibrator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(calibrated base log-odds, calibrated contributions, calibrated log-odds) per row."""
    raw = base + contrib.sum(axis=1)
    L, L0 = cal.transform(raw), cal.transform(base)
    d = raw - base
    safe = np.abs(d) > 1e-9
    s = np.where(safe, (L - L0) / np.where(safe, d, 1.0), cal.slope(base))
    return L0, contrib * s[:, None], L


def points(cal_contrib: np.ndarray, L0: np.ndarray, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(points per feature, base score) with base score + Σ points = 100·p exactly."""
    p, p0 = sigmoid(L), sigmoid(L0)
    d = L - L0
    safe = np.abs(d) > 1e-9
    secant = np.where(safe, (p - p0) / np.where(safe, d, 1.0), p0 * (1 - p0))
    return 100.0 * cal_contrib * secant[:, None], 100.0 * p0


def _money(v: float) -> str:
    return f"${v / 1e6:.1f}M" if v >= 1e6 else f"${v / 1e3:.0f}k" if v >= 1e4 else f"${v:,.0f}"


def describe(feature: str, value: object) -> str:
    """Plain words for one feature value ("deal has slipped its close date 3 times", "referral lead")."""
    nice = feature.replace("_", " ")
    if value is None or (isinstance(value, float) and value != value):
        return f"{nice} unknown"
    if isinstance(value, (float, int, np.floating)):
        v = float(value)
        if feature == "amount":
            return f"deal size {_money(v)}"
        if feature == "rep_tenure_months":
            return f"rep hired {v:.0f} months ago" if v >= 0 else "rep not yet started"
        if feature == "rep_win_rate":
            return f"rep's past win rate {v:.0%}"
        if feature == "stage_rank":
            i = round(v)
            return f"deal has reached {STAGES[i]}" if 0 <= i < len(STAGES) else f"stage rank {v:g}"
        if feature == "days_in_stage":
            return f"{v:.0f} days in its current stage"
        if feature == "stage_age_ratio":
            return "just entered its stage" if v < 0.05 else f"in its stage {v:.1f}× as long as is typical"
        if feature == "n_slips":
            n = round(v)
            return (
                "close date never slipped"
                if n == 0
                else f"deal has slipped its close date {n} time{'s' * (n > 1)}"
            )
        if feature == "days_to_close":
            return (
                f"expected close in {v:.0f} days"
                if v >= 0
                else f"expected close date passed {-v:.0f} days ago"
            )
        if feature == "deal_age_days":
            return f"deal is {v:.0f} days old"
        return f"{nice} {v:g}"
    s = str(value)
    if feature == "lead_source":
        return f"{s.lower()} lead"
    if feature == "competitor":
        low = s.lower()
        return "competitor involved" if low in ("yes", "true", "1") else "no competitor" if low in ("no", "false", "0") else f"competitor: {s}"  # fmt: skip
    if feature == "rep_id":
        return f"rep {s}"
    if feature.startswith("account_"):
        return f"account {feature[8:].replace('_', ' ')}: {s}"
    if feature.startswith("rep_"):
        return f"rep's {feature[4:].replace('_', ' ')}: {s}"
    return f"{nice}: {s}"


_PTS = (
    [f"+{r} pts" for r in range(101)],
    [f"−{r} pts" for r in range(101)],
)


def reason_lists(
    pts: np.ndarray, M: np.ndarray, encoder: FeatureEncoder, n_reasons: int = 3
) -> list[list[str]]:
    """Per row: up to ``n_reasons`` positive reasons (largest first), then up to ``n_reasons`` negative
    ones (most negative first), as "text: ±N pts". Texts are built once per distinct feature value."""
    pts = reason_points(pts, M, encoder)
    n, n_feat = pts.shape
    k = min(n_reasons, n_feat)
    order = np.argsort(-pts, axis=1, kind="stable")
    cols = np.concatenate([order[:, :k], order[:, ::-1][:, :k]], axis=1)  # (n, 2k)
    v = np.take_along_axis(pts, cols, axis=1)
    sign = np.concatenate([np.ones((n, k)), -np.ones((n, k))], axis=1)
    keep = v * sign >= MIN_POINTS
    ii, jj = np.nonzero(keep)
    f = cols[ii, jj]
    vals = M[np.repeat(np.arange(n), 2 * k).reshape(n, 2 * k)[ii, jj], f]
    texts = np.empty(len(f), dtype=object)
    for j in np.unique(f):
        m = f == j
        uniq, inv = np.unique(vals[m], return_inverse=True)  # NaN sorts last and stays one value
        words = [describe(encoder.features[j], encoder.value_text(int(j), x)) for x in uniq]
        texts[m] = np.asarray(words, dtype=object)[inv.ravel()]
    r = np.minimum(np.floor(np.abs(v[ii, jj]) + 0.5), 100).astype(int)
    neg = v[ii, jj] < 0
    labels = [
        f"{t}: {_PTS[int(s)][q]}" for t, s, q in zip(texts.tolist(), neg.tolist(), r.tolist(), strict=True)
    ]
    out: list[list[str]] = [[] for _ in range(n)]
    for i, lab in zip(ii.tolist(), labels, strict=True):
        out[i].append(lab)
    return out
