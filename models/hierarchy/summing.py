"""The summing matrix ``S`` of a grouped hierarchy (every series of every level as a sum of bottom
series), the checks that a frame really describes a nested hierarchy, and plain bottom-up sums
(:func:`aggregate`). Kept apart from the reconciler so code can aggregate actuals without the MinT
linear algebra."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse

from salesplan.contracts.sellout import Hierarchy
from salesplan.errors import DataValidationError, Problem
from salesplan.models.hierarchy.levels import TOTAL, bottom_level, hierarchy_levels, level_label

__all__ = ["SummingMatrix", "aggregate", "bottom_table", "summing_matrix"]

SAMPLE = 5


class SummingMatrix(NamedTuple):
    """``S`` (rows: every series of every level; columns: bottom series) and ``keys``, one row per row
    of ``S`` with ``unique_id``, ``level`` and the hierarchy columns that row knows. The last
    ``n_bottom`` rows are the bottom series in the order of the columns of ``S``."""

    S: sparse.csr_array
    keys: pd.DataFrame

    @property
    def n_bottom(self) -> int:
        return int(self.S.shape[1])

    @property
    def bottom_ids(self) -> list[str]:
        return self.keys["unique_id"].iloc[-self.n_bottom :].tolist()


def _problem(column: str | None, message: str, rows: Iterable[object] = (), fix: str = "") -> Problem:
    items = [str(r) for r in rows]
    return Problem(column, message, rows=tuple(items[:SAMPLE]), n_rows=len(items), fix=fix)


def bottom_table(frame: pd.DataFrame, hierarchy: Hierarchy, source: str = "hierarchy keys") -> pd.DataFrame:
    """One row per bottom series (``unique_id`` + hierarchy columns, as strings, sorted by id), after
    checking that the frame really describes a nested hierarchy; raises one DataValidationError."""
    need = ["unique_id", *hierarchy.columns]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataValidationError(
            [
                _problem(
                    None,
                    f"column(s) {missing} missing; the hierarchy {hierarchy.to_dict()} needs them",
                    fix="add the hierarchy columns to the bottom-level rows (e.g. merge them from the "
                    "sell-out frame on unique_id) or pass bottom_keys",
                )
            ],
            source,
        )
    keys = frame[need].drop_duplicates()
    problems: list[Problem] = []
    nulls = keys[keys[need].isna().any(axis=1)]
    if len(nulls):
        problems.append(
            _problem(None, "missing id or hierarchy value(s)", nulls["unique_id"], "fill every level")
        )
        raise DataValidationError(problems, source)
    keys = keys.astype(str)
    dup = keys["unique_id"][keys["unique_id"].duplicated()]
    if len(dup):
        problems.append(
            _problem(
                "unique_id",
                "series with more than one hierarchy position",
                dup.unique(),
                "each unique_id must sit at exactly one place in every dimension",
            )
        )
    for dim, cols in hierarchy.levels.items():
        for parent, child in itertools.pairwise(cols):
            n = keys.groupby(child)[parent].nunique()
            for c in n[n > 1].index:
                problems.append(
                    _problem(
                        child,
                        f"{child} {c!r} belongs to more than one {parent} (dimension {dim})",
                        fix=f"make {child} ids unique per {parent}",
                    )
                )
    combo = keys.duplicated(hierarchy.bottom, keep=False)
    if combo.any() and not len(dup):
        problems.append(
            _problem(
                "unique_id",
                f"several unique_ids share one combination of {hierarchy.bottom}",
                keys.loc[combo, "unique_id"],
                "unique_id must be the bottom key of the hierarchy",
            )
        )
    if problems:
        raise DataValidationError(problems, source)
    return keys.sort_values("unique_id", kind="stable").reset_index(drop=True)


def summing_matrix(
    bottom_keys_frame: pd.DataFrame, hierarchy: Hierarchy, source: str = "hierarchy keys"
) -> SummingMatrix:
    """Sparse ``S`` for the grouped hierarchy spanned by the bottom series in ``bottom_keys_frame``
    (needs ``unique_id`` and every hierarchy column; repeated rows, e.g. one per week, are fine)."""
    bottom = bottom_table(bottom_keys_frame, hierarchy, source)
    m = len(bottom)
    blocks, key_frames = [], []
    for spec in hierarchy_levels(hierarchy):
        if spec.is_bottom:
            blocks.append(sparse.identity(m, format="csr"))
            kf = bottom.copy()
        elif not spec.prefix:
            blocks.append(sparse.csr_array(np.ones((1, m))))
            kf = pd.DataFrame({"unique_id": [TOTAL]})
        else:
            codes = bottom.groupby(list(spec.prefix), sort=True).ngroup().to_numpy()
            n = int(codes.max()) + 1
            blocks.append(sparse.csr_array((np.ones(m), (codes, np.arange(m))), shape=(n, m)))
            kf = bottom.groupby(list(spec.prefix), sort=True).size().reset_index()[list(spec.prefix)]
            kf.insert(0, "unique_id", [level_label(spec.columns, v) for v in kf[list(spec.columns)].values])
        kf["level"] = spec.name
        key_frames.append(kf)
    keys = pd.concat(key_frames, ignore_index=True)
    keys = keys[["unique_id", "level", *hierarchy.columns]]
    clash = keys["unique_id"][keys["unique_id"].duplicated()]
    if len(clash):
        raise DataValidationError(
            [
                _problem(
                    "unique_id",
                    "a bottom unique_id equals the label of an aggregate series",
                    clash.unique(),
                    "rename the series (aggregate labels look like 'region=North' or 'total')",
                )
            ],
            source,
        )
    S = sparse.csr_array(sparse.vstack(blocks, format="csr"))
    return SummingMatrix(S, keys)


def aggregate(
    df: pd.DataFrame,
    hierarchy: Hierarchy,
    value_cols: Sequence[str],
    *,
    keys: pd.DataFrame | None = None,
    time_col: str = "ds",
) -> pd.DataFrame:
    """Sum bottom-level values (actuals or forecasts) to every level of the hierarchy; returns the long
    frame ``unique_id, ds, level, <hierarchy columns>, <value_cols>``. Bottom rows keep their ids.

    If ``df`` has a ``level`` column only its bottom rows are used. Hierarchy columns missing from ``df``
    are merged from ``keys`` (``unique_id`` + hierarchy columns). A NaN value makes its parents NaN:
    a parent with an unknown child is unknown. A series without a row at some date adds nothing."""
    value_cols = list(value_cols)
    bottom_name = bottom_level(hierarchy).name
    data = df[df["level"] == bottom_name] if "level" in df.columns else df
    if keys is not None and any(c not in data.columns for c in hierarchy.columns):
        have = [c for c in hierarchy.columns if c in data.columns]
        data = data.drop(columns=have).merge(
            keys[["unique_id", *hierarchy.columns]].drop_duplicates(), on="unique_id", how="left"
        )
    absent = [c for c in [time_col, *value_cols] if c not in data.columns]
    if absent:
        raise DataValidationError(
            [_problem(None, f"column(s) {absent} missing", fix="pass the time column and the value columns")],
            "aggregate",
        )
    bottom = bottom_table(data, hierarchy, "aggregate")
    data = data[["unique_id", time_col, *value_cols]].merge(
        bottom, on="unique_id", how="left", validate="many_to_one"
    )
    parts = []
    for spec in hierarchy_levels(hierarchy):
        group = [*spec.prefix, time_col]
        if spec.is_bottom:
            part = data.copy()
        else:
            g = data.groupby(group, sort=True)
            sums = g[value_cols].sum()
            unknown = data[value_cols].isna().groupby([data[c] for c in group]).any()
            part = sums.mask(unknown).reset_index()
            cols = list(spec.columns)
            part.insert(0, "unique_id", [level_label(cols, v) for v in part[cols].values] if cols else TOTAL)
        part["level"] = spec.name
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    return out[["unique_id", time_col, "level", *hierarchy.columns, *value_cols]]
