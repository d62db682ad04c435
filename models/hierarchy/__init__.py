"""Forecasts across a hierarchy: the levels of a grouped hierarchy (region, store, category, ...), bottom-up
sums and MinT reconciliation that make every level coherent, and temporal aggregation of weekly values to
calendar months and quarters (the time hierarchy: day shares, so totals are conserved exactly).

Modules: :mod:`.levels` (the aggregation levels and their series ids), :mod:`.summing` (summing matrix
``S``, :func:`aggregate`), :mod:`.mint` (the MinT linear algebra: shrunk weights, GLS projection, its
non-negative version), :mod:`.reconcile` (:class:`HierarchicalReconciler`, :func:`choose_method`),
:mod:`.frames` (pivoting long frames onto ``S``, monotone quantiles) and :mod:`.temporal` (weeks →
months / quarters, for values and for quantiles)."""

from salesplan.models.hierarchy.frames import monotone_around_median
from salesplan.models.hierarchy.levels import TOTAL, LevelSpec, bottom_level, hierarchy_levels, level_label
from salesplan.models.hierarchy.reconcile import METHODS, HierarchicalReconciler, MethodChoice, choose_method
from salesplan.models.hierarchy.summing import SummingMatrix, aggregate, summing_matrix
from salesplan.models.hierarchy.temporal import (
    aggregate_quantiles,
    aggregate_sample_paths,
    estimate_error_correlation,
    period_coverage,
    quarter_coverage,
    to_periods,
    week_shares,
)

__all__ = [
    "METHODS",
    "TOTAL",
    "HierarchicalReconciler",
    "LevelSpec",
    "MethodChoice",
    "SummingMatrix",
    "aggregate",
    "aggregate_quantiles",
    "aggregate_sample_paths",
    "bottom_level",
    "choose_method",
    "estimate_error_correlation",
    "hierarchy_levels",
    "level_label",
    "monotone_around_median",
    "period_coverage",
    "quarter_coverage",
    "summing_matrix",
    "to_periods",
    "week_shares",
]
