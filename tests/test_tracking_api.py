"""Plan vs actual through the doors (issue #21): actuals loaded idempotently (CLI and API, a correction
audited), the tracking of an approved proposal against the serving world's champion batch, alerts with
roles (read, acknowledge, resolve) and the exports, on the shared serving test world."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_world import World, build_world, make_keys, mlflow_env, settings_for, upgraded, world_dir
from typer.testing import CliRunner

from salesplan.planning.proposals import ProposalRequest
from salesplan.serving.app import create_app
from salesplan.serving.db.proposal_parameters import ProposalParameters
from salesplan.serving.db.repository import NewProposal, ProposalRepository, ProposalRowData
from salesplan.simulator import SimConfig, simulate
from salesplan.simulator.in_progress import InProgress, quarter_in_progress

QUARTER, AS_OF = "2027Q1", "2027-02-14"
MONTHS = ["2027-01", "2027-02", "2027-03"]
runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(world_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def progress() -> InProgress:
    """The serving world's quarter in progress (the same simulation the world was trained on)."""
    sim = simulate(SimConfig(seed=7, n_products=4, n_stores=3, n_opportunities=600, n_reps=8))
    return quarter_in_progress(sim, QUARTER, AS_OF)


@pytest.fixture(scope="module")
def client(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with (
        mlflow_env(world),
        TestClient(create_app(settings_for(world, tmp_path_factory.mktemp("track")))) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def keys(client: TestClient) -> dict[str, str]:
    return make_keys(client.app.state.services)  # type: ignore[attr-defined]


def h(keys: dict[str, str], role: str) -> dict[str, str]:
    return {"X-API-Key": keys[role]}


def approve_plan(services: Any) -> str:
    """An approved sell-out proposal region → store of the quarter: targets at each unit's forecast P40
    (a little ambitious), phased by the forecast's months."""
    f = services.models.batch().forecast
    q = f[(f["freq"] == "Q") & (f["period"] == QUARTER) & f["level"].isin(["total", "region", "store"])]
    m = f[(f["freq"] == "M") & f["period"].isin(MONTHS)]
    parents = f[f["level"] == "store"].drop_duplicates("unique_id").set_index("unique_id")["region"]
    region_id = f[f["level"] == "region"].drop_duplicates("region").set_index("region")["unique_id"]
    rows = []
    for _, r in q.iterrows():
        share = m[m["unique_id"] == r["unique_id"]].set_index("period")["yhat"]
        target = float(r["q40"])
        parent = None if r["level"] == "total" else "total"
        if r["level"] == "store":
            parent = str(region_id[parents[r["unique_id"]]])
        rows.append(ProposalRowData(
            str(r["level"]), str(r["unique_id"]), Decimal(f"{target:.2f}"), parent, Decimal(f"{float(r['q50']):.2f}"),
            0.6, None, {k: round(target * v / share.sum(), 2) for k, v in share.items()},
        ))  # fmt: skip
    params = ProposalParameters(
        ProposalRequest.checked(quarter=QUARTER, by=("region", "store"), domain="sellout"),
        plan={"months": MONTHS, "measure": "units"},
    ).to_json()
    with services.session(write=True) as s:
        repo = ProposalRepository(s)
        p = repo.create(NewProposal(QUARTER, "blended", "ana", params), rows)
        repo.approve(p.id, by="boss", expected_version=1)
    return p.id


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return [{str(k): v for k, v in r.items() if pd.notna(v)} for r in out.astype(object).to_dict("records")]


def test_track_a_quarter_in_progress_with_roles_alerts_and_exports(
    client: TestClient, keys: dict[str, str], progress: InProgress
) -> None:
    from openpyxl import load_workbook

    services = client.app.state.services  # type: ignore[attr-defined]
    url = "/api/v1/actuals"
    sell = {"kind": "sellout", "rows": _rows(progress.sellout)}
    assert client.post(url, json=sell, headers=h(keys, "analyst")).status_code == 403
    assert (
        client.get("/api/v1/tracking", params={"quarter": QUARTER}, headers=h(keys, "crm")).status_code == 403
    )
    nothing = client.get("/api/v1/tracking", params={"quarter": QUARTER}, headers=h(keys, "planner"))
    assert nothing.status_code == 404 and "no approved sell-out proposal" in nothing.json()["detail"]
    approve_plan(services)

    first = client.post(url, json=sell, headers=h(keys, "crm")).json()
    assert first["inserted"] == len(progress.sellout) and first["evaluated"] == [QUARTER], first
    again = client.post(url, json=sell, headers=h(keys, "crm")).json()
    assert (again["inserted"], again["corrected"], again["unchanged"]) == (0, 0, len(progress.sellout))
    for kind, frame in (("budget", progress.budgets), ("spend", progress.spend)):
        res = client.post(url, json={"kind": kind, "rows": _rows(frame)}, headers=h(keys, "planner"))
        assert res.status_code == 200 and res.json()["inserted"] == len(frame), res.text
    bad = client.post(
        url, json={"kind": "spend", "rows": [{"period": "2027-01-04"}]}, headers=h(keys, "planner")
    )
    assert bad.status_code == 422 and "spend" in bad.json()["detail"]

    t = client.get("/api/v1/tracking", params={"quarter": QUARTER}, headers=h(keys, "analyst")).json()
    assert t["as_of"] == AS_OF and {u["level"] for u in t["units"]} == {"total", "region", "store"}
    units = pd.DataFrame(t["units"])
    assert (units["elapsed"] == 7).all() and (units["periods"] == 14).all()
    assert (
        (units["landing_p10"] <= units["landing_p50"]) & (units["landing_p50"] <= units["landing_p90"])
    ).all()
    assert (units["landing_p10"] >= units["actual_to_date"] - 1e-9).all()
    total = units.set_index("unit_id").loc["total"]
    sold = progress.sellout
    assert total["actual_to_date"] == pytest.approx(
        (sold["y"] * sold["ds"].map(lambda d: 3 / 7 if d == pd.Timestamp("2026-12-28") else 1.0)).sum()
    )
    spend = pd.DataFrame(t["spend"]).set_index(["channel", "region"])
    assert spend.loc[("search", "North"), "status"] != "ok"  # the planted overspend
    one = client.get(
        "/api/v1/tracking", params={"quarter": QUARTER, "level": "store"}, headers=h(keys, "planner")
    )
    assert {u["level"] for u in one.json()["units"]} == {"store"}

    alerts = client.get("/api/v1/alerts", params={"quarter": QUARTER}, headers=h(keys, "analyst")).json()[
        "items"
    ]
    over = [a for a in alerts if a["rule"].startswith("spend") and a["unit_id"] == "search/North"]
    assert over and over[0]["status"] == "open" and "search" in over[0]["action"]
    aid = over[0]["id"]
    assert client.post(f"/api/v1/alerts/{aid}:acknowledge", headers=h(keys, "analyst")).status_code == 403
    ack = client.post(
        f"/api/v1/alerts/{aid}:acknowledge", json={"note": "agency paused"}, headers=h(keys, "planner")
    )
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    assert ack.json()["updated_by"] == "test-planner"
    # re-evaluating keeps the acknowledgement
    client.post("/api/v1/alerts:evaluate", params={"quarter": QUARTER}, headers=h(keys, "planner"))
    kept = client.get("/api/v1/alerts", params={"status": "acknowledged"}, headers=h(keys, "planner")).json()
    assert [a["id"] for a in kept["items"]] == [aid]
    res = client.post(f"/api/v1/alerts/{aid}:resolve", headers=h(keys, "admin")).json()
    assert res["status"] == "resolved" and res["updated_by"] == "test-admin"
    audit = services.session  # the audit log has both changes with the key that acted
    from salesplan.serving.db.audit import AuditRepository

    with audit() as s:
        trail = AuditRepository(s).list("alert", aid)
    assert [e.action for e in trail][-2:] == ["alert.acknowledged", "alert.resolved"]
    assert trail[-2].actor_key_id is not None and trail[-2].detail["note"] == "agency paused"

    rules = client.patch("/api/v1/alerts/rules", json={"p_hit_below": 0.2}, headers=h(keys, "planner"))
    assert rules.status_code == 200 and rules.json()["p_hit_below"] == 0.2
    assert client.get("/api/v1/alerts/rules", headers=h(keys, "analyst")).json()["p_hit_below"] == 0.2
    assert (
        client.patch("/api/v1/alerts/rules", json={"p_hit": 1}, headers=h(keys, "planner")).status_code == 422
    )

    csv = client.get(
        "/api/v1/tracking:export", params={"quarter": QUARTER, "table": "units"}, headers=h(keys, "planner")
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    back = pd.read_csv(io.BytesIO(csv.content))
    assert len(back) == len(units) and back["landing_p50"].sum() == pytest.approx(units["landing_p50"].sum())
    xl = client.get("/api/v1/tracking:export", params={"quarter": QUARTER, "table": "spend", "format": "xlsx"},
                    headers=h(keys, "planner"))  # fmt: skip
    wb = load_workbook(io.BytesIO(xl.content))
    assert wb.sheetnames[0] == "spend" and {"units", "series", "alerts"} <= set(wb.sheetnames)


def _dump(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT kind, series, period, value, outcome, attrs, version, loaded_at FROM actuals "
                            "ORDER BY kind, series, period").fetchall()  # fmt: skip


def test_cli_reload_changes_nothing_and_a_correction_is_audited(
    tmp_path: Path, progress: InProgress, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesplan.cli import app
    from salesplan.config import get_settings

    db = tmp_path / "app.db"
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", upgraded(f"sqlite:///{db}"))
    get_settings.cache_clear()
    path = tmp_path / "sellout.csv"
    progress.sellout.to_csv(path, index=False)
    res = runner.invoke(app, ["actuals", "load", str(path), "--kind", "sellout", "--author", "ops"])
    assert res.exit_code == 0 and f"{len(progress.sellout)} new" in res.output, res.output
    before = _dump(db)
    res = runner.invoke(app, ["actuals", "load", str(path), "--kind", "sellout"])
    assert res.exit_code == 0 and f"{len(progress.sellout)} unchanged" in res.output, res.output
    assert _dump(db) == before  # not even loaded_at moved
    shuffled = tmp_path / "shuffled.csv"  # the same rows in another order: the same stored state
    progress.sellout.sample(frac=1.0, random_state=0).to_csv(shuffled, index=False)
    res = runner.invoke(app, ["actuals", "load", str(shuffled), "--kind", "sellout"])
    assert f"{len(progress.sellout)} unchanged" in res.output and _dump(db) == before, res.output
    res = runner.invoke(app, ["alerts", "rules", "--set", "p_hit_below=abc"])
    assert res.exit_code == 1 and "p_hit_below takes a number" in res.output, res.output
    res = runner.invoke(
        app, ["alerts", "rules", "--set", 'p_hit_below="0.25"', "--set", "spend_over_cap=false"]
    )
    assert (
        res.exit_code == 0 and "p_hit_below = 0.25" in res.output and "spend_over_cap = False" in res.output
    )
    fixed = progress.sellout.copy()
    fixed["y"] = fixed["y"] + (fixed.index == 0) * 5.0
    fixed.to_csv(path, index=False)
    res = runner.invoke(app, ["actuals", "load", str(path), "--kind", "sellout", "--author", "controller"])
    assert "1 corrected" in res.output, res.output
    after = _dump(db)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1 and changed[0][1][3] == changed[0][0][3] + 5 and changed[0][1][6] == 2
    with sqlite3.connect(db) as conn:
        (actor, detail), = conn.execute(
            "SELECT actor, detail FROM audit_log WHERE action = 'actual.corrected'"
        ).fetchall()  # fmt: skip
    assert actor == "controller" and '"version": 1' in detail and '"version": 2' in detail
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"unique_id": ["x"], "ds": ["2027-01-04"], "y": [-3]}).to_csv(bad, index=False)
    res = runner.invoke(app, ["actuals", "load", str(bad), "--kind", "sellout"])
    assert res.exit_code == 1 and "Traceback" not in res.output and "below 0" in res.output, res.output
    assert _dump(db) == after


@pytest.mark.slow
def test_actuals_and_alerts_on_postgresql(pg_url: str) -> None:
    """The same rules on PostgreSQL: an idempotent reload, an audited correction, alert status with the key."""
    from conftest_pg import fresh_schema

    from salesplan.planning.tracking import Alert
    from salesplan.serving.db.actuals import ActualRow, ActualsRepository
    from salesplan.serving.db.alerts import AlertRepository
    from salesplan.serving.db.audit import AuditRepository
    from salesplan.serving.db.engine import make_engine, migrate, session_factory
    from salesplan.serving.db.records import Actor

    rows = [ActualRow("spend", f"search/R{i}", pd.Timestamp("2027-01-04").date(), 100.0 + i, 50.0, {"region": f"R{i}"})
            for i in range(3)]  # fmt: skip
    with fresh_schema(pg_url) as url:
        migrate(url)
        engine = make_engine(url)
        factory = session_factory(engine)
        try:
            for expect in ((3, 0, 0), (0, 3, 0)):
                with factory.begin() as s:
                    res = ActualsRepository(s).load(rows, "ops")
                assert (res.inserted, res.unchanged, res.corrected) == expect
            fixed = [
                rows[0],
                ActualRow("spend", "search/R1", rows[1].period, 999.0, 50.0, {"region": "R1"}),
                rows[2],
            ]
            with factory.begin() as s:
                assert ActualsRepository(s).load(fixed, Actor("controller", "key-9")).corrected == 1
            with factory.begin() as s:
                stored = {r.series: r.value for r in ActualsRepository(s).rows("spend")}
                trail = AuditRepository(s).list("actual")
            assert stored["search/R1"] == 999.0 and [e.actor_key_id for e in trail] == ["key-9"]
            alert = Alert("pace_behind", "region", "R1", "warning", "behind", "re-phase", {"pace": -0.2})
            with factory.begin() as s:
                (a,) = AlertRepository(s).sync(QUARTER, [alert])
            with factory.begin() as s:
                done = AlertRepository(s).set_status(a.id, "acknowledged", Actor("boss", "key-1"))
            assert (done.status, done.updated_by, done.updated_by_key_id) == ("acknowledged", "boss", "key-1")
            with factory.begin() as s:  # the bookings proposal's alert on a unit of the same id is its own
                (booked,) = AlertRepository(s).sync(QUARTER, [alert], domain="bookings")
                assert booked.id != a.id and (booked.domain, booked.status) == ("bookings", "open")
            with factory.begin() as s:  # re-evaluated: still acknowledged; gone: resolved by the system
                assert AlertRepository(s).sync(QUARTER, [alert])[0].status == "acknowledged"
                assert AlertRepository(s).sync(QUARTER, [])[0].status == "resolved"
            with factory.begin() as s:  # ... and evaluating sell-out left the bookings alert alone
                (kept,) = AlertRepository(s).list(QUARTER, domain="bookings")
                assert (kept.id, kept.status) == (booked.id, "open")
                assert len(AlertRepository(s).list(QUARTER)) == 2
        finally:
            engine.dispose()


def test_simulate_writes_a_quarter_in_progress_the_cli_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesplan.cli import app
    from salesplan.config import get_settings

    monkeypatch.setenv("SALESPLAN_DATABASE_URL", upgraded(f"sqlite:///{tmp_path / 'app.db'}"))
    get_settings.cache_clear()
    res = runner.invoke(
        app, ["simulate", "--out", str(tmp_path / "w"), "--in-progress", QUARTER, "--as-of", AS_OF]
    )
    assert res.exit_code == 0 and "sold through 2027-02-14" in res.output, res.output
    sold = pd.read_csv(tmp_path / "w" / "in_progress" / "sellout.csv", parse_dates=["ds"])
    assert sold["ds"].min() == pd.Timestamp("2026-12-28") and sold["ds"].max() == pd.Timestamp("2027-02-08")
    won = pd.read_csv(tmp_path / "w" / "in_progress" / "bookings.csv", parse_dates=["close_date"])
    assert (
        len(won) and won["close_date"].between("2027-01-01", AS_OF).all() and (won["outcome"] == "won").all()
    )
    open_deals = pd.read_csv(tmp_path / "w" / "in_progress" / "crm" / "opportunities.csv")
    assert (open_deals["outcome"] == "open").any(), "the CRM as of the day has open deals"
    for kind, name in (("budget", "budgets"), ("spend", "spend"), ("bookings", "bookings")):
        res = runner.invoke(
            app, ["actuals", "load", str(tmp_path / "w" / "in_progress" / f"{name}.csv"), "--kind", kind]
        )
        assert res.exit_code == 0 and " new," in res.output, res.output
    assert f"bookings.csv: {len(won)} new," in res.output.replace("\n", ""), res.output
    res = runner.invoke(app, ["alerts", "rules", "--set", "pace_behind=off", "--set", "p_hit_below=0.25"])
    assert res.exit_code == 0 and "pace_behind = off" in res.output and "p_hit_below = 0.25" in res.output
    res = runner.invoke(app, ["alerts", "rules", "--set", "p_hit_below=2"])
    assert res.exit_code == 1 and "between 0.0 and 1.0" in res.output
    res = runner.invoke(app, ["track", "--quarter", QUARTER])
    assert res.exit_code == 1 and "no approved sell-out proposal for 2027Q1" in res.output


def test_track_a_bookings_quarter_through_the_api_with_the_pipeline_coverage_alert(
    client: TestClient, keys: dict[str, str]
) -> None:
    """The world's CRM ends inside 2026Q4: its approved bookings plan is tracked from the won deals loaded,
    the planning data's scored open deals and the run-rate; the coverage rule names the deals to review."""
    from salesplan.planning.funnel import data_end

    services = client.app.state.services  # type: ignore[attr-defined]
    crm = services.planning_data().need("crm")
    q, months = "2026Q4", ["2026-10", "2026-11", "2026-12"]
    reps = crm.reps[crm.reps["end_date"].isna()]
    rows = [ProposalRowData("total", "total", Decimal("400000.00"), None, None, 0.6, None,
                            {m: 400000 / 3 for m in months})]  # fmt: skip
    for region, g in reps.groupby("region"):
        t = 400000 * len(g) / len(reps)
        rows.append(ProposalRowData("region", str(region), Decimal(f"{t:.2f}"), "total", None, 0.6, None,
                                    {m: t / 3 for m in months}))  # fmt: skip
    params = ProposalParameters(
        ProposalRequest.checked(quarter=q, by=("region",), domain="bookings"),
        plan={"months": months, "measure": "bookings"},
    ).to_json()
    with services.session(write=True) as s:
        repo = ProposalRepository(s)
        p = repo.create(NewProposal(q, "blended", "ana", params), rows)
        repo.approve(p.id, by="boss", expected_version=1)
    o = crm.opportunities
    won = o[(o["outcome"] == "won") & (o["close_date"] >= "2026-10-01")]
    client.patch("/api/v1/alerts/rules", json={"pipeline_coverage_below": 50.0}, headers=h(keys, "planner"))
    res = client.post(
        "/api/v1/actuals", json={"kind": "bookings", "rows": _rows(won)}, headers=h(keys, "crm")
    )
    assert res.status_code == 200 and res.json()["evaluated"] == [q], res.text
    t = client.get("/api/v1/tracking", params={"quarter": q}, headers=h(keys, "analyst")).json()
    assert t["domain"] == "bookings" and t["as_of"] == str(data_end(crm).date())
    units = pd.DataFrame(t["units"]).set_index("unit_id")
    assert units.loc["total", "actual_to_date"] == pytest.approx(won["amount"].sum())
    assert (
        (units["landing_p10"] >= units["actual_to_date"] - 1e-6)
        & (units["landing_p10"] <= units["landing_p90"])
    ).all()
    assert t["deals"] and {d["unit_id"] for d in t["deals"]} <= set(units.index)
    alerts = client.get("/api/v1/alerts", params={"quarter": q}, headers=h(keys, "analyst")).json()["items"]
    cov = [a for a in alerts if a["rule"] == "pipeline_coverage_below" and a["unit_id"] == "total"]
    assert cov and "review the" in cov[0]["action"] and cov[0]["evidence"]["coverage"] < 50
    best = max((d for d in t["deals"] if d["unit_id"] == "total"), key=lambda d: d["expected_value"])
    assert best["deal"] in cov[0]["action"]
    csv = client.get(
        "/api/v1/tracking:export", params={"quarter": q, "table": "deals"}, headers=h(keys, "planner")
    )
    assert csv.status_code == 200 and len(pd.read_csv(io.BytesIO(csv.content))) == len(t["deals"])


def test_migration_0006_keys_alerts_by_domain_and_keeps_existing_ones(tmp_path: Path) -> None:
    """An alert stored before 0006 becomes a sell-out alert; 0006 lets the bookings kind hold the same
    quarter × rule × unit; going back to 0005 drops the bookings alerts (the old key cannot hold both)."""
    from alembic import command
    from sqlalchemy import text

    from salesplan.serving.db.engine import alembic_config, make_engine, migrate

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate(url)
    cfg, engine = alembic_config(url), make_engine(url)
    cols = "id, quarter, rule, level, unit_id, severity, message, action, evidence, status, created_at, updated_at, updated_by"
    row = "'{id}', '2027Q1', 'pace_behind', 'region', 'R1', 'warning', 'm', 'a', '{{}}', 'open', '2027-01-01', '2027-01-01', 'x'"
    try:
        command.downgrade(cfg, "0005")
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO alerts ({cols}) VALUES ({row.format(id='old')})"))
        command.upgrade(cfg, "0006")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT domain FROM alerts")).scalars().all() == ["sellout"]
            conn.execute(
                text(f"INSERT INTO alerts ({cols}, domain) VALUES ({row.format(id='b')}, 'bookings')")
            )
            with pytest.raises(Exception, match="UNIQUE"), conn.begin_nested():
                conn.execute(text(f"INSERT INTO alerts ({cols}) VALUES ({row.format(id='dup')})"))
        command.downgrade(cfg, "0005")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM alerts")).scalars().all() == ["old"]
    finally:
        engine.dispose()


def test_api_actuals_take_yyyymmdd_days_and_evaluate_their_quarter(
    client: TestClient, keys: dict[str, str]
) -> None:
    """A day written as the number 20270104 is that day (it was stored as 1970-01-01, then answered 500)."""
    row = {"unique_id": "S99/P999", "ds": 20270104, "y": 3, "store": "S99"}
    numbered = {"unique_id": 12345, "ds": "2027-01-04", "y": 1}  # a numeric id stays 12345, not 12345.0
    res = client.post(
        "/api/v1/actuals", json={"kind": "sellout", "rows": [row, numbered]}, headers=h(keys, "crm")
    )
    assert res.status_code == 200 and res.json()["inserted"] == 2, res.text
    # a series the champion does not know is placed by its own columns; without any, in the total only
    (note,) = [n for n in res.json()["notes"] if "not in the champion forecast" in n]
    assert note.startswith("1 series not in the champion forecast") and "(12345)" in note and "store" in note
    assert "S99/P999" not in note
    services = client.app.state.services  # type: ignore[attr-defined]
    with services.session() as s:
        from salesplan.serving.db.tables import Actual

        stored = s.query(Actual).filter(Actual.series == "S99/P999").one()
        assert s.query(Actual).filter(Actual.series == "12345").count() == 1
    assert str(stored.period) == "2027-01-04" and stored.attrs == {"store": "S99"}
    # a week dated on a Tuesday, where the champion's weeks start on Mondays, would be stored and never counted
    tuesday = {"unique_id": "S99/P999", "ds": "2027-01-05", "y": 3}
    res = client.post("/api/v1/actuals", json={"kind": "sellout", "rows": [tuesday]}, headers=h(keys, "crm"))
    assert res.status_code == 422 and "a Monday in the champion's forecast" in res.json()["detail"], res.text
    bad = client.post("/api/v1/actuals", json={"kind": "budget", "rows": [
        {"month": "2027-13", "channel": "display", "region": "North", "budget": 1}]}, headers=h(keys, "planner"))  # fmt: skip
    assert bad.status_code == 422 and "not a month" in bad.json()["detail"], bad.text
