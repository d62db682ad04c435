"""Walmart "Store Sales Forecasting" (Kaggle 2014): weekly sales of 45 stores × ~81 departments with holiday
flags, store type/size and the MarkDown1–5 promotions — the main sell-out benchmark (see SOURCE.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from salesplan.contracts import Hierarchy, SelloutDataset, SelloutSpec, fill_gaps, validate_sellout
from salesplan.loaders._common import dataset_file, read_csv, source_problem

NAME = "walmart"
MARKDOWNS = tuple(f"markdown{i}" for i in range(1, 6))
HIERARCHY = Hierarchy({"geo": ["store_type", "store"], "product": ["dept"]})
# File dates are the Friday that ENDS each sales week; the contract wants the period start (Saturday).
WEEK_END_TO_START = pd.Timedelta(days=6)


def load_walmart(data_dir: Path | None = None, *, clip_negative: bool = True) -> SelloutDataset:
    """Store×department weekly sales as a validated sell-out data set.

    ``y`` is Weekly_Sales (USD, the only "units" the set has). Negative weeks are returns; they are clipped
    to 0 by default because the contract (and count-like models) want non-negative sales — pass
    ``clip_negative=False`` to keep them (the spec then allows negatives). ``ds`` is the week start
    (file date − 6 days, a Saturday). Store-weeks missing inside a series' first..last week are sales of 0
    (the source has no zero rows) and are added. ``is_holiday`` and ``markdown1..5`` come from
    features.csv per store and week (markdowns NaN → 0: no markdown recorded), ``store_size`` from
    stores.csv.
    """
    train_path = dataset_file(NAME, "train.csv.zip", data_dir)
    feat_path = dataset_file(NAME, "features.csv", data_dir)
    stores_path = dataset_file(NAME, "stores.csv", data_dir)

    train = read_csv(
        train_path,
        required=("Store", "Dept", "Date", "Weekly_Sales"),
        usecols=["Store", "Dept", "Date", "Weekly_Sales"],
        dtype={"Store": "int64", "Dept": "int64", "Weekly_Sales": "float64"},
    )
    n_source = len(train)
    notes = [f"{n_source:,} source rows from {train_path.name}"]

    sales = pd.DataFrame(
        {
            "unique_id": train["Store"].astype(str) + "_" + train["Dept"].astype(str),
            "ds": pd.to_datetime(train["Date"], format="%Y-%m-%d") - WEEK_END_TO_START,
            "y": train["Weekly_Sales"].to_numpy(),
        }
    )
    n_neg = int((sales["y"] < 0).sum())
    if clip_negative:
        sales["y"] = sales["y"].clip(lower=0.0)
        notes.append(f"{n_neg:,} negative weekly sales (returns) clipped to 0")
    else:
        notes.append(f"{n_neg:,} negative weekly sales (returns) kept as they are")
    notes.append("ds is the week start: the file's week-ending Friday minus 6 days (a Saturday)")

    filled = fill_gaps(sales, "W", value=0.0)
    n_added = len(filled) - len(sales)
    notes.append(
        f"{n_added:,} missing store×dept weeks inside each series' first..last week added with y=0 "
        "(the source omits weeks without sales)"
    )

    df = _attach(filled, _stores(stores_path), _features(feat_path), feat_path, stores_path)
    notes.append(
        "markdown1..5 NaN (no markdown recorded: every week before 2011-11-11, often after) set to 0"
    )
    df = df[["unique_id", "ds", "y", "store_type", "store", "dept", "store_size", "is_holiday", *MARKDOWNS]]
    spec = SelloutSpec(
        freq="W",
        hierarchy=HIERARCHY,
        exog_cols=("is_holiday", *MARKDOWNS),
        static_cols=("store_size",),
        allow_negative=not clip_negative,
    )
    clean = validate_sellout(df, spec, source=f"{NAME} ({train_path.parent})")
    notes.append(
        f"{clean['unique_id'].nunique():,} series, {clean['ds'].nunique()} weeks, {len(clean):,} rows"
    )
    return SelloutDataset(df=clean, spec=spec, name=NAME, notes=notes)


def _stores(path: Path) -> pd.DataFrame:
    """Store type (A/B/C) and size (sq ft). The file uses old-Mac CR line endings; pandas reads them."""
    stores = read_csv(path, required=("Store", "Type", "Size"))
    return pd.DataFrame(
        {
            "Store": stores["Store"].astype("int64"),
            "store_type": stores["Type"].astype(str),
            "store_size": stores["Size"].astype("int64"),
        }
    )


def _features(path: Path) -> pd.DataFrame:
    """Holiday flag and markdowns per store and week start (features.csv also covers the test period)."""
    raw = read_csv(path, required=("Store", "Date", "IsHoliday", *(f"MarkDown{i}" for i in range(1, 6))))
    out = pd.DataFrame(
        {
            "Store": raw["Store"].astype("int64"),
            "ds": pd.to_datetime(raw["Date"], format="%Y-%m-%d") - WEEK_END_TO_START,
            "is_holiday": raw["IsHoliday"].astype(str).str.upper().eq("TRUE").astype("int64"),
        }
    )
    for i, col in enumerate(MARKDOWNS, 1):
        out[col] = pd.to_numeric(raw[f"MarkDown{i}"], errors="coerce").fillna(0.0)
    dup = out.duplicated(["Store", "ds"], keep=False)
    if dup.any():
        source_problem(
            path,
            "Date",
            "duplicate store/week rows in features.csv",
            out.loc[dup, "Store"].astype(str) + "/" + out.loc[dup, "ds"].dt.strftime("%Y-%m-%d"),
            fix="restore the original file (one row per store and week)",
        )
    return out


def _day_key(store: np.ndarray, ds: pd.Series) -> np.ndarray:
    """One integer per store and date, for index lookups instead of merges on two columns."""
    days = ds.to_numpy().astype("datetime64[D]").astype("int64")
    return store.astype("int64") * 1_000_000 + days


def _attach(
    filled: pd.DataFrame, stores: pd.DataFrame, features: pd.DataFrame, feat_path: Path, stores_path: Path
) -> pd.DataFrame:
    """Store and dept from the series id, then store and week attributes by integer-key lookups: merging
    450k rows on string keys cost more than all the rest of the loader."""
    codes, uniques = pd.factorize(filled["unique_id"])
    parts = pd.Series(uniques).str.split("_", n=1, expand=True)
    store = parts[0].astype("int64").to_numpy()[codes]
    df = filled.assign(store=parts[0].to_numpy()[codes], dept=parts[1].to_numpy()[codes])

    srow = pd.Index(stores["Store"]).get_indexer(store)
    if (srow < 0).any():
        source_problem(
            stores_path,
            "Store",
            "stores in train.csv missing from stores.csv",
            np.unique(store[srow < 0]).astype(str),
            fix="restore the original stores.csv (45 stores)",
        )
    df["store_type"] = stores["store_type"].to_numpy()[srow]
    df["store_size"] = stores["store_size"].to_numpy()[srow]

    frow = pd.Index(_day_key(features["Store"].to_numpy(), features["ds"])).get_indexer(
        pd.Index(_day_key(store, df["ds"]))
    )
    if (frow < 0).any():
        miss = frow < 0
        source_problem(
            feat_path,
            "Date",
            "sales weeks without a features.csv row",
            df.loc[miss, "unique_id"] + "@" + df.loc[miss, "ds"].dt.strftime("%Y-%m-%d"),
            fix="restore the original features.csv (every store and week 2010-02-05..2013-07-26)",
        )
    for col in ("is_holiday", *MARKDOWNS):
        df[col] = features[col].to_numpy()[frow]
    return df
