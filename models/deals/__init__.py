"""Deal-win likelihood: as-of features and snapshots (``features``), the leakage guard (``leakage``),
plain tables as training sets (``table``), the calibrated ``DealScorer`` (a cross-fitted blend of a linear
model and boosted trees) with exact per-feature reasons (``scorer``, ``reasons``, ``fastpath``) for the
deal-scores frame.

    ts = training_set(crm)                              # labelled snapshots of closed deals
    scorer = DealScorer().fit(ts.X, ts.y)               # leakage guard, members, blend, calibration
    scorer.leakage_report_.frame()                      # every candidate feature with its verdict
    scores = scorer.score_frame(features_asof(crm))     # open deals as of the end of the data
    scorer.score_one(deal_dict)                         # one deal, no DataFrame

    # a plain table (one row per deal or lead): the same guard, judging its columns by their signals
    ts = table_training_set(leads, "Status", id_column="Lead ID", date_column="Created")
    scorer = DealScorer(allow_features=["Lead Score"]).fit(ts.X, ts.y, groups=ts.groups, close_date=ts.close_date)
"""

from salesplan.models.deals.calibration import ece, metrics
from salesplan.models.deals.features import (
    LEAKY_COLUMNS,
    TrainingSet,
    build_features,
    features_asof,
    snapshot_times,
    training_set,
)
from salesplan.models.deals.leakage import Evidence, LeakageReport, Verdict, assess_features
from salesplan.models.deals.replay import scores_as_of
from salesplan.models.deals.scorer import GRADE_THRESHOLDS, DealScorer
from salesplan.models.deals.table import table_training_set

__all__ = [
    "GRADE_THRESHOLDS",
    "LEAKY_COLUMNS",
    "DealScorer",
    "Evidence",
    "LeakageReport",
    "TrainingSet",
    "Verdict",
    "assess_features",
    "build_features",
    "ece",
    "features_asof",
    "metrics",
    "scores_as_of",
    "snapshot_times",
    "table_training_set",
    "training_set",
]
