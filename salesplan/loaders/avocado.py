"""Hass Avocado Board weekly retail scans by US market × type (conventional/organic) with the average price —
a real hierarchy whose ``region`` column mixes levels (TotalUS, 8 macro regions, 45 metros; see SOURCE.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd

from salesplan.contracts import Hierarchy, SelloutDataset, SelloutSpec, validate_sellout
from salesplan.errors import ConfigError
from salesplan.loaders._common import dataset_file, read_csv, source_problem

NAME = "avocado"
TOTAL = "TotalUS"
MACRO_REGIONS: tuple[str, ...] = (
    "California",
    "West",
    "Plains",
    "SouthCentral",
    "Southeast",
    "Midsouth",
    "GreatLakes",
    "Northeast",
)
#: Metro market → macro region. The file has no such table; this one follows the US state of each metro
#: (HAB regions are groups of states: California; West = the Mountain and Pacific states; Plains = IA KS MN MO
#: NE ND SD; SouthCentral = AR LA OK TX; Southeast = AL FL GA MS SC; Midsouth = DE DC KY MD NC TN VA WV;
#: GreatLakes = IL IN MI OH WI; Northeast = New England, NJ NY PA) and was checked against the volumes:
#: in every week and type each macro region's volume exceeds the sum of its metros (share 0.40–0.98; only
#: St. Louis represents the Plains, 0.06–0.29), and the weekly sums correlate with the region's volume
#: (r ≥ 0.96, Plains 0.57–0.67). Two metros straddle regions: WestTexNewMexico (west Texas + New Mexico)
#: fits SouthCentral and West about equally (residual correlation 0.86 vs 0.84 on conventional volume) and
#: goes to SouthCentral by its Texas part; Pittsburgh (western PA) goes to Northeast, where it fits best.
METRO_REGION: dict[str, str] = {
    **dict.fromkeys(("LosAngeles", "Sacramento", "SanDiego", "SanFrancisco"), "California"),
    **dict.fromkeys(
        ("Boise", "Denver", "LasVegas", "PhoenixTucson", "Portland", "Seattle", "Spokane"), "West"
    ),
    "StLouis": "Plains",
    **dict.fromkeys(("DallasFtWorth", "Houston", "NewOrleansMobile", "WestTexNewMexico"), "SouthCentral"),
    **dict.fromkeys(
        ("Atlanta", "Jacksonville", "MiamiFtLauderdale", "Orlando", "SouthCarolina", "Tampa"), "Southeast"
    ),
    **dict.fromkeys(
        (
            "BaltimoreWashington",
            "Charlotte",
            "Louisville",
            "Nashville",
            "RaleighGreensboro",
            "RichmondNorfolk",
            "Roanoke",
        ),
        "Midsouth",
    ),
    **dict.fromkeys(
        ("Chicago", "CincinnatiDayton", "Columbus", "Detroit", "GrandRapids", "Indianapolis"), "GreatLakes"
    ),
    **dict.fromkeys(
        (
            "Albany",
            "Boston",
            "BuffaloRochester",
            "HarrisburgScranton",
            "HartfordSpringfield",
            "NewYork",
            "NorthernNewEngland",
            "Philadelphia",
            "Pittsburgh",
            "Syracuse",
        ),
        "Northeast",
    ),
}
HIERARCHY = Hierarchy({"geo": ["macro_region", "market"], "product": ["type"]})


def market_level(region: pd.Series) -> pd.Series:
    """``total`` for TotalUS, ``region`` for the 8 macro regions, ``metro`` for everything else."""
    level = pd.Series("metro", index=region.index, dtype=object)
    level[region.isin(MACRO_REGIONS)] = "region"
    level[region == TOTAL] = "total"
    return level


def load_avocado(data_dir: Path | None = None, *, level: Literal["metro", "all"] = "metro") -> SelloutDataset:
    """Weekly avocado volume (``y`` = Total Volume, units) and ``price`` (AveragePrice, USD per avocado).

    ``level="metro"`` (default) returns the 45 metro markets with the hierarchy macro_region → market and
    type; the macro-region and TotalUS rows are dropped because the metros do not sum to them (aggregate
    the metros instead, or use ``level="all"``). ``level="all"`` returns every region string as its own
    series, tagged ``market_level`` (total/region/metro), without a hierarchy. ``ds`` is the file's Date,
    a Sunday (weekly period start). The few missing weeks (WestTexNewMexico organic) stay missing.
    """
    if level not in ("metro", "all"):
        raise ConfigError(f"avocado: level must be 'metro' or 'all', got {level!r}")
    path = dataset_file(NAME, "avocado.csv", data_dir)
    raw = read_csv(path, required=("Date", "AveragePrice", "Total Volume", "type", "region"))
    region = raw["region"].astype(str)
    known = set(METRO_REGION) | set(MACRO_REGIONS) | {TOTAL}
    unknown = sorted(set(region) - known)
    if unknown:
        source_problem(
            path,
            "region",
            "regions not in the metro → macro-region table",
            unknown,
            fix="add them to salesplan.loaders.avocado.METRO_REGION (or restore the original file)",
        )
    notes = [
        f"{len(raw):,} source rows from {path.name}",
        "y = Total Volume (units), price = AveragePrice (USD per avocado); PLU and bag splits dropped",
    ]
    df = pd.DataFrame(
        {
            "unique_id": region + "_" + raw["type"].astype(str),
            "ds": pd.to_datetime(raw["Date"], format="%Y-%m-%d"),
            "y": raw["Total Volume"].astype(float),
            "price": raw["AveragePrice"].astype(float),
            "market": region,
            "type": raw["type"].astype(str),
        }
    )
    if level == "metro":
        is_metro = region.isin(list(METRO_REGION))
        df = df.loc[is_metro].assign(macro_region=region[is_metro].map(METRO_REGION))
        notes.append(
            f"metro level: {int((~is_metro).sum()):,} rows of TotalUS and the 8 macro regions dropped "
            "(metros do not sum to them); macro_region from the documented METRO_REGION table"
        )
        spec = SelloutSpec(freq="W", hierarchy=HIERARCHY, allow_gaps=True)
    else:
        df = df.assign(market_level=market_level(region))
        notes.append("all levels: TotalUS, macro regions and metros as separate series (no hierarchy)")
        spec = SelloutSpec(freq="W", static_cols=("market", "type", "market_level"), allow_gaps=True)
    clean = validate_sellout(df, spec, source=f"{NAME} ({path})")
    n_gaps = _count_gaps(clean)
    notes.append(f"{n_gaps} missing series-weeks kept missing (not reported, not zero sales)")
    notes.append(f"{clean['unique_id'].nunique()} series, {clean['ds'].nunique()} weeks, {len(clean):,} rows")
    return SelloutDataset(df=clean, spec=spec, name=NAME, notes=notes)


def _count_gaps(df: pd.DataFrame) -> int:
    weeks = (df["ds"] - df["ds"].min()).dt.days // 7
    g = weeks.groupby(df["unique_id"])
    return int((g.max() - g.min() + 1 - g.size()).sum())
