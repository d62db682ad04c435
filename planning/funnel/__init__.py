"""The sales funnel (Find → Meet → Pitch → Sign) read from the CRM: how many deals convert from stage to
stage, how long they take, what reps produce as they ramp, and, run backwards, the deals and reps a
quarter's target needs. All of it is censoring-aware: a deal still open on the as-of date is neither a
success nor a failure yet.

Modules: :mod:`.paths` (each deal's path as of a date, its stage spells, cuts and periods),
:mod:`.survival` (competing-risk estimates of a stage: Aalen–Johansen, the mixture EM rate),
:mod:`.conversion` (:func:`funnel`: stage and cumulative conversion with intervals), :mod:`.durations`
(:func:`velocity`: time in stage, cycle time; :func:`stalled` deals), :mod:`.reps` (:func:`productivity`
per rep-month, the ramp of new hires, attainment) and :mod:`.reverse` (:func:`reverse_funnel` from a
target to the deals and their entry windows, :func:`reps_needed`, empirical-Bayes rep rates)."""

from salesplan.planning.funnel.conversion import (
    FUNNEL_STAGES,
    METHODS,
    TRANSITIONS,
    FunnelResult,
    Method,
    funnel,
    rates,
    wilson,
)
from salesplan.planning.funnel.durations import DURATION_STAGES, Velocity, stalled, velocity
from salesplan.planning.funnel.paths import CUTS, DealPaths, data_end, deal_paths
from salesplan.planning.funnel.reps import Productivity, Ramp, estimate_ramp, productivity
from salesplan.planning.funnel.reverse import (
    FunnelInputs,
    ReversePlan,
    Staffing,
    capacity,
    forward_funnel,
    inputs_from_history,
    ramped_productivity,
    reps_needed,
    reverse_funnel,
    reverse_funnel_by,
    shrink,
)

__all__ = [
    "CUTS",
    "DURATION_STAGES",
    "FUNNEL_STAGES",
    "METHODS",
    "TRANSITIONS",
    "DealPaths",
    "FunnelInputs",
    "FunnelResult",
    "Method",
    "Productivity",
    "Ramp",
    "ReversePlan",
    "Staffing",
    "Velocity",
    "capacity",
    "data_end",
    "deal_paths",
    "estimate_ramp",
    "forward_funnel",
    "funnel",
    "inputs_from_history",
    "productivity",
    "ramped_productivity",
    "rates",
    "reps_needed",
    "reverse_funnel",
    "reverse_funnel_by",
    "shrink",
    "stalled",
    "velocity",
    "wilson",
]
