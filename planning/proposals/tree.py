"""The unit tree of a sell-out plan (total → region → store, or total → category → product).

From the hierarchy columns when the frames carry them (the batch outputs do: each node's own key and its
parents'), see :func:`tree_from_columns`. Otherwise from the numbers: a level's ``unique_id`` names only
its own column (``store=S01``), so it does not say which region a store is in. The frames are coherent
by construction, though (every parent equals the sum of its children in every week), and sales are not
negative, so a child fits under a parent only if it is ≤ the parent's still unexplained remainder in
every period. Children that fit exactly one parent
are assigned and subtracted, which narrows the others; when every remaining child fits several, the
remainders are solved as a linear combination of the children (unique when their series are linearly
independent, i.e. fewer children than periods), accepted only if the weights are 0/1. The result is then
checked: every parent must equal the sum of its children in every period, or the tree is refused (pass
``tree=`` instead, e.g. from the hierarchy columns of the sell-out data; needed for very wide levels)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, Problem

__all__ = ["FREQ_ORDER", "REL_TOL", "TOTAL", "check_tree", "infer_tree", "tree_from_columns"]

TOTAL = "total"
FREQ_ORDER = ("W", "M", "Q")
REL_TOL = 1e-6
"""Relative tolerance of the sums (float sums of many weeks, stored as Parquet doubles)."""


def _series(frames: Sequence[pd.DataFrame], level: str) -> pd.DataFrame:
    """Units × time points of one level: the finest frequency each frame has, values ``y`` (history)
    or ``yhat`` (forecast), side by side for every frame (more points → fewer ties)."""
    parts = []
    for i, f in enumerate(frames):
        col = "y" if "y" in f.columns else "yhat" if "yhat" in f.columns else None
        if col is None or "level" not in f.columns:
            continue
        rows = f[f["level"] == level]
        if "freq" in rows.columns and len(rows):
            freq = next((fr for fr in FREQ_ORDER if (rows["freq"] == fr).any()), None)
            rows = rows[rows["freq"] == freq]
        if rows.empty:
            continue
        wide = rows.groupby(["unique_id", "ds"])[col].sum(min_count=1).unstack("ds")
        wide.columns = [f"{i}:{c}" for c in wide.columns]
        parts.append(wide)
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, axis=1)
    out.index = out.index.astype(str)
    return out


def _solve(c: np.ndarray, r: np.ndarray, fits: np.ndarray) -> np.ndarray | None:
    """Parent per child from least squares ``r ≈ Aᵀ·c`` (children × parents weights), accepted only when
    the children's series are linearly independent and every weight comes out 0 or 1 within 1e-3 (then
    the membership is the only one the numbers allow); None otherwise."""
    norm = np.linalg.norm(c, axis=1)
    if c.shape[0] > c.shape[1] or (norm == 0).any():
        return None
    x = (c / norm[:, None]).T
    if np.linalg.matrix_rank(x) < c.shape[0]:
        return None
    a = np.linalg.lstsq(x, r.T, rcond=None)[0] / norm[:, None]  # (children, parents)
    p_of = a.argmax(axis=1)
    onehot = np.zeros_like(a)
    onehot[np.arange(len(a)), p_of] = 1.0
    if np.abs(a - onehot).max() > 1e-3 or not fits[np.arange(len(a)), p_of].all():
        return None
    return p_of


def _assign(child: pd.DataFrame, parent: pd.DataFrame, names: tuple[str, str]) -> dict[str, str]:
    """Parent of every child row, by dominance and peeling (module docstring); raises when unsure."""
    cols = child.columns.intersection(parent.columns)
    c = child[cols].fillna(0.0).to_numpy(dtype=float)
    r = parent.reindex(columns=cols).to_numpy(dtype=float)
    keep = ~np.isnan(r).any(axis=0)
    c, r = c[:, keep], np.nan_to_num(r[:, keep])
    if c.shape[1] == 0:
        raise ConfigError(f"no common periods of {names[0]} and {names[1]} to tell the tree from; pass tree=")
    tol = REL_TOL * np.maximum(np.abs(r).max(axis=1), 1.0)
    owner = np.full(len(c), -1)
    while (owner < 0).any():
        free = np.flatnonzero(owner < 0)
        fits = np.stack([(c[free] <= r[p] + tol[p]).all(axis=1) for p in range(len(r))], axis=1)
        n_fit = fits.sum(axis=1)
        lost = free[n_fit == 0]
        if len(lost):
            raise ConfigError(
                f"{names[1]} unit(s) {child.index[lost][:5].tolist()} fit under no {names[0]} unit: the "
                f"{names[1]} level is not nested in {names[0]} (is it another hierarchy dimension?) or the "
                "frames are not coherent. Fix: order `by` top → bottom within one dimension, or pass tree="
            )
        sure = free[n_fit == 1]
        if len(sure):
            p_of = fits[n_fit == 1].argmax(axis=1)
        else:  # every child fits several parents: solve remainder = A · children (unique if independent)
            sure, p_of = free, _solve(c[free], r, fits)
            if p_of is None:
                raise ConfigError(
                    f"cannot tell from the numbers which {names[0]} the {names[1]} unit(s) "
                    f"{child.index[free][:5].tolist()} belong to (they fit several). Fix: pass tree= "
                    "(unit_id, parent_id, level) built from the hierarchy columns of the sell-out data"
                )
        owner[sure] = p_of
        r -= np.stack([c[sure][p_of == p].sum(axis=0) for p in range(len(r))])
    off = np.flatnonzero((np.abs(r) > tol[:, None]).any(axis=1))
    if len(off):
        raise ConfigError(
            f"{names[0]} unit(s) {parent.index[off][:5].tolist()} are not the sum of their {names[1]} units "
            "in every period (incoherent frames, or units missing from one level). Fix: pass the "
            "coherent Forecast/history frames of one run, or pass tree="
        )
    return dict(zip(child.index, parent.index[owner], strict=True))


def _key(df: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    """Hierarchy-column values joined into one key per row; NaN where any of them is empty."""
    parts = df[list(cols)].astype(object).where(df[list(cols)].notna() & (df[list(cols)].astype(str) != ""))
    key = parts.astype(str).agg("\x1f".join, axis=1)
    return key.where(parts.notna().all(axis=1))


def tree_from_columns(frame: pd.DataFrame | None, levels: Sequence[str]) -> pd.DataFrame | None:
    """``unit_id, parent_id, level`` from the hierarchy columns the batch frames carry (each node's own
    key and its parents'), or None when the frame lacks them or they do not link every unit up."""
    if frame is None or not all(c in frame.columns for c in levels) or "level" not in frame.columns:
        return None
    root = frame.loc[frame["level"] == TOTAL, "unique_id"].astype(str).unique()
    if len(root) != 1:
        return None
    rows = [pd.DataFrame({"unit_id": root, "parent_id": [None], "level": [TOTAL]})]
    for k, lv in enumerate(levels):
        mine = frame[frame["level"] == lv].drop_duplicates("unique_id")
        if mine.empty:
            return None
        if k == 0:
            parent = pd.Series(root[0], index=mine.index)
        else:
            up = frame[frame["level"] == levels[k - 1]].drop_duplicates("unique_id")
            up_key = _key(up, levels[:k])
            if up_key.isna().any() or up_key.duplicated().any():
                return None
            parent = _key(mine, levels[:k]).map(dict(zip(up_key, up["unique_id"].astype(str), strict=True)))
            if parent.isna().any():
                return None
        rows.append(pd.DataFrame({"unit_id": mine["unique_id"].astype(str).to_numpy(),
                                  "parent_id": parent.to_numpy(dtype=object), "level": lv}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def infer_tree(frames: Sequence[pd.DataFrame | None], levels: Sequence[str]) -> pd.DataFrame:
    """``unit_id, parent_id, level`` for ``total`` and each of ``levels`` (top → bottom) from coherent
    frames with ``unique_id, level, ds`` and ``y`` or ``yhat`` (``freq`` optional; the finest is used)."""
    fs = [f for f in frames if f is not None and len(f)]
    mats = {lv: _series(fs, lv) for lv in (TOTAL, *levels)}
    empty = [lv for lv, m in mats.items() if m.empty]
    if empty:
        raise ConfigError(f"no rows for level(s) {empty} in the forecast/history frames; pass tree=")
    if len(mats[TOTAL]) != 1:
        raise ConfigError(f"level 'total' must have one unit, got {mats[TOTAL].index.tolist()[:5]}")
    rows = [(mats[TOTAL].index[0], None, TOTAL)]
    chain = [TOTAL, *levels]
    for up, down in itertools.pairwise(chain):
        if len(mats[up]) == 1:
            owner = dict.fromkeys(mats[down].index, mats[up].index[0])
        else:
            owner = _assign(mats[down], mats[up], (up, down))
        rows += [(u, owner[u], down) for u in mats[down].index]
    return pd.DataFrame(rows, columns=["unit_id", "parent_id", "level"])


def check_tree(tree: pd.DataFrame, levels: Sequence[str]) -> pd.DataFrame:
    """A given tree, validated: one root at level ``total``, the levels asked for, parents one level up."""
    need = [c for c in ("unit_id", "parent_id", "level") if c not in tree.columns]
    if need:
        raise DataValidationError(
            [Problem(c, "column missing", fix="tree needs unit_id, parent_id, level") for c in need], "tree"
        )
    t = tree[["unit_id", "parent_id", "level"]].copy()
    t["unit_id"] = t["unit_id"].astype(str)
    t["parent_id"] = t["parent_id"].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
    chain = [TOTAL, *levels]
    t = t[t["level"].isin(chain)].reset_index(drop=True)
    lv = dict(zip(t["unit_id"], t["level"], strict=False))
    problems = []
    if (t["level"] == TOTAL).sum() != 1:
        problems.append(Problem("level", "the tree needs exactly one unit at level 'total'"))
    dup = t["unit_id"].duplicated(keep=False)
    if dup.any():
        problems.append(Problem("unit_id", "duplicate unit", rows=t.loc[dup, "unit_id"].head(5).tolist(),
                                n_rows=int(dup.sum())))  # fmt: skip
    up = {b: a for a, b in itertools.pairwise(chain)}
    bad = t["level"].ne(TOTAL) & (t["parent_id"].map(lv) != t["level"].map(up))
    if bad.any():
        problems.append(
            Problem(
                "parent_id",
                "parent is not a unit of the level above",
                rows=t.loc[bad, "unit_id"].head(5).tolist(),
                n_rows=int(bad.sum()),
                fix=f"link every unit to a unit one level up in {chain}",
            )
        )
    absent = [x for x in levels if x not in set(t["level"])]
    if absent:
        problems.append(Problem("level", f"no units at level(s) {absent}", fix="add them or change `by`"))
    if problems:
        raise DataValidationError(problems, "tree")
    return t
