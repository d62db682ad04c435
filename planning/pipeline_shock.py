"""Dependence between the deals of one quarter: a shared shock on their win odds, estimated from history.

Deals expected to close in the same quarter are not independent: a slow market, a price change, a team
that slips its closes move them together, and a weighted pipeline that treats them as independent coin
flips gives bands that are far too narrow (on Maven, 7 of 8 quarter-groups' actuals fell below P10). The
model here is the simplest one that captures it, a logistic random intercept per quarter with the deal
scores as offset:

    P(deal i won in quarter q) = expit(logit(p_i) + ε_q),   ε_q ~ Normal(mean, sd²),

where ``p_i`` is the deal's score at the quarter's start. ``sd`` is the dependence (0: independent deals);
``mean`` is the scores' average miss for deals expected in a quarter (negative when they run hot, e.g.
because won deals often close a quarter later than expected).

:func:`fit_quarter_shock` estimates (mean, sd) by maximum marginal likelihood over past quarters, the
integral over ε by Gauss–Hermite quadrature (a two-parameter GLMM likelihood; written out here because
statsmodels' mixed GLMs are variational Bayes and take no offset). :func:`shocked_quantiles` gives the
quantiles of a quarter's won value under the fitted shock: Monte Carlo for small pipelines, and for large
diffuse ones a mixture of normals over the quadrature nodes (given ε the total is nearly normal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special, stats

from salesplan.contracts import CRMData
from salesplan.errors import DataValidationError, Problem

__all__ = [
    "INDEPENDENT",
    "MIN_QUARTERS",
    "QuarterShock",
    "dependence_note",
    "fit_quarter_shock",
    "quarter_pipeline",
    "shocked_quantiles",
]

MIN_QUARTERS = 4
"""Fewest past quarters (with won and lost deals) to estimate a shock from; fewer give ``INDEPENDENT``."""
_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(24)  # exact to ~1e-6 for these smooth integrands
_EPS = 1e-9


@dataclass(frozen=True)
class QuarterShock:
    """A quarter-level shift of every deal's win log-odds, ``Normal(mean, sd²)``, and what it was fitted on."""

    mean: float = 0.0
    sd: float = 0.0
    quarters: int = 0
    deals: int = 0

    @property
    def independent(self) -> bool:
        return self.mean == 0.0 and self.sd == 0.0


INDEPENDENT = QuarterShock()


def dependence_note(shock: QuarterShock | None) -> str:
    """One line for a reader of the bands: which dependence between deals they assume."""
    if shock is None or shock.quarters == 0:
        return (
            "deals independent (no quarter shock fitted yet: run `salesplan plan backtest`); bands too narrow"
        )
    if shock.independent:
        return f"deals independent: {shock.quarters} past quarters are too few to fit a quarter shock"
    return (
        f"quarter shock on win log-odds, mean {shock.mean:+.2f}, sd {shock.sd:.2f}, "
        f"fitted on {shock.quarters} past quarters ({shock.deals:,} deals)"
    )


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(special.logit(np.clip(p, 1e-6, 1 - 1e-6)))


def _node_loglik(
    offset: np.ndarray, won: np.ndarray, by_quarter: sparse.csr_matrix, eps: np.ndarray
) -> np.ndarray:
    """log P(outcomes of quarter q | ε = eps[k]) for every quarter q and node k: (n_quarters, K)."""
    z = offset[:, None] + eps[None, :]
    ll = -np.logaddexp(0.0, np.where(won[:, None], -z, z))  # log expit(z) if won, log expit(−z) if lost
    return np.asarray(by_quarter @ ll)


def fit_quarter_shock(history: pd.DataFrame, *, min_quarters: int = MIN_QUARTERS) -> QuarterShock:
    """(mean, sd) of the shared shock from past quarters: ``history`` holds one row per deal that was open
    and expected to close in a past quarter, with ``period`` (the quarter), ``p_win`` (its score at the
    quarter's start) and ``won`` (won within that quarter). Returns ``INDEPENDENT`` (with the counts)
    when fewer than ``min_quarters`` quarters have both won and lost deals."""
    missing = [c for c in ("period", "p_win", "won") if c not in history.columns]
    if missing:
        raise DataValidationError(
            [Problem(c, "column missing", fix="one row per past deal: period, p_win, won") for c in missing],
            "shock history",
        )
    h = history.dropna(subset=["p_win", "won"])
    both = h.groupby("period")["won"].agg(lambda w: bool(w.any() and not w.all()))
    h = h[h["period"].isin(both.index[both])]
    n_q = int(h["period"].nunique())
    if n_q < min_quarters:
        return QuarterShock(quarters=n_q, deals=len(h))
    quarter = pd.factorize(h["period"])[0]
    by_quarter = sparse.csr_matrix((np.ones(len(quarter)), (quarter, np.arange(len(quarter)))))
    offset = _logit(h["p_win"].to_numpy(dtype=float))
    won = h["won"].to_numpy(dtype=bool)

    def nll(theta: np.ndarray) -> float:
        mean, sd = float(theta[0]), float(np.exp(theta[1]))
        ll = _node_loglik(offset, won, by_quarter, mean + np.sqrt(2.0) * sd * _NODES)
        return -float(special.logsumexp(ll + np.log(_WEIGHTS / np.sqrt(np.pi))[None, :], axis=1).sum())

    best = min(
        (
            optimize.minimize(
                nll, np.array([0.0, np.log(s0)]), method="L-BFGS-B", bounds=[(-5.0, 5.0), (-7.0, 2.0)]
            )
            for s0 in (0.05, 0.5)
        ),
        key=lambda r: float(r.fun),
    )
    mean, sd = float(best.x[0]), float(np.exp(best.x[1]))
    if sd <= 1e-3:
        sd = 0.0
    # A new quarter's shock is uncertain twice: its own draw (sd) and the estimate of the mean from n_q
    # quarters (about sd / √n_q): the predictive spread is sd·√(1 + 1/n_q).
    return QuarterShock(mean=mean, sd=sd * float(np.sqrt(1.0 + 1.0 / n_q)), quarters=n_q, deals=len(h))


