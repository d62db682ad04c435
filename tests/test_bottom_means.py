"""The bottom mean correction: one ratio per horizon pool and size class of the forecast, learnt on the
backtest, falling back to the pool's ratio where a cell is thin, and none for series that may go
negative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.training.bottom_means import MEAN_CORRECTION_BOUNDS, mean_correction, series_size
from salesplan.training.level_calibration import horizon_buckets


def _backtest(n_series: int = 60, h: int = 6, origins: int = 2, seed: int = 0) -> pd.DataFrame:
    """Small series are forecast 20 % low, large ones 5 % high (a regressing, median-like forecast)."""
    rng = np.random.default_rng(seed)
    level = np.geomspace(1, 100, n_series)
    rows = []
    for o in range(origins):
        for i, lv in enumerate(level):
            bias = 1 / 0.8 if i < n_series // 3 else (1.0 if i < 2 * n_series // 3 else 1 / 1.05)
            for s in range(1, h + 1):
                y = lv * bias * rng.gamma(50, 1 / 50)
                rows.append((f"s{i}", pd.Timestamp("2026-01-05") + pd.Timedelta(weeks=13 * o), s, y, lv))
    return pd.DataFrame(rows, columns=["unique_id", "cutoff", "step", "y", "yhat"])


def _pool(frame: pd.DataFrame) -> np.ndarray:
    """0-based horizon pool of each row (6 steps: 1-2, 3-4, 5-6)."""
    return np.asarray((frame["step"].to_numpy() - 1) // 2)


def test_each_size_third_gets_its_own_ratio_and_the_total_is_kept() -> None:
    f = _backtest()
    corr = mean_correction(f, horizon_buckets(6), min_samples=20, nonneg=True, span=6)
    assert len(corr.edges) == 2
    assert corr.ratios.shape == (3, 3)
    np.testing.assert_allclose(corr.ratios.mean(axis=0), [1 / 0.8, 1.0, 1 / 1.05], rtol=0.03)
    fixed = f["yhat"] * corr.factors(f, ["unique_id", "cutoff"], ["cutoff"])
    assert fixed.sum() == pytest.approx(f["y"].sum(), rel=1e-9)  # each pool's sum is the pooled ratio's
    small = f["yhat"] < corr.edges[0]
    assert fixed[small].sum() == pytest.approx(f.loc[small, "y"].sum(), rel=0.03)
    assert (f.loc[small, "yhat"] * corr.pooled[0]).sum() < 0.85 * f.loc[small, "y"].sum()  # pooled alone


def test_the_classes_share_out_the_pooled_ratio_whatever_the_mix() -> None:
    """A forecast of large series only is corrected by the pooled ratio, not the large class's: the size
    classes move the correction between series, never the level of the sum."""
    f = _backtest()
    corr = mean_correction(f, horizon_buckets(6), min_samples=20, nonneg=True, span=6)
    large = f[(f["yhat"] >= corr.edges[1]) & (f["cutoff"] == f["cutoff"].min())].drop(columns="cutoff")
    fac = corr.factors(large, ["unique_id"])
    np.testing.assert_allclose(fac, corr.pooled[_pool(large)])
    mixed = f[f["cutoff"] == f["cutoff"].min()].drop(columns="cutoff")
    fac = corr.factors(mixed, ["unique_id"])
    for k in range(3):
        rows = _pool(mixed) == k
        got = (mixed["yhat"] * fac)[rows].sum()
        assert got == pytest.approx(corr.pooled[k] * mixed.loc[rows, "yhat"].sum(), rel=1e-9)
    small = mixed["yhat"] < corr.edges[0]
    assert fac[small.to_numpy()].min() > fac[~small.to_numpy()].max()  # small ones raised most


def test_thin_cells_use_their_horizon_pool_and_thin_pools_all_rows() -> None:
    f = _backtest(n_series=9, h=6, origins=1)  # 18 rows per pool, 6 per cell: all below 20
    corr = mean_correction(f, horizon_buckets(6), min_samples=20, nonneg=True, span=6)
    overall = f["y"].sum() / f["yhat"].sum()
    np.testing.assert_allclose(corr.ratios, overall)
    corr = mean_correction(f, horizon_buckets(6), min_samples=10, nonneg=True, span=6)
    for k, (lo, hi) in enumerate(horizon_buckets(6)):
        rows = f[f["step"].between(lo, hi)]
        np.testing.assert_allclose(corr.ratios[k], rows["y"].sum() / rows["yhat"].sum())


def test_no_correction_for_signed_series_and_ratios_are_bounded() -> None:
    f = _backtest()
    corr = mean_correction(f, horizon_buckets(6), min_samples=20, nonneg=False, span=6)
    np.testing.assert_array_equal(corr.factors(f, ["unique_id", "cutoff"], ["cutoff"]), 1.0)
    wild = f.assign(y=f["y"] * 10)
    corr = mean_correction(wild, horizon_buckets(6), min_samples=20, nonneg=True, span=6)
    assert corr.ratios.max() == MEAN_CORRECTION_BOUNDS[1]


def test_a_series_size_is_its_mean_over_the_span_whatever_the_horizon() -> None:
    fc = pd.DataFrame(
        {
            "unique_id": ["a"] * 4 + ["b"] * 2,
            "step": [1, 2, 3, 4, 3, 4],
            "yhat": [1.0, 3.0, 100.0, 100.0, 5.0, 7.0],
        }
    )
    # "a": steps 1-2 only (span 2); "b" has no step in the span, so all of its own
    np.testing.assert_allclose(series_size(fc, ["unique_id"], 2), [2, 2, 2, 2, 6, 6])
