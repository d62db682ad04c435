"""``DealScorer``: P(win) of open deals, calibrated, with reasons, for the deal-scores frame.

Fit compares LightGBM (native categoricals) with an L2 logistic regression (C from a grid) on held-out
deals: the last ``valid_fraction`` of closes by date when close dates are given, else stratified grouped
K-fold; a constant ``prior`` candidate wins when nothing beats it. The calibration (none / Platt / isotonic)
is chosen on those held-out predictions (see ``_choose_calibration``), and ``validation_`` holds AUC, Brier, log loss and ECE of the cross-fitted calibrated
probabilities for the champion gate. The chosen model is then refit on every row and the calibrator on all
held-out predictions. Scoring goes through one numpy matrix (see :mod:`models.deals.encoding`), so a
10k-row frame and a single dict give identical numbers."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError, NotFittedError, Problem
from salesplan.models.deals.calibration import (
    CALIBRATIONS,
    Calibrator,
    choose_calibration,
    group_folds,
    logit,
    metrics,
    sigmoid,
)
from salesplan.models.deals.encoding import FeatureEncoder
from salesplan.models.deals.fastpath import leaf_tables, path_contributions
from salesplan.models.deals.features import KEY_COLUMNS, check_no_leaky_columns, check_single_feature_leakage
from salesplan.models.deals.reasons import calibrated_contributions, points, reason_lists

MODELS: tuple[str, ...] = ("lightgbm", "logistic", "prior")
"""Candidates; ``prior`` (the training win rate for every deal) wins when no feature helps on held-out
deals, so a data set without signal gets an honest constant instead of confident noise."""
GRADE_THRESHOLDS: tuple[float, float, float] = (0.70, 0.45, 0.20)
"""P(win) needed for grade A, B, C (below the last: D): A is a likely win, D a long shot."""


class DealScorer(ClassifierMixin, BaseEstimator):
    """Calibrated deal-win classifier over as-of feature frames (see :mod:`models.deals.features`)."""

    def __init__(
        self,
        models: Sequence[str] = MODELS,
        calibrations: Sequence[str] = CALIBRATIONS,
        min_won: int = 40,
        min_lost: int = 40,
        valid_fraction: float = 0.2,
        n_splits: int = 5,
        n_estimators: int = 300,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        lgbm_params: Mapping[str, Any] | None = None,
        Cs: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0),
        grade_thresholds: Sequence[float] = GRADE_THRESHOLDS,
        n_reasons: int = 3,
        features: Sequence[str] | None = None,
        leakage_max_auc: float | None = 0.97,
        random_state: int = 0,
        model_version: str = "0",
        contributions: str = "path",
        refit: bool = True,
    ) -> None:
        self.models = models
        self.calibrations = calibrations
        self.min_won = min_won
        self.min_lost = min_lost
        self.valid_fraction = valid_fraction
        self.n_splits = n_splits
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.lgbm_params = lgbm_params
        self.Cs = Cs
        self.grade_thresholds = grade_thresholds
        self.n_reasons = n_reasons
        self.features = features
        self.leakage_max_auc = leakage_max_auc
        self.random_state = random_state
        self.model_version = model_version
        self.contributions = contributions
        self.refit = refit

    # ------------------------------------------------------------------ fit
    def fit(
        self, X: pd.DataFrame, y: Sequence[int] | np.ndarray, *, close_date: Any = None, groups: Any = None
    ) -> DealScorer:
        """Fit on labelled snapshots (``models.deals.features.training_set``): ``y`` 1 = won; ``groups``
        the deal of each row (default ``X.opportunity_id``) so one deal never sits on both sides of a
        split; ``close_date`` per row switches on the time-based validation."""
        with threadpool_limits(1):  # BLAS threads fight over shared cores and run 30× slower
            return self._fit(X, y, close_date, groups)

    def _fit(self, X: pd.DataFrame, y: Any, close_date: Any, groups: Any) -> DealScorer:
        self._check_params()
        yv = np.asarray(y, dtype=int)
        if len(yv) != len(X) or not np.isin(yv, (0, 1)).all():
            raise DataValidationError(
                [Problem("y", f"labels must be 0/1, one per row of X ({len(X)})")], "fit"
            )
        if groups is None:
            groups = X["opportunity_id"] if "opportunity_id" in X.columns else np.arange(len(X))
        g = pd.Series(np.asarray(groups)).astype(str).to_numpy()
        deal_y = pd.Series(yv).groupby(g).max()
        n_won, n_lost = int(deal_y.sum()), int((deal_y == 0).sum())
        if n_won < self.min_won or n_lost < self.min_lost:
            raise InsufficientDataError(
                f"deal scorer needs at least {self.min_won} won and {self.min_lost} lost closed deals, got "
                f"{n_won} won and {n_lost} lost. Fix: wait for more closed history, pool more teams or "
                "regions, or lower min_won/min_lost knowingly"
            )
        numeric, categorical = self._select_features(X)
        if self.leakage_max_auc is not None:
            check_single_feature_leakage(X, yv, numeric + categorical, max_auc=self.leakage_max_auc)
        self.encoder_ = FeatureEncoder(numeric, categorical).fit(X)
        self.feature_names_in_ = np.array(self.encoder_.features, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.classes_ = np.array([0, 1])
        M = self.encoder_.matrix(X)
        folds, self.validation_scheme_ = self._folds(g, yv, close_date)
        held = np.concatenate([va for _, va in folds])
        self.candidates_: dict[str, dict[str, Any]] = {}
        best: tuple[float, str] | None = None
        oof: dict[str, np.ndarray] = {}
        for kind in self.models:
            raw, extra = self._held_out(kind, M, yv, folds)
            when = (
                None if self.validation_scheme_.startswith("stratified") else pd.Series(close_date).iloc[held]
            )
            cal_kind, cal_p, losses = self._choose_calibration(raw[held], yv[held], g[held], when)
            oof[kind] = raw
            self.candidates_[kind] = {
                **metrics(yv[held], cal_p), **extra, "calibration": cal_kind, "cal_logloss": losses, "p": cal_p
            }  # fmt: skip
            score = self.candidates_[kind]["logloss"]
            if best is None or score < best[0]:
                best = (score, kind)
        assert best is not None
        self.kind_ = best[1]
        chosen = self.candidates_[self.kind_]
        self.calibration_ = chosen["calibration"]
        self.validation_ = {k: v for k, v in chosen.items() if k in ("auc", "brier", "logloss", "ece", "n")}
        self.validation_.update(
            model=self.kind_, calibration=self.calibration_, scheme=self.validation_scheme_
        )
        self.validation_p_ = chosen.pop("p")
        for c in self.candidates_.values():
            c.pop("p", None)
        self.validation_y_ = yv[held]
        rows = folds[0][0] if (not self.refit and len(folds) == 1) else np.arange(len(yv))
        self._fit_final(self.kind_, M[rows], yv[rows], chosen)
        self.calibrator_ = Calibrator(self.calibration_).fit(oof[self.kind_][held], yv[held])
        return self

    def _check_params(self) -> None:
        t = list(self.grade_thresholds)
        if len(t) != 3 or not all(0 < b < a < 1 for a, b in itertools.pairwise(t)) or not 0 < t[-1] < 1:
            raise ConfigError(f"grade_thresholds must be three descending probabilities in (0, 1), got {t}")
        bad = [m for m in self.models if m not in MODELS]
        if bad or not self.models:
            raise ConfigError(f"models must be a non-empty subset of {MODELS}, got {list(self.models)}")
        if not set(self.calibrations) <= set(CALIBRATIONS) or not self.calibrations:
            raise ConfigError(
                f"calibrations must be a subset of {CALIBRATIONS}, got {list(self.calibrations)}"
            )
        if self.contributions not in ("path", "shap"):
            raise ConfigError(f"contributions must be 'path' or 'shap', got {self.contributions!r}")
        if not 0 < self.valid_fraction < 0.5:
            raise ConfigError(f"valid_fraction must be in (0, 0.5), got {self.valid_fraction}")

    def _select_features(self, X: pd.DataFrame) -> tuple[list[str], list[str]]:
        cols = (
            list(self.features)
            if self.features is not None
            else [c for c in X.columns if c not in KEY_COLUMNS]
        )
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise DataValidationError([Problem(c, "requested feature not in X") for c in missing], "fit")
        check_no_leaky_columns(cols, where="DealScorer.fit")
        dates = [c for c in cols if pd.api.types.is_datetime64_any_dtype(X[c])]
        if dates:
            raise DataValidationError(
                [
                    Problem(c, "date column as a feature", fix="turn it into an age as of the snapshot")
                    for c in dates
                ],
                "DealScorer.fit",
            )
        usable = [c for c in cols if X[c].nunique(dropna=True) > 1]
        self.dropped_features_ = [c for c in cols if c not in usable]
        numeric = [
            c for c in usable if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
        ]
        return numeric, [c for c in usable if c not in numeric]

    def _folds(
        self, g: np.ndarray, y: np.ndarray, close_date: Any
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
        if close_date is not None:
            cd = pd.to_datetime(pd.Series(np.asarray(close_date)))
            if cd.notna().all():
                deal_close = cd.groupby(g).max()
                cut = pd.Timestamp(deal_close.quantile(1 - self.valid_fraction))
                va = (cd >= cut).to_numpy()
                dv = pd.Series(y[va]).groupby(g[va]).max()
                dt = pd.Series(y[~va]).groupby(g[~va]).max()
                if min(dv.sum(), (dv == 0).sum(), dt.sum(), (dt == 0).sum()) >= 10:
                    return [
                        (np.flatnonzero(~va), np.flatnonzero(va))
                    ], f"time split, closes from {cut.date()}"
        return group_folds(g, y, self.n_splits, self.random_state), f"stratified grouped {self.n_splits}-fold"

    def _lgb_params(self) -> dict[str, Any]:
        p: dict[str, Any] = {
            "objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_data_in_leaf": 20, "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1,
            "lambda_l2": 1.0, "min_data_per_group": 20, "cat_smooth": 10.0, "cat_l2": 10.0,
            "max_cat_to_onehot": 8, "num_threads": 1, "verbose": -1, "seed": self.random_state,
            "deterministic": True, "force_col_wise": True,
        }  # fmt: skip
        p.update(self.lgbm_params or {})
        return p

    def _dataset(self, M: np.ndarray, y: np.ndarray) -> lgb.Dataset:
        cats = list(range(len(self.encoder_.numeric), M.shape[1]))
        return lgb.Dataset(M, label=y, categorical_feature=cats, free_raw_data=False, params={"verbose": -1})

    def _fit_lr(self, D: np.ndarray, y: np.ndarray, C: float) -> LogisticRegression:
        return LogisticRegression(C=C, solver="newton-cholesky", max_iter=200, tol=1e-8).fit(D, y)

    def _held_out(
        self, kind: str, M: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Raw held-out log-odds of one model kind (its hyper-parameter picked on the same folds)."""
        raw = np.full(len(y), np.nan)
        if kind == "prior":
            for tr, va in folds:
                raw[va] = logit(np.array([y[tr].mean()]))[0]
            return raw, {}
        if kind == "lightgbm":
            iters = []
            for tr, va in folds:
                ds, dv = self._dataset(M[tr], y[tr]), self._dataset(M[va], y[va])
                b = lgb.train(self._lgb_params(), ds, self.n_estimators, valid_sets=[dv],
                              callbacks=[lgb.early_stopping(50, verbose=False)])  # fmt: skip
                iters.append(b.best_iteration or self.n_estimators)
                raw[va] = b.predict(M[va], raw_score=True, num_iteration=b.best_iteration)
            return raw, {"n_trees": max(10, round(float(np.mean(iters)) * 1.1))}
        D = self.encoder_.design(M)
        best: tuple[float, float, np.ndarray] | None = None
        for C in self.Cs:
            r = np.full(len(y), np.nan)
            for tr, va in folds:
                r[va] = self._fit_lr(D[tr], y[tr], C).decision_function(D[va])
            held = ~np.isnan(r)
            loss = metrics(y[held], sigmoid(r[held]))["logloss"]
            if best is None or loss < best[0]:
                best = (loss, C, r)
        assert best is not None
        return best[2], {"C": best[1]}

    def _choose_calibration(
        self, raw: np.ndarray, y: np.ndarray, g: np.ndarray, when: pd.Series | None
    ) -> tuple[str, np.ndarray, dict[str, float]]:
        kinds = [c for c in CALIBRATIONS if c in self.calibrations]
        return choose_calibration(raw, y, g, when, kinds, self.random_state)

    def _fit_final(self, kind: str, M: np.ndarray, y: np.ndarray, chosen: dict[str, Any]) -> None:
        if kind == "prior":
            self.prior_logit_ = float(logit(np.array([y.mean()]))[0])
            return
        if kind == "lightgbm":
            self.booster_ = lgb.train(self._lgb_params(), self._dataset(M, y), int(chosen["n_trees"]))
            self.leaf_table_, self.leaf_offsets_, self.leaf_base_ = leaf_tables(self.booster_, M.shape[1])
            return
        D = self.encoder_.design(M)
        lr = self._fit_lr(D, y, float(chosen["C"]))
        self.coef_ = lr.coef_[0].copy()
        self.intercept_ = float(lr.intercept_[0])
        self.design_mean_ = D.mean(axis=0)

    # -------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "calibrator_"):
            raise NotFittedError(
                "DealScorer is not fitted yet; call fit(X, y) first (see features.training_set)"
            )

    def raw_contributions(self, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature raw log-odds contributions (rows × features) and the base value of each row."""
        if self.kind_ == "prior":
            return np.zeros(M.shape), np.full(len(M), self.prior_logit_)
        if self.kind_ == "lightgbm" and self.contributions == "shap":
            c = np.asarray(self.booster_.predict(M, pred_contrib=True, num_threads=1))
            return c[:, :-1], c[:, -1]
        if self.kind_ == "lightgbm":
            return path_contributions(self.booster_, M, self.leaf_table_, self.leaf_offsets_, self.leaf_base_)
        contrib = self.encoder_.linear_contributions(M, self.coef_, self.design_mean_)
        base = np.full(len(M), self.intercept_ + float(self.design_mean_ @ self.coef_))
        return contrib, base

    def explain_matrix(self, M: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated base log-odds, per-feature contributions, log-odds, p, points and base score."""
        self._check_fitted()
        contrib, base = self.raw_contributions(M)
        L0, cc, L = calibrated_contributions(contrib, base, self.calibrator_)
        pts, base_score = points(cc, L0, L)
        return {
            "base": L0,
            "contributions": cc,
            "logodds": L,
            "p": sigmoid(L),
            "points": pts,
            "base_score": base_score,
        }

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated log-odds of winning."""
        self._check_fitted()
        M = self.encoder_.matrix(X)
        raw: np.ndarray
        if self.kind_ == "prior":
            raw = np.full(len(M), self.prior_logit_)
        elif self.kind_ == "lightgbm":
            raw = np.asarray(self.booster_.predict(M, raw_score=True, num_threads=1))
        else:
            raw = self.encoder_.design(M) @ self.coef_ + self.intercept_
        return self.calibrator_.transform(raw)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns P(lost), P(won), as scikit-learn classifiers do."""
        p = sigmoid(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def grade(self, p: np.ndarray) -> np.ndarray:
        a, b, c = self.grade_thresholds
        return np.select([p >= a, p >= b, p >= c], ["A", "B", "C"], "D")

    @property
    def model_name(self) -> str:
        self._check_fitted()
        return f"deal-scorer/{self.kind_}+{self.calibration_}"

    def _rows(self, ids: Sequence[Any], M: np.ndarray) -> dict[str, Any]:
        e = self.explain_matrix(M)
        p = e["p"]
        return {
            "opportunity_id": list(ids),
            "p_win": p,
            "score": np.clip(np.floor(100 * p + 0.5), 1, 99).astype(int),
            "grade": self.grade(p),
            "reasons": reason_lists(e["points"], M, self.encoder_, self.n_reasons),
        }

    def score_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Deal-scores frame: opportunity_id, p_win, score (1–99), grade (A–D), reasons, model, model_version."""
        self._check_fitted()
        ids = X["opportunity_id"].tolist() if "opportunity_id" in X.columns else X.index.tolist()
        out = pd.DataFrame(self._rows(ids, self.encoder_.matrix(X)))
        out["model"] = self.model_name
        out["model_version"] = str(self.model_version)
        return out

    def score_one(self, deal: Mapping[str, Any]) -> dict[str, Any]:
        """One deal given as a dict of features, scored without building a DataFrame."""
        self._check_fitted()
        r = self._rows([deal.get("opportunity_id")], self.encoder_.row(deal))
        return {
            "opportunity_id": r["opportunity_id"][0],
            "p_win": float(r["p_win"][0]),
            "score": int(r["score"][0]),
            "grade": str(r["grade"][0]),
            "reasons": r["reasons"][0],
            "model": self.model_name,
            "model_version": str(self.model_version),
        }
