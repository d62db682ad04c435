"""The forecast frame contract: one rule names quantile columns, its inverse reads them back, and the
frames' column lists are what the batch job writes and the service reads."""

from __future__ import annotations

import pytest

from salesplan.contracts import (
    QUANTILES,
    forecast_columns,
    history_columns,
    is_quantile_col,
    quantile_col,
    quantile_cols,
    quantile_level,
    quantile_levels,
)


def test_default_grid_has_two_digit_names_that_sort_by_level() -> None:
    names = quantile_cols(QUANTILES)
    assert names == ["q05", "q10", "q20", "q30", "q40", "q50", "q60", "q70", "q80", "q90", "q95"]
    assert sorted(names) == names


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (0.01, "q01"),
        (0.05, "q05"),
        (0.1, "q10"),
        (0.5, "q50"),
        (0.99, "q99"),
        (0.025, "q2.5"),
        (0.975, "q97.5"),
    ],
)
def test_names_round_trip(level: float, name: str) -> None:
    assert quantile_col(level) == name
    assert quantile_level(name) == pytest.approx(level, abs=1e-12)
    assert is_quantile_col(name)


@pytest.mark.parametrize("bad", ["q5", "q0", "q100", "q50.0", "qty", "yhat", "Q50", "q-5", ""])
def test_other_names_are_not_quantile_columns(bad: str) -> None:
    assert not is_quantile_col(bad)
    with pytest.raises(ValueError, match="not a quantile column"):
        quantile_level(bad)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, 1e-7])
def test_levels_outside_the_open_unit_interval_have_no_name(bad: float) -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        quantile_col(bad)


def test_quantile_levels_finds_and_sorts_the_quantile_columns() -> None:
    found = quantile_levels(["unique_id", "q90", "q10", "yhat", "q05", "q97.5", "q5", 3])
    assert list(found.items()) == [("q05", 0.05), ("q10", 0.1), ("q90", 0.9), ("q97.5", 0.975)]


def test_frame_columns_in_order() -> None:
    assert forecast_columns((0.1, 0.5, 0.9), ("region", "store")) == [
        "unique_id", "level", "freq", "period", "ds", "yhat", "q10", "q50", "q90", "coverage", "source",
        "method", "assumed_share", "region", "store", "model", "model_version",
    ]  # fmt: skip
    assert history_columns(("region",)) == ["unique_id", "level", "freq", "period", "ds", "y", "region"]
