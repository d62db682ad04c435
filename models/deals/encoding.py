"""One numeric encoding shared by the batch and the single-deal paths, so both give the same numbers.

A feature frame (or one deal as a dict) becomes a float matrix: numbers as they are, categories as the
integer codes seen in training (unseen or missing → NaN, which LightGBM sends down its 'missing' branch
and the logistic design maps to an all-zero one-hot row).

Category matching ignores case and surrounding or repeated whitespace: ``"Referral"``, ``" referral"`` and
``"REFERRAL\\t"`` are one level (:func:`level_key`), shown under its most frequent training spelling; a
value that is only whitespace counts as missing. Training data that spell one level two ways are merged
the same way.

The logistic model's design is computed from that matrix with numpy only. Per numeric feature, in one
contiguous block: the value (log of skewed counts, median-imputed, standardised, clipped), a missing flag,
hinge terms ``max(z − knot, 0)`` at the training quartiles (a piecewise-linear effect, for features with
more than :data:`MAX_LEVELS` distinct values) or indicators of its few distinct values (3 to
:data:`MAX_LEVELS` of them, e.g. a stage rank); then one-hot columns per category level seen at least
``min_level_count`` times. ``design_groups_`` maps every design column back to its feature, so the
linear model's reasons stay per feature.

``design_penalty_`` weights each column's L2 penalty by its block (the linear model's C sets the overall
strength): a feature's straight-line effect (value, missing flag) 1; its bends (hinges, value indicators)
:data:`BEND_PENALTY`, as penalised splines shrink wiggles harder than the trend; a category level
:data:`LEVEL_PENALTY`, since a 0/1 column (standard deviation √(p(1 − p)) ≤ 0.5, unlike the standardised
numbers) would otherwise be shrunk most where levels are rare.

No stage × driver interaction columns: where a win needs every remaining stage conversion, a driver moves
the log-odds more at early stages, but on the simulated worlds of seeds 10 and 11 the per-stage slopes were
1.13 / 1.0 / 0.97 (Find / Meet / Pitch), and stage × driver columns (all drivers, numbers only, timing only,
per-stage indicators) moved out-of-fold AUC by −0.004 to +0.0002; the true P(win | stage, drivers) adds only
0.001-0.004 (``benchmarks/deal_margins.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesplan.errors import DataValidationError, NotFittedError, Problem

LOG_FEATURES: frozenset[str] = frozenset({"amount", "n_slips", "rep_tenure_months"})
"""Skewed non-negative numbers the logistic design takes as log1p (trees do not care)."""
MISSING_CODE = np.nan
KNOTS: tuple[float, ...] = (0.25, 0.5, 0.75)
"""Training quantiles at which a numeric feature's linear effect may bend (hinge terms)."""
MAX_LEVELS = 8
"""A numeric feature with at most this many distinct values gets an indicator per value, not hinges."""
CLIP = 6.0
BEND_PENALTY = 4.0
"""Relative L2 weight of hinge and value-indicator columns (a trend's departures from a straight line)."""
LEVEL_PENALTY = 1.0 / 9.0
"""Relative L2 weight of one-hot category columns: a 0/1 column scaled ×3 to about unit spread. Both weights
were chosen on simulated worlds of seeds 10 and 11 (which the deals benchmark does not score), where the
out-of-fold log loss of the linear member is flat for bends in [2, 11] and levels in [1/16, 1/4]; an
equal weight for every block (scikit-learn's) gave the linear member about 0.0007 more log loss and 0.0006
less AUC there (the whole scorer, whose fold-averaged models already cut variance: 0.0001-0.0003 less AUC).
C is still chosen by out-of-fold log loss on the training folds."""


