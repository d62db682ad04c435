"""M1 competition (Makridakis et al., 1982): 1,001 real yearly, quarterly and monthly business, industry,
macro and demographic series with the competition's published train/test split (see SOURCE.md).

The set is a benchmark of whether a forecaster generalises beyond weekly retail, so the loader keeps the
competition's protocol in one place: one ``SelloutDataset`` per period (the contract has one frequency per
frame), the horizon of each period (``M1_HORIZON``), and the split (``split="train"`` is what a model may
see, ``"test"`` the last ``h`` points it is scored on, ``"all"`` both)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from salesplan.contracts import SelloutDataset, SelloutSpec, validate_sellout
from salesplan.errors import ConfigError
from salesplan.loaders._common import dataset_file, read_csv, source_problem

NAME = "m1"
PERIODS: tuple[str, ...] = ("YEARLY", "QUARTERLY", "MONTHLY")
M1_FREQ: dict[str, Literal["Y", "Q", "M"]] = {"YEARLY": "Y", "QUARTERLY": "Q", "MONTHLY": "M"}
M1_HORIZON: dict[str, int] = {"YEARLY": 6, "QUARTERLY": 8, "MONTHLY": 18}
"""The competition's forecast horizon per period (SOURCE.md)."""
M1_SEASON: dict[str, int] = {"YEARLY": 1, "QUARTERLY": 4, "MONTHLY": 12}
"""Season length per period, as SOURCE.md defines it for MASE."""
START = pd.Timestamp("1990-01-01")
"""M1 gives no calendar dates: every series starts here, on the grid of its own frequency (SOURCE.md)."""

Split = Literal["train", "test", "all"]


def load_m1(data_dir: Path | None = None, *, period: str = "MONTHLY", split: Split = "all") -> SelloutDataset:
    """The M1 series of one ``period`` (YEARLY, QUARTERLY or MONTHLY) as a plain ``unique_id, ds, y`` panel
    plus the static column ``type`` (MICRO1–3, INDUST, MACRO1–2, DEMOGR).

    ``split``: ``"train"`` (the competition's fitting part), ``"test"`` (the last ``M1_HORIZON[period]``
    points of each series, to score on) or ``"all"`` (both, one continuous series). Dates: each series
    starts on 1990-01-01 and steps by its period (month, quarter or year starts) — M1 has no dates, so
    calendar positions are conventional, the same for every method."""
    key = period.upper()
    if key not in PERIODS:
        raise ConfigError(f"M1 period must be one of {PERIODS}, got {period!r}")
    if split not in ("train", "test", "all"):
        raise ConfigError(f"M1 split must be 'train', 'test' or 'all', got {split!r}")
    meta_path = dataset_file(NAME, "m1_meta.csv", data_dir)
    long_path = dataset_file(NAME, "m1_long.csv.gz", data_dir)
    meta = read_csv(meta_path, required=("series_id", "n", "h", "period", "type"))
    raw = read_csv(long_path, required=("series_id", "split", "t", "y"))
    meta = meta[meta["period"] == key]
    raw = raw[raw["series_id"].isin(meta["series_id"])]
    n_test = raw[raw["split"] == "test"].groupby("series_id").size()
    wrong = n_test[n_test != M1_HORIZON[key]]
    if len(wrong):
        source_problem(
            long_path,
            "split",
            f"{key} series whose test part is not {M1_HORIZON[key]} points long",
            wrong.index,
            fix="restore the original m1_long.csv.gz (SOURCE.md)",
        )
    n_train = raw[raw["split"] == "train"].groupby("series_id").size()
    off = (n_train - meta.set_index("series_id")["n"].reindex(n_train.index)).abs() > 0
    if off.any():
        source_problem(
            long_path,
            "t",
            "training lengths differ from m1_meta.csv's n",
            n_train.index[off],
            fix="restore the original files (SOURCE.md)",
        )
    # one continuous index per series: train t = 1..n, test t = n+1..n+h
    pos = raw["t"].to_numpy(dtype=int) - 1
    pos = np.where(raw["split"] == "test", pos + raw["series_id"].map(n_train).to_numpy(dtype=int), pos)
    months = pos * {"YEARLY": 12, "QUARTERLY": 3, "MONTHLY": 1}[key] + START.month - 1
    ds = pd.to_datetime({"year": START.year + months // 12, "month": months % 12 + 1, "day": 1})
    df = pd.DataFrame(
        {
            "unique_id": raw["series_id"].astype(str).to_numpy(),
            "ds": ds.to_numpy(),
            "y": raw["y"].to_numpy(dtype=float),
            "type": raw["series_id"].map(meta.set_index("series_id")["type"]).astype(str).to_numpy(),
            "_split": raw["split"].to_numpy(),
        }
    )
    if split != "all":
        df = df[df["_split"] == split]
    spec = SelloutSpec(freq=M1_FREQ[key], static_cols=("type",))
    out = validate_sellout(df.drop(columns="_split"), spec, source=str(long_path))
    notes = [
        f"{out['unique_id'].nunique()} {key.lower()} M1 series, split={split!r} "
        f"(test = last {M1_HORIZON[key]} points of each series)",
        f"dates are conventional: every series starts {START.date()} on its {key.lower()} grid",
        f"training lengths {int(n_train.min())}–{int(n_train.max())} (median {int(n_train.median())})",
    ]
    return SelloutDataset(out, spec, f"m1_{key.lower()}", notes)
