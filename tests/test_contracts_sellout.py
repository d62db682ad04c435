"""Each sell-out contract rule rejects its kind of bad input with a message naming the problem."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.contracts import Hierarchy, SelloutSpec, fill_gaps, validate_sellout
from salesplan.errors import ConfigError, DataValidationError

HIER = Hierarchy({"geo": ["region", "store"], "product": ["category", "product"]})
SPEC = SelloutSpec(freq="W", hierarchy=HIER, promo_cols=("promo",))


def _problems(df: pd.DataFrame, spec: SelloutSpec = SPEC) -> str:
    with pytest.raises(DataValidationError) as info:
        validate_sellout(df, spec)
    return str(info.value)


def test_clean_frame_is_accepted_and_typed(clean_sellout: pd.DataFrame) -> None:
    out = validate_sellout(clean_sellout, SPEC)
    assert len(out) == len(clean_sellout)
    assert pd.api.types.is_datetime64_any_dtype(out["ds"])
    assert out["y"].dtype == float and out["price"].dtype == float
    assert out["unique_id"].is_monotonic_increasing
    assert set(out.columns) == set(clean_sellout.columns)


def test_empty_input() -> None:
    msg = _problems(pd.DataFrame({"unique_id": [], "ds": [], "y": []}))
    assert "empty" in msg


def test_missing_required_column(clean_sellout: pd.DataFrame) -> None:
    assert "missing required column(s) ['y']" in _problems(clean_sellout.drop(columns="y"))


def test_unknown_column_named(clean_sellout: pd.DataFrame) -> None:
    msg = _problems(clean_sellout.assign(weather=1.0))
    assert "unknown column(s) ['weather']" in msg and "exog_cols" in msg


def test_unparsable_dates_name_the_rows(clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.copy()
    df.loc[2, "ds"] = "not a date"
    msg = _problems(df)
    assert "unparsable date" in msg and "S1/P1" in msg


def test_duplicates(clean_sellout: pd.DataFrame) -> None:
    df = pd.concat([clean_sellout, clean_sellout.iloc[[0]]], ignore_index=True)
    assert "duplicate rows" in _problems(df)


def test_gaps_reported_with_series(clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.drop(index=[3, 4]).reset_index(drop=True)
    msg = _problems(df)
    assert "have gaps" in msg and "S1/P1 (2 missing)" in msg
    ok = validate_sellout(df, SelloutSpec(hierarchy=HIER, promo_cols=("promo",), allow_gaps=True))
    assert len(ok) == len(df)


def test_negative_price_and_units(clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.copy()
    df.loc[1, "price"] = -1
    df.loc[5, "y"] = -3
    msg = _problems(df)
    assert "price(s) below 0" in msg and "unit(s) below 0" in msg
    assert "2 problem(s)" in msg  # every problem, not just the first


def test_negative_units_allowed_when_declared(clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.assign(y=clean_sellout["y"] - 12)
    out = validate_sellout(df, SelloutSpec(hierarchy=HIER, promo_cols=("promo",), allow_negative=True))
    assert (out["y"] < 0).any()


def test_non_numeric_values(clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.astype({"y": object, "promo": object})
    df.loc[0, "y"] = "12 units"
    df.loc[1, "promo"] = "yes"
    msg = _problems(df)
    assert "[y] non-numeric unit" in msg and "[promo] non-numeric" in msg


def test_weekly_dates_must_share_a_weekday(clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.copy()
    df.loc[0, "ds"] = "2024-12-31"  # a Tuesday among Mondays
    assert "same weekday" in _problems(df)


def test_monthly_dates_are_period_starts() -> None:
    df = pd.DataFrame({"unique_id": "a", "ds": ["2025-01-01", "2025-02-15"], "y": [1, 2]})
    assert "first day of the month" in _problems(df, SelloutSpec(freq="M"))


def test_hierarchy_child_with_two_parents(clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.copy()
    df.loc[df["unique_id"] == "S2/P1", "store"] = "S1"  # S1 now in North and South
    msg = _problems(df)
    assert "store belongs to more than one region" in msg


def test_hierarchy_value_changing_within_series(clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.copy()
    df.loc[0, "category"] = "Snacks"
    assert "hierarchy value changes within a series" in _problems(df)


def test_missing_hierarchy_column(clean_sellout: pd.DataFrame) -> None:
    assert "hierarchy column(s) ['category'] not in the frame" in _problems(
        clean_sellout.drop(columns="category")
    )


def test_hierarchy_spec_errors() -> None:
    with pytest.raises(ConfigError):
        Hierarchy({})
    with pytest.raises(ConfigError):
        Hierarchy({"a": ["x"], "b": ["x"]})
    with pytest.raises(ConfigError, match="freq must be one of"):
        SelloutSpec(freq="H")  # type: ignore[arg-type]


@pytest.mark.parametrize(("freq", "start", "bad"), [("Q", "QS", "2020-02-01"), ("Y", "YS", "2021-07-01")])
def test_quarterly_and_yearly_frames_are_dated_by_their_first_day(freq: str, start: str, bad: str) -> None:
    ds = pd.date_range("2018-01-01", periods=8, freq=start)
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "y": range(8)})
    spec = SelloutSpec(freq=freq)  # type: ignore[arg-type]
    assert len(validate_sellout(df, spec)) == 8
    off = df.assign(ds=df["ds"].where(df.index != 3, pd.Timestamp(bad)))
    assert "must be the first day of the" in _problems(off, spec)
    assert "gaps" in _problems(df.drop(index=4), spec)


def test_static_column_must_be_constant(clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.assign(size=range(len(clean_sellout)))
    spec = SelloutSpec(hierarchy=HIER, promo_cols=("promo",), static_cols=("size",))
    assert "static column changes within a series" in _problems(df, spec)


def test_fill_gaps_weekly_and_carry(clean_sellout: pd.DataFrame) -> None:
    df = validate_sellout(
        clean_sellout.drop(index=[3, 4]), SelloutSpec(hierarchy=HIER, promo_cols=("promo",), allow_gaps=True)
    )
    full = fill_gaps(df, "W", carry=["region", "store", "category", "product", "price"], zero=["promo"])
    assert len(full) == len(clean_sellout)
    added = full[
        (full["unique_id"] == "S1/P1") & full["ds"].isin(pd.to_datetime(["2025-01-27", "2025-02-03"]))
    ]
    assert (added["y"] == 0).all() and (added["region"] == "North").all() and (added["price"] == 2.5).all()
    validate_sellout(full, SPEC)


def test_fill_gaps_monthly_and_daily() -> None:
    m = pd.DataFrame({"unique_id": "a", "ds": pd.to_datetime(["2024-11-01", "2025-02-01"]), "y": [1.0, 2.0]})
    out = fill_gaps(m, "M")
    assert list(out["ds"].dt.strftime("%Y-%m")) == ["2024-11", "2024-12", "2025-01", "2025-02"]
    d = pd.DataFrame(
        {"unique_id": ["a", "b"], "ds": pd.to_datetime(["2025-01-01", "2025-01-03"]), "y": [1.0, 1.0]}
    )
    assert len(fill_gaps(d, "D", start="global")) == 1 + 3


@pytest.mark.parametrize(
    ("freq", "dates", "want"),
    [
        ("Q", ["2024-10-01", "2025-07-01"], ["2024-10-01", "2025-01-01", "2025-04-01", "2025-07-01"]),
        ("Y", ["2019-01-01", "2022-01-01"], ["2019-01-01", "2020-01-01", "2021-01-01", "2022-01-01"]),
        ("W", ["2025-01-03", "2025-01-24"], ["2025-01-03", "2025-01-10", "2025-01-17", "2025-01-24"]),
    ],
)
def test_fill_gaps_quarterly_yearly_and_friday_weeks(freq: str, dates: list[str], want: list[str]) -> None:
    df = pd.DataFrame({"unique_id": "a", "ds": pd.to_datetime(dates), "y": [1.0, 2.0], "promo": [1.0, 1.0]})
    out = fill_gaps(df, freq, zero=["promo"])  # type: ignore[arg-type]
    assert out["ds"].dt.strftime("%Y-%m-%d").tolist() == want
    assert out["y"].tolist() == [1.0, 0.0, 0.0, 2.0] and out["promo"].tolist() == [1.0, 0.0, 0.0, 1.0]
    validate_sellout(out[["unique_id", "ds", "y"]], SelloutSpec(freq=freq))  # type: ignore[arg-type]


def test_season_length_defaults_per_frequency_and_can_be_set() -> None:
    assert [SelloutSpec(freq=f).season for f in ("D", "W", "M", "Q", "Y")] == [7, 52, 12, 4, 1]  # type: ignore[arg-type]
    assert SelloutSpec(freq="D", season_length=365).season == 365
    for bad in (0, -4, 2.5, True):
        with pytest.raises(ConfigError, match="season_length"):
            SelloutSpec(freq="M", season_length=bad)  # type: ignore[arg-type]


def test_period_calendar_helpers() -> None:
    from salesplan.contracts import coarser, next_periods, period_days, period_label, period_start

    assert coarser("D") == ("W", "M", "Q", "Y") and coarser("M") == ("Q", "Y") and coarser("Y") == ()
    day = pd.Series(pd.to_datetime(["2026-12-31", "2027-02-14"]))
    assert period_label(period_start(day, "Q"), "Q").tolist() == ["2026Q4", "2027Q1"]
    assert period_label(period_start(day, "Y"), "Y").tolist() == ["2026", "2027"]
    assert period_start(day, "W", week_start=4).dt.strftime("%a").tolist() == ["Fri", "Fri"]
    assert list(period_days(period_start(day, "M"), "M")) == [31, 28]
    assert list(next_periods(pd.Timestamp("2026-10-01"), "Q", 2)) == [
        pd.Timestamp("2027-01-01"),
        pd.Timestamp("2027-04-01"),
    ]
    with pytest.raises(ConfigError, match="days, weeks"):
        coarser("H")


@pytest.mark.parametrize(
    ("dates", "want"),
    [
        (["2024-01-01", "2024-04-01", "2024-10-01", "2025-01-01"], "Q"),  # a gap: the shortest spacing counts
        (["2020-01-01", "2021-01-01", "2022-01-01"], "Y"),
        (["2024-01-01", "2024-02-01", "2024-03-01"], "M"),
        (["2024-01-05", "2024-01-12", "2024-02-02"], "W"),
        (["2024-01-01", "2024-01-02", "2024-01-04"], "D"),
        (["2024-01-15", "2024-04-15", "2024-07-15"], None),  # quarterly spacing, off the quarter's first day
        (["2024-01-01"], None),  # one date: no spacing
    ],
)
def test_infer_freq_reads_spacing_and_grid(dates: list[str], want: str | None) -> None:
    from salesplan.contracts.periods import infer_freq

    ds = pd.Series(pd.to_datetime(dates))
    assert infer_freq(ds, pd.Series(["a"] * len(ds))) == want


def test_wrong_declared_frequency_names_the_data_s_own() -> None:
    quarters = pd.date_range("2020-01-01", periods=8, freq="QS")
    df = pd.DataFrame({"unique_id": "s1", "ds": quarters, "y": 10.0})
    for declared in ("W", "M", "Y"):
        msg = _problems(df, SelloutSpec(freq=declared))
        first = msg.splitlines()[1]
        assert "the dates are quarterly" in first and "--freq Q" in first, (declared, msg)
    # the data's own frequency passes; a real gap at the right frequency gets no hint
    assert len(validate_sellout(df, SelloutSpec(freq="Q"))) == 8
    assert "the dates are" not in _problems(df.drop(index=3), SelloutSpec(freq="Q"))


def test_unparsable_dates_are_not_also_reported_as_duplicates() -> None:
    df = pd.DataFrame({"unique_id": "s1", "ds": ["01/02/2024", "01/03/2024"], "y": [1.0, 2.0]})
    msg = _problems(df, SelloutSpec(freq="D"))
    assert "duplicate" not in msg
