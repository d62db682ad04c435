"""Bad input a new user sends (found by a sweep of the CLI and API): each gets a specific error, and
good input in an unusual form is stored as meant, never silently changed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from salesplan.contracts import SelloutSpec, validate_sellout
from salesplan.errors import ConfigError, DataValidationError
from salesplan.planning.tracking import AlertRules
from salesplan.serving.tracking_rows import actual_rows, budget_rows
from salesplan.serving.tracking_service import _as_of_day

runner = CliRunner()


def test_sellout_attributes_stay_with_their_rows_in_any_order() -> None:
    frame = pd.DataFrame({"unique_id": ["S02/P001", "S01/P004", "S01/P001"],
                          "ds": ["2027-01-04"] * 3, "y": [1.0, 2.0, 3.0],
                          "store": ["S02", "S01", "S01"], "product": ["P001", "P004", "P001"]})  # fmt: skip
    rows = {r.series: r for r in actual_rows("sellout", frame)}
    assert rows["S02/P001"].attrs == {"store": "S02", "product": "P001"} and rows["S02/P001"].value == 1.0
    assert rows["S01/P004"].attrs == {"store": "S01", "product": "P004"} and rows["S01/P004"].value == 2.0
    again = {r.series: r for r in actual_rows("sellout", frame.iloc[::-1].reset_index(drop=True))}
    assert again == rows


def test_a_day_written_as_yyyymmdd_is_that_day_and_other_numbers_are_refused() -> None:
    spec = SelloutSpec(freq="W", allow_gaps=True)
    for ds in ([20270104, 20270111], [20270104.0, 20270111.0], ["20270104", "2027-01-11"]):
        out = validate_sellout(pd.DataFrame({"unique_id": ["a", "a"], "ds": ds, "y": [1, 2]}), spec)
        assert out["ds"].dt.strftime("%Y-%m-%d").tolist() == ["2027-01-04", "2027-01-11"], ds
    days = SelloutSpec(freq="D", allow_gaps=True)
    for ds, want in ((["04/01/2027", "25/01/2027"], ["2027-01-04", "2027-01-25"]),  # the column proves day first
                     (["01/25/2027", "02/01/2027"], ["2027-01-25", "2027-02-01"]),  # ... or month first
                     (["4.1.2027", "25.1.2027"], ["2027-01-04", "2027-01-25"])):  # fmt: skip
        out = validate_sellout(pd.DataFrame({"unique_id": ["a", "a"], "ds": ds, "y": [1, 2]}), days)
        assert out["ds"].dt.strftime("%Y-%m-%d").tolist() == want, ds
    for ds in (["04/01/2027", "05/01/2027"], ["25/01/2027", "01/25/2027"]):  # neither order proven, or both
        with pytest.raises(DataValidationError, match="day/month order"):
            validate_sellout(pd.DataFrame({"unique_id": ["a", "a"], "ds": ds, "y": [1, 2]}), days)
    with pytest.raises(DataValidationError, match="infinite unit"):
        validate_sellout(pd.DataFrame({"unique_id": ["a"], "ds": ["2027-01-04"], "y": [float("inf")]}), spec)
    for ds in ([20271399, 20270111], [1.5, 20270111], [45000, 20270111]):
        with pytest.raises(DataValidationError, match="unparsable date"):
            validate_sellout(pd.DataFrame({"unique_id": ["a", "a"], "ds": ds, "y": [1, 2]}), spec)


def test_placeholder_dates_and_absurd_magnitudes_are_refused_by_row() -> None:
    spec = SelloutSpec(freq="W", allow_gaps=True)  # with gaps allowed, 1900 would fill a century of weeks
    for ds in (["1900-01-01", "2027-01-11"], ["1899-12-30", "2027-01-11"], ["2027-01-04", "9999-12-31"],
               ["0001-01-01", "2027-01-11"], ["2027-01-04", "3000-01-01"]):  # fmt: skip
        with pytest.raises(DataValidationError, match="placeholder") as err:
            validate_sellout(pd.DataFrame({"unique_id": ["a", "a"], "ds": ds, "y": [1, 2]}), spec)
        odd = ds[0] if ds[0] < "2000" else ds[1]
        assert f"a/{odd}" in str(err.value) and "unparsable" not in str(err.value), str(err.value)
    frame = pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2027-01-04", "2027-01-11"], "y": [1e308, 2.0]})
    with pytest.raises(DataValidationError, match="beyond"):
        validate_sellout(frame, spec)
    kept = validate_sellout(frame.assign(y=[9.9e14, 2.0], ds=["1901-01-07", "1901-01-14"]), spec)
    assert kept["y"].tolist() == [9.9e14, 2.0]  # large but possible values and old dates stay as written


def test_a_budget_names_each_month_channel_and_region_once_with_a_real_month() -> None:
    ok = pd.DataFrame({"month": ["2027-01", "2027-02"], "channel": ["display"] * 2, "region": ["North"] * 2,
                       "budget": [10.0, 20.0]})  # fmt: skip
    assert [r.budget for r in budget_rows(ok)] == [10.0, 20.0]
    with pytest.raises(DataValidationError, match="more than one row") as dup:
        budget_rows(ok.assign(month="2027-01"))
    assert "2027-01/display/North" in str(dup.value)
    for month in ("2027-13", "2027-00"):
        with pytest.raises(DataValidationError, match="not a month"):
            budget_rows(ok.assign(month=[month, "2027-02"]))


def test_alert_rules_are_typed_wherever_they_come_from() -> None:
    rules = AlertRules.from_mapping({"p_hit_below": "0.25", "spend_over_cap": "false", "min_elapsed": 3.0})
    assert (rules.p_hit_below, rules.spend_over_cap, rules.min_elapsed) == (0.25, False, 3)
    for bad, says in (({"p_hit_below": "abc"}, "takes a number"), ({"spend_over_cap": 5}, "true or false"),
                      ({"min_elapsed": "x"}, "whole number"), ({"min_elapsed": 2.5}, "whole number"),
                      ({"pace_behind": [1]}, "takes a number"), ({"p_hit_below": 1.5}, "between")):  # fmt: skip
        with pytest.raises(ConfigError, match=says):
            AlertRules.from_mapping(bad)


def test_the_tracking_date_is_a_day_or_a_clear_error() -> None:
    assert _as_of_day(None) is None and _as_of_day(" ") is None
    assert _as_of_day("2027-02-15 13:00") == pd.Timestamp("2027-02-15")
    for bad in ("notadate", "2027-02-30"):
        with pytest.raises(ConfigError, match="is not a date"):
            _as_of_day(bad)


def test_cli_paths_that_cannot_be_written_are_errors_not_tracebacks(tmp_path: Path) -> None:
    from salesplan.cli import app

    data = tmp_path / "s.csv"
    pd.DataFrame({"unique_id": ["a"], "ds": ["2027-01-04"], "y": [1]}).to_csv(data, index=False)
    folder = tmp_path / "out"
    folder.mkdir()
    res = runner.invoke(app, ["data", "validate", str(data), "--out", str(folder)])
    assert res.exit_code == 1 and (res.exception is None or isinstance(res.exception, SystemExit))
    assert "Is a directory" in res.output and "Traceback" not in res.output, res.output
    res = runner.invoke(app, ["data", "validate", str(data), "--out", str(tmp_path / "x.xlsx")])
    assert (
        res.exit_code == 1
        and "written as .csv or .parquet" in res.output
        and not (tmp_path / "x.xlsx").exists()
    )
    inf = tmp_path / "inf.csv"
    pd.DataFrame({"unique_id": ["a"], "ds": ["2027-01-04"], "y": [float("inf")]}).to_csv(inf, index=False)
    res = runner.invoke(app, ["data", "validate", str(inf)])
    assert res.exit_code == 1 and "[y] infinite unit(s)" in res.output, res.output  # the column is named
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path / "w"), "--seed", "-1"])
    assert res.exit_code == 2 and "--seed" in res.output
    for extra, says in ((["--in-progress", "2027Q5", "--as-of", "2027-11-01"], "quarter like 2027Q1"),
                        (["--in-progress", "2027Q1"], "needs --as-of"),
                        (["--in-progress", "2027Q1", "--as-of", "soon"], "a day like")):  # fmt: skip
        res = runner.invoke(app, ["simulate", "--out", str(tmp_path / "v"), "--scale", "tiny", *extra])
        assert res.exit_code == 1 and says in res.output, res.output
        assert not (tmp_path / "v").exists()  # refused before any world is written


def test_a_bookings_row_with_an_unknown_outcome_is_refused_not_dropped() -> None:
    deals = pd.DataFrame({"opportunity_id": ["o1", "o2", "o3"], "close_date": ["2027-01-05"] * 3,
                          "amount": [10.0, 20.0, 30.0], "outcome": ["Won", "lost", "maybe"]})  # fmt: skip
    with pytest.raises(DataValidationError, match="outcome not one of") as err:
        actual_rows("bookings", deals)
    assert "o3" in str(err.value)
    rows = actual_rows("bookings", deals.iloc[:2])
    assert [(r.series, r.value) for r in rows] == [("o1", 10.0)]


def test_an_id_longer_than_the_store_holds_is_refused_by_name() -> None:
    frame = pd.DataFrame({"unique_id": ["x" * 1000, "a"], "ds": ["2027-01-04"] * 2, "y": [1.0, 2.0]})
    with pytest.raises(DataValidationError, match="longer than 400 characters"):
        actual_rows("sellout", frame)
    budget = pd.DataFrame(
        {"month": ["2027-01"], "channel": ["c" * 300], "region": ["North"], "budget": [1.0]}
    )
    with pytest.raises(DataValidationError, match=r"channel.*longer than 200 characters"):
        budget_rows(budget)
