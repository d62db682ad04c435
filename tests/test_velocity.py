"""Velocity: time in stage recovers the simulator's durations, stays unbiased when the history is cut
short (open deals censored, not dropped), cycle time, stalled-deal flags, and hand-checked estimators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.contracts import CRMData, validate_crm
from salesplan.planning.funnel import deal_paths, stalled, velocity
from salesplan.planning.funnel.durations import km_closed, time_to_move_on
from salesplan.planning.funnel.survival import cumulative_incidence
from salesplan.simulator import SimConfig, SimulatedWorld, simulate


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    # the medium CRM (60 reps, ~10k deals) on the small sell-out, which these tests do not use
    return simulate(SimConfig(seed=0, scale="small", n_reps=60, n_opportunities=10_000))


def _truth_days(world: SimulatedWorld) -> dict[str, float]:
    # Gamma draws rounded to whole days (>= 1): the mean moves by a small fraction of a day at most.
    return dict(world.truth.stage_duration_days)


def test_recovers_simulated_stage_durations(world: SimulatedWorld) -> None:
    v = velocity(world.crm).stages.set_index("stage")
    for stage, days in _truth_days(world).items():
        assert v.loc[stage, "mean"] == pytest.approx(days, rel=0.05), (stage, v.loc[stage, "mean"], days)
        assert v.loc[stage, "median"] < v.loc[stage, "p80"] < v.loc[stage, "p90"]


def test_durations_stay_unbiased_when_many_deals_are_open(world: SimulatedWorld) -> None:
    """A 120-day cohort seen a year early: many deals still sit in their stage. Dropping them (mean of
    finished spells only) makes stages look faster; the censoring-aware estimate does not."""
    cut = world.truth.asof - pd.DateOffset(months=12)
    period = (cut - pd.Timedelta(days=120), cut)
    v = velocity(deal_paths(world.crm, as_of=cut), period=period)
    st = v.stages.set_index("stage")
    truth = _truth_days(world)
    sp = v.spells
    est_err, naive_err = 0.0, 0.0
    for stage in ("Find", "Meet", "Pitch"):
        g = sp[sp["stage"] == stage]
        assert (g["status"] == 0).mean() > 0.1
        assert st.loc[stage, "mean"] == pytest.approx(truth[stage], rel=0.1), (stage, st.loc[stage, "mean"])
        est_err += abs(st.loc[stage, "mean"] - truth[stage])
        naive_err += abs(g.loc[g["status"] == 1, "days"].mean() - truth[stage])
    assert naive_err > 2 * est_err, (naive_err, est_err)


def test_cycle_time_and_curves(world: SimulatedWorld) -> None:
    v = velocity(world.crm, by="region")
    cyc = v.cycle
    assert set(cyc["measure"]) == {"created→closed", "created→won"}
    assert (cyc["median"] <= cyc["p80"]).all()
    won = cyc[cyc["measure"] == "created→won"]
    # A win goes through Find, Meet and Pitch: its cycle is about the sum of those stage times.
    expected = sum(_truth_days(world)[s] for s in ("Find", "Meet", "Pitch"))
    assert won["mean"].between(0.85 * expected, 1.15 * expected).all()
    c = v.curves
    for _stage, g in c.groupby("stage"):
        assert g["cdf"].is_monotonic_increasing and g["cdf"].iloc[-1] == pytest.approx(1.0)


def test_km_and_competing_risks_by_hand() -> None:
    # 4 deals: moved at 2 and 4, lost at 3, open since 5 (censored)
    days, status = np.array([2.0, 3.0, 4.0, 5.0]), np.array([1, 2, 1, 0])
    ci = cumulative_incidence(days, status)
    assert ci["cif_1"].tolist() == pytest.approx([0.25, 0.25, 0.5, 0.5])
    assert ci["cif_2"].tolist() == pytest.approx([0.0, 0.25, 0.25, 0.25])
    t, cdf, complete = time_to_move_on(days, status)
    assert t.tolist() == [2.0, 4.0] and cdf.tolist() == pytest.approx([0.5, 1.0]) and not complete
    # created→closed without censoring: the plain empirical distribution
    res = km_closed(np.array([1.0, 2.0, 3.0, 10.0]), np.array([1, 1, 1, 1]))
    assert res["median"] == 2.0 and res["mean"] == pytest.approx(4.0) and res["complete"]


def test_stalled_flags_open_deals_beyond_the_p90() -> None:
    rows, ev = [], []
    for i in range(20):  # 20 deals moved Find→Meet after i+1 days, then stayed open in Meet
        oid = f"d{i}"
        rows.append({"opportunity_id": oid, "rep_id": "r", "created_date": "2025-01-01", "outcome": "open"})
        ev += [
            (oid, "Find", pd.Timestamp("2025-01-01")),
            (oid, "Meet", pd.Timestamp("2025-01-01") + pd.Timedelta(days=i + 1)),
        ]
    rows.append({"opportunity_id": "old", "rep_id": "r", "created_date": "2025-01-01", "outcome": "open"})
    ev.append(("old", "Find", pd.Timestamp("2025-01-01")))
    crm = validate_crm(
        CRMData(
            reps=pd.DataFrame({"rep_id": ["r"]}),
            opportunities=pd.DataFrame(rows),
            stage_events=pd.DataFrame(ev, columns=["opportunity_id", "stage", "ts"]),
        )
    )
    s = stalled(crm, as_of="2025-01-31").set_index("opportunity_id")
    assert s.loc["old", "stage"] == "Find" and s.loc["old", "limit_days"] == 18.0  # P90 of 1..20
    assert bool(s.loc["old", "stalled"])
    # Meet has no deal that moved on: no limit, nothing flagged
    assert (
        s.loc["d0", "stage"] == "Meet" and np.isnan(s.loc["d0", "limit_days"]) and not s.loc["d0", "stalled"]
    )


def test_stalled_on_simulator(world: SimulatedWorld) -> None:
    s = stalled(world.crm)
    assert len(s) == (world.crm.opportunities["outcome"] == "open").sum()
    flagged = s[s["stalled"]]
    assert (flagged["days"] > flagged["limit_days"]).all()
    assert 0 < len(flagged) < len(s)
