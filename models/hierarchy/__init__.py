"""Forecasts across a hierarchy: the levels of a grouped hierarchy (region, store, category, ...), bottom-up
sums and MinT reconciliation that make every level coherent, and temporal aggregation of values to every
coarser calendar frequency (the time hierarchy: days → weeks → months → quarters → years, weeks split by
their days, so totals are conserved exactly).

Modules: :mod:`.levels` (the aggregation levels and their series ids), :mod:`.summing` (summing matrix
``S``, :func:`aggregate`), :mod:`.mint` (the MinT linear algebra: shrunk weights, GLS projection, its
non-negative version), :mod:`.reconcile` (:class:`HierarchicalReconciler`, :func:`choose_method`),
:mod:`.frames` (pivoting long frames onto ``S``, monotone quantiles), :mod:`.temporal` (values to
coarser frequencies) and :mod:`.temporal_quantiles` (distributions of period sums)."""

from salesplan.models.hierarchy.frames import monotone_around_median
from salesplan.models.hierarchy.levels import TOTAL, LevelSpec, bottom_level, hierarchy_levels, level_label
from salesplan.models.hierarchy.reconcile import METHODS, HierarchicalReconciler, MethodChoice, choose_method
from salesplan.models.hierarchy.summing import SummingMatrix, aggregate, summing_matrix
from salesplan.models.hierarchy.t_normal import t_normal_quantiles
from salesplan.models.hierarchy.temporal import (
    Period,
    parse_period,
    period_coverage,
    period_shares,
    quarter_coverage,
    to_periods,
    week_shares,
)
from salesplan.models.hierarchy.temporal_quantiles import (
    ErrorDependence,
    aggregate_moments,
    aggregate_quantiles,
    aggregate_sample_paths,
    error_dependence,
    estimate_error_correlation,
    estimate_error_dependence,
    moment_quantiles,
)

__all__ = [
    "METHODS",
    "TOTAL",
    "ErrorDependence",
    "HierarchicalReconciler",
    "LevelSpec",
    "MethodChoice",
    "Period",
    "SummingMatrix",
    "aggregate",
    "aggregate_moments",
    "aggregate_quantiles",
    "aggregate_sample_paths",
    "bottom_level",
    "choose_method",
    "error_dependence",
    "estimate_error_correlation",
    "estimate_error_dependence",
    "hierarchy_levels",
    "level_label",
    "moment_quantiles",
    "monotone_around_median",
    "parse_period",
    "period_coverage",
    "period_shares",
    "quarter_coverage",
    "summing_matrix",
    "t_normal_quantiles",
    "to_periods",
    "week_shares",
]
