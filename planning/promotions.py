"""The promotion calendar: which candidate promotions (product × market × weeks × depth × cost) to run,
chosen exactly (scipy ``milp``, HiGHS) to maximise incremental margin under a promotion budget and slot
limits.

Effects come in as a frame the caller computed with the forecaster's what-if (``models.forecast.whatif``:
baseline and promoted units of the candidate's series over its weeks, and the change of their siblings:
the cannibalisation the model learned); planning never runs a model. The post-promotion dip is measured on
the sell-out history (:func:`post_promo_dip`: units in the one and two weeks after a promotion against the
series' own clean weeks around it) and applied only where the data show it (its interval excludes 0).

Incremental margin of a candidate = promoted units × (price × (1 − depth) − unit cost) − baseline units ×
(price − unit cost) + sibling units change × the siblings' unit margin + dip units × unit margin − cost.
Because effects are estimated one promotion at a time, two promotions of one category in one market in the
same week would interact in ways no estimate covers; the default rules forbid that
(``max_per_category_week=1``) so the plan's sum of effects stays a valid estimate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from salesplan.errors import ConfigError, DataValidationError, InfeasibleError, Problem

__all__ = ["PromotionPlan", "PromotionRules", "candidate_margins", "plan_promotions", "post_promo_dip"]

CANDIDATE_COLUMNS = ("candidate_id", "market", "product", "start", "weeks", "depth", "cost")
EFFECT_COLUMNS = ("candidate_id", "baseline_units", "promo_units", "siblings_diff")


@dataclass(frozen=True)
class PromotionRules:
    """``budget``: most spend (Σ candidate cost); ``max_per_market_week``: promotions running at once in a
    market; ``max_per_category_week``: of one category at once in a market (module docstring: default 1);
    ``gap_weeks``: weeks between two promotions of the same product and market (the dip's weeks)."""

    budget: float
    max_per_market_week: int | None = None
    max_per_category_week: int | None = 1
    gap_weeks: int = 2

    def __post_init__(self) -> None:
        if not (np.isfinite(self.budget) and self.budget >= 0):
            raise ConfigError(f"the promotion budget must be a number ≥ 0, got {self.budget!r}")
        for name in ("max_per_market_week", "max_per_category_week"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"{name} must be at least 1 (or none), got {v}")
        if not 0 <= self.gap_weeks <= 13:
            raise ConfigError(f"gap_weeks must be 0..13, got {self.gap_weeks}")


@dataclass(frozen=True)
class PromotionPlan:
    """``table``: every candidate with its effects, ``incremental_margin``, ``chosen`` and ``reason``;
    ``dip``: the post-promotion dip applied (share of baseline lost in the 1st and 2nd week after)."""

    table: pd.DataFrame
    rules: PromotionRules
    dip: tuple[float, float]
    status: str

    @property
    def chosen(self) -> pd.DataFrame:
        return self.table[self.table["chosen"]]

    @property
    def spend(self) -> float:
        return float(self.chosen["cost"].sum())

    @property
    def incremental_margin(self) -> float:
        return float(self.chosen["incremental_margin"].sum())


def post_promo_dip(sellout: pd.DataFrame, promo_col: str = "promo", window: int = 13) -> tuple[float, float]:
    """Share of units lost in the 1st and 2nd week after a promotion: units sold then over the mean of each
    series' clean weeks (no promotion, not just after one) within ``window`` weeks around, pooled over every
    event; 0 for a week whose ratio is not below 1 by two standard errors (the data do not show a dip)."""
    if promo_col not in sellout.columns:
        return (0.0, 0.0)
    df = sellout[["unique_id", "ds", "y", promo_col]].sort_values(["unique_id", "ds"])
    on = df[promo_col].fillna(0).to_numpy() > 0
    g = df.groupby("unique_id", sort=False)
    lag1 = g[promo_col].shift(1).fillna(0).to_numpy() > 0
    lag2 = g[promo_col].shift(2).fillna(0).to_numpy() > 0
    after1, after2 = lag1 & ~on, lag2 & ~lag1 & ~on
    clean = ~on & ~after1 & ~after2
    y = df["y"].to_numpy(dtype=float)
    yc = pd.Series(np.where(clean, y, np.nan), index=df.index)
    base = yc.groupby(df["unique_id"]).transform(
        lambda s: s.rolling(window, center=True, min_periods=3).mean()
    )
    out = []
    for mask in (after1, after2):
        b = base.to_numpy()[mask]
        ok = np.isfinite(b) & (b > 0)
        yy, bb = y[mask][ok], b[ok]
        if len(yy) < 20:
            out.append(0.0)
            continue
        # ratio of sums, not a mean of log-ratios: logs of small noisy counts against a smooth mean are
        # biased low (Jensen), which would invent a dip; the ratio's standard error by the delta method
        ratio = float(yy.sum() / bb.sum())
        se = float(np.sqrt(((yy - ratio * bb) ** 2).sum()) / bb.sum())
        out.append(1.0 - ratio if ratio + 2 * se < 1.0 else 0.0)
    return out[0], out[1]


def _check(frame: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataValidationError(
            [Problem(None, f"{what} lack columns {missing}", fix=f"give {list(cols)}")], what
        )


def candidate_margins(
    candidates: pd.DataFrame,
    effects: pd.DataFrame,
    products: pd.DataFrame,
    dip: tuple[float, float] = (0.0, 0.0),
) -> pd.DataFrame:
    """Candidates joined to their effects and the products' price and unit cost, with the margin terms
    (module docstring) and ``incremental_margin``."""
    _check(candidates, CANDIDATE_COLUMNS, "promotion candidates")
    _check(effects, EFFECT_COLUMNS, "promotion effects")
    _check(products, ("product", "price", "unit_cost"), "products")
    if candidates["candidate_id"].duplicated().any():
        dup = candidates.loc[candidates["candidate_id"].duplicated(), "candidate_id"].astype(str).unique()[:5]
        raise ConfigError(f"candidate ids must be unique; repeated: {list(dup)}")
    bad = candidates[
        ~candidates["depth"].between(0, 0.95) | (candidates["weeks"] < 1) | (candidates["cost"] < 0)
    ]
    if len(bad):
        raise ConfigError(
            f"candidates {list(bad['candidate_id'].astype(str))[:5]}: depth must be in [0, 0.95], weeks ≥ 1 "
            "and cost ≥ 0"
        )
    p = products.assign(product=products["product"].astype(str)).drop_duplicates("product", keep="last")
    p = p.set_index("product")
    t = candidates.assign(
        product=candidates["product"].astype(str), candidate_id=candidates["candidate_id"].astype(str)
    )
    e = effects.assign(candidate_id=effects["candidate_id"].astype(str)).set_index("candidate_id")
    t = t.join(e[list(EFFECT_COLUMNS[1:])], on="candidate_id")
    unknown = sorted(set(t["product"]) - set(p.index))
    if unknown:
        raise ConfigError(f"products {unknown[:5]} have no price and unit cost in the products table")
    no_effect = t.loc[t["baseline_units"].isna(), "candidate_id"].tolist()
    if no_effect:
        raise ConfigError(f"candidates {no_effect[:5]} have no estimated effect; estimate them first")
    price = t["product"].map(p["price"]).astype(float)
    cost = t["product"].map(p["unit_cost"]).astype(float)
    margin = price - cost
    if "category" in p.columns:
        t["category"] = (
            t["product"].map(p["category"]).astype(str) if "category" not in t.columns else t["category"]
        )
        cat_margin = (p["price"] - p["unit_cost"]).groupby(p["category"].astype(str)).mean()
        sib_margin = t["category"].map(cat_margin).astype(float)
    else:
        t["category"] = t.get("category", "all")
        sib_margin = margin
    t["unit_margin"] = margin
    t["promo_unit_margin"] = price * (1 - t["depth"]) - cost
    t["dip_units"] = -(dip[0] + dip[1]) * t["baseline_units"] / t["weeks"]
    t["incremental_units"] = t["promo_units"] - t["baseline_units"]
    t["margin_own"] = t["promo_units"] * t["promo_unit_margin"] - t["baseline_units"] * margin
    t["margin_siblings"] = t["siblings_diff"] * sib_margin
    t["margin_dip"] = t["dip_units"] * margin
    t["incremental_margin"] = t["margin_own"] + t["margin_siblings"] + t["margin_dip"] - t["cost"]
    t["start"] = pd.to_datetime(t["start"])
    return t


def _week_rows(t: pd.DataFrame, keys: list[str], cap: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """One row per (keys, week) that candidates cover: Σ x over the candidates running then ≤ cap."""
    starts = pd.to_datetime(t["start"]).to_numpy()
    weeks = t["weeks"].to_numpy(dtype=int)
    key = t[keys].astype(str).agg("|".join, axis=1).to_numpy()
    rows = [
        (str(key[i]), starts[i] + np.timedelta64(7 * k, "D"), i)
        for i in range(len(t))
        for k in range(int(weeks[i]))
    ]
    f = pd.DataFrame(rows, columns=["key", "week", "i"])
    gid = f.groupby(["key", "week"]).ngroup().to_numpy()
    A = sp.csr_matrix((np.ones(len(f)), (gid, f["i"].to_numpy())), shape=(gid.max() + 1, len(t)))
    return A, np.full(A.shape[0], float(cap))


def _conflicts(t: pd.DataFrame, gap: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """x_a + x_b ≤ 1 for two candidates of one product and market closer than their weeks plus ``gap``."""
    pairs = []
    for _, g in t.groupby(["market", "product"]):
        idx = g.index.to_numpy()
        s = g["start"].to_numpy()
        e = s + pd.to_timedelta((g["weeks"].to_numpy() + gap) * 7, unit="D")
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                if s[a] < e[b] and s[b] < e[a]:
                    pairs.append((idx[a], idx[b]))
    if not pairs:
        return sp.csr_matrix((0, len(t))), np.zeros(0)
    r = np.repeat(np.arange(len(pairs)), 2)
    c = np.array(pairs).ravel()
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(pairs), len(t))), np.ones(len(pairs))


def plan_promotions(
    candidates: pd.DataFrame,
    effects: pd.DataFrame,
    products: pd.DataFrame,
    rules: PromotionRules,
    dip: tuple[float, float] = (0.0, 0.0),
) -> PromotionPlan:
    """The exact best set of candidates (module docstring), every candidate with the reason it is in or out."""
    t = candidate_margins(candidates, effects, products, dip).reset_index(drop=True)
    n = len(t)
    if n == 0:
        raise InfeasibleError("no promotion candidates given")
    value = t["incremental_margin"].to_numpy(dtype=float)
    blocks = [sp.csr_matrix(t["cost"].to_numpy(dtype=float)[None, :])]
    ub = [np.array([rules.budget])]
    if rules.max_per_market_week is not None:
        A, b = _week_rows(t, ["market"], rules.max_per_market_week)
        blocks.append(A)
        ub.append(b)
    if rules.max_per_category_week is not None:
        A, b = _week_rows(t, ["market", "category"], rules.max_per_category_week)
        blocks.append(A)
        ub.append(b)
    A, b = _conflicts(t, rules.gap_weeks)
    if A.shape[0]:
        blocks.append(A)
        ub.append(b)
    M = sp.vstack(blocks).tocsr()
    upper = np.concatenate(ub)
    res = milp(
        c=-value,
        integrality=np.ones(n),
        bounds=Bounds(np.zeros(n), (value > 0).astype(float)),
        constraints=LinearConstraint(M, np.full(M.shape[0], -np.inf), upper),
        options={"disp": False, "time_limit": 60.0},
    )
    if res.x is None:
        raise InfeasibleError(f"the promotion MILP found no solution: {res.message}")
    x = np.round(res.x).astype(bool)
    t["chosen"] = x
    spent = float(t.loc[x, "cost"].sum())
    reasons = []
    for i, r in enumerate(t.to_dict("records")):
        if x[i]:
            roi = r["incremental_margin"] / r["cost"] if r["cost"] > 0 else np.inf
            reasons.append(
                f"+{r['incremental_margin']:,.0f} margin ({r['incremental_units']:+,.0f} units, siblings "
                f"{r['siblings_diff']:+,.0f}, dip {r['dip_units']:+,.0f}) for {r['cost']:,.0f} spend (return {roi:.1f}×)"
            )
        elif value[i] <= 0:
            reasons.append(
                f"loses margin ({r['incremental_margin']:+,.0f}): the uplift's margin "
                f"{r['margin_own'] + r['margin_siblings'] + r['margin_dip']:+,.0f} (after the discount on "
                f"baseline units, siblings and dip) does not cover the spend {r['cost']:,.0f}"
            )
        elif spent + r["cost"] > rules.budget + 1e-9:
            reasons.append(
                f"budget: {r['cost']:,.0f} more spend than the {rules.budget - spent:,.0f} left; better returns chosen"
            )
        else:
            reasons.append("slot limits: a better promotion of the market, category or product runs then")
    t["reason"] = reasons
    return PromotionPlan(t, rules, dip, str(res.message))
