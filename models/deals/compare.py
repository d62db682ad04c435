"""Is one deal model ahead of another? AUC and Brier differences on the same out-of-fold predictions, with a
paired bootstrap over whole deals: a deal's snapshots (in every CV repeat) share one outcome, so they are drawn
together; resampling rows would make the intervals too narrow. Percentile intervals of ``BOOT`` seeded
resamples. Written by hand: scikit-learn has no paired, clustered bootstrap of metric differences."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

__all__ = ["BOOT", "margin_intervals"]

BOOT = 200
"""Bootstrap resamples of deals per interval."""


def margin_intervals(
    y: np.ndarray, pooled: Mapping[str, np.ndarray], groups: np.ndarray, default: str,
    peers: Sequence[str], *, n_boot: int = BOOT, seed: int = 0,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Per peer: ``auc_diff`` (default − peer, > 0 = default ahead) and ``brier_diff`` (default − peer,
    < 0 = default ahead) on all pooled rows, each with a 95 % interval (``*_lo``, ``*_hi``) from a paired
    bootstrap of whole deals. ``pooled[m]`` is repeats × rows of out-of-fold P(win)."""
    codes = pd.factorize(pd.Series(np.asarray(groups)).astype(str))[0]
    n_rep = next(iter(pooled.values())).shape[0]
    yy = np.tile(np.asarray(y, dtype=int), n_rep)
    cc = np.tile(codes, n_rep)
    P = {m: np.asarray(pooled[m], dtype=float).ravel() for m in (default, *peers)}

    def diffs(w: np.ndarray | None) -> dict[str, float]:
        a0 = roc_auc_score(yy, P[default], sample_weight=w)
        b0 = np.average((P[default] - yy) ** 2, weights=w)
        out = {}
        for k in peers:
            out[f"{k}:auc"] = a0 - roc_auc_score(yy, P[k], sample_weight=w)
            out[f"{k}:brier"] = b0 - np.average((P[k] - yy) ** 2, weights=w)
        return out

    point = diffs(None)
    rng = np.random.default_rng(seed)
    n_deals = int(codes.max()) + 1
    draws = [diffs(np.bincount(rng.integers(0, n_deals, n_deals), minlength=n_deals)[cc].astype(float))
             for _ in range(n_boot)]  # fmt: skip
    res: dict[str, dict[str, float]] = {}
    for k in peers:
        r: dict[str, float] = {}
        for what in ("auc", "brier"):
            d = np.array([x[f"{k}:{what}"] for x in draws])
            lo, hi = np.quantile(d, [0.025, 0.975])
            r |= {f"{what}_diff": float(point[f"{k}:{what}"]), f"{what}_diff_lo": float(lo),
                  f"{what}_diff_hi": float(hi)}  # fmt: skip
        res[k] = r
    return res
