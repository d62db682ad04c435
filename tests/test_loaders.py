"""Loaders of the real data sets: counts from SOURCE.md, contract shape, and the quirks each loader handles.
Tests that need the shared data skip (naming the folder and SALESPLAN_DATA_DIR) when it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesplan.config import get_settings
from salesplan.contracts import CRMData, SelloutDataset, StageMap, validate_sellout
from salesplan.errors import ConfigError, DataNotFoundError, DataValidationError
from salesplan.loaders import (
    DATASET_DIRS,
    LOADERS,
    METRO_REGION,
    available,
    load,
    load_avocado,
    load_dominicks,
    load_m5_tiny,
    load_maven,
    load_online_retail,
    load_salvirt,
    load_walmart,
)
from salesplan.loaders.dominicks import BRANDS


def need(name: str) -> Path:
    """The folder of data set ``name``, or skip the test with a reason that says how to provide it."""
    root = Path(get_settings().data_dir)
    folder = root / DATASET_DIRS[name]
    if not folder.is_dir():
        pytest.skip(
            f"real data set {name!r} not found at {folder.resolve()}; set SALESPLAN_DATA_DIR to the shared "
            "data folder to run this test"
        )
    return folder


def assert_valid(ds: SelloutDataset) -> None:
    """The frame is exactly what the contract returns for it (validated, sorted, typed)."""
    again = validate_sellout(ds.df, ds.spec)
    pd.testing.assert_frame_equal(again, ds.df)
    assert ds.notes


def has_note(ds: SelloutDataset, *words: str) -> bool:
    return any(all(w in n for w in words) for n in ds.notes)


# --- missing data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_missing_folder_names_path_and_setting(name: str, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as err:
        load(name, data_dir=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / DATASET_DIRS[name]) in msg
    assert "SALESPLAN_DATA_DIR" in msg


def test_missing_folder_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESPLAN_DATA_DIR", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    with pytest.raises(DataNotFoundError, match="nowhere"):
        load_avocado()


def test_missing_file_in_existing_folder(tmp_path: Path) -> None:
    (tmp_path / DATASET_DIRS["walmart"]).mkdir()
    with pytest.raises(DataNotFoundError, match=r"train\.csv\.zip.*SALESPLAN_DATA_DIR"):
        load_walmart(tmp_path)


def test_wrong_columns_are_a_validation_error(tmp_path: Path) -> None:
    folder = tmp_path / DATASET_DIRS["avocado"]
    folder.mkdir()
    (folder / "avocado.csv").write_text("Date,Volume\n2015-01-04,3\n")
    with pytest.raises(DataValidationError, match=r"missing expected column\(s\).*AveragePrice"):
        load_avocado(tmp_path)


def test_available_and_unknown_name(tmp_path: Path) -> None:
    assert available(tmp_path) == dict.fromkeys(LOADERS, False)
    with pytest.raises(ConfigError, match="unknown data set 'nope'"):
        load("nope")


@pytest.mark.realdata
def test_available_on_real_data() -> None:
    for name in LOADERS:
        need(name)
    assert all(available().values())


# --- walmart ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def walmart() -> SelloutDataset:
    get_settings.cache_clear()
    need("walmart")
    return load_walmart()


@pytest.mark.slow
@pytest.mark.realdata
def test_walmart_counts_and_contract(walmart: SelloutDataset) -> None:
    df = walmart.df
    assert df["unique_id"].nunique() == 3331
    assert df["ds"].nunique() == 143
    assert df["store"].nunique() == 45
    assert df["dept"].nunique() == 81
    assert set(df["store_type"]) == {"A", "B", "C"}
    assert walmart.spec.hierarchy is not None
    assert walmart.spec.hierarchy.to_dict() == {"geo": ["store_type", "store"], "product": ["dept"]}
    assert (df["unique_id"] == df["store"] + "_" + df["dept"]).all()
    assert has_note(walmart, "421,570 source rows")
    added = len(df) - 421_570
    assert added > 0 and has_note(walmart, f"{added:,} missing", "y=0")
    assert_valid(walmart)


@pytest.mark.slow
@pytest.mark.realdata
def test_walmart_clipping_week_start_and_features(walmart: SelloutDataset) -> None:
    df = walmart.df
    assert (df["y"] >= 0).all()
    assert has_note(walmart, "1,285 negative", "clipped to 0")
    assert (df["ds"].dt.dayofweek == 5).all()  # Saturday = week-ending Friday − 6 days
    assert df["ds"].min() == pd.Timestamp("2010-01-30")
    # The holiday flag comes from features.csv and must land on the week ENDING on the holiday Friday.
    holiday_fridays = pd.to_datetime(
        [
            *("2010-02-12", "2010-09-10", "2010-11-26", "2010-12-31", "2011-02-11"),
            *("2011-09-09", "2011-11-25", "2011-12-30", "2012-02-10", "2012-09-07"),
        ]
    )
    flagged = np.sort(df.loc[df["is_holiday"] == 1, "ds"].unique())
    np.testing.assert_array_equal(flagged, (holiday_fridays - pd.Timedelta(days=6)).to_numpy())
    md = [f"markdown{i}" for i in range(1, 6)]
    assert df[md].notna().all().all()
    assert (df.loc[df["ds"] < pd.Timestamp("2011-11-05"), md] == 0).all().all()
    assert df.groupby("unique_id")["store_size"].nunique().max() == 1


# --- dominicks --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.realdata
def test_dominicks_counts_calendar_and_prices() -> None:
    folder = need("dominicks")
    ds = load_dominicks()
    df = ds.df
    assert df["unique_id"].nunique() == 913
    assert len(df) == 106_139
    assert df["ds"].nunique() == 121
    assert df["ds"].min() == pd.Timestamp("1989-09-14")
    assert (df["ds"].dt.dayofweek == 3).all()
    assert ds.spec.allow_gaps
    assert has_note(ds, "Microsoft")
    brands = df.groupby("manufacturer")["brand"].nunique()
    assert brands["Tropicana"] == 3 and brands["Minute Maid"] == 2 and brands["Dominick's"] == 2
    assert df["manufacturer"].nunique() == 7
    raw = pd.read_csv(folder / "orangejuice_store_brand_week.csv")
    key = raw["store"].astype(str) + "_" + raw["brand"].map(BRANDS)
    raw = raw.assign(unique_id=key).sort_values(["unique_id", "week"], kind="stable").reset_index(drop=True)
    np.testing.assert_allclose(df["y"], np.round(np.exp(raw["logmove"])))
    prices = raw[[f"price{b}" for b in range(1, 12)]].to_numpy()
    own = prices[np.arange(len(raw)), raw["brand"] - 1]
    np.testing.assert_allclose(df["price"], own)
    prices[np.arange(len(raw)), raw["brand"] - 1] = np.inf
    np.testing.assert_allclose(df["comp_price_min"], prices.min(axis=1))
    assert_valid(ds)


@pytest.mark.slow
@pytest.mark.realdata
def test_dominicks_interpolate_fills_every_gap() -> None:
    need("dominicks")
    ds = load_dominicks(gaps="interpolate", demographics=True)
    df = ds.df
    assert not ds.spec.allow_gaps  # the validator checked there are no gaps left
    assert "income" in ds.spec.static_cols and df.groupby("store")["income"].nunique().max() == 1
    assert df["unique_id"].nunique() == 913
    assert len(df) > 106_139 and df.notna().all().all()
    assert has_note(ds, f"{len(df) - 106_139:,} missing", "linear")
    with pytest.raises(ConfigError, match="category"):
        load_dominicks(category="cheese")  # type: ignore[arg-type]


# --- avocado ----------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_avocado_all_levels() -> None:
    need("avocado")
    ds = load_avocado(level="all")
    df = ds.df
    assert len(df) == 18_249
    assert df["unique_id"].nunique() == 108
    assert ds.spec.hierarchy is None
    assert (df["ds"].dt.dayofweek == 6).all()
    per_level = df.groupby("market_level")["unique_id"].nunique().to_dict()
    assert per_level == {"total": 2, "region": 16, "metro": 90}


@pytest.mark.realdata
def test_avocado_metro_hierarchy_and_mapping_fits_volumes() -> None:
    need("avocado")
    ds = load_avocado()
    df = ds.df
    assert ds.spec.hierarchy is not None
    assert ds.spec.hierarchy.to_dict() == {"geo": ["macro_region", "market"], "product": ["type"]}
    assert df["unique_id"].nunique() == 90 and df["market"].nunique() == 45
    assert df["macro_region"].nunique() == 8
    assert set(df["market"]) == set(METRO_REGION)
    assert_valid(ds)
    # A grossly misplaced metro (e.g. Los Angeles in West) pushes some week's metro sum above its region.
    full = load_avocado(level="all").df
    regions = full[full["market_level"] == "region"].set_index(["market", "type", "ds"])["y"]
    metro_sum = df.groupby(["macro_region", "type", "ds"])["y"].sum()
    metro_sum.index = metro_sum.index.set_names(["market", "type", "ds"])
    share = metro_sum / regions.reindex(metro_sum.index)
    assert share.notna().all()
    assert share.max() < 1.0


# --- online retail ----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_online_retail_daily_panel_clipping_and_price() -> None:
    need("online_retail")
    ds = load_online_retail()
    df = ds.df
    assert df["unique_id"].nunique() == 38
    assert df.groupby("unique_id")["ds"].nunique().eq(363).all()
    assert len(df) == 38 * 363
    assert (df["y"] >= 0).all() and (df["revenue"] >= 0).all()
    assert has_note(ds, "77 negative", "clipped") and has_note(ds, "64 negative", "clipped")
    assert df["price"].notna().all() and (df["price"] > 0).all()
    both = (df["y"] > 0) & (df["revenue"] > 0)
    np.testing.assert_allclose(df.loc[both, "price"], df.loc[both, "revenue"] / df.loc[both, "y"])
    assert_valid(ds)
    assert load_online_retail(exclude_fees=True).df["unique_id"].nunique() == 36


# --- m5 tiny ----------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_m5_tiny_reindexed_with_zeros() -> None:
    folder = need("m5_tiny")
    ds = load_m5_tiny()
    df = ds.df
    raw = pd.read_csv(folder / "m5_subset.csv")
    assert df["unique_id"].nunique() == 10
    assert ds.spec.hierarchy is not None
    assert ds.spec.hierarchy.to_dict() == {"geo": ["state", "store"], "product": ["cat", "dept", "item"]}
    assert (df.groupby("unique_id")["ds"].max() == pd.Timestamp("2016-04-24")).all()
    span = df.groupby("unique_id")["ds"].agg(lambda s: (s.max() - s.min()).days + 1)
    assert (span == df.groupby("unique_id").size()).all()  # one row per day, no gaps
    assert df["y"].sum() == raw["sales"].sum()
    assert int((df["y"] == 0).sum()) == len(df) - len(raw)
    assert set(df["event"].unique()) <= {0.0, 1.0} and df["event"].sum() > 0
    assert df["price"].notna().all()
    assert has_note(ds, "assumption")
    assert_valid(ds)


# --- maven ------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_maven_counts_and_links() -> None:
    need("maven")
    crm = load_maven()
    assert isinstance(crm, CRMData)
    o = crm.opportunities
    assert len(o) == 8800 and len(crm.reps) == 35 and len(crm.accounts) == 85
    assert o["outcome"].value_counts().to_dict() == {"won": 4238, "lost": 2473, "open": 2089}
    assert o.loc[o["outcome"] == "won", "stage"].eq("Sign").all()
    assert set(o["stage"]) == {"Find", "Pitch", "Sign"}
    assert o["created_date"].isna().sum() == 500  # the Prospecting deals
    assert o["account_id"].isna().sum() == 1425
    assert "GTXPro" not in set(o["product"]) and "GTX Pro" in set(o["product"])
    assert (crm.reps["role"] == "AE").all() and crm.reps["region"].nunique() == 3
    ev = crm.stage_events
    assert ev["stage"].value_counts().to_dict() == {"Pitch": 8300, "Won": 4238, "Lost": 2473}
    assert "technolgy" not in set(crm.accounts["sector"])


@pytest.mark.realdata
def test_maven_amount_is_list_price_not_close_value() -> None:
    folder = need("maven")
    o = load_maven().opportunities
    prices = pd.read_csv(folder / "products.csv").set_index("product")["sales_price"]
    np.testing.assert_allclose(o["amount"], o["product"].astype(str).map(prices))
    lost = o["outcome"] == "lost"
    assert (o.loc[lost, "amount"] > 0).all() and (o.loc[lost, "won_value"] == 0).all()
    assert o.loc[o["outcome"] == "open", "amount"].notna().all()
    won = o["outcome"] == "won"
    assert (o.loc[won, "amount"] != o.loc[won, "won_value"]).mean() > 0.5


@pytest.mark.realdata
def test_maven_custom_and_invalid_stage_map() -> None:
    need("maven")
    crm = load_maven(
        stage_map=StageMap({"Prospecting": "Find", "Engaging": "Meet", "Won": "Sign", "Lost": "Lost"})
    )
    assert set(crm.stage_events["stage"]) == {"Meet", "Sign", "Lost"}
    assert set(crm.opportunities["stage"]) == {"Find", "Meet", "Sign"}
    with pytest.raises(ConfigError, match="'Lost' must map to 'Lost'"):
        load_maven(
            stage_map=StageMap({"Prospecting": "Find", "Engaging": "Pitch", "Won": "Won", "Lost": "Meet"})
        )
    with pytest.raises(ConfigError, match="must map exactly"):
        load_maven(stage_map=StageMap({"Engaging": "Pitch"}))


# --- salvirt ----------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_salvirt_counts_attributes_and_dedupe() -> None:
    need("salvirt")
    crm = load_salvirt()
    o = crm.opportunities
    assert len(o) == 448
    assert (o["outcome"] == "won").sum() == 227
    assert o["opportunity_id"].iloc[0] == "SV0001" and o["opportunity_id"].is_unique
    attrs = {
        "authority",
        "comp_size",
        "purch_dept",
        "budgt_alloc",
        "rfi",
        "rfp",
        "lead_source",
        "att_t_client",
    }
    assert attrs <= set(o.columns)
    assert len(o.columns) == 4 + 20 + 1  # id, rep, product, outcome + 20 attributes + dup_group
    assert set(crm.reps["rep_id"]) == set(o["rep_id"])
    assert o["dup_group"].nunique() == 365
    dd = load_salvirt(dedupe=True).opportunities
    assert len(dd) == 365 and dd["dup_group"].is_unique
    assert set(dd["opportunity_id"]) <= set(o["opportunity_id"])
