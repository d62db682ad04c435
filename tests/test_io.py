"""CSV and Parquet in, the same out; unreadable files are clean errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from salesplan.contracts import CRMData, Hierarchy, SelloutSpec, validate_crm, validate_sellout
from salesplan.errors import DataNotFoundError, DataValidationError
from salesplan.io import read_crm, read_table, write_crm, write_table

SPEC = SelloutSpec(
    hierarchy=Hierarchy({"geo": ["region", "store"], "product": ["category", "product"]}),
    promo_cols=("promo",),
)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_sellout_round_trip(tmp_path: Path, clean_sellout: pd.DataFrame, suffix: str) -> None:
    clean = validate_sellout(clean_sellout, SPEC)
    path = write_table(clean, tmp_path / f"sub/sellout{suffix}")
    back = validate_sellout(read_table(path), SPEC)
    pd.testing.assert_frame_equal(back, clean, check_dtype=False)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_crm_round_trip(tmp_path: Path, clean_crm_frames: dict[str, pd.DataFrame], fmt: str) -> None:
    crm = validate_crm(CRMData(**clean_crm_frames))
    write_crm(crm, tmp_path / "crm", fmt=fmt)
    back = validate_crm(read_crm(tmp_path / "crm"))
    pd.testing.assert_frame_equal(
        back.opportunities.reset_index(drop=True), crm.opportunities.reset_index(drop=True), check_dtype=False
    )
    assert len(back.stage_events) == len(crm.stage_events)


def test_missing_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(DataValidationError, match="unsupported file type"):
        read_table(tmp_path / "x.xlsx")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataValidationError, match="cannot be read as parquet"):
        read_table(tmp_path / "bad.parquet")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataValidationError, match="cannot be read"):
        read_table(tmp_path / "empty.csv")
    with pytest.raises(DataNotFoundError, match=r"reps\.csv"):
        read_crm(tmp_path)
