"""Weighted pipeline of a period from scored open deals: expected won value, its P10–P90 range, and the
Commit / Best case / Pipeline forecast categories, in total or split by region, team, rep or product.

Pure functions over frames: the deals frame holds one row per open deal with ``p_win`` (from the deal
scores), ``amount`` and ``expected_close_date``; nothing here knows about models.

Range. Won value is ``W = Σ a_i·B_i`` with independent ``B_i ~ Bernoulli(p_i)``: a Poisson-binomial when
amounts are equal, and in general a weighted one with no closed form. Quantiles come from Monte Carlo with a
fixed seed (``n_draws`` draws, default 20,000, so a quantile is within about ±0.5 % of the spread), except
for groups with at least ``normal_min_deals`` deals where no single deal carries more than 5 % of the
variance: there the normal approximation (Lyapunov CLT) is used, with mean Σ a·p and variance
Σ a²·p·(1 − p). The ``method`` column says which one each row used.

Dependence. Deals expected in the same quarter move together (a slow market, closes slipping as a team):
with a fitted :class:`~salesplan.planning.pipeline_shock.QuarterShock` (``shock=``), every deal's win
log-odds share one draw of a quarter-level shock, which widens the range (and moves it when history says
the scores run hot or cold for the quarter's closes); see :mod:`planning.pipeline_shock`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from salesplan.contracts import quantile_col
from salesplan.errors import ConfigError, DataValidationError, Problem
from salesplan.planning.pipeline_shock import QuarterShock, shocked_quantiles

CATEGORIES: tuple[str, str, str] = ("Commit", "Best case", "Pipeline")
COMMIT_AT = 0.7
"""P(win) at or above which a deal is forecast as Commit."""
BEST_CASE_AT = 0.4
"""P(win) at or above which (and below Commit) a deal is forecast as Best case; below: Pipeline."""
CUTS: dict[str, str] = {"rep": "rep_id"}
_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*Q([1-4])\s*$", re.IGNORECASE)


def period_bounds(period: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of a period: a quarter string "2026Q1", a month "2026-03", a year "2026", a
    ``pd.Period`` or a (start, end-exclusive) pair of dates."""
    if isinstance(period, tuple) and len(period) == 2:
        start, end = pd.Timestamp(period[0]), pd.Timestamp(period[1])
    elif isinstance(period, pd.Period):
        start, end = period.start_time.normalize(), (period + 1).start_time.normalize()
    elif isinstance(period, str) and (m := _QUARTER.match(period)):
        start = pd.Timestamp(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
        end = start + pd.DateOffset(months=3)
    elif isinstance(period, str) and re.fullmatch(r"\d{4}(-\d{2})?", period.strip()):
        p = pd.Period(period.strip(), freq="M" if "-" in period else "Y")
        start, end = p.start_time.normalize(), (p + 1).start_time.normalize()
    else:
        raise ConfigError(
            f"period {period!r} not understood; use a quarter like '2026Q1', a month '2026-03', a year "
            "'2026' or a (start, end) pair of dates"
        )
    if end <= start:
        raise ConfigError(f"period end {end.date()} is not after its start {start.date()}")
    return start, end


def next_quarter(day: Any) -> str:
    """The quarter after the one holding ``day``, like '2027Q1' (what planners plan in late November)."""
    return str(pd.Timestamp(day).to_period("Q") + 1)


def forecast_category(p: Any, commit: float = COMMIT_AT, best_case: float = BEST_CASE_AT) -> np.ndarray:
    """Commit (p ≥ commit) / Best case (p ≥ best_case) / Pipeline (the rest) per deal."""
    if not 0 < best_case < commit <= 1:
        raise ConfigError(f"need 0 < best_case < commit <= 1, got best_case={best_case}, commit={commit}")
    p = np.asarray(p, dtype=float)
    return np.select([p >= commit, p >= best_case], list(CATEGORIES[:2]), CATEGORIES[2])


def won_value_quantiles(
    p: Any,
    amount: Any,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    *,
    n_draws: int = 20_000,
    seed: int = 0,
    normal_min_deals: int = 400,
    shock: QuarterShock | None = None,
) -> tuple[np.ndarray, str]:
    """Quantiles of Σ amount·Bernoulli(p) and the method used ("monte_carlo" or "normal"; with a
    non-trivial ``shock``, "monte_carlo_shock" or "normal_mixture")."""
    p, a = np.asarray(p, dtype=float), np.asarray(amount, dtype=float)
    q = np.asarray(quantiles, dtype=float)
    if len(p) == 0:
        return np.zeros(len(q)), "exact"
    if shock is not None and not shock.independent:
        return shocked_quantiles(
            p, a, q, shock, n_draws=n_draws, seed=seed, normal_min_deals=normal_min_deals
        )
    var_i = a**2 * p * (1 - p)
    var = float(var_i.sum())
    if var == 0:
        return np.full(len(q), float(a @ p)), "exact"
    if len(p) >= normal_min_deals and float(var_i.max()) <= 0.05 * var:
        lo = stats.norm.ppf(q, loc=float(a @ p), scale=np.sqrt(var))
        return np.clip(lo, 0.0, float(a.sum())), "normal"
    rng = np.random.default_rng(seed)
    totals = np.empty(n_draws)
    chunk = max(1, 2_000_000 // max(len(p), 1))
    for s in range(0, n_draws, chunk):
        m = min(chunk, n_draws - s)
        totals[s : s + m] = (rng.random((m, len(p))) < p) @ a
    return np.quantile(totals, q), "monte_carlo"


def _check(deals: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in deals.columns]
    if missing:
        raise DataValidationError(
            [Problem(c, "column missing from the deals frame", fix="join the deal scores (p_win) to the open "
                     "opportunities (amount, expected_close_date and the split columns)") for c in missing],
            source="weighted pipeline",
        )  # fmt: skip
    p = pd.to_numeric(deals["p_win"], errors="coerce")
    bad = p.isna() | (p < 0) | (p > 1)
    a = pd.to_numeric(deals["amount"], errors="coerce")
    problems = []
    if bad.any():
        problems.append(Problem("p_win", "probability missing or outside [0, 1]", n_rows=int(bad.sum()),
                                fix="score every open deal"))  # fmt: skip
    if (a < 0).any():
        problems.append(
            Problem("amount", "negative amount", n_rows=int((a < 0).sum()), fix="amounts are values ≥ 0")
        )
    if problems:
        raise DataValidationError(problems, source="weighted pipeline")


def pipeline_deals(opportunities: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Open opportunities joined to their deal scores (``p_win``, ``grade``), the input of
    :func:`weighted_pipeline`. Deals without a score are left out."""
    o = opportunities
    if "outcome" in o.columns:
        o = o[o["outcome"] == "open"]
    keep = [c for c in ("opportunity_id", "p_win", "score", "grade") if c in scores.columns]
    return o.merge(scores[keep], on="opportunity_id", how="inner")


def weighted_pipeline(
    deals: pd.DataFrame,
    period: Any,
    *,
    by: str | Sequence[str] | None = None,
    commit: float = COMMIT_AT,
    best_case: float = BEST_CASE_AT,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    n_draws: int = 20_000,
    seed: int = 0,
    normal_min_deals: int = 400,
    date_col: str = "expected_close_date",
    shock: QuarterShock | None = None,
) -> pd.DataFrame:
    """One row per group (one "total" row without ``by``): deals, pipeline value, expected won value
    (Σ p·amount), won-value quantiles (``q10``, ``q50``, ``q90``), and value and expected value of the
    forecast categories (``commit_*``: p ≥ commit; ``best_case_*``: p ≥ best_case, the commit deals
    included, so best case ≥ commit; ``pipeline_rest_*``: the others), over open deals whose expected
    close falls in ``period``."""
    names = (by,) if isinstance(by, str) else tuple(by or ())
    cols = tuple(CUTS.get(b, b) for b in names)
    _check(deals, ["p_win", "amount", date_col, *cols])
    start, end = period_bounds(period)
    close = pd.to_datetime(deals[date_col])
    d = deals[(close >= start) & (close < end)].copy()
    d["p_win"] = d["p_win"].astype(float)
    d["amount"] = pd.to_numeric(d["amount"], errors="coerce").fillna(0.0)
    d["_cat"] = forecast_category(d["p_win"].to_numpy(), commit, best_case)
    d["_ev"] = d["p_win"] * d["amount"]
    groups = d.groupby(list(cols), dropna=False, sort=True) if cols else [((), d)]
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        qv, method = won_value_quantiles(
            g["p_win"].to_numpy(), g["amount"].to_numpy(), quantiles,
            n_draws=n_draws, seed=seed, normal_min_deals=normal_min_deals, shock=shock,
        )  # fmt: skip
        row: dict[str, Any] = dict(zip(cols, key, strict=True)) if cols else {"group": "total"}
        row.update(
            n_deals=len(g),
            pipeline_value=float(g["amount"].sum()),
            expected_value=float(g["_ev"].sum()),
            sd=float(np.sqrt((g["amount"] ** 2 * g["p_win"] * (1 - g["p_win"])).sum())),
        )
        row.update({quantile_col(q): float(v) for q, v in zip(quantiles, qv, strict=True)})
        # Commit ⊂ Best case: the best case is what comes in if every commit and best-case deal closes,
        # so it is never below the commit (sales forecasting's convention); the rest is the pipeline.
        in_commit: pd.Series = g["_cat"] == CATEGORIES[0]
        in_rest: pd.Series = g["_cat"] == CATEGORIES[2]
        for name, m in (("commit", in_commit), ("best_case", ~in_rest), ("pipeline_rest", in_rest)):
            row[f"{name}_deals"] = int(m.sum())
            row[f"{name}_value"] = float(g.loc[m, "amount"].sum())
            row[f"{name}_expected"] = float(g.loc[m, "_ev"].sum())
        row.update(method=method, period_start=start, period_end=end)
        rows.append(row)
    if not rows:
        empty: dict[str, list[Any]] = {c: [] for c in cols} if cols else {"group": []}
        return pd.DataFrame({**empty, "n_deals": [], "pipeline_value": [], "expected_value": []})
    return pd.DataFrame(rows)
