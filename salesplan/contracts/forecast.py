"""The forecast frames every layer reads, and the one rule that names quantile columns.

The forecast training run writes two frames next to the registered model (its batch outputs); the
service, the planner, the CLI and the reports read them back. Their columns are defined here once.

Batch forecast frame (``forecast_columns``): one row per unit of a hierarchy level, frequency and period
of the forecast horizon, coherent (every parent is the sum of its children, and finer periods add up to
coarser ones: months to quarters, quarters to years, at every level).

- ``unique_id``: the unit (``North``, ``North/S01``, ``total``); ``level``: its hierarchy level (a panel
  without a hierarchy has ``total`` and ``series``).
- ``freq``: the data's frequency or a coarser one (``D``, ``W``, ``M``, ``Q``, ``Y``; see
  ``contracts.periods``); ``period``: ``2027-01-04`` (D, W), ``2027-01`` (M), ``2027Q1`` (Q), ``2027`` (Y);
  ``ds``: the period start.
- ``yhat``: the point forecast, the **mean** of the row's forecast distribution (means add up, so the
  levels and periods are coherent in it); quantile columns (``quantile_cols``, default grid
  ``QUANTILES``): quantiles of that same distribution, non-decreasing along the grid, ``q50`` its median,
  and ``q10 <= yhat <= q90`` on every row.
- ``coverage``: share of the period inside the horizon (below 1: a partly forecast period).
- ``source``: the calibration pool the quantiles came from.
- ``method``: what made the point: at the bottom level the members carrying the series' weight
  (``blend: GlobalLGBM 0.62, AutoETS 0.38``), prefixed ``short history:`` when the series was too short
  for the members that need more periods, or ``cold start: ...``; ``sum`` for aggregates
  (``training.batch_methods``).
- ``assumed_share``: share of the period's days whose price and promotion plan was assumed, not given.
- hierarchy columns: the unit's own key and its parents (empty for levels that do not split by them).
- ``model``, ``model_version``: the registered forecaster that produced the row.

History frame (``history_columns``): actuals of the same units, whole periods only: ``unique_id, level,
freq, period, ds, y`` and the hierarchy columns.

Quantile columns are named by their percentage: two digits for whole percents (``q05``, ``q10``, ...,
``q95``, so names sort by level), the shortest decimal otherwise (``q2.5``, ``q97.5``). Every frame of
salesplan that carries quantiles, from a model's prediction to an API answer, uses these names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = [
    "MODEL_COLUMNS",
    "PERIOD_COLUMNS",
    "QUANTILES",
    "forecast_columns",
    "history_columns",
    "is_quantile_col",
    "quantile_col",
    "quantile_cols",
    "quantile_level",
    "quantile_levels",
]

QUANTILES: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
"""The quantile grid of the batch forecast (and the default of every consumer that needs a full grid)."""
PERIOD_COLUMNS: tuple[str, ...] = ("unique_id", "level", "freq", "period", "ds")
"""The key of a row of either frame: unit, level, frequency, period."""
MODEL_COLUMNS: tuple[str, ...] = ("model", "model_version")

_NAME = re.compile(r"q(\d+(?:\.\d+)?)")


def quantile_col(q: float) -> str:
    """Column name of quantile level ``q``: 0.05 → ``q05``, 0.1 → ``q10``, 0.025 → ``q2.5``."""
    pct = round(float(q) * 100, 4)
    if not 0.0 < pct < 100.0:
        raise ValueError(f"a quantile level lies strictly between 0 and 1, got {q!r}")
    return f"q{int(pct):02d}" if pct == int(pct) else f"q{pct:g}"


def quantile_level(col: str) -> float:
    """Level of a quantile column, the inverse of ``quantile_col``: ``q05`` → 0.05, ``q97.5`` → 0.975.
    Only the names ``quantile_col`` writes are accepted (``q5`` is not one: it is written ``q05``)."""
    m = _NAME.fullmatch(str(col))
    if m is not None:
        level = float(m.group(1)) / 100.0
        if 0.0 < level < 1.0 and quantile_col(level) == col:
            return level
    raise ValueError(f"{col!r} is not a quantile column (q05, q10, ..., q95, q2.5, ...)")


def is_quantile_col(col: object) -> bool:
    """True when ``col`` is a name ``quantile_col`` writes."""
    if not isinstance(col, str):
        return False
    try:
        quantile_level(col)
    except ValueError:
        return False
    return True


def quantile_cols(levels: Iterable[float] = QUANTILES) -> list[str]:
    """Column names of ``levels``, in the given order."""
    return [quantile_col(q) for q in levels]


def quantile_levels(columns: Iterable[object]) -> dict[str, float]:
    """The quantile columns among ``columns`` and their levels, sorted by level; other columns are left
    out (``yhat``, ``qty``, ``q0``)."""
    found = {c: quantile_level(c) for c in columns if isinstance(c, str) and is_quantile_col(c)}
    return dict(sorted(found.items(), key=lambda kv: kv[1]))


def forecast_columns(quantiles: Iterable[float] = QUANTILES, hierarchy: Sequence[str] = ()) -> list[str]:
    """Columns of the batch forecast frame, in order (module docstring)."""
    return [
        *PERIOD_COLUMNS,
        "yhat",
        *quantile_cols(quantiles),
        "coverage",
        "source",
        "method",
        "assumed_share",
        *hierarchy,
        *MODEL_COLUMNS,
    ]


def history_columns(hierarchy: Sequence[str] = ()) -> list[str]:
    """Columns of the history frame, in order (module docstring)."""
    return [*PERIOD_COLUMNS, "y", *hierarchy]
