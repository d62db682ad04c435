"""The one selection workflow behind ``salesplan plan select``, ``GET /api/v1/selection`` and the
"Selection & accounts" page: the champion's batch forecast and history, a margin input (a products table of
price and unit cost, or margin rates), the ranking and the exact featured-portfolio pick of
``planning.selection``. The doors differ only in where the batch and the products table come from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from salesplan.errors import ConfigError
from salesplan.io import find_table, read_table
from salesplan.planning.selection import (
    Margins,
    Portfolio,
    PortfolioRules,
    SelectionRanking,
    SelectionRequest,
    pick_portfolio,
    rank_candidates,
)

__all__ = ["PRODUCTS_TABLE", "Selection", "load_products", "margins_input", "run_selection"]

PRODUCTS_TABLE = "products"
"""``products.csv``/``.parquet`` in the planning data folder: price and unit cost (or unit margin) per
product (optionally per market too), what ``salesplan simulate`` writes."""


@dataclass(frozen=True)
class Selection:
    """The ranking, the portfolio and where the margins came from."""

    ranking: SelectionRanking
    portfolio: Portfolio
    margin_source: str


def load_products(folder: Path | None) -> pd.DataFrame | None:
    """The products table of a planning data folder, None when it has none."""
    if folder is None:
        return None
    path = find_table(Path(folder), PRODUCTS_TABLE)
    return None if path is None else read_table(path)


def margins_input(
    products: pd.DataFrame | None,
    margin_rate: float | None = None,
    rates: Mapping[str, float] | None = None,
    rate_col: str | None = None,
    future: pd.DataFrame | None = None,
) -> tuple[Margins, str]:
    """Margins from margin rates when any are given (they override the table), else from the products
    table; with ``future`` (the batch's planned regressors) holding a price, each forecast period's margin
    comes from its planned price (promotions planned in the span lower it). ConfigError saying how to give
    a margin input when there is none."""
    planned = None
    if future is not None and {"unique_id", "ds", "price"} <= set(future.columns):
        planned = future[["unique_id", "ds", "price"]]
    if margin_rate is not None or rates:
        where = f"margin rate {margin_rate:.0%}" if margin_rate is not None else "margin rates"
        if products is not None and "price" in products.columns:
            prices = products.drop(columns=[c for c in ("unit_cost", "unit_margin") if c in products.columns])
            m = Margins(
                rates=dict(rates or {}), rate_col=rate_col, default_rate=margin_rate, prices=prices,
                period_prices=planned,
            )  # fmt: skip
            return m, f"{where} × the {'planned' if planned is not None else 'list'} price"
        return Margins(
            rates=dict(rates or {}), rate_col=rate_col, default_rate=margin_rate
        ), f"{where} of the forecast (revenue)"
    if products is None:
        raise ConfigError(
            "no margin input: the planning data has no products table (products.csv with product, price, "
            "unit_cost) and no margin rate was given. Fix: pass a margin rate (e.g. 0.3) or add the table"
        )
    if planned is not None and "unit_cost" in products.columns:
        return Margins(
            unit_margin=products, period_prices=planned
        ), "planned price − unit cost (products table)"
    return Margins(unit_margin=products), "products table (price − unit cost)"


def run_selection(
    forecast: pd.DataFrame,
    history: pd.DataFrame,
    hierarchy: Mapping[str, Sequence[str]] | None,
    request: SelectionRequest,
    rules: PortfolioRules,
    margins: Margins,
    margin_source: str,
) -> Selection:
    """Rank and pick: the whole workflow, pure over its inputs."""
    ranking = rank_candidates(forecast, history, request, margins, hierarchy)
    return Selection(ranking, pick_portfolio(ranking.table, rules), margin_source)
