"""Hierarchical reconciliation: make forecasts of every level coherent (each parent equals the sum of
its children) and, optionally, non-negative.

Quantiles do not add up: the median of a sum is not the sum of the medians (for right-skewed unit
sales it is larger), so only ``yhat`` — the mean, which does add — is reconciled. With
``quantile_mode="shift"`` (default) every quantile of a row, ``q50`` included, moves by that row's
reconciliation adjustment ``yhat~ - yhat^``: each level keeps the spread and skew its own model
learned. ``quantile_mode="coherent_median"`` also reconciles ``q50`` as a point forecast and keeps the
other quantiles' offsets ``q - q50`` around it, for planners who need medians that add up (they run low
on parents of skewed series). Either way quantiles are then made monotone outward from the median and,
with ``nonnegative=True``, clipped at 0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from salesplan.contracts import quantile_levels
from salesplan.contracts.sellout import Hierarchy
from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError, NotFittedError
from salesplan.models.hierarchy.frames import check_complete, monotone_around_median, problem, to_matrix
from salesplan.models.hierarchy.levels import LevelSpec, bottom_level, hierarchy_levels
from salesplan.models.hierarchy.mint import GLSProjection, Weights, floor_variances, shrunk_weights
from salesplan.models.hierarchy.summing import SummingMatrix, summing_matrix

__all__ = ["METHODS", "NEEDS_RESIDUALS", "HierarchicalReconciler", "Method", "MethodChoice", "choose_method"]

Method = Literal["bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink"]
METHODS: tuple[str, ...] = ("bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink")
NEEDS_RESIDUALS = ("wls_var", "mint_shrink")


class HierarchicalReconciler(BaseEstimator):
    """Reconcile forecasts of all levels of a grouped hierarchy.

    ``method``: ``bottom_up`` (sum the bottom forecasts), ``ols`` (W = I), ``wls_struct`` (W = number of
    bottom series under each node), ``wls_var`` (W = residual variances) or ``mint_shrink`` (W =
    Schäfer–Strimmer-shrunk residual covariance, Wickramasuriya et al. 2019). The last two need
    in-sample or backtest residuals of every series of every level in ``fit``."""

    def __init__(
        self,
        method: Method = "mint_shrink",
        nonnegative: bool = True,
        quantile_mode: Literal["shift", "coherent_median"] = "shift",
    ) -> None:
        self.method = method
        self.nonnegative = nonnegative
        self.quantile_mode = quantile_mode

    def fit(
        self,
        X: pd.DataFrame,
        hierarchy: Hierarchy,
        bottom_keys: pd.DataFrame | SummingMatrix | None = None,
    ) -> HierarchicalReconciler:
        """Learn the structure (and W). ``X``: long frame of all levels with ``unique_id``, ``ds``,
        ``level`` and either ``resid`` or ``y`` and ``yhat`` (in-sample fitted values or backtest
        forecasts; a ``cutoff`` column keeps several forecasts of one date apart). For bottom_up, ols
        and wls_struct only the bottom rows' hierarchy columns are used. ``bottom_keys`` (``unique_id``
        + hierarchy columns) gives the structure when ``X`` lacks the hierarchy columns; a ``SummingMatrix``
        from ``summing_matrix`` skips rebuilding it (refits on new residuals)."""
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.quantile_mode not in ("shift", "coherent_median"):
            raise ConfigError(
                f"quantile_mode must be 'shift' or 'coherent_median', got {self.quantile_mode!r}"
            )
        bottom_name = bottom_level(hierarchy).name
        if isinstance(bottom_keys, SummingMatrix):
            sm = bottom_keys
        else:
            if bottom_keys is None:
                bottom_keys = X[X["level"] == bottom_name] if "level" in X.columns else X
            sm = summing_matrix(bottom_keys, hierarchy, source="reconciler fit")
        n = sm.S.shape[0]
        W = Weights(np.ones(n))
        self.lambda_: float | None = None
        self.n_samples_: int = 0
        if self.method == "wls_struct":
            W = Weights(np.asarray(sm.S.sum(axis=1), dtype=float).ravel())
        elif self.method in NEEDS_RESIDUALS:
            resid = self._residuals(X, sm)
            self.n_samples_ = resid.shape[0]
            if self.method == "wls_var":
                W = Weights(floor_variances(np.mean(resid**2, axis=0)))
            else:
                W, self.lambda_ = shrunk_weights(resid)
        self.hierarchy_ = hierarchy
        self.structure_ = sm
        self.levels_: list[LevelSpec] = hierarchy_levels(hierarchy)
        self.W_: Weights | None = None if self.method == "bottom_up" else W
        self.projection_ = None if self.W_ is None else GLSProjection(sm.S, self.W_)
        return self

    def _residuals(self, X: pd.DataFrame, sm: SummingMatrix) -> np.ndarray:
        """(samples × series) residual matrix; dates where any series lacks a residual are dropped, and
        so are residuals of series outside the structure (e.g. discontinued products left out of
        ``bottom_keys``): a series of the structure without residuals is still an error."""
        X = X[X["unique_id"].astype(str).isin(set(sm.keys["unique_id"]))]
        if "resid" in X.columns:
            resid = X["resid"]
        elif {"y", "yhat"} <= set(X.columns):
            resid = X["y"] - X["yhat"]
        else:
            raise DataValidationError(
                [
                    problem(
                        None,
                        f"method {self.method!r} needs residuals: a 'resid' column or 'y' and 'yhat'",
                        fix="pass in-sample fitted values or backtest forecasts of every level with actuals",
                    )
                ],
                "reconciler fit",
            )
        mat, _, _, _ = to_matrix(X, resid, sm, "reconciler fit", require_all=False)
        absent = np.isnan(mat).all(axis=1)
        if absent.any():
            check_complete(X, mat, sm, "reconciler fit (residuals)", "resid")
        full = mat[:, ~np.isnan(mat).any(axis=0)].T
        if full.shape[0] < 3:
            have = (~np.isnan(mat)).sum(axis=1)
            worst = sm.keys["unique_id"].to_numpy()[np.argsort(have)[:3]]
            raise InsufficientDataError(
                f"reconciler fit: only {full.shape[0]} date(s) have residuals for every series "
                f"(fewest: {', '.join(map(str, worst))}); {self.method} needs at least 3, more is better. "
                "Fix: give in-sample or backtest residuals on common dates, or use method='wls_struct' "
                "or 'bottom_up'"
            )
        return full

    def _check_fitted(self) -> None:
        if not hasattr(self, "structure_"):
            raise NotFittedError(
                "HierarchicalReconciler is not fitted. Fix: call fit(residuals_or_keys, hierarchy) first"
            )

    def reconcile_matrix(self, yhat: np.ndarray) -> np.ndarray:
        """Coherent (and, if asked, non-negative) values for a (series in S order × dates) matrix."""
        self._check_fitted()
        S = self.structure_.S
        if self.projection_ is None:
            b = yhat[-self.structure_.n_bottom :]
            b = np.maximum(b, 0.0) if self.nonnegative else b
        else:
            b = self.projection_.bottom(yhat, self.nonnegative)
        return np.asarray(S @ b)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Coherent copy of a forecast frame of all levels (``unique_id, ds, level, yhat`` and quantile
        columns; a ``cutoff`` column reconciles each forecast origin on its own). Row order and every
        other column are kept."""
        self._check_fitted()
        if "yhat" not in X.columns:
            raise DataValidationError(
                [problem(None, "column 'yhat' missing", fix="pass a forecast frame")], "reconcile"
            )
        out = X.copy()
        mat, _, rows, cols = to_matrix(X, "yhat", self.structure_, "reconcile")
        out["yhat"] = self.reconcile_matrix(mat)[rows, cols]
        qcols = quantile_levels(X.columns)
        if not qcols:
            return out
        names, levels = list(qcols), list(qcols.values())
        raw = X[names].to_numpy(dtype=float)
        if self.quantile_mode == "coherent_median" and "q50" in qcols:
            q50_raw, _, _, _ = to_matrix(X, "q50", self.structure_, "reconcile")
            q50 = self.reconcile_matrix(q50_raw)[rows, cols]
            q = q50[:, None] + (raw - X["q50"].to_numpy(dtype=float)[:, None])
        else:
            q = raw + (out["yhat"].to_numpy() - X["yhat"].to_numpy(dtype=float))[:, None]
        centre = q[:, names.index("q50")] if "q50" in qcols else out["yhat"].to_numpy()
        q = monotone_around_median(q, levels, centre)
        if self.nonnegative:
            q = np.maximum(q, 0.0)
        out[names] = q
        return out


