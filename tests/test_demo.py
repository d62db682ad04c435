"""``salesplan demo`` ends with target proposals for the next quarter; its stores (MLflow with the champion
forecaster's batch, the proposal database) then serve the sell-out side of ``salesplan plan``."""

from __future__ import annotations

import re
import socket
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
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CALL_RE = re.compile(r"^  (GET|POST|PATCH) +(\S+)  (\d{3})( \(expected\))?  (.+)$", re.MULTILINE)
# step 8: every endpoint once, in order, with the status it must answer
SERVE_CALLS = [
    ("GET", "/health", 200),
    ("GET", "/ready", 200),
    ("GET", "/api/v1/me", 200),
    ("GET", "/api/v1/models", 200),
    ("POST", "/api/v1/deals/score", 200),
    ("POST", "/api/v1/deals/score:batch", 200),
    ("GET", "/api/v1/pipeline?quarter=2027Q1&by=region", 200),
    ("GET", "/api/v1/funnel?by=team", 200),
    ("GET", "/api/v1/forecasts/levels", 200),
    ("GET", "/api/v1/forecasts?level=region&freq=Q&start=2027-01-01&end=2027-03-31", 200),
    ("POST", "/api/v1/forecasts/what-if", 200),
    ("POST", "/api/v1/targets/proposals", 201),
    ("PATCH", "/api/v1/targets/proposals/{id}", 200),
    ("POST", "/api/v1/targets/proposals/{id}:approve", 200),
    ("GET", "/api/v1/targets/proposals?quarter=2027Q1", 200),
    ("GET", "/api/v1/targets/track-record?domain=bookings", 200),
    ("POST", "/api/v1/budgets/allocate", 200),
    ("GET", "/api/v1/targets/proposals/{id}", 403),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        # No tracking URI: the demo must keep its own MLflow store in demo_out. The demo sets these in
        # os.environ; setenv-then-delenv makes monkeypatch restore (remove) them afterwards.
        for var in ("MLFLOW_TRACKING_URI", "SALESPLAN_ARTIFACT_ROOT", "SALESPLAN_TRACK_RECORD_DIR"):
            mp.setenv(var, "unset-by-test")
            mp.delenv(var)
        mp.setenv("SALESPLAN_DATABASE_URL", f"sqlite:///{root / 'plans.db'}")
        get_settings.cache_clear()
        # the tiny world (4 products x 3 stores, small's CRM): every step runs and prints as it does at the
        # default 'small' scale, with 12 series to train on instead of 72; `make demo` (run end to end by
        # `make readme-test`) keeps small
        res = runner.invoke(app, ["demo", "--scale", "tiny", "--out", str(root / "demo_out")])
        assert res.exit_code == 0, res.output
        yield root, res.output
    get_settings.cache_clear()


@pytest.fixture
def stores(demo: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    root = demo[0]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'demo_out' / 'mlruns.db'}")
    monkeypatch.setenv("SALESPLAN_ARTIFACT_ROOT", str(root / "demo_out" / "mlartifacts"))
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


def test_demo_runs_every_step_with_its_own_mlflow_store(demo: tuple[Path, str]) -> None:
    root, output = demo
    for step in ("1. simulate", "2. validate", "3. train the sell-out forecaster", "4. train the deal-win model",
                 "5. score open deals", "6. funnel", "7. propose the targets", "8. track record", "8b. track",
                 "8c. track the bookings", "9. serve"):  # fmt: skip
        assert step in output, step
    assert (root / "demo_out" / "mlruns.db").exists() and not (root / "mlruns.db").exists()
    assert (root / "demo_out" / "forecast.parquet").exists()
    assert (root / "demo_out" / "funnel_report.html").read_text().startswith("<!")
    assert (root / "demo_out" / "track-record" / "track_record_bookings.json").exists()


def test_demo_prints_time_allocation_and_top_inefficiencies(demo: tuple[Path, str]) -> None:
    root, output = demo
    assert "6b. sales process" in output and "Time allocation" in output
    start = output.index("6b. sales process")
    step = output[start : output.index("7. propose", start)]
    assert "top three inefficiencies" in step
    findings = [line for line in step.splitlines() if line[:3] in ("1. ", "2. ", "3. ")]
    assert len(findings) == 3 and all("could be saved" in f for f in findings), findings
    assert (root / "demo_out" / "process_report.html").read_text().startswith("<!")


def test_demo_quarterly_table_has_the_mean_inside_p10_p90_on_every_row(demo: tuple[Path, str]) -> None:
    """The table the demo prints (total and regions by quarter) and every row of its batch."""
    root, output = demo
    rows = [
        r
        for r in re.findall(
            r"│ (\S+) +│ (\d{4}Q\d) +│ +\d+% │ +([\d,]+) │ +([\d,]+) │ +([\d,]+) │ +([\d,]+) │", output
        )
    ]
    assert len(rows) >= 3 and rows[0][0] == "total", output[-4000:]
    for unit, quarter, *vals in rows:
        p10, mean, p50, p90 = (float(v.replace(",", "")) for v in vals)
        assert p10 <= mean <= p90 and p10 <= p50 <= p90, (unit, quarter, p10, mean, p50, p90)
    levels = pd.read_parquet(root / "demo_out" / "forecast_levels.parquet")
    assert ((levels["q10"] <= levels["yhat"] + 1e-9) & (levels["yhat"] <= levels["q90"] + 1e-9)).all()


def test_demo_tracks_the_quarter_half_way(demo: tuple[Path, str]) -> None:
    """Issue #21: the approved sell-out targets against a half-finished quarter, spend and open alerts."""
    _, output = demo
    step = output[output.index("8b. track 2027Q1 half-way") : output.index("9. serve")]
    assert "approved the sell-out proposal" in step and "loaded sellout:" in step
    assert "— store: landing" in step and "P10" in step and "P(hit)" in step
    assert "Spend vs budget and caps" in step and "forecast_over_hard" in step  # the planted overspend
    assert "Alerts (" in step and "search/North" in step


def test_demo_tracks_the_bookings_of_the_same_quarter(demo: tuple[Path, str]) -> None:
    """Issue #21: the simulator's CRM runs on into the quarter, so the approved bookings targets are tracked
    the same day: the deals won so far loaded as actuals, the open pipeline scored, the landing per region →
    team → rep and its alerts, the pipeline-coverage rule among them."""
    _, output = demo
    assert "approved the bookings proposal" in output
    step = output[output.index("8c. track the bookings of 2027Q1") : output.index("9. serve")]
    seen = re.search(r"(\d+) deals won in 2027Q1 so far \(([\d,]+) booked\), (\d+) deals open", step)
    assert seen and int(seen[1]) > 0 and int(seen[3]) > 0, step[:2000]
    assert f"loaded bookings: {seen[1]} new, 0 corrected" in step
    for level in ("total", "region", "team", "rep"):
        assert f"— {level}: landing (won_value)" in step, level
    assert "Open deals that can still book this quarter" in step and "Alerts (" in step
    assert "open pipeline of" in step and "unit(s) with open pipeline under the coverage rule" in step


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


def test_demo_serves_every_endpoint_and_stops_the_server(demo: tuple[Path, str]) -> None:
    from salesplan.serving.db.engine import make_engine, session_factory
    from salesplan.serving.db.repository import ApiKeyRepository, ProposalRepository

    root, output = demo
    step = output[output.index("9. serve") :]
    calls = CALL_RE.findall(step)
    assert [(m, UUID_RE.sub("{id}", path), int(code)) for m, path, code, _, _ in calls] == SERVE_CALLS, step
    figures = {(m, UUID_RE.sub("{id}", path)): (expected, fig) for m, path, _, expected, fig in calls}
    assert figures[("GET", "/api/v1/targets/proposals/{id}")][0] == " (expected)"
    assert "role 'crm' may not proposals read" in figures[("GET", "/api/v1/targets/proposals/{id}")][1]
    assert all(not e for k, (e, _) in figures.items() if k[1] != "/api/v1/targets/proposals/{id}")
    assert "demo-planner (planner," in figures[("GET", "/api/v1/me")][1]
    assert "at P(hit) 0.60" in figures[("POST", "/api/v1/targets/proposals")][1]
    assert figures[("POST", "/api/v1/targets/proposals/{id}:approve")][1].startswith(
        "approved by demo-approver"  # four eyes: not the planner who made it
    )
    assert "server stopped: shut down cleanly on SIGTERM; port closed" in step

    port = int(re.search(r"--port (\d+)'", step).group(1))  # type: ignore[union-attr]
    with socket.socket() as s:  # nothing listens there any more
        assert s.connect_ex(("127.0.0.1", port)) != 0
    # the calls went to the demo's own database: its keys, and the proposal the API created and approved
    pid = UUID_RE.search(calls[12][1]).group(0)  # type: ignore[union-attr]
    engine = make_engine(f"sqlite:///{root / 'plans.db'}")
    with session_factory(engine)() as session:
        stored = ProposalRepository(session).get(pid)
        names = {k.name: k.role for k in ApiKeyRepository(session).list()}
    engine.dispose()
    assert (stored.status, stored.version, stored.approved_by) == ("approved", 3, "demo-approver")
    assert stored.note == "demo, via the API" and sum(r.overridden for r in stored.rows) == 1
    assert {"demo-planner": "planner", "demo-crm": "crm"}.items() <= names.items()


def test_demo_prints_top_picks_and_a_promotion_plan(demo: tuple[Path, str]) -> None:
    output = demo[1]
    assert "3b. selection and promotions" in output
    step = output[output.index("3b. selection") : output.index("4. train the deal-win model")]
    assert "featured portfolio" in step and "by expected margin" in step
    assert "promotion plan:" in step and "incremental margin" in step


def test_demo_prints_one_joint_business_plan(demo: tuple[Path, str]) -> None:
    output = demo[1]
    step = output[output.index("3c. joint business plan") : output.index("4. train the deal-win model")]
    assert "joint target" in step and "P(hit)" in step and "against peers" in step
    assert "added outlets" in step and "P&L of the account" in step and "investments: " in step
    assert re.search(r"plan [0-9a-f]{8} version \d+ draft", step)
