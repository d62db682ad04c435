"""One account's joint business plan, pure over :class:`JbpInputs`: the baseline per quarter (P10/P50/P90 of
the account's outlets' forecast, in sell-out value), the benchmark against peers, the levers, the joint
target with its P(hit), each side's investments and the supplier's P&L on the account.

P(hit) assumption: the plan quarter is the baseline plus the levers' effects, the levers independent of the
baseline and of each other, each Normal around its modelled effect with a standard deviation of
``lever_cv`` times the effect (execution risk: a promotion or an outlet opening may land short or long).
Outlets in one account are summed level by level (the comonotone sum of ``from_quantile_frame``: a little
wider than the truth, so P(hit) leans conservative); quarters of a multi-quarter plan are independent."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataNotFoundError
from salesplan.planning.distributions import QuarterDistribution, combine, from_quantile_frame
from salesplan.planning.jbp.benchmark import Benchmark, account_metrics, peer_benchmark
from salesplan.planning.jbp.inputs import JbpInputs, account_row, top_products
from salesplan.planning.jbp.levers import lever_table
from salesplan.planning.pnl import PnLInputs, project

__all__ = ["FULL_COVERAGE", "JointBusinessPlan", "build_plan", "plan_distribution"]

FULL_COVERAGE = 0.99
"""A quarter is planned when the forecast covers at least this share of it."""
LEVELS = tuple(round(0.05 * k, 2) for k in range(1, 20))


@dataclass(frozen=True)
class JointBusinessPlan:
    """``quarters`` table: quarter, baseline_p10/p50/p90, levers, plan_p10/p50/p90, target, p_hit,
    p_hit_baseline; ``levers``: ``LEVER_COLUMNS``; ``investments``: side, lever, amount; ``pnl``: the
    supplier's P&L lines per quarter (``planning.pnl``) with a total row; ``target``/``p_hit``: over the
    plan; ``assumptions``: what the numbers rest on, in words."""

    account: dict[str, object]
    quarters: pd.DataFrame
    benchmark: Benchmark
    levers: pd.DataFrame
    investments: pd.DataFrame
    pnl: pd.DataFrame
    target: float
    p_hit: float
    p_hit_baseline: float
    price_per_unit: float
    margin_rate: float
    assumptions: list[str] = field(default_factory=list)


def _baseline(inputs: JbpInputs, stores: list[str], price: float) -> QuarterDistribution:
    f = inputs.forecast
    f = f[f["store"].astype(str).isin(stores) & (f["coverage"].astype(float) >= FULL_COVERAGE)]
    if f.empty:
        raise DataNotFoundError(
            f"no whole quarter in the forecast horizon for the outlets of account {inputs.account_id} "
            f"({', '.join(stores) or 'none'}); forecast at least 13 weeks ahead"
        )
    d = from_quantile_frame(f.assign(period=f["period"].astype(str)), id_col="period",
                            source=f"forecast of account {inputs.account_id}")  # fmt: skip
    return QuarterDistribution(d.unit_ids, d.levels, d.values * price, d.tail, d.lower_bound)


def plan_distribution(base: QuarterDistribution, effect: float, sd: float) -> QuarterDistribution:
    """Baseline + an independent Normal(effect, sd) per quarter (``sd`` 0: a shift)."""
    if sd <= 0:
        return QuarterDistribution(base.unit_ids, base.levels, base.values + effect, base.tail, None)
    from scipy import stats

    z = stats.norm.ppf(np.asarray(LEVELS))
    lever = QuarterDistribution(base.unit_ids, np.asarray(LEVELS),
                                np.tile(effect + sd * z, (len(base.unit_ids), 1)), "normal", None)  # fmt: skip
    return combine(base, lever)


def build_plan(inputs: JbpInputs) -> JointBusinessPlan:
    """The whole plan (module docstring for the P(hit) assumption)."""
    acc = account_row(inputs.accounts, inputs.account_id)
    aid = str(acc["account_id"])
    stores = sorted(inputs.outlets.loc[inputs.outlets["account_id"].astype(str) == aid, "store"].astype(str))
    metrics, recent = account_metrics(inputs.sales, inputs.outlets, inputs.accounts, inputs.history_quarters)
    bench = peer_benchmark(metrics, aid, recent)
    me = metrics.set_index("account_id").loc[aid]
    if not (pd.notna(me["units_per_quarter"]) and me["units_per_quarter"] > 0):
        raise DataNotFoundError(f"account {aid} sold nothing in {', '.join(recent)}; no plan to build on")
    price = float(me["revenue_per_quarter"] / me["units_per_quarter"])
    margin = float(me["margin_rate"])
    base = _baseline(inputs, stores, price)
    qs = list(base.unit_ids)
    b = base.quantile([0.1, 0.5, 0.9])
    p50 = dict(zip(qs, b[:, 1], strict=True))
    featured, share = top_products(inputs.sales, stores, recent, inputs.settings.featured_products)
    levers, notes = lever_table(
        qs, p50, inputs.settings, price_per_unit=price, margin_rate=margin,
        sales_per_outlet=float(me["sales_per_outlet"]), featured_share=share, featured=featured,
        promo=inputs.promo, price=inputs.price,
    )  # fmt: skip
    eff = levers.groupby("quarter")["revenue"].sum().reindex(qs).fillna(0.0)
    sd = (levers.assign(v=levers["revenue"] ** 2).groupby("quarter")["v"].sum().reindex(qs).fillna(0.0)
          ** 0.5 * inputs.settings.lever_cv)  # fmt: skip
    plans = [plan_distribution(QuarterDistribution((q,), base.levels, base.values[[i]], base.tail, 0.0),
                               float(eff[q]), float(sd[q])) for i, q in enumerate(qs)]  # fmt: skip
    pq = np.vstack([d.quantile([0.1, 0.5, 0.9]) for d in plans])
    if inputs.target is not None:
        weights = pq[:, 1] / pq[:, 1].sum() if pq[:, 1].sum() > 0 else np.full(len(qs), 1 / len(qs))
        targets = inputs.target * weights
    else:
        targets = np.array([float(d.quantile(1 - inputs.confidence)[0, 0]) for d in plans])
    targets = np.round(targets, 0)
    p_hit = np.array([1 - float(d.cdf(t)[0, 0]) for d, t in zip(plans, targets, strict=True)])
    p_base = np.array([1 - float(base.cdf(t, q)[0, 0]) for q, t in zip(qs, targets, strict=True)])
    quarters = pd.DataFrame({
        "quarter": qs, "baseline_p10": b[:, 0], "baseline_p50": b[:, 1], "baseline_p90": b[:, 2],
        "levers": eff.to_numpy(), "plan_p10": pq[:, 0], "plan_p50": pq[:, 1], "plan_p90": pq[:, 2],
        "target": targets, "p_hit": p_hit, "p_hit_baseline": p_base,
    })  # fmt: skip
    total_plan, total_base = _total(plans), _total([QuarterDistribution((q,), base.levels, base.values[[i]],
                                                    base.tail, 0.0) for i, q in enumerate(qs)])  # fmt: skip
    total_target = float(targets.sum())
    inv = levers.melt(id_vars=["lever"], value_vars=["cost_supplier", "cost_account"], var_name="side",
                      value_name="amount")  # fmt: skip
    inv["side"] = inv["side"].map({"cost_supplier": "supplier", "cost_account": "account"})
    inv = inv.groupby(["side", "lever"], as_index=False, sort=False).agg(amount=("amount", "sum"))
    inv = inv[inv["amount"] != 0].reset_index(drop=True)
    assumptions = [
        f"peers: {bench.peer_scope} ({int(bench.gaps['peers'].max())} accounts), quarters {', '.join(recent)}",
        f"sell-out value at the account's realised price of {price:,.2f} per unit; margin rate {margin:.1%}",
        "P(hit): baseline + levers, levers independent and Normal with sd "
        f"{inputs.settings.lever_cv:.0%} of their effect; outlets summed comonotone (conservative)",
        *notes,
    ]
    return JointBusinessPlan(
        account={**{k: (v.item() if hasattr(v, "item") else v) for k, v in acc.items()}, "stores": stores},
        quarters=quarters, benchmark=bench, levers=levers, investments=inv,
        pnl=_pnl(aid, quarters, levers, margin), target=total_target,
        p_hit=1 - float(total_plan.cdf(total_target)[0, 0]),
        p_hit_baseline=1 - float(total_base.cdf(total_target)[0, 0]),
        price_per_unit=price, margin_rate=margin, assumptions=assumptions,
    )  # fmt: skip


def _total(dists: list[QuarterDistribution]) -> QuarterDistribution:
    """The plan's total over its quarters (independent quarters)."""
    out = QuarterDistribution(
        ("total",), dists[0].levels, dists[0].values, dists[0].tail, dists[0].lower_bound
    )
    for d in dists[1:]:
        out = combine(out, QuarterDistribution(("total",), d.levels, d.values, d.tail, d.lower_bound))
    return out


