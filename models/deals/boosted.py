"""The boosted-trees member of the deal scorer: LightGBM cross-fitted over folds of whole deals, kept as
the ensemble of its fold models, with exact per-feature contributions from leaf tables.

Each fold's booster stops early on its held-out fold (so the out-of-fold log-odds are slightly optimistic
in the number of trees, which the blend weights then see; the effect of one integer chosen on thousands of
rows is small). The final model averages the fold boosters instead of refitting on every row: the same
data-passes buy a bagged model, and the out-of-fold predictions the calibration learns from come from the
very models that score.

Contributions: TreeSHAP (``pred_contrib=True``) costs ~0.6 ms per deal for a few hundred trees: far too
slow for a 10k batch in under a second. The decision-path attribution (Saabas) is exact too and much
cheaper: walking a tree from the root to its leaf, each split moves the node value by ``value(child) −
value(parent)``, and that move is credited to the split feature. The moves telescope, so base (Σ root
values) + Σ contributions = the raw log-odds exactly. The credit of a path depends only on the leaf it ends
in, so it is precomputed once per leaf; scoring is LightGBM's C++ leaf lookup (``pred_leaf=True``) plus
one sparse product. It credits splits near the root more than SHAP does; use ``DealScorer(contributions=
"shap")`` for TreeSHAP.

Constants (:data:`BOOST_PARAMS`): shallow trees and a high learning rate, chosen on simulated worlds of
seeds 10 and 11 (the benchmark scores seeds 0-2): in the blend the trees add the interactions the linear
model misses, and slower boosting (learning rate 0.1) or the shapes a tuned LightGBM picks there (5
leaves, half the features per tree, heavier category smoothing) gave the same blend at up to twice the
fit time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy import sparse

from salesplan.models.deals.folds import Folds

BOOST_PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.2, "num_leaves": 8, "max_depth": 3, "feature_fraction": 0.6,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 10.0, "cat_smooth": 20.0, "cat_l2": 10.0,
    "max_cat_to_onehot": 8, "max_bin": 63, "num_threads": 1, "verbose": -1, "deterministic": True,
    "force_col_wise": True, "feature_pre_filter": False,
}  # fmt: skip
PATIENCE = 20
"""Rounds without a better held-out log loss before a fold's boosting stops."""


