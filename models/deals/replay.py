"""Deal scores as a planner had them at a past date: a scorer fitted only on the deals closed by then
(their snapshots taken from the CRM as it stood, ``training_set(asof=)``), scoring the deals open at that
date (``features_asof``). This is what a target backtest needs to replay the shipped bookings plan
honestly: the scores of the champion trained today would know how the replayed quarter's deals ended."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import clone

from salesplan.contracts import CRMData
from salesplan.errors import InsufficientDataError
from salesplan.models.deals.features import features_asof, training_set
from salesplan.models.deals.scorer import DealScorer

__all__ = ["MIN_CLOSED", "scores_as_of"]

MIN_CLOSED = 40
"""Fewest closed deals before ``as_of`` to fit a scorer on; with fewer, the plan falls back to
historical win rates (what ``salesplan plan targets`` does without a deal model)."""


def scores_as_of(
    crm: CRMData, as_of: Any, *, template: DealScorer | None = None, every_days: int = 30
) -> pd.DataFrame | None:
    """Scores (``opportunity_id, p_win, ...``) of the deals open just before ``as_of`` by a clone of ``template``
    (default: ``DealScorer()`` with the shipped parameters) fitted on the deals closed before it; ``None``
    when fewer than ``MIN_CLOSED`` deals had closed, too few of them were won or lost for the scorer, or
    no deal was open (the plan then counts open deals at historical win rates, as without a deal model)."""
    # strictly before ``as_of``: a deal created or moved on the quarter's first day is not yet known
    cut = pd.Timestamp(as_of) - pd.Timedelta(microseconds=1)
    try:
        ts = training_set(crm, every_days=every_days, asof=cut)
    except InsufficientDataError:
        return None
    if len(set(ts.groups)) < MIN_CLOSED or len(set(ts.y)) < 2:
        return None
    scorer = clone(template) if template is not None else DealScorer()
    try:
        scorer.fit(ts.X, ts.y, groups=ts.groups, evidence=ts.evidence, close_date=ts.close_date)
    except InsufficientDataError:  # too few won or lost deals yet (the scorer's own minimums)
        return None
    X = features_asof(crm, cut)
    if X.empty:
        return None
    return scorer.score_frame(X)
