"""Temporal aggregation to coarser frequencies (weeks → months/quarters/years, days → weeks ..., months →
quarters ...): exact day splits, conserved totals, coverage of partial periods, and distributions of sums
checked against cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesplan.contracts import quantile_col, quantile_level, quantile_levels
from salesplan.contracts.sellout import Hierarchy
from salesplan.errors import ConfigError, DataValidationError
from salesplan.models.hierarchy import (
    aggregate,
    aggregate_moments,
    aggregate_quantiles,
    aggregate_sample_paths,
    estimate_error_correlation,
    estimate_error_dependence,
    moment_quantiles,
    period_coverage,
    period_shares,
    quarter_coverage,
    to_periods,
    week_shares,
)

Z90 = stats.norm.ppf(0.9)


def mondays(start: str, n: int) -> pd.Series:
    return pd.Series(pd.date_range(start, periods=n, freq="W-MON"))


def test_week_crossing_the_year_is_split_by_days():
    shares = week_shares(mondays("2026-12-28", 1), "M")
    assert shares["period"].tolist() == ["2026-12", "2027-01"]
    assert shares["days"].tolist() == [4, 3]
    np.testing.assert_allclose(shares["share"], [4 / 7, 3 / 7])
    q = week_shares(mondays("2026-12-28", 1), "Q")
    assert q["period"].tolist() == ["2026Q4", "2027Q1"]
    whole = week_shares(mondays("2027-01-04", 1), "Q")
    assert whole["period"].tolist() == ["2027Q1"] and whole["share"].tolist() == [1.0]


def test_constant_daily_rate_gives_days_per_month():
    df = pd.DataFrame({"unique_id": "a", "ds": mondays("2026-11-30", 70), "yhat": 7.0})
    out = to_periods(df, "M").set_index("period")
    assert out.loc["2027-01", "yhat"] == pytest.approx(31.0)
    assert out.loc["2027-02", "yhat"] == pytest.approx(28.0)
    assert out.loc["2028-02", "yhat"] == pytest.approx(29.0)  # leap year
    assert out.loc["2026-11", "yhat"] == pytest.approx(1.0)  # only Mon 30 Nov is in the data
    assert out.loc["2026-11", "coverage"] == pytest.approx(1 / 30)
    assert out.loc["2027-06", "coverage"] == pytest.approx(1.0)


@pytest.mark.parametrize("freq", ["M", "Q"])
def test_totals_are_conserved_across_years(freq):
    rng = np.random.default_rng(0)
    frames = [
        pd.DataFrame({"unique_id": uid, "ds": mondays(start, n), "y": rng.gamma(2.0, 50.0, n)})
        for uid, start, n in [("a", "2025-10-06", 120), ("b", "2026-12-28", 9), ("c", "2024-01-01", 200)]
    ]
    df = pd.concat(frames, ignore_index=True)
    df["yhat"] = df["y"] * 1.1
    out = to_periods(df, freq, ["y", "yhat"])
    for col in ("y", "yhat"):
        np.testing.assert_allclose(
            out.groupby("unique_id")[col].sum(), df.groupby("unique_id")[col].sum(), rtol=1e-12
        )
    assert out["period"].str.contains("2027").any() and out["period"].str.contains("2026").any()


def test_months_add_up_to_quarters():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"unique_id": "a", "ds": mondays("2026-09-28", 30), "yhat": rng.uniform(0, 100, 30)})
    months = to_periods(df, "M")
    months["quarter"] = pd.PeriodIndex(months["period"], freq="M").asfreq("Q").astype(str)
    quarters = to_periods(df, "Q").set_index("period")["yhat"]
    np.testing.assert_allclose(
        months.groupby("quarter")["yhat"].sum().loc[quarters.index], quarters, rtol=1e-12
    )


def test_nan_week_makes_its_periods_unknown():
    df = pd.DataFrame({"unique_id": "a", "ds": mondays("2027-01-04", 8), "yhat": 1.0})
    df.loc[5, "yhat"] = np.nan  # week of 2027-02-08
    out = to_periods(df, "M").set_index("period")
    assert np.isnan(out.loc["2027-02", "yhat"]) and out.loc["2027-01", "yhat"] == pytest.approx(4.0)


def test_partial_quarter_coverage():
    weeks = mondays("2027-01-04", 8)  # Q1 2027 has 90 days; 1-3 Jan and March are missing
    assert quarter_coverage(weeks, "2027Q1") == pytest.approx(56 / 90)
    full = mondays("2026-12-28", 14)  # 28 Dec 2026 .. 4 Apr 2027 covers all of Q1
    assert quarter_coverage(full, "2027Q1") == pytest.approx(1.0)
    assert quarter_coverage(full, "2027Q2") == pytest.approx(4 / 91)
    assert quarter_coverage(pd.concat([weeks, weeks]), "2027Q1") == pytest.approx(56 / 90)
    assert period_coverage(weeks, "2027-02") == pytest.approx(1.0)
    assert quarter_coverage([], "2027Q1") == 0.0
    df = pd.DataFrame({"unique_id": "a", "ds": weeks, "yhat": 1.0})
    assert to_periods(df, "Q")["coverage"].iloc[0] == pytest.approx(56 / 90)


def test_errors_are_clear():
    df = pd.DataFrame({"unique_id": "a", "ds": pd.to_datetime(["2027-01-05"]), "yhat": 1.0})
    with pytest.raises(DataValidationError, match="Monday"):
        to_periods(df)
    ok = pd.DataFrame({"unique_id": "a", "ds": mondays("2027-01-04", 2), "yhat": 1.0})
    with pytest.raises(DataValidationError, match="duplicate"):
        to_periods(pd.concat([ok, ok]))
    with pytest.raises(DataValidationError, match="missing"):
        to_periods(ok, value_cols=["y"])
    with pytest.raises(ConfigError):
        to_periods(ok, "W")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        quarter_coverage(ok["ds"], "2027-01")
    with pytest.raises(ConfigError):
        period_coverage(ok["ds"], "first quarter")
    with pytest.raises(ConfigError):
        aggregate_quantiles(ok.assign(q50=1.0), rho=1.5)
    with pytest.raises(DataValidationError, match="q50"):
        aggregate_quantiles(ok.assign(q10=1.0))


def test_quantile_names_round_trip():
    levels = (0.1, 0.05, 0.5, 0.975, 0.9)
    names = [quantile_col(t) for t in levels]
    assert names == ["q10", "q05", "q50", "q97.5", "q90"]
    assert [quantile_level(n) for n in names] == list(levels)
    parsed = quantile_levels([*names, "qty", "q0", "q5", "yhat"])
    assert list(parsed.items()) == [("q05", 0.05), ("q10", 0.1), ("q50", 0.5), ("q90", 0.9), ("q97.5", 0.975)]


def ar1_paths(n_paths: int, n_weeks: int, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary unit-variance AR(1) errors, (paths × weeks)."""
    e = np.empty((n_paths, n_weeks))
    e[:, 0] = rng.standard_normal(n_paths)
    for t in range(1, n_weeks):
        e[:, t] = rho * e[:, t - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(n_paths)
    return e


def gaussian_case(rho: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Weeks of Jan–Feb 2027 (incl. the two split weeks) with known mean and sd per week."""
    ds = mondays("2026-12-28", 10)
    mu = np.linspace(100, 140, 10)
    sd = np.linspace(10, 25, 10)
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "q50": mu, "q10": mu - Z90 * sd, "q90": mu + Z90 * sd})
    shares = week_shares(ds, "M")
    w = shares[shares["period"] == "2027-01"].set_index("row")["share"].reindex(range(10), fill_value=0.0)
    return df, mu, sd, w.to_numpy()


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_gaussian_quantiles_of_a_month_are_exact(rho):
    df, mu, sd, w = gaussian_case(rho)
    lag = np.abs(np.subtract.outer(np.arange(10), np.arange(10)))
    cov = np.outer(sd, sd) * rho**lag
    m, s = w @ mu, np.sqrt(w @ cov @ w)
    out = aggregate_quantiles(df, "M", rho=rho).set_index("period").loc["2027-01"]
    assert out["coverage"] == pytest.approx(1.0)
    assert out["q50"] == pytest.approx(m, rel=1e-12)
    assert out["q10"] == pytest.approx(m - Z90 * s, rel=1e-9)
    assert out["q90"] == pytest.approx(m + Z90 * s, rel=1e-9)


def test_quantiles_match_monte_carlo_and_independence_is_too_narrow():
    rho = 0.6
    df, mu, sd, w = gaussian_case(rho)
    df["yhat"] = mu  # the mean is the centre when given (equal to the median here)
    rng = np.random.default_rng(42)
    paths = mu + sd * ar1_paths(40_000, 10, rho, rng)
    month = paths @ w
    out = aggregate_quantiles(df, "M", rho=rho).set_index("period").loc["2027-01"]
    spread = month.std()
    for col, t in (("q10", 0.1), ("q50", 0.5), ("q90", 0.9)):
        assert abs(out[col] - np.quantile(month, t)) < 0.03 * spread
    naive = aggregate_quantiles(df, "M", rho=0.0).set_index("period").loc["2027-01"]
    assert np.mean(month < naive["q10"]) > 0.15  # independence understates the spread


def test_sample_paths_give_the_quantiles_of_the_sum():
    rho = 0.6
    df, mu, sd, w = gaussian_case(rho)
    rng = np.random.default_rng(7)
    n = 4000
    paths = mu + sd * ar1_paths(n, 10, rho, rng)
    samples = pd.DataFrame(
        {"unique_id": "a", "ds": np.tile(df["ds"].to_numpy(), n), "sample": np.repeat(np.arange(n), 10)}
    )
    samples["value"] = paths.ravel()
    out = aggregate_sample_paths(samples, "M").set_index("period").loc["2027-01"]
    lag = np.abs(np.subtract.outer(np.arange(10), np.arange(10)))
    m, s = w @ mu, np.sqrt(w @ (np.outer(sd, sd) * rho**lag) @ w)
    assert out["yhat"] == pytest.approx(m, abs=0.1 * s)
    assert out["q10"] == pytest.approx(m - Z90 * s, abs=0.1 * s)
    assert out["q90"] == pytest.approx(m + Z90 * s, abs=0.1 * s)
    assert out["q10"] < out["q50"] < out["q90"]


def test_error_correlation_is_recovered_from_a_backtest():
    rng = np.random.default_rng(3)
    e = ar1_paths(300, 12, 0.5, rng)
    cut = pd.Timestamp("2026-01-05")
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i % 30}" for i in range(300)], 12),
            "cutoff": np.repeat([cut + pd.Timedelta(weeks=i // 30) for i in range(300)], 12),
            "resid": e.ravel(),
        }
    )
    frame["ds"] = frame["cutoff"] + pd.to_timedelta(np.tile(np.arange(1, 13), 300) * 7, unit="D")
    assert estimate_error_correlation(frame) == pytest.approx(0.5, abs=0.05)


def test_skewed_inputs_stay_skewed_and_nonnegative():
    ds = mondays("2027-01-04", 4)
    df = pd.DataFrame({"unique_id": "a", "ds": ds, "q50": 2.0, "q10": 0.5, "q90": 9.0})
    out = aggregate_quantiles(df, "M", rho=0.3, nonnegative=True).iloc[0]
    assert out["q90"] - out["q50"] > 3 * (out["q50"] - out["q10"]) > 0
    assert out["q10"] >= 0.0
    mean_centred = aggregate_quantiles(df.assign(yhat=3.0), "M", rho=0.3).iloc[0]
    assert mean_centred["q50"] == pytest.approx(12.0) and out["q50"] == pytest.approx(8.0)


def test_coherent_weekly_frame_stays_coherent_per_month():
    hier = Hierarchy({"geo": ["region", "store"]})
    rng = np.random.default_rng(5)
    bottom = pd.DataFrame(
        [(f"s{i}", f"r{i % 2}", f"s{i}", d) for i in range(4) for d in mondays("2026-12-07", 9)],
        columns=["unique_id", "region", "store", "ds"],
    )
    bottom["yhat"] = rng.uniform(0, 50, len(bottom))
    weekly_all = aggregate(bottom, hier, ["yhat"])
    months = to_periods(weekly_all, "M")
    assert {"unique_id", "level", "period", "yhat", "coverage"} <= set(months.columns)
    by_level = months.groupby(["level", "period"])["yhat"].sum().unstack("level")
    np.testing.assert_allclose(by_level["store"], by_level["total"], rtol=1e-12)
    np.testing.assert_allclose(by_level["region"], by_level["total"], rtol=1e-12)


# ---------------------------------------------------------------------------------- other base frequencies
def test_days_months_and_quarters_sum_to_every_coarser_frequency_only():
    days = pd.Series(pd.date_range("2026-12-28", periods=10, freq="D"))
    shares = period_shares(days, "W", base="D", week_start=4)  # weeks starting on Friday
    assert (
        shares["period"].tolist()[:5] == ["2026-12-25"] * 4 + ["2027-01-01"] and (shares["share"] == 1).all()
    )
    df = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2026-12-01", periods=62, freq="D"), "y": 1.0})
    out = to_periods(df, "M", ["y"], base="D").set_index("period")
    assert (
        out.loc["2026-12", "y"] == 31
        and out.loc["2027-01", "y"] == 31
        and out.loc["2027-01", "coverage"] == 1.0
    )
    assert to_periods(df, "Y", ["y"], base="D").set_index("period").loc["2027", "coverage"] == pytest.approx(
        31 / 365
    )
    months = pd.DataFrame(
        {"unique_id": "a", "ds": pd.date_range("2026-01-01", periods=15, freq="MS"), "y": 1.0}
    )
    q = to_periods(months, "Q", ["y"], base="M").set_index("period")
    assert q["y"].tolist() == [3, 3, 3, 3, 3] and q.loc["2027Q1", "coverage"] == 1.0
    y = to_periods(
        to_periods(months, "Q", ["y"], base="M").rename(columns={"period_start": "ds"}), "Y", ["y"], base="Q"
    )
    assert y.set_index("period")["y"].to_dict() == {"2026": 12.0, "2027": 3.0}
    assert period_coverage(months["ds"], "2027", base="M") == pytest.approx(90 / 365)
    for base, target in (("M", "W"), ("Q", "M"), ("Y", "Q"), ("D", "D")):
        with pytest.raises(ConfigError, match="coarser"):
            period_shares(days, target, base=base)
    with pytest.raises(DataValidationError, match="first day of each month"):
        to_periods(months.assign(ds=months["ds"] + pd.Timedelta(days=1)), "Q", ["y"], base="M")


def test_moments_sum_exactly_and_gamma_keeps_the_mean():
    """Mean of a period = sum of means; sd from the AR(1) covariance; the gamma's quantile function
    integrates back to the mean (the point is a statistic of the same distribution)."""
    rho = 0.4
    df, mu, sd, w = gaussian_case(rho)
    frame = df[["unique_id", "ds"]].assign(yhat=mu, sd=sd)
    out = aggregate_moments(frame, "M", rho=rho).set_index("period").loc["2027-01"]
    lag = np.abs(np.subtract.outer(np.arange(10), np.arange(10)))
    assert out["mean"] == pytest.approx(w @ mu) and out["sd"] == pytest.approx(
        np.sqrt(w @ (np.outer(sd, sd) * rho**lag) @ w)
    )
    grid = np.arange(0.0005, 1.0, 0.001)
    for mean, s in ((out["mean"], out["sd"]), (2.0, 3.0), (0.3, 1.5)):
        q = moment_quantiles(np.array([mean]), np.array([s]), grid)[0]
        assert q.mean() == pytest.approx(mean, rel=0.01) and (q >= 0).all() and (np.diff(q) >= 0).all()
    normal = moment_quantiles(np.array([10.0]), np.array([2.0]), [0.1, 0.5, 0.9], nonnegative=False)[0]
    np.testing.assert_allclose(normal, [10 - 2 * Z90, 10, 10 + 2 * Z90])
    assert moment_quantiles(np.array([5.0]), np.array([0.0]), [0.1, 0.9]).tolist() == [[5.0, 5.0]]


def test_a_shift_shared_by_each_forecast_is_recovered_and_widens_sums():
    """Errors = one shift per forecast (series x origin) + AR(1) noise: the shift's variance share and
    the noise's rho come back, and a shared shift makes a period sum wider than AR(1) alone."""
    rng = np.random.default_rng(11)
    n_series, n_origins, n = 40, 6, 13
    shift = rng.normal(0, np.sqrt(0.3), (n_series * n_origins, 1))
    noise = ar1_paths(n_series * n_origins, n, 0.4, rng) * np.sqrt(0.7)
    cut = pd.Timestamp("2026-01-05")
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i % n_series}" for i in range(n_series * n_origins)], n),
            "cutoff": np.repeat(
                [cut + pd.Timedelta(weeks=13 * (i // n_series)) for i in range(n_series * n_origins)], n
            ),
            "e": (shift + noise).ravel(),
        }
    )
    frame["ds"] = frame["cutoff"] + pd.to_timedelta(
        np.tile(np.arange(1, n + 1), n_series * n_origins) * 7, unit="D"
    )
    shared, rho = estimate_error_dependence(frame, inflate=False)
    assert shared == pytest.approx(0.3, abs=0.07) and rho == pytest.approx(0.4, abs=0.08)
    df, mu, sd, _ = gaussian_case(0.0)
    frame = df[["unique_id", "ds"]].assign(yhat=mu, sd=sd)
    plain = aggregate_moments(frame, "M", rho=rho).set_index("period").loc["2027-01", "sd"]
    both = aggregate_moments(frame, "M", rho=rho, shared=shared).set_index("period").loc["2027-01", "sd"]
    assert both > 1.1 * plain
