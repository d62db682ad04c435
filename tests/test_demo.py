"""``salesplan demo`` ends with target proposals for the next quarter; its stores (MLflow with the champion
forecaster's batch, the proposal database) then serve the sell-out side of ``salesplan plan``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.config import get_settings

pytestmark = pytest.mark.slow
runner = CliRunner()
ID_RE = re.compile(r"stored proposal ([0-9a-f-]{36})")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns.db'}")
        mp.setenv("SALESPLAN_ARTIFACT_ROOT", str(root / "mlartifacts"))
        mp.setenv("SALESPLAN_DATABASE_URL", f"sqlite:///{root / 'plans.db'}")
        get_settings.cache_clear()
        res = runner.invoke(app, ["demo", "--out", str(root / "demo_out")])
        assert res.exit_code == 0, res.output
        yield root, res.output
    get_settings.cache_clear()


@pytest.fixture
def stores(demo: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    root = demo[0]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns.db'}")
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", f"sqlite:///{root / 'plans.db'}")
    get_settings.cache_clear()
    return root


def _run(args: list[str], ok: bool = True) -> str:
    res = runner.invoke(app, args)
    if ok:
        assert res.exit_code == 0, res.output
    else:
        assert res.exit_code != 0 and isinstance(res.exception, SystemExit), res.output
        assert "Traceback" not in res.output
    return res.output


def test_demo_ends_with_stored_target_proposals(demo: tuple[Path, str]) -> None:
    root, output = demo
    assert "7. propose the targets of 2027Q1" in output
    ids = ID_RE.findall(output)
    assert len(ids) == 2, output[-3000:]
    assert "by region → team → rep" in output and "by region → store" in output
    for by in ("region-team-rep", "region-store"):
        html = next((root / "demo_out").glob(f"proposal_2027Q1_{by}_*.html")).read_text()
        assert html.startswith("<!doctype html>") and html.count("data:image/png;base64,") >= 4
    # the simulator's planned future reaches the quarter's end: the batch assumed nothing
    levels = pd.read_parquet(root / "demo_out" / "forecast_levels.parquet")
    q = levels[(levels["freq"] == "Q") & (levels["period"] == "2027Q1")]
    assert (q["coverage"] == 1.0).all() and (q["assumed_share"] == 0).all()


def test_sellout_plan_on_the_demo_champion(stores: Path) -> None:
    out = _run(["plan", "targets", "--quarter", "2027Q1", "--by", "region,store", "--probability", "0.7",
                "--out", str(stores / "so")])  # fmt: skip
    pid = ID_RE.search(out).group(1)  # type: ignore[union-attr]
    csv = next((stores / "so").glob("proposal_2027Q1_region-store_*.csv"))
    _run(["plan", "show", pid, "--csv", str(stores / "show.csv")])
    pd.testing.assert_frame_equal(pd.read_csv(csv), pd.read_csv(stores / "show.csv"))
    rows = pd.read_csv(csv)
    total = rows[rows["level"] == "total"].iloc[0]
    assert total["p_hit"] == pytest.approx(0.7, abs=0.01)
    store = rows[rows["level"] == "store"].iloc[0]
    region = store["parent_id"]
    _run(
        [
            "plan",
            "override",
            pid,
            "--unit",
            store["unit_id"],
            "--target",
            str(round(store["target"] * 0.8, 2)),
        ]
    )
    _run(["plan", "show", pid, "--csv", str(stores / "after.csv")])
    after = pd.read_csv(stores / "after.csv")
    kids = after[after["parent_id"] == region]["target"].sum()
    assert kids == pytest.approx(rows[rows["parent_id"] == region]["target"].sum(), abs=0.05)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quarter", "2029Q1", "--by", "region,store"], "2029Q1"),
        (["--quarter", "2027Q1", "--by", "region,aisle"], "aisle"),
        (["--quarter", "2027Q1", "--by", "region,store", "--model", "41"], "41"),
    ],
)
def test_sellout_plan_bad_input(stores: Path, args: list[str], message: str) -> None:
    assert message in _run(["plan", "targets", *args, "--no-save", "--out", str(stores / "bad")], ok=False)
