"""The commercial side of a simulated world: unit costs (so forecasts become margin), key accounts with
their outlets (store groups of the sell-out), and promotion candidates with their true effect, so the
selection ranking, the promotion planner and joint business plans can be scored against ground truth.

Drawn from its own random stream (seed, spawn key 23) after the world: the sell-out, CRM, spend and
activities of a seed stay exactly as they were.

Truth of a promotion candidate (region × product × weeks × depth; promotions are regional in the
sell-out): the noise-free units the world would sell with it minus without it, from the generating
formula: own weeks × (promo_lift · (1 − depth)^elasticity − 1), the two weeks after × (−dip), and the
category siblings in the region × (−cannibalisation / (siblings))."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from salesplan.io import write_table

__all__ = ["ACCOUNT_SEGMENTS", "Commerce", "simulate_commerce"]

ACCOUNT_SEGMENTS = {"store": "grocery chain", "online": "e-commerce", "wholesale": "cash & carry"}
CATEGORY_MARGIN = (0.18, 0.5)
"""Range of the margin rate drawn per category (list price − unit cost over list price)."""
CANDIDATE_DEPTHS = (0.1, 0.15, 0.2, 0.25, 0.3)


@dataclass(frozen=True)
class Commerce:
    """``products``: product, category, price (list price), unit_cost, margin_rate; ``accounts``:
    account_id, name, segment, outlets; ``outlets``: account_id, store (each store belongs to one account);
    ``candidates``: candidate_id, region, product, category, ids (bottom series, ``;``-joined), start,
    weeks, depth, cost; ``candidate_truth``: candidate_id, baseline, own_uplift, dip, sibling_loss,
    incremental (noise-free units)."""

    products: pd.DataFrame
    accounts: pd.DataFrame
    outlets: pd.DataFrame
    candidates: pd.DataFrame
    candidate_truth: pd.DataFrame

    def write(self, root: Path) -> None:
        """``products.csv``, ``accounts.csv``, ``outlets.csv``, ``promotion_candidates.csv`` and
        ``truth/promotion_candidates.csv``."""
        write_table(self.products, root / "products.csv")
        write_table(self.accounts, root / "accounts.csv")
        write_table(self.outlets, root / "outlets.csv")
        write_table(self.candidates, root / "promotion_candidates.csv")
        write_table(self.candidate_truth, root / "truth" / "promotion_candidates.csv")


def _products(sellout: pd.DataFrame, series: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    cat = sellout.groupby("product")["category"].first()
    cats = sorted(cat.unique())
    rate_c = dict(zip(cats, rng.uniform(*CATEGORY_MARGIN, len(cats)), strict=True))
    price = series.groupby("product")["reference_price"].median().reindex(cat.index)
    rate = np.clip(cat.map(rate_c).to_numpy() + rng.normal(0, 0.04, len(cat)), 0.05, 0.7)
    return pd.DataFrame(
        {
            "product": cat.index.astype(str),
            "category": cat.to_numpy(),
            "price": price.round(2).to_numpy(),
            "unit_cost": (price * (1 - rate)).round(2).to_numpy(),
            "margin_rate": rate.round(4),
        }
    )


def _accounts(sellout: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stores grouped into chains of the same channel (segment), 2–5 outlets each."""
    st = sellout.groupby("store")[["channel", "region"]].first().reset_index()
    rows: list[dict[str, object]] = []
    names: list[dict[str, object]] = []
    k = 0
    for channel in sorted(st["channel"].astype(str).unique()):
        stores = [
            str(x) for x in rng.permutation(st.loc[st["channel"].astype(str) == channel, "store"].to_numpy())
        ]
        segment = ACCOUNT_SEGMENTS.get(channel, channel)
        while stores:
            size = min(len(stores), int(rng.integers(2, 6)))
            k += 1
            acc = f"A{k:02d}"
            names.append(
                {"account_id": acc, "name": f"{segment.title()} {k}", "segment": segment, "outlets": size}
            )
            rows += [{"account_id": acc, "store": s} for s in stores[:size]]
            stores = stores[size:]
    return pd.DataFrame(names), pd.DataFrame(rows)


