"""Productivity: the ramp curve recovers the simulator's, rep-month counts are exact on a hand-made CRM,
role roll-ups add up, attainment against quota, and the no-hire-date case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.contracts import CRMData, validate_crm
from salesplan.errors import ConfigError, InsufficientDataError
from salesplan.planning.funnel import estimate_ramp, productivity
from salesplan.simulator import SimConfig, SimulatedWorld, simulate


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    # the medium CRM (60 reps, ~10k deals) on the small sell-out, which these tests do not use
    return simulate(SimConfig(seed=0, scale="small", n_reps=60, n_opportunities=10_000))


def _hand_crm(with_hire: bool = True) -> CRMData:
    reps = pd.DataFrame(
        {
            "rep_id": ["a", "b"],
            "role": ["AE", "SDR"],
            "team": ["T", "T"],
            "hire_date": ["2024-01-01", "2025-02-10"] if with_hire else [None, None],
            "quota": [3000.0, None],
        }
    )
    opps = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3", "o4", "o5"],
            "rep_id": ["a", "a", "a", "b", "b"],
            "amount": [1000.0, 2000.0, 500.0, 700.0, 300.0],
            "created_date": ["2025-01-05", "2025-01-20", "2025-02-01", "2025-02-15", "2025-03-01"],
            "close_date": ["2025-02-04", "2025-03-10", "2025-03-15", "2025-03-20", None],
            "outcome": ["won", "won", "lost", "won", "open"],
        }
    )
    return validate_crm(CRMData(reps=reps, opportunities=opps))


def test_ramp_recovers_the_simulated_ramp(world: SimulatedWorld) -> None:
    ramp = estimate_ramp(world.crm)
    truth = np.asarray(world.truth.ramp, float)
    share = ramp.table["share"].to_numpy()
    assert len(share) == len(truth) == ramp.months
    err = np.abs(share - truth)
    # ~20 reps hired inside the history at this scale: over seeds 0-5 the mean error is 0.03-0.07
    assert err.mean() < 0.075 and err.max() < 0.22, np.round(share, 2)
    assert np.all(np.diff(share) >= 0) and share.min() >= 0 and share.max() <= 1
    assert ramp.share(np.array([0, 1, 12, 13, 40])).tolist() == pytest.approx([0, share[0], share[-1], 1, 1])


def test_ramp_needs_hire_dates_and_valid_options() -> None:
    with pytest.raises(InsufficientDataError, match="hire_date"):
        estimate_ramp(_hand_crm(with_hire=False))
    with pytest.raises(ConfigError, match="months"):
        estimate_ramp(_hand_crm(), months=0)
    with pytest.raises(ConfigError, match="metric"):
        estimate_ramp(_hand_crm(), metric="calls")  # type: ignore[arg-type]


def test_rep_month_counts_are_exact() -> None:
    crm = _hand_crm()
    p = productivity(crm, ramp_months=1, as_of="2025-03-31")
    rm = p.rep_month.set_index(["rep_id", p.rep_month["month"].astype(str)])
    a_jan, a_feb, a_mar = rm.loc[("a", "2025-01")], rm.loc[("a", "2025-02")], rm.loc[("a", "2025-03")]
    assert (a_jan["created"], a_feb["created"], a_mar["created"]) == (2, 1, 0)
    assert (a_feb["won"], a_feb["won_value"], a_mar["won"], a_mar["won_value"], a_mar["lost"]) == (
        1,
        1000,
        1,
        2000,
        1,
    )
    assert a_mar["win_rate"] == pytest.approx(0.5) and a_mar["avg_deal_size"] == pytest.approx(2000)
    assert a_feb["cycle_days"] == 30 and a_mar["cycle_days"] == 49
    assert a_jan["rep_months"] == pytest.approx(27 / 31)  # history starts with the first deal, 5 Jan
    b_feb = rm.loc[("b", "2025-02")]
    assert b_feb["rep_months"] == pytest.approx(19 / 28)  # hired 10 Feb
    assert ("b", "2025-01") not in rm.index
    role = p.role_month.set_index(["role", p.role_month["month"].astype(str)])
    assert role.loc[("SDR", "2025-03"), "won_value"] == 700
    assert role.loc[("AE", "2025-03"), "won_value_per_rep_month"] == pytest.approx(2000)
    totals = p.rep_month[["created", "won", "lost", "won_value"]].sum()
    assert totals.tolist() == [5, 3, 1, 3700]
    assert p.role_month[["created", "won", "lost", "won_value"]].sum().tolist() == totals.tolist()


def test_attainment_against_quota() -> None:
    p = productivity(_hand_crm(), ramp_months=1, as_of="2025-03-31")
    att = p.attainment.set_index(["rep_id", p.attainment["period"].astype(str)])
    assert list(att.index) == [("a", "2025Q1")]  # rep b has no quota
    assert att.loc[("a", "2025Q1"), "attainment"] == pytest.approx(3000 / 3000)
    assert att.loc[("a", "2025Q1"), "prorated_attainment"] > 1  # the history starts on 5 Jan


def test_without_hire_dates_every_month_counts_as_ramped() -> None:
    p = productivity(_hand_crm(with_hire=False), as_of="2025-03-31")
    assert p.ramp is None
    np.testing.assert_allclose(p.rep_month["ramped_rep_months"], p.rep_month["rep_months"])


def test_productivity_on_simulator(world: SimulatedWorld) -> None:
    p = productivity(world.crm)
    rm, role = p.rep_month, p.role_month
    opps = world.crm.opportunities
    assert rm["created"].sum() == len(opps)
    assert rm["won_value"].sum() == pytest.approx(opps.loc[opps["outcome"] == "won", "amount"].sum())
    assert (rm["ramped_rep_months"] <= rm["rep_months"] + 1e-9).all()
    assert (role["won_value_per_ramped_rep_month"] >= role["won_value_per_rep_month"] - 1e-9).all()
    # new hires (tenure month 1-3) create about a quarter of what tenured reps do, as simulated
    early = rm[rm["tenure_month"].between(2, 3)]
    late = rm[rm["tenure_month"] > 13]
    ratio = (early["created"].sum() / early["rep_months"].sum()) / (
        late["created"].sum() / late["rep_months"].sum()
    )
    assert ratio == pytest.approx(world.truth.ramp[1], abs=0.1)
    assert len(p.attainment) and p.attainment["attainment"].median() > 0
