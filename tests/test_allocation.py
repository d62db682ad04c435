"""Quota allocation: exact totals at every level, bounds, infeasibility, overrides, ramp, fairness."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError, DataValidationError, InfeasibleError
from salesplan.planning.allocation import allocate, check_totals, rebalance
from salesplan.planning.fairness import fairness_report, gini
from salesplan.planning.types import AllocationConfig

QUARTERS = ("2026Q1", "2026Q2")


def make_units(n_regions: int = 2, teams: int = 3, reps: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for q in QUARTERS:
        for r in range(n_regions):
            rows.append({"quarter": q, "unit_id": f"R{r}", "parent_id": None, "level": "region"})
            for t in range(teams):
                rows.append({"quarter": q, "unit_id": f"R{r}T{t}", "parent_id": f"R{r}", "level": "team"})
                for p in range(reps):
                    rows.append(
                        {"quarter": q, "unit_id": f"R{r}T{t}P{p}", "parent_id": f"R{r}T{t}", "level": "rep"}
                    )
    u = pd.DataFrame(rows)
    leaf = u["level"] == "rep"
    k = int(leaf.sum())
    u.loc[leaf, "forecast_q50"] = np.round(rng.gamma(3, 30_000, k), 2)
    u.loc[leaf, "last_year"] = np.round(rng.gamma(3, 28_000, k), 2)
    u.loc[leaf, "territory"] = rng.integers(5, 50, k).astype(float)
    u.loc[leaf, "last_quota"] = np.round(u.loc[leaf, "forecast_q50"] * 1.9 * rng.uniform(0.85, 1.15, k), 2)
    return u


# The engine allows any uniform over-assignment; the shipped default is 0 (applied at the leaves only).
OA = 0.10


def assert_exact_totals(a, oa: float | dict) -> None:  # type: ignore[no-untyped-def]
    """Independent check: children's cents == round(parent cents × (1 + oa)) for every parent."""
    t = a.targets
    cents = np.rint(t["target"] * 100).astype(np.int64)
    assert np.allclose(cents / 100, t["target"], atol=1e-9), "targets are not whole cents"
    by = dict(zip(zip(t["quarter"], t["unit_id"], strict=True), cents, strict=True))
    kids = t[t["parent_id"].notna()]
    for (q, p), g in kids.groupby(["quarter", "parent_id"]):
        rate = oa if isinstance(oa, float) else oa[g["level"].iloc[0]]
        assert np.rint(g["target"] * 100).sum() == round(by[(q, p)] * (1 + rate)), (q, p)
    assert check_totals(a)["ok"].all()


def assert_bounds(a) -> None:  # type: ignore[no-untyped-def]
    t = a.targets
    assert (t["target"] >= t["lower"] - 1e-9).all() and (t["target"] <= t["upper"] + 1e-9).all()


BOUNDS = {
    "none": {},
    "capacity": {"capacity": 45_000.0},
    "floor": {"floor": 150_000.0},
    "max_change": {"max_change": 0.25},
    "override": {"override": 150_000.0},
}


