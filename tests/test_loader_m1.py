"""The M1 loader against its SOURCE.md (1,001 series: yearly 181, quarterly 203, monthly 617; horizons
6 / 8 / 18; the published split) and the sMAPE the M1 benchmark scores with. Skips without the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesplan.config import get_settings
from salesplan.errors import ConfigError
from salesplan.loaders import DATASET_DIRS, LOADERS, load_m1
from salesplan.loaders.m1 import M1_HORIZON
from salesplan.training.metrics import smape


def _need_m1() -> Path:
    folder = Path(get_settings().data_dir) / DATASET_DIRS["m1"]
    if not folder.is_dir():
        pytest.skip(
            f"real data set 'm1' not found at {folder.resolve()}; set SALESPLAN_DATA_DIR to the shared data "
            "folder to run this test"
        )
    return folder


@pytest.mark.parametrize(
    ("period", "freq", "n_series", "offset"),
    [
        ("YEARLY", "Y", 181, pd.offsets.YearBegin(1)),
        ("QUARTERLY", "Q", 203, pd.offsets.QuarterBegin(1, startingMonth=1)),
        ("MONTHLY", "M", 617, pd.offsets.MonthBegin(1)),
    ],
)
def test_m1_split_and_grid(period: str, freq: str, n_series: int, offset: pd.DateOffset) -> None:
    _need_m1()
    train = load_m1(period=period, split="train")
    test = load_m1(period=period, split="test")
    assert train.spec.freq == freq and LOADERS["m1"] is load_m1
    assert train.df["unique_id"].nunique() == test.df["unique_id"].nunique() == n_series
    assert test.df.groupby("unique_id").size().eq(M1_HORIZON[period]).all()
    assert (train.df["y"] > 0).all() and (test.df["y"] > 0).all()
    first = train.df.groupby("unique_id")["ds"].min()
    assert (first == pd.Timestamp("1990-01-01")).all()
    # the test part continues each series' own grid right after its training part
    last, start = train.df.groupby("unique_id")["ds"].max(), test.df.groupby("unique_id")["ds"].min()
    assert (start == last + offset).all()
    with pytest.raises(ConfigError, match="period"):
        load_m1(period="WEEKLY")


def test_smape_by_hand() -> None:
    y, f = np.array([100.0, 0.0, 50.0, 0.0]), np.array([80.0, 10.0, 50.0, 0.0])
    # 200·20/180, 200·10/10, 0, and 0 where both are zero
    np.testing.assert_allclose(smape(y, f), [200 * 20 / 180, 200.0, 0.0, 0.0])
