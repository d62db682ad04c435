"""The shipped-method track record (``serving.track_record``) plans each past quarter with only what was
known at its first day: scrambling everything that happened later leaves every replayed target and
promised P(hit) unchanged (only the actuals move)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesplan.contracts import CRMData
from salesplan.errors import NotFoundError
from salesplan.planning.proposals import ProposalRequest
from salesplan.serving.track_record import BookingsReplay, TrackRecordService, past_quarters, record_json
from salesplan.simulator import SimConfig, simulate

pytestmark = pytest.mark.slow  # two deal-scorer fits per replayed quarter


def _scramble_after(crm: CRMData, t: pd.Timestamp) -> CRMData:
    """Every fact dated on or after ``t`` changed: later deals' amounts, later outcomes flipped, later stage
    events and close-date moves shifted."""
    o = crm.opportunities.copy()
    rng = np.random.default_rng(0)
    late = pd.to_datetime(o["created_date"]) >= t
    o.loc[late, "amount"] = o.loc[late, "amount"] * rng.uniform(0.2, 5.0, int(late.sum()))
    closed_late = pd.to_datetime(o["close_date"]) >= t
    flip = closed_late & o["outcome"].isin(["won", "lost"])
    o.loc[flip, "outcome"] = o.loc[flip, "outcome"].map({"won": "lost", "lost": "won"})
    ev = crm.stage_events.copy()
    ev_late = pd.to_datetime(ev["ts"]) >= t
    ev.loc[ev_late, "ts"] = pd.to_datetime(ev.loc[ev_late, "ts"]) + pd.Timedelta(days=3)
    return replace(crm, opportunities=o, stage_events=ev)


def test_replay_uses_nothing_after_each_quarter_start(tmp_path: Path) -> None:
    crm = simulate(SimConfig(seed=3, scale="small")).crm
    q = past_quarters(pd.to_datetime(crm.opportunities["close_date"]).max(), 2)[0]
    req = ProposalRequest(quarter=q, by=("region", "team", "rep"), probability=0.6)
    service = TrackRecordService(tmp_path)
    a = BookingsReplay(crm, [q]).record(req)
    b = BookingsReplay(_scramble_after(crm, pd.Period(q, freq="Q").start_time), [q]).record(req)
    keys = ["unit_id", "target", "p_hit"]
    pd.testing.assert_frame_equal(a.rows[keys], b.rows[keys])
    assert not np.allclose(a.rows["actual"], b.rows["actual"])  # the scramble did reach the quarter
    payload = record_json(a, domain="bookings", source="sim", inputs="deal scores: defaults")
    with pytest.raises(NotFoundError, match="salesplan plan backtest"):
        service.latest("bookings")
    service.save(payload)
    assert service.latest("bookings")["levels"] == payload["levels"]


def test_api_serves_the_stored_track_record(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from serving_world import upgraded

    from salesplan.serving.app import create_app
    from salesplan.serving.db.repository import ApiKeyRepository
    from salesplan.serving.settings import ServingSettings

    settings = ServingSettings(
        database_url=upgraded(f"sqlite:///{tmp_path / 'app.db'}"),
        model_cache_dir=tmp_path / "cache",
        track_record_dir=tmp_path / "tr",
        load_models=False,
    )
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        with services.session() as session:
            planner, _ = ApiKeyRepository(session).create("p", "planner")
            crm_key, _ = ApiKeyRepository(session).create("c", "crm")
        url = "/api/v1/targets/track-record"
        missing = client.get(url, headers={"X-API-Key": planner})
        assert missing.status_code == 404 and "salesplan plan backtest" in missing.json()["detail"]
        assert client.get(url, headers={"X-API-Key": crm_key}).status_code == 403
        level = {"level": "rep", "units": 40, "quarters": 4, "promised": 0.6, "promised_ci95": [0.55, 0.62],
                 "hit_rate": 0.58, "hit_ci95": [0.5, 0.66]}  # fmt: skip
        services.track_record.save(
            {"schema": 1, "domain": "bookings", "source": "sim", "computed_at": "2026-12-06T10:00:00+00:00",
             "method": "m", "request": {"by": ["rep"]}, "quarters": ["2026Q1"], "skipped": {}, "levels": [level]}
        )  # fmt: skip
        got = client.get(url, headers={"X-API-Key": planner})
        assert got.status_code == 200 and got.json()["levels"] == [level]
        assert client.get(url, params={"domain": "nope"}, headers={"X-API-Key": planner}).status_code == 422


def test_store_level_sums_products_and_keeps_the_geo_tree() -> None:
    from salesplan.cli.track_sellout import store_level

    ds = simulate(SimConfig(seed=3, scale="small")).sellout
    stores = store_level(ds, ("region", "store"))
    assert stores.spec.hierarchy is not None and stores.spec.hierarchy.levels == {"geo": ["region", "store"]}
    assert stores.df["unique_id"].nunique() == ds.df["store"].nunique()
    assert stores.df["y"].sum() == pytest.approx(ds.df["y"].sum())
    week = stores.df.groupby("ds")["y"].sum()
    pd.testing.assert_series_equal(week, ds.df.groupby("ds")["y"].sum(), check_names=False)
