"""Sales process and productivity from activities (what people did, when, for how long) along Find → Meet →
Pitch → Sign → Deliver → Operate: pure functions over the CRM and the activity frames.

Modules: :mod:`.data` (:func:`process_data`, the prepared inputs every analysis shares), :mod:`.lifecycle`
(:func:`full_funnel` through Deliver, Operate and the post-sale milestones, censoring-aware, reusing
:mod:`planning.funnel`), :mod:`.allocation` (:func:`time_allocation` by role × stage × location group,
:func:`hours_vs_outcome`), :mod:`.inefficiency` (:func:`find_inefficiencies`, :func:`score_findings`),
:mod:`.cadence` (:func:`standard_cadence` of the best quartile, adherence, its within-rep effect),
:mod:`.scorecards` (:func:`scorecards` per person and role with gaps and actions; :mod:`.roles` adds the
metrics of team leads and onboarders: team attainment, coaching, onboardings), :mod:`.capacity`
(:func:`capacity_plan`: reverse funnel and headcount with measured hours), :mod:`.report` (HTML pages,
the Excel workbook) and :mod:`.workbench` (:class:`ProcessWorkbench`: the default analyses of one data set,
computed once, for the CLI, the API and the demo alike)."""

from salesplan.planning.process.allocation import (
    ALLOCATION_CUTS,
    TimeAllocation,
    hours_vs_outcome,
    time_allocation,
)
from salesplan.planning.process.cadence import Cadence, rep_win_rates, standard_cadence
from salesplan.planning.process.capacity import (
    CapacityInputs,
    CapacityPlan,
    capacity_inputs,
    capacity_plan,
    selling_hours_per_rep_month,
    stage_hours,
)
from salesplan.planning.process.data import INTERNAL, OVERHEAD_TYPES, PRE_SALE, ProcessData, process_data
from salesplan.planning.process.inefficiency import (
    Inefficiencies,
    find_inefficiencies,
    pattern_label,
    score_findings,
)
from salesplan.planning.process.lifecycle import LIFECYCLE_STEPS, FullFunnel, Milestones, full_funnel
from salesplan.planning.process.report import (
    METRIC_LABELS,
    process_report,
    scorecard_page,
    scorecards_workbook,
)
from salesplan.planning.process.roles import COACHING_TYPES, ROLE_METRICS, manager_rows
from salesplan.planning.process.scorecards import LOWER_IS_BETTER, METRICS, Scorecards, scorecards
from salesplan.planning.process.workbench import ProcessWorkbench

__all__ = [
    "ALLOCATION_CUTS",
    "COACHING_TYPES",
    "INTERNAL",
    "LIFECYCLE_STEPS",
    "LOWER_IS_BETTER",
    "METRICS",
    "METRIC_LABELS",
    "OVERHEAD_TYPES",
    "PRE_SALE",
    "ROLE_METRICS",
    "Cadence",
    "CapacityInputs",
    "CapacityPlan",
    "FullFunnel",
    "Inefficiencies",
    "Milestones",
    "ProcessData",
    "ProcessWorkbench",
    "Scorecards",
    "TimeAllocation",
    "capacity_inputs",
    "capacity_plan",
    "find_inefficiencies",
    "full_funnel",
    "hours_vs_outcome",
    "manager_rows",
    "pattern_label",
    "process_data",
    "process_report",
    "rep_win_rates",
    "score_findings",
    "scorecard_page",
    "scorecards",
    "scorecards_workbook",
    "selling_hours_per_rep_month",
    "stage_hours",
    "standard_cadence",
    "time_allocation",
]
