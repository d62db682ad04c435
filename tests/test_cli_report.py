"""``salesplan report``: one self-contained HTML page of the latest runs, proposal and budget curves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow_template import fresh_store
from readable_html import unreadable
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.serving.db.engine import migrate
from salesplan.simulator import SimConfig, simulate

runner = CliRunner()
SEED = 5  # the CRM the deal model and the bookings proposal are trained / planned on (--simulated --seed 5)
EXTERNAL = re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An MLflow store with a small forecaster (with its batch) and a deal model, trained once."""
    from salesplan.models.forecast import SeasonalNaive, WindowAverage
    from salesplan.training.deals_job import train_deals
    from salesplan.training.forecast_job import train_forecast

    root = tmp_path_factory.mktemp("report_store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", fresh_store(root / "mlruns.db"))
        mp.setenv("SALESPLAN_ARTIFACT_ROOT", str(root / "mlartifacts"))
        world = simulate(SimConfig(seed=4, n_products=4, n_stores=3, horizon=18))
        # a cheap blend: the report reads the run and its batch, whatever the members (the default's
        # cost is the forecast tests')
        cheap = {"members": [WindowAverage(), SeasonalNaive()]}
        train_forecast(world.sellout, h=8, n_origins=2, params=cheap, source="sim-tiny", future=world.future)
        train_deals(simulate(SimConfig(seed=SEED, scale="small")).crm, source=f"sim-seed{SEED}")
        mlflow.end_run()
    yield root


@pytest.fixture
def env(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The trained store, a fresh proposal database and a fresh working folder per test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlruns.db'}")
    monkeypatch.setenv("SALESPLAN_ARTIFACT_ROOT", str(store / "mlartifacts"))
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", f"sqlite:///{tmp_path / 'salesplan.db'}")
    migrate(f"sqlite:///{tmp_path / 'salesplan.db'}")  # salesplan db upgrade: the store exists, empty
    return tmp_path


def _sections(page: str) -> dict[str, str]:
    """Section id → its HTML (up to the next h2)."""
    parts = re.split(r"<h2 id='(\w+)'>", page)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _check_self_contained(page: str) -> None:
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<script" not in page and "<link" not in page


def test_report_of_the_runs_alone(env: Path) -> None:
    (env / "salesplan.db").unlink()  # no proposal database at all: the report says so
    res = runner.invoke(app, ["report", "--out", "out/report.html"])
    assert res.exit_code == 0, res.output
    page = (env / "out" / "report.html").read_text(encoding="utf-8")
    _check_self_contained(page)
    s = _sections(page)
    assert list(s) == ["forecast", "deals", "pipeline", "proposal", "budget"]
    run = mlflow.MlflowClient().search_runs(
        [mlflow.get_experiment_by_name("salesplan-forecast").experiment_id]  # type: ignore[union-attr]
    )[0]
    assert "salesplan-forecast v1 (champion)" in s["forecast"] and run.info.run_id in s["forecast"]
    assert f"{run.data.metrics['backtest_mase']:.3g}" in s["forecast"]  # the run's MASE, not a made-up one
    for level in ("region", "category", "store", "product"):
        assert f"<td>{level}</td>" in s["forecast"]
    logged = [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "report")]
    pngs = [p for p in logged if p.endswith(".png")]
    assert "report/forecast_vs_actual.png" in pngs
    assert s["forecast"].count("data:image/png;base64,") == 1 + len(pngs)  # by-level chart + logged plots
    assert "salesplan-deals v1 (champion)" in s["deals"] and "Reliability" in s["deals"]
    assert s["deals"].count("data:image/png;base64,") == 1
    assert "add --simulated or --data" in s["pipeline"]
    assert "no proposal database" in s["proposal"]
    assert "no spend data given" in s["budget"]
    assert "budget: no spend data given" in res.output


