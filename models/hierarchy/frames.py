"""Frame plumbing shared by reconciliation and temporal aggregation: pivoting an all-levels long frame
onto the rows of ``S`` (with errors that name the missing level or series) and making a row's quantiles
monotone around its median. Quantile column names follow ``salesplan.contracts.forecast``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from salesplan.errors import DataValidationError, Problem
from salesplan.models.hierarchy.summing import SummingMatrix

__all__ = ["check_complete", "monotone_around_median", "problem", "time_keys", "to_matrix"]


def problem(column: str | None, message: str, rows: Iterable[object] = (), fix: str = "") -> Problem:
    """A validation finding that keeps a sample of five of ``rows`` and counts them all."""
    items = [str(r) for r in rows]
    return Problem(column, message, rows=tuple(items[:5]), n_rows=len(items), fix=fix)


def time_keys(frame: pd.DataFrame) -> list[str]:
    """A backtest frame has several forecasts per date, one per ``cutoff``."""
    return ["cutoff", "ds"] if "cutoff" in frame.columns else ["ds"]


def to_matrix(
    frame: pd.DataFrame, value: str | pd.Series, sm: SummingMatrix, source: str, require_all: bool = True
) -> tuple[np.ndarray, pd.MultiIndex | pd.Index, np.ndarray, np.ndarray]:
    """Pivot a long all-levels frame to (series in S order × dates). Also returns the date keys and,
    per input row, its (row, column) position so results can be written back in the input order."""
    keys = time_keys(frame)
    need = ["unique_id", *keys]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataValidationError([problem(None, f"column(s) {missing} missing", fix="add them")], source)
    pos = pd.Index(sm.keys["unique_id"])
    rows = pos.get_indexer(frame["unique_id"].astype(str))
    problems = []
    if (rows < 0).any():
        problems.append(
            problem(
                "unique_id",
                "series not in the hierarchy the reconciler was fitted on",
                frame.loc[rows < 0, "unique_id"].unique(),
                "fit the reconciler on the same hierarchy, or drop these series",
            )
        )
    if "level" in frame.columns:
        expected = sm.keys["level"].to_numpy()[np.maximum(rows, 0)]
        wrong = (rows >= 0) & (frame["level"].astype(str).to_numpy() != expected)
        if wrong.any():
            problems.append(
                problem(
                    "level",
                    "level does not match the series (e.g. a store id labelled 'region')",
                    frame.loc[wrong, "unique_id"].unique(),
                    "use the level names of models.hierarchy.hierarchy_levels",
                )
            )
    dates = pd.MultiIndex.from_frame(frame[keys]) if len(keys) > 1 else pd.Index(frame["ds"])
    uniq = dates.unique().sort_values()
    cols = uniq.get_indexer(dates)
    dup = pd.Series(rows * len(uniq) + cols).duplicated(keep=False).to_numpy() & (rows >= 0)
    if dup.any():
        problems.append(
            problem(
                None,
                "duplicate rows for one series and date",
                frame.loc[dup, "unique_id"].unique(),
                "keep one forecast per unique_id and ds (and cutoff)",
            )
        )
    if problems:
        raise DataValidationError(problems, source)
    values = frame[value].to_numpy(dtype=float) if isinstance(value, str) else value.to_numpy(dtype=float)
    mat = np.full((len(pos), len(uniq)), np.nan)
    mat[rows, cols] = values
    if require_all:
        check_complete(frame, mat, sm, source, value if isinstance(value, str) else "value")
    return mat, uniq, rows, cols


def check_complete(frame: pd.DataFrame, mat: np.ndarray, sm: SummingMatrix, source: str, col: str) -> None:
    """Every series of every level needs a value at every date; name what is missing, level first."""
    present = set(frame["unique_id"].astype(str))
    ids, levels = sm.keys["unique_id"], sm.keys["level"]
    absent = ~ids.isin(present)
    problems = []
    lost = [lv for lv in levels.unique() if absent[levels == lv].all()]
    if lost:
        problems.append(
            problem(
                "level",
                f"level(s) {lost} missing: reconciliation needs base forecasts of every level",
                fix="forecast every level (models.hierarchy.aggregate builds the actuals of each) or "
                "use method='bottom_up' with bottom forecasts summed by aggregate()",
            )
        )
    partial = absent & ~levels.isin(lost)
    if partial.any():
        problems.append(
            problem(
                "unique_id",
                "series missing from the forecast frame",
                [f"{u} (level {lv})" for u, lv in zip(ids[partial], levels[partial], strict=True)],
                "forecast every series of every level",
            )
        )
    holes = np.isnan(mat) & ~absent.to_numpy()[:, None]
    if holes.any():
        problems.append(
            problem(
                col,
                "missing or NaN values for some series and dates",
                ids.to_numpy()[holes.any(axis=1)],
                "every series needs a value at every forecast date",
            )
        )
    if problems:
        raise DataValidationError(problems, source)


def monotone_around_median(q: np.ndarray, levels: Sequence[float], centre: np.ndarray) -> np.ndarray:
    """Make each row's quantiles non-decreasing without moving the (coherent) median: quantiles below
    0.5 are capped by their upper neighbour, those above floored by their lower neighbour."""
    q = q.copy()
    lv = np.asarray(levels)
    below = np.flatnonzero(lv < 0.5)[::-1]
    above = np.flatnonzero(lv > 0.5)
    upper = centre.copy()
    for j in below:
        q[:, j] = np.minimum(q[:, j], upper)
        upper = q[:, j]
    lower = centre.copy()
    for j in above:
        q[:, j] = np.maximum(q[:, j], lower)
        lower = q[:, j]
    return q
