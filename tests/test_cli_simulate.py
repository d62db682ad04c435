"""``salesplan simulate`` and ``salesplan demo`` through typer's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.contracts import validate_crm, validate_sellout, validate_spend
from salesplan.io import read_crm, read_table
from salesplan.simulator import SimConfig, simulate

runner = CliRunner()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_simulate_writes_valid_files(tmp_path: Path, fmt: str) -> None:
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path / "w"), "--seed", "7", "--format", fmt])
    assert res.exit_code == 0, res.output
    assert "series" in res.output and "opportunities" in res.output
    spec = simulate(SimConfig(seed=7)).sellout.spec
    sellout = validate_sellout(read_table(tmp_path / "w" / f"sellout.{fmt}"), spec)
    assert sellout["unique_id"].nunique() == 72
    validate_crm(read_crm(tmp_path / "w" / "crm"))
    validate_spend(read_table(next((tmp_path / "w").glob("spend.*"))))
    assert (tmp_path / "w" / "truth.json").exists()


def test_simulate_bad_options(tmp_path: Path) -> None:
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--scale", "huge"])
    assert res.exit_code == 1 and "--scale must be one of" in res.output
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path), "--format", "xlsx"])
    assert res.exit_code == 1 and "--format must be csv or parquet" in res.output


def test_simulate_at_another_frequency(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["simulate", "--out", str(tmp_path / "q"), "--seed", "7", "--freq", "q", "--weeks", "156"]
    )
    assert res.exit_code == 0, res.output
    assert "quarterly sell-out" in res.output
    spec = simulate(SimConfig(seed=7, freq="Q")).sellout.spec
    sellout = validate_sellout(read_table(tmp_path / "q" / "sellout.parquet"), spec)
    assert (sellout["ds"].dt.month % 3 == 1).all() and (sellout["ds"].dt.day == 1).all()
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path / "h"), "--freq", "H"])
    assert res.exit_code == 1 and "--freq must be one of" in res.output
