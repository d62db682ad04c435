"""How a unit of forecast becomes margin: a unit margin per product (price − unit cost), or a margin rate
per category applied to a price (units) or to the forecast itself (when ``y`` is already revenue, as in
Walmart's weekly sales in dollars)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salesplan.errors import ConfigError

__all__ = ["Margins", "period_unit_margins", "unit_margins"]


@dataclass(frozen=True)
class Margins:
    """The margin input, checked when built.

    - ``unit_margin``: a frame keyed by any of the candidate's columns (``product``; or ``market`` and
      ``product``) with ``unit_margin`` (money per unit), or with ``price`` and ``unit_cost`` (the unit
      margin is their difference).
    - otherwise ``rates`` (margin rate per value of ``rate_col``, e.g. per category) with ``default_rate``
      for values not named; with ``prices`` (keyed like ``unit_margin``, column ``price``) a unit's margin is
      price × rate, without it the forecast is taken as revenue and its margin is forecast × rate.
    - ``period_prices`` (``unique_id, ds, price``: the planned price of each forecast period, e.g. the
      batch's future regressors): a period's unit margin is then its planned price − unit cost (or price ×
      rate), so promotions planned in the span lower the margin of the units they add."""

    unit_margin: pd.DataFrame | None = None
    rates: Mapping[str, float] = field(default_factory=dict)
    rate_col: str | None = None
    default_rate: float | None = None
    prices: pd.DataFrame | None = None
    period_prices: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.unit_margin is None and self.default_rate is None and not self.rates:
            raise ConfigError(
                "no margin input: give unit margins (price and unit cost per product) or a margin rate "
                "(per category, or one default rate such as 0.3)"
            )
        if self.unit_margin is not None:
            cols = set(self.unit_margin.columns)
            costs_only = "unit_cost" in cols and self.period_prices is not None
            if "unit_margin" not in cols and not {"price", "unit_cost"} <= cols and not costs_only:
                raise ConfigError(
                    f"the unit-margin table has columns {sorted(cols)}; it needs 'unit_margin', or 'price' "
                    "and 'unit_cost' (or 'unit_cost' with planned prices per period), next to the product (and "
                    "optionally market) column"
                )
        bad = {k: v for k, v in self.rates.items() if not (np.isfinite(v) and -1 < v < 1)}
        if self.default_rate is not None and not (
            np.isfinite(self.default_rate) and -1 < self.default_rate < 1
        ):
            bad["default"] = self.default_rate
        if bad:
            raise ConfigError(f"margin rates are shares in (-1, 1), e.g. 0.3 for 30 %; got {bad}")
        if self.period_prices is not None and not {"unique_id", "ds", "price"} <= set(
            self.period_prices.columns
        ):
            raise ConfigError("planned prices per period need the columns unique_id, ds and price")
        if self.rates and self.rate_col is None:
            raise ConfigError("margin rates per category need the column they are keyed by (rate_col)")

    @property
    def per_unit(self) -> bool:
        """True when the forecast is in units (a margin per unit is known), False when it is revenue."""
        return self.unit_margin is not None or self.prices is not None


def _keyed(table: pd.DataFrame, frame: pd.DataFrame, keys: Sequence[str], what: str) -> pd.DataFrame:
    on = [k for k in keys if k in table.columns]
    if not on:
        raise ConfigError(
            f"the {what} table is keyed by none of {list(keys)}; it has {sorted(map(str, table.columns))}"
        )
    t = table.assign(**{k: table[k].astype(str) for k in on}).drop_duplicates(on, keep="last")
    left = frame[on].astype(str).reset_index(drop=True)
    return left.merge(t, on=on, how="left", validate="many_to_one")


def unit_margins(frame: pd.DataFrame, margins: Margins, keys: Sequence[str]) -> np.ndarray:
    """Margin per unit of the forecast for each row of ``frame`` (keyed by ``keys``, most specific last),
    NaN where the input does not cover the row (the caller reports those)."""
    if margins.unit_margin is not None:
        t = _keyed(margins.unit_margin, frame, keys, "unit-margin")
        if "unit_margin" in t.columns:
            return t["unit_margin"].to_numpy(dtype=float)
        if "price" not in t.columns:  # costs only: the margin comes from planned prices per period
            return np.full(len(frame), np.nan)
        return (t["price"] - t["unit_cost"]).to_numpy(dtype=float)
    rate = np.full(len(frame), np.nan if margins.default_rate is None else margins.default_rate)
    if margins.rates and margins.rate_col is not None:
        if margins.rate_col not in frame.columns:
            raise ConfigError(
                f"margin rates are keyed by {margins.rate_col!r}, which the candidates lack; use one of "
                f"{[c for c in keys]}"
            )
        named = frame[margins.rate_col].astype(str).map(dict(margins.rates)).to_numpy(dtype=float)
        rate = np.where(np.isnan(named), rate, named)
    if margins.prices is not None:
        price = _keyed(margins.prices, frame, keys, "price")["price"].to_numpy(dtype=float)
        return price * rate
    return rate


def period_unit_margins(rows: pd.DataFrame, margins: Margins, keys: Sequence[str]) -> np.ndarray | None:
    """Unit margin of each forecast row (``unique_id, ds`` and ``keys``) at its planned price, NaN where no
    price is planned; None when the input has no planned prices or no cost to take them from."""
    if margins.period_prices is None:
        return None
    pp = margins.period_prices[["unique_id", "ds", "price"]].assign(
        unique_id=lambda d: d["unique_id"].astype(str), ds=lambda d: pd.to_datetime(d["ds"])
    )
    at = (
        rows[["unique_id", "ds"]]
        .assign(unique_id=lambda d: d["unique_id"].astype(str))
        .reset_index(drop=True)
    )
    merged = at.merge(pp.drop_duplicates(["unique_id", "ds"]), on=["unique_id", "ds"], how="left")
    price = merged["price"].to_numpy(dtype=float)
    if margins.unit_margin is not None:
        if "unit_cost" not in margins.unit_margin.columns:
            return None
        return price - _keyed(margins.unit_margin, rows, keys, "unit-margin")["unit_cost"].to_numpy(
            dtype=float
        )
    rate = unit_margins(
        rows, Margins(rates=margins.rates, rate_col=margins.rate_col, default_rate=margins.default_rate), keys
    )
    return price * rate
