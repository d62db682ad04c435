"""Key-account joint business plans on tiny hand-made inputs (no model, no training): the peer gap, lever
effects and who pays, the joint target's P(hit), the P&L, the review, and the stored workflow through
``JbpService`` and the CLI (draft -> agree -> a newer version supersedes; exports read back)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest_pg import fresh_schema
from openpyxl import load_workbook
from typer.testing import CliRunner

from salesplan.cli import app
from salesplan.errors import ConfigError, ConflictError, ForbiddenError, NotFoundError
from salesplan.planning.jbp import (
    JbpInputs,
    LeverSettings,
    WhatIfEffect,
    account_metrics,
    build_plan,
    lever_table,
    peer_benchmark,
    quarterly_sales,
    review_plan,
)
from salesplan.serving.db.engine import alembic_config, make_engine, migrate, transactions
from salesplan.serving.jbp_service import AccountData, JbpService

QS = ["2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3", "2026Q4"]
LEVELS = (0.1, 0.5, 0.9)


def _world() -> AccountData:
    """Five accounts of one segment and one of another; store S<k> of account A<k> sells k × 100 a quarter
    at price 2 and cost 1 (A5 has two outlets); the forecast of 2027Q1 is 200 units per outlet."""
    accounts = pd.DataFrame({"account_id": ["A1", "A2", "A3", "A4", "A5", "B1"],
                             "name": ["One", "Two", "Three", "Four", "Five", "Other"],
                             "segment": ["grocery"] * 5 + ["online"], "outlets": [1, 1, 1, 1, 2, 1]})  # fmt: skip
    outlets = pd.DataFrame({"account_id": ["A1", "A2", "A3", "A4", "A5", "A5", "B1"],
                            "store": ["S1", "S2", "S3", "S4", "S5", "S6", "S7"]})  # fmt: skip
    rows = []
    for k, store in enumerate(outlets["store"], 1):
        per_q = 100.0 * min(k, 5)
        for q in QS:
            rows += [{"store": store, "product": p, "quarter": q, "units": per_q * w, "revenue": 2 * per_q * w,
                      "cost": per_q * w, "promo_units": 0.1 * per_q * w} for p, w in (("P1", 0.75), ("P2", 0.25))]  # fmt: skip
    sales = pd.DataFrame(rows)
    fc = []
    for store in outlets["store"]:
        fc.append({"level": "store", "freq": "Q", "store": store, "period": "2027Q1", "ds": pd.Timestamp("2027-01-01"),
                   "coverage": 1.0, "q10": 150.0, "q50": 200.0, "q90": 250.0})  # fmt: skip
        for i, ds in enumerate(pd.date_range("2027-01-04", periods=13, freq="W-MON")):
            fc.append({"level": "store", "freq": "W", "store": store, "period": str(ds.date()), "ds": ds,
                       "coverage": 1.0, "q10": 200 / 13 - 3, "q50": 200 / 13, "q90": 200 / 13 + 3, "i": i})  # fmt: skip
    return AccountData(accounts, outlets, sales, pd.DataFrame(fc))


def _inputs(**kw: object) -> JbpInputs:
    d = _world()
    fq = d.store_rows("Q")
    return JbpInputs(account_id=str(kw.pop("account_id", "A2")), accounts=d.accounts, outlets=d.outlets, sales=d.sales,
                     forecast=fq, **kw)  # type: ignore[arg-type]  # fmt: skip


def test_peer_gap_is_to_the_segments_top_quartile() -> None:
    d = _world()
    m, recent = account_metrics(d.sales, d.outlets, d.accounts, quarters=4)
    assert recent == tuple(QS[-4:])
    spo = m.set_index("account_id")["sales_per_outlet"]
    assert spo["A2"] == pytest.approx(400.0) and spo["A5"] == pytest.approx(1000.0)  # 2 × 500 per outlet
    b = peer_benchmark(m, "A2", recent)
    assert b.peer_scope == "segment" and set(m.loc[b.metrics["peer"], "account_id"]) == {
        "A1",
        "A3",
        "A4",
        "A5",
    }
    g = b.gaps.set_index("metric")
    top = np.quantile([200.0, 600.0, 800.0, 1000.0], 0.75)  # peers' sales per outlet
    assert g.loc["sales_per_outlet", "peer_top_quartile"] == pytest.approx(top)
    assert b.opportunity == pytest.approx((top - 400.0) * 1)  # one outlet
    assert g.loc["margin_rate", "gap"] == pytest.approx(0.0) and g.loc["growth", "account"] == pytest.approx(
        0.0
    )
    assert peer_benchmark(m, "A5").opportunity == 0.0  # the best account has no gap
    alone = peer_benchmark(m, "B1")  # alone in its segment: shown against the rest, not sized
    assert alone.peer_scope.startswith("all accounts") and np.isnan(alone.opportunity)
    assert alone.gaps["opportunity"].isna().all() and alone.gaps["peer_median"].notna().any()
    two = account_metrics(d.sales, d.outlets, d.accounts.assign(segment=["g", "g", "g", "h", "h", "h"]))[0]
    assert "fewer than 3" in peer_benchmark(two, "A1").peer_scope


def test_levers_add_up_and_say_who_pays() -> None:
    s = LeverSettings(promo_depth=0.2, promo_supplier_share=0.5, new_outlets=2, outlet_ramp=(0.5, 1.0),
                      service_from=0.9, service_to=0.99, featured_products=1)  # fmt: skip
    promo = {"Q1": WhatIfEffect(100, 150, -10, -5, 2)}
    t, notes = lever_table(["Q1", "Q2"], {"Q1": 1000.0, "Q2": 1000.0}, s, price_per_unit=2.0, margin_rate=0.5,
                           sales_per_outlet=300.0, featured_share=0.5, promo=promo)  # fmt: skip
    assert notes == []  # price_change 0: no price lever asked for
    p = t[t["lever"] == "promotion"].iloc[0]
    assert p["revenue"] == pytest.approx((150 - 100 - 10 - 5) * 2.0)
    assert p["cost_supplier"] == pytest.approx(0.2 * 150 * 2 * 0.5) == p["cost_account"]
    outlets = t[t["lever"] == "added outlets"].set_index("quarter")
    assert outlets.loc["Q1", "revenue"] == pytest.approx(0.5 * 600) and outlets.loc[
        "Q2", "revenue"
    ] == pytest.approx(600)
    assert outlets.loc["Q1", "cost_supplier"] > 0 and outlets.loc["Q2", "cost_supplier"] == 0  # fees once
    assert t.loc[t["lever"] == "service level", "revenue"].iloc[0] == pytest.approx(1000 * (0.99 / 0.9 - 1))
    assert np.allclose(t["net_margin_supplier"], t["revenue"] * 0.5 - t["cost_supplier"])
    _, notes = lever_table(["Q1"], {"Q1": 1.0}, LeverSettings(price_change=-0.05), price_per_unit=1.0,
                           margin_rate=0.5, sales_per_outlet=1.0, featured_share=0.0)  # fmt: skip
    assert any("promotion left out" in n for n in notes) and any("price left out" in n for n in notes)
    with pytest.raises(ConfigError, match="promo_depth"):
        LeverSettings(promo_depth=1.5)


def test_plan_target_p_hit_and_pnl() -> None:
    plan = build_plan(_inputs(settings=LeverSettings(new_outlets=1, featured_products=1)))
    q = plan.quarters.iloc[0]
    assert q["baseline_p50"] == pytest.approx(200 * 2.0)  # 200 units at the realised price 2
    lev = plan.levers["revenue"].sum()
    assert q["levers"] == pytest.approx(lev) and q["plan_p50"] == pytest.approx(
        q["baseline_p50"] + lev, rel=0.02
    )
    assert q["target"] == pytest.approx(q["plan_p50"], abs=1.0) and plan.p_hit == pytest.approx(0.5, abs=0.02)
    assert plan.p_hit_baseline < plan.p_hit  # the levers are what makes the target reachable
    inv = plan.investments.groupby("side")["amount"].sum()
    assert inv["supplier"] == pytest.approx(plan.levers["cost_supplier"].sum())
    assert inv["account"] == pytest.approx(plan.levers["cost_account"].sum())
    pnl = plan.pnl.iloc[0]
    assert pnl["revenue"] == pytest.approx(q["plan_p50"]) and pnl["cogs"] == pytest.approx(
        0.5 * pnl["revenue"]
    )
    assert pnl["contribution_margin"] == pytest.approx(
        pnl["gross_margin"] - pnl["promotion"] - pnl["marketing"]
    )
    # a higher joint target is never likelier to be hit
    hits = [build_plan(_inputs(target=t)).p_hit for t in (300.0, 400.0, 450.0, 600.0)]
    assert hits == sorted(hits, reverse=True) and hits[0] > 0.8 > 0.2 > hits[-1]
    with pytest.raises(NotFoundError, match="no account 'ZZ'"):
        build_plan(_inputs(account_id="ZZ"))
    with pytest.raises(ConfigError, match="confidence"):
        _inputs(confidence=1.5)


def test_review_lands_the_quarter_from_actuals() -> None:
    quarters = pd.DataFrame([{"quarter": "2027Q1", "target": 400.0, "plan_p10": 300.0, "plan_p50": 400.0,
                              "plan_p90": 500.0, "baseline_p50": 400.0}])  # fmt: skip
    weeks = pd.date_range("2027-01-04", periods=13, freq="W-MON")
    weekly = pd.DataFrame({"ds": weeks, "p10": 25.0, "p50": 400 / 13, "p90": 36.0})
    none = review_plan(quarters, weekly, pd.DataFrame({"ds": [], "actual": []}))
    assert none.iloc[0]["status"] == "not started" and none.iloc[0]["p_hit"] == pytest.approx(0.5, abs=0.02)
    strong = review_plan(quarters, weekly, pd.DataFrame({"ds": weeks[:6], "actual": 45.0}))
    weak = review_plan(quarters, weekly, pd.DataFrame({"ds": weeks[:6], "actual": 15.0}))
    assert strong.iloc[0]["weeks_elapsed"] == 6 and strong.iloc[0]["actual_to_date"] == pytest.approx(270.0)
    assert strong.iloc[0]["p_hit"] > 0.5 > weak.iloc[0]["p_hit"]
    assert strong.iloc[0]["landing_p50"] > weak.iloc[0]["landing_p50"]
    done = review_plan(quarters, weekly, pd.DataFrame({"ds": weeks, "actual": 20.0}))
    assert done.iloc[0]["landing_p50"] == pytest.approx(260.0) and done.iloc[0]["status"] == "missed"


def test_quarterly_sales_keeps_whole_quarters_only() -> None:
    ds = pd.date_range("2026-01-05", "2026-07-13", freq="W-MON")  # Q1, Q2 whole; Q3 two weeks
    so = pd.DataFrame({"ds": ds, "y": 1.0, "store": "S1", "product": "P1", "price": 3.0, "promo": 0})
    so.loc[0, "promo"] = 1
    products = pd.DataFrame({"product": ["P1"], "price": [4.0], "unit_cost": [1.0]})
    s = quarterly_sales(so, products).set_index("quarter")
    assert list(s.index) == ["2026Q1", "2026Q2"]
    assert s.loc["2026Q1", "revenue"] == pytest.approx(3.0 * s.loc["2026Q1", "units"])
    assert s.loc["2026Q1", "promo_units"] == 1.0 and s.loc["2026Q2", "promo_units"] == 0.0


@pytest.fixture
def service(tmp_path: Path) -> Iterator[JbpService]:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(url)
    engine = make_engine(url)
    data = _world()
    yield JbpService(transactions(engine), lambda: data)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JbpService]:
    """The service on a fresh SQLite file or a fresh schema of the test PostgreSQL server."""
    if request.param == "sqlite":
        yield request.getfixturevalue("service")
        return
    with fresh_schema(request.getfixturevalue("pg_url")) as url:
        migrate(url)
        engine = make_engine(url)
        data = _world()
        yield JbpService(transactions(engine), lambda: data)
        engine.dispose()


def test_draft_agree_supersede_and_export(any_service: JbpService) -> None:
    service = any_service
    v1, _ = service.create("A2", LeverSettings(new_outlets=1), author="ana", note="first cut")
    assert (v1.version, v1.status) == (1, "draft") and v1.plan["account"]["name"] == "Two"
    with pytest.raises(ForbiddenError, match="four eyes"):
        service.agree(v1.id, by="Ana ", signatory="Buyer")
    with pytest.raises(ConfigError, match="signatory"):
        service.agree(v1.id, by="bob", signatory=" ")
    agreed = service.agree(v1.id[:8], by="bob", signatory="Carla, buyer")
    assert agreed.status == "agreed" and agreed.account_signatory == "Carla, buyer"
    with pytest.raises(ConflictError, match="only a draft"):
        service.agree(v1.id, by="bob", signatory="Carla")
    v2, _ = service.create("A2", author="ana")
    assert v2.version == 2 and service.latest("A2")[0].id == v1.id  # the agreed one is current
    service.agree(v2.id, by="bob", signatory="Carla")
    current, versions = service.latest("A2")
    assert current is not None and current.id == v2.id
    assert [(v.version, v.status, v.superseded_by) for v in versions] == [
        (2, "agreed", None),
        (1, "superseded", v2.id),
    ]
    assert [e.action for e in service.history(v1.id)] == ["jbp.create", "jbp.agree", "jbp.supersede"]
    acc = service.accounts().set_index("account_id")
    assert acc.loc["A2", "latest_version"] == 2 and acc.loc["A2", "latest_status"] == "agreed"

    csv = service.export(v2.id, "csv")
    back = pd.read_csv(io.BytesIO(csv.content))
    assert csv.filename == "jbp-A2-v2.csv" and back["target"].iloc[0] == pytest.approx(float(v2.target))
    book = load_workbook(io.BytesIO(service.export(v2.id, "xlsx").content))
    assert {"summary", "quarters", "gaps", "levers", "investments", "pnl", "review"} <= set(book.sheetnames)
    assert book["summary"]["B2"].value == "Two"
    page = service.export(v2.id, "html").content.decode()
    assert "Joint business plan: Two (A2)" in page and "Carla" in page and "Quarterly review" in page
    links = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page)
    assert links and all(v.startswith("data:") for v in links)  # the chart inline; nothing fetched
    text = re.sub(r"data:[^\"']*", "", page)  # the words and numbers a reader sees
    assert not re.search(r"\bnan\b|\bNone\b|\d[eE][+-]\d", text)


def test_cli_lists_shows_agrees_and_exports(service: JbpService, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    rec, _ = service.create("A3", author="ana")
    runner = CliRunner()
    res = runner.invoke(app, ["jbp", "list", "--account", "A3"])
    assert res.exit_code == 0, res.output
    assert rec.id[:8] in res.output and "draft" in res.output
    res = runner.invoke(app, ["jbp", "agree", rec.id[:8], "--signatory", "Dana", "--by", "ana"])
    assert res.exit_code != 0 and "four eyes" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["jbp", "agree", rec.id[:8], "--signatory", "Dana", "--by", "bob"])
    assert res.exit_code == 0 and "agreed by bob and Dana" in res.output
    assert "agreed" in runner.invoke(app, ["jbp", "show", rec.id]).output
    out = tmp_path / "one.html"
    assert runner.invoke(app, ["jbp", "export", rec.id[:8], "--out", str(out)]).exit_code == 0
    assert out.read_text().startswith("<!doctype html>")
    bad = runner.invoke(app, ["jbp", "export", rec.id[:8], "--out", str(tmp_path / "x.pdf")])
    assert bad.exit_code != 0 and ".csv, .xlsx or .html" in bad.output


def test_review_reads_loaded_actuals(service: JbpService) -> None:
    """Actuals loaded for the quarter (``salesplan actuals load``) move the review: four strong weeks of
    the account's outlet make the target likelier than the plan alone said."""
    from salesplan.serving.db.actuals import ActualRow, ActualsRepository

    rec, plan = service.create("A2", author="ana")
    before = service.review(rec.id).iloc[0]
    assert before["weeks_elapsed"] == 0 and before["status"] == "not started"
    weeks = pd.date_range("2027-01-04", periods=4, freq="W-MON")
    rows = [ActualRow("sellout", "S2/P1", w.date(), 30.0, attrs={"store": "S2"}) for w in weeks]
    rows.append(
        ActualRow("sellout", "S3/P1", weeks[0].date(), 999.0, attrs={"store": "S3"})
    )  # another account
    with service.transaction(write=True) as session:
        ActualsRepository(session).load(rows, "loader")
    after = service.review(rec.id).iloc[0]
    assert after["weeks_elapsed"] == 4 and after["actual_to_date"] == pytest.approx(
        4 * 30.0 * plan.price_per_unit
    )
    assert after["p_hit"] > before["p_hit"] and after["landing_p50"] > before["landing_p50"]


def test_migration_0005_adds_only_jbps_and_downgrades(tmp_path: Path) -> None:
    """0005 only adds ``jbps`` (with its partial unique index): up from 0004 adds it and nothing else, down
    to 0004 drops it and leaves the rest."""
    from alembic import command
    from sqlalchemy import inspect

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate(url)  # creates the file at head; then walk 0004 <-> 0005
    cfg = alembic_config(url)
    engine = make_engine(url)

    def tables() -> set[str]:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())

    try:
        command.downgrade(cfg, "0004")
        at_0004 = tables()
        command.upgrade(cfg, "0005")
        assert tables() - at_0004 == {"jbps"} and at_0004 <= tables()
        with engine.connect() as conn:
            assert "uq_jbps_one_agreed" in {ix["name"] for ix in inspect(conn).get_indexes("jbps")}
        command.downgrade(cfg, "0004")
        assert tables() == at_0004
    finally:
        engine.dispose()