def level_key(value: Any) -> str | None:
    """The matching key of a category value: case-folded, whitespace collapsed; None when blank."""
    key = " ".join(str(value).split()).casefold()
    return key or None


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
        self.fit_matrix(X)
        return self

    def fit_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Fit, and return the encoded matrix of ``X`` (computed once for both)."""
        self.levels_: dict[str, list[str]] = {}
        self.codes_: dict[str, dict[str, int]] = {}
        self.exact_: dict[str, dict[str, int]] = {}
        self.counts_: dict[str, np.ndarray] = {}
        for c in self.categorical:
            col = X[c]
            # each spelling once (keys are built per spelling); str() of the values, as a string dtype gives
            raw_counts = col[col.notna()].astype(str).value_counts(sort=False)
            raw = [str(v) for v in raw_counts.index]
            keys = [level_key(v) for v in raw]
            per_key: dict[str, list[tuple[int, str]]] = {}
            for r, k, n in zip(raw, keys, raw_counts.to_numpy(), strict=True):
                if k is not None:
                    per_key.setdefault(k, []).append((int(n), r))
            # levels by count (ties by first spelling), shown as their most frequent spelling
            ranked = sorted(per_key.items(), key=lambda kv: -sum(n for n, _ in kv[1]))
            self.levels_[c] = [max(spellings, key=lambda t: t[0])[1] for _, spellings in ranked]
            self.codes_[c] = {k: i for i, (k, _) in enumerate(ranked)}
            self.exact_[c] = {r: self.codes_[c][k] for r, k in zip(raw, keys, strict=True) if k is not None}
            self.counts_[c] = np.array([sum(n for n, _ in spellings) for _, spellings in ranked], dtype=int)
        M = self.matrix(X)
        self._fit_design(M)
        return M

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
            s = X[c]
            code = s.map(self.exact_[c]).to_numpy(dtype=float, na_value=np.nan)  # training spellings: fast
            redo = np.flatnonzero(np.isnan(code) & s.notna().to_numpy())
            if len(redo):  # other spellings, and non-text values (keys are their text, as in fit)
                code[redo] = [self.code(c, v) for v in s.iloc[redo].tolist()]
            M[:, k + j] = code
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
            out[0, k + j] = self.code(c, deal[c])
        return out

    def code(self, feature: str, value: Any) -> float:
        """The code of one category value (NaN when missing or unseen), as ``matrix`` gives it."""
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return np.nan
        text = str(value)
        code = self.exact_[feature].get(text)
        if code is None:
            code = self.codes_[feature].get(level_key(text) or "")
        return np.nan if code is None else float(code)

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
        z = np.clip((Zf - self.mu_) / self.sd_, -CLIP, CLIP)
        self.knots_: list[np.ndarray] = []
        self.values_: list[np.ndarray] = []
        for j in range(k):
            seen = M[:, j][~np.isnan(M[:, j])]
            distinct = np.unique(seen)
            if len(distinct) > MAX_LEVELS:
                zs = z[~np.isnan(M[:, j]), j]
                knots = np.unique(np.quantile(zs, KNOTS)) if len(zs) else np.array([])
                self.knots_.append(knots[(knots > zs.min()) & (knots < zs.max())] if len(zs) else knots)
                self.values_.append(np.array([]))
            else:
                self.knots_.append(np.array([]))
                common = distinct[np.argmax([(seen == v).sum() for v in distinct])] if len(distinct) else 0.0
                self.values_.append(distinct[distinct != common] if len(distinct) >= 3 else np.array([]))
        # hinge and indicator columns are standardised too (on the training rows), so one C fits all columns
        self.extra_cols_ = np.array(
            [s + 1 + int(self.flag_[j]) + i for j, s in enumerate(self._starts())
             for i in range(len(self.knots_[j]) + len(self.values_[j]))], dtype=int,
        )  # fmt: skip
        raw = self._numeric_block(M, standardise_extra=False)[:, self.extra_cols_]
        sd = raw.std(axis=0)
        self.extra_mu_, self.extra_sd_ = raw.mean(axis=0), np.where(sd > 1e-12, sd, 1.0)
        # one-hot levels kept: those seen at least min_level_count times (rarer ones share the zero row)
        self.onehot_: list[np.ndarray] = [
            np.flatnonzero(self.counts_[c] >= self.min_level_count).astype(float) for c in self.categorical
        ]
        groups = [j for j in range(k) for _ in range(self._width(j))]
        for j, lv in enumerate(self.onehot_):
            groups += [k + j] * len(lv)
        self.design_groups_ = np.array(groups, dtype=int)
        pen = np.where(self.design_groups_ >= k, LEVEL_PENALTY, 1.0)
        pen[self.extra_cols_] = BEND_PENALTY
        self.design_penalty_ = pen

    def _width(self, j: int) -> int:
        return 1 + int(self.flag_[j]) + len(self.knots_[j]) + len(self.values_[j])

    def _starts(self) -> list[int]:
        out, s = [], 0
        for j in range(len(self.numeric)):
            out.append(s)
            s += self._width(j)
        return out

    def _transform_numeric(self, N: np.ndarray) -> np.ndarray:
        Z = N.copy()
        for j, c in enumerate(self.numeric):
            if c in LOG_FEATURES:
                Z[:, j] = np.sign(Z[:, j]) * np.log1p(np.abs(Z[:, j]))
        return Z

    def _standardised(self, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numeric values (log where due, median-imputed, standardised, clipped) and their NaN mask."""
        Z = self._transform_numeric(M[:, : len(self.numeric)])
        miss = np.isnan(Z)
        return np.clip((np.where(miss, self.medians_, Z) - self.mu_) / self.sd_, -CLIP, CLIP), miss

    def _numeric_block(self, M: np.ndarray, *, standardise_extra: bool = True) -> np.ndarray:
        """The numeric part of the design: per feature its value, missing flag, hinges, value indicators."""
        Z, miss = self._standardised(M)
        parts: list[np.ndarray] = []
        for j in range(len(self.numeric)):
            parts.append(Z[:, j : j + 1])
            if self.flag_[j]:
                parts.append(miss[:, j : j + 1].astype(float))
            if len(self.knots_[j]):
                parts.append(np.maximum(Z[:, j : j + 1] - self.knots_[j][None, :], 0.0))
            if len(self.values_[j]):
                parts.append((M[:, j : j + 1] == self.values_[j][None, :]).astype(float))
        B = np.concatenate(parts, axis=1) if parts else np.zeros((len(M), 0))
        if standardise_extra and len(self.extra_cols_):
            B[:, self.extra_cols_] = (B[:, self.extra_cols_] - self.extra_mu_) / self.extra_sd_
        return B

    def design(self, M: np.ndarray) -> np.ndarray:
        """Logistic design matrix of an encoded matrix; columns map to features by ``design_groups_``."""
        k = len(self.numeric)
        parts = [self._numeric_block(M)]
        for j, lv in enumerate(self.onehot_):
            parts.append((M[:, k + j][:, None] == lv[None, :]).astype(float))
        return np.concatenate(parts, axis=1)

    def linear_contributions(self, M: np.ndarray, coef: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """Per-feature terms ``sum over the feature's design columns of (D - centre) * coef`` without building
        the dense one-hot design (a 1,000-rep model has ~1,100 design columns: 10k rows took ~90 MB and most
        of a batch's scoring time). A category's term is its level's coefficient (0 for unkept or unknown
        levels) minus ``centre · coef`` over its columns; equal to the dense product up to rounding."""
        k = len(self.numeric)
        out = np.empty((len(M), len(self.features)))
        B = self._numeric_block(M)
        pos = B.shape[1]
        if k:
            out[:, :k] = np.add.reduceat((B - centre[:pos]) * coef[:pos], self._starts(), axis=1)
        for j, lv in enumerate(self.onehot_):
            n = len(lv)
            c = coef[pos : pos + n]
            codes = M[:, k + j]
            at = np.minimum(np.searchsorted(lv, codes), max(n - 1, 0))  # lv ascending; NaN sorts last
            hit = lv[at] == codes if n else np.zeros(len(M), dtype=bool)
            out[:, k + j] = np.where(hit, c[at] if n else 0.0, 0.0) - float(centre[pos : pos + n] @ c)
            pos += n
        return out