def _candidates(world_future: pd.DataFrame, truth_future: pd.DataFrame, products: pd.DataFrame,
                elasticity: pd.Series, lift: float, dips: tuple[float, float], cannib: float,
                rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Per region × product at most one candidate in the horizon, in weeks with no planned promotion
    within two weeks either side, so its truth is the formula's (no overlap with planned events)."""
    f = world_future.assign(expected=truth_future["expected"].to_numpy())
    weeks = sorted(f["ds"].unique())
    n_w = len(weeks)
    plan = (
        f.groupby(["region", "product", "ds"])["promo"].max().unstack("ds").reindex(columns=weeks).fillna(0)
    )
    exp_rp = (
        f.groupby(["region", "product", "ds"])["expected"]
        .sum()
        .unstack("ds")
        .reindex(columns=weeks)
        .fillna(0)
    )
    ids = f.groupby(["region", "product"])["unique_id"].agg(lambda s: ";".join(sorted(set(map(str, s)))))
    cat_of = products.set_index("product")["category"].astype(str)
    price_of = products.set_index("product")["price"].astype(float)
    cand: list[dict[str, object]] = []
    tr: list[dict[str, object]] = []
    planned = plan.to_numpy()
    regions = [str(v) for v in plan.index.get_level_values(0)]
    prods = [str(v) for v in plan.index.get_level_values(1)]
    for r_i, (region, product) in enumerate(zip(regions, prods, strict=True)):
        row = planned[r_i]
        if rng.random() < 0.35:
            continue
        dur = int(rng.integers(1, 3))
        ok = [i for i in range(n_w - dur - 2) if row[max(0, i - 2) : i + dur + 2].sum() == 0]
        if not ok:
            continue
        i = int(rng.choice(ok))
        depth = float(rng.choice(CANDIDATE_DEPTHS))
        base = exp_rp.to_numpy()[r_i]
        own = base[i : i + dur].sum() * (lift * (1 - depth) ** float(elasticity[product]) - 1)
        dip = -(dips[0] * base[i + dur] + dips[1] * base[i + dur + 1])
        cat = str(cat_of[product])
        n_cat = int((cat_of == cat).sum())
        sib_rows = [j for j, (rg, p) in enumerate(zip(regions, prods, strict=True))
                    if rg == region and p != product and cat_of.get(p) == cat]  # fmt: skip
        sib = -float(exp_rp.to_numpy()[sib_rows, i : i + dur].sum()) * cannib / max(n_cat - 1, 1)
        cid = f"C{len(cand) + 1:03d}"
        # trade spend: a share of the weeks' regular revenue, so some candidates pay back and some do not
        price = float(price_of[product])
        cost = round(max(1.0, base[i : i + dur].sum() * price * float(rng.uniform(0.05, 0.5))), 2)
        cand.append({"candidate_id": cid, "region": region, "product": product, "category": cat,
                     "ids": ids[(region, product)], "start": pd.Timestamp(weeks[i]).date().isoformat(),
                     "weeks": dur, "depth": depth, "cost": cost})  # fmt: skip
        tr.append({"candidate_id": cid, "baseline": base[i: i + dur].sum(), "own_uplift": own, "dip": dip,
                   "sibling_loss": sib, "incremental": own + dip + sib})  # fmt: skip
    return pd.DataFrame(cand), pd.DataFrame(tr)


def simulate_commerce(
    seed: int,
    sellout: pd.DataFrame,
    future: pd.DataFrame,
    future_truth: pd.DataFrame,
    series: pd.DataFrame,
    elasticity: pd.Series,
    promo_lift: float,
    post_promo_dip: tuple[float, float],
    cannibalisation: float,
) -> Commerce:
    """The commerce tables of a world (module docstring); weekly worlds only get candidates."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(23,)))
    products = _products(sellout, series, rng)
    accounts, outlets = _accounts(sellout, rng)
    if {"promo", "region", "product"} <= set(future.columns) and len(future):
        cand, truth = _candidates(
            future, future_truth, products, elasticity, promo_lift, post_promo_dip, cannibalisation, rng
        )
    else:
        cand, truth = pd.DataFrame(), pd.DataFrame()
    return Commerce(products, accounts, outlets, cand, truth)
