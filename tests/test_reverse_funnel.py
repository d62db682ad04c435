"""Reverse funnel: volumes and entry windows from a target, the forward round trip to float precision,
per-team plans, capacity and hires with ramp and attrition, and inputs estimated from the simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError
from salesplan.planning.funnel import (
    FunnelInputs,
    capacity,
    forward_funnel,
    inputs_from_history,
    productivity,
    ramped_productivity,
    reps_needed,
    reverse_funnel,
    reverse_funnel_by,
)
from salesplan.simulator import SimConfig, SimulatedWorld, simulate

INPUTS = FunnelInputs(
    conversion={"Find": 0.7, "Meet": 0.6, "Pitch": 0.5},
    deal_size=20_000.0,
    stage_days={"Find": 10.0, "Meet": 14.0, "Pitch": 21.0},
)


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    return simulate(SimConfig(seed=2, scale="small"))


def test_volumes_and_entry_windows_by_hand() -> None:
    plan = reverse_funnel(1_000_000, INPUTS, "2026Q4")
    st = plan.stages.set_index("stage")
    assert plan.signings == pytest.approx(50.0)
    assert st.loc["Pitch", "needed"] == pytest.approx(100.0)
    assert st.loc["Meet", "needed"] == pytest.approx(100 / 0.6)
    assert st.loc["Find", "needed"] == pytest.approx(100 / 0.6 / 0.7)
    # to sign by 31 Dec a deal must be pitched 21 days before, met 35 and found 45 days before
    assert st.loc["Pitch", "enter_by"] == pd.Timestamp("2026-12-10")
    assert st.loc["Meet", "enter_by"] == pd.Timestamp("2026-11-26")
    assert st.loc["Find", "enter_by"] == pd.Timestamp("2026-11-16")
    assert st.loc["Find", "enter_from"] == pd.Timestamp("2026-08-17")
    assert st.loc["Sign", "enter_from"] == pd.Timestamp("2026-10-01")


@pytest.mark.parametrize("target", [0.0, 1.0, 123_456.789, 5e8])
def test_round_trip_to_float_precision(target: float) -> None:
    plan = reverse_funnel(target, INPUTS, "2027Q1")
    needed = plan.stages.set_index("stage")["needed"]
    for stage in ("Find", "Meet", "Pitch", "Sign"):
        assert forward_funnel(needed[stage], INPUTS, at=stage) == pytest.approx(target, rel=1e-12, abs=1e-9)


def test_round_trip_on_estimated_inputs(world: SimulatedWorld) -> None:
    inputs = inputs_from_history(world.crm, by="team")
    targets = {team: 250_000.0 * (i + 1) for i, team in enumerate(inputs)}
    plan = reverse_funnel_by(targets, inputs, "2027Q1", unit="team")
    assert list(plan.columns[:2]) == ["team", "target"] and len(plan) == 4 * len(targets)
    for team, g in plan.groupby("team"):
        find = g.loc[g["stage"] == "Find", "needed"].item()
        assert forward_funnel(find, inputs[team]) == pytest.approx(targets[team], rel=1e-12)
        assert (g["enter_by"].diff().dropna() > pd.Timedelta(0)).all()  # Find first, Sign last
    with pytest.raises(ConfigError, match="no funnel inputs"):
        reverse_funnel_by({"Nowhere-1": 1.0}, inputs, "2027Q1", unit="team")


def test_inputs_from_history_track_the_truth(world: SimulatedWorld) -> None:
    inp = inputs_from_history(world.crm)["all"]
    truth = world.truth.stage_conversion
    for s, name in (("Find", "Find→Meet"), ("Meet", "Meet→Pitch"), ("Pitch", "Pitch→Sign")):
        assert inp.conversion[s] == pytest.approx(truth[name], abs=0.05)
        assert inp.stage_days[s] == pytest.approx(world.truth.stage_duration_days[s], rel=0.12)
    opps = world.crm.opportunities
    assert inp.deal_size == pytest.approx(opps.loc[opps["outcome"] == "won", "amount"].mean())


def test_capacity_and_hires() -> None:
    ramp = [0.25, 0.5, 0.75]
    # one new hire over a quarter, no attrition: (0.25 + 0.5 + 0.75) × 10k
    assert capacity([0], ramp, 10_000) == pytest.approx(15_000)
    # a tenured rep with 10 % monthly attrition: 1 + 0.9 + 0.81 months
    assert capacity([24], ramp, 10_000, attrition=0.1) == pytest.approx(27_100)
    s = reps_needed(200_000, ramp, 10_000, tenure_months=[24] * 5 + [1], attrition=0.05)
    have = capacity([24] * 5 + [1], ramp, 10_000, attrition=0.05)
    assert s.existing_capacity == pytest.approx(have)
    assert have + s.hires_needed * s.capacity_per_hire >= 200_000
    assert have + (s.hires_needed - 1) * s.capacity_per_hire < 200_000
    assert s.ramped_rep_equivalents == pytest.approx(200_000 / (10_000 * (1 + 0.95 + 0.95**2)))
    assert reps_needed(1_000, ramp, 10_000, tenure_months=[24]).hires_needed == 0
    more_attrition = reps_needed(200_000, ramp, 10_000, tenure_months=[24] * 5, attrition=0.2)
    assert (
        more_attrition.hires_needed > reps_needed(200_000, ramp, 10_000, tenure_months=[24] * 5).hires_needed
    )


def test_capacity_with_an_estimated_ramp(world: SimulatedWorld) -> None:
    prod = productivity(world.crm)
    per = ramped_productivity(prod)
    assert per > 0
    assert prod.ramp is not None
    full = capacity([36], prod.ramp, per)
    new = capacity([0], prod.ramp, per)
    assert full == pytest.approx(3 * per) and 0 < new < full


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="must be in"):
        FunnelInputs({"Find": 0.0, "Meet": 0.5, "Pitch": 0.5}, 1.0, {"Find": 1, "Meet": 1, "Pitch": 1})
    with pytest.raises(ConfigError, match="lacks stage"):
        FunnelInputs({"Find": 0.5}, 1.0, {"Find": 1})
    with pytest.raises(ConfigError, match="deal_size"):
        FunnelInputs(dict(INPUTS.conversion), 0.0, dict(INPUTS.stage_days))
    with pytest.raises(ConfigError, match="quarter"):
        reverse_funnel(1.0, INPUTS, "next quarter")
    with pytest.raises(ConfigError, match="target"):
        reverse_funnel(-5.0, INPUTS, "2026Q1")
    with pytest.raises(ConfigError, match="attrition"):
        capacity([0], [0.5], 1.0, attrition=1.5)
    with pytest.raises(ConfigError, match="ramp"):
        capacity([0], np.array([1.5]), 1.0)


def test_rep_inputs_can_be_shrunk_toward_the_team(world: SimulatedWorld) -> None:
    raw = inputs_from_history(world.crm, by="rep")
    shrunk = inputs_from_history(world.crm, by="rep", shrink_to="team")
    team_of = world.crm.reps.set_index("rep_id")["team"]
    teams = inputs_from_history(world.crm, by="team")
    assert set(raw) == set(shrunk)
    moved = 0
    for rep in raw:
        for s in ("Find", "Meet", "Pitch"):
            centre = teams[team_of[rep]].conversion[s]
            r, k = raw[rep].conversion[s], shrunk[rep].conversion[s]
            assert abs(k - centre) <= abs(r - centre) + 0.02  # the prior is the team's pooled rate
            moved += abs(k - r) > 1e-6
    assert moved > 0
    with pytest.raises(ConfigError, match="shrink_to needs a cut"):
        inputs_from_history(world.crm, shrink_to="team")
