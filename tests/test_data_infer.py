"""``salesplan data validate`` guesses the roles of extra columns (#24): the simulator's own sell-out file
passes with default flags, the guesses are printed with the equivalent flags, and a missing required
column is reported together with every other problem."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.contracts import SelloutSpec, validate_sellout
from salesplan.contracts.infer import infer_sellout_roles
from salesplan.errors import DataValidationError
from salesplan.simulator import SimConfig, simulate

runner = CliRunner()


@pytest.fixture(scope="module")
def sellout() -> pd.DataFrame:
    return simulate(SimConfig(seed=3, n_products=4, n_stores=5)).sellout.df


def test_roles_of_the_simulated_table_are_guessed_as_the_simulator_declares_them(
    sellout: pd.DataFrame,
) -> None:
    roles = infer_sellout_roles(sellout, SelloutSpec())
    assert roles.hierarchy is not None
    assert sorted(map(list, roles.hierarchy.levels.values())) == [
        ["category", "product"],
        ["region", "store"],
    ]
    assert roles.promo_cols == ("promo", "promo_depth") and roles.exog_cols == ("holiday",)
    assert roles.static_cols == ("channel",)
    validate_sellout(sellout, roles.apply(SelloutSpec()))  # the guesses make a valid spec


def test_declared_roles_are_kept_and_only_open_ones_guessed(sellout: pd.DataFrame) -> None:
    spec = SelloutSpec(exog_cols=("holiday", "promo_depth"))
    roles = infer_sellout_roles(sellout, spec, open_roles=("promo", "static"))
    assert roles.hierarchy is None and roles.exog_cols == () and roles.promo_cols == ("promo",)


def test_cli_validates_the_simulated_file_with_default_flags(sellout: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "sellout.parquet"
    sellout.to_parquet(path)
    res = runner.invoke(app, ["data", "validate", str(path)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "inferred from the data" in text and "--promo-cols promo,promo_depth" in text
    assert "store=region,store" in text and "product=category,product" in text
    res = runner.invoke(app, ["data", "validate", str(path), "--no-infer"])
    assert res.exit_code == 1 and "unknown column" in res.output


def test_a_missing_required_column_is_reported_with_every_other_problem(tmp_path: Path) -> None:
    bad = pd.DataFrame({"unique_id": ["a", "a"], "date": ["2025-01-06", "2025-01-13"], "y": [1, "x"]})
    with pytest.raises(DataValidationError) as err:
        validate_sellout(bad, SelloutSpec())
    text = str(err.value)
    assert "missing required column(s) ['ds']" in text
    assert "unknown column(s) ['date']" in text and "rename one of them" in text
    assert "non-numeric y" in text