def _mixture_quantiles(p: np.ndarray, a: np.ndarray, q: np.ndarray, shock: QuarterShock) -> np.ndarray:
    """Quantiles of the total when, given ε, it is normal: a mixture over the quadrature nodes."""
    eps = shock.mean + np.sqrt(2.0) * shock.sd * _NODES
    w = _WEIGHTS / np.sqrt(np.pi)
    pk = special.expit(_logit(p)[:, None] + eps[None, :])
    mu = a @ pk
    sd = np.sqrt(np.maximum((a**2) @ (pk * (1 - pk)), _EPS))

    def cdf(x: float) -> float:
        return float(w @ stats.norm.cdf((x - mu) / sd))

    lo, hi = float((mu - 8 * sd).min()), float((mu + 8 * sd).max())
    return np.array([optimize.brentq(lambda x, t=t: cdf(x) - t, lo, hi) for t in q])


def shocked_quantiles(
    p: np.ndarray,
    amount: np.ndarray,
    quantiles: Sequence[float] | np.ndarray,
    shock: QuarterShock,
    *,
    n_draws: int = 20_000,
    seed: int = 0,
    normal_min_deals: int = 400,
) -> tuple[np.ndarray, str]:
    """Quantiles of Σ amount·won when every deal's log-odds share one draw of the shock, and the method
    ("monte_carlo_shock" or "normal_mixture")."""
    p, a = np.asarray(p, dtype=float), np.asarray(amount, dtype=float)
    qs = np.asarray(quantiles, dtype=float)
    var_i = a**2 * p * (1 - p)
    if len(p) >= normal_min_deals and float(var_i.max()) <= 0.05 * float(var_i.sum()):
        out = _mixture_quantiles(p, a, qs, shock)
        return np.clip(out, 0.0, float(a.sum())), "normal_mixture"
    rng = np.random.default_rng(seed)
    base = _logit(p)
    totals = np.empty(n_draws)
    chunk = max(1, 2_000_000 // max(len(p), 1))
    for s in range(0, n_draws, chunk):
        m = min(chunk, n_draws - s)
        eps = rng.normal(shock.mean, shock.sd, size=(m, 1))
        totals[s : s + m] = (rng.random((m, len(p))) < special.expit(base[None, :] + eps)) @ a
    return np.quantile(totals, qs), "monte_carlo_shock"


def _expected_close_as_of(crm: CRMData, o: pd.DataFrame, t: pd.Timestamp) -> pd.Series:
    """Each deal's expected close as it stood at ``t``: the last recorded move before ``t``; a deal never
    moved before ``t`` keeps the value on file (the contract keeps no value from before a first move)."""
    exp = pd.to_datetime(o["expected_close_date"])
    ch = crm.close_date_changes
    if ch is None or not len(ch):
        return exp
    c = ch[pd.to_datetime(ch["ts"]) < t].sort_values("ts")
    last = c.groupby("opportunity_id")["expected_close_date"].last()
    return pd.to_datetime(o["opportunity_id"].map(last)).fillna(exp)


def quarter_pipeline(crm: CRMData, quarter: str, scores: pd.DataFrame | None) -> pd.DataFrame:
    """The deals open at ``quarter``'s first day and expected (then) to close in it, with their score
    then (``scores``: ``opportunity_id, p_win`` as of that day), ``won`` (won within the quarter) and
    ``won_value``: one quarter of :func:`fit_quarter_shock`'s history, and what a pipeline band made that
    day is scored against. Empty without expected close dates or scores."""
    cols = [
        "opportunity_id",
        "region",
        "period",
        "p_win",
        "amount",
        "won",
        "won_value",
        "expected_close_date",
    ]
    o = crm.opportunities
    if scores is None or "expected_close_date" not in o.columns:
        return pd.DataFrame(columns=cols)
    q = pd.Period(quarter, freq="Q")
    t, end = q.start_time, q.end_time
    created, closed = pd.to_datetime(o["created_date"]), pd.to_datetime(o["close_date"])
    o = o[(created < t) & (closed.isna() | (closed >= t))].copy()
    o["expected_close_date"] = _expected_close_as_of(crm, o, t)
    o = o[(o["expected_close_date"] >= t) & (o["expected_close_date"] <= end)]
    o = o.merge(scores[["opportunity_id", "p_win"]], on="opportunity_id", how="inner")
    c = pd.to_datetime(o["close_date"])
    o["won"] = ((o["outcome"] == "won") & (c >= t) & (c <= end)).to_numpy()
    value = pd.to_numeric(o["won_value"], errors="coerce") if "won_value" in o.columns else o["amount"]
    o["won_value"] = np.where(o["won"], value.fillna(o["amount"]), 0.0)
    if "region" not in o.columns:
        o["region"] = "all"
    return o.assign(period=str(q))[cols]
