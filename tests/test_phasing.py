"""Monthly phasing sums back to the quarter exactly, to the cent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.planning.phasing import phase, split_cents, wide


def test_split_cents_is_exact_for_awkward_numbers() -> None:
    rng = np.random.default_rng(0)
    totals = np.round(rng.uniform(0, 1e7, 500), 2)
    weights = rng.uniform(0, 1, (500, 3))
    weights[:5] = 0.0  # no shape → even split
    out = split_cents(totals, weights)
    assert (np.rint(out.sum(axis=1) * 100) == np.rint(totals * 100)).all()
    assert np.allclose(out * 100, np.rint(out * 100))
    np.testing.assert_allclose(
        out[5:], totals[5:, None] * weights[5:] / weights[5:].sum(1, keepdims=True), atol=0.01
    )
    assert (np.abs(out[:5] - totals[:5, None] / 3) <= 0.01).all()
    assert split_cents(np.array([100.0]), np.array([[1.0, 1.0, 1.0]])).tolist() == [[33.34, 33.33, 33.33]]


def test_phase_by_forecast_and_last_year_shape() -> None:
    targets = pd.DataFrame(
        {
            "quarter": ["2026Q1", "2026Q1", "2026Q2"],
            "unit_id": ["a", "b", "a"],
            "target": [1000.01, 333.33, 50.0],
        }
    )
    fc = pd.DataFrame(
        {
            "unique_id": ["a"] * 6 + ["b"] * 2,
            "ds": pd.to_datetime(
                [
                    "2026-01-05",
                    "2026-01-19",
                    "2026-02-02",
                    "2026-03-02",
                    "2026-04-06",
                    "2026-05-04",
                    "2026-01-05",
                    "2026-02-02",
                ]
            ),
            "yhat": [10.0, 10.0, 30.0, 50.0, 1.0, 1.0, 5.0, 5.0],
        }
    )
    out = phase(targets, "forecast", forecast=fc)
    sums = out.groupby(["quarter", "unit_id"])["target"].sum()
    assert (np.rint(sums * 100) == [100001, 33333, 5000]).all()
    a1 = out[(out["quarter"] == "2026Q1") & (out["unit_id"] == "a")]["target"].tolist()
    assert a1 == [200.0, 300.0, 500.01]
    shapes = out.drop_duplicates(["quarter", "unit_id"]).set_index(["quarter", "unit_id"])["shape"]
    assert shapes[("2026Q1", "b")] == "even"  # March missing → even split, stated
    assert shapes[("2026Q2", "a")] == "even"  # June missing
    ly = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
            "y": [1.0, 2.0, 1.0],
        }
    )
    out2 = phase(targets.iloc[:1], "last_year", actuals=ly)
    assert out2["target"].tolist() == [250.0, 500.01, 250.0]
    assert np.rint(out2["target"].sum() * 100) == 100001 and out2["shape"].iloc[0] == "last_year"
    w = wide(out)
    assert list(w.columns) == ["quarter", "unit_id", "m1", "m2", "m3"]
    with pytest.raises(ConfigError, match="forecast"):
        phase(targets, "forecast")
