"""Dominick's Finer Foods refrigerated orange juice (R package bayesm, ``orangeJuice``): weekly units of
83 stores × 11 brands with every brand's price, in-store deals and feature ads — the promotion-rich set
for price/promotion effects and a brand → manufacturer hierarchy (see SOURCE.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from salesplan.contracts import Hierarchy, SelloutDataset, SelloutSpec, fill_gaps, validate_sellout
from salesplan.errors import ConfigError
from salesplan.loaders._common import dataset_file, read_csv, source_problem

NAME = "dominicks"
N_BRANDS = 11
#: bayesm brand codes → readable names (bayesm reference manual, ``orangeJuice``).
BRANDS: dict[int, str] = {
    1: "Tropicana Premium 64oz",
    2: "Tropicana Premium 96oz",
    3: "Florida's Natural 64oz",
    4: "Tropicana 64oz",
    5: "Minute Maid 64oz",
    6: "Minute Maid 96oz",
    7: "Citrus Hill 64oz",
    8: "Tree Fresh 64oz",
    9: "Florida Gold 64oz",
    10: "Dominicks 64oz",
    11: "Dominicks 128oz",
}
#: Brand code → manufacturer (SOURCE.md: Tropicana 1,2,4; Minute Maid 5,6; Dominick's 10,11; the other
#: brands are their own manufacturer).
MANUFACTURERS: dict[int, str] = {
    1: "Tropicana",
    2: "Tropicana",
    3: "Florida's Natural",
    4: "Tropicana",
    5: "Minute Maid",
    6: "Minute Maid",
    7: "Citrus Hill",
    8: "Tree Fresh",
    9: "Florida Gold",
    10: "Dominick's",
    11: "Dominick's",
}
HIERARCHY = Hierarchy({"geo": ["store"], "product": ["manufacturer", "brand"]})
#: Calendar anchor: bayesm gives only week numbers. Microsoft's ``forecasting`` repo (grocery_sales example)
#: dates week 40 as 1989-09-14 (a Thursday); that is THEIR convention, not part of bayesm, and is used here
#: so results line up with that public benchmark.
WEEK40_START = pd.Timestamp("1989-09-14")
FIRST_WEEK = 40
PRICE_COLS = tuple(f"price{b}" for b in range(1, N_BRANDS + 1))


def load_dominicks(
    data_dir: Path | None = None,
    *,
    category: Literal["oj"] = "oj",
    gaps: Literal["keep", "interpolate"] = "keep",
    demographics: bool = False,
) -> SelloutDataset:
    """Store×brand weekly orange-juice sales as a validated sell-out data set.

    ``y`` = round(exp(logmove)) units; ``price`` the brand's own price (bayesm's price<brand>, as given);
    ``deal`` (0/1) and ``feat`` (0..1) are promotions; ``comp_price_min`` is the lowest price of the other
    ten brands in the same store-week. ``profit`` is dropped: it is an outcome, not a known-future input.

    Missing store-brand-weeks are NOT zero sales (SOURCE.md), so by default they stay missing
    (``gaps="keep"``, spec ``allow_gaps=True``). ``gaps="interpolate"`` adds them: ``y`` linear between the
    neighbouring observed weeks (not rounded), price/comp_price_min/deal/feat carried forward from the last
    observed week — a smoothing assumption for models that need a regular grid, noted in ``notes``.
    ``demographics=True`` adds the 11 store covariates of orangejuice_storedemo.csv (age60, educ, ethnic,
    income, …, lower-cased) as static columns, e.g. to cluster or group stores.
    """
    if category != "oj":
        raise ConfigError(
            f"dominicks: category={category!r} is not supported; only 'oj' (orange juice) is a store×brand "
            "weekly panel. cheese_retailer_week.csv and tuna_week.csv have no calendar and another shape; "
            "use category='oj'"
        )
    if gaps not in ("keep", "interpolate"):
        raise ConfigError(f"dominicks: gaps must be 'keep' or 'interpolate', got {gaps!r}")
    path = dataset_file(NAME, "orangejuice_store_brand_week.csv", data_dir)
    raw = read_csv(path, required=("store", "brand", "week", "logmove", "deal", "feat", *PRICE_COLS))
    _check_codes(raw, path)
    notes = [
        f"{len(raw):,} source rows from {path.name}",
        f"ds = {WEEK40_START.date()} + (week − {FIRST_WEEK}) weeks: Microsoft forecasting-repo calendar "
        "convention, not part of bayesm",
        "y = round(exp(logmove)); profit column dropped (outcome, not an input)",
    ]

    brand = raw["brand"].astype("int64").to_numpy()
    prices = raw[list(PRICE_COLS)].to_numpy(dtype=float)
    rows = np.arange(len(raw))
    own = prices[rows, brand - 1]
    others = prices.copy()
    others[rows, brand - 1] = np.inf
    comp_min = others.min(axis=1)

    store = raw["store"].astype("int64").astype(str)
    brand_s = pd.Series(brand, index=raw.index)
    df = pd.DataFrame(
        {
            "unique_id": store + "_" + brand_s.map(BRANDS),
            "ds": WEEK40_START + pd.to_timedelta((raw["week"].astype("int64") - FIRST_WEEK) * 7, unit="D"),
            "y": np.round(np.exp(raw["logmove"].to_numpy(dtype=float))),
            "price": own,
            "deal": raw["deal"].astype(float),
            "feat": raw["feat"].astype(float),
            "comp_price_min": comp_min,
            "store": store,
            "manufacturer": brand_s.map(MANUFACTURERS),
            "brand": brand_s.map(BRANDS),
        }
    )
    if gaps == "interpolate":
        df, n_added = _interpolate(df)
        notes.append(
            f"{n_added:,} missing store-brand-weeks added: y linear between observed neighbours "
            "(not rounded); price, comp_price_min, deal, feat carried forward"
        )
    else:
        n_missing = _count_gaps(df)
        notes.append(
            f"{n_missing:,} missing store-brand-weeks kept missing (not zero sales; allow_gaps=True)"
        )

    static: tuple[str, ...] = ()
    if demographics:
        demo = _demographics(dataset_file(NAME, "orangejuice_storedemo.csv", data_dir))
        static = tuple(c for c in demo.columns if c != "store")
        df = df.merge(demo, on="store", how="left", validate="many_to_one")
        notes.append(f"store demographics {list(static)} added as static columns")
    spec = SelloutSpec(
        freq="W",
        hierarchy=HIERARCHY,
        promo_cols=("deal", "feat"),
        exog_cols=("comp_price_min",),
        static_cols=static,
        allow_gaps=gaps == "keep",
    )
    clean = validate_sellout(df, spec, source=f"{NAME} ({path})")
    notes.append(
        f"{clean['unique_id'].nunique():,} series, {clean['ds'].nunique()} weeks, {len(clean):,} rows"
    )
    return SelloutDataset(df=clean, spec=spec, name=NAME, notes=notes)


def _check_codes(raw: pd.DataFrame, path: Path) -> None:
    bad = ~raw["brand"].isin(list(BRANDS))
    if bad.any():
        source_problem(
            path,
            "brand",
            f"brand codes outside 1..{N_BRANDS}",
            raw.loc[bad, "brand"].astype(str).unique(),
            fix="restore the original bayesm orangeJuice export",
        )


def _demographics(path: Path) -> pd.DataFrame:
    """Static store covariates (bayesm ``orangeJuice$storedemo``), keyed like the sales frame's ``store``."""
    demo = read_csv(path, required=("STORE",))
    demo = demo.rename(columns=str.lower)
    demo["store"] = demo["store"].astype("int64").astype(str)
    missing = [c for c in demo.columns if c != "store" and demo[c].isna().any()]
    if missing:
        source_problem(
            path, None, "store demographics with missing values", missing, fix="restore the original file"
        )
    return demo


def _count_gaps(df: pd.DataFrame) -> int:
    weeks = (df["ds"] - WEEK40_START).dt.days // 7
    g = weeks.groupby(df["unique_id"])
    return int((g.max() - g.min() + 1 - g.size()).sum())


def _interpolate(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Regular weekly grid per series; every series starts and ends on an observed week, so a global
    interpolation / forward fill over the (unique_id, ds)-sorted frame never crosses series."""
    grid = fill_gaps(df, "W", value=np.nan).sort_values(["unique_id", "ds"], kind="stable")
    grid = grid.reset_index(drop=True)
    n_added = int(grid["y"].isna().sum())
    grid["y"] = grid["y"].interpolate(method="linear")
    carry = ["price", "deal", "feat", "comp_price_min", "store", "manufacturer", "brand"]
    grid[carry] = grid[carry].ffill()
    return grid, n_added
