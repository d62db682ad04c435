"""Rank products × markets by the margin they are expected to bring over the next quarter (or year): forecast
units × unit margin with its P10/P90, growth against the same weeks last year, trend, risk, and flags for
new products (first sale less than a year before the forecast, or forecast by the cold-start model) and
declining ones.

Input frames are the batch forecast and history of ``salesplan.contracts.forecast``: the rows of the level
keyed by the two chosen hierarchy columns (e.g. ``store/product``) at the data's own frequency. "Next
quarter" is the next 13 weeks (3 months, 91 days, 1 quarter) from the forecast's first period, not the
calendar quarter, which a forecast made mid-quarter covers only in part; when the horizon is shorter the
ranking covers what it has and says so (``coverage``). Periods' quantiles are summed, which is the
quantile of the sum when the periods move together (an upper bound on the band's width otherwise: the
careful side for risk). Last year is the same span 52 weeks (12 months, 4 quarters) earlier; the trend is
fitted on the history cut into the same spans counted back from the forecast start."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from salesplan.contracts.forecast import quantile_col
from salesplan.errors import ConfigError, InsufficientDataError
from salesplan.planning.selection.margins import Margins, period_unit_margins, unit_margins

__all__ = ["SelectionRanking", "SelectionRequest", "default_category", "find_level", "rank_candidates"]

SPAN = {  # periods of the data's frequency in a quarter and in a year (the same weeks one year back)
    "D": {"Q": 91, "Y": 364},
    "W": {"Q": 13, "Y": 52},
    "M": {"Q": 3, "Y": 12},
    "Q": {"Q": 1, "Y": 4},
    "Y": {"Y": 1},
}
TREND_SPANS = 8
"""Spans of history (two years of quarters) the trend is fitted on."""
FINEST = ("D", "W", "M", "Q", "Y")


@dataclass(frozen=True)
class SelectionRequest:
    """What to rank: ``market`` and ``product`` hierarchy columns, ``category`` (for diversification and
    margin rates; default the product's parent in ``hierarchy``), ``horizon`` Q (next quarter) or Y (next
    year) and how many of them (``periods``); ``decline`` is the growth vs last year at or below which a
    product with a falling trend is flagged declining."""

    market: str
    product: str
    category: str | None = None
    horizon: Literal["Q", "Y"] = "Q"
    periods: int = 1
    decline: float = -0.1

    def __post_init__(self) -> None:
        if self.market == self.product:
            raise ConfigError(f"market and product must be two different columns, got {self.market!r} twice")
        if self.horizon not in ("Q", "Y"):
            raise ConfigError(f"horizon must be Q (next quarter) or Y (next year), got {self.horizon!r}")
        if not 1 <= self.periods <= 4:
            raise ConfigError(f"periods is how many quarters (years) to cover, 1..4; got {self.periods}")
        if not -1 < self.decline <= 0:
            raise ConfigError(f"decline is a growth at or below 0, e.g. -0.1; got {self.decline}")


@dataclass(frozen=True)
class SelectionRanking:
    """``table``: one row per market × product, best expected contribution first, columns ``market,
    product, category, unique_id, units, units_p10, units_p90, unit_margin, contribution,
    contribution_p10, contribution_p90, last_year, growth, trend, trend_strength, risk, cold_start,
    declining, rank`` (``rank`` within the market); ``span``: first and last forecast period covered;
    ``coverage``: share of the asked span the forecast horizon holds; ``missing_margin``: candidates
    without a margin input (left out)."""

    table: pd.DataFrame
    request: SelectionRequest
    level: str
    freq: str
    span: tuple[str, str]
    coverage: float
    missing_margin: tuple[str, ...] = ()


def find_level(levels: Sequence[str], market: str, product: str) -> str:
    """The level keyed by exactly the two columns, in either order."""
    for name in levels:
        if set(str(name).split("/")) == {market, product}:
            return str(name)
    raise ConfigError(
        f"no forecast level is keyed by {market!r} × {product!r}; the batch has "
        f"{sorted(set(map(str, levels)))}. Fix: choose a geo column and a product column of the hierarchy "
        "(e.g. store and product)"
    )


def default_category(hierarchy: Mapping[str, Sequence[str]] | None, product: str) -> str | None:
    """The parent of ``product`` in its hierarchy dimension (None when it has none)."""
    for cols in (hierarchy or {}).values():
        cols = list(cols)
        if product in cols and cols.index(product) > 0:
            return str(cols[cols.index(product) - 1])
    return None


def _trend(blocks: pd.DataFrame, per_year: int) -> pd.DataFrame:
    """Per unit: annual growth of the log-linear fit over the last ``TREND_SPANS`` spans and its R²."""
    h = blocks.sort_values("block", ascending=False).groupby("unique_id").tail(TREND_SPANS)
    t = -h["block"].to_numpy(dtype=float)
    y = np.log1p(h["y"].clip(lower=0).to_numpy(dtype=float))
    g = pd.DataFrame(
        {"unique_id": h["unique_id"].to_numpy(), "t": t, "y": y, "tt": t * t, "ty": t * y, "yy": y * y}
    )
    s = g.groupby("unique_id").agg(
        n=("t", "size"), t=("t", "sum"), y=("y", "sum"), tt=("tt", "sum"), ty=("ty", "sum"), yy=("yy", "sum")
    )
    sxx = s["tt"] - s["t"] ** 2 / s["n"]
    sxy = s["ty"] - s["t"] * s["y"] / s["n"]
    syy = s["yy"] - s["y"] ** 2 / s["n"]
    slope = (sxy / sxx.where(sxx > 0)).where(s["n"] >= 3)
    r2 = (sxy**2 / (sxx * syy)).where((sxx > 0) & (syy > 0) & (s["n"] >= 3))
    return pd.DataFrame({"trend": np.expm1(slope * per_year), "trend_strength": r2.fillna(0.0)})


def _level_rows(frame: pd.DataFrame, level: str, what: str) -> tuple[pd.DataFrame, str]:
    rows = frame[frame["level"] == level]
    freqs = [f for f in FINEST if f in set(rows["freq"])]
    if not freqs:
        raise InsufficientDataError(f"the {what} has no rows at level {level!r}")
    return rows[rows["freq"] == freqs[0]], freqs[0]


def rank_candidates(
    forecast: pd.DataFrame,
    history: pd.DataFrame,
    request: SelectionRequest,
    margins: Margins,
    hierarchy: Mapping[str, Sequence[str]] | None = None,
) -> SelectionRanking:
    """Rank every market × product of the level keyed by the request's columns (module docstring)."""
    req = request
    level = find_level(list(dict.fromkeys(forecast["level"])), req.market, req.product)
    category = req.category or default_category(hierarchy, req.product)
    q10, q90 = quantile_col(0.1), quantile_col(0.9)
    fc, freq = _level_rows(forecast, level, "forecast")
    missing = [c for c in ("yhat", q10, q90, req.market, req.product) if c not in fc.columns]
    if missing:
        raise ConfigError(f"the forecast frame lacks {missing} at level {level!r}")
    if category is not None and category not in fc.columns:
        raise ConfigError(f"category column {category!r} is not in the forecast frame; name another")
    if req.horizon not in SPAN[freq]:
        raise ConfigError(f"{freq} data has no quarters; ask for the next year (horizon Y)")
    n = SPAN[freq][req.horizon] * req.periods
    per_year = SPAN[freq]["Y"]
    dates = sorted(fc["ds"].unique())
    chosen = dates[:n]
    coverage = len(chosen) / n
    fc = fc[fc["ds"].isin(chosen)]
    keys = [c for c in (category, req.market, req.product) if c is not None]
    pm = period_unit_margins(fc, margins, keys)
    fc = fc.assign(
        pm=np.nan if pm is None else pm, c=fc["yhat"] * pm if pm is not None else np.nan,
        c10=fc[q10] * pm if pm is not None else np.nan, c90=fc[q90] * pm if pm is not None else np.nan,
    )  # fmt: skip
    agg = fc.groupby("unique_id", sort=False).agg(
        **{k: (k, "first") for k in keys},
        units=("yhat", "sum"),
        units_p10=(q10, "sum"),
        units_p90=(q90, "sum"),
        method=("method", "first") if "method" in fc.columns else ("yhat", "size"),
        priced=("pm", "count"),
        c=("c", "sum"),
        c10=("c10", "sum"),
        c90=("c90", "sum"),
    )
    agg = agg.reset_index()
    um = unit_margins(agg, margins, keys)
    # planned prices for every period of a candidate: its margin per unit is the units-weighted one
    full = (agg["priced"] == len(chosen)).to_numpy()
    um = np.where(full & (agg["units"] > 0).to_numpy(), agg["c"] / agg["units"].where(agg["units"] > 0), um)
    no_margin = tuple(sorted(agg.loc[np.isnan(um), "unique_id"].astype(str)))
    agg["unit_margin"] = um
    agg = agg[~np.isnan(um)].copy()
    hist = history[(history["level"] == level) & (history["freq"] == freq) & (history["ds"] < chosen[0])]
    # periods back from the forecast start, in spans of the asked length: block 0 = the span just before
    back = hist["ds"].rank(method="dense", ascending=False).astype(int) - 1
    hist = hist.assign(back=back.to_numpy())
    ly = hist[(hist["back"] >= per_year - len(chosen)) & (hist["back"] < per_year)]
    ly_units = ly.groupby("unique_id")["y"].sum()
    ly_n = ly.groupby("unique_id").size()
    agg["last_year_units"] = agg["unique_id"].map(ly_units.where(ly_n.reindex(ly_units.index) == len(chosen)))
    blocks = hist.assign(block=hist["back"] // max(len(chosen), 1)).groupby(["unique_id", "block"])["y"].sum()
    agg = agg.join(_trend(blocks.reset_index(), per_year // max(len(chosen), 1) or 1), on="unique_id")
    age = hist[hist["y"] > 0].groupby("unique_id")["back"].max() + 1  # periods since the first sale
    pairs = (
        ("contribution", "units", "c"),
        ("contribution_p10", "units_p10", "c10"),
        ("contribution_p90", "units_p90", "c90"),
    )
    for c, src, priced in pairs:
        static = agg[src] * agg["unit_margin"]
        agg[c] = np.where(agg["priced"] == len(chosen), agg[priced], static) if pm is not None else static
    band = agg[["contribution_p10", "contribution_p90"]]
    agg["contribution_p10"], agg["contribution_p90"] = (
        band.min(axis=1),
        band.max(axis=1),
    )  # a negative margin flips it
    agg["last_year"] = agg["last_year_units"] * agg["unit_margin"]
    agg["growth"] = agg["units"] / agg["last_year_units"].where(agg["last_year_units"] > 0) - 1
    agg["risk"] = (agg["units_p90"] - agg["units_p10"]) / agg["units"].where(agg["units"] > 0)
    cold_method = agg["method"].astype(str).str.contains("cold", case=False)
    agg["cold_start"] = cold_method | (agg["unique_id"].map(age).fillna(0) < per_year)
    agg["declining"] = ~agg["cold_start"] & (agg["growth"] <= req.decline) & (agg["trend"].fillna(0) < 0)
    agg = agg.rename(columns={req.market: "market", req.product: "product"})
    if category is None:
        agg["category"] = "all"
    else:
        agg = agg.rename(columns={category: "category"})
    for c in ("market", "product", "category", "unique_id"):
        agg[c] = agg[c].astype(str)
    agg = agg.sort_values(["contribution", "unique_id"], ascending=[False, True]).reset_index(drop=True)
    agg["rank"] = agg.groupby("market").cumcount() + 1
    cols = [
        "market", "product", "category", "unique_id", "units", "units_p10", "units_p90", "unit_margin",
        "contribution", "contribution_p10", "contribution_p90", "last_year", "growth", "trend",
        "trend_strength", "risk", "cold_start", "declining", "rank",
    ]  # fmt: skip
    span = (pd.Timestamp(chosen[0]).date().isoformat(), pd.Timestamp(chosen[-1]).date().isoformat())
    return SelectionRanking(agg[cols], req, level, freq, span, coverage, no_margin)
