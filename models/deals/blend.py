"""How the deal scorer turns its members' out-of-fold log-odds into calibrated probabilities.

Every candidate is scored by nested cross-fitting over the out-of-fold rows (folds of whole deals): its
weights and calibrator are fitted without the rows they predict, so the log loss compared and the
validation metrics reported are those of a calibrator that never saw the row. In turn:

1. the weights of two members: their mean log-odds (``equal``) or a logistic regression on them
   (``stacked``: weights learned, clipped at 0, so a useless member gets none), each with Platt scaling;
   the lower log loss wins (one parameter apart, no handicap);
2. the calibration of that blend, simplest first: none, Platt (``sigmoid``), isotonic; a more flexible
   one must be clearly better (:func:`models.deals.calibration.clearly_better`) to win;
3. the training win rate (``prior``) stays unless the blend is clearly better than it; with close dates,
   also on the latest deals (:data:`RECENT_SHARE` of closes) when fitted on the earlier ones only. Random
   folds within one period reward patterns of that period: on Maven, features that drift with the
   calendar (a rep's running win rate) beat the prior in every random fold and lose to it on later deals,
   where deals selected by close date are shorter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from salesplan.models.deals.calibration import Calibrator, clearly_better, logit, sigmoid
from salesplan.models.deals.folds import check_covered, group_folds, row_log_loss
from salesplan.models.deals.linear import fit_logistic

NESTED_FOLDS = 3
RECENT_SHARE = 0.25


@dataclass(frozen=True)
class BlendChoice:
    """The chosen candidate: ``weights`` of the members in the raw blend (summing to 1; empty for the
    prior), the ``calibration`` applied to it, every row's nested cross-fitted P(win) and each
    candidate's mean log loss."""

    name: str
    weights: dict[str, float]
    calibration: str
    p: np.ndarray
    losses: dict[str, float]


def blend_weights(Z: np.ndarray, y: np.ndarray, members: Sequence[str], how: str) -> dict[str, float]:
    """Weights (summing to 1) of the members' log-odds columns ``Z``."""
    if how == "single":
        return {members[0]: 1.0}
    if how == "equal":
        return {m: 1.0 / len(members) for m in members}
    w = np.clip(fit_logistic(Z, y, C=1e6, tol=1e-7)[:-1], 0.0, None)
    if w.sum() <= 0:
        return {m: 1.0 / len(members) for m in members}
    return {m: float(v / w.sum()) for m, v in zip(members, w, strict=True)}


def choose_blend(
    oof: Mapping[str, np.ndarray], y: np.ndarray, groups: np.ndarray, *, calibrations: Sequence[str],
    prior: bool, seed: int = 0, recent: np.ndarray | None = None,
) -> BlendChoice:  # fmt: skip
    """The chosen candidate (see the module doc); ``recent`` marks the rows of the latest closes."""
    members = list(oof)
    Z = np.column_stack([check_covered(oof[m], f"out-of-fold log-odds of {m}") for m in members]) if members else np.zeros((len(y), 0))  # fmt: skip
    folds = group_folds(groups, y, NESTED_FOLDS, seed + 7)
    rows: dict[str, np.ndarray] = {}
    preds: dict[str, np.ndarray] = {}

    def score(how: str, cal: str) -> str:
        name = "prior" if how == "prior" else f"{how}+{cal}"
        p = np.full(len(y), np.nan)
        for tr, va in folds:
            if how == "prior":
                p[va] = y[tr].mean()
                continue
            w = np.array(list(blend_weights(Z[tr], y[tr], members, how).values()))
            c = Calibrator(cal).fit(Z[tr] @ w, y[tr])
            p[va] = sigmoid(c.transform(Z[va] @ w))
        preds[name] = check_covered(p, f"nested predictions of {name}")
        rows[name] = row_log_loss(y, p)
        return name

    chosen = score("prior", "none") if prior or not members else None
    if members:
        how = "single"
        if len(members) > 1:
            first = "sigmoid" if "sigmoid" in calibrations else calibrations[0]
            eq, st = score("equal", first), score("stacked", first)
            how = "stacked" if rows[st].mean() < rows[eq].mean() else "equal"
        for cal in calibrations:  # simplest first
            name = f"{how}+{cal}"
            if name not in rows:
                score(how, cal)
            if chosen is None or clearly_better(rows[name], rows[chosen], groups):
                chosen = name
    assert chosen is not None
    losses = {k: float(v.mean()) for k, v in rows.items()}
    if chosen != "prior" and prior and recent is not None and recent.any() and (~recent).any():
        how, _, cal = chosen.partition("+")
        old, new = ~recent, recent
        w = np.array(list(blend_weights(Z[old], y[old], members, how).values()))
        p = sigmoid(Calibrator(cal).fit(Z[old] @ w, y[old]).transform(Z[new] @ w))
        forward, base = row_log_loss(y[new], p), row_log_loss(y[new], np.full(int(new.sum()), y[old].mean()))
        losses.update({f"recent:{chosen}": float(forward.mean()), "recent:prior": float(base.mean())})
        if not clearly_better(forward, base, groups[new]):
            chosen = "prior"
    how, _, cal = chosen.partition("+")
    weights = {} if how == "prior" else blend_weights(Z, y, members, how)
    return BlendChoice(chosen, weights, cal or "none", preds[chosen], losses)


def prior_log_odds(y: np.ndarray) -> float:
    return float(logit(np.array([np.mean(y)]))[0])
