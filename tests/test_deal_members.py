"""The deal scorer's parts: the hand-written logistic regression against scikit-learn, folds that cover
every row, the tree ensemble's exact contributions, and a blend choice and validation that stay honest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from salesplan.errors import ConfigError
from salesplan.models.deals.blend import choose_blend
from salesplan.models.deals.boosted import boost_params, cross_fit_boosting
from salesplan.models.deals.calibration import CALIBRATIONS, sigmoid
from salesplan.models.deals.encoding import BEND_PENALTY, LEVEL_PENALTY, FeatureEncoder
from salesplan.models.deals.folds import check_covered, group_folds
from salesplan.models.deals.linear import cross_fit_logistic, fit_logistic
from salesplan.models.deals.scorer import DealScorer


def _data(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    D = np.column_stack([rng.normal(size=(n, 6)), rng.random((n, 4)) < 0.2]).astype(float)
    z = D @ np.array([1.0, -0.5, 0.3, 0, 0, 0.2, 1.5, 0, -1, 0]) - 0.4
    return D, (rng.random(n) < sigmoid(z)).astype(int)


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_newton_logistic_equals_scikit_learn(C: float) -> None:
    D, y = _data()
    ours = fit_logistic(D, y, C, tol=1e-10, decrement=0)
    ref = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=200).fit(D, y)
    np.testing.assert_allclose(ours[:-1], ref.coef_[0], atol=1e-6)
    assert ours[-1] == pytest.approx(ref.intercept_[0], abs=1e-6)
    # warm start: same optimum
    warm = fit_logistic(D, y, C, fit_logistic(D, y, C * 3), tol=1e-10, decrement=0)
    np.testing.assert_allclose(warm, ours, atol=1e-6)


def test_a_penalty_per_column_equals_scikit_learn_on_rescaled_columns() -> None:
    """λⱼ wⱼ² on column j is the plain penalty on column j / √λⱼ: same fit, coefficients rescaled."""
    D, y = _data()
    lam = np.array([1.0, 4.0, 4.0, 1.0, 0.25, 1.0, 1 / 9, 1 / 9, 1 / 9, 4.0])
    ours = fit_logistic(D, y, 0.05, tol=1e-10, decrement=0, penalty=lam)
    sk = LogisticRegression(C=0.05, solver="newton-cholesky", tol=1e-12, max_iter=200)
    ref = sk.fit(D / np.sqrt(lam), y)
    np.testing.assert_allclose(ours[:-1], ref.coef_[0] / np.sqrt(lam), atol=1e-6)
    assert ours[-1] == pytest.approx(ref.intercept_[0], abs=1e-6)
    with pytest.raises(ConfigError, match="one finite weight"):
        fit_logistic(D, y, 1.0, penalty=np.ones(3))


def test_design_penalty_weights_trend_bends_and_levels_and_spares_a_planted_level() -> None:
    """Straight-line columns weigh 1, hinges and value indicators BEND_PENALTY, category levels
    LEVEL_PENALTY; on a planted level effect the lighter level penalty recovers it better than one weight."""
    rng = np.random.default_rng(11)
    n = 3000
    X = pd.DataFrame({"x": rng.normal(size=n), "k": rng.integers(0, 4, n).astype(float),
                      "c": rng.choice(["a", "b", "rare"], n, p=[0.6, 0.3, 0.1])})  # fmt: skip
    X.loc[:40, "x"] = np.nan
    enc = FeatureEncoder(["x", "k"], ["c"])
    D = enc.design(enc.fit_matrix(X))
    pen, grp = enc.design_penalty_, enc.design_groups_
    assert pen.shape == (D.shape[1],)
    x_cols = np.flatnonzero(grp == 0)  # value, missing flag, then 3 hinges
    assert (pen[x_cols[:2]] == 1.0).all() and (pen[x_cols[2:]] == BEND_PENALTY).all() and len(x_cols) == 5
    k_cols = np.flatnonzero(grp == 1)  # value, then indicators of the 3 values other than the commonest
    assert pen[k_cols[0]] == 1.0 and (pen[k_cols[1:]] == BEND_PENALTY).all() and len(k_cols) == 4
    assert (pen[grp == 2] == LEVEL_PENALTY).all() and (grp == 2).sum() == 3
    level = np.flatnonzero(grp == 2)[enc.codes_["c"]["rare"]]
    z = 0.8 * np.nan_to_num(X["x"].to_numpy()) + 1.5 * (X["c"] == "rare").to_numpy() - 0.5
    y = (rng.random(n) < sigmoid(z)).astype(int)
    blocks = fit_logistic(D, y, 0.002, penalty=pen)
    one = fit_logistic(D, y, 0.002)
    # a level's column is 0/1 (not standardised): its coefficient is the planted 1.5 log-odds
    assert abs(blocks[level] - 1.5) < abs(one[level] - 1.5) - 0.3


def test_folds_cover_every_row_once_even_with_missing_groups() -> None:
    g = np.array(["a", "a", None, "b", np.nan, "c", "c", "d"] * 10, dtype=object)
    y = np.tile([1, 1, 0, 0, 1, 0, 0, 1], 10)
    folds = group_folds(g, y, 3, 0)
    seen = np.concatenate([va for _, va in folds])
    assert sorted(seen) == list(range(len(y)))
    for tr, va in folds:  # a deal never on both sides
        assert not set(pd.Series(g[tr]).astype(str)) & set(pd.Series(g[va]).astype(str))
    with pytest.raises(RuntimeError, match="1 of 3 rows"):
        check_covered(np.array([0.1, np.nan, 0.3]), "test")


def test_cross_fitted_members_predict_every_row_out_of_fold() -> None:
    D, y = _data(900)
    g = np.arange(len(y)) // 3  # three rows per deal
    folds = group_folds(g, y, 3, 0)
    lin = cross_fit_logistic(D, y, folds, (0.01, 0.1, 1.0, 10.0))
    assert np.isfinite(lin.oof).all() and lin.C in lin.grid_logloss
    raw, trees, n_trees = cross_fit_boosting(D, y, folds, [], boost_params(len(y), 0), 200)
    assert np.isfinite(raw).all() and len(n_trees) == 3 and len(trees.boosters) == 3
    contrib, base = trees.contributions(D[:50])
    np.testing.assert_allclose(base + contrib.sum(axis=1), trees.raw(D[:50]), atol=1e-9)
    # the fold ensemble of a tree is not the out-of-fold model of its own rows: the OOF differs from raw
    assert not np.allclose(raw[:50], trees.raw(D[:50]))


def test_blend_keeps_the_prior_on_noise_and_reports_nested_validation() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    y = (rng.random(n) < 0.3).astype(int)
    g = np.arange(n)
    oof = {"logistic": rng.normal(0, 1, n), "lightgbm": rng.normal(0, 1, n)}
    choice = choose_blend(oof, y, g, calibrations=list(CALIBRATIONS), prior=True)
    assert choice.name == "prior" and choice.weights == {}
    assert abs(float(np.mean(choice.p)) - y.mean()) < 0.01


def test_blend_weights_favour_the_informative_member() -> None:
    rng = np.random.default_rng(6)
    n = 3000
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < sigmoid(z)).astype(int)
    oof = {"logistic": z + rng.normal(0, 0.3, n), "lightgbm": rng.normal(0, 1, n)}
    choice = choose_blend(oof, y, np.arange(n), calibrations=["sigmoid"], prior=True)
    assert choice.name == "stacked+sigmoid" and choice.weights["logistic"] > 0.9


def test_self_reported_validation_is_not_fooled_by_noise_features() -> None:
    """Labels independent of 40 noise columns: the nested validation must not report skill."""
    rng = np.random.default_rng(7)
    n = 800
    X = pd.DataFrame(rng.normal(size=(n, 40)), columns=[f"x{i}" for i in range(40)])
    X["opportunity_id"] = [f"o{i}" for i in range(n)]
    y = (rng.random(n) < 0.4).astype(int)
    m = DealScorer(random_state=0).fit(X, y)
    assert m.validation_["auc"] < 0.56 and m.kind_ == "prior"


def test_a_pattern_that_does_not_hold_on_the_latest_closes_leaves_the_prior() -> None:
    """A feature predictive in the earlier closes only (a drifting proxy): random folds would keep it, the
    check on the latest closes (fitted on the earlier ones) hands the decision back to the prior."""
    rng = np.random.default_rng(8)
    n = 3000
    close = pd.Series(pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n) // 3, unit="D"))
    late = (close >= close.quantile(0.75)).to_numpy()
    x = rng.normal(size=n)
    y = (rng.random(n) < np.where(late, 0.3, sigmoid(1.2 * x - 0.9))).astype(int)
    X = pd.DataFrame({"opportunity_id": [f"o{i}" for i in range(n)], "x": x})
    assert DealScorer(models=("logistic", "prior"), Cs=(1.0,)).fit(X, y).kind_ == "logistic"
    dated = DealScorer(models=("logistic", "prior"), Cs=(1.0,)).fit(X, y, close_date=close)
    assert dated.kind_ == "prior"
    recent = {k: v for k, v in dated.candidates_.items() if k.startswith("recent:")}
    assert "recent:prior" in recent and len(recent) == 2  # the model's and the prior's loss on the latest


def test_metrics_equal_scikit_learn_scorers() -> None:
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    from salesplan.models.deals.calibration import metrics

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500), 2)  # ties, as many scores have
    m = metrics(y, p)
    q = np.clip(p, 1e-6, 1 - 1e-6)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, q), abs=1e-12)
    assert m["logloss"] == pytest.approx(log_loss(y, q), abs=1e-12)
    assert np.isnan(metrics(np.ones(5, dtype=int), p[:5])["auc"])
