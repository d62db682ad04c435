"""Guess the roles of a sell-out table's extra columns (hierarchy, promotions, regressors, static
attributes) from the data, so ``salesplan data validate FILE`` works on a file without four options.

The rules, in order (written here because no library infers Nixtla-style column roles):
- a column constant within every series is an attribute of the series. Text attributes form the
  hierarchy: each dimension is a chain bottom → parent → ... where every value of a level maps to exactly
  one value of the next (a functional dependency) with fewer distinct values; dimensions are added,
  largest bottom first, until their bottom columns together identify the series. Text attributes left
  over, and numeric ones, are static columns.
- a numeric column that varies within a series is a known-future regressor; it is a promotion when its
  name says so (``promo``, ``discount``, ``deal``, ``display``, ``feature``, ``coupon``, ``markdown``).
- text columns that vary within a series have no role: validation reports them as unknown.
Guesses are printed with the equivalent flags, so a wrong one is fixed by passing the flag."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from salesplan.contracts.sellout import OPTIONAL_NUMERIC, REQUIRED, Hierarchy, SelloutSpec

__all__ = ["InferredRoles", "infer_sellout_roles"]

PROMO_NAME = re.compile(r"promo|discount|deal|display|feature|coupon|markdown", re.IGNORECASE)


@dataclass(frozen=True)
class InferredRoles:
    """What was guessed (only for the roles the caller left open)."""

    hierarchy: Hierarchy | None = None
    promo_cols: tuple[str, ...] = ()
    exog_cols: tuple[str, ...] = ()
    static_cols: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.hierarchy or self.promo_cols or self.exog_cols or self.static_cols)

    def apply(self, spec: SelloutSpec) -> SelloutSpec:
        """``spec`` with the guessed roles added to the declared ones."""
        return replace(
            spec,
            hierarchy=spec.hierarchy or self.hierarchy,
            promo_cols=(*spec.promo_cols, *self.promo_cols),
            exog_cols=(*spec.exog_cols, *self.exog_cols),
            static_cols=(*spec.static_cols, *self.static_cols),
        )

    def flags(self) -> str:
        """The command-line options that declare the same roles."""
        out: list[str] = []
        if self.hierarchy:
            dims = ";".join(f"{d}={','.join(c)}" for d, c in self.hierarchy.levels.items())
            out.append(f"--hierarchy '{dims}'")
        for flag, cols in (
            ("promo", self.promo_cols),
            ("exog", self.exog_cols),
            ("static", self.static_cols),
        ):
            if cols:
                out.append(f"--{flag}-cols {','.join(cols)}")
        return " ".join(out)


def infer_sellout_roles(
    df: pd.DataFrame,
    spec: SelloutSpec,
    *,
    open_roles: Sequence[str] = ("hierarchy", "promo", "exog", "static"),
) -> InferredRoles:
    """Roles of the columns ``spec`` does not declare, for the roles in ``open_roles``."""
    if "unique_id" not in df.columns or df.empty:
        return InferredRoles()
    declared = set(spec.known_columns)
    extra = [c for c in df.columns if c not in declared and c not in REQUIRED and c not in OPTIONAL_NUMERIC]
    ids = df["unique_id"].astype(str)
    constant = {c for c in extra if df.groupby(ids, sort=False)[c].nunique(dropna=False).max() <= 1}
    numeric = {
        c for c in extra if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    }
    text_attrs = [c for c in extra if c in constant and c not in numeric]
    hierarchy = _hierarchy(df, ids, text_attrs) if "hierarchy" in open_roles and not spec.hierarchy else None
    in_tree = set(hierarchy.columns) if hierarchy else set()
    static = tuple(c for c in extra if c in constant and c not in in_tree) if "static" in open_roles else ()
    varying = [c for c in extra if c in numeric and c not in constant]
    promos = tuple(c for c in varying if PROMO_NAME.search(c)) if "promo" in open_roles else ()
    exog = tuple(c for c in varying if not PROMO_NAME.search(c)) if "exog" in open_roles else ()
    return InferredRoles(hierarchy, promos, exog, static)


def _hierarchy(df: pd.DataFrame, ids: pd.Series, attrs: list[str]) -> Hierarchy | None:
    """Dimensions built from series attributes until their bottoms identify the series (module rules)."""
    if not attrs:
        return None
    per_series = df.assign(_id=ids).groupby("_id", sort=False)[attrs].first()
    n_values = per_series.nunique()
    # ties: the later column first (tables are usually written top level → bottom level, left to right)
    order = sorted(attrs, key=lambda c: (-int(n_values[c]), -attrs.index(c)))
    used: set[str] = set()
    dims: dict[str, list[str]] = {}
    for bottom in order:
        if bottom in used or _identifies(per_series, [d[-1] for d in dims.values()]):
            continue
        chain = [bottom]
        used.add(bottom)
        while True:
            child = chain[-1]
            parents = [
                c
                for c in order
                if c not in used and n_values[c] < n_values[child] and _maps(per_series, child, c)
            ]
            if not parents:
                break
            # several candidates (store → region and store → channel): the nearest column to the left of
            # the child, as tables are written top → bottom; else the one with the most values
            here = attrs.index(child)
            best = min(parents, key=lambda c: (here - attrs.index(c)) if attrs.index(c) < here else 10**6)
            chain.append(best)
            used.add(best)
        dims[bottom] = chain[::-1]
    if not dims or not _identifies(per_series, [d[-1] for d in dims.values()]):
        return None
    return Hierarchy(dims)


def _maps(frame: pd.DataFrame, child: str, parent: str) -> bool:
    """Every value of ``child`` goes with exactly one value of ``parent``."""
    return bool(frame.groupby(child, sort=False)[parent].nunique(dropna=False).max() <= 1)


def _identifies(frame: pd.DataFrame, cols: list[str]) -> bool:
    return bool(cols) and not frame.duplicated(subset=cols).any()
