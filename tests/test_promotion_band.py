"""The what-if's promoted weeks: banded by the promoted class's own backtest errors (Mondrian conformal),
on a tiny panel with a planted promotion effect whose promoted weeks are much noisier than the others."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest

from salesplan.models.forecast import GlobalLGBM, whatif
from salesplan.models.forecast.promotion_band import promotion_calibration

N_SERIES, N_WEEKS, H, LIFT = 60, 90, 13, 1.0


def _panel(seed: int = 0) -> pd.DataFrame:
    """y = level × (1 + LIFT · promo) × lognormal noise, σ 0.1 off promotion and 0.5 on it."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=N_WEEKS + H, freq="7D")
    rows = []
    for i in range(N_SERIES):
        level = rng.uniform(20, 200)
        promo = (rng.random(len(ds)) < 0.3).astype(float)
        noise = rng.normal(0, np.where(promo > 0, 0.5, 0.1))
        y = level * (1 + LIFT * promo) * np.exp(noise)
        rows.append(pd.DataFrame({"unique_id": f"s{i:02d}", "ds": ds, "y": y, "promo": promo}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def fitted() -> tuple[GlobalLGBM, pd.DataFrame, pd.DataFrame]:
    df = _panel()
    cut = df["ds"].unique()[N_WEEKS]
    train, test = df[df["ds"] < cut], df[df["ds"] >= cut]
    model = GlobalLGBM(
        lags=[1, 2, 4], rolling_windows=[], n_estimators=60, num_leaves=7, season_length=4, freq="W",
        calib_windows=6, calib_horizon=H,
    )  # fmt: skip
    return model.fit(train), train, test.reset_index(drop=True)


def _coverage(model: GlobalLGBM, test: pd.DataFrame) -> float:
    """Share of held-out promoted weeks whose actual lies in the scenario's 80 % band, the baseline plan
    taking those promotions off (as ``benchmarks.selection.uplift_check`` runs it)."""
    future = test.drop(columns="y")
    base_x = future.assign(promo=0.0)
    fc = whatif.scenario_forecast(model, base_x, future, H, ["promo"])
    on = test[test["promo"] > 0].merge(fc, on=["unique_id", "ds"])
    assert len(on) > 200
    return float(((on["y"] >= on["scenario_q10"]) & (on["y"] <= on["scenario_q90"])).mean())


def test_backtest_rows_carry_the_promotion_state(
    fitted: tuple[GlobalLGBM, pd.DataFrame, pd.DataFrame],
) -> None:
    model, train, _ = fitted
    cv = model.calib_cv_.merge(train, on=["unique_id", "ds"], suffixes=("", "_data"))
    assert len(cv) == len(model.calib_cv_)
    assert (cv["promoted"] == (cv["promo"] > 0)).all()
    cal = promotion_calibration(model)
    assert cal is not None and cal.n_rows == int(cv["promoted"].sum())
    assert cal.ratio > 1.0  # the log target's forecast is a median: the promoted weeks' mean lies above it


def test_promoted_band_covers_at_the_nominal_rate(
    fitted: tuple[GlobalLGBM, pd.DataFrame, pd.DataFrame],
) -> None:
    model, _, test = fitted
    assert 0.7 <= _coverage(model, test) <= 0.9
    # the old band (the baseline's, calibrated mostly on quiet weeks, moved by the response) is too narrow
    with mock.patch.object(whatif, "promotion_calibration", lambda m: None):
        assert _coverage(model, test) < 0.6


def test_what_if_reports_the_scenario_band(fitted: tuple[GlobalLGBM, pd.DataFrame, pd.DataFrame]) -> None:
    model, _, test = fitted
    future = test.drop(columns="y").assign(promo=0.0)
    weeks = sorted(future["ds"].unique())
    sc = whatif.Scenario(ids=("s00", "s01"), start=weeks[2], end=weeks[4], promo=1)
    res = whatif.what_if(model, future, sc)
    changed = res.rows[res.rows["changed"]]
    assert len(changed) == 6
    assert (changed["scenario_q10"] <= changed["scenario_q90"]).all()
    assert (changed["scenario_q90"] - changed["scenario_q10"] > 0).all()
    assert (changed["diff"] > 0).all()  # a planted lift of +100 % shows
