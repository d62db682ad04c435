"""How far the default is ahead of each peer, with intervals, and how much room the data leave at all.

- ``salesplan.models.deals.compare.margin_intervals`` (the margins themselves): the default's AUC and Brier
  minus each peer's on the pooled out-of-fold predictions, with a paired bootstrap over whole deals.
- :func:`driver_headroom` (simulated worlds only): the default's logistic design cross-fitted on the
  benchmark's folds, alone and with one more column, the log-odds of the simulator's true P(win | stage
  reached, drivers) at each snapshot. The difference shows how much knowing the drivers (rep skill, ramp,
  deal drivers) and their product over the remaining stages exactly would add to what the design already
  recovers from the CRM's fields: the room a model of these features has left. A diagnostic, never a
  feature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from salesplan.models.deals.folds import log_loss_of
from salesplan.models.deals.linear import cross_fit_logistic

__all__ = ["driver_headroom"]


def driver_headroom(
    D: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], true_p: np.ndarray,
    Cs: Sequence[float], penalty: np.ndarray | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Out-of-fold AUC and log loss of the logistic design ``D`` alone and with the log-odds of ``true_p``
    (standardised, penalised like a straight-line effect) as one more column, on the same ``folds``."""
    p = np.clip(np.asarray(true_p, dtype=float), 1e-6, 1 - 1e-6)
    t = np.log(p / (1 - p))
    t = (t - t.mean()) / max(float(t.std()), 1e-12)
    pen = None if penalty is None else np.append(penalty, 1.0)
    out: dict[str, Any] = {}
    for name, Dv, pv in (("design", D, penalty), ("design_plus_truth", np.column_stack([D, t]), pen)):
        fit = cross_fit_logistic(Dv, y, folds, Cs, pv)
        out[name] = {"auc": float(roc_auc_score(y, fit.oof)), "logloss": log_loss_of(y, fit.oof), "C": fit.C}
    out["auc_headroom"] = out["design_plus_truth"]["auc"] - out["design"]["auc"]
    return out
