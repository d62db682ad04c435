"""The aggregation levels of a grouped hierarchy (``total``, ``region``, ``region/category``, ...) and the
readable ids of their series. Kept apart from the summing matrix so code that only names or orders levels
needs no sparse algebra."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from salesplan.contracts.sellout import Hierarchy

__all__ = ["TOTAL", "LevelSpec", "bottom_level", "hierarchy_levels", "level_label"]

TOTAL = "total"


@dataclass(frozen=True)
class LevelSpec:
    """One aggregation level: ``name`` ("total", "region", "region/category", ...), ``columns`` that key
    it (the deepest column of each dimension it splits by) and ``prefix`` (those columns plus their
    parents, which a row of this level also knows)."""

    name: str
    columns: tuple[str, ...]
    prefix: tuple[str, ...]
    is_bottom: bool


def hierarchy_levels(hierarchy: Hierarchy) -> list[LevelSpec]:
    """Every level of a grouped hierarchy: the cross product over dimensions of each dimension's
    prefixes (the empty prefix being that dimension's total), ordered from coarse to fine."""
    per_dim = [
        [tuple(cols[:k]) for k in range(len(cols) + 1)] for cols in map(list, hierarchy.levels.values())
    ]
    depth_full = [len(p) - 1 for p in per_dim]
    # first dimension varies fastest, so on equal depth geo levels come before product levels
    combos = [tuple(reversed(c)) for c in itertools.product(*reversed(per_dim))]
    combos.sort(key=lambda combo: sum(len(p) for p in combo))  # stable: keeps dimension order on ties
    out = []
    for combo in combos:
        columns = tuple(p[-1] for p in combo if p)
        prefix = tuple(c for p in combo for c in p)
        is_bottom = all(len(p) == d for p, d in zip(combo, depth_full, strict=True))
        out.append(LevelSpec("/".join(columns) if columns else TOTAL, columns, prefix, is_bottom))
    return out


def bottom_level(hierarchy: Hierarchy) -> LevelSpec:
    """The finest level, whose rows are the original series (``unique_id``)."""
    return hierarchy_levels(hierarchy)[-1]


def level_label(columns: Sequence[str], values: Iterable[object]) -> str:
    """Readable id of an aggregate series, e.g. ``region=North/category=Drinks``; ``total`` for none."""
    return "/".join(f"{c}={v}" for c, v in zip(columns, values, strict=True)) or TOTAL
