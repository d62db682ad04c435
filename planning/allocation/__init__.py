"""Quota allocation down a unit tree (region → team → rep, or region → store → product), per quarter.

Totals. At every parent, the children's targets sum to ``round(parent_cents × (1 + over_assignment))``
cents exactly: the parent target is what is preserved, the over-assignment is the explicit, documented
excess handed down (none by default; one number compounds per level, a per-level mapping applies only
where named — proposals apply it once, at the leaf level). Each root receives its top target.

Shares. ``top_down`` splits by a weighted blend of potential shares (forecast, last year, territory...
each column normalised within the parent first, so the scales do not matter); ``bottom_up`` takes each
leaf's own basis × (1 + growth) and rolls it up (a parent is its children's sum / (1 + over_assignment));
``blended`` mixes the two amounts per unit and re-splits so the given top target holds. Potentials are
read on the leaves, scaled by the ramp of new reps, and summed up the tree.

Bounds (floor, cap, capacity, ±max_change vs last quota, overrides). Parents whose proportional split
stays inside every child's bounds keep it. Where a bound binds, all such parents are solved together in
one sparse linear programme with HiGHS: start from the split clipped to the bounds and move the other
children as little as possible — minimise the largest move relative to each child's proportional amount
— so the rest of the siblings absorb the gap in proportion to their potential. Then every target is
rounded to cents by largest remainder within its parent, which keeps each sum exact and each bound held.
Bounds that cannot hold together raise ``InfeasibleError`` naming the parent, the sums and the units.

Modules: :mod:`.tree` (unit tree, ramp, roll-up, shares, bounds), :mod:`.solve` (HiGHS LP, its closed
form, cent rounding), :mod:`.engine` (:func:`allocate`, :func:`rebalance`, :func:`check_totals`) and
:mod:`.rows` (:func:`rebalance_rows`: overrides on a stored proposal's rows, without re-allocating)."""

from salesplan.planning.allocation.engine import LP_MAX_VARS, PASS_THROUGH, allocate, check_totals, rebalance
from salesplan.planning.allocation.rows import rebalance_rows
from salesplan.planning.allocation.tree import METHODS, SOLVERS

__all__ = [
    "LP_MAX_VARS",
    "METHODS",
    "PASS_THROUGH",
    "SOLVERS",
    "allocate",
    "check_totals",
    "rebalance",
    "rebalance_rows",
]
