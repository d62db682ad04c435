"""``DealScorer``: P(win) of open deals, calibrated, with reasons, for the deal-scores frame.

Fit, in order:

1. The leakage guard (:mod:`models.deals.leakage`) gives every candidate feature a verdict from its
   timestamps or, lacking them, from leakage signals; refused features are left out and the verdicts kept
   in ``leakage_report_``.
2. Two members are cross-fitted on the same ``n_folds`` folds of whole deals: an L2 logistic regression on
   a spline-and-one-hot design (:mod:`models.deals.linear`, C by out-of-fold log loss) and shallow LightGBM
   trees with native categoricals (:mod:`models.deals.boosted`, early-stopped per fold). Each member's
   final model is the average of its fold models, so no refit is needed and every training row has an
   out-of-fold prediction from the models that score.
3. The blend and its calibration (:mod:`models.deals.blend`): the prior, the members' mean or stacked
   log-odds, with no, Platt or isotonic calibration, chosen by log loss under nested cross-fitting; a
   flexible candidate must be clearly better, and with close dates the blend must also beat the prior on
   the latest closes. ``validation_`` holds AUC, Brier, log loss and ECE of the nested predictions: each
   row scored by a blend and calibrator that never saw it.

Scoring goes through one numpy matrix (see :mod:`models.deals.encoding`), so a 10k-row frame and a single
dict give identical numbers; reasons are exact per-feature shares of the calibrated log-odds
(:mod:`models.deals.reasons`)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from threadpoolctl import threadpool_limits

from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError, NotFittedError, Problem
from salesplan.models.deals.blend import NESTED_FOLDS, RECENT_SHARE, choose_blend, prior_log_odds
from salesplan.models.deals.boosted import boost_params, cross_fit_boosting
from salesplan.models.deals.calibration import CALIBRATIONS, Calibrator, metrics, sigmoid
from salesplan.models.deals.encoding import FeatureEncoder
from salesplan.models.deals.features import EVIDENCE_ATTR, KEY_COLUMNS
from salesplan.models.deals.folds import group_folds
from salesplan.models.deals.leakage import MAX_AUC, Evidence, LeakageReport, assess_features
from salesplan.models.deals.linear import cross_fit_logistic
from salesplan.models.deals.reasons import calibrated_contributions, points, reason_lists

MODELS: tuple[str, ...] = ("logistic", "lightgbm", "prior")
"""Members (``logistic``, ``lightgbm``) and the ``prior`` fallback (the training win rate for every deal),
which wins when no member beats it on held-out deals, so a data set without signal gets an honest constant
instead of confident noise."""
GRADE_THRESHOLDS: tuple[float, float, float] = (0.70, 0.45, 0.20)
"""P(win) needed for grade A, B, C (below the last: D): A is a likely win, D a long shot."""
log = logging.getLogger(__name__)


def deal_outcomes(y: Any, groups: Any) -> tuple[int, int]:
    """Won and lost deals among rows ``y`` (0/1) grouped by deal ``groups`` (several snapshots of one deal
    count once; a deal is won when any of its rows is)."""
    deal_y = (
        pd.Series(np.asarray(y, dtype=int))
        .groupby(pd.Series(np.asarray(groups)).astype(str).to_numpy())
        .max()
    )
    return int(deal_y.sum()), int((deal_y == 0).sum())


def _recent(close_date: Any, g: np.ndarray) -> np.ndarray | None:
    """Rows of the deals with the latest :data:`RECENT_SHARE` of close dates (None unless all dated)."""
    if close_date is None:
        return None
    cd = pd.to_datetime(pd.Series(np.asarray(close_date)), errors="coerce")
    if len(cd) != len(g) or cd.isna().any():
        return None
    cut = pd.Timestamp(cd.groupby(g).max().quantile(1 - RECENT_SHARE))
    return (cd >= cut).to_numpy()


class DealScorer(ClassifierMixin, BaseEstimator):
    """Calibrated deal-win classifier over as-of feature frames (see :mod:`models.deals.features`)."""

    def __init__(
        self,
        models: Sequence[str] = MODELS,
        calibrations: Sequence[str] = CALIBRATIONS,
        min_won: int = 40,
        min_lost: int = 40,
        n_folds: int = 3,
        n_estimators: int = 1000,
        lgbm_params: Mapping[str, Any] | None = None,
        Cs: Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0),
        grade_thresholds: Sequence[float] = GRADE_THRESHOLDS,
        n_reasons: int = 3,
        features: Sequence[str] | None = None,
        allow_features: Sequence[str] = (),
        leakage_auc: float = MAX_AUC,
        random_state: int = 0,
        model_version: str = "0",
        contributions: str = "path",
    ) -> None:
        self.models = models
        self.calibrations = calibrations
        self.min_won = min_won
        self.min_lost = min_lost
        self.n_folds = n_folds
        self.n_estimators = n_estimators
        self.lgbm_params = lgbm_params
        self.Cs = Cs
        self.grade_thresholds = grade_thresholds
        self.n_reasons = n_reasons
        self.features = features
        self.allow_features = allow_features
        self.leakage_auc = leakage_auc
        self.random_state = random_state
        self.model_version = model_version
        self.contributions = contributions

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X: pd.DataFrame,
        y: Sequence[int] | np.ndarray,
        *,
        groups: Any = None,
        evidence: Mapping[str, Evidence] | None = None,
        close_date: Any = None,
    ) -> DealScorer:
        """Fit on labelled snapshots (``models.deals.features.training_set``): ``y`` 1 = won; ``groups``
        the deal of each row (default ``X.opportunity_id``) so one deal never sits on both sides of a
        split; ``evidence`` the timestamp evidence per feature (default: what ``training_set`` put in
        ``X.attrs``; a plain table has none, so its columns are judged by leakage signals);
        ``close_date`` each row's deal close date: when every row has one, the model must also beat the
        prior on the latest closes, fitted on the earlier ones (see :mod:`models.deals.blend`)."""
        with threadpool_limits(1):  # BLAS threads fight over shared cores and run 30× slower
            return self._fit(X, y, groups, evidence, close_date)

    def _fit(
        self, X: pd.DataFrame, y: Any, groups: Any, evidence: Mapping[str, Evidence] | None, close_date: Any
    ) -> DealScorer:
        self._check_params()
        yv = np.asarray(y, dtype=int)
        if len(yv) != len(X) or not np.isin(yv, (0, 1)).all():
            raise DataValidationError(
                [Problem("y", f"labels must be 0/1, one per row of X ({len(X)})")], "fit"
            )
        if groups is None:
            groups = X["opportunity_id"] if "opportunity_id" in X.columns else np.arange(len(X))
        g = pd.Series(np.asarray(groups)).astype(str).to_numpy()
        n_won, n_lost = deal_outcomes(yv, g)
        if n_won < self.min_won or n_lost < self.min_lost:
            raise InsufficientDataError(
                f"deal scorer needs at least {self.min_won} won and {self.min_lost} lost closed deals, got "
                f"{n_won} won and {n_lost} lost. Fix: wait for more closed history, pool more teams or "
                "regions, or lower min_won/min_lost knowingly"
            )
        numeric, categorical = self._select_features(X, yv, g, evidence)
        self.encoder_ = FeatureEncoder(numeric, categorical)
        M = self.encoder_.fit_matrix(X)
        self.feature_names_in_ = np.array(self.encoder_.features, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.classes_ = np.array([0, 1])
        folds = group_folds(g, yv, self.n_folds, self.random_state)
        members = [m for m in self.models if m != "prior"] if self.n_features_in_ else []
        oof: dict[str, np.ndarray] = {}
        self.members_: dict[str, dict[str, Any]] = {}
        if "logistic" in members:
            D = self.encoder_.design(M)
            lin = cross_fit_logistic(D, yv, folds, self.Cs, self.encoder_.design_penalty_)
            oof["logistic"] = lin.oof
            self.coef_, self.intercept_, self.design_mean_ = lin.coef, lin.intercept, D.mean(axis=0)
            self.members_["logistic"] = {"C": lin.C, "grid_logloss": lin.grid_logloss}
        if "lightgbm" in members:
            cats = list(range(len(numeric), M.shape[1]))
            params = boost_params(len(yv), self.random_state, self.lgbm_params)
            raw, self.trees_, n_trees = cross_fit_boosting(M, yv, folds, cats, params, self.n_estimators)
            oof["lightgbm"] = raw
            self.members_["lightgbm"] = {"trees_per_fold": n_trees}
        choice = choose_blend(
            oof, yv, g, calibrations=[c for c in CALIBRATIONS if c in self.calibrations],
            prior="prior" in self.models or not members, seed=self.random_state, recent=_recent(close_date, g),
        )  # fmt: skip
        self.weights_ = {m: w for m, w in choice.weights.items() if w > 0}
        self.kind_ = (
            "prior" if not self.weights_ else "blend" if len(self.weights_) > 1 else next(iter(self.weights_))
        )
        self.calibration_ = choice.calibration
        self.prior_logit_ = prior_log_odds(yv)
        self.candidates_ = choice.losses
        self.validation_: dict[str, Any] = {
            **metrics(yv, choice.p), "model": self.kind_, "calibration": self.calibration_,
            "weights": dict(self.weights_), "members": self.members_,
            "scheme": f"{self.n_folds}-fold cross-fitted by deal; blend and calibration scored by nested "
                      f"{NESTED_FOLDS}-fold (each row by a calibrator that never saw it)",
        }  # fmt: skip
        raw_oof = sum((w * oof[m] for m, w in self.weights_.items()), np.zeros(len(yv)))
        self.calibrator_ = Calibrator(self.calibration_).fit(raw_oof, yv)
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
        if not 2 <= self.n_folds <= 10:
            raise ConfigError(f"n_folds must be in [2, 10], got {self.n_folds}")
        if not 0.5 < self.leakage_auc <= 1:
            raise ConfigError(f"leakage_auc must be in (0.5, 1], got {self.leakage_auc}")

    def _select_features(
        self, X: pd.DataFrame, y: np.ndarray, g: np.ndarray, evidence: Mapping[str, Evidence] | None
    ) -> tuple[list[str], list[str]]:
        """Candidates through the leakage guard; refused or unusable ones are reported and left out."""
        cols = (
            list(self.features)
            if self.features is not None
            else [c for c in X.columns if c not in KEY_COLUMNS]
        )
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise DataValidationError([Problem(c, "requested feature not in X") for c in missing], "fit")
        ev = evidence if evidence is not None else X.attrs.get(EVIDENCE_ATTR, {})
        report = assess_features(
            X, y, cols, groups=g, evidence=ev, allow=self.allow_features, max_auc=self.leakage_auc
        )
        self.leakage_report_: LeakageReport = report
        if report.refused:
            log.warning("deal scorer: features refused by the leakage guard:\n%s", report.refusal_text())
        asked = [c for c in report.refused if self.features is not None]
        if asked:
            raise DataValidationError(
                [Problem(v.feature, v.why, fix="drop it or, for a suspicion only, allow it (allow_features / "
                         "--allow-feature)") for v in report.verdicts if v.feature in asked],
                source="leakage check",
            )  # fmt: skip
        usable = report.kept
        if not usable and "prior" not in self.models:
            raise DataValidationError(
                [Problem(v.feature, f"{v.verdict}: {v.why}") for v in report.verdicts],
                source="leakage check: no usable feature",
            )
        self.dropped_features_ = [v.feature for v in report.verdicts if not v.keep]
        numeric = [
            c for c in usable if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
        ]
        return numeric, [c for c in usable if c not in numeric]

    # -------------------------------------------------------------- scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "calibrator_"):
            raise NotFittedError(
                "DealScorer is not fitted yet; call fit(X, y) first (see features.training_set)"
            )

    def raw_contributions(self, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature raw log-odds contributions (rows × features) and the base value of each row: the
        members' own exact decompositions, weighted as in the blend."""
        contrib, base = np.zeros(M.shape), np.zeros(len(M))
        if self.kind_ == "prior":
            return contrib, base + self.prior_logit_
        for member, w in self.weights_.items():
            if member == "lightgbm":
                c, b = self.trees_.contributions(M, shap=self.contributions == "shap")
            else:
                c = self.encoder_.linear_contributions(M, self.coef_, self.design_mean_)
                b = np.full(len(M), self.intercept_ + float(self.design_mean_ @ self.coef_))
            contrib += w * c
            base += w * b
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

    def raw_log_odds(self, M: np.ndarray) -> np.ndarray:
        """The blend's raw (uncalibrated) log-odds of an encoded matrix."""
        if self.kind_ == "prior":
            return np.full(len(M), self.prior_logit_)
        out = np.zeros(len(M))
        for member, w in self.weights_.items():
            if member == "lightgbm":
                out += w * self.trees_.raw(M)
            else:
                out += w * (self.encoder_.design(M) @ self.coef_ + self.intercept_)
        return out

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated log-odds of winning."""
        self._check_fitted()
        return self.calibrator_.transform(self.raw_log_odds(self.encoder_.matrix(X)))

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
