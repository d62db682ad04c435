"""The simulator's CRM after its history (issue #21): the same reps keep creating, winning and losing deals
through the planned horizon, so a quarter in progress has bookings, while the history itself is exactly what
it was (the CRM ahead seen as of the history's end is the world's CRM). One small world, no model."""

from __future__ import annotations

import pandas as pd
import pytest

from salesplan.serving.tracking_rows import actual_rows
from salesplan.simulator import SimConfig, SimulatedWorld, simulate
from salesplan.simulator.in_progress import crm_as_of, world_bookings

CFG = SimConfig(seed=11, n_products=3, n_stores=2, n_opportunities=700, n_reps=8, activities=False)
QUARTER, AS_OF = "2027Q1", "2027-02-14"


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    return simulate(CFG)


def test_the_crm_ahead_seen_at_the_history_end_is_the_history(world: SimulatedWorld) -> None:
    ahead = world.truth.crm_ahead
    assert ahead is not None
    seen = crm_as_of(ahead, world.config.asof + pd.Timedelta(days=1))
    o, s = world.crm.opportunities, seen.opportunities
    assert o["opportunity_id"].tolist() == s["opportunity_id"].tolist()
    for col in ("account_id", "rep_id", "amount", "created_date", "outcome", "close_date"):
        assert o[col].astype(str).tolist() == s[col].astype(str).tolist(), col
    pd.testing.assert_frame_equal(world.crm.stage_events, seen.stage_events, check_dtype=False)
    pd.testing.assert_frame_equal(world.crm.close_date_changes, seen.close_date_changes, check_dtype=False)
    # the history does not depend on how far the CRM runs on
    short = simulate(SimConfig(**{**CFG.__dict__, "horizon": 0}))
    pd.testing.assert_frame_equal(short.crm.opportunities, world.crm.opportunities)
    assert short.truth.crm_ahead is not None
    assert len(short.truth.crm_ahead.opportunities) == len(world.crm.opportunities)


def test_deals_go_on_after_the_history_along_their_drawn_fate(world: SimulatedWorld) -> None:
    ahead = world.truth.crm_ahead
    assert ahead is not None
    until = world.config.asof + pd.Timedelta(weeks=world.config.horizon)
    o = ahead.opportunities.set_index("opportunity_id")
    created = pd.to_datetime(o["created_date"])
    new = o[created > world.config.asof]
    weeks = world.config.horizon
    per_week = len(world.crm.opportunities) / world.config.weeks
    assert 0.5 * per_week * weeks < len(new) < 2 * per_week * weeks, (len(new), per_week * weeks)
    assert created.max() <= until and pd.to_datetime(o["close_date"]).max() <= until
    assert set(new["rep_id"]) <= set(world.crm.reps["rep_id"])
    assert set(new["account_id"]) <= set(world.crm.accounts["account_id"])
    # a deal open at the history's end closes as its drawn fate says, on its drawn day
    fate = world.truth.deal_fate
    was_open = world.crm.opportunities.loc[world.crm.opportunities["outcome"] == "open", "opportunity_id"]
    closed = o.loc[was_open][o.loc[was_open, "outcome"] != "open"]
    assert len(closed) > 0
    assert (closed["outcome"] == fate.loc[closed.index, "final_outcome"]).all()
    assert (pd.to_datetime(closed["close_date"]) == fate.loc[closed.index, "final_close_date"]).all()
    still = o.loc[was_open][o.loc[was_open, "outcome"] == "open"]
    assert (fate.loc[still.index, "final_close_date"] > until).all()


def test_a_quarter_in_progress_has_bookings_the_actuals_loader_takes(world: SimulatedWorld) -> None:
    b = world_bookings(world, QUARTER, AS_OF)
    assert len(b.won) > 0 and (b.won["outcome"] == "won").all()
    assert pd.to_datetime(b.won["close_date"]).between("2027-01-01", AS_OF).all()
    assert (b.crm.opportunities["outcome"] == "open").sum() > 0
    assert pd.to_datetime(b.crm.opportunities["created_date"]).max() <= pd.Timestamp(AS_OF)
    rows = actual_rows("bookings", b.won)
    assert len(rows) == len(b.won) and {r.series for r in rows} == set(b.won["opportunity_id"])
    assert sum(r.value for r in rows) == pytest.approx(float(b.won["amount"].sum()))
    # the same seed gives the same quarter
    again = world_bookings(simulate(CFG), QUARTER, AS_OF)
    pd.testing.assert_frame_equal(again.won, b.won)


def test_a_day_past_the_simulated_horizon_is_refused_with_the_fix(world: SimulatedWorld) -> None:
    with pytest.raises(ValueError, match="simulate with a horizon that reaches as_of"):
        world_bookings(world, "2027Q2", "2027-05-10")
