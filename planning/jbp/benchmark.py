"""The account against its peers: comparable metrics per account over the same recent quarters (sales per
outlet per quarter, growth on the year before, promotion share of units, gross margin rate), and the gap of
each to the top quartile of the account's segment, sized in money per quarter.

Peers are the other accounts of the same segment. With fewer than ``MIN_PEERS`` of them the benchmark says
it is thin; with none, the other segments are shown for reference but no gap is sized in money (a grocery
chain's sales per outlet is no target for a web shop)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from salesplan.errors import DataNotFoundError

__all__ = ["METRICS", "MIN_PEERS", "Benchmark", "account_metrics", "peer_benchmark"]

MIN_PEERS = 3
TOP_QUARTILE = 0.75
METRICS: dict[str, str] = {
    "sales_per_outlet": "sell-out value per outlet per quarter",
    "growth": "sell-out value vs the same quarters a year earlier",
    "promo_share": "share of units sold on promotion",
    "margin_rate": "gross margin over sell-out value",
}
OPPORTUNITY_IN = {"sales_per_outlet": "sell-out", "growth": "sell-out", "margin_rate": "gross margin"}
"""What a gap's money is: sell-out value per quarter, or gross margin per quarter."""
HIGHER_IS_BETTER = {"sales_per_outlet": True, "growth": True, "margin_rate": True, "promo_share": False}


@dataclass(frozen=True)
class Benchmark:
    """``metrics``: every account's metrics (one row each, ``peer`` marks the account's peers); ``gaps``:
    per metric the account's value, the peers' median and top quartile, the gap (≥ 0, in the metric's
    unit) and ``opportunity``: the gap as money per quarter (``opportunity_in``: sell-out or gross
    margin); ``opportunity``: the sales-per-outlet gap times the account's outlets (the headline: what the
    account would sell at its segment's top-quartile productivity; NaN when the segment has no other
    account); ``peer_scope``: which accounts are the peers, in words."""

    metrics: pd.DataFrame
    gaps: pd.DataFrame
    opportunity: float
    peer_scope: str
    quarters: tuple[str, ...]


def account_metrics(
    sales: pd.DataFrame, outlets: pd.DataFrame, accounts: pd.DataFrame, quarters: int = 4
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Metrics of every account over the last ``quarters`` whole quarters of ``sales`` (growth against the
    ``quarters`` before those, NaN when the history is shorter)."""
    qs = sorted(sales["quarter"].astype(str).unique())
    if not qs:
        raise DataNotFoundError("no whole quarter of sell-out history to benchmark accounts on")
    recent = tuple(qs[-quarters:])
    before = tuple(qs[-2 * quarters : -quarters]) if len(qs) >= 2 * quarters else ()
    store_acc = (
        outlets.assign(store=outlets["store"].astype(str)).set_index("store")["account_id"].astype(str)
    )
    s = sales.assign(account_id=sales["store"].astype(str).map(store_acc)).dropna(subset=["account_id"])
    now = (
        s[s["quarter"].isin(recent)].groupby("account_id")[["units", "revenue", "cost", "promo_units"]].sum()
    )
    prev = s[s["quarter"].isin(before)].groupby("account_id")["revenue"].sum() if before else None
    acc = accounts.assign(account_id=accounts["account_id"].astype(str)).set_index("account_id")
    n_out = outlets.groupby(outlets["account_id"].astype(str))["store"].nunique()
    m = pd.DataFrame(index=acc.index)
    m["name"], m["segment"] = acc["name"].astype(str), acc["segment"].astype(str)
    m["outlets"] = n_out.reindex(m.index).fillna(0).astype(int)
    m["revenue_per_quarter"] = now["revenue"].reindex(m.index) / len(recent)
    m["sales_per_outlet"] = m["revenue_per_quarter"] / m["outlets"].where(m["outlets"] > 0)
    m["growth"] = (
        now["revenue"].reindex(m.index) / prev.reindex(m.index).where(prev.reindex(m.index) > 0) - 1
        if prev is not None
        else np.nan
    )
    m["promo_share"] = now["promo_units"].reindex(m.index) / now["units"].reindex(m.index).where(
        now["units"].reindex(m.index) > 0
    )
    rev = now["revenue"].reindex(m.index)
    m["margin_rate"] = (rev - now["cost"].reindex(m.index)) / rev.where(rev > 0)
    m["units_per_quarter"] = now["units"].reindex(m.index) / len(recent)
    return m.reset_index(), recent


def peer_benchmark(metrics: pd.DataFrame, account_id: str, quarters: tuple[str, ...] = ()) -> Benchmark:
    """Gaps of ``account_id`` to its peers' top quartile (the 75th percentile of each metric among the
    peers, the account left out; for promo share, where more is not better, the gap is to the median and
    carries no money)."""
    m = metrics.set_index(metrics["account_id"].astype(str))
    me = m.loc[str(account_id)]
    others = m.drop(index=str(account_id))
    same = others[others["segment"] == me["segment"]]
    sized = len(same) > 0
    if len(same) >= MIN_PEERS:
        peers, scope = same, "segment"
    elif sized:
        peers, scope = same, f"segment, {len(same)} peer(s): fewer than {MIN_PEERS}, read with care"
    else:
        peers, scope = others, "all accounts (none other in the segment): gaps for reference, not sized"
    out = metrics.assign(peer=metrics["account_id"].astype(str).isin(peers.index))
    rows = []
    rev_q = float(me["revenue_per_quarter"]) if pd.notna(me["revenue_per_quarter"]) else 0.0
    for metric, label in METRICS.items():
        vals = peers[metric].dropna().to_numpy(dtype=float)
        mine = float(me[metric]) if pd.notna(me[metric]) else np.nan
        med = float(np.median(vals)) if len(vals) else np.nan
        top = float(np.quantile(vals, TOP_QUARTILE)) if len(vals) else np.nan
        if HIGHER_IS_BETTER[metric]:
            gap = max(0.0, top - mine) if np.isfinite(top) and np.isfinite(mine) else np.nan
        else:
            gap = abs(mine - med) if np.isfinite(med) and np.isfinite(mine) else np.nan
        money = {
            "sales_per_outlet": gap * float(me["outlets"]),
            "growth": gap * rev_q,
            "margin_rate": gap * rev_q,
        }.get(metric, np.nan)
        rows.append({"metric": metric, "label": label, "opportunity_in": OPPORTUNITY_IN.get(metric) if sized else None,
                     "account": mine, "peer_median": med,
                     "peer_top_quartile": top, "gap": gap,
                     "opportunity": money if sized and np.isfinite(gap) else np.nan, "peers": len(vals)})  # fmt: skip
    gaps = pd.DataFrame(rows)
    spo = gaps.loc[gaps["metric"] == "sales_per_outlet", "opportunity"].iloc[0]
    head = float(spo) if np.isfinite(spo) else (0.0 if sized else np.nan)
    return Benchmark(out, gaps, head, scope, tuple(quarters))
