"""What a joint business plan is built from: the account and its peers, the quarterly sales history per
outlet, the outlets' quarter forecasts, the what-if effects of the promotion and price levers, and the lever
settings a key-account manager agrees with the account (each with its default and where it came from).

Everything is a frame or a number: planning never sees a model (the service runs the what-ifs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError, DataValidationError, NotFoundError, Problem

__all__ = [
    "JbpInputs",
    "LeverSettings",
    "WhatIfEffect",
    "account_row",
    "quarterly_sales",
    "top_products",
]

SALES_COLUMNS = ("store", "product", "quarter", "units", "revenue", "cost", "promo_units")


@dataclass(frozen=True)
class WhatIfEffect:
    """Units of the account's series over the lever's weeks without (``base_units``) and with the change
    (``new_units``), what the category siblings gain or lose (``siblings_units``, negative =
    cannibalised) and the post-promotion dip in units (``dip_units``, ≤ 0) — the forecaster's what-if."""

    base_units: float
    new_units: float
    siblings_units: float = 0.0
    dip_units: float = 0.0
    weeks: int = 1

    @property
    def incremental_units(self) -> float:
        return self.new_units - self.base_units + self.siblings_units + self.dip_units


@dataclass(frozen=True)
class LeverSettings:
    """The levers of one plan (per quarter of the plan). Shares are of the account's sell-out value at the
    data's prices; ``*_supplier_share`` is who pays (1: the supplier, 0: the account).

    Modelled (the forecaster's what-if, run by the service): ``promo_weeks`` weeks of promotion at
    ``promo_depth`` on the account's series, and a shelf-price change ``price_change`` (e.g. −0.03).
    Assumed (no model holds them; stated as assumptions on the plan): ``feature_lift`` on the
    ``featured_products`` best sellers of the account for a placement fee of ``feature_fee_rate`` of their
    revenue; ``new_outlets`` opened in the plan's first quarter selling the account's sales per outlet times
    ``outlet_ramp`` (1st, 2nd, 3rd+ quarter), for a listing fee (supplier) and a fit-out (account) as shares
    of one outlet's full quarter; a service level (on-shelf availability) raised from ``service_from`` to
    ``service_to``, recovering lost sales in proportion, for a stock-holding cost of
    ``service_cost_rate`` of the recovered value (account)."""

    promo_weeks: int = 2
    promo_depth: float = 0.2
    promo_supplier_share: float = 1.0
    price_change: float = 0.0
    price_supplier_share: float = 0.5
    featured_products: int = 2
    feature_lift: float = 0.08
    feature_fee_rate: float = 0.02
    new_outlets: int = 0
    outlet_ramp: tuple[float, ...] = (0.5, 0.8, 1.0)
    listing_fee_rate: float = 0.1
    fitout_rate: float = 0.25
    service_from: float = 0.95
    service_to: float = 0.95
    service_cost_rate: float = 0.2
    lever_cv: float = 0.3

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not 0 <= self.promo_weeks <= 13:
            problems.append(f"promo_weeks must be 0..13, got {self.promo_weeks}")
        if not 0 <= self.promo_depth < 0.95:
            problems.append(f"promo_depth must be in [0, 0.95), got {self.promo_depth}")
        if not -0.5 <= self.price_change <= 0.5:
            problems.append(f"price_change must be in [-0.5, 0.5], got {self.price_change}")
        for name in ("promo_supplier_share", "price_supplier_share"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.featured_products <= 100:
            problems.append(f"featured_products must be 0..100, got {self.featured_products}")
        for name in ("feature_lift", "feature_fee_rate", "listing_fee_rate", "fitout_rate",
                     "service_cost_rate", "lever_cv"):  # fmt: skip
            if not 0 <= getattr(self, name) <= 5:
                problems.append(f"{name} must be in [0, 5], got {getattr(self, name)}")
        if not 0 <= self.new_outlets <= 1000:
            problems.append(f"new_outlets must be 0..1000, got {self.new_outlets}")
        if not self.outlet_ramp or any(not 0 <= r <= 2 for r in self.outlet_ramp):
            problems.append(f"outlet_ramp must be shares in [0, 2], got {list(self.outlet_ramp)}")
        if not (0 < self.service_from <= 1 and 0 < self.service_to <= 1):
            problems.append(
                f"service levels are shares in (0, 1], got {self.service_from} -> {self.service_to}"
            )
        if problems:
            raise ConfigError("lever settings: " + "; ".join(problems))
        object.__setattr__(self, "outlet_ramp", tuple(float(r) for r in self.outlet_ramp))

    def to_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> LeverSettings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown lever settings {unknown}; known are {sorted(known)}")
        v = dict(values)
        if "outlet_ramp" in v and v["outlet_ramp"] is not None:
            v["outlet_ramp"] = tuple(v["outlet_ramp"])  # type: ignore[arg-type]
        return cls(**v)  # type: ignore[arg-type]


@dataclass(frozen=True)
class JbpInputs:
    """``accounts``: account_id, name, segment, outlets; ``outlets``: account_id, store; ``sales``: one row
    per store × product × quarter (``SALES_COLUMNS``, see :func:`quarterly_sales`); ``forecast``: the
    quarter rows of the store level (``store, period, coverage`` and quantile columns ``qNN`` in units);
    ``promo`` / ``price``: the what-if effect per plan quarter (absent: the lever is left out, with why)."""

    account_id: str
    accounts: pd.DataFrame
    outlets: pd.DataFrame
    sales: pd.DataFrame
    forecast: pd.DataFrame
    settings: LeverSettings = field(default_factory=LeverSettings)
    promo: Mapping[str, WhatIfEffect] = field(default_factory=dict)
    price: Mapping[str, WhatIfEffect] = field(default_factory=dict)
    target: float | None = None
    confidence: float = 0.5
    history_quarters: int = 4

    def __post_init__(self) -> None:
        if not 0.05 <= self.confidence <= 0.95:
            raise ConfigError(f"confidence (the P(hit) a target is set at) must be in [0.05, 0.95], got "
                              f"{self.confidence}")  # fmt: skip
        if self.target is not None and not (np.isfinite(self.target) and self.target > 0):
            raise ConfigError(f"target must be a positive amount, got {self.target}")
        if not 1 <= self.history_quarters <= 12:
            raise ConfigError(f"history_quarters must be 1..12, got {self.history_quarters}")
        for name, df, cols in (("accounts", self.accounts, ("account_id", "name", "segment")),
                               ("outlets", self.outlets, ("account_id", "store")),
                               ("sales", self.sales, SALES_COLUMNS),
                               ("forecast", self.forecast, ("store", "period", "coverage"))):  # fmt: skip
            miss = [c for c in cols if c not in df.columns]
            if miss:
                raise DataValidationError(
                    [Problem(c, "column missing", fix=f"{name} needs {list(cols)}") for c in miss], name
                )
        account_row(self.accounts, self.account_id)


def account_row(accounts: pd.DataFrame, account_id: str) -> dict[str, object]:
    """The account's row, or NotFoundError listing a few known ids."""
    hit = accounts[accounts["account_id"].astype(str) == str(account_id)]
    if hit.empty:
        known = ", ".join(accounts["account_id"].astype(str).head(8))
        raise NotFoundError(f"no account {account_id!r}; known accounts include {known}")
    return {str(k): v for k, v in hit.iloc[0].to_dict().items()}


def quarterly_sales(
    sellout: pd.DataFrame,
    products: pd.DataFrame,
    store_col: str = "store",
    product_col: str = "product",
    promo_col: str | None = "promo",
) -> pd.DataFrame:
    """Sell-out rows (``ds, y``, the store and product columns, optional ``price`` and promotion flag) summed
    per store × product × calendar quarter: units, revenue (at the row's price, else the products' list
    price), cost (units × unit cost) and promo units. Only whole quarters are kept (a quarter whose last
    week is missing from the data would read as a fall in sales)."""
    need = [c for c in ("ds", "y", store_col, product_col) if c not in sellout.columns]
    if need:
        raise DataValidationError(
            [Problem(c, "column missing", fix="sell-out needs ds, y, store and product") for c in need],
            "sell-out",
        )
    if not {"product", "price", "unit_cost"} <= set(products.columns):
        raise ConfigError("the products table needs product, price and unit_cost")
    p = products.assign(product=products["product"].astype(str)).set_index("product")
    df = pd.DataFrame(
        {
            "store": sellout[store_col].astype(str).to_numpy(),
            "product": sellout[product_col].astype(str).to_numpy(),
            "ds": pd.to_datetime(sellout["ds"]).to_numpy(),
            "units": sellout["y"].to_numpy(dtype=float),
        }
    )
    list_price = df["product"].map(p["price"]).to_numpy(dtype=float)
    price = sellout["price"].to_numpy(dtype=float) if "price" in sellout.columns else list_price
    price = np.where(np.isfinite(price), price, list_price)
    df["revenue"] = df["units"] * price
    df["cost"] = df["units"] * df["product"].map(p["unit_cost"]).to_numpy(dtype=float)
    on_promo = (
        sellout[promo_col].fillna(0).to_numpy(dtype=float) > 0
        if promo_col and promo_col in sellout.columns
        else np.zeros(len(df), bool)
    )
    df["promo_units"] = np.where(on_promo, df["units"], 0.0)
    q = df["ds"].dt.to_period("Q")
    df["quarter"] = q.astype(str)
    last = df["ds"].max()
    whole = q.dt.end_time.dt.normalize() - pd.Timedelta(days=6) <= last
    out = (
        df[whole.to_numpy()]
        .groupby(["store", "product", "quarter"], as_index=False)[["units", "revenue", "cost", "promo_units"]]
        .sum()
    )
    return out[list(SALES_COLUMNS)]


def top_products(
    sales: pd.DataFrame, stores: list[str], quarters: tuple[str, ...], n: int
) -> tuple[list[str], float]:
    """The ``n`` best-selling products of the stores over ``quarters`` (by sell-out value) and their share of
    the stores' sell-out: what the featured-placement and promotion levers act on."""
    mine = sales[sales["store"].astype(str).isin(stores) & sales["quarter"].astype(str).isin(quarters)]
    by_prod = mine.groupby("product")["revenue"].sum().sort_values(ascending=False, kind="stable")
    top = [str(p) for p in by_prod.index[:n]]
    total = float(by_prod.sum())
    return top, (float(by_prod.iloc[: len(top)].sum()) / total if total > 0 else 0.0)
