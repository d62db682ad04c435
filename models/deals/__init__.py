"""Deal-win likelihood: as-of features and snapshots (``features``), the calibrated ``DealScorer`` with
exact per-feature reasons (``scorer``, ``reasons``, ``fastpath``) for the deal-scores frame.

    ts = training_set(crm)                              # labelled snapshots of closed deals
    scorer = DealScorer().fit(ts.X, ts.y, close_date=ts.close_date)
    scores = scorer.score_frame(features_asof(crm))     # open deals as of the end of the data
    scorer.score_one(deal_dict)                         # one deal, no DataFrame
"""

from salesplan.models.deals.calibration import ece, metrics
from salesplan.models.deals.features import (
    LEAKY_COLUMNS,
    TrainingSet,
    build_features,
    check_no_leaky_columns,
    check_single_feature_leakage,
    features_asof,
    snapshot_times,
    training_set,
)
from salesplan.models.deals.scorer import GRADE_THRESHOLDS, DealScorer

__all__ = [
    "GRADE_THRESHOLDS",
    "LEAKY_COLUMNS",
    "DealScorer",
    "TrainingSet",
    "build_features",
    "check_no_leaky_columns",
    "check_single_feature_leakage",
    "ece",
    "features_asof",
    "metrics",
    "snapshot_times",
    "training_set",
]
