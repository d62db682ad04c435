"""The featured portfolio: which market × product candidates to feature, chosen exactly (scipy ``milp``,
HiGHS branch and bound) to maximise expected contribution under the slot, margin and diversification
rules, with the reason for each pick and for each good candidate left out.

Binary x_i per candidate; maximise Σ score_i x_i with score = contribution − risk_aversion × (contribution
− P10), subject to: per market Σ x ≤ slots; per market and category Σ x ≤ per-category cap; overall Σ x ≤
total slots; per category Σ x ≤ max share × Σ x (diversification across the whole portfolio); candidates
below the minimum expected margin (or declining, when excluded) fixed at 0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from salesplan.errors import ConfigError, InfeasibleError

__all__ = ["Portfolio", "PortfolioRules", "pick_portfolio"]


@dataclass(frozen=True)
class PortfolioRules:
    """``slots_per_market``: featured slots in each market; ``max_per_category``: of one category within a
    market (default: no cap beyond the slots); ``total_slots``: over all markets (default none);
    ``max_category_share``: most of the whole portfolio one category may take (default none);
    ``min_margin``: a pick's expected contribution must reach it; ``exclude_declining``: leave declining
    products out; ``risk_aversion`` in [0, 1]: 0 ranks by the expected contribution, 1 by its P10."""

    slots_per_market: int = 3
    max_per_category: int | None = None
    total_slots: int | None = None
    max_category_share: float | None = None
    min_margin: float = 0.0
    exclude_declining: bool = False
    risk_aversion: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.slots_per_market <= 1000:
            raise ConfigError(f"slots per market must be 1..1000, got {self.slots_per_market}")
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ConfigError(f"max per category must be at least 1, got {self.max_per_category}")
        if self.total_slots is not None and self.total_slots < 1:
            raise ConfigError(f"total slots must be at least 1, got {self.total_slots}")
        if self.max_category_share is not None and not 0 < self.max_category_share <= 1:
            raise ConfigError(f"max category share is in (0, 1], e.g. 0.4; got {self.max_category_share}")
        if not np.isfinite(self.min_margin):
            raise ConfigError(f"min margin must be a number, got {self.min_margin}")
        if not 0 <= self.risk_aversion <= 1:
            raise ConfigError(f"risk aversion is in [0, 1] (1 ranks by P10), got {self.risk_aversion}")


@dataclass(frozen=True)
class Portfolio:
    """``picks``: the chosen candidates (the ranking's columns plus ``score`` and ``reason``), by market
    and score; ``left_out``: the best candidates not chosen with the rule that kept each out;
    ``objective``: Σ score of the picks; ``status``: the solver's message."""

    picks: pd.DataFrame
    left_out: pd.DataFrame
    rules: PortfolioRules
    objective: float
    status: str

    @property
    def expected_margin(self) -> float:
        return float(self.picks["contribution"].sum())


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _pick_reason(r: pd.Series) -> str:
    parts = [f"#{int(r['rank'])} in {r['market']} by expected margin {_money(r['contribution'])}"]
    parts.append(f"P10 {_money(r['contribution_p10'])}")
    if pd.notna(r["growth"]):
        parts.append(f"{r['growth']:+.0%} vs last year")
    if bool(r["cold_start"]):
        parts.append("new product (first sale within the year, or forecast from similar products)")
    if bool(r["declining"]):
        parts.append("declining, kept for its margin")
    return "; ".join(parts)


def _left_reason(
    r: pd.Series, rules: PortfolioRules, full_markets: set[str], full_cats: set[tuple[str, str]]
) -> str:
    if r["contribution"] < rules.min_margin:
        return f"expected margin {_money(r['contribution'])} below the minimum {_money(rules.min_margin)}"
    if rules.exclude_declining and bool(r["declining"]):
        return "declining (growth and trend down) and declining products are excluded"
    if (r["market"], r["category"]) in full_cats:
        return f"category {r['category']} already has its {rules.max_per_category} slot(s) in {r['market']}"
    if r["market"] in full_markets:
        return f"the {rules.slots_per_market} slot(s) of {r['market']} went to higher-margin picks"
    return "the portfolio-wide limits (total slots or category share) went to higher-margin picks"


def pick_portfolio(ranking: pd.DataFrame, rules: PortfolioRules | None = None) -> Portfolio:
    """Solve the featured-portfolio MILP over ``ranking`` (``SelectionRanking.table``)."""
    rules = rules or PortfolioRules()
    t = ranking.reset_index(drop=True)
    n = len(t)
    if n == 0:
        raise InfeasibleError("no candidates to pick from; check the level, the period and the margin input")
    contrib = t["contribution"].to_numpy(dtype=float)
    p10 = t["contribution_p10"].to_numpy(dtype=float)
    score = contrib - rules.risk_aversion * (contrib - p10)
    allowed = (contrib >= rules.min_margin) & (score > 0)
    if rules.exclude_declining:
        allowed &= ~t["declining"].to_numpy(dtype=bool)
    rows: list[sp.csr_matrix] = []
    ub: list[np.ndarray] = []
    idx = np.arange(n)
    market = pd.factorize(t["market"])[0]
    m_mat = sp.csr_matrix((np.ones(n), (market, idx)), shape=(market.max() + 1, n))
    rows.append(m_mat)
    ub.append(np.full(m_mat.shape[0], rules.slots_per_market, dtype=float))
    cat = pd.factorize(t["category"])[0]
    if rules.max_per_category is not None:
        mc = pd.factorize(pd.Series(market).astype(str) + "|" + pd.Series(cat).astype(str))[0]
        mc_mat = sp.csr_matrix((np.ones(n), (mc, idx)), shape=(mc.max() + 1, n))
        rows.append(mc_mat)
        ub.append(np.full(mc_mat.shape[0], rules.max_per_category, dtype=float))
    if rules.total_slots is not None:
        rows.append(sp.csr_matrix(np.ones((1, n))))
        ub.append(np.array([float(rules.total_slots)]))
    if rules.max_category_share is not None and cat.max() > 0:
        # Σ_{i in c} x_i − share · Σ_i x_i ≤ 0 for every category c
        c_mat = sp.csr_matrix((np.ones(n), (cat, idx)), shape=(cat.max() + 1, n))
        rows.append(c_mat - rules.max_category_share * sp.csr_matrix(np.ones((cat.max() + 1, n))))
        ub.append(np.zeros(cat.max() + 1))
    A = sp.vstack(rows).tocsr()
    upper = np.concatenate(ub)
    res = milp(
        c=-score,
        integrality=np.ones(n),
        bounds=Bounds(np.zeros(n), allowed.astype(float)),
        constraints=LinearConstraint(A, np.full(A.shape[0], -np.inf), upper),
        options={"disp": False, "time_limit": 60.0},
    )
    if res.x is None:
        raise InfeasibleError(f"the portfolio MILP found no solution: {res.message}")
    x = np.round(res.x).astype(bool)
    out = t.assign(score=score, picked=x)
    picks = out[x].copy()
    picks["reason"] = [_pick_reason(r) for _, r in picks.iterrows()]
    picks = picks.sort_values(["market", "score"], ascending=[True, False]).drop(columns="picked")
    counts = picks.groupby("market").size()
    full_markets = set(counts[counts >= rules.slots_per_market].index.astype(str))
    full_cats: set[tuple[str, str]] = set()
    if rules.max_per_category is not None:
        cc = picks.groupby(["market", "category"]).size()
        full_cats = {(str(m), str(c)) for (m, c), k in cc.items() if k >= rules.max_per_category}
    # the candidates a planner would expect: those ranked inside their market's slots but not picked
    near = out[~x & (out["rank"] <= rules.slots_per_market + 2)].copy()
    near = near.sort_values("contribution", ascending=False).head(max(50, rules.slots_per_market * 3))
    near["reason"] = [_left_reason(r, rules, full_markets, full_cats) for _, r in near.iterrows()]
    return Portfolio(
        picks=picks.reset_index(drop=True),
        left_out=near.drop(columns="picked").reset_index(drop=True),
        rules=rules,
        objective=float(score[x].sum()),
        status=str(res.message),
    )
