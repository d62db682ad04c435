"""Re-balancing stored proposal rows after overrides: parent totals to the cent, siblings pro rata,
descendants re-scaled, months re-phased exactly, infeasible overrides named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesplan.errors import ConfigError, DataValidationError, InfeasibleError
from salesplan.planning.allocation import rebalance_rows
from salesplan.planning.distributions import from_quantile_frame
from salesplan.planning.proposals import implied_probability_for

OA = 0.1


def make_rows(oa: float = OA) -> pd.DataFrame:
    """An exact proposal: total 1000 → North (3 stores), South (2 stores), months 30/30/40 %."""
    north, south = 600.0, round(1000 * (1 + oa) - 600.0, 2)
    kids_n = np.array([0.5, 0.3, 0.2]) * round(north * (1 + oa), 2)
    kids_s = np.array([0.75, 0.25]) * round(south * (1 + oa), 2)
    rows = pd.DataFrame(
        {
            "level": ["total", "region", "region", "store", "store", "store", "store", "store"],
            "unit_id": ["total", "North", "South", "A1", "A2", "A3", "B1", "B2"],
            "parent_id": [None, "total", "total", "North", "North", "North", "South", "South"],
            "target": np.round([1000.0, north, south, *kids_n, *kids_s], 2),
            "forecast_q50": 100.0,
            "p_hit": 0.5,
            "last_period_actual": 90.0,
        }
    )
    t = rows["target"].to_numpy()
    rows["m1"], rows["m2"] = np.round(t * 0.3, 2), np.round(t * 0.3, 2)
    rows["m3"] = np.round(t - rows["m1"] - rows["m2"], 2)
    assert_exact(rows, oa)
    return rows


def cents(x: pd.Series | np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=float) * 100).astype(np.int64)


def assert_exact(rows: pd.DataFrame, oa: float) -> None:
    c = dict(zip(rows["unit_id"], cents(rows["target"]), strict=True))
    for parent, g in rows[rows["parent_id"].notna()].groupby("parent_id"):
        assert cents(g["target"]).sum() == round(c[parent] * (1 + oa)), parent
    assert (cents(rows[["m1", "m2", "m3"]].to_numpy()).sum(axis=1) == cents(rows["target"])).all()
    np.testing.assert_allclose(cents(rows["target"]) / 100, rows["target"], atol=1e-9)


def test_leaf_override_keeps_parent_and_resplits_siblings_pro_rata() -> None:
    rows = make_rows()
    out = rebalance_rows(rows, {"A1": 400.0}, over_assignment=OA)
    assert_exact(out, OA)
    t, old = out.set_index("unit_id")["target"], rows.set_index("unit_id")["target"]
    assert t["A1"] == 400.0
    rest = old["North"] * (1 + OA) - 400.0
    assert t["A2"] == pytest.approx(rest * old["A2"] / (old["A2"] + old["A3"]), abs=0.011)
    assert t["A2"] / t["A3"] == pytest.approx(old["A2"] / old["A3"], rel=1e-3)
    for u in ("total", "North", "South", "B1", "B2"):  # nothing else moves
        assert t[u] == old[u]
    assert out["overridden"].tolist() == [u == "A1" for u in out["unit_id"]]
    moved = out.set_index("unit_id").loc[["A1", "A2", "A3"]]
    assert moved["p_hit"].isna().all()  # stale without a distribution
    assert (out.set_index("unit_id").loc[["B1", "B2"], "p_hit"] == 0.5).all()
    # months re-phase pro rata to the old months (30/30/40) and still sum to the cent
    np.testing.assert_allclose(
        moved[["m1", "m2", "m3"]].to_numpy(), moved[["target"]].to_numpy() * [0.3, 0.3, 0.4], atol=0.011
    )


def test_mid_level_override_rescales_descendants_and_siblings() -> None:
    rows = make_rows()
    out = rebalance_rows(rows, {"North": 700.0}, over_assignment=OA)
    assert_exact(out, OA)
    t, old = out.set_index("unit_id")["target"], rows.set_index("unit_id")["target"]
    assert t["North"] == 700.0 and t["total"] == old["total"]
    assert t["South"] == pytest.approx(old["total"] * 1.1 - 700.0)
    for kid, parent in (("A1", "North"), ("A3", "North"), ("B1", "South")):
        assert t[kid] == pytest.approx(old[kid] * t[parent] / old[parent], abs=0.011)


def test_root_override_rescales_everything() -> None:
    rows = make_rows()
    out = rebalance_rows(rows, {"total": 2000.0}, over_assignment=OA)
    assert_exact(out, OA)
    ratio = out["target"] / rows["target"]
    np.testing.assert_allclose(ratio, 2.0, atol=2e-4)


def test_earlier_overrides_stay_fixed_and_conflicts_name_the_units() -> None:
    rows = make_rows()
    first = rebalance_rows(rows, {"A1": 400.0}, over_assignment=OA)
    second = rebalance_rows(first, {"A2": 200.0}, over_assignment=OA)
    assert_exact(second, OA)
    t = second.set_index("unit_id")
    assert t.loc["A1", "target"] == 400.0 and t.loc["A2", "target"] == 200.0
    assert t.loc["A1", "overridden"] and t.loc["A2", "overridden"] and not t.loc["A3", "overridden"]
    assert t.loc["A3", "target"] == pytest.approx(
        rows.set_index("unit_id").loc["North", "target"] * 1.1 - 600
    )
    # all children of South fixed, and they disagree with South's total
    with pytest.raises(InfeasibleError, match=r"'South'.*B1 \(100\.00\).*B2 \(100\.00\)"):
        rebalance_rows(rows, {"B1": 100.0, "B2": 100.0}, over_assignment=OA)
    # all children fixed and in agreement with the parent: fine
    south = rows.set_index("unit_id").loc["South", "target"] * 1.1
    ok = rebalance_rows(rows, {"B1": 100.0, "B2": round(south - 100.0, 2)}, over_assignment=OA)
    assert_exact(ok, OA)
    # fixed children above the parent's total: the free siblings would go negative
    with pytest.raises(InfeasibleError, match=r"'North'.*A1 \(5,000\.00\).*A2, A3"):
        rebalance_rows(rows, {"A1": 5000.0}, over_assignment=OA)
    # parent and all its children fixed consistently is allowed; inconsistently is not
    with pytest.raises(InfeasibleError, match="South"):
        rebalance_rows(first, {"South": 1.0, "B1": 100.0, "B2": 100.0}, over_assignment=OA)


def test_p_hit_is_recomputed_from_a_distribution() -> None:
    rows = make_rows()
    q = pd.DataFrame({"unique_id": ["A1", "A2", "A3"], "q10": [200.0, 100.0, 50.0], "q50": [330.0, 200.0, 130.0],
                      "q90": [500.0, 300.0, 200.0]})  # fmt: skip
    d = from_quantile_frame(q)
    out = rebalance_rows(rows, {"A1": 200.0}, over_assignment=OA, dist=d).set_index("unit_id")
    assert out.loc["A1", "p_hit"] == pytest.approx(0.9)
    assert out.loc["A2", "target"] != rows.set_index("unit_id").loc["A2", "target"]
    assert out.loc["A2", "p_hit"] == pytest.approx(implied_probability_for(d, "A2", out.loc["A2", "target"]))
    assert implied_probability_for(d, "A1", 200.0) == pytest.approx(0.9)
    assert implied_probability_for(d, "A1", 100.0) >= implied_probability_for(d, "A1", 200.0)


@pytest.mark.parametrize("seed", range(6))
def test_random_trees_and_overrides_stay_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    oa = float(rng.choice([0.0, 0.05, 0.1, 0.2]))
    rows = [("T", None, "total", 10_000.0)]
    for r in range(int(rng.integers(2, 5))):
        rows.append((f"R{r}", "T", "region", 0.0))
        for s in range(int(rng.integers(2, 6))):
            rows.append((f"R{r}S{s}", f"R{r}", "store", 0.0))
    df = pd.DataFrame(rows, columns=["unit_id", "parent_id", "level", "target"])
    df[["m1", "m2", "m3"]] = 0.0
    # make it exact by re-balancing the root onto itself, with random uneven starting weights
    df["target"] = np.where(df["parent_id"].isna(), 1.0, rng.uniform(1, 100, len(df)).round(2))
    df = rebalance_rows(df, {"T": 10_000.0}, over_assignment=oa)
    df["overridden"] = False
    assert_exact(df, oa)
    leaves = df.loc[df["level"] == "store", "unit_id"].to_numpy()
    pick = rng.choice(leaves, size=2, replace=False)
    ov = {
        str(u): float(np.round(df.set_index("unit_id").loc[u, "target"] * rng.uniform(0.5, 1.2), 2))
        for u in pick
    }
    try:
        out = rebalance_rows(df, ov, over_assignment=oa)
    except InfeasibleError as e:  # two of two siblings: must be named
        assert all(u in str(e) for u in pick)
        return
    assert_exact(out, oa)
    assert all(out.set_index("unit_id").loc[u, "target"] == v for u, v in ov.items())


def test_bad_input_is_reported_clearly() -> None:
    rows = make_rows()
    with pytest.raises(ConfigError, match=r"unknown unit.*'Z9'"):
        rebalance_rows(rows, {"Z9": 1.0}, over_assignment=OA)
    with pytest.raises(ConfigError, match="≥ 0"):
        rebalance_rows(rows, {"A1": -1.0}, over_assignment=OA)
    with pytest.raises(ConfigError, match="finite"):
        rebalance_rows(rows, {"A1": float("nan")}, over_assignment=OA)
    with pytest.raises(ConfigError, match="over_assignment"):
        rebalance_rows(rows, {"A1": 1.0}, over_assignment=-1.5)
    with pytest.raises(DataValidationError, match="target"):
        rebalance_rows(rows.drop(columns=["target"]), {}, over_assignment=OA)
    with pytest.raises(DataValidationError, match="parent not among"):
        rebalance_rows(rows[rows["unit_id"] != "North"], {}, over_assignment=OA)
    same = rebalance_rows(rows, {}, over_assignment=OA)
    pd.testing.assert_frame_equal(same.drop(columns=["overridden"]), rows)
