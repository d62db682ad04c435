"""Quarterly target proposals, sell-out (from the batch forecast) or bookings (from the CRM): what a planner
asks for, the company target set by probability, growth or value, its split down the unit tree, phasing
and every unit's probability of hitting its target.

The flow: a :class:`ProposalRequest` (the one definition of every parameter and its domain) →
:func:`plan_inputs` (quarter distributions, unit tree, actuals, monthly shape; the costly part) →
:func:`build_from_inputs` / :func:`build_proposal` (company target → allocation → phasing → p_hit and
fairness) → :class:`ProposalResult`. The slider maps probability ↔ target with :func:`probability_curve`
and :func:`implied_probability_for`.

Modules: :mod:`.request` (the request model, its ranges and messages), :mod:`.inputs` (gathering and
checking the inputs per domain), :mod:`.tree` (the sell-out unit tree, from hierarchy columns or from the
sums), :mod:`.targets` (targets from quarter distributions, probability ↔ target, the proposal rows of an
allocation) and :mod:`.build` (one proposal, for either domain)."""

from salesplan.planning.proposals.build import (
    DEFAULT_P_HIT_FLOOR,
    ProposalResult,
    below_floor,
    build_from_inputs,
    build_proposal,
    implied_probability_for,
    plan_inputs,
)
from salesplan.planning.proposals.inputs import PlanInputs, bookings_inputs, sellout_inputs
from salesplan.planning.proposals.request import (
    BOOKINGS_LEVELS,
    MAX_AMOUNT,
    METHODS,
    MODES,
    QUARTER_HORIZON,
    QUARTER_PATTERN,
    Amounts,
    Domain,
    Method,
    Mode,
    ProposalRequest,
    Range,
    check_quarter_range,
    explain,
    resolve_domain,
)
from salesplan.planning.proposals.targets import (
    implied_probability,
    probability_curve,
    proposal,
    target_for_probability,
    unit_target,
    unit_targets,
)
from salesplan.planning.proposals.tree import TOTAL, check_tree, infer_tree, tree_from_columns

__all__ = [
    "BOOKINGS_LEVELS",
    "DEFAULT_P_HIT_FLOOR",
    "MAX_AMOUNT",
    "METHODS",
    "MODES",
    "QUARTER_HORIZON",
    "QUARTER_PATTERN",
    "TOTAL",
    "Amounts",
    "Domain",
    "Method",
    "Mode",
    "PlanInputs",
    "ProposalRequest",
    "ProposalResult",
    "Range",
    "below_floor",
    "bookings_inputs",
    "build_from_inputs",
    "build_proposal",
    "check_quarter_range",
    "check_tree",
    "explain",
    "implied_probability",
    "implied_probability_for",
    "infer_tree",
    "plan_inputs",
    "probability_curve",
    "proposal",
    "resolve_domain",
    "sellout_inputs",
    "target_for_probability",
    "tree_from_columns",
    "unit_target",
    "unit_targets",
]
