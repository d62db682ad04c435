"""Peers of the deal scorer, set up as well as their documentation allows, timed like the default.

- ``logreg_cv``: scikit-learn's recipe for mixed tables: one-hot categories (unknown levels ignored),
  numbers median-imputed with a missing indicator and standardised, ``LogisticRegressionCV`` choosing C
  from 10 values by grouped 5-fold log loss.
- ``lightgbm``: tuned. Native categoricals; Optuna's TPE sampler (20 trials, seeded) over the parameters
  LightGBM's tuning guide names (learning rate, leaves, minimum data per leaf, feature and bagging
  fractions, L1/L2, categorical smoothing and group size), each trial scored by held-out log loss on 20 %
  of the training deals with early stopping; the best is refit on all training rows with its number of
  rounds × 1.1. Its fit time includes the search; ``lightgbm_final_fit`` is the refit alone.
- ``lightgbm_untuned``: 300 trees, learning rate 0.03, 15 leaves (the plain LightGBM the old default tied
  with): the reference the default's fit time is held to.
- ``prior``: the training win rate."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from salesplan.models.deals.folds import group_folds

TRIALS = 20
PEERS = ("prior", "logreg_cv", "lightgbm", "lightgbm_untuned")


def split_columns(X: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], list[str]]:
    num = [
        c for c in features if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
    ]
    return num, [c for c in features if c not in num]


def _categories(Xtr: pd.DataFrame, Xte: pd.DataFrame, num: list[str], cat: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    a, b = Xtr[num].copy(), Xte[num].copy()
    for c in cat:
        levels = sorted(Xtr[c].astype("string").dropna().unique())
        a[c] = pd.Categorical(Xtr[c].astype("string"), categories=levels)
        b[c] = pd.Categorical(Xte[c].astype("string"), categories=levels)
    return a, b


def logreg_cv(Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame, gtr: np.ndarray, features: Sequence[str]) -> np.ndarray:  # fmt: skip
    num, cat = split_columns(Xtr, features)
    steps: list[tuple[str, Any, list[str]]] = []
    if cat:
        steps.append(("cat", OneHotEncoder(handle_unknown="ignore"), cat))
    if num:
        steps.append(("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), num))  # fmt: skip
    model = make_pipeline(
        ColumnTransformer(steps),
        LogisticRegressionCV(Cs=10, cv=group_folds(gtr, ytr, 5, 0), scoring="neg_log_loss", max_iter=3000),
    )

    def text(X: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([X[cat].astype("string").fillna("__missing__").astype(object), X[num]], axis=1)

    return np.asarray(model.fit(text(Xtr), ytr).predict_proba(text(Xte)))[:, 1]


def lightgbm_untuned(Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame, features: Sequence[str], seed: int) -> np.ndarray:  # fmt: skip
    a, b = _categories(Xtr, Xte, *split_columns(Xtr, features))
    m = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.03, num_leaves=15, random_state=seed, n_jobs=1, verbose=-1)  # fmt: skip
    return np.asarray(m.fit(a, ytr).predict_proba(b))[:, 1]


def lightgbm_tuned(
    Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame, gtr: np.ndarray, features: Sequence[str], seed: int,
    trials: int = TRIALS,
) -> tuple[np.ndarray, float, dict[str, Any]]:  # fmt: skip
    """(P(win) of ``Xte``, seconds of the final refit alone, chosen parameters)."""
    a, b = _categories(Xtr, Xte, *split_columns(Xtr, features))
    fit_rows, val_rows = group_folds(gtr, ytr, 5, seed)[0]
    base = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": seed, "bagging_freq": 1,
            "feature_pre_filter": False}  # fmt: skip
    train = lgb.Dataset(a.iloc[fit_rows], ytr[fit_rows], params={"feature_pre_filter": False, "verbose": -1})
    valid = lgb.Dataset(a.iloc[val_rows], ytr[val_rows], reference=train)

    def objective(trial: optuna.Trial) -> float:
        p = {
            **base,
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 128, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 300, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.4, 1.0),
            "lambda_l1": trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
            "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 100.0, log=True),
            "min_data_per_group": trial.suggest_int("min_data_per_group", 5, 200, log=True),
        }
        booster = lgb.train(
            p, train, 3000, valid_sets=[valid], callbacks=[lgb.early_stopping(50, verbose=False)]
        )
        trial.set_user_attr("rounds", booster.best_iteration or booster.current_iteration())
        return float(booster.best_score["valid_0"]["binary_logloss"])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    params = {**base, **study.best_params}
    rounds = max(10, round(study.best_trial.user_attrs["rounds"] * 1.1))
    t = time.perf_counter()
    booster = lgb.train(
        params, lgb.Dataset(a, ytr, params={"feature_pre_filter": False, "verbose": -1}), rounds
    )
    refit = time.perf_counter() - t
    p = np.asarray(booster.predict(b))
    return p, refit, {**study.best_params, "rounds": rounds}


def run_peers(
    Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame, gtr: np.ndarray, features: Sequence[str], seed: int,
    trials: int = TRIALS,
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, Any]]:  # fmt: skip
    """(P(win) per peer, fit seconds per peer, the tuned LightGBM's parameters)."""
    preds: dict[str, np.ndarray] = {}
    secs: dict[str, float] = {}
    t = time.perf_counter()
    preds["prior"] = np.full(len(Xte), ytr.mean())
    secs["prior"] = time.perf_counter() - t
    t = time.perf_counter()
    preds["logreg_cv"] = logreg_cv(Xtr, ytr, Xte, gtr, features)
    secs["logreg_cv"] = time.perf_counter() - t
    t = time.perf_counter()
    preds["lightgbm"], secs["lightgbm_final_fit"], params = lightgbm_tuned(
        Xtr, ytr, Xte, gtr, features, seed, trials
    )
    secs["lightgbm"] = time.perf_counter() - t
    t = time.perf_counter()
    preds["lightgbm_untuned"] = lightgbm_untuned(Xtr, ytr, Xte, features, seed)
    secs["lightgbm_untuned"] = time.perf_counter() - t
    return preds, secs, params