def _pnl(aid: str, quarters: pd.DataFrame, levers: pd.DataFrame, margin: float) -> pd.DataFrame:
    """The supplier's P&L on the account per quarter (``planning.pnl.project``): revenue = plan P50, cost of
    goods at the account's margin rate, trade investment (promotion and price) as promotion, placement and
    listing fees as marketing; no sales compensation (the key-account team is not paid per account here)."""
    if not (np.isfinite(margin) and margin < 1):  # a loss-making account (margin < 0) is a fact, not an error
        raise ConfigError(f"margin rate {margin} of the account is not below 100%; check the unit costs")

    def spend(kinds: tuple[str, ...]) -> pd.DataFrame:
        t = levers[levers["lever"].isin(kinds)].groupby("quarter", as_index=False)["cost_supplier"].sum()
        return pd.DataFrame({"region": aid, "quarter": t["quarter"], "spend": t["cost_supplier"]})

    rev = pd.DataFrame({"region": aid, "quarter": quarters["quarter"], "revenue": quarters["plan_p50"]})
    pnl = project(PnLInputs(revenue=rev, cogs_rate=1 - margin, promotion=spend(("promotion", "price")),
                            marketing=spend(("featured placement", "added outlets", "service level"))))  # fmt: skip
    lines = pnl.lines.drop(columns=["region"])
    if len(lines) > 1:  # a total row over the plan's quarters
        total = lines.drop(columns=["quarter"]).sum().to_frame().T.assign(quarter="total")
        total["cm_pct"] = total["contribution_margin"] / total["revenue"]
        lines = pd.concat([lines, total[lines.columns]], ignore_index=True)
    return lines.drop(columns=["sales_comp"])
