"""Quarter bands of an aggregate whose series share a common shock (issues #19 and #21): a forecast of the
total misses by a shift common to all its series, seen once per backtest origin. The band must be wider
than the series' bands added as if independent, and with the few origins a training job has (3) it must
still cover at the nominal rate over quarters (the plug-in band of ``estimate_error_dependence`` does not:
the shift's variance from 3 origins is too often too small)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan.models.hierarchy import (
    aggregate_moments,
    error_dependence,
    estimate_error_dependence,
    moment_quantiles,
    t_normal_quantiles,
)

WEEKS, ORIGINS, SERIES = 13, 3, 6
COMMON, OWN, NOISE = 0.12, 0.05, 0.15
FIRST = pd.Timestamp("2026-01-05")
FUTURE = pd.DataFrame({"unique_id": "T", "ds": pd.date_range("2027-01-04", periods=WEEKS, freq="7D")})


def panel(rng: np.random.Generator) -> np.ndarray:
    """Relative errors (origin, series, week) of ``ORIGINS`` backtest windows and one new quarter: a
    shock common to every series of an origin + each series' own shift + noise."""
    common = rng.normal(0, COMMON, (ORIGINS + 1, 1, 1))
    own = rng.normal(0, OWN, (ORIGINS + 1, SERIES, 1))
    return common + own + rng.normal(0, NOISE, (ORIGINS + 1, SERIES, WEEKS))


def backtest(e: np.ndarray) -> pd.DataFrame:
    """``unique_id, cutoff, ds, e`` of the first ``ORIGINS`` windows of ``e`` (origin, series, week)."""
    e = e[:ORIGINS]
    n_o, n_s, n_w = e.shape
    cut = FIRST + pd.to_timedelta(np.arange(n_o) * 7 * n_w, unit="D")
    return pd.DataFrame(
        {
            "unique_id": np.tile(np.repeat([f"s{i}" for i in range(n_s)], n_w), n_o),
            "cutoff": np.repeat(cut, n_s * n_w),
            "ds": (
                np.repeat(cut, n_s * n_w)
                + pd.to_timedelta(np.tile(np.arange(1, n_w + 1) * 7, n_o * n_s), "D")
            ),
            "e": e.ravel(),
        }
    )


def quarter(mean: float, sd: float, **dependence: Any) -> pd.Series:
    """Mean, sd and common sd of the new quarter's sum (13 weeks of ``mean``, each with spread ``sd``)."""
    return aggregate_moments(FUTURE.assign(yhat=mean, sd=sd), "Y", **dependence).iloc[0]


def moments(mean: float, sd: float, rho: float, shared: float, common: float, noise: float) -> pd.Series:
    """``quarter`` in closed form (13 whole weeks of equal spread), without its per-call overhead."""
    lag = np.abs(np.subtract.outer(np.arange(WEEKS), np.arange(WEEKS)))
    rest = sd**2 * float(np.sum(shared + noise * rho**lag))
    sd_common = np.sqrt(common) * sd * WEEKS
    return pd.Series({"mean": WEEKS * mean, "sd": np.sqrt(rest + sd_common**2), "sd_common": sd_common})


def test_common_shock_band_is_wider_than_independent_and_covers_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(3)
    new, old, truth = [], [], []
    for r in range(60):
        e = panel(rng)
        total = e.mean(axis=1, keepdims=True)  # equal-sized series: the total's relative error
        errors = backtest(total).assign(unique_id="T")
        # the forecast as the training job makes it: mean-corrected on the backtest (its errors average
        # 0 there), and spread by a calibration pool of the same errors
        mean, week_sd = 1.0 + float(errors["e"].mean()), float(errors["e"].std())
        dep = error_dependence(errors)
        assert dep.origins == ORIGINS and dep.common_var > 0
        shared, noise, common = dep.ratios()
        new.append(moments(mean, week_sd, dep.rho, shared, common, noise))
        shared_old, rho_old = estimate_error_dependence(errors)
        old.append(moments(mean, week_sd, rho_old, shared_old, 0.0, 1.0 - shared_old))
        truth.append(WEEKS + total[ORIGINS].sum())
        if r == 0:
            got = quarter(mean, week_sd, rho=dep.rho, shared=shared, common=common, noise=noise)
            assert np.allclose(got[["mean", "sd", "sd_common"]].to_numpy(float), new[0].to_numpy(float))
            # the series' own quarter bands, added as if independent
            series = backtest(e)
            each = error_dependence(series)
            s_e, n_e, c_e = each.ratios()
            s = quarter(mean, float(series["e"].std()), rho=each.rho, shared=s_e, common=c_e, noise=n_e)
            independent = np.sqrt(SERIES) * s["sd"] / SERIES
            assert new[0]["sd"] > 1.5 * independent
    n, o, y = pd.DataFrame(new), pd.DataFrame(old), np.array(truth)
    centre, sd, sd_common = (n[c].to_numpy() for c in ("mean", "sd", "sd_common"))
    q = moment_quantiles(centre, sd, [0.1, 0.5, 0.9], sd_common=sd_common, dof=ORIGINS - 1)
    q_old = moment_quantiles(o["mean"].to_numpy(), o["sd"].to_numpy(), [0.1, 0.5, 0.9])
    covered = np.mean((q[:, 0] <= y) & (y <= q[:, 2]))
    covered_old = np.mean((q_old[:, 0] <= y) & (y <= q_old[:, 2]))
    assert 0.74 <= covered <= 0.88, covered
    assert covered_old < 0.72, covered_old  # the plug-in band: too narrow whenever the origins agreed
    assert np.allclose(q[:, 1], centre)  # symmetric around the mean


def test_t_plus_normal_quantiles_reduce_to_the_known_cases() -> None:
    qs = np.array([0.1, 0.5, 0.9])
    t_only = t_normal_quantiles(np.array([2.0]), np.array([0.0]), 3.0, qs)[0]
    assert t_only == pytest.approx(2.0 * stats.t.ppf(qs, 3.0), abs=1e-3)
    normal = t_normal_quantiles(np.array([1e-9]), np.array([1.5]), 3.0, qs)[0]
    assert normal == pytest.approx(1.5 * stats.norm.ppf(qs), abs=1e-3)
    both = t_normal_quantiles(np.array([1.0]), np.array([1.0]), 2.0, qs)[0]
    draws = stats.t.rvs(2.0, size=400_000, random_state=0) + stats.norm.rvs(size=400_000, random_state=1)
    assert both == pytest.approx(np.quantile(draws, qs), abs=0.02)


def test_t_plus_normal_quantiles_invert_the_exact_cdf() -> None:
    """Each quantile is where the convolution's CDF (integrated by quadrature, not on the function's own
    grid) equals its level: heavy (1 dof) and light tails, a t-dominated and a normal-dominated row."""
    from scipy import integrate

    qs = np.array([0.02, 0.1, 0.5, 0.9, 0.98])
    a, b = np.array([3.0, 0.2, 1.0]), np.array([0.5, 4.0, 1.0])

    def cdf(x: float, ai: float, bi: float, dof: float) -> float:
        return integrate.quad(lambda t: stats.t.pdf(t, dof) * stats.norm.cdf((x - ai * t) / bi),
                              -np.inf, np.inf, limit=200)[0]  # fmt: skip

    for dof in (1.0, 2.0, 5.0):
        got = t_normal_quantiles(a, b, dof, qs)
        for i in range(len(a)):
            for j, q in enumerate(qs):  # the 2,000-point grid: within ~4e-5
                assert cdf(got[i, j], a[i], b[i], dof) == pytest.approx(q, abs=2e-4), (dof, i, q)
