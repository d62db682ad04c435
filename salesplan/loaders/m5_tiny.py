"""A tiny real M5 (Walmart) slice: 10 FOODS_3 items at store CA_1, daily with prices and events. Smoke tests
only — too small to benchmark (see SOURCE.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from salesplan.contracts import Hierarchy, SelloutDataset, SelloutSpec, validate_sellout
from salesplan.loaders._common import dataset_file, read_csv, source_problem

NAME = "m5_tiny"
HIERARCHY = Hierarchy({"geo": ["state", "store"], "product": ["cat", "dept", "item"]})
REQUIRED = (
    "item_id",
    "dept_id",
    "cat_id",
    "store_id",
    "state_id",
    "sales",
    "date",
    "event_name_1",
    "sell_price",
)


def load_m5_tiny(data_dir: Path | None = None) -> SelloutDataset:
    """Daily units per item × store on a regular calendar.

    The file holds only days with sales ≥ 1 (SOURCE.md). Each item is reindexed to every day from its first
    sale to the file's last date with ``y = 0`` on the added days — an ASSUMPTION: a missing day may be a
    stock-out or an unlisted day rather than zero demand, and the file cannot tell them apart.
    ``price`` = sell_price, carried forward to added days. ``event`` = 1 when the day has an M5 calendar
    event (event_name_1); events are per date, so added days take the event seen on other items' rows of
    that date, and days with no row for any item get 0 (their event is unknown here).
    """
    path = dataset_file(NAME, "m5_subset.csv", data_dir)
    raw = read_csv(path, required=REQUIRED)
    notes = [f"{len(raw):,} source rows from {path.name} (only days with sales ≥ 1)"]
    raw = raw.assign(
        ds=pd.to_datetime(raw["date"], format="%Y-%m-%d"),
        unique_id=raw["item_id"].astype(str) + "_" + raw["store_id"].astype(str),
    )
    dup = raw.duplicated(["unique_id", "ds"], keep=False)
    if dup.any():
        source_problem(
            path,
            "date",
            "several rows for one item and day",
            raw.loc[dup, "unique_id"] + "@" + raw.loc[dup, "date"].astype(str),
            fix="restore the original m5_subset.csv (one row per item and day)",
        )
    last = raw["ds"].max()
    first = raw.groupby("unique_id")["ds"].min()
    grid = pd.concat(
        [
            pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, last, freq="D")})
            for uid, start in first.items()
        ],
        ignore_index=True,
    )
    cols = ["unique_id", "ds", "sales", "sell_price", "item_id", "dept_id", "cat_id", "store_id", "state_id"]
    df = grid.merge(raw[cols], on=["unique_id", "ds"], how="left", validate="one_to_one")
    n_added = int(df["sales"].isna().sum())
    notes.append(
        f"{n_added:,} days without a row (from each item's first sale to {last.date()}) added with y=0 — "
        "assumption: absent day = no sale (stock-outs cannot be told apart)"
    )
    df = df.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    carry = ["sell_price", "item_id", "dept_id", "cat_id", "store_id", "state_id"]
    df[carry] = df.groupby("unique_id")[carry].ffill()

    event_days = raw.groupby("ds")["event_name_1"].agg(lambda s: int(s.notna().any()))
    seen_days = set(raw["ds"])
    n_unknown = int((~pd.Series(pd.date_range(raw["ds"].min(), last, freq="D")).isin(seen_days)).sum())
    notes.append(
        f"event = 1 on days with an event_name_1 ({int(event_days.sum())} such days seen); "
        f"{n_unknown} calendar days have no row for any item, their event is unknown and set to 0"
    )
    out = pd.DataFrame(
        {
            "unique_id": df["unique_id"],
            "ds": df["ds"],
            "y": df["sales"].fillna(0.0).astype(float),
            "price": df["sell_price"].astype(float),
            "event": df["ds"].map(event_days).fillna(0).astype("int64"),
            "state": df["state_id"],
            "store": df["store_id"],
            "cat": df["cat_id"],
            "dept": df["dept_id"],
            "item": df["item_id"],
        }
    )
    spec = SelloutSpec(freq="D", hierarchy=HIERARCHY, exog_cols=("event",))
    clean = validate_sellout(out, spec, source=f"{NAME} ({path})")
    notes.append(
        f"{clean['unique_id'].nunique()} series, {clean['ds'].nunique():,} days, {len(clean):,} rows"
    )
    return SelloutDataset(df=clean, spec=spec, name=NAME, notes=notes)
