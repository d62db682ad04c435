"""DealScorer on a simulated CRM whose true win mechanism is known: calibration, exact reasons, refusals,
unknown categories, and the single-deal path agreeing with the batch path."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError, DataValidationError, InsufficientDataError, NotFittedError
from salesplan.models.deals.calibration import ece, sigmoid
from salesplan.models.deals.features import TrainingSet, features_asof, training_set
from salesplan.models.deals.scorer import DealScorer
from salesplan.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return simulate(SimConfig(seed=1, scale="small", n_products=2, n_stores=2, n_opportunities=3000))


@pytest.fixture(scope="module")
def ts(world) -> TrainingSet:  # type: ignore[no-untyped-def]
    return training_set(world.crm)


@pytest.fixture(scope="module")
def split(ts: TrainingSet) -> tuple[np.ndarray, np.ndarray]:
    cut = ts.close_date.quantile(0.75)
    return (ts.close_date < cut).to_numpy(), (ts.close_date >= cut).to_numpy()


@pytest.fixture(scope="module")
def scorer(ts: TrainingSet, split: tuple[np.ndarray, np.ndarray]) -> DealScorer:
    tr, _ = split
    return DealScorer().fit(ts.X[tr], ts.y[tr])


@pytest.fixture(scope="module")
def lgbm_iso(ts: TrainingSet) -> DealScorer:
    return DealScorer(models=("lightgbm",), calibrations=("isotonic",), n_estimators=80).fit(ts.X, ts.y)


@pytest.fixture(scope="module")
def logit_platt(ts: TrainingSet) -> DealScorer:
    return DealScorer(models=("logistic",), calibrations=("sigmoid",), Cs=(0.3,)).fit(ts.X, ts.y)


def test_calibrated_on_later_deals(
    scorer: DealScorer, ts: TrainingSet, split: tuple[np.ndarray, np.ndarray]
) -> None:
    """Reliability on snapshots of deals that closed after every training deal."""
    _, te = split
    p = scorer.predict_proba(ts.X[te])[:, 1]
    y = ts.y[te]
    assert abs(p.mean() - y.mean()) < 0.04
    assert ece(y, p) < 0.06
    # in each populated decile of p the win rate is within 0.12 of the mean p
    b = np.minimum((p * 10).astype(int), 9)
    for k in np.unique(b):
        m = b == k
        if m.sum() >= 100:
            assert abs(p[m].mean() - y[m].mean()) < 0.12
    v = scorer.validation_
    assert {"auc", "brier", "logloss", "ece"} <= set(v) and 0.65 < v["auc"] <= 1 and v["ece"] < 0.08


def test_scores_follow_the_true_win_probability(scorer: DealScorer, world) -> None:  # type: ignore[no-untyped-def]
    """At creation the model has only the drivers; its P(win) must track the simulator's truth."""
    X = training_set(world.crm).X
    first = X.groupby("opportunity_id").head(1)
    p = scorer.predict_proba(first)[:, 1]
    truth = world.truth.win_probability.reindex(first["opportunity_id"]).to_numpy()
    assert np.corrcoef(p, truth)[0, 1] > 0.6


@pytest.mark.parametrize("name", ["scorer", "lgbm_iso", "logit_platt"])
def test_reasons_sum_to_the_score_log_odds(name: str, request: pytest.FixtureRequest, world) -> None:  # type: ignore[no-untyped-def]
    m: DealScorer = request.getfixturevalue(name)
    f = features_asof(world.crm, "2026-06-01")
    M = m.encoder_.matrix(f)
    e = m.explain_matrix(M)
    np.testing.assert_allclose(e["base"] + e["contributions"].sum(axis=1), e["logodds"], atol=1e-9)
    np.testing.assert_allclose(e["logodds"], m.decision_function(f), atol=1e-9)
    np.testing.assert_allclose(
        e["base_score"] + e["points"].sum(axis=1), 100 * m.predict_proba(f)[:, 1], atol=1e-7
    )
    # same sign as the raw contribution: calibration is monotone
    raw, _ = m.raw_contributions(M)
    assert (np.sign(e["contributions"]) * np.sign(raw) >= 0).all()


