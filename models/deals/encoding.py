"""One numeric encoding shared by the batch and the single-deal paths, so both give the same numbers.

A feature frame (or one deal as a dict) becomes a float matrix: numbers as they are, categories as the
integer codes seen in training (unseen or missing → NaN, which LightGBM sends down its 'missing' branch
and the logistic design maps to an all-zero one-hot row). The logistic model's design (one-hot, log of
skewed counts, median imputation with a missing flag, standardisation) is computed from that matrix with
numpy only, and keeps a map from design columns back to features for the reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import DataValidationError, NotFittedError, Problem

LOG_FEATURES: frozenset[str] = frozenset({"amount", "n_slips", "rep_tenure_months"})
"""Skewed non-negative numbers the logistic design takes as log1p (trees do not care)."""
MISSING_CODE = np.nan


class FeatureEncoder:
    """Category → code maps and the logistic design statistics, learned on the training features."""

    def __init__(self, numeric: Sequence[str], categorical: Sequence[str], min_level_count: int = 5) -> None:
        self.numeric = tuple(numeric)
        self.categorical = tuple(categorical)
        self.min_level_count = min_level_count

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def fit(self, X: pd.DataFrame) -> FeatureEncoder:
        self.levels_: dict[str, list[str]] = {}
        self.codes_: dict[str, dict[str, int]] = {}
        self.counts_: dict[str, np.ndarray] = {}
        for c in self.categorical:
            vc = X[c].astype("string").dropna().value_counts(sort=True)
            self.levels_[c] = [str(v) for v in vc.index]
            self.codes_[c] = {v: i for i, v in enumerate(self.levels_[c])}
            self.counts_[c] = vc.to_numpy()
        M = self.matrix(X)
        self._fit_design(M)
        return self

    def _check(self) -> None:
        if not hasattr(self, "codes_"):
            raise NotFittedError("FeatureEncoder is not fitted; call fit first")

    def matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Float matrix (rows × features) of a feature frame; raises naming missing columns."""
        self._check()
        missing = [c for c in self.features if c not in X.columns]
        if missing:
            raise DataValidationError(
                [Problem(c, "required feature column missing", fix="build the frame with "
                         "salesplan.models.deals.features.features_asof (or pass every feature the model was fitted on)")
                 for c in missing],
                source="deal features",
            )  # fmt: skip
        M = np.empty((len(X), len(self.features)), dtype=float)
        for j, c in enumerate(self.numeric):
            M[:, j] = pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        k = len(self.numeric)
        for j, c in enumerate(self.categorical):
            s = X[c].astype("string")
            M[:, k + j] = s.map(self.codes_[c]).to_numpy(dtype=float, na_value=np.nan)
        return M

    def row(self, deal: Mapping[str, Any]) -> np.ndarray:
        """One deal (a dict) as a 1 × features matrix, without pandas."""
        self._check()
        missing = [c for c in self.features if c not in deal]
        if missing:
            raise DataValidationError(
                [Problem(c, "required feature missing from the deal", fix="pass every feature the model "
                         "was fitted on (see DealScorer.feature_names_in_)") for c in missing],
                source="deal",
            )  # fmt: skip
        out = np.empty((1, len(self.features)), dtype=float)
        for j, c in enumerate(self.numeric):
            v = deal[c]
            try:
                out[0, j] = np.nan if v is None else float(v)
            except (TypeError, ValueError):
                out[0, j] = np.nan
        k = len(self.numeric)
        for j, c in enumerate(self.categorical):
            v = deal[c]
            code = None if v is None or (isinstance(v, float) and v != v) else self.codes_[c].get(str(v))
            out[0, k + j] = np.nan if code is None else float(code)
        return out

    def value_text(self, j: int, x: float) -> Any:
        """The human value of feature ``j`` in a matrix cell (level name for categories)."""
        if j < len(self.numeric):
            return x
        if x != x:
            return None
        return self.levels_[self.categorical[j - len(self.numeric)]][int(x)]

    # ------------------------------------------------------------- logistic design
    def _fit_design(self, M: np.ndarray) -> None:
        k = len(self.numeric)
        Z = self._transform_numeric(M[:, :k])
        self.medians_ = np.array([np.nanmedian(z) if np.isfinite(z).any() else 0.0 for z in Z.T])
        self.flag_ = np.isnan(Z).any(axis=0)
        Zf = np.where(np.isnan(Z), self.medians_, Z)
        self.mu_ = Zf.mean(axis=0) if len(Zf) else np.zeros(k)
        sd = Zf.std(axis=0) if len(Zf) else np.ones(k)
        self.sd_ = np.where(sd > 1e-12, sd, 1.0)
        # one-hot levels kept: those seen at least min_level_count times (rarer ones share the zero row)
        self.onehot_: list[np.ndarray] = [
            np.flatnonzero(self.counts_[c] >= self.min_level_count).astype(float) for c in self.categorical
        ]
        groups = list(range(k)) + [j for j in range(k) if self.flag_[j]]
        for j, lv in enumerate(self.onehot_):
            groups += [k + j] * len(lv)
        self.design_groups_ = np.array(groups, dtype=int)

    def _transform_numeric(self, N: np.ndarray) -> np.ndarray:
        Z = N.copy()
        for j, c in enumerate(self.numeric):
            if c in LOG_FEATURES:
                Z[:, j] = np.sign(Z[:, j]) * np.log1p(np.abs(Z[:, j]))
        return Z

    def _standardised(self, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numeric block of the design (log where due, median-imputed, standardised, clipped) and its NaN mask."""
        Z = self._transform_numeric(M[:, : len(self.numeric)])
        miss = np.isnan(Z)
        return np.clip((np.where(miss, self.medians_, Z) - self.mu_) / self.sd_, -6.0, 6.0), miss

    def design(self, M: np.ndarray) -> np.ndarray:
        """Logistic design matrix of an encoded matrix; columns map to features by ``design_groups_``."""
        k = len(self.numeric)
        Z, miss = self._standardised(M)
        parts = [Z, miss[:, self.flag_].astype(float)]
        for j, lv in enumerate(self.onehot_):
            parts.append((M[:, k + j][:, None] == lv[None, :]).astype(float))
        return np.concatenate(parts, axis=1)

    def linear_contributions(self, M: np.ndarray, coef: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """Per-feature terms ``sum over the feature's design columns of (D - centre) * coef`` without building
        the dense one-hot design (a 1,000-rep model has ~1,100 design columns: 10k rows took ~90 MB and most
        of a batch's scoring time). A category's term is its level's coefficient (0 for unkept or unknown
        levels) minus ``centre · coef`` over its columns; equal to the dense product up to rounding."""
        k = len(self.numeric)
        Z, miss = self._standardised(M)
        out = np.empty((len(M), len(self.features)))
        out[:, :k] = (Z - centre[:k]) * coef[:k]
        pos = k
        for i in np.flatnonzero(self.flag_):  # flagged numeric features: their missing-value column
            out[:, i] += (miss[:, i] - centre[pos]) * coef[pos]
            pos += 1
        for j, lv in enumerate(self.onehot_):
            n = len(lv)
            c = coef[pos : pos + n]
            codes = M[:, k + j]
            at = np.minimum(np.searchsorted(lv, codes), max(n - 1, 0))  # lv ascending; NaN sorts last
            hit = lv[at] == codes if n else np.zeros(len(M), dtype=bool)
            out[:, k + j] = np.where(hit, c[at] if n else 0.0, 0.0) - float(centre[pos : pos + n] @ c)
            pos += n
        return out
