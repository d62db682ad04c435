"""``salesplan plan ...`` through typer's runner: proposals stored and read back, the approval workflow,
budget splits, and clean errors for bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.config import get_settings

runner = CliRunner()
ID_RE = re.compile(r"stored proposal ([0-9a-f-]{36})")


def _env(mp: pytest.MonkeyPatch, root: Path) -> None:
    mp.setenv("SALESPLAN_DATABASE_URL", f"sqlite:///{root / 'plans.db'}")
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns.db'}")  # empty store: no deal scores
    mp.setenv("COLUMNS", "160")
    get_settings.cache_clear()


def _ok(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


def _refused(args: list[str], *fragments: str) -> str:
    """A clean refusal: exit code != 0, the message, and no traceback."""
    res = runner.invoke(app, args)
    assert res.exit_code != 0, res.output
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    for f in fragments:
        assert f in res.output, (f, res.output)
    return res.output


@pytest.fixture(scope="module")
def bookings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, Path]]:
    """One bookings proposal on the simulator, stored in a fresh database: (root, id, its CSV)."""
    root = tmp_path_factory.mktemp("plan")
    with pytest.MonkeyPatch.context() as mp:
        _env(mp, root)
        _refused(["plan", "list"], "no database file", "salesplan db upgrade")  # never created on the side
        assert not (root / "plans.db").exists()
        assert "upgraded from nothing (created it) to revision" in _ok(["db", "upgrade"])
        assert "nothing to do" in _ok(["db", "upgrade"]) and "(current)" in _ok(["db", "current"])
        out = _ok(["plan", "targets", "--quarter", "2027Q1", "--by", "region,team,rep", "--simulated",
                   "--probability", "0.6", "--out", str(root / "out"), "--author", "tester"])  # fmt: skip
        match = ID_RE.search(out)
        assert match, out
        csv = next((root / "out").glob(f"proposal_2027Q1_region-team-rep_{match.group(1)[:8]}.csv"))
        yield root, match.group(1), csv
    get_settings.cache_clear()


@pytest.fixture
def env(bookings: tuple[Path, str, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, Path]:
    _env(monkeypatch, bookings[0])
    return bookings


def test_targets_store_and_show_reads_back_identically(env: tuple[Path, str, Path]) -> None:
    root, pid, csv = env
    assert (csv.with_suffix(".html")).read_text().startswith("<!doctype html>")
    out = _ok(["plan", "show", pid, "--csv", str(root / "show.csv")])
    assert "draft version 1" in out and "author tester" in out
    written, shown = pd.read_csv(csv), pd.read_csv(root / "show.csv")
    pd.testing.assert_frame_equal(written, shown)
    assert list(dict.fromkeys(shown["level"])) == ["total", "region", "team", "rep"]
    # every parent's children sum to the parent, to the cent (no over-assignment by default)
    t = shown.set_index("unit_id")["target"]
    for parent, kids in shown.dropna(subset=["parent_id"]).groupby("parent_id")["target"]:
        assert kids.sum() == pytest.approx(t[parent], abs=0.01 * len(kids) + 1e-6), parent
    months = [c for c in shown.columns if c.startswith("target_2027-")]
    assert months == ["target_2027-01", "target_2027-02", "target_2027-03"]
    assert (shown[months].sum(axis=1) - shown["target"]).abs().max() < 0.02
    assert pid in _ok(["plan", "list", "--quarter", "2027Q1", "--status", "draft"])


def test_override_then_approve_then_override_refuses(env: tuple[Path, str, Path]) -> None:
    root, _, _ = env
    out = _ok(["plan", "targets", "--quarter", "2027Q1", "--by", "region,team,rep", "--simulated",
               "--out", str(root / "out2")])  # fmt: skip
    pid = ID_RE.search(out).group(1)  # type: ignore[union-attr]
    _ok(["plan", "show", pid, "--csv", str(root / "before.csv")])
    before = pd.read_csv(root / "before.csv")
    reps = before[before["level"] == "rep"]
    rep = reps[reps.groupby("parent_id")["unit_id"].transform("size") > 1].iloc[0]  # one with siblings
    new_target = round(float(rep["target"]) * 1.25, 2)
    out = _ok(
        ["plan", "override", pid, "--unit", str(rep["unit_id"]), "--target", str(new_target), "--by", "lead"]
    )
    assert "version 2" in out
    _ok(["plan", "show", pid, "--csv", str(root / "after.csv")])
    after = pd.read_csv(root / "after.csv").set_index("unit_id")
    assert after.loc[rep["unit_id"], "target"] == pytest.approx(new_target, abs=0.005)
    assert bool(after.loc[rep["unit_id"], "overridden"])
    team = rep["parent_id"]  # the team's total is kept; its other reps absorbed the change
    sib = after[after["parent_id"] == team]["target"].sum()
    assert sib == pytest.approx(before[before["parent_id"] == team]["target"].sum(), abs=0.05)

    assert "approved" in _ok(["plan", "approve", pid, "--by", "director"])
    _refused(["plan", "override", pid, "--unit", str(rep["unit_id"]), "--target", "1"], "approved")
    _refused(["plan", "reject", pid, "--reason", "late"], "approved")
    _ok(["plan", "show", pid, "--csv", str(root / "final.csv")])
    pd.testing.assert_frame_equal(pd.read_csv(root / "final.csv").set_index("unit_id"), after)


def test_override_stale_version_and_unknown_unit(env: tuple[Path, str, Path]) -> None:
    _, pid, _ = env
    _refused(["plan", "override", pid, "--unit", "nobody", "--target", "5"], "unknown unit", "nobody")
    _refused(["plan", "override", pid, "--unit", "R001", "--target", "5", "--version", "7"], "version")
    _refused(
        ["plan", "override", pid, "--unit", "R001", "--target", "5", "--target", "6"],
        "one --target per --unit",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quarter", "2027-Q1"], "--quarter: must look like 2027Q1"),
        (["--quarter", "2027Q1", "--probability", "1.5"], "--probability: must be in (0, 1)"),
        (["--quarter", "2027Q1", "--probability", "0"], "--probability: must be in (0, 1)"),
        (["--quarter", "2027Q1", "--max-change", "0"], "--max-change: must be in (0, 10]"),
        (["--quarter", "2027Q1", "--over-assignment", "-0.1"], "--over-assignment: must be in [0, 1]"),
        (["--quarter", "2027Q1", "--by", "region,team,squad"], "not CRM levels"),
        (["--quarter", "2027Q1", "--by", "region,,region"], "twice"),
        (["--quarter", "2027Q1", "--mode", "growth"], "mode growth needs --growth"),
        (["--quarter", "2027Q1", "--method", "sideways"], "--method"),
        (["--quarter", "2035Q1"], "2035Q1"),
        (["--quarter", "2027Q1", "--cap", "R001"], "NAME=AMOUNT"),
        (["--quarter", "2027Q1", "--data", "/nonexistent/crm", "--simulated"], "exactly one"),
    ],
)
def test_targets_bad_input_is_a_clean_error(
    env: tuple[Path, str, Path], args: list[str], message: str
) -> None:
    root = env[0]
    src = [] if "--simulated" in args else ["--simulated"]
    _refused(["plan", "targets", *args, *src, "--no-save", "--out", str(root / "bad")], message)


def test_sellout_targets_need_a_forecast_champion(env: tuple[Path, str, Path]) -> None:
    _refused(
        ["plan", "targets", "--quarter", "2027Q1", "--by", "region,store"], "salesplan-forecast", "train"
    )


def test_store_commands_bad_input(env: tuple[Path, str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _refused(["plan", "show", "no-such-id"], "does not exist")
    _refused(["plan", "approve", "no-such-id"], "does not exist")
    _refused(["plan", "list", "--status", "maybe"], "status must be one of")
    _refused(["plan", "reject", env[1], "--reason", " "], "--reason")
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", "nosuchdriver://x/y")
    get_settings.cache_clear()
    _refused(["plan", "list"], "SALESPLAN_DATABASE_URL")


def test_budget_split_sums_to_the_total_and_respects_caps(tmp_path: Path) -> None:
    out = _ok(["plan", "budget", "--simulated", "--total", "1e6", "--out", str(tmp_path)])
    assert "expected outcome" in out
    b = pd.read_csv(tmp_path / "budget.csv")
    assert b["spend_total"].sum() == pytest.approx(1e6, rel=1e-6)
    assert b["proportional_spend_total"].sum() == pytest.approx(1e6, rel=1e-6)
    assert (tmp_path / "budget.html").read_text().startswith("<!doctype html>")
    _ok(["plan", "budget", "--simulated", "--total", "1e6", "--cap", "tv=100000", "--floor", "email=50000",
         "--out", str(tmp_path / "capped")])  # fmt: skip
    c = pd.read_csv(tmp_path / "capped" / "budget.csv")
    assert c["spend_total"].sum() == pytest.approx(1e6, rel=1e-6)
    assert c.loc[c["channel"] == "tv", "spend_total"].sum() <= 100000 * (1 + 1e-6)
    assert c.loc[c["channel"] == "email", "spend_total"].sum() >= 50000 * (1 - 1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--simulated", "--total", "-5"], "total must be > 0"),
        (["--simulated", "--total", "1e6", "--cap", "radio=5"], "unknown channel"),
        (["--simulated", "--total", "1e6", "--cap", "tv"], "NAME=AMOUNT"),
        (["--total", "1e6"], "exactly one spend source"),
        (["--data", "/nonexistent", "--total", "1e6"], "no spend table"),
        (["--simulated", "--total", "1e6", "--max-change", "0.01", "--cap", "tv=1"], "Fix"),
    ],
)
def test_budget_bad_input_is_a_clean_error(tmp_path: Path, args: list[str], message: str) -> None:
    _refused(["plan", "budget", *args, "--out", str(tmp_path)], message)


def test_backtest_bookings_on_the_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESPLAN_TRACK_RECORD_DIR", str(tmp_path / "tr"))
    out = _ok(["plan", "backtest", "--simulated", "--quarters", "2", "--out", str(tmp_path)])
    summary = pd.read_csv(tmp_path / "track_record_summary.csv")
    assert list(summary["level"]) == ["total", "region", "team", "rep"]
    assert summary["hit_rate"].between(0, 1).all() and summary["promised"].between(0, 1).all()
    assert (summary["hit_lo"] <= summary["hit_rate"]).all() and (
        summary["hit_rate"] <= summary["hit_hi"]
    ).all()
    assert "hit rate" in out and "refitted on the deals closed before each quarter" in out
    stored = json.loads((tmp_path / "tr" / "track_record_bookings.json").read_text())
    assert (
        stored["domain"] == "bookings"
        and len(stored["quarters"]) == 2
        and stored["levels"][0]["level"] == "total"
    )
    _refused(["plan", "backtest", "--dataset", "walmart", "--domain", "bookings"], "bookings need a CRM")
    _refused(["plan", "backtest", "--simulated", "--domain", "magic"], "--domain must be")
    _refused(["plan", "backtest", "--simulated", "--probability", "1"], "--probability")
    _refused(["plan", "backtest", "--simulated", "--method", "magic"], "--method")
