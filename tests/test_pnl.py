"""P&L projection: revenue, COGS, spend, compensation through the pay curve, contribution margin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError, DataValidationError
from salesplan.planning.allocation import allocate
from salesplan.planning.pnl import (
    PayCurve,
    PnLInputs,
    marketing_from_budget,
    project,
    revenue_from_allocation,
)
from salesplan.planning.types import AllocationConfig, BudgetPlan


def test_pay_curve_with_accelerator_threshold_and_cap() -> None:
    pc = PayCurve(threshold=0.5, accelerators=((1.0, 2.0), (1.5, 3.0)), cap=2.5)
    np.testing.assert_allclose(
        pc.payout([0.4, 0.5, 0.9, 1.0, 1.2, 1.5, 1.6, 3.0]), [0.0, 0.5, 0.9, 1.0, 1.4, 2.0, 2.3, 2.5]
    )
    assert PayCurve().payout(1.0) == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        PayCurve(accelerators=((1.5, 2.0), (1.0, 3.0)))


def test_projection_lines_and_totals() -> None:
    rev = pd.DataFrame(
        {
            "region": ["N", "N", "S"],
            "quarter": ["2026Q1"] * 3,
            "product": ["a", "b", "a"],
            "revenue": [1000.0, 500.0, 800.0],
        }
    )
    cogs = pd.DataFrame({"region": ["N", "N", "S"], "product": ["a", "b", "a"], "rate": [0.4, 0.6, 0.5]})
    mkt = pd.DataFrame({"region": ["N"], "quarter": ["2026Q1"], "spend": [100.0]})
    comp = pd.DataFrame(
        {
            "region": ["N", "S"],
            "quarter": ["2026Q1"] * 2,
            "ote": [200.0, 100.0],
            "variable_share": [0.5, 0.4],
            "target": [1000.0, 800.0],
        }
    )
    out = project(PnLInputs(rev, cogs, marketing=mkt, promotion_rate=0.02, comp=comp))
    n = out.lines.set_index("region").loc["N"]
    assert n["cogs"] == pytest.approx(700.0) and n["gross_margin"] == pytest.approx(800.0)
    assert n["promotion"] == pytest.approx(30.0) and n["marketing"] == pytest.approx(100.0)
    # attainment 1.5 → payout 1 + 2 × 0.5 = 2 → 100 base + 100 × 2 variable
    assert n["sales_comp"] == pytest.approx(300.0)
    assert n["contribution_margin"] == pytest.approx(800 - 30 - 100 - 300)
    s = out.lines.set_index("region").loc["S"]
    assert s["sales_comp"] == pytest.approx(100.0) and s["marketing"] == 0.0  # at target: OTE
    tot = out.total.iloc[0]
    assert tot["revenue"] == pytest.approx(2300.0)
    assert tot["contribution_margin"] == pytest.approx(out.lines["contribution_margin"].sum())
    with pytest.raises(DataValidationError, match="no COGS rate"):
        project(PnLInputs(rev, cogs.iloc[:2]))


def test_inputs_from_allocation_and_budget() -> None:
    u = pd.DataFrame(
        {
            "unit_id": ["N", "S", "n1", "s1"],
            "parent_id": [None, None, "N", "S"],
            "level": ["region", "region", "rep", "rep"],
            "forecast_q50": [np.nan, np.nan, 1.0, 1.0],
        }
    )
    a = allocate(u, {"N": 1000.0, "S": 500.0}, AllocationConfig(over_assignment=0.0))
    rev = revenue_from_allocation(a)
    assert rev.set_index("region")["revenue"].to_dict() == {"N": 1000.0, "S": 500.0}
    alloc = pd.DataFrame({"channel": ["tv", "tv"], "region": ["N", "S"], "spend": [10.0, 5.0]})
    plan = BudgetPlan(alloc, 15.0, "outcome", 0.0, (0.0, 0.0), 0.0, 0.0, 1, True, 1)
    mk = marketing_from_budget(plan, {"current": 13})
    out = project(PnLInputs(rev, 0.5, marketing=mk))
    assert out.lines.set_index("region")["marketing"].to_dict() == {"N": 130.0, "S": 65.0}
    assert out.total["contribution_margin"].iloc[0] == pytest.approx(750 - 195)