class MethodChoice(NamedTuple):
    """The chosen method and the backtest scores (WAPE per level, methods as columns, 'mean' row)."""

    method: str
    scores: pd.DataFrame


def choose_method(
    backtest: pd.DataFrame,
    hierarchy: Hierarchy,
    *,
    residuals: pd.DataFrame | None = None,
    methods: Sequence[str] = ("bottom_up", "mint_shrink"),
    bottom_keys: pd.DataFrame | None = None,
    nonnegative: bool = True,
) -> MethodChoice:
    """Pick the reconciliation method with the lowest mean over levels of the per-level WAPE
    (``sum|y - yhat| / sum|y|``, scale-free so the total does not drown the stores) on a backtest frame
    of all levels (``unique_id, ds, level, y, yhat`` and ``cutoff`` for several origins). Ties go to the
    earlier method in ``methods`` (put the simpler first).

    W is estimated from ``residuals`` if given (in-sample residuals of every level), else, for each
    cutoff, from the backtest errors already observable then (earlier cutoffs, ``ds <= cutoff``); cutoffs
    with fewer than 3 such dates are not scored."""
    for col in ("y", "yhat", "unique_id", "ds"):
        if col not in backtest.columns:
            raise DataValidationError(
                [problem(None, f"column {col!r} missing", fix="pass a backtest frame of all levels")],
                "choose_method",
            )
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ConfigError(f"choose_method: unknown method(s) {bad}; choose from {METHODS}")
    keys = summing_matrix(
        _bottom_rows(bottom_keys if bottom_keys is not None else backtest, hierarchy),
        hierarchy,
        "choose_method",
    )
    has_cutoff = "cutoff" in backtest.columns
    folds = [(None, backtest)] if not has_cutoff else list(backtest.groupby("cutoff", sort=True))
    fixed: dict[str, HierarchicalReconciler] = {}  # fitted once: structure-only methods, or given residuals
    for m in methods:
        if m not in NEEDS_RESIDUALS:
            fixed[m] = HierarchicalReconciler(m, nonnegative=nonnegative).fit(  # type: ignore[arg-type]
                backtest, hierarchy, bottom_keys=keys
            )
        elif residuals is not None:
            fixed[m] = HierarchicalReconciler(m, nonnegative=nonnegative).fit(  # type: ignore[arg-type]
                residuals, hierarchy, bottom_keys=keys
            )
    scored = []
    for cutoff, fold in folds:
        preds = {"base": fold["yhat"].to_numpy(dtype=float)}
        try:
            for m in methods:
                rec = fixed.get(m)
                if rec is None:
                    train = (
                        backtest[(backtest["cutoff"] < cutoff) & (backtest["ds"] <= cutoff)]
                        if has_cutoff
                        else None
                    )
                    if train is None or train.empty:
                        raise InsufficientDataError("no residuals observable before cutoff " + str(cutoff))
                    rec = HierarchicalReconciler(m, nonnegative=nonnegative)  # type: ignore[arg-type]
                    rec.fit(train, hierarchy, bottom_keys=keys)
                preds[m] = rec.transform(fold)["yhat"].to_numpy()
        except InsufficientDataError:
            continue
        scored.append(pd.DataFrame({"level": fold["level"].to_numpy(), "y": fold["y"].to_numpy(), **preds}))
    if not scored:
        raise InsufficientDataError(
            "choose_method: no cutoff could be scored — too few backtest errors precede every cutoff. "
            "Fix: pass residuals= (in-sample residuals of every level) or run more backtest windows"
        )
    allrows = pd.concat(scored, ignore_index=True)
    names = ["base", *methods]
    err = allrows[names].sub(allrows["y"], axis=0).abs()
    err["level"], err["_y"] = allrows["level"], allrows["y"].abs()
    sums = err.groupby("level", sort=False).sum()
    scores = sums[names].div(sums["_y"].replace(0.0, np.nan), axis=0)
    order = [lv.name for lv in hierarchy_levels(hierarchy) if lv.name in scores.index]
    scores = scores.loc[order]
    scores.loc["mean"] = scores.mean()
    mean = dict(zip(scores.columns, scores.loc["mean"].to_numpy(dtype=float), strict=True))
    best = min(methods, key=lambda m: (round(mean[m], 12), list(methods).index(m)))
    return MethodChoice(best, scores)


def _bottom_rows(frame: pd.DataFrame, hierarchy: Hierarchy) -> pd.DataFrame:
    bottom_name = bottom_level(hierarchy).name
    return frame[frame["level"] == bottom_name] if "level" in frame.columns else frame
