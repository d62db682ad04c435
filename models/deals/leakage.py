"""Leakage guard: outcome-derived columns are refused by name, and any single feature that alone separates
won from lost almost perfectly on the training rows is refused as well (a column rebuilt from the outcome
under an innocent name looks exactly like that)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from salesplan.errors import DataValidationError, Problem

LEAKY_COLUMNS: frozenset[str] = frozenset(
    {
        "close_date", "won_value", "close_value", "outcome", "won", "is_won", "lost", "is_lost",
        "label", "target", "status", "deal_stage", "stage", "final_stage", "expected_close_date",
        "closed", "is_closed", "close_reason", "loss_reason", "lost_reason", "won_amount",
        "actual_value", "days_to_close_actual", "sales_cycle_days", "engage_to_close_days",
    }
)  # fmt: skip
"""Outcome-derived or known only after the close (``stage``/``expected_close_date`` on the opportunity
are their *latest* values). Passing one of these as a feature raises ``DataValidationError``."""


def check_no_leaky_columns(columns: Iterable[str], *, where: str = "features") -> None:
    """Refuse outcome-derived columns by name."""
    bad = sorted(c for c in columns if str(c).lower() in LEAKY_COLUMNS)
    if bad:
        raise DataValidationError(
            [
                Problem(
                    c,
                    "outcome-derived column used as a feature (known only after the deal closed)",
                    fix="drop it; build features with models.deals.features so they are as of the snapshot",
                )
                for c in bad
            ],
            source=where,
        )


def check_single_feature_leakage(
    X: pd.DataFrame, y: np.ndarray, features: Iterable[str], *, max_auc: float = 0.97
) -> None:
    """Refuse any single feature whose training AUC is ≥ ``max_auc`` (or ≤ 1 − max_auc): that is what a
    column derived from the outcome looks like. Categoricals are scored by 2-fold target means, so a
    many-level id column is not mistaken for a leak."""
    y = np.asarray(y, dtype=int)
    if y.min() == y.max():
        return
    fold = np.random.default_rng(7919).permutation(len(y)) % 2
    problems = []
    for c in features:
        col = X[c]
        if _is_categorical(col):
            s = col.astype("string").fillna("__missing__").to_numpy()
            score = np.full(len(y), np.nan)
            for f in (0, 1):
                means = pd.Series(y[fold != f]).groupby(s[fold != f]).mean()
                score[fold == f] = pd.Series(s[fold == f]).map(means).to_numpy(dtype=float)
            v = np.where(np.isnan(score), y.mean(), score)
        else:
            v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            v = np.where(np.isnan(v), np.nanmedian(v) if np.isfinite(v).any() else 0.0, v)
        if np.ptp(v) == 0:
            continue
        auc = float(roc_auc_score(y, v))
        if max(auc, 1 - auc) >= max_auc:
            problems.append(
                Problem(
                    c,
                    f"feature alone separates won from lost almost perfectly (training AUC {auc:.3f}); "
                    "it is most likely derived from the outcome",
                    fix="drop it or rebuild it as of the snapshot; if it is genuinely known before the close, "
                    "raise leakage_max_auc",
                )
            )
    if problems:
        raise DataValidationError(problems, source="leakage check")


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
