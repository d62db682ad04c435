"""Quarter distributions from quantiles and the probability ↔ target mapping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError, DataValidationError
from salesplan.planning.distributions import QuarterDistribution, combine, from_forecast, from_quantile_frame
from salesplan.planning.proposals import (
    implied_probability,
    probability_curve,
    proposal,
    target_for_probability,
    unit_target,
    unit_targets,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": ["North", "South", "West"],
            "q05": [700.0, 40.0, 10.0],
            "q10": [800.0, 50.0, 12.0],
            "q50": [1000.0, 80.0, 20.0],
            "q90": [1300.0, 95.0, 35.0],
            "q95": [1400.0, 120.0, 40.0],
        }
    )


@pytest.mark.parametrize("tail", ["normal", "lognormal"])
def test_quantiles_reproduced_and_mapping_monotone(frame: pd.DataFrame, tail: str) -> None:
    d = from_quantile_frame(frame, tail=tail)
    lv = np.array([0.05, 0.1, 0.5, 0.9, 0.95])
    np.testing.assert_allclose(d.quantile(lv), frame[["q05", "q10", "q50", "q90", "q95"]].to_numpy())
    # target hit with probability p is the (1 - p) quantile, exactly at the given levels
    np.testing.assert_allclose(target_for_probability(d, 1 - lv), d.values)
    np.testing.assert_allclose(
        implied_probability(d, None, d.values), np.broadcast_to(1 - lv, d.values.shape), atol=1e-12
    )
    p = np.linspace(0.001, 0.999, 999)
    q = d.quantile(p)
    assert np.all(np.diff(q, axis=1) >= 0)
    assert np.all(np.diff(target_for_probability(d, p), axis=1) <= 0)  # higher p_hit → lower target
    x = np.linspace(0, 2000, 4001)
    c = d.cdf(x)
    assert np.all(np.diff(c, axis=1) >= -1e-15) and c.min() >= 0 and c.max() <= 1
    # round trip: cdf(quantile(p)) == p where the distribution is continuous
    np.testing.assert_allclose(
        np.take_along_axis(d.cdf(q), np.arange(len(p))[None, :].repeat(3, 0), 1),
        np.tile(p, (3, 1)),
        atol=1e-9,
    )


def test_tails_follow_outer_quantiles(frame: pd.DataFrame) -> None:
    d = from_quantile_frame(frame[["unique_id", "q10", "q50", "q90"]])
    # normal upper tail through q50 and q90 extrapolates with the same slope in z
    from scipy import stats

    s = (1300 - 1000) / (stats.norm.ppf(0.9) - stats.norm.ppf(0.5))
    assert d.quantile(0.99, "North")[0, 0] == pytest.approx(
        1300 + s * (stats.norm.ppf(0.99) - stats.norm.ppf(0.9))
    )
    assert d.quantile(1e-6, "West")[0, 0] >= 0.0  # floored at zero by default
    ln = from_quantile_frame(frame[["unique_id", "q10", "q50", "q90"]], tail="lognormal")
    assert ln.quantile(1e-9).min() > 0


def test_crossing_quantiles_are_made_monotone() -> None:
    d = QuarterDistribution(("a",), np.array([0.1, 0.5, 0.9]), np.array([[10.0, 9.0, 20.0]]))
    assert np.all(np.diff(d.values) >= 0)
    assert np.all(np.diff(d.quantile(np.linspace(0.01, 0.99, 99))) >= 0)


def test_target_modes_and_implied_probability(frame: pd.DataFrame) -> None:
    d = from_quantile_frame(frame)
    t = unit_target(d, "North", "probability", p_hit=0.9)
    assert t.target == pytest.approx(800.0) and t.p_hit == pytest.approx(0.9)
    g = unit_target(d, "North", "growth", growth=0.1, last_year=1000.0)
    assert g.target == pytest.approx(1100.0) and 0.1 < g.p_hit < 0.5
    v = unit_target(d, "North", "value", value=1000.0)
    assert v.p_hit == pytest.approx(0.5)
    assert implied_probability(d, "North", [900.0, 1000.0, 1200.0])[0].tolist() == sorted(
        implied_probability(d, "North", [900.0, 1000.0, 1200.0])[0].tolist(), reverse=True
    )
    tab = unit_targets(d, "growth", growth=0.05, last_year={"North": 900, "South": 70, "West": 18})
    assert tab["target"].tolist() == [945.0, 73.5, 18.9]
    with pytest.raises(ConfigError, match="last_year"):
        unit_targets(d, "growth", growth=0.05, last_year={"North": 900})
    with pytest.raises(ConfigError):
        target_for_probability(d, 1.0)
    curve = probability_curve(d, "South")
    assert curve["target"].is_monotonic_decreasing


def test_combine_independent_sum_matches_normal_theory() -> None:
    from scipy import stats

    lv = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95])
    a = QuarterDistribution(("u",), lv, stats.norm.ppf(lv, 1000, 100)[None, :])
    b = QuarterDistribution(
        ("u", "v"), lv, np.vstack([stats.norm.ppf(lv, 300, 50), stats.norm.ppf(lv, 10, 1)])
    )
    c = combine(a, b, seed=3)
    assert c.unit_ids == ("u", "v")
    exact = stats.norm.ppf([0.1, 0.5, 0.9], 1300, np.hypot(100, 50))
    np.testing.assert_allclose(c.quantile([0.1, 0.5, 0.9], "u")[0], exact, rtol=0.004)
    np.testing.assert_allclose(c.quantile([0.5], "v")[0], [10.0], rtol=1e-6)  # unit only in b keeps its own
    again = combine(a, b, seed=3)
    np.testing.assert_array_equal(c.values, again.values)  # fixed seed → reproducible


def test_from_forecast_sums_months_of_the_quarter() -> None:
    fc = pd.DataFrame(
        {
            "unique_id": ["N"] * 4,
            "ds": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]),
            "level": "region",
            "q10": [8.0, 8.0, 8.0, 100.0],
            "q50": [10.0, 10.0, 10.0, 100.0],
            "q90": [12.0, 12.0, 12.0, 100.0],
        }
    )
    d = from_forecast(fc, "2026Q1", level="region")
    np.testing.assert_allclose(d.values, [[24.0, 30.0, 36.0]])
    with pytest.raises(ConfigError, match="no forecast rows"):
        from_forecast(fc, "2027Q1")
    with pytest.raises(DataValidationError, match="quantile"):
        from_quantile_frame(fc.drop(columns=["q10", "q90"]))


def test_proposal_rows_from_allocation_distribution_and_phasing(frame: pd.DataFrame) -> None:
    from salesplan.planning.allocation import allocate
    from salesplan.planning.phasing import phase
    from salesplan.planning.types import AllocationConfig

    units = pd.DataFrame(
        {
            "quarter": "2026Q1",
            "unit_id": ["Co", "North", "South", "West"],
            "parent_id": [None, "Co", "Co", "Co"],
            "level": ["company", "region", "region", "region"],
            "forecast_q50": [np.nan, 1000.0, 80.0, 20.0],
            "last_period_actual": [np.nan, 950.0, 70.0, 22.0],
        }
    )
    d = from_quantile_frame(frame)
    alloc = allocate(units, 1_000.0, AllocationConfig(over_assignment=0.05))
    ph = phase(alloc.targets, "even")
    prop = proposal(alloc, "2026Q1", dist=d, phasing=ph, input_model_versions={"salesplan-forecast": "3"})
    rows = prop.rows.set_index("unit_id")
    cols = ["level", "parent_id", "target", "forecast_q50", "last_period_actual", "p_hit", "m1", "m2", "m3"]
    assert set(cols) <= set(rows.columns)
    assert np.isnan(rows.loc["Co", "p_hit"]) and 0 < rows.loc["North", "p_hit"] < 1
    assert rows.loc["North", "p_hit"] == pytest.approx(
        implied_probability(d, "North", rows.loc["North", "target"])[0, 0]
    )
    m = np.rint(rows[["m1", "m2", "m3"]].to_numpy() * 100).sum(axis=1)
    assert (m == np.rint(rows["target"].to_numpy() * 100)).all()
    assert prop.parameters["over_assignment"] == 0.05 and prop.input_model_versions == {
        "salesplan-forecast": "3"
    }


def test_forecast_plus_weighted_pipeline_by_region() -> None:
    from salesplan.planning.pipeline import weighted_pipeline

    deals = pd.DataFrame(
        {
            "opportunity_id": [f"o{i}" for i in range(6)],
            "region": ["North"] * 4 + ["South"] * 2,
            "p_win": [0.9, 0.5, 0.2, 0.7, 0.4, 0.6],
            "amount": [100.0, 200.0, 50.0, 80.0, 30.0, 60.0],
            "expected_close_date": pd.to_datetime(["2026-01-15"] * 6),
        }
    )
    pipe = weighted_pipeline(deals, "2026Q1", by="region", quantiles=(0.1, 0.5, 0.9))
    pd_dist = from_quantile_frame(pipe, id_col="region")
    fc = from_quantile_frame(
        pd.DataFrame(
            {
                "unique_id": ["North", "South"],
                "q10": [800.0, 90.0],
                "q50": [1000.0, 100.0],
                "q90": [1200.0, 110.0],
            }
        )
    )
    total = combine(fc, pd_dist, seed=0)
    med = total.median()
    exp = pipe.set_index("region")["expected_value"]
    # independent sum: the median moves by about the pipeline's expected value, the spread widens
    assert med["North"] == pytest.approx(1000.0 + exp["North"], rel=0.03)
    spread = total.quantile([0.1, 0.9], "North")[0]
    assert spread[1] - spread[0] > 400.0


@pytest.mark.parametrize("noise", [0.0, 1e-12])
def test_fairness_histogram_draws_a_bar_when_every_unit_is_stretched_the_same(noise: float) -> None:
    """Issue #24: every unit at the same target / potential (exactly, or up to float noise) once drew an
    empty histogram. The chart's right panel must hold a bar of the chart's blue, a solid block of pixels."""
    import base64
    import io
    import re

    from matplotlib.image import imread

    from salesplan.planning.reports.charts import BLUE
    from salesplan.planning.reports.targets import fairness_chart
    from salesplan.planning.types import FairnessReport

    potential = np.linspace(1_000.0, 8_000.0, 8)
    ratio = 1.1 + noise * np.array([1, -1, 0, 1, 0, -1, 0, 1])
    per = pd.DataFrame({"unit_id": [f"rep{i}" for i in range(8)], "potential": potential,
                        "target": potential * ratio, "ratio": ratio})  # fmt: skip
    html = fairness_chart(FairnessReport(pd.DataFrame(), per))
    found = re.search(r"base64,([A-Za-z0-9+/=]+)", html)
    assert found, html[:200]
    img = imread(io.BytesIO(base64.b64decode(found.group(1))))[..., :3]
    right = img[:, img.shape[1] // 2 :]  # the histogram (the scatter on the left is translucent)
    blue = np.array([int(BLUE[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    bar = np.abs(right - blue).max(axis=2) < 0.03
    assert bar.sum() > 2_000, f"only {bar.sum()} bar pixels"
    rows, cols = np.nonzero(bar)
    assert np.ptp(rows) > 0.3 * right.shape[0] and np.ptp(cols) > 10  # a block, not a hairline
