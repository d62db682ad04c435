"""The one promotion-planning workflow behind ``salesplan plan promotions`` and ``POST
/api/v1/promotions/plan``: each candidate's effect from the forecaster's what-if (``models.forecast.whatif``,
the same call as ``salesplan forecast what-if``: its units and its siblings'), the post-promotion dip
measured on the sell-out history, then the exact plan of ``planning.promotions``. The doors differ only in
where the model, the future regressors, the candidates and the products table come from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from salesplan.errors import ConfigError, NotFoundError
from salesplan.models.forecast.base import Forecaster
from salesplan.models.forecast.whatif import Scenario, what_if
from salesplan.planning.promotions import PromotionPlan, PromotionRules, plan_promotions, post_promo_dip

__all__ = ["MAX_CANDIDATES", "candidate_ids", "estimate_effects", "run_promotion_plan"]

MAX_CANDIDATES = 200
"""Each candidate runs the forecaster twice (baseline and promoted): a bound on a request's work."""


def candidate_ids(
    candidates: pd.DataFrame, future: pd.DataFrame, market_col: str, product_col: str
) -> list[tuple[str, ...]]:
    """Bottom series of each candidate: its ``ids`` (``;``-joined) when given, else the series of the future
    frame whose ``market_col`` and ``product_col`` are the candidate's market and product."""
    out: list[tuple[str, ...]] = []
    keyed: dict[tuple[str, str], set[str]] | None = None
    for r in candidates.to_dict("records"):
        given = r.get("ids")
        if isinstance(given, str) and given.strip():
            out.append(tuple(i.strip() for i in given.split(";") if i.strip()))
            continue
        if keyed is None:
            missing = [c for c in (market_col, product_col) if c not in future.columns]
            if missing:
                raise ConfigError(
                    f"candidates without ids need {missing} in the future regressors to find their series; "
                    f"name the market column (it has {sorted(map(str, future.columns))})"
                )
            pairs = future[[market_col, product_col, "unique_id"]].astype(str).drop_duplicates()
            keyed = {}
            for m, p, u in zip(pairs[market_col], pairs[product_col], pairs["unique_id"], strict=True):
                keyed.setdefault((m, p), set()).add(u)
        key = (str(r["market"]), str(r["product"]))
        if key not in keyed:
            raise NotFoundError(
                f"candidate {r['candidate_id']}: no series of {market_col}={key[0]!r} and {product_col}="
                f"{key[1]!r} in the forecast horizon"
            )
        out.append(tuple(sorted(keyed[key])))
    return out


def estimate_effects(
    model: Forecaster,
    future: pd.DataFrame,
    candidates: pd.DataFrame,
    hierarchy: Mapping[str, Sequence[str]] | None,
    market_col: str = "region",
    product_col: str = "product",
) -> pd.DataFrame:
    """Per candidate: baseline and promoted units of its series over its weeks and the units its siblings
    gain or lose (``what_if`` with promo 1 at the candidate's depth)."""
    if len(candidates) > MAX_CANDIDATES:
        raise ConfigError(f"{len(candidates)} candidates; plan at most {MAX_CANDIDATES} at once")
    ids = candidate_ids(candidates, future, market_col, product_col)
    rows = []
    for r, who in zip(candidates.to_dict("records"), ids, strict=True):
        start = pd.Timestamp(str(r["start"]))
        end = start + pd.Timedelta(days=7 * int(r["weeks"]) - 1)
        sc = Scenario(ids=who, start=start, end=end, promo=1, promo_depth=float(r["depth"]) or None)
        res = what_if(model, future, sc, hierarchy)
        base, promo = res.totals(changed=True)
        rows.append(
            {
                "candidate_id": str(r["candidate_id"]),
                "baseline_units": base,
                "promo_units": promo,
                "siblings_diff": res.siblings_diff,
                "siblings": len(res.siblings),
            }
        )
    return pd.DataFrame(rows)


def run_promotion_plan(
    model: Forecaster,
    future: pd.DataFrame,
    history: pd.DataFrame | None,
    candidates: pd.DataFrame,
    products: pd.DataFrame,
    rules: PromotionRules,
    hierarchy: Mapping[str, Sequence[str]] | None,
    market_col: str = "region",
    product_col: str = "product",
    promo_col: str = "promo",
) -> PromotionPlan:
    """Effects (what-if), the dip (history, when given) and the exact plan."""
    effects = estimate_effects(model, future, candidates, hierarchy, market_col, product_col)
    dip = post_promo_dip(history, promo_col) if history is not None else (0.0, 0.0)
    return plan_promotions(candidates, effects, products, rules, dip)
