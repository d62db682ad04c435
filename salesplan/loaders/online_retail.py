"""UCI "Online Retail" (UK gift e-shop, Dec 2010 – Nov 2011), Ready Tensor's daily panel of its 38 top
StockCodes: a small real daily, intermittent e-commerce set (see SOURCE.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from salesplan.contracts import SelloutDataset, SelloutSpec, validate_sellout
from salesplan.loaders._common import dataset_file, read_csv

NAME = "online_retail"
#: StockCodes that are charges, not merchandise (UCI descriptions: DOTCOM POSTAGE, POSTAGE).
FEE_CODES: tuple[str, ...] = ("DOT", "POST")


def load_online_retail(data_dir: Path | None = None, *, exclude_fees: bool = False) -> SelloutDataset:
    """Daily units (``y`` = Quantity) and ``revenue`` (= Sales, GBP) per StockCode.

    Some daily sums are negative (cancellations and returns outweighed sales that day): both are clipped
    to 0 (a day of net returns sold nothing) and the counts are noted. ``price`` = Sales / Quantity on days with both > 0,
    otherwise the item's last such price (forward fill; days before its first sale take that first
    price). ``exclude_fees=True`` drops the postage StockCodes DOT and POST, which are not products.
    """
    path = dataset_file(NAME, "online_retail_sales.csv", data_dir)
    raw = read_csv(
        path,
        required=("StockCode", "InvoiceDate", "Quantity", "Sales"),
        dtype={"StockCode": str, "Quantity": float, "Sales": float},
    )
    notes = [f"{len(raw):,} source rows from {path.name}"]
    if exclude_fees:
        fee = raw["StockCode"].isin(FEE_CODES)
        raw = raw.loc[~fee]
        notes.append(f"{int(fee.sum()):,} rows of the postage codes {list(FEE_CODES)} dropped")
    else:
        notes.append(f"StockCodes {list(FEE_CODES)} are postage charges, not products (exclude_fees=True)")

    qty = raw["Quantity"].to_numpy(dtype=float)
    sales = raw["Sales"].to_numpy(dtype=float)
    notes.append(f"{int((qty < 0).sum())} negative daily quantities (net returns) clipped to 0")
    notes.append(f"{int((sales < 0).sum())} negative daily revenues (net refunds) clipped to 0")
    unit_price = np.where((qty > 0) & (sales > 0), sales / np.where(qty > 0, qty, 1.0), np.nan)

    df = pd.DataFrame(
        {
            "unique_id": raw["StockCode"].astype(str).str.strip().to_numpy(),
            "ds": pd.to_datetime(raw["InvoiceDate"], format="%Y-%m-%d").to_numpy(),
            "y": np.clip(qty, 0.0, None),
            "revenue": np.clip(sales, 0.0, None),
            "price": unit_price,
        }
    ).sort_values(["unique_id", "ds"], kind="stable")
    n_derived = int(df["price"].notna().sum())
    df["price"] = df.groupby("unique_id")["price"].ffill()
    df["price"] = df.groupby("unique_id")["price"].bfill()
    notes.append(
        f"price = Sales/Quantity on {n_derived:,} days with both > 0; other days carry the last price "
        "(leading days take the first)"
    )
    spec = SelloutSpec(freq="D")
    clean = validate_sellout(df, spec, source=f"{NAME} ({path})")
    notes.append(f"{clean['unique_id'].nunique()} series, {clean['ds'].nunique()} days, {len(clean):,} rows")
    return SelloutDataset(df=clean, spec=spec, name=NAME, notes=notes)