@pytest.mark.parametrize(
    ("method", "bound"), list(itertools.product(["top_down", "bottom_up", "blended"], BOUNDS))
)
def test_totals_exact_under_every_method_and_bound(method: str, bound: str) -> None:
    u = make_units()
    spec = BOUNDS[bound]
    leaf = u["level"] == "rep"
    if "capacity" in spec:
        u.loc[leaf, "capacity"] = np.where(u.loc[leaf, "forecast_q50"] > 90_000, spec["capacity"] * 2, np.nan)
    if "floor" in spec:
        u.loc[leaf & (u["forecast_q50"] < 60_000), "floor"] = spec["floor"]
    cfg = AllocationConfig(
        method=method,
        weights={"forecast_q50": 0.6, "last_year": 0.3, "territory": 0.1},
        growth=0.08,
        max_change=spec.get("max_change"),
        over_assignment=OA,
    )
    overrides = {("2026Q1", "R0T0P0"): spec["override"]} if "override" in spec else None
    tops = u[leaf].assign(r=u["unit_id"].str[:2]).groupby(["quarter", "r"])["forecast_q50"].sum() * 1.9 / 1.21
    tops = tops.round(2) + 0.33
    a = allocate(u, tops, cfg, overrides=overrides)
    assert_exact_totals(a, OA)
    assert_bounds(a)
    if method != "bottom_up":
        top = a.targets[a.targets["parent_id"].isna()].set_index(["quarter", "unit_id"])["target"]
        assert (np.rint(top.to_numpy() * 100) == np.rint(tops.reindex(top.index).to_numpy() * 100)).all()
    if overrides:
        assert a.targets.query("quarter == '2026Q1' and unit_id == 'R0T0P0'")["target"].item() == 150_000.0
    if bound in ("capacity", "floor", "max_change", "override") and method != "bottom_up":
        assert a.lp_parents > 0 and a.targets["binding"].any()


def test_top_down_is_proportional_and_over_assignment_per_level() -> None:
    u = make_units(n_regions=1)
    oa = {"team": 0.05, "rep": 0.2}
    a = allocate(u, 1_000_000.0, AllocationConfig(over_assignment=oa))
    assert_exact_totals(a, oa)
    t = a.targets[a.targets["quarter"] == "2026Q1"]
    reps = t[t["level"] == "rep"]
    share = reps["forecast_q50"] / reps["forecast_q50"].sum()
    np.testing.assert_allclose(reps["target"], 1_000_000 * 1.05 * 1.2 * share, atol=0.02)
    assert reps["target"].sum() == pytest.approx(1_260_000.0, abs=0.005)


def test_bottom_up_builds_from_own_forecast() -> None:
    u = make_units(n_regions=1)
    a = allocate(u, None, AllocationConfig(method="bottom_up", growth=0.1, over_assignment=0.0))
    t = a.targets
    reps = t[t["level"] == "rep"]
    np.testing.assert_allclose(reps["target"], reps["forecast_q50"] * 1.1, atol=0.011)
    top = t[t["level"] == "region"]["target"]
    np.testing.assert_allclose(
        top, reps.groupby("quarter")["forecast_q50"].sum().to_numpy() * 1.1, atol=0.011
    )


def test_blended_sits_between_top_down_and_bottom_up() -> None:
    u = make_units(n_regions=1)
    cfg = {"weights": {"last_year": 1.0}, "over_assignment": 0.0}
    bu = allocate(u, None, AllocationConfig(method="bottom_up", **cfg)).targets
    bu_top = dict(bu.query("level == 'region'")[["quarter", "target"]].itertuples(index=False))
    td = allocate(u, bu_top, AllocationConfig(method="top_down", **cfg)).targets
    bl = allocate(u, bu_top, AllocationConfig(method="blended", blend_weight=0.5, **cfg)).targets
    lo, hi = np.minimum(td["target"], bu["target"]), np.maximum(td["target"], bu["target"])
    assert ((bl["target"] >= lo - 0.02) & (bl["target"] <= hi + 0.02)).all()
    np.testing.assert_allclose(bl["target"], (td["target"] + bu["target"]) / 2, atol=0.02)


def test_binding_cap_rescales_free_siblings_proportionally_and_solvers_agree() -> None:
    u = make_units(n_regions=1, teams=2, reps=6)
    leaf = u["level"] == "rep"
    u.loc[leaf, "capacity"] = np.where(u.loc[leaf, "unit_id"].str.endswith(("P0", "P1")), 20_000.0, np.nan)
    res = {}
    for solver in ("highs", "exact"):
        a = allocate(u, 1_200_000.0, AllocationConfig(solver=solver, over_assignment=OA))
        assert_exact_totals(a, OA)
        assert_bounds(a)
        res[solver] = a.targets["target"].to_numpy()
        reps = a.targets[(a.targets["level"] == "rep")]
        capped = reps["unit_id"].str.endswith(("P0", "P1"))
        assert (reps.loc[capped, "target"] == 20_000.0).all()
        for _, g in reps[~capped].groupby(["quarter", "parent_id"]):
            ratio = g["target"] / g["desired"]
            assert ratio.max() - ratio.min() < 1e-6 and ratio.min() > 1  # same uplift for every free rep
    np.testing.assert_allclose(res["highs"], res["exact"], atol=0.011)


