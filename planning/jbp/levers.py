"""The levers of a joint business plan, one row per lever and quarter: the sell-out value it adds, the gross
margin on that at the account's margin rate, its cost and who pays it (supplier or account), and where the
effect comes from (the forecaster's what-if, or an assumption of the lever settings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from salesplan.planning.jbp.inputs import LeverSettings, WhatIfEffect

__all__ = ["LEVERS", "LEVER_COLUMNS", "lever_table"]

LEVERS = ("promotion", "price", "featured placement", "added outlets", "service level")
LEVER_COLUMNS = [
    "quarter", "lever", "source", "revenue", "gross_margin", "cost_supplier", "cost_account",
    "net_margin_supplier", "detail",
]  # fmt: skip


def _units(x: float) -> str:
    """Signed whole units; a rounded zero reads +0, never -0."""
    return f"{round(float(x)):+,}"


def _row(quarter: str, lever: str, source: str, revenue: float, margin_rate: float, supplier: float,
         account: float, detail: str) -> dict[str, object]:  # fmt: skip
    gm = revenue * margin_rate
    return {"quarter": quarter, "lever": lever, "source": source, "revenue": revenue, "gross_margin": gm,
            "cost_supplier": supplier, "cost_account": account, "net_margin_supplier": gm - supplier,
            "detail": detail}  # fmt: skip


def lever_table(
    quarters: Sequence[str],
    baseline_p50: Mapping[str, float],
    settings: LeverSettings,
    *,
    price_per_unit: float,
    margin_rate: float,
    sales_per_outlet: float,
    featured_share: float,
    featured: Sequence[str] = (),
    promo: Mapping[str, WhatIfEffect] | None = None,
    price: Mapping[str, WhatIfEffect] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Every lever × plan quarter (``LEVER_COLUMNS``) and notes on levers left out (and why). Values are
    sell-out money: units × ``price_per_unit`` (the account's realised price per unit)."""
    s, rows, notes = settings, [], []
    promo, price = promo or {}, price or {}
    for i, q in enumerate(quarters):
        base = float(baseline_p50[q])
        if s.promo_weeks > 0:
            e = promo.get(q)
            if e is None:
                if i == 0:
                    notes.append("promotion left out: no what-if effect (needs the forecaster and its "
                                 "future regressors)")  # fmt: skip
            else:
                inc = e.incremental_units * price_per_unit
                discount = s.promo_depth * e.new_units * price_per_unit
                rows.append(_row(q, "promotion", "what-if", inc, margin_rate,
                                 discount * s.promo_supplier_share, discount * (1 - s.promo_supplier_share),
                                 f"{e.weeks} week(s) at {s.promo_depth:.0%} off: {_units(e.new_units - e.base_units)} "
                                 f"units own, {_units(e.siblings_units)} siblings, {_units(e.dip_units)} dip"))  # fmt: skip
        if s.price_change != 0:
            e = price.get(q)
            if e is None:
                if i == 0:
                    notes.append("price left out: no what-if effect (needs the forecaster's price response)")
            else:
                inc = (e.new_units - e.base_units + e.siblings_units) * price_per_unit
                invest = -s.price_change * e.new_units * price_per_unit
                rows.append(_row(q, "price", "what-if", inc, margin_rate, invest * s.price_supplier_share,
                                 invest * (1 - s.price_supplier_share),
                                 f"shelf price {s.price_change:+.1%}: {_units(e.new_units - e.base_units)} units"))  # fmt: skip
        if s.featured_products > 0 and s.feature_lift > 0 and featured_share > 0:
            fb = featured_share * base
            rows.append(_row(q, "featured placement", "assumption", s.feature_lift * fb, margin_rate,
                             s.feature_fee_rate * fb, 0.0,
                             f"{', '.join(featured) or 'top products'} featured: +{s.feature_lift:.0%} on "
                             f"{featured_share:.0%} of the account's sales, fee {s.feature_fee_rate:.0%}"))  # fmt: skip
        if s.new_outlets > 0 and sales_per_outlet > 0:
            ramp = s.outlet_ramp[min(i, len(s.outlet_ramp) - 1)]
            full = s.new_outlets * sales_per_outlet
            rows.append(_row(q, "added outlets", "assumption", ramp * full, margin_rate,
                             s.listing_fee_rate * full if i == 0 else 0.0,
                             s.fitout_rate * full if i == 0 else 0.0,
                             f"{s.new_outlets} outlet(s) at {ramp:.0%} of {sales_per_outlet:,.0f} per outlet"))  # fmt: skip
        if s.service_to != s.service_from:
            rec = base * (s.service_to / s.service_from - 1)
            rows.append(_row(q, "service level", "assumption", rec, margin_rate, 0.0,
                             s.service_cost_rate * max(rec, 0.0),
                             f"on-shelf availability {s.service_from:.0%} -> {s.service_to:.0%}"))  # fmt: skip
    return pd.DataFrame(rows, columns=LEVER_COLUMNS), notes