def test_score_frame_shape_and_reasons_text(scorer: DealScorer, world) -> None:  # type: ignore[no-untyped-def]
    f = features_asof(world.crm)
    s = scorer.score_frame(f)
    assert list(s.columns) == [
        "opportunity_id",
        "p_win",
        "score",
        "grade",
        "reasons",
        "model",
        "model_version",
    ]
    assert s["score"].between(1, 99).all()
    assert (s["score"] == np.clip(np.floor(100 * s["p_win"] + 0.5), 1, 99)).all()
    a, b, c = scorer.grade_thresholds
    exp = np.where(s["p_win"] >= a, "A", np.where(s["p_win"] >= b, "B", np.where(s["p_win"] >= c, "C", "D")))
    assert (s["grade"] == exp).all()
    texts = [r for rs in s["reasons"] for r in rs]
    assert texts and all(r.endswith(" pts") and (": +" in r or ": −" in r) for r in texts)
    assert any("slipped its close date" in r for r in texts)


def test_single_deal_path_equals_batch_path(scorer: DealScorer, lgbm_iso: DealScorer, world) -> None:  # type: ignore[no-untyped-def]
    f = features_asof(world.crm, "2026-05-01").head(40)
    for m in (scorer, lgbm_iso):
        batch = m.score_frame(f)
        for i, deal in enumerate(f.to_dict(orient="records")):
            one = m.score_one(deal)
            row = batch.iloc[i]
            assert one["opportunity_id"] == row["opportunity_id"]
            assert one["p_win"] == pytest.approx(row["p_win"], abs=1e-12)
            assert (one["score"], one["grade"], one["reasons"]) == (
                row["score"],
                row["grade"],
                row["reasons"],
            )


def test_unknown_categories_score_without_error(scorer: DealScorer, world) -> None:  # type: ignore[no-untyped-def]
    f = features_asof(world.crm).head(5).copy()
    f["rep_id"] = "R-new-hire"
    f["lead_source"] = ["Podcast", None, "Podcast", "Podcast", "Podcast"]
    f["product"] = "Brand new product"
    p = scorer.predict_proba(f)[:, 1]
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    one = scorer.score_one({**f.iloc[0].to_dict(), "account_industry": "Space"})
    assert 1 <= one["score"] <= 99


def test_missing_required_columns_are_named(scorer: DealScorer, world) -> None:  # type: ignore[no-untyped-def]
    f = features_asof(world.crm).drop(columns=["n_slips", "product"])
    with pytest.raises(DataValidationError, match=r"n_slips.*\n.*product|product.*\n.*n_slips"):
        scorer.score_frame(f)
    deal = features_asof(world.crm).iloc[0].to_dict()
    del deal["amount"]
    with pytest.raises(DataValidationError, match="amount"):
        scorer.score_one(deal)


def test_refuses_too_few_closed_deals(ts: TrainingSet) -> None:
    deals = pd.Series(ts.y, index=ts.X["opportunity_id"]).groupby(level=0).max()
    keep = set(deals[deals == 1].index[:30]) | set(deals[deals == 0].index)
    m = ts.X["opportunity_id"].isin(keep).to_numpy()
    with pytest.raises(InsufficientDataError, match=r"at least 40 won .* got 30 won"):
        DealScorer().fit(ts.X[m], ts.y[m])


def test_leaky_features_are_refused_and_reported(ts: TrainingSet) -> None:
    X = ts.X.assign(
        close_value=np.where(ts.y == 1, 1000.0, 0.0),  # named like an outcome by-product
        crm_probability=ts.y * 0.9 + 0.05,  # innocent name, derived from the label
    )
    m = DealScorer(models=("logistic",), Cs=(0.3,)).fit(X, ts.y)
    report = m.leakage_report_.frame().set_index("feature")
    assert report.loc["close_value", "verdict"] == "refused" and "name" in report.loc["close_value", "why"]
    assert report.loc["crm_probability", "verdict"] == "refused"
    assert "AUC 1.000" in report.loc["crm_probability", "why"]
    assert {"close_value", "crm_probability"}.isdisjoint(m.feature_names_in_)
    assert report.loc["stage_rank", "verdict"] == "kept" and report.loc["stage_rank", "basis"] == "as-of"
    # asked for by name, a refused feature is an error; allowed, it is kept and says so
    with pytest.raises(DataValidationError, match="crm_probability"):
        DealScorer(models=("logistic",), features=["amount", "crm_probability"]).fit(X, ts.y)
    kept = DealScorer(models=("logistic",), Cs=(0.3,), allow_features=["crm_probability"]).fit(X, ts.y)
    assert "crm_probability" in kept.feature_names_in_
    assert kept.leakage_report_.frame().set_index("feature").loc["crm_probability", "verdict"] == "allowed"
    with pytest.raises(ConfigError, match="not a candidate"):
        DealScorer(allow_features=["no_such_column"]).fit(X, ts.y)