def test_random_bounds_solvers_agree() -> None:
    rng = np.random.default_rng(7)
    u = make_units(n_regions=1, teams=4, reps=8, seed=3)
    leaf = (u["level"] == "rep").to_numpy()
    pick = leaf & (rng.random(len(u)) < 0.3)
    u.loc[pick, "capacity"] = rng.uniform(30_000, 80_000, pick.sum())
    pick2 = leaf & ~pick & (rng.random(len(u)) < 0.3)
    u.loc[pick2, "floor"] = rng.uniform(60_000, 120_000, pick2.sum())
    a = allocate(u, 3_000_000.0, AllocationConfig(solver="highs", over_assignment=OA))
    b = allocate(u, 3_000_000.0, AllocationConfig(solver="exact", over_assignment=OA))
    assert_exact_totals(a, OA)
    assert_exact_totals(b, OA)
    np.testing.assert_allclose(a.targets["target"], b.targets["target"], atol=0.011)


def test_infeasible_caps_and_floors_name_parent_sums_and_units() -> None:
    u = make_units(n_regions=1, teams=1, reps=3)
    u.loc[u["level"] == "rep", "cap"] = 100_000.0
    with pytest.raises(InfeasibleError) as e:
        allocate(u, 1_000_000.0, AllocationConfig(over_assignment=OA))
    msg = str(e.value)
    # the team can take at most its reps' caps / 1.10, so the region's split already fails and says why
    assert "parent 'R0' (quarter 2026Q1, target 1,000,000.00)" in msg and "must sum to 1,100,000.00" in msg
    assert "caps sum to 272,727.27" in msg and "R0T0P2 (100,000.00)" in msg and "Fix:" in msg
    u = make_units(n_regions=1, teams=1, reps=3)
    u.loc[u["level"] == "rep", "floor"] = 200_000.0
    with pytest.raises(InfeasibleError, match=r"floors sum to 545,454.55.*R0T0P0 \(200,000.00\)"):
        allocate(u, 100_000.0, AllocationConfig(over_assignment=OA))
    u = make_units(n_regions=1, teams=1, reps=3)
    u.loc[u["unit_id"] == "R0T0P1", ["floor", "cap"]] = [50_000.0, 40_000.0]
    with pytest.raises(InfeasibleError, match=r"R0T0P1 \(floor 50,000.00 > cap 40,000.00\)"):
        allocate(u, 1_000_000.0, AllocationConfig(over_assignment=OA))