def boost_params(n_rows: int, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:data:`BOOST_PARAMS` with leaf and category-group minimums scaled to the rows (10 on a few hundred
    deals, 50 from 5,000 rows), then the caller's overrides."""
    small = int(np.clip(n_rows // 100, 10, 50))
    p = {**BOOST_PARAMS, "min_data_in_leaf": small, "min_data_per_group": small, "seed": seed}
    p.update(overrides or {})
    return p


@dataclass
class TreeEnsemble:
    """Fold boosters averaged: raw log-odds and exact per-feature path contributions."""

    boosters: list[lgb.Booster]
    table: np.ndarray  # per-leaf path contributions of every tree of every booster, / len(boosters)
    offsets: np.ndarray  # first table row of each tree
    base: float

    @classmethod
    def of(cls, boosters: Sequence[lgb.Booster], n_features: int) -> TreeEnsemble:
        tables, offsets, bases, start = [], [], [], 0
        for b in boosters:
            t, o, base = leaf_tables(b, n_features)
            tables.append(t / len(boosters))
            offsets.append(o + start)
            bases.append(base)
            start += len(t)
        return cls(list(boosters), np.concatenate(tables), np.concatenate(offsets), float(np.mean(bases)))

    def raw(self, M: np.ndarray) -> np.ndarray:
        return np.mean(
            [np.asarray(b.predict(M, raw_score=True, num_threads=1)) for b in self.boosters], axis=0
        )

    def contributions(self, M: np.ndarray, *, shap: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(contributions rows × features, base per row) with base + Σ contributions = ``raw(M)``."""
        if shap:
            c = np.mean(
                [np.asarray(b.predict(M, pred_contrib=True, num_threads=1)) for b in self.boosters], axis=0
            )
            return c[:, :-1], c[:, -1]
        leaves = np.concatenate(
            [np.asarray(b.predict(M, pred_leaf=True, num_threads=1), dtype=np.int64).reshape(len(M), -1)
             for b in self.boosters], axis=1,
        )  # fmt: skip
        return path_contributions(leaves, self.table, self.offsets, self.base)


def cross_fit_boosting(
    M: np.ndarray, y: np.ndarray, folds: Folds, categorical: Sequence[int], params: Mapping[str, Any],
    max_rounds: int,
) -> tuple[np.ndarray, TreeEnsemble, list[int]]:  # fmt: skip
    """(out-of-fold raw log-odds of every row, the ensemble of the fold boosters, trees per fold)."""
    oof = np.full(len(y), np.nan)
    boosters, trees = [], []
    cats = list(categorical)
    # binned once (bin edges are quantiles of the features, no labels) and sliced per fold: building a
    # Dataset per fold and side cost as much as a fifth of the boosting
    full = lgb.Dataset(
        M, label=y, categorical_feature=cats, params=dict(params), free_raw_data=False
    ).construct()
    for tr, va in folds:
        ds, dv = full.subset(np.sort(tr).tolist()), full.subset(np.sort(va).tolist())
        b = lgb.train(dict(params), ds, max_rounds, valid_sets=[dv],
                      callbacks=[lgb.early_stopping(PATIENCE, verbose=False)])  # fmt: skip
        best = b.best_iteration or b.current_iteration()
        b = lgb.Booster(model_str=b.model_to_string(num_iteration=best))  # keep the trees that count
        oof[va] = b.predict(M[va], raw_score=True, num_threads=1)
        boosters.append(b)
        trees.append(best)
    return oof, TreeEnsemble.of(boosters, M.shape[1]), trees


def leaf_tables(booster: lgb.Booster, n_features: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(per-leaf path contributions, stacked over trees: total_leaves × features; each tree's first row;
    base value Σ root values)."""
    trees = booster.dump_model()["tree_info"]
    offsets = np.zeros(len(trees), dtype=np.int64)
    blocks: list[np.ndarray] = []
    base = 0.0
    start = 0
    for t, tree in enumerate(trees):
        root = tree["tree_structure"]
        n_leaves = int(tree["num_leaves"])
        table = np.zeros((n_leaves, n_features))
        if "leaf_index" in root:  # a stump: one leaf, no split
            base += float(root["leaf_value"])
        else:
            base += float(root["internal_value"])
            stack: list[tuple[dict[str, Any], np.ndarray]] = [(root, np.zeros(n_features))]
            while stack:
                node, acc = stack.pop()
                parent = float(node["internal_value"])
                for side in ("left_child", "right_child"):
                    child = node[side]
                    value = float(child["leaf_value"] if "leaf_index" in child else child["internal_value"])
                    path = acc.copy()
                    path[int(node["split_feature"])] += value - parent
                    if "leaf_index" in child:
                        table[int(child["leaf_index"])] = path
                    else:
                        stack.append((child, path))
        offsets[t] = start
        start += n_leaves
        blocks.append(table)
    if not blocks:
        return np.zeros((0, n_features)), offsets, base
    return np.concatenate(blocks, axis=0), offsets, base


def path_contributions(
    leaves: np.ndarray, table: np.ndarray, offsets: np.ndarray, base: float
) -> tuple[np.ndarray, np.ndarray]:
    """(contributions rows × features, base value per row) from the leaf index of each row in each tree."""
    n, n_trees = leaves.shape
    if n_trees == 0:
        return np.zeros((n, table.shape[1])), np.full(n, base)
    cols = (leaves + offsets[None, :]).ravel()  # one code path for 1 and 10,000 rows: identical sums
    ind = sparse.csr_matrix(
        (np.ones(cols.size), cols, np.arange(0, cols.size + 1, n_trees)), shape=(n, table.shape[0])
    )
    return np.asarray(ind @ table), np.full(n, base)
