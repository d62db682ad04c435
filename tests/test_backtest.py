"""Rolling-origin backtest and metrics, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import DataValidationError, InsufficientDataError
from salesplan.models.forecast.baselines import SeasonalNaive
from salesplan.training.backtest import backtest, origins
from salesplan.training.metrics import evaluate, pinball, seasonal_scales, series_metrics


def _panel(n_weeks: int = 40, season: int = 4) -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=n_weeks, freq="7D")
    rng = np.random.default_rng(0)
    rows = []
    for k, uid in enumerate(["A", "B", "C"]):
        pattern = np.array([10.0, 20.0, 15.0, 5.0]) * (k + 1)
        y = np.tile(pattern, n_weeks // season + 1)[:n_weeks] + rng.integers(0, 3, n_weeks)
        rows.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y, "group": "g1" if k < 2 else "g2"}))
    return pd.concat(rows, ignore_index=True)


def test_seasonal_scales_by_hand() -> None:
    train = pd.DataFrame(
        {
            "unique_id": ["a"] * 5,
            "ds": pd.date_range("2024-01-01", periods=5, freq="7D"),
            "y": [1, 3, 2, 6, 4],
        }
    )
    sc = seasonal_scales(train, season_length=2).set_index("unique_id")
    # lag-2 differences: 2-1, 6-3, 4-2 = 1, 3, 2
    assert sc.loc["a", "scale"] == pytest.approx(2.0)
    assert sc.loc["a", "scale_sq"] == pytest.approx((1 + 9 + 4) / 3)
    # series shorter than m + 1 fall back to lag 1: |3-1| = 2
    short = seasonal_scales(train.head(2), season_length=52).set_index("unique_id")
    assert short.loc["a", "scale"] == pytest.approx(2.0)


def test_metrics_by_hand() -> None:
    rows = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b", "b"],
            "y": [10.0, 20.0, 4.0, 6.0],
            "yhat": [12.0, 17.0, 5.0, 5.0],
            "q10": [8.0, 18.0, 4.5, 3.0],
            "q50": [12.0, 17.0, 5.0, 5.0],
            "q90": [14.0, 22.0, 6.0, 7.0],
            "scale": [2.0, 2.0, 1.0, 1.0],
            "scale_sq": [4.0, 4.0, 1.0, 1.0],
        }
    )
    out = evaluate(rows).iloc[0]
    # MASE: a = mean(2, 3)/2 = 1.25, b = mean(1, 1)/1 = 1 → mean 1.125
    assert out["mase"] == pytest.approx(1.125)
    # RMSSE: a = sqrt(mean(4, 9)/4), b = sqrt(1/1)
    assert out["rmsse"] == pytest.approx((np.sqrt(6.5 / 4) + 1.0) / 2)
    assert out["wape"] == pytest.approx((2 + 3 + 1 + 1) / 40)
    assert out["bias"] == pytest.approx((2 - 3 + 1 - 1) / 40)
    # coverage: a1 in [8,14] yes, a2 in [18,22] yes, b1 4 in [4.5,6] no, b2 yes
    assert out["coverage80"] == pytest.approx(0.75)
    pin_a = (
        np.mean(
            [
                np.mean(pinball(np.array([10.0, 20.0]), rows[c][:2].to_numpy(), q))
                for q, c in ((0.1, "q10"), (0.5, "q50"), (0.9, "q90"))
            ]
        )
        / 2.0
    )
    pin_b = (
        np.mean(
            [
                np.mean(pinball(np.array([4.0, 6.0]), rows[c][2:].to_numpy(), q))
                for q, c in ((0.1, "q10"), (0.5, "q50"), (0.9, "q90"))
            ]
        )
        / 1.0
    )
    assert out["pinball"] == pytest.approx((pin_a + pin_b) / 2)
    # pinball80: only the interval's two quantiles, so a method with a q50 column is not penalised for it
    pin80 = [
        np.mean([np.mean(pinball(y, rows[c][sl].to_numpy(), q)) for q, c in ((0.1, "q10"), (0.9, "q90"))]) / s
        for y, sl, s in ((np.array([10.0, 20.0]), slice(0, 2), 2.0), (np.array([4.0, 6.0]), slice(2, 4), 1.0))
    ]
    assert out["pinball80"] == pytest.approx(np.mean(pin80))
    assert evaluate(rows.drop(columns="q50")).iloc[0]["pinball80"] == pytest.approx(out["pinball80"])
    assert out["interval_share"] == 1.0
    # a row without an interval is left out of the coverage (not a miss) and counted in interval_share
    gap = rows.assign(q10=rows["q10"].where(rows.index != 2), q90=rows["q90"].where(rows.index != 2))
    partial = evaluate(gap).iloc[0]
    assert partial["coverage80"] == pytest.approx(1.0) and partial["interval_share"] == pytest.approx(0.75)
    assert pinball(np.array([10.0]), np.array([8.0]), 0.9)[0] == pytest.approx(1.8)
    assert pinball(np.array([10.0]), np.array([12.0]), 0.9)[0] == pytest.approx(0.2)


def test_zero_scale_series_are_skipped_from_scaled_metrics() -> None:
    rows = pd.DataFrame(
        {
            "unique_id": ["a", "b"],
            "y": [10.0, 3.0],
            "yhat": [8.0, 3.0],
            "scale": [2.0, 0.0],
            "scale_sq": [4.0, 0.0],
        }
    )
    out = evaluate(rows).iloc[0]
    assert out["mase"] == pytest.approx(1.0)  # only a
    assert out["n_zero_scale"] == 1
    assert out["wape"] == pytest.approx(2 / 13)  # b still counts in WAPE


def test_metrics_need_scales() -> None:
    with pytest.raises(DataValidationError, match="scale"):
        series_metrics(pd.DataFrame({"unique_id": ["a"], "y": [1.0], "yhat": [1.0]}))


def test_origins_are_non_overlapping_and_end_at_the_last_date() -> None:
    dates = pd.date_range("2024-01-01", periods=30, freq="7D")
    cuts = origins(dates, h=5, n_origins=3, step=5)
    assert cuts == [dates[14], dates[19], dates[24]]
    with pytest.raises(InsufficientDataError, match="origins"):
        origins(dates, h=10, n_origins=3, step=10)


def test_backtest_seasonal_naive_no_leakage() -> None:
    df = _panel()
    res = backtest(
        SeasonalNaive(season_length=4, calib_windows=2, calib_horizon=4),
        df,
        h=4,
        n_origins=3,
        season_length=4,
        keep_cols=["group"],
    )
    fc = res.forecasts
    assert len(fc) == 3 * 3 * 4
    assert fc["cutoff"].nunique() == 3 and res.h == 4 and len(res.seconds) == 3
    # a seasonal-naive forecast must equal the actual one season (4 weeks) before the target week
    back = df.assign(ds=df["ds"] + pd.Timedelta(weeks=4)).rename(columns={"y": "y_lag"})
    m = fc.merge(back[["unique_id", "ds", "y_lag"]], on=["unique_id", "ds"])
    np.testing.assert_allclose(m["yhat"], m["y_lag"])
    assert (fc["ds"] > fc["cutoff"]).all()
    per_origin = res.metrics("cutoff")
    assert len(per_origin) == 3
    per_level = res.metrics("group")
    assert set(per_level["group"]) == {"g1", "g2"}
    assert res.metrics()["mase"].iloc[0] > 0


def test_backtest_excludes_series_too_short_at_an_origin() -> None:
    df = _panel()
    df = df[~((df["unique_id"] == "C") & (df["ds"] < df["ds"].min() + pd.Timedelta(weeks=25)))]
    res = backtest(
        SeasonalNaive(season_length=4, calib_windows=1, calib_horizon=4),
        df,
        h=4,
        n_origins=3,
        season_length=4,
    )
    first = res.forecasts[res.forecasts["cutoff"] == res.cutoffs[0]]
    assert set(first["unique_id"]) == {"A", "B"}
    assert res.excluded[str(res.cutoffs[0].date())] == 1
    assert set(res.forecasts[res.forecasts["cutoff"] == res.cutoffs[-1]]["unique_id"]) == {"A", "B", "C"}