def test_report_with_a_bookings_proposal_and_the_simulated_data(env: Path) -> None:
    args = ["plan", "targets", "--quarter", "2027Q1", "--by", "region,team,rep", "--simulated"]
    res = runner.invoke(app, [*args, "--seed", str(SEED), "--probability", "0.7", "--out", "plan"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", "--out", "r.html", "--simulated", "--seed", str(SEED)])
    assert res.exit_code == 0, res.output
    page = (env / "r.html").read_text(encoding="utf-8")
    _check_self_contained(page)
    s = _sections(page)
    # pipeline of the quarter after the CRM's end, from the deal champion's scores
    assert "expected to close in 2027Q1" in s["pipeline"] and "<td>total</td>" in s["pipeline"]
    assert s["pipeline"].count("data:image/png;base64,") == 1
    # the stored proposal, its fan rebuilt from the same CRM and scores: the stored P(hit) comes back
    assert "2027Q1" in s["proposal"] and "total → region → team → rep" in s["proposal"]
    assert "P(hit) of the stored top target" in s["proposal"] and ": 70%" in s["proposal"]
    assert "caution" not in s["proposal"]
    assert s["proposal"].count("data:image/png;base64,") == 3  # fan, allocation, phasing
    assert "Fitted on simulated-small-seed5" in s["budget"]
    for channel in ("tv", "search", "display", "email", "social"):
        assert f"<td>{channel}</td>" in s["budget"]
    # readable: no 4.53e+03, None, nan or raw dict, months by name, in the report and the proposal's own page
    (export,) = (env / "plan").glob("*.html")
    for html in (page, export.read_text(encoding="utf-8")):
        assert unreadable(html) == [], unreadable(html)[:5]
        assert "<th>2027-01</th>" in html and "<th>2027-03</th>" in html


def test_report_of_a_sellout_proposal_rebuilds_the_fan_from_the_batch(env: Path) -> None:
    res = runner.invoke(app, ["plan", "targets", "--quarter", "2027Q1", "--by", "region,store", "--out", "p"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", "--out", "r.html"])
    assert res.exit_code == 0, res.output
    s = _sections((env / "r.html").read_text(encoding="utf-8"))
    assert "total → region → store" in s["proposal"] and "salesplan-forecast v1" in s["proposal"]
    assert ": 60%" in s["proposal"] and s["proposal"].count("data:image/png;base64,") == 3


def test_bookings_proposal_without_its_crm_says_how_to_get_the_fan(env: Path) -> None:
    args = ["plan", "targets", "--quarter", "2027Q1", "--by", "region,team,rep", "--simulated"]
    assert runner.invoke(app, [*args, "--seed", str(SEED), "--out", "p"]).exit_code == 0
    res = runner.invoke(app, ["report", "--out", "r.html"])
    assert res.exit_code == 0, res.output
    s = _sections((env / "r.html").read_text(encoding="utf-8"))
    assert "needs the CRM it was planned on" in s["proposal"]
    assert s["proposal"].count("data:image/png;base64,") == 2  # allocation and phasing still drawn


def test_report_reads_a_simulate_folder_and_flags_other_data(env: Path) -> None:
    simulate(SimConfig(seed=SEED, scale="small")).write(env / "world")
    args = ["plan", "targets", "--quarter", "2027Q1", "--by", "region,team,rep", "--data", "world/crm"]
    assert runner.invoke(app, [*args, "--out", "p"]).exit_code == 0
    res = runner.invoke(app, ["report", "--out", "r.html", "--data", "world"])
    assert res.exit_code == 0, res.output
    s = _sections((env / "r.html").read_text(encoding="utf-8"))
    assert "expected to close in 2027Q1" in s["pipeline"] and "Fitted on world" in s["budget"]
    assert ": 60%" in s["proposal"] and "caution" not in s["proposal"]
    # the same proposal against another CRM: the report says the odds do not match what was planned
    res = runner.invoke(app, ["report", "--out", "other.html", "--simulated", "--seed", "9"])
    assert res.exit_code == 0, res.output
    other = _sections((env / "other.html").read_text(encoding="utf-8"))["proposal"]
    assert "caution: the inputs given imply P(hit)" in other and "planned at 60%" in other


def test_no_runs_yet_says_train_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["report", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"])
    assert res.exit_code == 1 and "train first: salesplan train forecast" in res.output
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "report.html").exists()
    # an existing but empty store says the same
    mlflow.MlflowClient(f"sqlite:///{tmp_path / 'empty.db'}").search_experiments()
    res = runner.invoke(app, ["report", "--tracking-uri", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert res.exit_code == 1 and "no salesplan-forecast or salesplan-deals runs" in res.output
    assert "Traceback" not in res.output


def test_bad_options_are_clean_errors(env: Path) -> None:
    res = runner.invoke(app, ["report", "--simulated", "--data", "."])
    assert res.exit_code == 1 and "at most one planning data source" in res.output
    res = runner.invoke(app, ["report", "--out", "report.pdf"])
    assert res.exit_code == 1 and "ending in .html" in res.output
    res = runner.invoke(app, ["report", "--data", str(env)])
    assert res.exit_code == 1 and "no crm/ folder" in res.output


def test_the_readability_check_finds_planted_values() -> None:
    """The grep above can fail: each kind of bad text planted in a clean report page is found, and the
    shared table formatter writes none of them."""
    from salesplan.planning.reports.charts import fmt_number, fmt_value, html_table

    clean = "<html><body><table><tr><th>2027-01</th><td>4,530</td><td>0.381</td></tr></table></body></html>"
    assert unreadable(clean) == []
    for bad in (
        "<td>4.53e+03</td>",
        "<td>None</td>",
        "<td>nan</td>",
        "<p>{&#x27;a&#x27;: 1}</p>",
        "<th>m1</th>",
    ):
        assert unreadable(clean.replace("<td>4,530</td>", bad)), bad
    frame = pd.DataFrame(
        {"unit": ["total", "North"], "parent_id": [None, "total"], "target": [4530.0, 1e-9],
         "p_hit": [float("nan"), 0.381], "flag": [True, False], "weights": [{"a": 0.5}, {"b": 2.0}]}
    )  # fmt: skip
    html = html_table(frame)
    assert unreadable(html) == [], unreadable(html)
    assert "4,530" in html and "&lt; 0.0001" in html and "yes" in html and "a 0.5" in html
    assert [fmt_number(x) for x in (4530.0, 12.345, 0.5, -0.004567)] == ["4,530", "12.3", "0.5", "-0.00457"]
    assert fmt_value(None) == "–" and fmt_value([1.0, 2.5]) == "1, 2.5"