def test_not_fitted_params_and_pickle(scorer: DealScorer, world) -> None:  # type: ignore[no-untyped-def]
    f = features_asof(world.crm)
    with pytest.raises(NotFittedError):
        DealScorer().predict_proba(f)
    with pytest.raises(ConfigError, match="grade_thresholds"):
        DealScorer(grade_thresholds=(0.2, 0.45, 0.7)).fit(f, np.zeros(len(f)))
    again = pickle.loads(pickle.dumps(scorer))
    np.testing.assert_array_equal(again.predict_proba(f), scorer.predict_proba(f))
    assert DealScorer(n_reasons=2).get_params()["n_reasons"] == 2
    strict = DealScorer(grade_thresholds=(0.9, 0.8, 0.7))
    assert (strict.grade(np.array([0.85, 0.5])) == ["B", "D"]).all()
    assert sigmoid(np.array([0.0]))[0] == 0.5


def test_falls_back_to_the_prior_when_nothing_predicts() -> None:
    rng = np.random.default_rng(3)
    n = 600
    X = pd.DataFrame(
        {
            "opportunity_id": [f"o{i}" for i in range(n)],
            "amount": rng.lognormal(9, 1, n),
            "product": rng.choice(list("ABCDEFGH"), n),
            "noise": rng.normal(size=n),
        }
    )
    y = (rng.random(n) < 0.35).astype(int)
    m = DealScorer(models=("logistic", "prior")).fit(X, y)
    assert m.kind_ == "prior"
    s = m.score_frame(X.head(3))
    assert s["p_win"].nunique() == 1 and s["p_win"].iloc[0] == pytest.approx(y.mean(), abs=0.02)
    assert all(r == [] for r in s["reasons"])


def test_treeshap_contributions_also_sum_exactly(ts: TrainingSet, world) -> None:  # type: ignore[no-untyped-def]
    m = DealScorer(models=("lightgbm",), calibrations=("sigmoid",), n_estimators=40, contributions="shap")
    m.fit(ts.X, ts.y)
    f = features_asof(world.crm, "2026-06-01")
    e = m.explain_matrix(m.encoder_.matrix(f))
    np.testing.assert_allclose(e["base"] + e["contributions"].sum(axis=1), m.decision_function(f), atol=1e-9)


def test_categories_match_whatever_their_case_or_spacing(scorer: DealScorer, world) -> None:  # type: ignore[no-untyped-def]
    deal = features_asof(world.crm).iloc[0].to_dict()
    base = scorer.score_one(deal)
    for lead in (
        deal["lead_source"].lower(),
        f"  {deal['lead_source'].upper()} ",
        deal["lead_source"] + "\t",
    ):
        again = scorer.score_one({**deal, "lead_source": lead})
        assert (
            again["p_win"] == pytest.approx(base["p_win"], abs=1e-12) and again["reasons"] == base["reasons"]
        )
    frame = scorer.score_frame(pd.DataFrame([deal, {**deal, "lead_source": deal["lead_source"].swapcase()}]))
    assert frame["p_win"].iloc[0] == pytest.approx(frame["p_win"].iloc[1], abs=1e-12)
    blank = scorer.score_one({**deal, "lead_source": "   "})  # only whitespace: missing, not a new level
    assert blank["p_win"] == pytest.approx(
        scorer.score_one({**deal, "lead_source": None})["p_win"], abs=1e-12
    )


def test_missing_dates_give_no_reason(scorer: DealScorer, world) -> None:  # type: ignore[no-untyped-def]
    """A deal without dates is scored (the model learned what missing means) but no reason quotes a date it
    does not have, such as "expected close date passed 37 days ago"."""
    f = features_asof(world.crm).head(30).copy()
    dated = [
        c
        for c in ("days_to_close", "deal_age_days", "days_in_stage", "stage_age_ratio", "rep_tenure_months")
        if c in f
    ]
    f[dated] = np.nan
    s = scorer.score_frame(f)
    texts = [r for rs in s["reasons"] for r in rs]
    assert texts  # other reasons remain
    words = ("days", "expected close", "old", "in its stage", "hired", "unknown")
    assert not [t for t in texts if any(w in t for w in words) and "slipped" not in t]
    e = scorer.explain_matrix(scorer.encoder_.matrix(f))  # the points still add up to the score
    np.testing.assert_allclose(e["base_score"] + e["points"].sum(axis=1), 100 * s["p_win"], atol=1e-7)