def test_override_rebalances_siblings_and_keeps_parent_total() -> None:
    u = make_units(n_regions=1, teams=2, reps=4)
    base = allocate(u, 800_000.0, AllocationConfig(over_assignment=OA))
    new = rebalance(base, {("2026Q1", "R0T0P1"): 123_456.78})
    assert_exact_totals(new, OA)
    t, b = new.targets.set_index(["quarter", "unit_id"]), base.targets.set_index(["quarter", "unit_id"])
    assert t.loc[("2026Q1", "R0T0P1"), "target"] == 123_456.78
    assert t.loc[("2026Q1", "R0T0"), "target"] == b.loc[("2026Q1", "R0T0"), "target"]  # parent kept
    sib = [f"R0T0P{i}" for i in (0, 2, 3)]
    r = t.loc[[("2026Q1", s) for s in sib], "target"] / b.loc[[("2026Q1", s) for s in sib], "target"]
    assert r.max() - r.min() < 1e-5  # siblings move in proportion
    assert (t.loc["2026Q2", "target"] == b.loc["2026Q2", "target"]).all()  # other quarter untouched
    team = rebalance(base, {"R0T1": 500_000.0})  # a team override re-splits its reps and its sibling team
    assert_exact_totals(team, OA)
    with pytest.raises(InfeasibleError, match="R0T0"):
        rebalance(
            base,
            {
                ("2026Q1", "R0T0P1"): 1_000_000.0,
                ("2026Q1", "R0T0P2"): 0.0,
                ("2026Q1", "R0T0P0"): 0.0,
                ("2026Q1", "R0T0P3"): 0.0,
            },
        )
    with pytest.raises(ConfigError, match="unknown unit"):
        rebalance(base, {"nope": 1.0})


def test_ramp_scales_new_reps_quarterly_and_monthly() -> None:
    u = pd.DataFrame(
        {
            "unit_id": ["T", "old", "new", "mid"],
            "parent_id": [None, "T", "T", "T"],
            "level": ["team", "rep", "rep", "rep"],
            "forecast_q50": [np.nan, 100.0, 100.0, 100.0],
            "tenure_months": [np.nan, 24, 0, 4],
        }
    )
    a = allocate(u, 1_000.0, AllocationConfig(over_assignment=0.0)).targets.set_index("unit_id")
    assert a.loc["new", "target"] / a.loc["old", "target"] == pytest.approx(0.25, rel=1e-4)
    assert a.loc["mid", "target"] / a.loc["old", "target"] == pytest.approx(0.5, rel=1e-4)
    m = allocate(
        u, 1_000.0, AllocationConfig(over_assignment=0.0, ramp_monthly=(0.1, 0.2, 0.3, 0.6, 1.0))
    ).targets
    m = m.set_index("unit_id")
    assert m.loc["new", "ramp"] == pytest.approx(0.2) and m.loc["mid", "ramp"] == pytest.approx(1.0)


def test_fairness_report() -> None:
    assert gini(np.ones(10)) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 1.0])) == pytest.approx(0.75)
    u = make_units(n_regions=1, teams=1, reps=4)
    a = allocate(u, 400_000.0, AllocationConfig(over_assignment=0.0))
    rep = fairness_report(a)
    q1 = rep.by_quarter.set_index("quarter").loc["2026Q1"]
    assert q1["gini"] == pytest.approx(0.0, abs=1e-6) and q1["cv"] == pytest.approx(0.0, abs=1e-6)
    assert q1["max_min_ratio"] == pytest.approx(1.0, abs=1e-6) and q1["units"] == 4
    skew = allocate(u, 400_000.0, AllocationConfig(weights={"territory": 1.0}))
    q = fairness_report(skew).by_quarter.iloc[0]
    assert q["gini"] > 0 and q["max_min_ratio"] > 1 and 0 <= q["share_above_p50"] <= 1


def test_tree_validation_errors() -> None:
    u = make_units(n_regions=1, teams=1, reps=2)
    with pytest.raises(DataValidationError, match="parent not among"):
        allocate(u.assign(parent_id=u["parent_id"].replace("R0T0", "ghost")), 1.0)
    with pytest.raises(DataValidationError, match="duplicate"):
        allocate(pd.concat([u, u.tail(1)]), 1.0)
    cyc = pd.DataFrame({"unit_id": ["a", "b"], "parent_id": ["b", "a"], "level": "x", "forecast_q50": 1.0})
    with pytest.raises(DataValidationError, match="cycle"):
        allocate(cyc, 1.0)
    with pytest.raises(ConfigError, match="no top target"):
        allocate(u, {"other": 1.0})
    with pytest.raises(ConfigError, match="method"):
        allocate(u, 1.0, AllocationConfig(method="magic"))
