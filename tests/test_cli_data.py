"""The data commands through typer's runner: good files summarise, bad files give a clean error and exit 1."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.contracts import CRMData
from salesplan.io import write_crm

runner = CliRunner()
HIER = "geo=region,store;product=category,product"


def test_validate_good_sellout(tmp_path: Path, clean_sellout: pd.DataFrame) -> None:
    path = tmp_path / "s.csv"
    clean_sellout.to_csv(path, index=False)
    out = tmp_path / "clean.parquet"
    res = runner.invoke(
        app, ["data", "validate", str(path), "--hierarchy", HIER, "--promo-cols", "promo", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "meets the sellout contract" in res.output and "series" in res.output
    assert len(pd.read_parquet(out)) == len(clean_sellout)


def test_validate_bad_sellout_is_clean_error(tmp_path: Path, clean_sellout: pd.DataFrame) -> None:
    df = clean_sellout.copy()
    df.loc[0, "ds"] = "yesterday"
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    res = runner.invoke(app, ["data", "validate", str(path), "--hierarchy", HIER, "--no-infer"])
    assert res.exit_code == 1
    assert "unparsable date" in res.output and "unknown column(s) ['promo']" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["data", "validate", str(path), "--hierarchy", HIER])  # promo is inferred
    assert res.exit_code == 1 and "--promo-cols promo" in res.output and "unparsable date" in res.output


def test_validate_missing_file_and_bad_options(tmp_path: Path) -> None:
    res = runner.invoke(app, ["data", "validate", str(tmp_path / "none.csv")])
    assert res.exit_code == 1 and "file not found" in res.output
    (tmp_path / "a.csv").write_text("unique_id,ds,y\na,2025-01-06,1\n")
    res = runner.invoke(app, ["data", "validate", str(tmp_path / "a.csv"), "--kind", "orders"])
    assert res.exit_code == 1 and "--kind must be" in res.output
    res = runner.invoke(app, ["data", "validate", str(tmp_path / "a.csv"), "--hierarchy", "region"])
    assert res.exit_code == 1 and "has no '='" in res.output


def test_validate_crm_folder(tmp_path: Path, clean_crm_frames: dict[str, pd.DataFrame]) -> None:
    write_crm(CRMData(**clean_crm_frames), tmp_path / "crm")
    res = runner.invoke(app, ["data", "validate", str(tmp_path / "crm"), "--kind", "crm"])
    assert res.exit_code == 0, res.output
    assert "won 1" in res.output
    bad = clean_crm_frames["opportunities"].assign(outcome="perhaps")
    write_crm(CRMData(**{**clean_crm_frames, "opportunities": bad}), tmp_path / "bad")
    res = runner.invoke(app, ["data", "validate", str(tmp_path / "bad"), "--kind", "crm"])
    assert res.exit_code == 1 and "outcome not one of" in res.output


def test_validate_spend(tmp_path: Path) -> None:
    path = tmp_path / "spend.csv"
    pd.DataFrame(
        {"period": ["2025-01-06"], "channel": ["tv"], "region": ["N"], "spend": [-1], "outcome": [3]}
    ).to_csv(path, index=False)
    res = runner.invoke(app, ["data", "validate", str(path), "--kind", "spend"])
    assert res.exit_code == 1 and "spend(s) below 0" in res.output


def test_describe(
    tmp_path: Path, clean_sellout: pd.DataFrame, clean_crm_frames: dict[str, pd.DataFrame]
) -> None:
    path = tmp_path / "s.parquet"
    clean_sellout.to_parquet(path)
    res = runner.invoke(app, ["data", "describe", str(path)])
    assert res.exit_code == 0 and "32 rows" in res.output and "price" in res.output
    write_crm(CRMData(**clean_crm_frames), tmp_path / "crm")
    res = runner.invoke(app, ["data", "describe", str(tmp_path / "crm")])
    assert res.exit_code == 0 and "opportunities" in res.output


def test_validate_quarterly_sellout_fills_gaps_and_names_the_frequency(tmp_path: Path) -> None:
    """A quarterly file with a missing quarter: refused as is, filled with y=0 on --fill-gaps."""
    quarters = pd.date_range("2022-01-01", periods=8, freq="QS")
    df = pd.DataFrame({"unique_id": "a", "ds": quarters, "y": range(1, 9), "promo": 0.5}).drop(index=[3, 4])
    path = tmp_path / "q.csv"
    df.to_csv(path, index=False)
    args = ["data", "validate", str(path), "--freq", "Q", "--promo-cols", "promo"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "1 series have gaps (2 missing" in res.output
    out = tmp_path / "clean.csv"
    res = runner.invoke(app, [*args, "--fill-gaps", "--season-length", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (
        "filled 2 missing periods" in res.output and "quarterly" in res.output and "2 periods" in res.output
    )
    clean = pd.read_csv(out)
    assert (
        len(clean) == 8
        and clean["y"].tolist()[3:5] == [0.0, 0.0]
        and clean["promo"].tolist()[3:5] == [0.0, 0.0]
    )
    bad = pd.DataFrame({"unique_id": "a", "ds": ["2022-02-01"], "y": [1.0]})
    bad.to_csv(path, index=False)
    res = runner.invoke(app, ["data", "validate", str(path), "--freq", "Y"])
    assert res.exit_code == 1 and "yearly ds must be the first day of the year" in res.output
    res = runner.invoke(app, ["data", "validate", str(path), "--freq", "H"])
    assert res.exit_code == 1 and "--freq must be one of" in res.output
